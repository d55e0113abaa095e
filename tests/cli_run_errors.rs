//! `bodyzone run` on bad input: every case is one clear line on stderr naming the thing at fault
//! (key, file, device, format), exit code 2, no panic, and no events invented (the events log,
//! opened before the source, stays empty).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const MAT: &str = "[[zone]]\nname = \"mat\"\npolygon = [[0.15, 0.55], [0.75, 0.55], [0.75, 0.95], [0.15, 0.95]]\n";

fn clip() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/squats_mirrored.mp4")
}

/// Runs `bodyzone run` in `dir` with `stdin` piped in; returns the `bodyzone: …` error line
/// after checking the exit code and that nothing panicked.
fn fails(dir: &Path, args: &[&str], stdin: &[u8]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bodyzone"))
        .arg("run")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A closed pipe is fine: the command may fail before reading it.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
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

/// A directory holding `bodyzone.toml` with `text`.
fn with_config(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bodyzone.toml"), text).unwrap();
    dir
}

fn config_error(text: &str) -> String {
    let dir = with_config(text);
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
    let dir = with_config(MAT);
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
    let dir = with_config(MAT);
    let err = fails(dir.path(), &["--source", "clip-that-is-not-here.mp4"], b"");
    assert_eq!(
        err,
        "bodyzone: clip-that-is-not-here.mp4: no such file, directory or device"
    );
}

#[test]
fn unsupported_pixel_format() {
    let dir = with_config(MAT);
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
    let dir = with_config(MAT);
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
    let dir = with_config(MAT);
    let bytes = std::fs::read(clip()).unwrap();
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
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(clip())
        .args(["-c", "copy", "-movflags", "faststart"])
        .arg(dir.path().join("indexed.mp4"))
        .status()
        .unwrap();
    assert!(status.success());
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
