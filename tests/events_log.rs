//! The events file is a log: opened before anything else (a bad path fails at once), appended
//! to by each run and never replaced, one whole line per event written as it happens, so a run
//! that fails keeps what it wrote; the config file and directories are refused, a FIFO or
//! `/dev/stdout` is written through, and a last line cut short by a power cut is not glued to
//! the next event.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use bodyzone::config::Config;
use bodyzone::output::events::EventsSync;

/// The synthetic figure drifts across both halves of the floor; mask presence (pose off) keeps
/// each run to a few seconds.
const ZONES: &str = r#"
[model]
pose = "off"

[[zone]]
name = "left"
polygon = [[0.0, 0.6], [0.5, 0.6], [0.5, 1.0], [0.0, 1.0]]

[[zone]]
name = "right"
polygon = [[0.5, 0.6], [1.0, 0.6], [1.0, 1.0], [0.5, 1.0]]
"#;

const SOURCE: &str = "synthetic:160x120@10:frames=60";

fn bodyzone(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bodyzone"));
    command
        .arg("run")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .env_remove("NOTIFY_SOCKET")
        .env_remove("JOURNAL_STREAM")
        .env_remove("RUST_LOG");
    command
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A directory with `bodyzone.toml` holding [`ZONES`] and `extra`.
fn with_config(extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bodyzone.toml"), format!("{ZONES}{extra}")).unwrap();
    dir
}

/// Runs to the end, successfully.
fn run(dir: &Path, args: &[&str]) -> Output {
    let output = bodyzone(dir, args).output().unwrap();
    assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    output
}

/// Fails with exit code 2; returns the `bodyzone: …` line.
fn fails(dir: &Path, args: &[&str]) -> String {
    let mut child = bodyzone(dir, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A failure that waits for the source or the models first would take far longer.
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("{args:?}: still running after 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {text}");
    let errors: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("bodyzone: "))
        .collect();
    assert_eq!(errors.len(), 1, "{args:?}: {text}");
    errors[0].to_string()
}

/// Each line as JSON; panics on a line that is not.
fn lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}")))
        .collect()
}

fn clip() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/squats_mirrored.mp4")
}

#[test]
fn a_second_run_appends() {
    let dir = with_config("[output]\nevents = \"events.jsonl\"\n");
    let path = dir.path().join("events.jsonl");
    run(dir.path(), &["--source", SOURCE]);
    let first = std::fs::read_to_string(&path).unwrap();
    let events = lines(&first);
    assert!(events.len() >= 2, "{first}");
    assert!(events.iter().any(|e| e["type"] == "enter"), "{first}");

    // `--events` overrides the config's path, and appends all the same.
    run(
        dir.path(),
        &["--source", SOURCE, "--events", "events.jsonl"],
    );
    let both = std::fs::read_to_string(&path).unwrap();
    assert_eq!(both, format!("{first}{first}"));
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "no temporary file is left: {names:?}");
}

#[test]
fn a_bad_path_fails_before_the_source_is_opened() {
    let dir = with_config("");
    // The source is missing too, and endless for the second run: the events path is named
    // first, and nothing waits for frames.
    let err = fails(
        dir.path(),
        &[
            "--source",
            "missing.mp4",
            "--events",
            "no/such/dir/events.jsonl",
        ],
    );
    assert_eq!(
        err,
        "bodyzone: no/such/dir/events.jsonl: cannot open the events log: No such file or \
         directory (os error 2)"
    );
    let err = fails(
        dir.path(),
        &[
            "--source",
            "synthetic",
            "--events",
            "no/such/dir/events.jsonl",
        ],
    );
    assert!(err.contains("no/such/dir/events.jsonl"), "{err}");

    std::fs::create_dir(dir.path().join("logs")).unwrap();
    let err = fails(dir.path(), &["--source", "synthetic", "--events", "logs"]);
    assert_eq!(err, "bodyzone: logs: is a directory, not an events file");
}

#[test]
fn the_config_file_is_not_an_events_file() {
    let dir = with_config("");
    let config = dir.path().join("bodyzone.toml");
    let before = std::fs::read(&config).unwrap();
    let err = fails(
        dir.path(),
        &["--source", "synthetic", "--events", "bodyzone.toml"],
    );
    assert_eq!(
        err,
        "bodyzone: bodyzone.toml: is the config file bodyzone.toml: events need a file of their \
         own"
    );
    // Another name for the same file: a hard link, and the config by its absolute path.
    std::fs::hard_link(&config, dir.path().join("linked.jsonl")).unwrap();
    let err = fails(
        dir.path(),
        &["--source", "synthetic", "--events", "linked.jsonl"],
    );
    assert!(err.contains("is the config file"), "{err}");
    let err = fails(
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--source",
            "synthetic",
            "--events",
            "./bodyzone.toml",
        ],
    );
    assert!(err.contains("is the config file"), "{err}");
    assert_eq!(std::fs::read(&config).unwrap(), before);
}

