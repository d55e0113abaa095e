//! `bodyzone run` on bad input: every case is one clear line on stderr naming the thing at fault
//! (key, file, device, format), exit code 2, no panic, and no events invented (the events log,
//! opened before the source, stays empty).

mod common;

use std::path::Path;

use common::{
    MAT, assert_exit, bodyzone, dir_with_config, remux_index_first, squat_clip, stderr, with_stdin,
};

/// Runs `bodyzone run` in `dir` with `stdin` piped in; returns the `bodyzone: …` error line
/// after checking the exit code and that nothing panicked.
fn fails(dir: &Path, args: &[&str], stdin: &[u8]) -> String {
    // A closed pipe is fine: the command may fail before reading it.
    let (output, _) = with_stdin(
        bodyzone().arg("run").args(args).current_dir(dir),
        stdin.to_vec(),
    );
    assert_exit(&output, 2, &format!("{args:?}"));
    let stderr = stderr(&output);
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("bodyzone: "))
        .collect();
    assert_eq!(errors.len(), 1, "{args:?}: {stderr}");
    errors[0].to_string()
}

/// The events log of a run that failed before its first event: there, and empty.
fn no_events(dir: &Path) {
    assert_eq!(std::fs::read(dir.join("out.jsonl")).unwrap(), b"");
}

fn config_error(text: &str) -> String {
    let dir = dir_with_config(text);
    fails(dir.path(), &["--source", "synthetic:frames=1"], b"")
}

#[test]
fn unknown_key() {
    let err = config_error(&format!("[model]\nposes = \"lite\"\n{MAT}"));
    assert_eq!(
        err,
        "bodyzone: bodyzone.toml: model.poses: unknown field `poses`, expected one of \
         `segmentation`, `pose`, `min_pose_score` (line 2)"
    );
    let err = config_error(&format!("{MAT}exercize = \"squat\"\n"));
    assert!(
        err.starts_with("bodyzone: bodyzone.toml: zone[0].exercize: unknown field `exercize`"),
        "{err}"
    );
}

#[test]
fn wrong_type() {
    let err = config_error(&format!("{MAT}enter_frames = \"3\"\n"));
    assert_eq!(
        err,
        "bodyzone: bodyzone.toml: zone[0].enter_frames: invalid type: string \"3\", expected u32 \
         (line 4)"
    );
    let err = config_error(&format!("[model]\npose = 3\n{MAT}"));
    assert_eq!(
        err,
        "bodyzone: bodyzone.toml: model.pose: invalid type: integer `3`, expected one of `lite`, \
         `full`, `heavy`, `off` (line 2)"
    );
}

#[test]
fn polygon_with_two_points() {
    let err = config_error("[[zone]]\nname = \"mat\"\npolygon = [[0.1, 0.5], [0.9, 0.5]]\n");
    assert_eq!(
        err,
        "bodyzone: bodyzone.toml: zone[0].polygon: need at least 3 points, got 2 (line 3)"
    );
}

#[test]
fn polygon_outside_the_frame() {
    let err =
        config_error("[[zone]]\nname = \"mat\"\npolygon = [[0.1, 0.5], [1.9, 0.5], [0.9, -0.2]]\n");
    assert_eq!(
        err,
        "bodyzone: bodyzone.toml: zone[0].polygon: point 1 is [1.9, 0.5]: coordinates are \
         fractions of the frame, 0.0 to 1.0 (line 3)"
    );
}

#[test]
fn missing_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = fails(dir.path(), &["--config", "nowhere.toml"], b"");
    assert!(err.starts_with("bodyzone: nowhere.toml: "), "{err}");
}

#[test]
fn missing_device() {
    let dir = dir_with_config(MAT);
    let err = fails(dir.path(), &["--source", "/dev/video97"], b"");
    assert_eq!(
        err,
        "bodyzone: /dev/video97: no such file, directory or device"
    );
    let err = fails(dir.path(), &["--source", "v4l2:/dev/video97:640x480"], b"");
    assert!(err.starts_with("bodyzone: /dev/video97: "), "{err}");
}

#[test]
fn missing_file() {
    let dir = dir_with_config(MAT);
    let err = fails(dir.path(), &["--source", "clip-that-is-not-here.mp4"], b"");
    assert_eq!(
        err,
        "bodyzone: clip-that-is-not-here.mp4: no such file, directory or device"
    );
}

#[test]
fn unsupported_pixel_format() {
    let dir = dir_with_config(MAT);
    let err = fails(dir.path(), &["--source", "v4l2:/dev/video0:fmt=H264"], b"");
    assert_eq!(
        err,
        "bodyzone: bad --source 'v4l2:/dev/video0:fmt=H264': fmt: expected one of YUYV, MJPG, \
         NV12, YU12, RGB3, not 'H264'"
    );
    let err = fails(dir.path(), &["--source", "stdin:bayer:640x480"], b"");
    assert!(
        err.starts_with("bodyzone: bad --source 'stdin:bayer:640x480': format: expected one of"),
        "{err}"
    );
}

