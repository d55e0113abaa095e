//! Events as JSON Lines: the wire format of [`crate::exercise::events`].
//!
//! # Wire format
//!
//! One JSON object per line, UTF-8, `\n`-terminated, written and flushed as each event happens
//! (a consumer reading a pipe sees it at once). Every object has:
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

use std::io::Write;

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
        serde_json::to_writer(&mut self.out, &Line::from(event))?;
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
}
