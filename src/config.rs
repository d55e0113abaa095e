//! `bodyzone.toml`: models, source, smoothing, exercise thresholds, zones and outputs.
//!
//! Parsing goes in two steps, like ripgrep's low-level and high-level arguments: serde reads the
//! text into raw structs that mirror the file (`deny_unknown_fields`, so a typo is an error, not
//! a silently ignored key), then validation turns them into a [`Config`] of checked domain types
//! ([`Zone`], [`ClassifierParams`], [`RepRule`], GPIO [`Rule`]s). Every problem names its key and
//! what was expected, and all problems are reported at once: each top-level table and each
//! `[[zone]]` is read on its own (the first type error inside one of them stops that one only),
//! then every value is checked.
//!
//! ```text
//! bodyzone.toml: zone[1].polygon: need at least 3 points, got 2 (line 9)
//! bodyzone.toml: output.gpio[0].on: zone "door" is not a [[zone]] name
//! ```
//!
//! # The file
//!
//! ```toml
//! [model]
//! segmentation = "landscape"   # general | landscape | off
//! pose = "lite"                # lite | full | heavy | off
//! min_pose_score = 0.5         # a pose scoring less is nobody (gates presence)
//!
//! [source]
//! input = "v4l2:/dev/video0"   # any --source string; --source overrides it
//! realtime = false             # pace files by their timestamps
//! frame_timeout_ms = 2000      # a live frame later than this is a hung camera
//! max_pixels = 40000000        # larger pictures are refused (a 1 GB board decodes this much)
//!
//! [smoothing]
//! mask = 0.7                   # weight of the previous mask (MediaPipe's smoothing), 0 = off
//! landmarks = true             # one-euro filter on keypoints between frames
//! skip_unchanged = 0.0         # mean pixel change (0..1) below which inference is skipped
//!
//! [exercise]
//! min_visibility = 0.5         # keypoints less visible are ignored
//! hold_frames = 2              # or hold_ms: how long a new pose must last to replace the old
//! straight = 140               # degrees: a joint at least this open is straight
//! bent = 120                   # degrees: a joint at most this open is bent
//! upright = 30                 # degrees of torso tilt: most for standing
//! lean = 50                    # most for squat, lunge, warrior, jumping jack
//! horizontal = 60              # least for plank and push-up
//! arms_up = 120                # shoulder angle: least for jumping jack arms
//! squat = { down = 110, up = 145 }          # mean knee angle of a rep
//! lunge = { down = 110, up = 145 }          # front knee angle
//! pushup = { down = 100, up = 150 }         # mean elbow angle
//! jumping_jack = { open = 120, closed = 50 } # mean shoulder angle
//!
//! [[zone]]
//! name = "mat"                 # letters, digits, _ and -
//! polygon = [[0.15, 0.55], [0.75, 0.55], [0.75, 0.95], [0.15, 0.95]]  # normalised x, y
//! exercise = "squat"           # squat | lunge | plank | pushup | jumping_jack | warrior | any
//! presence = "auto"            # feet | mask | auto
//! anchors = ["left_ankle", "right_ankle"]  # feet mode: keypoints that must be inside
//! anchor_rule = "all"          # all | any of the visible anchors
//! min_coverage = 0.15          # mask mode: least fraction of the polygon covered
//! enter_frames = 3             # or enter_ms
//! exit_frames = 5              # or exit_ms
//! min_dwell_ms = 0             # pose and rep events only after this long inside
//! cooldown_ms = 0              # presence ignored this long after an exit
//!
//! [output]
//! events = "events.jsonl"      # JSON lines appended as they happen; stdout when absent (--events overrides)
//! events_sync = "event"        # event | off | a period in ms: when written events are made durable
//!
//! [[output.gpio]]
//! chip = "/dev/gpiochip0"      # with line; or pin = 17 (Raspberry Pi BCM number)
//! line = 17
//! on = "pose:squat@mat"        # zone:ZONE | pose:POSE@ZONE | rep@ZONE
//! mode = "level"               # level | pulse
//! pulse_ms = 200               # pulse length (pulse mode)
//! active_low = false
//! safe = "low"                 # level on every way out; default: off
//!
//! [output.display]
//! kind = "ssd1306"             # ssd1306 | framebuffer | png
//! device = "/dev/i2c-1"        # ssd1306: I²C bus; framebuffer: /dev/fb0
//! address = 0x3c               # ssd1306 I²C address
//! # path = "status.png"        # png: file written atomically
//! ```
//!
//! # The events log
//!
//! `events` is a log: opened when the run starts (a bad path stops it there), created if
//! missing, never truncated or replaced; each run appends, one whole line per event, written
//! as the event happens, so a run that is killed or fails keeps every event it had. A FIFO or a
//! device (`/dev/stdout`) works too. A written line survives the process, but until it is
//! synced not a power cut: the kernel writes it back within about 30 s. `events_sync` chooses:
//!
//! - `"event"` (the default): sync after every event. A device that loses power without warning
//!   keeps every event it wrote; events are rare (a few a minute), and each sync holds up that
//!   frame by a few milliseconds (tens on a slow SD card).
//! - a period in milliseconds (`events_sync = 1000`): sync at most that long after an event
//!   (and when the run ends), once per burst; a power cut loses at most that window.
//! - `"off"`: never sync; the kernel decides (tmpfs, or flash whose writes must be spared). A
//!   power cut loses the last half minute or so.
//!
//! A line cut short by a power cut is ended by the next run's first event, never glued to it.
//!
//! ## Examples
//!
//! ```
//! let config = bodyzone::config::Config::parse_str(r#"
//!     [model]
//!     pose = "lite"
//!     [[zone]]
//!     name = "mat"
//!     polygon = [[0.1, 0.6], [0.9, 0.6], [0.9, 0.95]]
//! "#).unwrap();
//! assert_eq!(config.zones[0].name, "mat");
//!
//! let err = bodyzone::config::Config::parse_str("[[zone]]\nname = \"mat\"\npolygon = [[0, 0], [1, 1]]\n")
//!     .unwrap_err();
//! assert_eq!(err.to_string(), "bodyzone.toml: zone[0].polygon: need at least 3 points, got 2 (line 3)");
//! ```

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use crate::body::{self, Posture};
use crate::exercise::{ClassifierParams, RepRule};
use crate::files::DecodeLimits;
use crate::hold::Hold;
use crate::model::ModelKind;
use crate::output::display::DisplayConfig;
use crate::output::events::EventsSync;
use crate::output::gpio::{Level, Mode, PinAddress, Rule, Trigger};
use crate::pose::PoseEstimatorConfig;
use crate::segment::SegmenterConfig;
use crate::source::SourceSpec;
use crate::zone::{AnchorRule, Polygon, PresenceMode, Zone};

