//! GPIO outputs: pins that follow zones, poses and reps.
//!
//! Each `[[output.gpio]]` entry becomes a [`Rule`]: which pin ([`PinAddress`]: a character
//! device chip and line offset on any Linux board, or a BCM pin number on a Raspberry Pi with
//! the `rpi` feature), what drives it ([`Trigger`]: `zone:mat`, `pose:squat@mat`, `rep@mat`),
//! how ([`Mode`]: `level` is on while the trigger holds, `pulse` is on for a fixed time after
//! it fires), whether the wire is `active_low`, and the `safe` level the wire goes to on every
//! way out.
//!
//! [`GpioOutput`] owns the pins. The run loop feeds it each [`Event`] and calls
//! [`GpioOutput::tick`] every frame; pulses end in `tick`, so nothing here sleeps.
//!
//! Safe state: pins are driven to their `safe` level when the output is created, when it is
//! dropped (normal exit, unwinding panic), from [`GpioOutput::camera_lost`] until
//! [`GpioOutput::camera_back`], and by the
//! process-wide [`process`] registry, which a panic hook ([`process::install_panic_hook`]) and
//! the second SIGINT/SIGTERM ([`process::Shutdown`]) run.
//!
//! ## Examples
//!
//! ```
//! use std::time::{Duration, Instant};
//! use bodyzone::body::Posture;
//! use bodyzone::exercise::events::{Event, EventKind};
//! use bodyzone::output::gpio::{FakePin, GpioOutput, Level, Mode, Rule};
//!
//! let pin = FakePin::new();
//! let rule = Rule::new("rep@mat".parse().unwrap(), Mode::Pulse(Duration::from_millis(200)));
//! let mut gpio = GpioOutput::new(vec![(rule, Box::new(pin.clone()))]).unwrap();
//! let t0 = Instant::now();
//! gpio.handle(&Event::new(0, 0, "mat", EventKind::Rep).with_pose(Posture::Squat), t0);
//! gpio.tick(t0 + Duration::from_millis(250));
//! assert_eq!(pin.levels(), [Level::Low, Level::High, Level::Low]);
//! ```
//!
//! ## Troubleshooting
//!
//! ### Permission denied on `/dev/gpiochip0`
//! The user needs read-write access to the chip device: add it to the `gpio` group
//! (`sudo usermod -aG gpio $USER`, then log in again), or install a udev rule giving that group
//! the `gpiochip*` devices.
//!
//! ### Device or resource busy
//! Another process (or a kernel driver, or a device-tree overlay) holds the line. `gpioinfo`
//! shows the consumer.
//!
//! ### The wire does not stay at the safe level after exit
//! A released character-device line keeps its last value on most drivers, but the kernel does
//! not promise it; wire a pull resistor towards the safe level for hardware that must never
//! see a floating line.

mod pins;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::body::Posture;
use crate::exercise::events::{Event, EventKind, EventSink, SinkError};
use crate::process;

pub use pins::{DynPin, FakePin, FakePinError, open};

/// A level on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    Low,
    High,
}

impl FromStr for Level {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        match text {
            "low" | "0" => Ok(Level::Low),
            "high" | "1" => Ok(Level::High),
            _ => Err(Error::BadLevel(text.to_string())),
        }
    }
}

/// Where a pin is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PinAddress {
    /// A line of a GPIO character device (`/dev/gpiochip0`, line 17); feature `cdev`.
    Cdev { chip: PathBuf, line: u32 },
    /// A Raspberry Pi BCM GPIO number; feature `rpi`.
    Rpi { pin: u8 },
}

impl std::fmt::Display for PinAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PinAddress::Cdev { chip, line } => write!(f, "{} line {line}", chip.display()),
            PinAddress::Rpi { pin } => write!(f, "BCM GPIO {pin}"),
        }
    }
}

