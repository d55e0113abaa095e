//! The `bodyzone pose` contract: `INPUT [--model lite|full|heavy] [--static] --json OUT.json
//! [--mask OUT.png | --mask-dir DIR] [--overlay OUT]`, the JSON shape, masks and errors.

mod common;

use std::path::{Path, PathBuf};

use bodyzone::body::NAMES;
use common::{bodyzone, exits_with, ffmpeg, shared_fixture, squat_clip, stderr, succeeds};
use serde_json::Value;

fn read_json(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str::<Value>(&text)
        .unwrap()
        .as_array()
        .expect("an array, one entry per frame")
        .clone()
}

/// The first `frames` frames of the squat clip, copied without re-encoding.
fn short_clip(dir: &Path, frames: u32) -> PathBuf {
    let clip = dir.join("squats.mp4");
    succeeds(
        ffmpeg()
            .arg("-i")
            .arg(squat_clip())
            .args(["-frames:v", &frames.to_string(), "-c:v", "copy", "-an"])
            .arg(&clip),
    );
    clip
}

fn assert_keypoints(keypoints: &Value) {
    let keypoints = keypoints.as_array().unwrap();
    let names: Vec<&str> = keypoints
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, NAMES, "MediaPipe / TF.js names and order");
    for k in keypoints {
        for field in ["x", "y", "z", "score"] {
            assert!(k[field].is_f64(), "{field} of {k}");
        }
    }
}

#[test]
fn an_image_gives_one_frame_with_named_keypoints_and_an_8_bit_mask() {
    let dir = tempfile::tempdir().unwrap();
    let (json, mask, overlay) = (
        dir.path().join("out.json"),
        dir.path().join("mask.png"),
        dir.path().join("overlay.png"),
    );
    succeeds(
        bodyzone()
            .arg("pose")
            .arg(shared_fixture("tfjs-models/three_people.jpg"))
            .args(["--model", "lite", "--json"])
            .arg(&json)
            .arg("--mask")
            .arg(&mask)
            .arg("--overlay")
            .arg(&overlay),
    );

    let frames = read_json(&json);
    assert_eq!(frames.len(), 1);
    let frame = &frames[0];
    assert_eq!(frame["frame"], 0);
    assert_eq!(frame["timestamp_ms"], 0.0);
    let poses = frame["poses"].as_array().unwrap();
    assert_eq!(poses.len(), 1);
    let pose = &poses[0];
    let score = pose["score"].as_f64().unwrap();
    assert!(score > 0.5 && score <= 1.0, "{score}");
    assert_keypoints(&pose["keypoints"]);
    assert_keypoints(&pose["keypoints3D"]);
    // Image keypoints in pixels, world keypoints in metres.
    let nose = &pose["keypoints"][0];
    assert!(nose["x"].as_f64().unwrap() > 100.0 && nose["y"].as_f64().unwrap() > 100.0);
    assert!(pose["keypoints3D"][0]["y"].as_f64().unwrap().abs() < 2.0);

    let mask = image::open(&mask).unwrap();
    assert_eq!(mask.color(), image::ColorType::L8);
    assert_eq!((mask.width(), mask.height()), (1049, 861));
    let overlay = image::open(&overlay).unwrap();
    assert_eq!((overlay.width(), overlay.height()), (1049, 861));
}

#[test]
fn nobody_gives_empty_poses_and_an_empty_mask() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("wall.png");
    image::RgbImage::from_pixel(320, 240, image::Rgb([128, 128, 128]))
        .save(&input)
        .unwrap();
    let (json, mask) = (dir.path().join("out.json"), dir.path().join("mask.png"));
    succeeds(
        bodyzone()
            .arg("pose")
            .arg(&input)
            .args(["--model", "lite", "--json"])
            .arg(&json)
            .arg("--mask")
            .arg(&mask),
    );
    let frames = read_json(&json);
    assert_eq!(frames[0]["poses"], Value::Array(Vec::new()));
    let mask = image::open(&mask).unwrap().to_luma8();
    assert_eq!(mask.dimensions(), (320, 240));
    assert!(mask.pixels().all(|p| p.0[0] == 0));
}

#[test]
fn a_video_gives_a_frame_entry_and_a_mask_per_frame() {
    let dir = tempfile::tempdir().unwrap();
    let clip = short_clip(dir.path(), 3);
    let (json, masks) = (dir.path().join("out.json"), dir.path().join("masks"));
    succeeds(
        bodyzone()
            .arg("pose")
            .arg(&clip)
            .args(["--model", "lite", "--json"])
            .arg(&json)
            .arg("--mask-dir")
            .arg(&masks),
    );
    let frames = read_json(&json);
    assert_eq!(frames.len(), 3);
    for (i, frame) in frames.iter().enumerate() {
        assert_eq!(frame["frame"], i);
        // The clip runs at 5 fps: timestamps come from the file.
        let t = frame["timestamp_ms"].as_f64().unwrap();
        assert!((t - 200.0 * i as f64).abs() < 1.0, "frame {i} at {t} ms");
        assert_eq!(frame["poses"].as_array().unwrap().len(), 1, "frame {i}");
        let mask = image::open(masks.join(format!("{i:05}.png"))).unwrap();
        assert_eq!(mask.color(), image::ColorType::L8);
        assert_eq!((mask.width(), mask.height()), (720, 1280));
    }
}

fn fails_naming(args: &[&std::ffi::OsStr], what: &str, json: &Path) {
    let stderr = stderr(&exits_with(bodyzone().arg("pose").args(args), 2));
    assert!(stderr.contains(what), "{what:?} not in {stderr:?}");
    assert_eq!(stderr.matches(what).count(), 1, "said once: {stderr:?}");
    assert!(!json.exists(), "no output after a failure");
}

#[test]
fn bad_invocations_fail_with_exit_code_2_and_leave_no_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("out.json");
    let missing = dir.path().join("missing.jpg");
    fails_naming(
        &[missing.as_os_str(), "--json".as_ref(), json.as_os_str()],
        "missing.jpg",
        &json,
    );

    let broken = dir.path().join("broken.png");
    std::fs::write(&broken, b"\x89PNG\r\n\x1a\n not really").unwrap();
    fails_naming(
        &[broken.as_os_str(), "--json".as_ref(), json.as_os_str()],
        "broken.png",
        &json,
    );

    let image = shared_fixture("tfjs-models/three_people.jpg");
    let mask_dir = dir.path().join("masks");
    fails_naming(
        &[
            image.as_os_str(),
            "--json".as_ref(),
            json.as_os_str(),
            "--mask-dir".as_ref(),
            mask_dir.as_os_str(),
        ],
        "use --mask OUT.png",
        &json,
    );

    let clip = short_clip(dir.path(), 1);
    let mask = dir.path().join("mask.png");
    fails_naming(
        &[
            clip.as_os_str(),
            "--json".as_ref(),
            json.as_os_str(),
            "--mask".as_ref(),
            mask.as_os_str(),
        ],
        "use --mask-dir DIR",
        &json,
    );

    fails_naming(
        &[image.as_os_str(), "--model".as_ref(), "huge".as_ref()],
        "huge",
        &json,
    );
    fails_naming(&[image.as_os_str()], "not provided:\n  --json", &json);

    let nowhere = dir.path().join("no/such/dir/out.json");
    fails_naming(
        &[
            image.as_os_str(),
            "--model".as_ref(),
            "lite".as_ref(),
            "--json".as_ref(),
            nowhere.as_os_str(),
        ],
        "out.json",
        &nowhere,
    );
}