/// Every frame tests the person against every zone's polygon: bounds that keep a frame's
/// rules work small whatever the file asks (a floor has a handful of mats, a mat a few corners).
pub const MAX_ZONES: usize = 32;
/// See [`MAX_ZONES`].
pub const MAX_POLYGON_POINTS: usize = 64;

/// A validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub model: ModelConfig,
    pub source: SourceConfig,
    pub smoothing: SmoothingConfig,
    /// Posture classification thresholds and hysteresis.
    pub classifier: ClassifierParams,
    /// One rule per counted exercise: squat, lunge, push-up, jumping jack.
    pub reps: Vec<RepRule>,
    pub zones: Vec<Zone>,
    pub output: OutputConfig,
}

/// `[model]`: which networks run.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// `SelfieGeneral`, `SelfieLandscape`, or `None` for off.
    pub segmentation: Option<ModelKind>,
    /// `PoseLite`, `PoseFull`, `PoseHeavy`, or `None` for off.
    pub pose: Option<ModelKind>,
    /// A pose whose score is below this is nobody.
    pub min_pose_score: f32,
}

/// `[source]`: where frames come from (the command line may override it).
#[derive(Debug, Clone, PartialEq)]
pub struct SourceConfig {
    pub input: Option<SourceSpec>,
    pub realtime: bool,
    pub frame_timeout: Duration,
    /// Pictures (images, video frames, stdin frames) larger than this are refused.
    pub limits: DecodeLimits,
}

/// `[smoothing]`: temporal smoothing between frames.
#[derive(Debug, Clone, PartialEq)]
pub struct SmoothingConfig {
    /// Weight of the previous mask in the new one (MediaPipe's `combine_with_previous_ratio`);
    /// 0 turns smoothing off.
    pub mask: f32,
    /// One-euro filtering of the keypoints.
    pub landmarks: bool,
    /// Mean absolute pixel change (fraction of full scale) below which a frame reuses the
    /// previous results instead of running the models; 0 never skips.
    pub skip_unchanged: f32,
}

/// `[output]`.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputConfig {
    /// JSON-lines events file; `None` writes to stdout.
    pub events: Option<PathBuf>,
    /// When the events file is synced to storage.
    pub events_sync: EventsSync,
    /// `[[output.gpio]]`, in file order, ready for [`crate::output::gpio::GpioOutput::open`].
    pub gpio: Vec<(PinAddress, Rule)>,
    pub display: Option<DisplayConfig>,
}

/// What went wrong reading a config.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read: check the path and its permissions.
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The text is not a valid config: each problem names the key to fix.
    #[error("{}", problems.iter().map(|p| format!("{origin}: {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        origin: String,
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// The problems found, empty for a read error.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid { problems, .. } => problems,
            ConfigError::Read { .. } => &[],
        }
    }
}

/// One problem in a config: the key (`zone[1].polygon`), what is wrong, and the line if known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
    pub line: Option<usize>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}", self.message)?;
        } else {
            write!(f, "{}: {}", self.key, self.message)?;
        }
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        Ok(())
    }
}

const DEFAULT_ORIGIN: &str = "bodyzone.toml";

/// Pulse length when `pulse_ms` is not given.
const DEFAULT_PULSE_MS: u64 = 200;

