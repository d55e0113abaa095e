//! What the rules decide, as events, and the [`EventSink`] every output subscribes through.
//!
//! The events belong to the rules that make them ([`super::Coach`]); outputs (the JSON-lines
//! writer, GPIO pins, displays) implement [`EventSink`]. The JSON wire format is the JSON
//! output's business (`output::events`, a layer up).

use crate::body::Posture;

/// What kind of event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The person is now in the zone (after the enter hysteresis).
    Enter,
    /// The person has left (after the exit hysteresis), or the source was lost or ended.
    Exit,
    /// The person in the zone started holding an exercise pose.
    PoseStart,
    /// They stopped holding it (always before `Exit`).
    PoseEnd,
    /// A repetition finished (back at the top).
    Rep,
    /// The run loop's own: the source has no picture (a camera unplugged or stalled); every
    /// occupied zone was left just before, and outputs are in their safe state. No zone.
    SourceLost,
    /// Frames flow again after `SourceLost`. No zone.
    SourceRestored,
    /// An output that may fail without stopping the run (GPIO, a display) failed; `detail`
    /// names it and says why. Once per failure, not per frame. No zone.
    OutputFailed,
}

impl EventKind {
    /// The name used in logs and the wire format (`"pose_start"`).
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Enter => "enter",
            EventKind::Exit => "exit",
            EventKind::PoseStart => "pose_start",
            EventKind::PoseEnd => "pose_end",
            EventKind::Rep => "rep",
            EventKind::SourceLost => "source_lost",
            EventKind::SourceRestored => "source_restored",
            EventKind::OutputFailed => "output_failed",
        }
    }
}

/// One event in one zone.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Milliseconds since the source started (file sources: the frame's time in the file).
    pub timestamp_ms: u64,
    /// The source's frame number, counting from 0 (dropped frames included).
    pub frame: u64,
    /// The zone's name in the config; empty for the run loop's own events.
    pub zone: String,
    pub kind: EventKind,
    /// The exercise, for pose and rep events.
    pub pose: Option<Posture>,
    /// Repetitions of `pose` since the person entered the zone, for rep events.
    pub reps: Option<u32>,
    /// What happened, in words, for the run loop's own events.
    pub detail: Option<String>,
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
            detail: None,
        }
    }

    /// One of the run loop's own events, about no zone.
    pub fn system(timestamp_ms: u64, frame: u64, kind: EventKind, detail: String) -> Event {
        Event {
            detail: Some(detail),
            ..Event::new(timestamp_ms, frame, "", kind)
        }
    }

    pub fn with_pose(mut self, pose: Posture) -> Event {
        self.pose = Some(pose);
        self
    }

    pub fn with_reps(mut self, reps: u32) -> Event {
        self.reps = Some(reps);
        self
    }
}

/// The error an output reports; the run loop decides per output what it means
/// (see `runner`).
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
    /// `exit` events of every occupied zone. Outputs go to their safe state and stay there,
    /// whatever ticks come meanwhile, until [`EventSink::source_back`].
    fn source_lost(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Frames flow again after [`EventSink::source_lost`]; called before the first one's events.
    fn source_back(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}
