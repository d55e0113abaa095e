//! `bodyzone run` with the pose model off converts frames straight into the segmentation
//! model's input, unless a display draws them; the model sees the same tensor either way, so
//! the events are the same.

mod common;

use std::path::{Path, PathBuf};

use common::{assert_shows_a_picture, bodyzone, squat_clip, stderr, succeeds};

const CONFIG: &str = r#"
[model]
pose = "off"
[[zone]]
name = "mat"
polygon = [[0.2, 0.65], [0.8, 0.65], [0.85, 0.9], [0.15, 0.9]]
# The coverage crosses this a few frames into the squat clip, not on the first frame.
min_coverage = 0.1
"#;

/// Runs the squat clip; returns the events and stderr.
fn run(dir: &Path, name: &str, extra: &str) -> (String, String) {
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(&config, format!("{CONFIG}{extra}")).unwrap();
    let events = dir.join(format!("{name}.jsonl"));
    let output = succeeds(
        bodyzone()
            .arg("run")
            .arg("--config")
            .arg(&config)
            .arg("--source")
            .arg(squat_clip())
            .arg("--events")
            .arg(&events),
    );
    (std::fs::read_to_string(events).unwrap(), stderr(&output))
}

#[test]
fn pose_off_takes_the_one_pass_path_unless_a_display_draws_frames() {
    let dir = tempfile::tempdir().unwrap();
    let (one_pass, log) = run(dir.path(), "plain", "");
    assert!(log.contains("one pass into the model input"), "{log}");
    let png: PathBuf = dir.path().join("display.png");
    let (full, log) = run(
        dir.path(),
        "display",
        &format!("[output.display]\nkind = \"png\"\npath = {png:?}\n"),
    );
    assert!(log.contains("full frames"), "{log}");
    assert_shows_a_picture(&png, (640, 480));
    assert!(one_pass.contains(r#""type":"enter""#), "{one_pass}");
    assert_eq!(one_pass, full);
}
