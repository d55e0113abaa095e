//! The whole loop on the fixture clips with our own models: the squat clip counts its two
//! finished squats (counted by watching it: down at frames 6–14, 30–38 and from 54 to the end),
//! the dance clip counts none, and a picture without a person enters no zone.

use std::path::PathBuf;

use bodyzone::config::Config;
use bodyzone::exercise::events::{Event, EventKind};
use bodyzone::output::events::JsonLines;
use bodyzone::runner::{Output, Pipeline, RunOptions, run};
use bodyzone::source::{self, OpenOptions, SourceSpec};

fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures")
        .join(path)
}

fn events_of(config: &Config, spec: SourceSpec) -> Vec<Event> {
    let source = source::open(&spec, &OpenOptions::default()).unwrap();
    let mut pipeline = Pipeline::new(config).unwrap();
    let mut json = JsonLines::new(Vec::new());
    {
        let mut outputs = [Output::required("events", &mut json)];
        run(source, &mut pipeline, &mut outputs, &RunOptions::default()).unwrap();
    }
    let text = String::from_utf8(json.into_inner()).unwrap();
    eprint!("{text}");
    text.lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let kind = match v["type"].as_str().unwrap() {
                "enter" => EventKind::Enter,
                "exit" => EventKind::Exit,
                "pose_start" => EventKind::PoseStart,
                "pose_end" => EventKind::PoseEnd,
                _ => EventKind::Rep,
            };
            let mut e = Event::new(
                v["timestamp_ms"].as_u64().unwrap(),
                v["frame"].as_u64().unwrap(),
                v["zone"].as_str().unwrap(),
                kind,
            );
            e.reps = v["reps"].as_u64().map(|r| r as u32);
            e
        })
        .collect()
}

fn reps(events: &[Event]) -> Vec<u32> {
    events
        .iter()
        .filter(|e| e.kind == EventKind::Rep)
        .filter_map(|e| e.reps)
        .collect()
}

#[test]
fn squat_clip_two_reps() {
    let events = events_of(
        &Config::default_demo(),
        SourceSpec::Path(fixture("demo/squats_mirrored.mp4")),
    );
    assert_eq!(events.first().map(|e| e.kind), Some(EventKind::Enter));
    assert_eq!(reps(&events), [1, 2]);
    assert_eq!(events.last().map(|e| e.kind), Some(EventKind::Exit));
}

#[test]
fn dance_clip_no_reps() {
    let config = Config::parse_str(
        "[model]\npose = \"full\"\n[[zone]]\nname = \"floor\"\npolygon = [[0, 0.4], [1, 0.4], [1, 1], [0, 1]]\n",
    )
    .unwrap();
    let events = events_of(&config, SourceSpec::Path(fixture("tfjs-models/pose_1.mp4")));
    assert!(
        events.iter().any(|e| e.kind == EventKind::Enter),
        "the dancer is on the floor"
    );
    assert_eq!(reps(&events), [0u32; 0]);
}

#[test]
fn no_person_no_zone() {
    // Large soft blobs of skin and cloth colours: the selfie model calls none of it person
    // (0.22 at most) and the pose model finds nobody, so the whole-frame zone stays empty. It
    // would with pose = "off" too: the pose gate against what the segmenter wrongly calls a
    // person is tested in zone_nonperson.rs.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blobs.png");
    let image = image::RgbImage::from_fn(320, 240, |x, y| {
        let (dx, dy) = (x as f32 - 160.0, y as f32 - 140.0);
        if dx * dx / 90.0f32.powi(2) + dy * dy / 70.0f32.powi(2) < 1.0 {
            image::Rgb([200, 150, 120])
        } else {
            image::Rgb([(x % 256) as u8, 90, (y % 256) as u8])
        }
    });
    image.save(&path).unwrap();
    let config = Config::parse_str(
        "[[zone]]\nname = \"all\"\npolygon = [[0, 0], [1, 0], [1, 1], [0, 1]]\npresence = \"mask\"\nmin_coverage = 0.01\nenter_frames = 1\n",
    )
    .unwrap();
    let events = events_of(&config, SourceSpec::Path(path));
    assert!(events.is_empty(), "{events:?}");
}