/// What turns a pin on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// `zone:mat`: a person is in the zone.
    Zone { zone: String },
    /// `pose:squat@mat`: a person in the zone holds the pose.
    Posture { pose: String, zone: String },
    /// `rep@mat`: a repetition was counted in the zone (an instant: pulse mode only).
    Rep { zone: String },
}

impl FromStr for Trigger {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let bad = || Error::BadTrigger(text.to_string());
        let name = |part: &str| {
            let part = part.trim();
            if part.is_empty() || part.contains([':', '@']) {
                Err(bad())
            } else {
                Ok(part.to_string())
            }
        };
        if let Some(zone) = text.strip_prefix("zone:") {
            Ok(Trigger::Zone { zone: name(zone)? })
        } else if let Some(rest) = text.strip_prefix("pose:") {
            let (pose, zone) = rest.split_once('@').ok_or_else(bad)?;
            Ok(Trigger::Posture {
                pose: name(pose)?,
                zone: name(zone)?,
            })
        } else if let Some(zone) = text.strip_prefix("rep@") {
            Ok(Trigger::Rep { zone: name(zone)? })
        } else {
            Err(bad())
        }
    }
}

impl Trigger {
    /// The zone whose events drive it.
    pub fn zone(&self) -> &str {
        match self {
            Trigger::Zone { zone } | Trigger::Posture { zone, .. } | Trigger::Rep { zone } => zone,
        }
    }
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trigger::Zone { zone } => write!(f, "zone:{zone}"),
            Trigger::Posture { pose, zone } => write!(f, "pose:{pose}@{zone}"),
            Trigger::Rep { zone } => write!(f, "rep@{zone}"),
        }
    }
}

/// How a trigger drives its pin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// On while the trigger holds.
    Level,
    /// On for this long each time the trigger fires (a new firing restarts the pulse).
    Pulse(Duration),
}

/// One configured output: trigger, mode and wiring of a pin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub trigger: Trigger,
    pub mode: Mode,
    /// On drives the wire low.
    pub active_low: bool,
    /// The wire level on every way out; `None` means the off level.
    pub safe: Option<Level>,
}

impl Rule {
    /// An active-high rule whose safe level is off.
    pub fn new(trigger: Trigger, mode: Mode) -> Self {
        Self {
            trigger,
            mode,
            active_low: false,
            safe: None,
        }
    }

    /// The wire level that means "on".
    pub fn on_level(&self) -> Level {
        if self.active_low {
            Level::Low
        } else {
            Level::High
        }
    }

    /// The wire level that means "off".
    pub fn off_level(&self) -> Level {
        if self.active_low {
            Level::High
        } else {
            Level::Low
        }
    }

    /// The wire level on every way out.
    pub fn safe_level(&self) -> Level {
        self.safe.unwrap_or_else(|| self.off_level())
    }
}

/// GPIO errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `on` is not one of the three forms; fix the config.
    #[error("bad GPIO trigger {0:?}: expected \"zone:NAME\", \"pose:POSE@ZONE\" or \"rep@ZONE\"")]
    BadTrigger(String),
    /// `safe` is not a level.
    #[error("bad GPIO level {0:?}: expected \"low\" or \"high\"")]
    BadLevel(String),
    /// A rep has no duration to be "high while true": give the rule `pulse_ms`.
    #[error("GPIO trigger {0} is an instant: it needs mode pulse")]
    RepNeedsPulse(Trigger),
    /// The pin could not be requested: missing device, permission (join the `gpio` group),
    /// or another consumer holds the line.
    #[error("cannot open GPIO {pin}: {reason}")]
    Open { pin: PinAddress, reason: String },
    /// The binary was built without the back-end this pin needs.
    #[error("cannot open GPIO {pin}: bodyzone was built without the `{feature}` feature")]
    FeatureDisabled {
        pin: PinAddress,
        feature: &'static str,
    },
}

type SharedPin = Arc<Mutex<Box<dyn DynPin>>>;