/// The config of `bodyzone demo`: a zone on the floor of the bundled squat clip, where the
/// person stands (feet at 45–66% of the width, 74–79% of the height), for squats.
pub const DEMO_TOML: &str = r#"[[zone]]
name = "mat"
polygon = [[0.2, 0.65], [0.8, 0.65], [0.85, 0.9], [0.15, 0.9]]
exercise = "squat"
"#;

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse_str(&text).map_err(|err| match err {
            ConfigError::Invalid { problems, .. } => ConfigError::Invalid {
                origin: path.display().to_string(),
                problems,
            },
            other => other,
        })
    }

    /// Parses and validates config text; problems are reported against `bodyzone.toml`.
    pub fn parse_str(text: &str) -> Result<Config, ConfigError> {
        let mut ctx = Ctx {
            text,
            problems: Vec::new(),
            root: None,
        };
        let config = ctx.parse();
        // In file order, as an editor would walk them; problems of the file as a whole last.
        ctx.problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
        match config {
            Some(config) if ctx.problems.is_empty() => Ok(config),
            _ => Err(ConfigError::Invalid {
                origin: DEFAULT_ORIGIN.to_string(),
                problems: ctx.problems,
            }),
        }
    }

    /// The config of `bodyzone demo` ([`DEMO_TOML`]).
    pub fn default_demo() -> Config {
        Config::parse_str(DEMO_TOML).expect("the demo config is valid")
    }

    /// The selfie segmenter `[model] segmentation` asks for, if any.
    pub fn segmenter(&self) -> Option<SegmenterConfig> {
        Some(SegmenterConfig {
            model: self.model.segmentation?,
            ..SegmenterConfig::default()
        })
    }

    /// The pose estimator `[model] pose` asks for, if any. Without a selfie model
    /// (`selfie_on` false) BlazePose's own mask stands in, where a zone needs a mask.
    pub fn pose_estimator(&self, selfie_on: bool) -> Option<PoseEstimatorConfig> {
        let needs_mask = self.zones.iter().any(|z| z.presence != PresenceMode::Feet);
        Some(PoseEstimatorConfig {
            model: self.model.pose?,
            enable_smoothing: self.smoothing.landmarks,
            enable_segmentation: !selfie_on && needs_mask,
            smooth_segmentation: self.smoothing.mask > 0.0,
            min_pose_score: self.model.min_pose_score,
            ..PoseEstimatorConfig::default()
        })
    }

    /// The rep rule of an exercise, if it has reps.
    pub fn rep_rule(&self, exercise: Posture) -> Option<&RepRule> {
        self.reps.iter().find(|r| r.exercise == exercise)
    }
}

/// A raw enum spelled by its names in the file. Any other string, or a value of another type,
/// is an error listing the names (serde's derive says "wanted string or table" for `pose = 3`).
macro_rules! names {
    ($ty:ident { $($variant:ident = $name:literal),+ $(,)? }) => {
        #[derive(Clone, Copy, PartialEq)]
        enum $ty {
            $($variant),+
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                const NAMES: &[&str] = &[$($name),+];
                struct Names;
                impl serde::de::Visitor<'_> for Names {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        let quoted: Vec<String> = NAMES.iter().map(|n| format!("`{n}`")).collect();
                        write!(f, "one of {}", quoted.join(", "))
                    }
                    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<$ty, E> {
                        match s {
                            $($name => Ok($ty::$variant),)+
                            _ => Err(E::unknown_variant(s, NAMES)),
                        }
                    }
                }
                d.deserialize_str(Names)
            }
        }
    };
}

// ---- raw layer: mirrors the file ----

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawModel {
    segmentation: Option<RawNetwork<false>>,
    pose: Option<RawNetwork<true>>,
    min_pose_score: Option<f32>,
}

/// `segmentation` (`POSE = false`) or `pose`: a network by its [`ModelKind::short_name`], or
/// `off` (`None`).
struct RawNetwork<const POSE: bool>(Option<ModelKind>);

