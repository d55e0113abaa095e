//! Events: what happened in which zone, as JSON Lines, and the [`EventSink`] outputs subscribe
//! through.
//!
//! # Wire format
//!
//! One JSON object per line, UTF-8, `\n`-terminated, written and flushed as each event happens
//! (a consumer reading a pipe sees it at once). Every object has:
//!
//! - `timestamp_ms` (integer): milliseconds since the source started (file sources: the
//!   frame's time in the file; cameras: time since the camera opened),
//! - `frame` (integer): the source's frame number, counting from 0 (dropped frames included),
//! - `zone` (string): the zone's `name` in the config,
//! - `type` (string): one of the types below.
//!
//! | `type` | when | extra fields |
//! |---|---|---|
//! | `enter` | the person is now in the zone (after the enter hysteresis) | |
//! | `exit` | the person has left (after the exit hysteresis), or the source was lost or ended | |
//! | `pose_start` | the person in the zone started holding an exercise pose | `pose` |
//! | `pose_end` | they stopped holding it (always before `exit`) | `pose` |
//! | `rep` | a repetition finished (back at the top) | `pose`, `reps` |
//!
//! - `pose` (string): `squat`, `lunge`, `plank`, `pushup`, `jumping_jack` or `warrior`.
//! - `reps` (integer): repetitions of `pose` counted since the person entered the zone.
//!
//! Fields that do not apply are left out, never `null`. This list may grow: **ignore fields
//! and types you do not know**.
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
//! use bodyzone::exercise::Pose;
//! use bodyzone::output::events::{Event, EventKind, EventSink, JsonLines};
//!
//! let mut sink = JsonLines::new(Vec::new());
//! sink.event(&Event::new(1400, 7, "mat", EventKind::Rep).with_pose(Pose::Squat).with_reps(1)).unwrap();
//! assert_eq!(
//!     String::from_utf8(sink.into_inner()).unwrap(),
//!     "{\"timestamp_ms\":1400,\"frame\":7,\"zone\":\"mat\",\"type\":\"rep\",\"pose\":\"squat\",\"reps\":1}\n"
//! );
//! ```

use std::io::Write;

use serde::Serialize;

use crate::exercise::Pose;
use crate::output::gpio::Happening;

/// What kind of event (the `type` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Enter,
    Exit,
    PoseStart,
    PoseEnd,
    Rep,
}

/// One event; serialises to one line of the wire format.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub timestamp_ms: u64,
    pub frame: u64,
    pub zone: String,
    #[serde(rename = "type")]
    pub kind: EventKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pose: Option<Pose>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reps: Option<u32>,
}

impl Event {
    pub fn new(timestamp_ms: u64, frame: u64, zone: impl Into<String>, kind: EventKind) -> Event {
        Event {
            timestamp_ms,
            frame,
            zone: zone.into(),
            kind,
            pose: None,
            reps: None,
        }
    }

    pub fn with_pose(mut self, pose: Pose) -> Event {
        self.pose = Some(pose);
        self
    }

    pub fn with_reps(mut self, reps: u32) -> Event {
        self.reps = Some(reps);
        self
    }

    /// The event as the GPIO output takes it.
    pub fn happening(&self) -> Happening<'_> {
        let zone = self.zone.as_str();
        let pose = self.pose.map_or("", Pose::name);
        match self.kind {
            EventKind::Enter => Happening::Enter { zone },
            EventKind::Exit => Happening::Exit { zone },
            EventKind::PoseStart => Happening::PoseStart { zone, pose },
            EventKind::PoseEnd => Happening::PoseEnd { zone, pose },
            EventKind::Rep => Happening::Rep { zone, pose },
        }
    }
}

/// The error an output reports; the run loop logs it and carries on (an output failing never
/// stops detection).
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// Anything that acts on events: the JSON-lines writer, GPIO pins, displays.
pub trait EventSink {
    /// One event, in order.
    fn event(&mut self, event: &Event) -> Result<(), SinkError>;

    /// Called once per frame after its events, with the frame's timestamp: for outputs that
    /// act over time (a pulse ending, a display refresh).
    fn tick(&mut self, _timestamp_ms: u64) -> Result<(), SinkError> {
        Ok(())
    }

    /// The source has no picture (a camera reconnecting); called once per loss, after the
    /// `exit` events of every occupied zone. Outputs go to their safe state and stay there, whatever ticks
    /// come meanwhile, until [`EventSink::source_back`].
    fn source_lost(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Frames flow again after [`EventSink::source_lost`]; called before the first one's events.
    fn source_back(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// Writes events as JSON Lines, flushing after each line.
#[derive(Debug)]
pub struct JsonLines<W: Write> {
    out: W,
}

impl<W: Write> JsonLines<W> {
    pub fn new(out: W) -> JsonLines<W> {
        JsonLines { out }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    /// Writes one event; an I/O error (a closed pipe) is returned as such so the caller can tell
    /// a broken pipe from other failures.
    pub fn write(&mut self, event: &Event) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.out, event)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

impl<W: Write> EventSink for JsonLines<W> {
    fn event(&mut self, event: &Event) -> Result<(), SinkError> {
        Ok(self.write(event)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wire format, pinned: one golden line per type.
    #[test]
    fn golden_lines() {
        let events = [
            Event::new(1400, 7, "mat", EventKind::Enter),
            Event::new(2000, 10, "mat", EventKind::PoseStart).with_pose(Pose::JumpingJack),
            Event::new(3600, 18, "mat", EventKind::PoseEnd).with_pose(Pose::JumpingJack),
            Event::new(3600, 18, "mat", EventKind::Rep)
                .with_pose(Pose::Squat)
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

    #[test]
    fn happening_carries_zone_and_pose() {
        let e = Event::new(0, 0, "mat", EventKind::PoseStart).with_pose(Pose::Squat);
        assert_eq!(
            e.happening(),
            Happening::PoseStart {
                zone: "mat",
                pose: "squat"
            }
        );
    }
}