struct Channel {
    rule: Rule,
    pin: SharedPin,
    /// Whether a level-mode trigger holds; for pose triggers, which zone is tracked is in the rule.
    holds: bool,
    pulse_until: Option<Instant>,
    /// What we last drove, so the wire is only written on changes.
    driven: Option<Level>,
}

/// Drives pins from events, and leaves them safe on every way out.
pub struct GpioOutput {
    channels: Vec<Channel>,
    /// The camera is lost: every pin stays at its safe level until it is back.
    lost: bool,
    /// The first failed write since the run loop last asked (a flaky pin must not stop
    /// detection: the loop reports it and goes on).
    failure: Option<String>,
    _registration: process::Registration,
}

impl GpioOutput {
    /// Takes the pins (already opened, see [`open`]), drives each to its safe level and
    /// registers them with the process-wide [`process`] registry.
    pub fn new(pins: Vec<(Rule, Box<dyn DynPin>)>) -> Result<Self, Error> {
        Self::with_registry(pins, &process::GLOBAL)
    }

    /// [`GpioOutput::new`] registering with another registry (tests).
    pub fn with_registry(
        pins: Vec<(Rule, Box<dyn DynPin>)>,
        registry: &'static process::Registry,
    ) -> Result<Self, Error> {
        let mut channels = Vec::with_capacity(pins.len());
        for (rule, pin) in pins {
            if matches!(rule.trigger, Trigger::Rep { .. }) && rule.mode == Mode::Level {
                return Err(Error::RepNeedsPulse(rule.trigger));
            }
            channels.push(Channel {
                rule,
                pin: Arc::new(Mutex::new(pin)),
                holds: false,
                pulse_until: None,
                driven: None,
            });
        }
        let safe_pins: Vec<(SharedPin, Level)> = channels
            .iter()
            .map(|c| (Arc::clone(&c.pin), c.rule.safe_level()))
            .collect();
        let registration = registry.register(move || {
            for (pin, level) in &safe_pins {
                if let Some(mut pin) = process::try_lock(pin) {
                    let _ = pin.set(*level);
                }
            }
        });
        let mut output = Self {
            channels,
            lost: false,
            failure: None,
            _registration: registration,
        };
        output.drive_safe();
        Ok(output)
    }

    /// Opens each rule's pin at its safe level, then builds the output.
    pub fn open(rules: Vec<(PinAddress, Rule)>) -> Result<Self, Error> {
        let mut pins = Vec::with_capacity(rules.len());
        for (address, rule) in rules {
            let pin = open(&address, rule.safe_level())?;
            pins.push((rule, pin));
        }
        Self::new(pins)
    }

    /// Updates the pins for one event.
    pub fn handle(&mut self, event: &Event, now: Instant) {
        let pose = event.pose.map(Posture::name);
        for channel in &mut self.channels {
            let fired = match (&channel.rule.trigger, event.kind) {
                (trigger, _) if trigger.zone() != event.zone => false,
                (Trigger::Zone { .. }, EventKind::Enter) => {
                    channel.holds = true;
                    true
                }
                // Leaving the zone ends the pose even if the pose_end event was never sent.
                (Trigger::Zone { .. } | Trigger::Posture { .. }, EventKind::Exit) => {
                    channel.holds = false;
                    false
                }
                (Trigger::Posture { pose: p, .. }, EventKind::PoseStart) if pose == Some(p) => {
                    channel.holds = true;
                    true
                }
                (Trigger::Posture { pose: p, .. }, EventKind::PoseEnd) if pose == Some(p) => {
                    channel.holds = false;
                    false
                }
                (Trigger::Rep { .. }, EventKind::Rep) => true,
                _ => false,
            };
            if fired && let Mode::Pulse(length) = channel.rule.mode {
                channel.pulse_until = Some(now + length);
            }
        }
        self.tick(now);
    }

