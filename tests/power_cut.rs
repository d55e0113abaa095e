//! `bodyzone run` killed (SIGKILL, as good as a power cut for the process: no signal handler,
//! no unwinding, no `Drop`) at 20 moments spread over a run of the squat clip, each run
//! appending to the same events log. After every kill the log only grew (what earlier runs
//! wrote is still there, byte for byte), every line is whole JSON, no temporary file is left,
//! what the killed run wrote is a prefix of a complete run's events, and every event of a frame
//! the run had finished before the kill is there.
//!
//! "Finished" comes from systemd's notifications, which the run sends to `$NOTIFY_SOCKET`: the
//! events output is fed before the watchdog's, so `READY=1` (frame 0) and each `WATCHDOG=1`
//! (one per frame after it) arrive only once that frame's events were written.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The demo's floor zone and the whole picture: two events at each step of the squat.
const CONFIG: &str = r#"
[model]
segmentation = "off"

[[zone]]
name = "mat"
polygon = [[0.2, 0.65], [0.8, 0.65], [0.85, 0.9], [0.15, 0.9]]
exercise = "squat"

[[zone]]
name = "room"
polygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
"#;

/// Frames of the clip kept: the first squat (down at 8, counted at 18), then the end of the
/// source makes the `exit`s; a run takes a few seconds in a test build.
const FRAMES: usize = 20;

const KILLS: u64 = 20;

fn bodyzone(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bodyzone"));
    command
        .args(["run", "--source", "short.mkv", "--events", "events.jsonl"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .env_remove("NOTIFY_SOCKET")
        .env_remove("JOURNAL_STREAM")
        .env_remove("RUST_LOG");
    command
}

/// Counts the frames a run reports finished on its notify socket, until the socket is dropped.
struct FramesDone {
    count: Arc<AtomicUsize>,
    path: PathBuf,
}

impl FramesDone {
    fn listen(path: PathBuf) -> FramesDone {
        let socket = UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let counted = Arc::downgrade(&count);
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            // Ends when the test drops its side of the count.
            while let Some(count) = counted.upgrade() {
                if let Ok(n) = socket.recv(&mut buf) {
                    let message = &buf[..n];
                    if message.starts_with(b"READY=1\n") || message == b"WATCHDOG=1\n" {
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        });
        FramesDone { count, path }
    }

    fn get(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

impl Drop for FramesDone {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A fixed-seed xorshift: the same kill moments on every run of the test.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `(frame, line)` of each line.
fn frames_of(text: &str) -> Vec<(u64, &str)> {
    text.split_inclusive('\n')
        .map(|line| {
            let event: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
            (event["frame"].as_u64().unwrap(), line)
        })
        .collect()
}

#[test]
fn killed_runs_keep_every_event_they_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::write(dir.join("bodyzone.toml"), CONFIG).unwrap();
    let clip = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/squats_mirrored.mp4");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(clip)
        .args([
            "-frames:v",
            &FRAMES.to_string(),
            "-c:v",
            "mjpeg",
            "-q:v",
            "3",
            "-an",
        ])
        .arg(dir.join("short.mkv"))
        .status()
        .unwrap();
    assert!(status.success());

    // The complete run, to its own file: the events every killed run must follow.
    let reference_dir = dir.join("reference");
    std::fs::create_dir(&reference_dir).unwrap();
    for file in ["bodyzone.toml", "short.mkv"] {
        std::fs::hard_link(dir.join(file), reference_dir.join(file)).unwrap();
    }
    let started = Instant::now();
    let status = bodyzone(&reference_dir).status().unwrap();
    let run_time = started.elapsed();
    assert!(status.success());
    let reference = std::fs::read_to_string(reference_dir.join("events.jsonl")).unwrap();
    std::fs::remove_dir_all(&reference_dir).unwrap();
    let reference_events = frames_of(&reference);
    let kinds: Vec<&str> = reference_events.iter().map(|(_, l)| *l).collect();
    assert!(
        kinds.iter().any(|l| l.contains("\"rep\"")) && kinds.len() >= 6,
        "{reference}"
    );

    let log = dir.join("events.jsonl");
    let mut rng = Rng(0x5eed_b0d7_20e5);
    let mut before = Vec::new();
    let (mut cut_short, mut required_total) = (0, 0);
    for kill in 0..KILLS {
        // One kill in each twentieth of a run, from the model loading to the last exit.
        let at = run_time.mul_f64((kill as f64 + rng.unit()) / KILLS as f64);
        let frames = FramesDone::listen(dir.join(format!("notify-{kill}")));
        let mut child = bodyzone(dir)
            .env("NOTIFY_SOCKET", &frames.path)
            .spawn()
            .unwrap();
        let started = Instant::now();
        let mut finished = false;
        while started.elapsed() < at {
            if child.try_wait().unwrap().is_some() {
                finished = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let done = frames.get();
        if !finished {
            child.kill().unwrap();
        }
        // Reaped either way (a second wait returns the status already collected).
        child.wait().unwrap();
        drop(frames);

        let after = std::fs::read(&log).unwrap_or_default();
        assert!(
            after.starts_with(&before),
            "kill {kill}: the log lost or changed what earlier runs wrote"
        );
        let written = std::str::from_utf8(&after[before.len()..]).unwrap();
        assert!(
            reference.starts_with(written) && (written.is_empty() || written.ends_with('\n')),
            "kill {kill} after {at:?}: not whole lines of the reference: {written:?}"
        );
        // `done` messages: frames `0..done` had their events written. The end-of-run `exit`s
        // come after the last frame's message but carry its number, so the newest frame
        // reported is left out.
        let required = reference_events
            .iter()
            .filter(|(frame, _)| finished || (*frame as usize) + 1 < done)
            .count();
        let got = frames_of(written).len();
        assert!(
            got >= required,
            "kill {kill} after {at:?}: {done} frames finished, {required} events due, {got} \
             written: {written:?}"
        );
        frames_of(std::str::from_utf8(&after).unwrap());
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["bodyzone.toml", "events.jsonl", "short.mkv"]);
        if got > 0 && got < reference_events.len() {
            cut_short += 1;
        }
        required_total += required;
        before = after;
    }
    eprintln!(
        "a run: {run_time:?}; {KILLS} kills, {cut_short} between its first and last event, \
         {required_total} events due written"
    );
    // The kills did land inside the runs, after events and before the end.
    assert!(
        cut_short >= 5,
        "only {cut_short} kills between the first and last event"
    );
    assert!(required_total > 0);

    // And a run left alone after all that appends the whole sequence.
    let status = bodyzone(dir).status().unwrap();
    assert!(status.success());
    let after = std::fs::read(&log).unwrap();
    assert_eq!(&after[before.len()..], reference.as_bytes());
}
