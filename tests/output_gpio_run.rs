//! GPIO through whole runs of the loop on the bundled squat clip, with fake pins that record
//! each level and when: the zone pin is on while the person is on the mat and safe at the end,
//! the rep pin pulses once per counted squat, and while a camera reconnects every pin holds
//! its safe level, then follows the zone again.

mod common;

use std::time::{Duration, Instant};

use bodyzone::config::Config;
use bodyzone::exercise::events::{Event, EventKind, EventSink, SinkError};
use bodyzone::frame::Frame;
use bodyzone::output::gpio::{DynPin, FakePin, GpioOutput, Level, Mode, Rule};
use bodyzone::runner::{Output, Pipeline, RunOptions, run};
use bodyzone::source::{self, FrameSource, OpenOptions, SourceError, SourceSpec};

use Level::{High, Low};

fn clip() -> Box<dyn FrameSource> {
    source::open(
        &SourceSpec::Path(common::squat_clip()),
        &OpenOptions::default(),
    )
    .unwrap()
}

/// Events with the wall-clock time each reached the sinks.
#[derive(Default)]
struct Recorder(Vec<(Instant, Event)>);

impl EventSink for Recorder {
    fn event(&mut self, event: &Event) -> Result<(), SinkError> {
        self.0.push((Instant::now(), event.clone()));
        Ok(())
    }
}

impl Recorder {
    fn times(&self, kind: EventKind) -> Vec<Instant> {
        self.0
            .iter()
            .filter(|(_, e)| e.kind == kind)
            .map(|(t, _)| *t)
            .collect()
    }
}

/// Runs the demo config over `source` with one GPIO output per rule; returns the events and
/// each pin's history, after the output is dropped.
fn run_with_pins(source: Box<dyn FrameSource>, rules: Vec<Rule>) -> (Recorder, Vec<FakePin>) {
    let config = Config::default_demo();
    let pins: Vec<FakePin> = rules.iter().map(|_| FakePin::new()).collect();
    let mut gpio = GpioOutput::new(
        rules
            .into_iter()
            .zip(&pins)
            .map(|(rule, pin)| (rule, Box::new(pin.clone()) as Box<dyn DynPin>))
            .collect(),
    )
    .unwrap();
    let mut recorder = Recorder::default();
    let mut pipeline = Pipeline::new(&config).unwrap();
    {
        let mut outputs = [
            Output::required("recorder", &mut recorder),
            Output::best_effort("gpio", &mut gpio),
        ];
        run(source, &mut pipeline, &mut outputs, &RunOptions::default()).unwrap();
    }
    drop(gpio);
    (recorder, pins)
}

#[test]
fn zone_pin_follows_the_person_and_rep_pin_pulses() {
    let (events, pins) = run_with_pins(
        clip(),
        vec![
            Rule::new("zone:mat".parse().unwrap(), Mode::Level),
            Rule::new(
                "rep@mat".parse().unwrap(),
                Mode::Pulse(Duration::from_millis(1)),
            ),
        ],
    );
    let (enter, exit) = (
        events.times(EventKind::Enter),
        events.times(EventKind::Exit),
    );
    assert_eq!((enter.len(), exit.len()), (1, 1), "one visit to the mat");

    // Safe at creation, on at the enter event, off at the exit (the clip's end), safe on drop.
    let zone = pins[0].history();
    let levels: Vec<Level> = zone.iter().map(|(_, level)| *level).collect();
    assert_eq!(levels, [Low, High, Low, Low]);
    assert!(zone.is_sorted_by_key(|(t, _)| *t));
    assert!(zone[1].0 >= enter[0] && zone[1].0 < exit[0]);
    assert!(zone[2].0 >= exit[0]);

    // One pulse per counted squat, ended by a later frame's tick.
    let reps = events.times(EventKind::Rep);
    assert_eq!(reps.len(), 2, "the clip's two squats");
    let rep = pins[1].history();
    let highs: Vec<Instant> = rep
        .iter()
        .filter(|(_, level)| *level == High)
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(highs.len(), 2);
    for (high, rep) in highs.iter().zip(&reps) {
        assert!(high >= rep);
    }
    assert_eq!(rep.last().map(|(_, level)| *level), Some(Low));
}

/// The clip with the camera "unplugged" after frame 20: three reconnect attempts, then frames
/// again.
struct Unplugged {
    inner: Box<dyn FrameSource>,
    delivered: u64,
    attempts: u32,
}

impl FrameSource for Unplugged {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        if self.delivered == 20 && self.attempts < 3 {
            self.attempts += 1;
            return Err(SourceError::Reconnecting {
                device: "/dev/video-test".into(),
                attempt: self.attempts,
                cause: "unplugged".into(),
            });
        }
        self.delivered += 1;
        self.inner.next_frame()
    }

    fn describe(&self) -> String {
        "unplugged clip".into()
    }

    fn is_live(&self) -> bool {
        true
    }

    fn recycle(&mut self, frame: Frame) {
        self.inner.recycle(frame);
    }
}

#[test]
fn pins_hold_their_safe_level_while_the_camera_reconnects() {
    // Safe high, off low: the safe level is visible as such.
    let mut rule = Rule::new("zone:mat".parse().unwrap(), Mode::Level);
    rule.safe = Some(High);
    let source = Unplugged {
        inner: clip(),
        delivered: 0,
        attempts: 0,
    };
    let (events, pins) = run_with_pins(Box::new(source), vec![rule]);
    let (enter, exit) = (
        events.times(EventKind::Enter),
        events.times(EventKind::Exit),
    );
    assert_eq!(
        (enter.len(), exit.len()),
        (2, 2),
        "left on loss, entered again"
    );

    let history = pins[0].history();
    let levels: Vec<Level> = history.iter().map(|(_, level)| *level).collect();
    // Safe at creation; off with the first frame; on at enter; off at the loss's exit event,
    // then safe until frames are back (ticks during the loss change nothing); off with the
    // first frame back; on at the second enter; off at the end; safe on drop.
    assert_eq!(levels, [High, Low, High, Low, High, Low, High, Low, High]);
    let (safe_from, safe_until) = (history[4].0, history[5].0);
    assert!(safe_from >= exit[0] && safe_until < enter[1]);
}