impl<'de, const POSE: bool> Deserialize<'de> for RawNetwork<POSE> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const SELFIE: &[&str] = &[
            ModelKind::SelfieGeneral.short_name(),
            ModelKind::SelfieLandscape.short_name(),
            "off",
        ];
        const POSE_LANDMARKS: &[&str] = &[
            ModelKind::PoseLite.short_name(),
            ModelKind::PoseFull.short_name(),
            ModelKind::PoseHeavy.short_name(),
            "off",
        ];
        struct Names(&'static [&'static str], &'static [ModelKind]);
        impl serde::de::Visitor<'_> for Names {
            type Value = Option<ModelKind>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let quoted: Vec<String> = self.0.iter().map(|n| format!("`{n}`")).collect();
                write!(f, "one of {}", quoted.join(", "))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
                if s == "off" {
                    return Ok(None);
                }
                let kind = ModelKind::parse_among(s, self.1);
                kind.map(Some).map_err(|_| E::unknown_variant(s, self.0))
            }
        }
        let names = if POSE {
            Names(POSE_LANDMARKS, &ModelKind::POSE_LANDMARKS)
        } else {
            Names(SELFIE, &ModelKind::SELFIE)
        };
        d.deserialize_str(names).map(RawNetwork)
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawSource {
    input: Option<String>,
    realtime: Option<bool>,
    frame_timeout_ms: Option<u64>,
    max_pixels: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawSmoothing {
    mask: Option<f32>,
    landmarks: Option<bool>,
    skip_unchanged: Option<f32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawExercise {
    min_visibility: Option<f32>,
    hold_frames: Option<u32>,
    hold_ms: Option<u64>,
    straight: Option<f32>,
    bent: Option<f32>,
    upright: Option<f32>,
    lean: Option<f32>,
    horizontal: Option<f32>,
    arms_up: Option<f32>,
    squat: Option<RawDownUp>,
    lunge: Option<RawDownUp>,
    pushup: Option<RawDownUp>,
    jumping_jack: Option<RawOpenClosed>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawDownUp {
    down: Option<f32>,
    up: Option<f32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawOpenClosed {
    open: Option<f32>,
    closed: Option<f32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawZone {
    name: String,
    polygon: Vec<[f32; 2]>,
    #[serde(default)]
    exercise: Option<RawZoneExercise>,
    #[serde(default)]
    presence: Option<RawPresence>,
    #[serde(default)]
    anchors: Option<Vec<String>>,
    #[serde(default)]
    anchor_rule: Option<RawAnchorRule>,
    #[serde(default)]
    min_coverage: Option<f32>,
    #[serde(default)]
    enter_frames: Option<u32>,
    #[serde(default)]
    enter_ms: Option<u64>,
    #[serde(default)]
    exit_frames: Option<u32>,
    #[serde(default)]
    exit_ms: Option<u64>,
    #[serde(default)]
    min_dwell_ms: Option<u64>,
    #[serde(default)]
    cooldown_ms: Option<u64>,
}

names! {
    RawZoneExercise {
        Squat = "squat",
        Lunge = "lunge",
        Plank = "plank",
        Pushup = "pushup",
        JumpingJack = "jumping_jack",
        Warrior = "warrior",
        Any = "any",
    }
}

names! {
    RawPresence {
        Feet = "feet",
        Mask = "mask",
        Auto = "auto",
    }
}

names! {
    RawAnchorRule {
        Any = "any",
        All = "all",
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawOutput {
    events: Option<PathBuf>,
    events_sync: Option<RawEventsSync>,
    gpio: Vec<RawGpio>,
    display: Option<RawDisplay>,
}

/// `events_sync`: `"event"`, `"off"`, or a period in milliseconds.
enum RawEventsSync {
    Event,
    Off,
    Millis(i64),
}

impl<'de> Deserialize<'de> for RawEventsSync {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Policy;
        impl serde::de::Visitor<'_> for Policy {
            type Value = RawEventsSync;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`event`, `off` or a period in milliseconds")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
                match s {
                    "event" => Ok(RawEventsSync::Event),
                    "off" => Ok(RawEventsSync::Off),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(s), &self)),
                }
            }
            fn visit_i64<E: serde::de::Error>(self, ms: i64) -> Result<Self::Value, E> {
                Ok(RawEventsSync::Millis(ms))
            }
        }
        d.deserialize_any(Policy)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGpio {
    #[serde(default)]
    chip: Option<PathBuf>,
    #[serde(default)]
    line: Option<u32>,
    #[serde(default)]
    pin: Option<u8>,
    on: String,
    #[serde(default)]
    mode: Option<RawMode>,
    #[serde(default)]
    pulse_ms: Option<u64>,
    #[serde(default)]
    active_low: bool,
    #[serde(default)]
    safe: Option<RawLevel>,
}

names! {
    RawMode {
        Level = "level",
        Pulse = "pulse",
    }
}

names! {
    RawLevel {
        Low = "low",
        High = "high",
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDisplay {
    kind: RawDisplayKind,
    #[serde(default)]
    device: Option<PathBuf>,
    #[serde(default)]
    address: Option<u8>,
    #[serde(default)]
    path: Option<PathBuf>,
}

names! {
    RawDisplayKind {
        Ssd1306 = "ssd1306",
        Framebuffer = "framebuffer",
        Png = "png",
    }
}

// ---- reading and validation ----

const SECTIONS: [&str; 6] = ["model", "source", "smoothing", "exercise", "zone", "output"];

struct Ctx<'t> {
    text: &'t str,
    problems: Vec<Problem>,
    root: Option<Spanned<DeTable<'t>>>,
}

impl<'t> Ctx<'t> {
    fn problem(&mut self, key: impl Into<String>, message: impl Into<String>) {
        let key = key.into();
        let line = self.span_of(&key).map(|s| self.line(s.start));
        self.problems.push(Problem {
            key,
            message: message.into(),
            line,
        });
    }

    fn line(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }

    /// The source span of a key path like `zone[1].polygon`.
    fn span_of(&self, key: &str) -> Option<Range<usize>> {
        let root = self.root.as_ref()?;
        let mut span = None;
        let mut value: Option<&DeValue> = None;
        for part in key.split('.') {
            let (name, index) = match part.split_once('[') {
                Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
                None => (part, None),
            };
            let table = match value {
                None => root.get_ref(),
                Some(v) => v.as_table()?,
            };
            let (k, v) = table.iter().find(|(k, _)| k.get_ref() == name)?;
            span = Some(k.span());
            value = Some(v.get_ref());
            if let Some(i) = index {
                let item = v.get_ref().as_array()?.get(i)?;
                if !item.span().is_empty() {
                    span = Some(item.span());
                }
                value = Some(item.get_ref());
            }
        }
        span
    }

    /// The key path whose key or value holds `span`.
    fn locate(&self, span: &Range<usize>) -> Option<String> {
        fn within(outer: Range<usize>, inner: &Range<usize>) -> bool {
            outer.start <= inner.start && inner.end <= outer.end && !outer.is_empty()
        }
        fn walk(value: &DeValue, span: &Range<usize>) -> Option<String> {
            match value {
                DeValue::Table(table) => table.iter().find_map(|(k, v)| {
                    if within(k.span(), span) {
                        return Some(format!(".{}", k.get_ref()));
                    }
                    walk(v.get_ref(), span)
                        .or_else(|| within(v.span(), span).then(String::new))
                        .map(|rest| format!(".{}{rest}", k.get_ref()))
                }),
                DeValue::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
                    walk(item.get_ref(), span)
                        .or_else(|| within(item.span(), span).then(String::new))
                        .map(|rest| format!("[{i}]{rest}"))
                }),
                _ => None,
            }
        }
        let root = self.root.as_ref()?;
        walk(&DeValue::Table(root.get_ref().clone()), span)
            .map(|p| p.trim_start_matches('.').to_string())
    }

    /// Deserializes one piece of the document, recording its error against its key.
    fn read<T: DeserializeOwned>(
        &mut self,
        fallback_key: &str,
        value: &Spanned<DeValue<'t>>,
    ) -> Option<T> {
        match T::deserialize(ValueDeserializer::from(value.clone())) {
            Ok(v) => Some(v),
            Err(err) => {
                let span = err.span();
                let key = span
                    .as_ref()
                    .and_then(|s| self.locate(s))
                    .filter(|k| k.len() >= fallback_key.len())
                    .unwrap_or_else(|| fallback_key.to_string());
                let line = span.map(|s| self.line(s.start));
                self.problems.push(Problem {
                    key,
                    message: err.message().to_string(),
                    line,
                });
                None
            }
        }
    }

    fn parse(&mut self) -> Option<Config> {
        let (root, errors) = DeTable::parse_recoverable(self.text);
        for err in errors {
            let line = err.span().map(|s| self.line(s.start));
            self.problems.push(Problem {
                key: String::new(),
                message: err.message().to_string(),
                line,
            });
        }
        if !self.problems.is_empty() {
            return None;
        }
        let sections: Vec<(String, Spanned<DeValue<'t>>)> = root
            .get_ref()
            .iter()
            .map(|(k, v)| (k.get_ref().to_string(), v.clone()))
            .collect();
        self.root = Some(root);

        let mut model = Some(RawModel::default());
        let mut source = Some(RawSource::default());
        let mut smoothing = Some(RawSmoothing::default());
        let mut exercise = Some(RawExercise::default());
        let mut zones = Vec::new();
        let mut output = Some(RawOutput::default());
        for (name, value) in &sections {
            match name.as_str() {
                "model" => model = self.read(name, value),
                "source" => source = self.read(name, value),
                "smoothing" => smoothing = self.read(name, value),
                "exercise" => exercise = self.read(name, value),
                "output" => output = self.read(name, value),
                "zone" => match value.get_ref().as_array() {
                    Some(items) => {
                        for (i, item) in items.iter().enumerate() {
                            zones.push(self.read::<RawZone>(&format!("zone[{i}]"), item));
                        }
                    }
                    None => self.problem("zone", "expected [[zone]] tables"),
                },
                other => self.problem(
                    other,
                    format!("unknown section, expected one of {}", SECTIONS.join(", ")),
                ),
            }
        }

        // A section that could not be read has said why; the rest is still checked against its
        // defaults so that one run reports every problem of the file.
        let model = self.model(model.unwrap_or_default());
        let source = self.source(source.unwrap_or_default());
        let smoothing = self.smoothing(smoothing.unwrap_or_default());
        let (classifier, reps) = self.exercise(exercise.unwrap_or_default());
        if zones.is_empty() {
            self.problem(
                "zone",
                "need at least one [[zone]] with a name and a polygon",
            );
        }
        if zones.len() > MAX_ZONES {
            self.problem(
                "zone",
                format!("{} zones: at most {MAX_ZONES}", zones.len()),
            );
        }
        let zones: Vec<Zone> = zones
            .into_iter()
            .take(MAX_ZONES)
            .enumerate()
            .filter_map(|(i, raw)| self.zone(i, raw?, &model))
            .collect();
        self.unique_names(&zones);
        let output = self.output(output.unwrap_or_default(), &zones);
        Some(Config {
            model,
            source,
            smoothing,
            classifier,
            reps,
            zones,
            output,
        })
    }

    fn unit(&mut self, key: &str, value: Option<f32>, default: f32) -> f32 {
        match value {
            Some(v) if !(0.0..=1.0).contains(&v) => {
                self.problem(key, format!("expected a fraction from 0.0 to 1.0, got {v}"));
                default
            }
            v => v.unwrap_or(default),
        }
    }

    fn degrees(&mut self, key: &str, value: Option<f32>, default: f32) -> f32 {
        match value {
            Some(v) if !(0.0..=180.0).contains(&v) => {
                self.problem(
                    key,
                    format!("expected an angle from 0 to 180 degrees, got {v}"),
                );
                default
            }
            v => v.unwrap_or(default),
        }
    }

    /// `{prefix}_frames` or `{prefix}_ms`, not both; frames at least 1.
    fn hold(&mut self, prefix: &str, frames: Option<u32>, ms: Option<u64>, default: Hold) -> Hold {
        match (frames, ms) {
            (Some(_), Some(_)) => {
                self.problem(
                    format!("{prefix}_ms"),
                    format!("give {prefix}_frames or {prefix}_ms, not both"),
                );
                default
            }
            (Some(0), None) => {
                self.problem(
                    format!("{prefix}_frames"),
                    "expected at least 1 frame, got 0",
                );
                default
            }
            (Some(n), None) => Hold::Frames(n),
            (None, Some(ms)) => Hold::Millis(ms),
            (None, None) => default,
        }
    }

    fn model(&mut self, raw: RawModel) -> ModelConfig {
        // The edge defaults: the selfie model made for 16:9 cameras, and the pose model that is
        // embedded in the binary (full and heavy are separate files).
        let segmentation = raw
            .segmentation
            .map_or(Some(ModelKind::SelfieLandscape), |n| n.0);
        let pose = raw.pose.map_or(Some(ModelKind::PoseLite), |n| n.0);
        if segmentation.is_none() && pose.is_none() {
            self.problem(
                "model",
                "segmentation and pose are both \"off\": nothing would find people",
            );
        }
        let min_pose_score = self.unit("model.min_pose_score", raw.min_pose_score, 0.5);
        ModelConfig {
            segmentation,
            pose,
            min_pose_score,
        }
    }

    fn source(&mut self, raw: RawSource) -> SourceConfig {
        let input = raw.input.and_then(|text| match text.parse::<SourceSpec>() {
            Ok(spec) => Some(spec),
            Err(err) => {
                self.problem("source.input", err.to_string());
                None
            }
        });
        let frame_timeout_ms = raw.frame_timeout_ms.unwrap_or(2000);
        if frame_timeout_ms == 0 {
            self.problem("source.frame_timeout_ms", "expected at least 1 ms, got 0");
        }
        let max_pixels = raw.max_pixels.unwrap_or(DecodeLimits::DEFAULT_MAX_PIXELS);
        if max_pixels == 0 {
            self.problem("source.max_pixels", "expected at least 1 pixel, got 0");
        }
        SourceConfig {
            input,
            realtime: raw.realtime.unwrap_or(false),
            frame_timeout: Duration::from_millis(frame_timeout_ms.max(1)),
            limits: DecodeLimits {
                max_pixels: max_pixels.max(1),
            },
        }
    }

    fn smoothing(&mut self, raw: RawSmoothing) -> SmoothingConfig {
        SmoothingConfig {
            mask: self.unit("smoothing.mask", raw.mask, 0.7),
            landmarks: raw.landmarks.unwrap_or(true),
            skip_unchanged: self.unit("smoothing.skip_unchanged", raw.skip_unchanged, 0.0),
        }
    }

    fn exercise(&mut self, raw: RawExercise) -> (ClassifierParams, Vec<RepRule>) {
        let d = ClassifierParams::default();
        let params = ClassifierParams {
            min_visibility: self.unit(
                "exercise.min_visibility",
                raw.min_visibility,
                d.min_visibility,
            ),
            straight: self.degrees("exercise.straight", raw.straight, d.straight),
            bent: self.degrees("exercise.bent", raw.bent, d.bent),
            upright: self.degrees("exercise.upright", raw.upright, d.upright),
            lean: self.degrees("exercise.lean", raw.lean, d.lean),
            horizontal: self.degrees("exercise.horizontal", raw.horizontal, d.horizontal),
            arms_up: self.degrees("exercise.arms_up", raw.arms_up, d.arms_up),
            hold: self.hold("exercise.hold", raw.hold_frames, raw.hold_ms, d.hold),
        };
        if params.bent >= params.straight {
            self.problem(
                "exercise.bent",
                format!(
                    "must be below exercise.straight ({}), got {}",
                    params.straight, params.bent
                ),
            );
        }
        let mut down_up = |name: &str, raw: Option<RawDownUp>, down: f32, up: f32| {
            let raw = raw.unwrap_or_default();
            let down = self.degrees(&format!("exercise.{name}.down"), raw.down, down);
            let up = self.degrees(&format!("exercise.{name}.up"), raw.up, up);
            if down >= up {
                self.problem(
                    format!("exercise.{name}"),
                    format!("down ({down}) must be below up ({up}): the gap is the hysteresis"),
                );
            }
            (down, up)
        };
        let (sd, su) = down_up("squat", raw.squat, 110.0, 145.0);
        let (ld, lu) = down_up("lunge", raw.lunge, 110.0, 145.0);
        let (pd, pu) = down_up("pushup", raw.pushup, 100.0, 150.0);
        let jack = raw.jumping_jack.unwrap_or_default();
        let open = self.degrees("exercise.jumping_jack.open", jack.open, 120.0);
        let closed = self.degrees("exercise.jumping_jack.closed", jack.closed, 50.0);
        if closed >= open {
            self.problem(
                "exercise.jumping_jack",
                format!("closed ({closed}) must be below open ({open}): the gap is the hysteresis"),
            );
        }
        let reps = vec![
            RepRule::squat(sd, su),
            RepRule::lunge(ld, lu),
            RepRule::pushup(pd, pu),
            RepRule::jumping_jack(open, closed),
        ];
        (params, reps)
    }

    fn zone(&mut self, i: usize, raw: RawZone, model: &ModelConfig) -> Option<Zone> {
        let key = |field: &str| format!("zone[{i}].{field}");
        let valid_name = !raw.name.is_empty()
            && raw
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid_name {
            self.problem(
                key("name"),
                format!(
                    "{:?}: expected letters, digits, _ or - (it is used in output triggers)",
                    raw.name
                ),
            );
        }
        if raw.polygon.len() > MAX_POLYGON_POINTS {
            self.problem(
                key("polygon"),
                format!("{} points: at most {MAX_POLYGON_POINTS}", raw.polygon.len()),
            );
            return None;
        }
        let polygon = Polygon::new(raw.polygon)
            .map_err(|err| self.problem(key("polygon"), err.to_string()))
            .ok();
        let exercise = match raw.exercise.unwrap_or(RawZoneExercise::Any) {
            RawZoneExercise::Squat => Some(Posture::Squat),
            RawZoneExercise::Lunge => Some(Posture::Lunge),
            RawZoneExercise::Plank => Some(Posture::Plank),
            RawZoneExercise::Pushup => Some(Posture::Pushup),
            RawZoneExercise::JumpingJack => Some(Posture::JumpingJack),
            RawZoneExercise::Warrior => Some(Posture::Warrior),
            RawZoneExercise::Any => None,
        };
        let presence = raw.presence.map(|p| match p {
            RawPresence::Feet => PresenceMode::Feet,
            RawPresence::Mask => PresenceMode::Mask,
            RawPresence::Auto => PresenceMode::Auto,
        });
        if presence == Some(PresenceMode::Feet) && model.pose.is_none() {
            self.problem(
                key("presence"),
                "\"feet\" needs keypoints: set [model] pose, or use \"mask\"",
            );
        }
        if let Some(c) = raw.min_coverage.filter(|c| !(*c > 0.0 && *c <= 1.0)) {
            self.problem(
                key("min_coverage"),
                format!("expected a fraction above 0.0 up to 1.0, got {c}"),
            );
        }
        let anchors = raw.anchors.map(|names| {
            if names.is_empty() {
                self.problem(key("anchors"), "expected at least one keypoint name");
            }
            let mut anchors = Vec::new();
            for (j, name) in names.iter().enumerate() {
                match body::index_of(name) {
                    Some(idx) => anchors.push(idx),
                    None => self.problem(
                        format!("zone[{i}].anchors[{j}]"),
                        format!("unknown keypoint {name:?}, expected a BlazePose name such as left_ankle, right_heel, left_foot_index"),
                    ),
                }
            }
            anchors
        });
        let mut zone = Zone::new(raw.name, polygon?);
        zone.enter = self.hold(&key("enter"), raw.enter_frames, raw.enter_ms, zone.enter);
        zone.exit = self.hold(&key("exit"), raw.exit_frames, raw.exit_ms, zone.exit);
        zone.exercise = exercise;
        zone.presence = presence.unwrap_or(zone.presence);
        zone.min_coverage = raw.min_coverage.unwrap_or(zone.min_coverage);
        zone.anchors = anchors.unwrap_or(zone.anchors);
        if let Some(rule) = raw.anchor_rule {
            zone.anchor_rule = match rule {
                RawAnchorRule::Any => AnchorRule::Any,
                RawAnchorRule::All => AnchorRule::All,
            };
        }
        zone.min_dwell_ms = raw.min_dwell_ms.unwrap_or(0);
        zone.cooldown_ms = raw.cooldown_ms.unwrap_or(0);
        valid_name.then_some(zone)
    }

    fn unique_names(&mut self, zones: &[Zone]) {
        let mut seen = HashSet::new();
        for (i, zone) in zones.iter().enumerate() {
            if !seen.insert(zone.name.as_str()) {
                self.problem(
                    format!("zone[{i}].name"),
                    format!("{:?} is already the name of another zone", zone.name),
                );
            }
        }
    }

    fn output(&mut self, raw: RawOutput, zones: &[Zone]) -> OutputConfig {
        let gpio = raw
            .gpio
            .into_iter()
            .enumerate()
            .filter_map(|(i, g)| self.gpio(i, g, zones))
            .collect();
        let display = raw.display.and_then(|d| self.display(d));
        let events_sync = match raw.events_sync {
            None | Some(RawEventsSync::Event) => EventsSync::EachEvent,
            Some(RawEventsSync::Off) => EventsSync::Off,
            Some(RawEventsSync::Millis(ms)) if ms >= 1 => {
                EventsSync::Within(Duration::from_millis(ms as u64))
            }
            Some(RawEventsSync::Millis(ms)) => {
                self.problem(
                    "output.events_sync",
                    format!("expected a period of at least 1 ms (or \"event\"), got {ms}"),
                );
                EventsSync::EachEvent
            }
        };
        OutputConfig {
            events: raw.events,
            events_sync,
            gpio,
            display,
        }
    }

    fn gpio(&mut self, i: usize, raw: RawGpio, zones: &[Zone]) -> Option<(PinAddress, Rule)> {
        let key = |field: &str| format!("output.gpio[{i}].{field}");
        let address = match (raw.chip, raw.line, raw.pin) {
            (Some(chip), Some(line), None) => Some(PinAddress::Cdev { chip, line }),
            (None, None, Some(pin)) => Some(PinAddress::Rpi { pin }),
            (Some(_), None, None) => {
                self.problem(key("line"), "a chip needs a line offset (line = 17)");
                None
            }
            (None, Some(_), None) => {
                self.problem(
                    key("chip"),
                    "a line needs its chip (chip = \"/dev/gpiochip0\")",
                );
                None
            }
            (None, None, None) => {
                self.problem(
                    format!("output.gpio[{i}]"),
                    "expected chip = \"/dev/gpiochipN\" with line = N, or pin = N (Raspberry Pi)",
                );
                None
            }
            _ => {
                self.problem(key("pin"), "give chip and line, or pin, not both");
                None
            }
        };
        let trigger = match raw.on.parse::<Trigger>() {
            Ok(t) => Some(t),
            Err(err) => {
                self.problem(key("on"), err.to_string());
                None
            }
        };
        if let Some(trigger) = &trigger {
            let (zone, pose) = match trigger {
                Trigger::Zone { zone } | Trigger::Rep { zone } => (zone, None),
                Trigger::Posture { pose, zone } => (zone, Some(pose)),
            };
            if !zones.iter().any(|z| &z.name == zone) {
                self.problem(key("on"), format!("zone {zone:?} is not a [[zone]] name"));
            }
            if pose.is_some_and(|p| !p.parse::<Posture>().is_ok_and(Posture::is_exercise)) {
                let pose = pose.expect("checked");
                let names: Vec<&str> = Posture::EXERCISES.iter().map(|p| p.name()).collect();
                self.problem(
                    key("on"),
                    format!("pose {pose:?} is not one of {}", names.join(", ")),
                );
            }
        }
        let is_rep = matches!(trigger, Some(Trigger::Rep { .. }));
        let pulse_by_default = is_rep || raw.pulse_ms.is_some();
        let mode = match raw.mode.unwrap_or(if pulse_by_default {
            RawMode::Pulse
        } else {
            RawMode::Level
        }) {
            RawMode::Level => {
                if raw.pulse_ms.is_some() {
                    self.problem(key("pulse_ms"), "only for mode = \"pulse\"");
                }
                if is_rep {
                    self.problem(key("mode"), "a rep is an instant: use mode = \"pulse\"");
                }
                Mode::Level
            }
            RawMode::Pulse => match raw.pulse_ms.unwrap_or(DEFAULT_PULSE_MS) {
                0 => {
                    self.problem(key("pulse_ms"), "expected at least 1 ms, got 0");
                    Mode::Pulse(Duration::from_millis(DEFAULT_PULSE_MS))
                }
                ms => Mode::Pulse(Duration::from_millis(ms)),
            },
        };
        let rule = Rule {
            trigger: trigger?,
            mode,
            active_low: raw.active_low,
            safe: raw.safe.map(|l| match l {
                RawLevel::Low => Level::Low,
                RawLevel::High => Level::High,
            }),
        };
        Some((address?, rule))
    }

    fn display(&mut self, raw: RawDisplay) -> Option<DisplayConfig> {
        let key = |field: &str| format!("output.display.{field}");
        let unused = |ctx: &mut Self, field: &str, set: bool, kind: &str| {
            if set {
                ctx.problem(key(field), format!("not used by kind = \"{kind}\""));
            }
        };
        Some(match raw.kind {
            RawDisplayKind::Ssd1306 => {
                unused(self, "path", raw.path.is_some(), "ssd1306");
                DisplayConfig::Ssd1306 {
                    device: raw.device.unwrap_or_else(|| "/dev/i2c-1".into()),
                    address: raw.address.unwrap_or(0x3c),
                }
            }
            RawDisplayKind::Framebuffer => {
                unused(self, "path", raw.path.is_some(), "framebuffer");
                unused(self, "address", raw.address.is_some(), "framebuffer");
                DisplayConfig::Framebuffer {
                    device: raw.device.unwrap_or_else(|| "/dev/fb0".into()),
                }
            }
            RawDisplayKind::Png => {
                unused(self, "device", raw.device.is_some(), "png");
                unused(self, "address", raw.address.is_some(), "png");
                match raw.path {
                    Some(path) => DisplayConfig::Png { path },
                    None => {
                        self.problem(key("path"), "kind = \"png\" needs path = \"FILE.png\"");
                        return None;
                    }
                }
            }
        })
    }
}
