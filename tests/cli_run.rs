//! `bodyzone run` with its outputs, as a service runs it: the display (a PNG sink) follows the
//! frames, systemd hears READY, WATCHDOG, STATUS and STOPPING over `$NOTIFY_SOCKET`, logs are
//! JSON with `--log-format json` and plain text without colours on a pipe, and a GPIO line
//! that cannot be requested stops the start with an error naming it.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bodyzone::output::display::ZoneState;
use common::{
    assert_shows_a_picture, bodyzone, exits_with, squat_clip, stderr, succeeds, zone_outline_pixels,
};

const DEMO_ZONE: &str = r#"
[[zone]]
name = "mat"
polygon = [[0.2, 0.65], [0.8, 0.65], [0.85, 0.9], [0.15, 0.9]]
exercise = "squat"
"#;

fn write_config(dir: &Path, extra: &str) -> PathBuf {
    common::write_config(dir, &format!("{DEMO_ZONE}{extra}"))
}

#[test]
fn run_updates_the_display_and_notifies_systemd() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("status.png");
    let config = write_config(
        dir.path(),
        &format!("[output.display]\nkind = \"png\"\npath = {:?}\n", png),
    );
    let socket_path = dir.path().join("notify");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    // Read while the loop runs: a full socket queue would block its sends.
    let listener = std::thread::spawn(move || {
        socket
            .set_read_timeout(Some(Duration::from_secs(120)))
            .unwrap();
        let mut messages = Vec::new();
        let mut buf = [0u8; 512];
        while let Ok(n) = socket.recv(&mut buf) {
            let message = String::from_utf8(buf[..n].to_vec()).unwrap();
            let last = message == "STOPPING=1\n";
            messages.push(message);
            if last {
                break;
            }
        }
        messages
    });
    let events = dir.path().join("events.jsonl");
    let output = succeeds(
        bodyzone()
            .args(["run", "--config"])
            .arg(&config)
            .arg("--source")
            .arg(squat_clip())
            .arg("--events")
            .arg(&events)
            .args(["--log-format", "json"])
            .env("NOTIFY_SOCKET", &socket_path),
    );
    let messages = listener.join().unwrap();

    // READY first, with a status line; a watchdog ping per frame; STOPPING last.
    assert!(messages[0].starts_with("READY=1\nSTATUS="), "{messages:?}");
    assert!(messages[0].ends_with(" fps\n"), "{}", messages[0]);
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("STATUS=mat | squat | ")),
        "{messages:?}"
    );
    let pings = messages.iter().filter(|m| *m == "WATCHDOG=1\n").count();
    assert!(pings >= 64, "{pings} pings for 65 frames");
    assert_eq!(messages.last().unwrap(), "STOPPING=1\n");

    // The display shows the last frame on the default 640×480 panel. The clip ends at the bottom
    // of a squat: the mat is outlined as posed in, 2 px wide around its 560 px perimeter on the
    // 257×456 px frame, and in no other state's colour.
    let shown = assert_shows_a_picture(&png, (640, 480));
    let posing = zone_outline_pixels(&shown, ZoneState::Posing);
    assert!((1000..=1400).contains(&posing), "{posing} outline pixels");
    for state in [ZoneState::Empty, ZoneState::Occupied] {
        assert_eq!(zone_outline_pixels(&shown, state), 0, "{state:?}");
    }
    assert!(
        std::fs::read_to_string(&events)
            .unwrap()
            .contains("\"rep\"")
    );

    // Every log line is a JSON object with a level and a message.
    let text = stderr(&output);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(lines.iter().any(|l| l["message"] == "finished"), "{text}");
    assert!(lines.iter().all(|l| l["level"].is_string()), "{text}");
}

#[test]
fn text_logs_on_a_pipe_have_no_colours() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "[model]\npose = \"off\"\n");
    let output = succeeds(
        bodyzone()
            .args(["run", "--config"])
            .arg(&config)
            .args(["--source", "synthetic:64x48@5:frames=2", "--events"])
            .arg(dir.path().join("events.jsonl")),
    );
    let text = stderr(&output);
    assert!(text.contains("finished"), "{text}");
    assert!(!text.contains('\x1b'), "colour codes: {text:?}");
}

#[test]
fn a_gpio_line_that_cannot_be_requested_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[[output.gpio]]\nchip = \"/dev/gpiochip99\"\nline = 3\non = \"zone:mat\"\n",
    );
    let output = exits_with(
        bodyzone()
            .args(["run", "--config"])
            .arg(&config)
            .args(["--source", "synthetic:64x48@5:frames=2"]),
        2,
    );
    let text = stderr(&output);
    assert!(text.contains("/dev/gpiochip99 line 3"), "{text}");
}
