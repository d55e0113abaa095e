//! Shared by the tests that run the `bodyzone` binary or ffmpeg: where the fixtures are,
//! running a command and reading what it said, config files in temporary directories.
#![allow(dead_code)] // each test file uses part of this

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use bodyzone::output::display::{ZoneState, zone_colour};
use embedded_graphics::prelude::RgbColor;

/// A zone most config tests can use: a mat in the lower half of the frame.
pub const MAT: &str = "[[zone]]\nname = \"mat\"\npolygon = [[0.15, 0.55], [0.75, 0.55], [0.75, 0.95], [0.15, 0.95]]\n";

/// A file of this crate, by its path from the manifest directory.
pub fn crate_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A file of `shared/fixtures/`, the fixtures the reference scripts use too.
pub fn shared_fixture(path: &str) -> PathBuf {
    crate_file("../shared/fixtures").join(path)
}

/// The squat clip `bodyzone demo` embeds: 65 frames of 720×1280 at 5 fps.
pub fn squat_clip() -> PathBuf {
    crate_file("tests/fixtures/squats_mirrored.mp4")
}

/// The `bodyzone` binary without what a service manager or a developer's shell would hand it:
/// systemd's sockets and `RUST_LOG` change what it says and where.
pub fn bodyzone() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bodyzone"));
    command
        .env_remove("NOTIFY_SOCKET")
        .env_remove("JOURNAL_STREAM")
        .env_remove("RUST_LOG");
    command
}

/// What the command wrote to stdout, which must be UTF-8.
pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

/// What the command wrote to stderr, which must be UTF-8.
pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8")
}

/// Runs `command` to its end; fails the test, with its stderr, unless it exits 0.
pub fn succeeds(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs `command` to its end; fails the test unless it exits with `code`, and without a panic
/// (a panic on a thread other than main can still end in any exit code).
pub fn exits_with(command: &mut Command, code: i32) -> Output {
    let output = command.output().unwrap();
    assert_exit(&output, code, &format!("{command:?}"));
    output
}

/// Fails the test, naming `what` ran, unless `output` is of an exit with `code` and without a
/// panic.
pub fn assert_exit(output: &Output, code: i32, what: &str) {
    let text = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "{what}: {text}");
    assert!(!text.contains("panicked"), "{what}: {text}");
}

/// Runs `command` with `input` on its stdin. The input is written from a thread, so a child
/// that fills its stdout pipe before reading all of it cannot deadlock the test; returns how
/// the write ended too, as a child may rightly exit before reading everything.
pub fn with_stdin(command: &mut Command, input: Vec<u8>) -> (Output, std::io::Result<()>) {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    // Dropping `stdin` at the end of the thread closes the pipe: the child sees end of input.
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().unwrap();
    (output, writer.join().unwrap())
}

/// Writes `text` as `dir/bodyzone.toml`, the file `bodyzone run` reads when given none.
pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("bodyzone.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A new temporary directory holding `bodyzone.toml` with `text`.
pub fn dir_with_config(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), text);
    dir
}

/// ffmpeg, quiet but for errors and never reading the terminal.
pub fn ffmpeg() -> Command {
    let mut command = Command::new("ffmpeg");
    command.args(["-nostdin", "-v", "error", "-y"]);
    command
}

/// `from` remuxed to `to` with its index (moov) first, so that a cut copy is still readable up
/// to the cut.
pub fn remux_index_first(from: &Path, to: &Path) {
    succeeds(
        ffmpeg()
            .arg("-i")
            .arg(from)
            .args(["-c", "copy", "-movflags", "+faststart"])
            .arg(to),
    );
}

/// Raw RGB frames of `width × height` run through ffmpeg with `args` (filters and the output
/// format, which must go to stdout): the bytes it writes.
pub fn ffmpeg_from_rgb(rgb: Vec<u8>, width: u32, height: u32, args: &[&str]) -> Vec<u8> {
    let size = format!("{width}x{height}");
    let mut command = ffmpeg();
    command
        .args([
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", &size, "-i", "-",
        ])
        .args(args)
        .arg("-");
    let (output, written) = with_stdin(&mut command, rgb);
    assert!(
        output.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    written.expect("ffmpeg reads all of its input");
    output.stdout
}

/// Fails the test unless the PNG display at `path` is a `size` panel that shows a picture above
/// its status bar: a camera frame has thousands of colours, a blank panel or text a few.
pub fn assert_shows_a_picture(path: &Path, size: (u32, u32)) -> image::RgbImage {
    let shown = image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8();
    assert_eq!(shown.dimensions(), size, "{}", path.display());
    // The status bar is one line of text at the bottom: a tenth of the panel is more than it.
    let view = image::imageops::crop_imm(&shown, 0, 0, size.0, size.1 * 9 / 10).to_image();
    let colours: std::collections::HashSet<[u8; 3]> = view.pixels().map(|p| p.0).collect();
    assert!(
        colours.len() >= 1000,
        "{}: {} colours above the status bar, not a picture",
        path.display(),
        colours.len()
    );
    shown
}

/// How many pixels of `image` have the outline colour of a zone in `state`.
pub fn zone_outline_pixels(image: &image::RgbImage, state: ZoneState) -> usize {
    let colour = zone_colour(state);
    let colour = [colour.r(), colour.g(), colour.b()];
    image.pixels().filter(|p| p.0 == colour).count()
}