    /// Ends pulses whose time is up and writes changed levels; call every frame.
    pub fn tick(&mut self, now: Instant) {
        if self.lost {
            return;
        }
        for channel in &mut self.channels {
            if channel.pulse_until.is_some_and(|until| now >= until) {
                channel.pulse_until = None;
            }
            let on = match channel.rule.mode {
                Mode::Level => channel.holds,
                Mode::Pulse(_) => channel.pulse_until.is_some(),
            };
            let level = if on {
                channel.rule.on_level()
            } else {
                channel.rule.off_level()
            };
            drive(channel, level, &mut self.failure);
        }
    }

    /// The camera is gone: nobody can be seen, so every pin goes safe and stays safe until
    /// [`GpioOutput::camera_back`], and every held trigger is forgotten (the zone tracker sends
    /// fresh `enter` events once frames come back).
    pub fn camera_lost(&mut self) {
        for channel in &mut self.channels {
            channel.holds = false;
            channel.pulse_until = None;
        }
        self.lost = true;
        self.drive_safe();
    }

    /// Frames come again: pins follow their triggers from the next tick on.
    pub fn camera_back(&mut self) {
        self.lost = false;
    }

    /// Drives every pin to its safe level now.
    pub fn drive_safe(&mut self) {
        for channel in &mut self.channels {
            let level = channel.rule.safe_level();
            // Always written: a safe write must not be skipped on a stale idea of the wire.
            channel.driven = None;
            drive(channel, level, &mut self.failure);
        }
    }

    /// The first failed write since the last call, as the run loop's error.
    fn take_failure(&mut self) -> Result<(), SinkError> {
        self.failure.take().map_or(Ok(()), |f| Err(f.into()))
    }

    /// Whether each rule's output is on right now (in rule order).
    pub fn states(&self) -> Vec<bool> {
        self.channels
            .iter()
            .map(|c| c.driven == Some(c.rule.on_level()))
            .collect()
    }
}

/// Writes `level` if the wire is not known to be at it; a failed write is retried on the next
/// tick because `driven` still differs, and reported in `failure` (the first of the frame).
fn drive(channel: &mut Channel, level: Level, failure: &mut Option<String>) {
    if channel.driven == Some(level) {
        return;
    }
    let mut pin = channel
        .pin
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match pin.set(level) {
        Ok(()) => channel.driven = Some(level),
        Err(err) => {
            failure.get_or_insert_with(|| {
                format!("writing {level:?} for {}: {err}", channel.rule.trigger)
            });
        }
    }
}

/// Events arrive in event time (`timestamp_ms`) but pulses are timed on the wall clock: a pulse
/// is for the hardware on the pin, which lives in real time even when a file is replayed fast.
impl EventSink for GpioOutput {
    fn event(&mut self, event: &Event) -> Result<(), SinkError> {
        self.handle(event, Instant::now());
        self.take_failure()
    }

    fn tick(&mut self, _timestamp_ms: u64) -> Result<(), SinkError> {
        GpioOutput::tick(self, Instant::now());
        self.take_failure()
    }

    fn source_lost(&mut self) -> Result<(), SinkError> {
        self.camera_lost();
        self.take_failure()
    }

    fn source_back(&mut self) -> Result<(), SinkError> {
        self.camera_back();
        Ok(())
    }
}

