//! Events as JSON Lines: the wire format of [`crate::exercise::events`], written to any writer
//! ([`JsonLines`], stdout) or to the events log ([`EventLog`]: a file only ever appended to, and
//! synced to storage as [`EventsSync`] says).
//!
//! # Wire format
//!
//! One JSON object per line, UTF-8, `\n`-terminated, written whole and flushed as each event
//! happens (a consumer reading a pipe sees it at once). Every object has:
//!
//! - `timestamp_ms` (integer): milliseconds since the source started (file sources: the
//!   frame's time in the file; cameras: time since the camera opened),
//! - `frame` (integer): the source's frame number, counting from 0 (dropped frames included),
//! - `zone` (string): the zone's `name` in the config (left out for the run's own events),
//! - `type` (string): one of the types below.
//!
//! | `type` | when | extra fields |
//! |---|---|---|
//! | `enter` | the person is now in the zone (after the enter hysteresis) | |
//! | `exit` | the person has left (after the exit hysteresis), or the source was lost or ended | |
//! | `pose_start` | the person in the zone started holding an exercise pose | `pose` |
//! | `pose_end` | they stopped holding it (always before `exit`) | `pose` |
//! | `rep` | a repetition finished (back at the top) | `pose`, `reps` |
//! | `source_lost` | the camera stopped giving pictures (unplugged, stalled); outputs are safe until it is back | `detail` |
//! | `source_restored` | frames flow again | `detail` |
//! | `output_failed` | an output that may fail without stopping the run (GPIO) failed, once per failure | `detail` |
//!
//! - `pose` (string): `squat`, `lunge`, `plank`, `pushup`, `jumping_jack` or `warrior`.
//! - `reps` (integer): repetitions of `pose` counted since the person entered the zone.
//! - `detail` (string): what happened, in words (the device, the output and its error).
//!
//! Fields that do not apply are left out, never `null`. This list may grow: **ignore fields
//! and types you do not know**. In a log file a power cut may leave the last line cut short; the
//! next run starts a new line after it, so **skip a line that does not parse**.
//!
//! ```text
//! {"timestamp_ms":1400,"frame":7,"zone":"mat","type":"enter"}
//! {"timestamp_ms":2000,"frame":10,"zone":"mat","type":"pose_start","pose":"squat"}
//! {"timestamp_ms":3600,"frame":18,"zone":"mat","type":"pose_end","pose":"squat"}
//! {"timestamp_ms":3600,"frame":18,"zone":"mat","type":"rep","pose":"squat","reps":1}
//! ```
//!
//! ## Examples
//!
//! ```
//! use bodyzone::body::Posture;
//! use bodyzone::exercise::events::{Event, EventKind, EventSink};
//! use bodyzone::output::events::JsonLines;
//!
//! let mut sink = JsonLines::new(Vec::new());
//! sink.event(&Event::new(1400, 7, "mat", EventKind::Rep).with_pose(Posture::Squat).with_reps(1)).unwrap();
//! assert_eq!(
//!     String::from_utf8(sink.into_inner()).unwrap(),
//!     "{\"timestamp_ms\":1400,\"frame\":7,\"zone\":\"mat\",\"type\":\"rep\",\"pose\":\"squat\",\"reps\":1}\n"
//! );
//! ```

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::body::Posture;
use crate::exercise::events::{Event, EventSink, SinkError};

/// One event as one line of the wire format.
#[derive(Serialize)]
struct Line<'a> {
    timestamp_ms: u64,
    frame: u64,
    #[serde(skip_serializing_if = "str::is_empty")]
    zone: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pose: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reps: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
}

impl<'a> From<&'a Event> for Line<'a> {
    fn from(event: &'a Event) -> Self {
        Line {
            timestamp_ms: event.timestamp_ms,
            frame: event.frame,
            zone: &event.zone,
            kind: event.kind.name(),
            pose: event.pose.map(Posture::name),
            reps: event.reps,
            detail: event.detail.as_deref(),
        }
    }
}

