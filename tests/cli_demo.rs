//! `bodyzone demo` as a new user runs it: the binary, its embedded squat clip, nothing else.
//!
//! The clip has two full squats (counted by watching it: down at frames 6–14 and 30–38, back up
//! by 18 and 42) and a third one still at the bottom when it ends (54–64), which must not count.
//! The dance clip (`shared/fixtures/tfjs-models/pose_1.mp4`) goes through the same zone with no
//! squat at all.

mod common;

use std::path::Path;
use std::process::Output;

use common::{bodyzone, shared_fixture, stdout, succeeds};

fn demo(out: &Path, extra: &[&str]) -> Output {
    succeeds(
        bodyzone()
            .arg("demo")
            .arg("--out")
            .arg(out)
            .args(extra)
            // Runs from an empty directory, so nothing of the checkout can be found by accident.
            .current_dir(out),
    )
}

/// `(type, reps)` of each event line.
fn events(path: &Path) -> Vec<(String, Option<u64>)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            (v["type"].as_str().unwrap().to_string(), v["reps"].as_u64())
        })
        .collect()
}

fn reps(events: &[(String, Option<u64>)]) -> Vec<u64> {
    events
        .iter()
        .filter(|(kind, _)| kind == "rep")
        .filter_map(|(_, n)| *n)
        .collect()
}

#[test]
fn the_bundled_clip_counts_two_squats() {
    let dir = tempfile::tempdir().unwrap();
    let output = demo(dir.path(), &[]);
    let stdout = stdout(&output);
    assert!(
        stdout.starts_with("65 frames, 2 squats counted\n"),
        "{stdout}"
    );
    assert!(stdout.contains(&dir.path().join("events.jsonl").display().to_string()));

    let events = events(&dir.path().join("events.jsonl"));
    assert_eq!(reps(&events), [1, 2], "{events:?}");
    assert_eq!(events.first().map(|e| e.0.as_str()), Some("enter"));
    assert_eq!(events.last().map(|e| e.0.as_str()), Some("exit"));

    let frames = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().starts_with("frame_")
        })
        .count();
    assert_eq!(frames, 65);
    let first = image::open(dir.path().join("frame_0000.png")).unwrap();
    assert_eq!((first.width(), first.height()), (360, 640));
}

#[test]
fn the_dance_clip_counts_none() {
    let clip = shared_fixture("tfjs-models/pose_1.mp4");
    let dir = tempfile::tempdir().unwrap();
    let output = demo(dir.path(), &["--clip", clip.to_str().unwrap()]);
    let stdout = stdout(&output);
    assert!(
        stdout.starts_with("120 frames, 0 squats counted\n"),
        "{stdout}"
    );
    let events = events(&dir.path().join("events.jsonl"));
    assert!(
        events.iter().any(|e| e.0 == "enter"),
        "the dancer is in the zone: {events:?}"
    );
    assert_eq!(reps(&events), [0u64; 0]);
}