impl Drop for GpioOutput {
    fn drop(&mut self) {
        self.drive_safe();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Level::{High, Low};

    static TESTS: process::Registry = process::Registry::new();

    fn output(rules: Vec<Rule>) -> (GpioOutput, Vec<FakePin>) {
        let fakes: Vec<FakePin> = rules.iter().map(|_| FakePin::new()).collect();
        let pins = rules
            .into_iter()
            .zip(&fakes)
            .map(|(rule, fake)| (rule, Box::new(fake.clone()) as Box<dyn DynPin>))
            .collect();
        (GpioOutput::with_registry(pins, &TESTS).unwrap(), fakes)
    }

    fn rule(on: &str, mode: Mode) -> Rule {
        Rule::new(on.parse().unwrap(), mode)
    }

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn triggers_parse_and_print() {
        for text in ["zone:mat", "pose:squat@mat", "rep@mat"] {
            assert_eq!(text.parse::<Trigger>().unwrap().to_string(), text);
        }
        assert_eq!(
            "pose:squat@mat".parse::<Trigger>().unwrap(),
            Trigger::Posture {
                pose: "squat".into(),
                zone: "mat".into()
            }
        );
        for bad in [
            "",
            "zone:",
            "mat",
            "pose:squat",
            "pose:@mat",
            "rep:mat",
            "zone:a@b",
        ] {
            assert!(
                matches!(bad.parse::<Trigger>(), Err(Error::BadTrigger(t)) if t == bad),
                "{bad}"
            );
        }
        assert_eq!("high".parse::<Level>().unwrap(), High);
        assert!("on".parse::<Level>().is_err());
    }

    #[test]
    fn level_follows_zone_presence() {
        let (mut gpio, pins) = output(vec![rule("zone:mat", Mode::Level)]);
        let t = Instant::now();
        gpio.handle(&Event::new(0, 0, "door", EventKind::Enter), t);
        gpio.handle(&Event::new(0, 0, "mat", EventKind::Enter), t);
        assert_eq!(gpio.states(), [true]);
        gpio.handle(
            &Event::new(0, 0, "mat", EventKind::Rep).with_pose(Posture::Squat),
            t,
        );
        gpio.handle(&Event::new(0, 0, "mat", EventKind::Exit), t);
        assert_eq!(pins[0].levels(), [Low, High, Low]);
    }

    #[test]
    fn pose_level_ends_on_pose_end_or_zone_exit() {
        let (mut gpio, pins) = output(vec![rule("pose:squat@mat", Mode::Level)]);
        let t = Instant::now();
        gpio.handle(
            &Event::new(0, 0, "mat", EventKind::PoseStart).with_pose(Posture::Plank),
            t,
        );
        gpio.handle(
            &Event::new(0, 0, "other", EventKind::PoseStart).with_pose(Posture::Squat),
            t,
        );
        gpio.handle(
            &Event::new(0, 0, "mat", EventKind::PoseStart).with_pose(Posture::Squat),
            t,
        );
        gpio.handle(
            &Event::new(0, 0, "mat", EventKind::PoseEnd).with_pose(Posture::Squat),
            t,
        );
        gpio.handle(
            &Event::new(0, 0, "mat", EventKind::PoseStart).with_pose(Posture::Squat),
            t,
        );
        gpio.handle(&Event::new(0, 0, "mat", EventKind::Exit), t);
        assert_eq!(pins[0].levels(), [Low, High, Low, High, Low]);
    }

    #[test]
    fn pulses_end_on_tick_and_restart_on_refire() {
        let (mut gpio, pins) = output(vec![rule("rep@mat", Mode::Pulse(MS(100)))]);
        let t = Instant::now();
        gpio.handle(
            &Event::new(0, 0, "mat", EventKind::Rep).with_pose(Posture::Squat),
            t,
        );
        gpio.tick(t + MS(50));
        assert_eq!(gpio.states(), [true]);
        gpio.handle(
            &Event::new(0, 0, "mat", EventKind::Rep).with_pose(Posture::Squat),
            t + MS(90),
        );
        gpio.tick(t + MS(150));
        assert_eq!(gpio.states(), [true], "a new rep restarts the pulse");
        gpio.tick(t + MS(190));
        assert_eq!(pins[0].levels(), [Low, High, Low]);
    }

    #[test]
    fn pulse_on_zone_entry_fires_on_the_edge_only() {
        let (mut gpio, pins) = output(vec![rule("zone:mat", Mode::Pulse(MS(10)))]);
        let t = Instant::now();
        gpio.handle(&Event::new(0, 0, "mat", EventKind::Enter), t);
        gpio.tick(t + MS(20));
        gpio.handle(&Event::new(0, 0, "mat", EventKind::Exit), t + MS(30));
        assert_eq!(pins[0].levels(), [Low, High, Low]);
    }

    #[test]
    fn active_low_inverts_and_safe_level_defaults_to_off() {
        let mut inverted = rule("zone:mat", Mode::Level);
        inverted.active_low = true;
        let mut held_high = rule("zone:mat", Mode::Level);
        held_high.safe = Some(High);
        let (mut gpio, pins) = output(vec![inverted, held_high]);
        assert_eq!(pins[0].levels(), [High]);
        assert_eq!(pins[1].levels(), [High]);
        gpio.handle(&Event::new(0, 0, "mat", EventKind::Enter), Instant::now());
        assert_eq!(pins[0].level(), Some(Low));
        drop(gpio);
        assert_eq!(pins[0].levels(), [High, Low, High]);
        assert_eq!(pins[1].level(), Some(High));
    }

    #[test]
    fn rep_in_level_mode_is_rejected() {
        let pins: Vec<(Rule, Box<dyn DynPin>)> =
            vec![(rule("rep@mat", Mode::Level), Box::new(FakePin::new()))];
        assert!(matches!(
            GpioOutput::with_registry(pins, &TESTS),
            Err(Error::RepNeedsPulse(Trigger::Rep { .. }))
        ));
    }

    #[test]
    fn camera_loss_drives_safe_and_forgets_state() {
        let (mut gpio, pins) = output(vec![rule("zone:mat", Mode::Level)]);
        let t = Instant::now();
        gpio.handle(&Event::new(0, 0, "mat", EventKind::Enter), t);
        gpio.camera_lost();
        gpio.tick(t);
        assert_eq!(gpio.states(), [false]);
        assert_eq!(pins[0].levels(), [Low, High, Low]);
    }

    #[test]
    fn safe_level_holds_until_the_camera_is_back() {
        // Safe is high here, off is low: ticks while the camera is lost must not drive "off".
        let mut door = rule("zone:mat", Mode::Level);
        door.safe = Some(High);
        let (mut gpio, pins) = output(vec![door]);
        let t = Instant::now();
        gpio.tick(t);
        gpio.handle(&Event::new(0, 0, "mat", EventKind::Enter), t);
        gpio.camera_lost();
        gpio.tick(t + MS(100));
        gpio.tick(t + MS(200));
        assert_eq!(pins[0].levels(), [High, Low, High, High]);
        gpio.camera_back();
        gpio.tick(t + MS(300));
        gpio.handle(&Event::new(0, 0, "mat", EventKind::Enter), t + MS(400));
        assert_eq!(pins[0].levels(), [High, Low, High, High, Low, High]);
    }

    #[test]
    fn drop_drives_safe() {
        let (mut gpio, pins) = output(vec![rule("zone:mat", Mode::Level)]);
        gpio.handle(&Event::new(0, 0, "mat", EventKind::Enter), Instant::now());
        drop(gpio);
        assert_eq!(pins[0].level(), Some(Low));
    }

    #[test]
    fn failed_write_is_retried_on_next_tick() {
        let (mut gpio, pins) = output(vec![rule("zone:mat", Mode::Level)]);
        let t = Instant::now();
        pins[0].fail(true);
        gpio.handle(&Event::new(0, 0, "mat", EventKind::Enter), t);
        assert_eq!(gpio.states(), [false]);
        pins[0].fail(false);
        gpio.tick(t);
        assert_eq!(pins[0].levels(), [Low, High]);
    }

    #[test]
    fn unopenable_chip_names_the_device() {
        let address = PinAddress::Cdev {
            chip: "/nonexistent/gpiochip9".into(),
            line: 3,
        };
        let err = open(&address, Low).err().unwrap();
        assert!(
            err.to_string().contains("/nonexistent/gpiochip9 line 3"),
            "{err}"
        );
    }
}