/// Writes events as JSON Lines, flushing after each line.
#[derive(Debug)]
pub struct JsonLines<W: Write> {
    out: W,
    line: Vec<u8>,
}

impl<W: Write> JsonLines<W> {
    pub fn new(out: W) -> JsonLines<W> {
        JsonLines {
            out,
            line: Vec::new(),
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    /// Writes one event; an I/O error (a closed pipe) is returned as such so the caller can tell
    /// a broken pipe from other failures.
    pub fn write(&mut self, event: &Event) -> std::io::Result<()> {
        self.line.clear();
        encode(event, &mut self.line);
        self.out.write_all(&self.line)?;
        self.out.flush()
    }
}

impl<W: Write> EventSink for JsonLines<W> {
    fn event(&mut self, event: &Event) -> Result<(), SinkError> {
        Ok(self.write(event)?)
    }
}

/// Appends `event` as one `\n`-terminated line: built whole in memory so that it reaches the
/// file in one `write(2)`, which a kill cannot cut in two and which other appenders to the same
/// file, or readers of a pipe (up to `PIPE_BUF`), never see interleaved.
fn encode(event: &Event, line: &mut Vec<u8>) {
    serde_json::to_writer(&mut *line, &Line::from(event))
        .expect("a line of strings and integers serialises");
    line.push(b'\n');
}

/// When the events log is forced onto the storage (`fdatasync`), from `[output] events_sync`.
///
/// A written line is in the kernel's page cache at once: it survives the process being killed,
/// not the power going off. The kernel writes it back on its own, on Linux within about 30 s
/// (`vm.dirty_expire_centisecs`); a sync makes it durable before the loop goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EventsSync {
    /// After every event: a device that loses power keeps every event it wrote. Events are rare
    /// (a few a minute), and a sync costs milliseconds (tens on a slow SD card) of that frame.
    #[default]
    EachEvent,
    /// At most this long after the first unsynced event (checked every frame), and when the run
    /// ends: one sync per burst of events, and a power cut loses at most this window.
    Within(Duration),
    /// Never: the kernel's write-back decides (tmpfs, or flash whose writes must be spared).
    Off,
}

/// Why the events log failed.
#[derive(Debug, thiserror::Error)]
pub enum EventLogError {
    #[error("{}: is a directory, not an events file", .path.display())]
    Directory { path: PathBuf },
    /// Opening failed: a missing directory, permissions.
    #[error("{}: cannot open the events log: {source}", .path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Writing or syncing failed: a full disk, an I/O error, a pipe whose reader left.
    #[error("{}: {source}", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl EventLogError {
    fn opening(path: &Path, source: std::io::Error) -> EventLogError {
        let path = path.to_path_buf();
        match source.kind() {
            ErrorKind::IsADirectory => EventLogError::Directory { path },
            _ => EventLogError::Open { path, source },
        }
    }
}

/// The events log: a JSON-lines file that is only ever appended to, one whole line per event,
/// written as the event happens and synced as [`EventsSync`] says. A FIFO or a character device
/// (`/dev/stdout`) works too: lines go straight through, and there is nothing to sync.
///
/// Nothing is buffered in the process, so a run killed or stopped by an error keeps every
/// event it had; a power cut keeps the synced ones, and a line it cut short is ended by the next
/// run's first event rather than glued to it.
#[derive(Debug)]
pub struct EventLog {
    file: File,
    path: PathBuf,
    sync: EventsSync,
    /// A regular file: pipes and devices have nothing to sync and no last line to look at.
    regular: bool,
    /// The file ends inside a line: the next event starts a new one.
    torn: bool,
    unsynced_since: Option<Instant>,
    line: Vec<u8>,
}

impl EventLog {
    /// Opens `path` to append to it, creating it if missing. Writes nothing yet.
    pub fn open(path: &Path, sync: EventsSync) -> Result<EventLog, EventLogError> {
        let open_error = |source| EventLogError::opening(path, source);
        let created = OpenOptions::new().append(true).create_new(true).open(path);
        let (file, created) = match created {
            Ok(file) => (file, true),
            // `create` as well: a symlink whose target is still missing is followed, not an error.
            Err(err) if err.kind() == ErrorKind::AlreadyExists => {
                let file = OpenOptions::new().append(true).create(true).open(path);
                (file.map_err(open_error)?, false)
            }
            Err(err) => return Err(open_error(err)),
        };
        let meta = file.metadata().map_err(open_error)?;
        let regular = meta.file_type().is_file();
        let torn = regular && meta.len() > 0 && !ends_a_line(path, &meta);
        if created && sync != EventsSync::Off {
            // A new file's name is in its directory, which needs a sync of its own to survive
            // a power cut.
            let dir = match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir,
                _ => Path::new("."),
            };
            File::open(dir)
                .and_then(|dir| dir.sync_all())
                .map_err(open_error)?;
        }
        Ok(EventLog {
            file,
            path: path.to_path_buf(),
            sync,
            regular,
            torn,
            unsynced_since: None,
            line: Vec::new(),
        })
    }