#[test]
fn truncated_frame_on_stdin() {
    // One and a half 64x48 I420 frames.
    let dir = dir_with_config(MAT);
    let frame = 64 * 48 * 3 / 2;
    let err = fails(
        dir.path(),
        &["--source", "stdin:yuv420:64x48", "--events", "out.jsonl"],
        &vec![128u8; frame + frame / 2],
    );
    assert!(err.starts_with("bodyzone: stdin: "), "{err}");
    assert!(err.contains("truncated"), "{err}");
    no_events(dir.path());
}

#[test]
fn truncated_video() {
    let dir = dir_with_config(MAT);
    let bytes = std::fs::read(squat_clip()).unwrap();
    // The clip keeps its index (moov) at the end: cut, it has none.
    std::fs::write(dir.path().join("cut.mp4"), &bytes[..bytes.len() * 2 / 3]).unwrap();
    let err = fails(
        dir.path(),
        &["--source", "cut.mp4", "--events", "out.jsonl"],
        b"",
    );
    assert_eq!(
        err,
        "bodyzone: cut.mp4: not a readable video: moov atom not found; Invalid data found when \
         processing input"
    );
    no_events(dir.path());

    // With the index first, the frames run out in the middle of the file.
    remux_index_first(&squat_clip(), &dir.path().join("indexed.mp4"));
    let bytes = std::fs::read(dir.path().join("indexed.mp4")).unwrap();
    std::fs::write(dir.path().join("cut2.mp4"), &bytes[..bytes.len() / 2]).unwrap();
    let err = fails(
        dir.path(),
        &["--source", "cut2.mp4", "--events", "out.jsonl"],
        b"",
    );
    assert!(
        err.starts_with("bodyzone: cut2.mp4: truncated or corrupt"),
        "{err}"
    );
    assert!(err.contains("partial file"), "{err}");
    no_events(dir.path());
}

#[test]
fn too_many_zones_or_corners() {
    let zones: String = (0..33)
        .map(|i| format!("[[zone]]\nname = \"z{i}\"\npolygon = [[0, 0], [1, 0], [1, 1]]\n"))
        .collect();
    assert!(config_error(&zones).contains("33 zones: at most 32"));
    let corners: Vec<String> = (0..65)
        .map(|i| {
            let a = i as f32 / 65.0 * std::f32::consts::TAU;
            format!("[{}, {}]", 0.5 + 0.4 * a.cos(), 0.5 + 0.4 * a.sin())
        })
        .collect();
    let round = format!(
        "[[zone]]\nname = \"round\"\npolygon = [{}]\n",
        corners.join(", ")
    );
    assert!(config_error(&round).contains("zone[0].polygon: 65 points: at most 64"));
}

#[test]
fn the_final_error_is_json_with_json_logs() {
    let dir = dir_with_config(MAT);
    let (output, _) = with_stdin(
        bodyzone()
            .args(["run", "--log-format", "json", "--source", "missing.mp4"])
            .current_dir(dir.path()),
        Vec::new(),
    );
    assert_exit(&output, 2, "a missing source");
    let last = stderr(&output)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    let json: serde_json::Value = serde_json::from_str(&last).expect("a JSON line");
    assert_eq!(json["level"], "ERROR");
    assert!(
        json["message"].as_str().unwrap().contains("missing.mp4"),
        "{last}"
    );
}

#[test]
fn a_closed_stdout_is_not_a_success() {
    let dir = dir_with_config(MAT);
    let mut child = bodyzone()
        .args(["run", "--source", "synthetic:320x240@30:frames=300"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before the first event.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(141), "{}", stderr(&output));
}

#[test]
fn every_config_problem_on_its_own_line_in_file_order() {
    let dir = dir_with_config(
        "[[zone]]\nname = \"mat\"\npolygon = [[0, 0], [1, 1]]\n\
         [model]\npose = \"huge\"\n\
         [[zone]]\nname = \"bad name!\"\npolygon = [[0, 0], [1, 0], [1, 1]]\n",
    );
    let (output, _) = with_stdin(
        bodyzone()
            .args(["run", "--source", "synthetic:frames=1"])
            .current_dir(dir.path()),
        Vec::new(),
    );
    assert_exit(&output, 2, "three problems");
    let stderr = stderr(&output);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("bodyzone: "))
        .collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    for (line, key) in lines
        .iter()
        .zip(["zone[0].polygon", "model.pose", "zone[1].name"])
    {
        assert!(line.contains(key), "{key} in {line}");
    }
}