#[test]
fn a_torn_last_line_is_ended_not_glued_to() {
    let dir = with_config("");
    let path = dir.path().join("events.jsonl");
    let whole = "{\"timestamp_ms\":0,\"frame\":0,\"zone\":\"left\",\"type\":\"enter\"}\n";
    let torn = "{\"timestamp_ms\":100,\"frame\":1,\"zo";
    std::fs::write(&path, format!("{whole}{torn}")).unwrap();
    run(
        dir.path(),
        &["--source", SOURCE, "--events", "events.jsonl"],
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let rest = text
        .strip_prefix(&format!("{whole}{torn}\n"))
        .unwrap_or_else(|| panic!("{text:?}"));
    assert!(lines(rest).len() >= 2, "{text}");

    // A run with no event at all leaves a torn line as it is (the next event ends it).
    std::fs::write(&path, torn).unwrap();
    run(
        dir.path(),
        &[
            "--source",
            "synthetic:160x120@10:frames=1",
            "--events",
            "events.jsonl",
        ],
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), torn);
}

#[test]
fn a_fifo_is_written_through() {
    let dir = with_config("");
    let fifo = dir.path().join("events.fifo");
    let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    // The run blocks opening the FIFO until this reader opens it, as a logger would.
    let reader = std::thread::spawn({
        let fifo = fifo.clone();
        move || {
            let mut text = String::new();
            std::fs::File::open(fifo)
                .unwrap()
                .read_to_string(&mut text)
                .unwrap();
            text
        }
    });
    run(dir.path(), &["--source", SOURCE, "--events", "events.fifo"]);
    let through_fifo = reader.join().unwrap();
    assert!(lines(&through_fifo).len() >= 2, "{through_fifo}");

    // A character device: `/dev/stdout`, here a pipe.
    let output = run(dir.path(), &["--source", SOURCE, "--events", "/dev/stdout"]);
    assert_eq!(String::from_utf8(output.stdout).unwrap(), through_fifo);
}

#[test]
fn a_run_that_fails_keeps_its_events() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bodyzone.toml"),
        "[[zone]]\nname = \"mat\"\npolygon = [[0.2, 0.65], [0.8, 0.65], [0.85, 0.9], \
         [0.15, 0.9]]\nexercise = \"squat\"\n[model]\nsegmentation = \"off\"\n",
    )
    .unwrap();
    // Garbage in the pictures three quarters in: the container is whole (the source opens),
    // the decoder reports the damage once the frames are out, and the run fails then.
    let mut bytes = std::fs::read(clip()).unwrap();
    let at = bytes.len() * 3 / 4;
    for (i, byte) in bytes[at..at + 3000].iter_mut().enumerate() {
        *byte = (i * 7919 % 251) as u8;
    }
    std::fs::write(dir.path().join("damaged.mp4"), bytes).unwrap();
    let err = fails(
        dir.path(),
        &["--source", "damaged.mp4", "--events", "out.jsonl"],
    );
    assert!(
        err.starts_with("bodyzone: damaged.mp4: truncated or corrupt after 65 frames"),
        "{err}"
    );
    let text = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    let events = lines(&text);
    assert_eq!(events[0]["type"], "enter", "{text}");
    let reps: Vec<_> = events.iter().filter(|e| e["type"] == "rep").collect();
    assert_eq!(reps.len(), 2, "{text}");
}

#[test]
fn events_sync_is_event_off_or_a_period() {
    let parse = |extra: &str| Config::parse_str(&format!("{ZONES}[output]\n{extra}"));
    assert_eq!(parse("").unwrap().output.events_sync, EventsSync::EachEvent);
    assert_eq!(
        parse("events_sync = \"event\"").unwrap().output.events_sync,
        EventsSync::EachEvent
    );
    assert_eq!(
        parse("events_sync = \"off\"").unwrap().output.events_sync,
        EventsSync::Off
    );
    assert_eq!(
        parse("events_sync = 1000").unwrap().output.events_sync,
        EventsSync::Within(Duration::from_secs(1))
    );
    let err = parse("events_sync = 0").unwrap_err().to_string();
    assert_eq!(
        err,
        "bodyzone.toml: output.events_sync: expected a period of at least 1 ms (or \"event\"), got 0 \
         (line 13)"
    );
    let err = parse("events_sync = \"always\"").unwrap_err().to_string();
    assert_eq!(
        err,
        "bodyzone.toml: output.events_sync: invalid value: string \"always\", expected `event`, \
         `off` or a period in milliseconds (line 13)"
    );
}

#[test]
fn a_display_that_fails_is_an_output_failed_event_and_the_run_goes_on() {
    // `blocked` is a file, so the display's directory can never be made.
    let dir = with_config(
        "[output]\nevents = \"events.jsonl\"\n\n[output.display]\nkind = \"png\"\npath = \"blocked/status.png\"\n",
    );
    std::fs::write(dir.path().join("blocked"), "not a directory").unwrap();
    run(dir.path(), &["--source", SOURCE]);
    let text = std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap();
    let events = lines(&text);
    let failed: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "output_failed")
        .collect();
    assert_eq!(failed.len(), 1, "once per run of failures: {text}");
    let detail = failed[0]["detail"].as_str().unwrap();
    assert!(detail.starts_with("display: "), "{detail}");
    assert!(detail.contains("blocked"), "names the path: {detail}");
    assert!(
        events.iter().any(|e| e["type"] == "enter"),
        "detection went on: {text}"
    );
}