    /// Starts `path` empty (creating or truncating it), for a batch run whose output is a fresh
    /// file each time (`bodyzone demo`); then as [`EventLog::open`].
    pub fn create(path: &Path, sync: EventsSync) -> Result<EventLog, EventLogError> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|source| EventLogError::opening(path, source))?;
        EventLog::open(path, sync)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the log is the file at `other` (the same device and inode, whatever the names).
    pub fn is_same_file(&self, other: &Path) -> bool {
        match (self.file.metadata(), std::fs::metadata(other)) {
            (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
            _ => false,
        }
    }

    /// Appends one event as one line, then syncs if [`EventsSync`] says so.
    pub fn write(&mut self, event: &Event) -> Result<(), EventLogError> {
        self.line.clear();
        if self.torn {
            self.line.push(b'\n');
        }
        encode(event, &mut self.line);
        self.file
            .write_all(&self.line)
            .map_err(|source| self.error(source))?;
        self.torn = false;
        self.unsynced_since.get_or_insert_with(Instant::now);
        match self.sync {
            EventsSync::EachEvent => self.sync(),
            EventsSync::Within(_) => self.sync_if_due(),
            EventsSync::Off => Ok(()),
        }
    }

    /// Syncs what was written since the last sync, unless the policy is [`EventsSync::Off`]:
    /// for the end of a run.
    pub fn close(mut self) -> Result<(), EventLogError> {
        self.finish()
    }

    fn finish(&mut self) -> Result<(), EventLogError> {
        match self.sync {
            EventsSync::Off => Ok(()),
            _ => self.sync(),
        }
    }

    fn sync_if_due(&mut self) -> Result<(), EventLogError> {
        match (self.sync, self.unsynced_since) {
            (EventsSync::Within(window), Some(since)) if since.elapsed() >= window => self.sync(),
            _ => Ok(()),
        }
    }

    fn sync(&mut self) -> Result<(), EventLogError> {
        if self.unsynced_since.take().is_some() && self.regular {
            self.file.sync_data().map_err(|source| self.error(source))?;
        }
        Ok(())
    }

    fn error(&self, source: std::io::Error) -> EventLogError {
        EventLogError::Write {
            path: self.path.clone(),
            source,
        }
    }
}

impl EventSink for EventLog {
    fn event(&mut self, event: &Event) -> Result<(), SinkError> {
        Ok(self.write(event)?)
    }

    fn tick(&mut self, _timestamp_ms: u64) -> Result<(), SinkError> {
        Ok(self.sync_if_due()?)
    }
}

