//! The decision logic of a frame: zones, poses and reps in, events out.

use super::events::{Event, EventKind};
use super::{ClassifierParams, Measures, PostureFilter, RepCounter, RepRule};
use crate::body::{Body, Posture};
use crate::frame::Mask;
use crate::zone::{PresenceGate, Zone, ZoneChange, ZoneTracker};

/// What one frame brought.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    pub frame: u64,
    pub timestamp_ms: u64,
    /// The pose model's person; `None` when it found nobody or does not run.
    pub body: Option<&'a Body>,
    /// The person mask, if a model gave one.
    pub mask: Option<&'a Mask>,
}

/// Where a zone stands after the last frame, as its events told it: what displays, status
/// lines and annotated frames show.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ZoneStatus {
    /// A person is inside (between `enter` and `exit`).
    pub inside: bool,
    /// The exercise pose being held (between `pose_start` and `pose_end`).
    pub pose: Option<Posture>,
    /// The count of the last `rep` since the person entered; kept after they leave, until
    /// someone enters again.
    pub reps: u32,
}

/// Per-zone state: occupancy, the held pose, and rep counters for the zone's exercise.
#[derive(Debug, Clone)]
struct ZoneState {
    zone: Zone,
    tracker: ZoneTracker,
    pose: PostureFilter,
    /// The exercise pose reported by the last `pose_start` still open.
    active: Option<Posture>,
    counters: Vec<RepCounter>,
    /// The count of the last `rep` event since the last `enter`.
    reps: u32,
}

/// Turns frames into events for every zone: `enter`/`exit` from presence with hysteresis,
/// `pose_start`/`pose_end` from the held exercise pose (only the zone's exercise, if it names
/// one), `rep` from the counters of the zone's exercise (all four counted exercises for
/// `any`). Posture and rep events need the person settled in the zone (its minimum dwell);
/// counters restart at each entry.
#[derive(Debug, Clone)]
pub struct Coach {
    gate: PresenceGate,
    classifier: ClassifierParams,
    zones: Vec<ZoneState>,
    /// The zone of the latest event.
    focus: Option<usize>,
}

impl Coach {
    pub fn new(
        zones: &[Zone],
        gate: PresenceGate,
        classifier: ClassifierParams,
        reps: &[RepRule],
    ) -> Coach {
        let zones = zones
            .iter()
            .map(|zone| ZoneState {
                tracker: ZoneTracker::for_zone(zone),
                pose: PostureFilter::new(classifier.hold),
                active: None,
                counters: reps
                    .iter()
                    .filter(|r| zone.exercise.is_none_or(|e| e == r.exercise))
                    .map(|&r| RepCounter::new(r))
                    .collect(),
                reps: 0,
                zone: zone.clone(),
            })
            .collect();
        Coach {
            gate,
            classifier,
            zones,
            focus: None,
        }
    }

    /// Feeds one frame; returns its events in order.
    pub fn update(&mut self, obs: &Observation<'_>) -> Vec<Event> {
        let t = obs.timestamp_ms;
        let body = obs.body.filter(|b| b.score >= self.gate.min_pose_score);
        let measures = body.map(|b| Measures::new(b, self.classifier.min_visibility));
        let raw = measures
            .as_ref()
            .map_or(Posture::Unknown, |m| m.pose(&self.classifier));
        let mut events = Vec::new();
        for (i, state) in self.zones.iter_mut().enumerate() {
            let before = events.len();
            let present = state.zone.is_present(&self.gate, obs.body, obs.mask);
            match state.tracker.update(t, present) {
                Some(ZoneChange::Enter) => {
                    let name = state.zone.name.clone();
                    events.push(Event::new(t, obs.frame, name, EventKind::Enter));
                    state.pose = PostureFilter::new(self.classifier.hold);
                    state.counters.iter_mut().for_each(RepCounter::reset);
                    state.reps = 0;
                }
                Some(ZoneChange::Exit) => state.leave(t, obs.frame, &mut events),
                None => {}
            }
            if state.tracker.is_settled(t) {
                let event = |kind| Event::new(t, obs.frame, state.zone.name.clone(), kind);
                state.pose.update(t, raw);
                let held = Some(state.pose.current())
                    .filter(|p| p.is_exercise() && state.zone.exercise.is_none_or(|e| e == *p));
                if held != state.active {
                    if let Some(old) = state.active {
                        events.push(event(EventKind::PoseEnd).with_pose(old));
                    }
                    if let Some(new) = held {
                        events.push(event(EventKind::PoseStart).with_pose(new));
                    }
                    state.active = held;
                }
                for counter in &mut state.counters {
                    let signal = measures.as_ref().and_then(|m| counter.rule().signal(m));
                    if counter.update(signal, raw) {
                        state.reps = counter.reps();
                        let e = event(EventKind::Rep).with_pose(counter.rule().exercise);
                        events.push(e.with_reps(state.reps));
                    }
                }
            }
            if events.len() > before {
                self.focus = Some(i);
            }
        }
        events
    }

    /// Everyone leaves at once (source lost or ended, shutting down): `pose_end` and `exit`
    /// for each occupied zone.
    pub fn leave_all(&mut self, frame: u64, timestamp_ms: u64) -> Vec<Event> {
        let mut events = Vec::new();
        for (i, state) in self.zones.iter_mut().enumerate() {
            if state.tracker.force_exit(timestamp_ms).is_some() {
                state.leave(timestamp_ms, frame, &mut events);
                self.focus = Some(i);
            }
        }
        events
    }

    /// Every zone with where it stands, in config order.
    pub fn zones(&self) -> impl Iterator<Item = (&Zone, ZoneStatus)> {
        self.zones.iter().map(|s| (&s.zone, s.status()))
    }

    /// The zone of the latest event, with where it stands: the one a status line is about.
    pub fn focus(&self) -> Option<(&Zone, ZoneStatus)> {
        let state = &self.zones[self.focus?];
        Some((&state.zone, state.status()))
    }

    /// Zones the person is in now.
    pub fn occupied(&self) -> impl Iterator<Item = &str> {
        self.zones
            .iter()
            .filter(|s| s.tracker.is_inside())
            .map(|s| s.zone.name.as_str())
    }
}

impl ZoneState {
    fn status(&self) -> ZoneStatus {
        ZoneStatus {
            inside: self.tracker.is_inside(),
            pose: self.active,
            reps: self.reps,
        }
    }

    fn leave(&mut self, t: u64, frame: u64, events: &mut Vec<Event>) {
        if let Some(pose) = self.active.take() {
            events.push(
                Event::new(t, frame, self.zone.name.clone(), EventKind::PoseEnd).with_pose(pose),
            );
        }
        events.push(Event::new(
            t,
            frame,
            self.zone.name.clone(),
            EventKind::Exit,
        ));
    }
}