impl Drop for EventLog {
    /// A run that ends in an error still syncs what it wrote; the error it ends with matters
    /// more than this one.
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// Whether the regular file `meta` describes (opened at `path`, not empty) ends with `\n`. A file
/// that cannot be read back (write-only permissions, or renamed meanwhile) is taken as whole:
/// a needless empty line would be worse than the rare torn one.
fn ends_a_line(path: &Path, meta: &std::fs::Metadata) -> bool {
    let Ok(reader) = File::open(path) else {
        return true;
    };
    let same = reader
        .metadata()
        .is_ok_and(|m| (m.dev(), m.ino()) == (meta.dev(), meta.ino()));
    let mut last = [0u8];
    !same || reader.read_exact_at(&mut last, meta.len() - 1).is_err() || last == *b"\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exercise::events::EventKind;

    /// The wire format, pinned: one golden line per type.
    #[test]
    fn golden_lines() {
        let events = [
            Event::new(1400, 7, "mat", EventKind::Enter),
            Event::new(2000, 10, "mat", EventKind::PoseStart).with_pose(Posture::JumpingJack),
            Event::new(3600, 18, "mat", EventKind::PoseEnd).with_pose(Posture::JumpingJack),
            Event::new(3600, 18, "mat", EventKind::Rep)
                .with_pose(Posture::Squat)
                .with_reps(2),
            Event::new(9000, 45, "door-2", EventKind::Exit),
        ];
        let mut sink = JsonLines::new(Vec::new());
        for e in &events {
            sink.event(e).unwrap();
        }
        let text = String::from_utf8(sink.into_inner()).unwrap();
        let golden = r#"{"timestamp_ms":1400,"frame":7,"zone":"mat","type":"enter"}
{"timestamp_ms":2000,"frame":10,"zone":"mat","type":"pose_start","pose":"jumping_jack"}
{"timestamp_ms":3600,"frame":18,"zone":"mat","type":"pose_end","pose":"jumping_jack"}
{"timestamp_ms":3600,"frame":18,"zone":"mat","type":"rep","pose":"squat","reps":2}
{"timestamp_ms":9000,"frame":45,"zone":"door-2","type":"exit"}
"#;
        assert_eq!(text, golden);
    }

    fn enter(frame: u64) -> Event {
        Event::new(frame * 100, frame, "mat", EventKind::Enter)
    }

    const ENTER_1: &str =
        "{\"timestamp_ms\":100,\"frame\":1,\"zone\":\"mat\",\"type\":\"enter\"}\n";

    #[test]
    fn the_log_appends_and_create_starts_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        for _ in 0..2 {
            let mut log = EventLog::open(&path, EventsSync::EachEvent).unwrap();
            log.write(&enter(1)).unwrap();
            // On disk at once: nothing waits for the end of the run.
            assert!(std::fs::read_to_string(&path).unwrap().ends_with(ENTER_1));
            log.close().unwrap();
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), ENTER_1.repeat(2));
        let mut log = EventLog::create(&path, EventsSync::Off).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
        log.write(&enter(1)).unwrap();
        drop(log);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), ENTER_1);
    }

    #[test]
    fn a_torn_line_gets_its_end_before_the_next_event() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, "{\"timestamp_ms\":4").unwrap();
        let mut log = EventLog::open(&path, EventsSync::EachEvent).unwrap();
        log.write(&enter(1)).unwrap();
        log.write(&enter(1)).unwrap();
        let expected = format!("{{\"timestamp_ms\":4\n{ENTER_1}{ENTER_1}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);
    }

    #[test]
    fn within_a_period_syncs_once_due() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let window = Duration::from_millis(50);
        let mut log = EventLog::open(&path, EventsSync::Within(window)).unwrap();
        log.write(&enter(1)).unwrap();
        log.tick(100).unwrap();
        assert!(log.unsynced_since.is_some());
        std::thread::sleep(window);
        log.tick(200).unwrap();
        assert_eq!(log.unsynced_since, None);
        log.write(&enter(2)).unwrap();
        assert!(log.unsynced_since.is_some());

        let mut log = EventLog::open(&path, EventsSync::EachEvent).unwrap();
        log.write(&enter(3)).unwrap();
        assert_eq!(log.unsynced_since, None);
    }
}
