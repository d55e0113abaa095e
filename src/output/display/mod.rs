//! Displays: what the device shows, on an SSD1306 OLED, a Linux framebuffer or a PNG file.
//!
//! Every panel draws through one of two `DrawTarget`-generic functions, [`render_panel`]
//! (colour: camera image, mask tint, zones coloured by state, skeleton, status bar) and
//! [`render_oled`] (monochrome 128×64: zone, pose, reps, fps), into a [`Canvas`] that the panel
//! then ships. So the PNG sink writes exactly the pixels a panel gets, and golden-image tests
//! of the PNG test the panels.
//!
//! [`Display`] wraps a panel so its failures never stop detection: an error is logged, the
//! panel is reset and retried with a growing back-off (1 s doubling up to a minute).
//! [`Display::open`] goes further for a configured display: one that cannot be opened yet (an
//! OLED not plugged in) is reopened in the background the same way.
//!
//! ## Examples
//!
//! ```
//! use bodyzone::output::display::{DisplayState, Layout, Panel, PngSink};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let mut png = PngSink::new(dir.path().join("status.png"), Layout::Oled);
//! png.show(&DisplayState { zone: Some("mat"), pose: Some("squat"), reps: 3, ..Default::default() })
//!     .unwrap();
//! assert_eq!(image::open(dir.path().join("status.png")).unwrap().width(), 128);
//! ```
//!
//! ## Troubleshooting
//!
//! ### Permission denied on `/dev/fb0` or `/dev/i2c-1`
//! Join the `video` group (framebuffer) and the `i2c` group (I²C buses), then log in again.
//!
//! ### The OLED stays dark
//! `i2cdetect -y 1` should list the panel at 0x3c (or 0x3d: set `address`). On a Raspberry Pi,
//! enable I²C with `raspi-config` first.
//!
//! ### The framebuffer picture is hidden by the console
//! The text console draws on the same framebuffer: run bodyzone on a board without a login on
//! that tty, or blank it (`setterm --blank force` or `consoleblank=` on the kernel command line).

mod canvas;
mod fb;
mod oled;
mod png;
mod render;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use embedded_graphics::prelude::Size;

use crate::body::{Body, NAMES, Posture};
use crate::exercise::{Coach, ZoneStatus};
use crate::frame::Mask;
use crate::pose::Keypoint;

pub use canvas::Canvas;
pub use fb::{Bitfield, FbInfo, Framebuffer};
pub use oled::{OLED_SIZE, Oled};
pub use png::PngSink;
pub use render::{
    render_oled, render_panel, render_scene, status_headline, status_line, zone_colour,
};

/// Which display, as `[output.display]` in the config names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisplayConfig {
    /// An SSD1306 128×64 OLED on an I²C bus.
    Ssd1306 { device: PathBuf, address: u8 },
    /// A Linux framebuffer device.
    Framebuffer { device: PathBuf },
    /// A PNG of what a panel would show, rewritten atomically.
    Png { path: PathBuf },
}

/// What a zone looks like right now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ZoneState {
    /// Nobody inside.
    #[default]
    Empty,
    /// A person is inside.
    Occupied,
    /// The person inside holds an exercise pose.
    Posing,
}

impl ZoneState {
    /// How a zone that stands at `status` is drawn.
    pub fn of(status: ZoneStatus) -> ZoneState {
        match status {
            ZoneStatus { pose: Some(_), .. } => ZoneState::Posing,
            ZoneStatus { inside: true, .. } => ZoneState::Occupied,
            _ => ZoneState::Empty,
        }
    }
}

/// One zone to draw.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ZoneView<'a> {
    pub name: &'a str,
    /// Vertices in normalised frame coordinates (`0..1`, x right, y down), as in the config.
    pub polygon: &'a [[f32; 2]],
    pub state: ZoneState,
}

/// Everything a display shows, as plain borrowed data (the renderer's only input).
#[derive(Clone, Copy, Debug, Default)]
pub struct DisplayState<'a> {
    /// The camera frame.
    pub frame: Option<&'a image::RgbImage>,
    /// Person probability, any size (it is stretched over the frame).
    pub mask: Option<&'a Mask>,
    /// Keypoints in frame pixels, with visibility scores.
    pub keypoints: &'a [Keypoint],
    /// Index pairs into `keypoints` to join with a line ([`crate::body::SKELETON`]).
    pub skeleton: &'a [(usize, usize)],
    pub zones: &'a [ZoneView<'a>],
    /// The zone the status line is about (the occupied one).
    pub zone: Option<&'a str>,
    /// The pose being held, if any.
    pub pose: Option<&'a str>,
    pub reps: u32,
    pub fps: f32,
}

impl<'a> DisplayState<'a> {
    /// The zone, pose and rep count of the coach's focus (the zone of the latest event); the
    /// rest empty.
    pub fn focus(coach: &'a Coach) -> DisplayState<'a> {
        let Some((zone, status)) = coach.focus() else {
            return DisplayState::default();
        };
        DisplayState {
            zone: Some(&zone.name),
            pose: status.pose.map(Posture::name),
            reps: status.reps,
            ..DisplayState::default()
        }
    }
}

/// Every zone of `coach`, as drawn.
pub fn zone_views(coach: &Coach) -> Vec<ZoneView<'_>> {
    coach
        .zones()
        .map(|(zone, status)| ZoneView {
            name: &zone.name,
            polygon: zone.polygon.points(),
            state: ZoneState::of(status),
        })
        .collect()
}

/// The 33 keypoints of `body` in the pixels of a `width × height` frame, for drawing.
pub fn keypoints(body: &Body, (width, height): (u32, u32)) -> Vec<Keypoint> {
    let (w, h) = (width as f32, height as f32);
    NAMES
        .iter()
        .zip(body.image.iter().zip(&body.visibility))
        .map(|(&name, (&[x, y], &score))| Keypoint {
            name,
            x: x * w,
            y: y * h,
            z: 0.0,
            score,
        })
        .collect()
}

/// Which view a panel shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// [`render_panel`] at this size.
    Panel(Size),
    /// [`render_oled`] at 128×64.
    Oled,
}

impl Layout {
    /// The PNG sink's default: a VGA-sized colour panel.
    pub const DEFAULT_PANEL: Layout = Layout::Panel(Size::new(640, 480));
}

/// Display errors; each names the device or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Opening, reading or writing a device or file failed (missing device, permission: join
    /// the `video`/`i2c` group, full disk).
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    File(#[from] crate::files::FileError),
    /// The PNG encoder failed.
    #[error("{}: cannot encode PNG: {source}", path.display())]
    Encode {
        path: PathBuf,
        source: image::ImageError,
    },
    /// The OLED did not acknowledge on the bus: wrong bus, wrong address, or unplugged.
    #[error("{device}: SSD1306 at I²C address {address:#04x}: {reason}")]
    Bus {
        device: PathBuf,
        address: u8,
        reason: String,
    },
    /// The framebuffer uses a pixel format this code does not write (palettes, grayscale,
    /// FOURCC formats).
    #[error("{}: unsupported framebuffer format: {reason}", device.display())]
    Unsupported { device: PathBuf, reason: String },
    /// The binary was built without the back-end this display needs.
    #[error("{}: bodyzone was built without the `{feature}` feature", device.display())]
    FeatureDisabled {
        device: PathBuf,
        feature: &'static str,
    },
}

impl Error {
    /// Retrying cannot help: the build or the device's pixel format must change.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Error::FeatureDisabled { .. } | Error::Unsupported { .. }
        )
    }
}

/// A display device: draws a state and ships it.
pub trait Panel: Send {
    /// Draws and shows one state.
    fn show(&mut self, state: &DisplayState<'_>) -> Result<(), Error>;

    /// Brings the device back after a failure (re-initialise, reopen); the next `show` redraws
    /// everything.
    fn reset(&mut self) -> Result<(), Error> {
        Ok(())
    }

    /// Names the device in logs: `/dev/fb0`, `/dev/i2c-1@0x3c`, a file path.
    fn describe(&self) -> String;
}

/// Opens the display a config names.
pub fn open(config: &DisplayConfig) -> Result<Box<dyn Panel>, Error> {
    Ok(match config {
        DisplayConfig::Png { path } => Box::new(PngSink::new(path.clone(), Layout::DEFAULT_PANEL)),
        DisplayConfig::Framebuffer { device } => Box::new(Framebuffer::open(device)?),
        DisplayConfig::Ssd1306 { device, address } => oled::open(device, *address)?,
    })
}

/// Names the display a config names, as its panel's `describe` would before it is open.
pub fn describe(config: &DisplayConfig) -> String {
    match config {
        DisplayConfig::Png { path } => path.display().to_string(),
        DisplayConfig::Framebuffer { device } => device.display().to_string(),
        DisplayConfig::Ssd1306 { device, address } => {
            format!("{}@{address:#04x}", device.display())
        }
    }
}

/// A configured panel, opened on first use and reopened after every failure.
struct Reopening {
    config: DisplayConfig,
    panel: Option<Box<dyn Panel>>,
}

impl Panel for Reopening {
    fn show(&mut self, state: &DisplayState<'_>) -> Result<(), Error> {
        let panel = match &mut self.panel {
            Some(panel) => panel,
            None => self.panel.insert(open(&self.config)?),
        };
        panel.show(state)
    }

    fn reset(&mut self) -> Result<(), Error> {
        // Reopening re-initialises (an OLED) or re-reads the geometry (a framebuffer).
        self.panel = None;
        Ok(())
    }

    fn describe(&self) -> String {
        self.panel
            .as_ref()
            .map_or_else(|| describe(&self.config), |panel| panel.describe())
    }
}

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// A panel whose failures are logged and retried, never returned: detection goes on.
pub struct Display {
    panel: Box<dyn Panel>,
    backoff: Duration,
    retry_at: Option<Instant>,
    failures: u64,
    /// The error that began the current run of failures, until [`Display::take_failure`].
    new_failure: Option<String>,
}

impl Display {
    pub fn new(panel: Box<dyn Panel>) -> Self {
        Self {
            panel,
            backoff: FIRST_BACKOFF,
            retry_at: None,
            failures: 0,
            new_failure: None,
        }
    }

    /// The display a config names. Only a permanent error ([`Error::is_permanent`]) is
    /// returned; a display that cannot be opened now is logged and retried in the background.
    pub fn open(config: &DisplayConfig) -> Result<Self, Error> {
        let (panel, failure) = match open(config) {
            Ok(panel) => (Some(panel), None),
            Err(err) if err.is_permanent() => return Err(err),
            Err(err) => (None, Some(err)),
        };
        let mut display = Self::new(Box::new(Reopening {
            config: config.clone(),
            panel,
        }));
        if let Some(err) = failure {
            display.failed(err, Instant::now());
        }
        Ok(display)
    }

    /// Shows `state` unless the panel is backing off after a failure. Returns whether the
    /// state reached the panel.
    pub fn update(&mut self, state: &DisplayState<'_>, now: Instant) -> bool {
        if let Some(retry_at) = self.retry_at {
            if now < retry_at {
                return false;
            }
            if let Err(err) = self.panel.reset() {
                return self.failed(err, now);
            }
        }
        match self.panel.show(state) {
            Ok(()) => {
                if self.retry_at.take().is_some() {
                    tracing::info!(display = %self.panel.describe(), "display works again");
                }
                self.backoff = FIRST_BACKOFF;
                true
            }
            Err(err) => self.failed(err, now),
        }
    }

    fn failed(&mut self, err: Error, now: Instant) -> bool {
        self.failures += 1;
        if self.retry_at.is_none() {
            tracing::warn!("display failed, retrying in the background: {err}");
            self.new_failure = Some(err.to_string());
        } else {
            tracing::debug!(backoff = ?self.backoff, "display still failing: {err}");
        }
        self.retry_at = Some(now + self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        false
    }

    /// The error that began a run of failures, once per run (for an `output_failed` event).
    pub fn take_failure(&mut self) -> Option<String> {
        self.new_failure.take()
    }

    /// Failures so far (for health reports).
    pub fn failures(&self) -> u64 {
        self.failures
    }

    pub fn describe(&self) -> String {
        self.panel.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Fails while `broken` is set; counts shows and resets.
    #[derive(Clone, Default)]
    struct Flaky {
        broken: Arc<Mutex<bool>>,
        calls: Arc<Mutex<Vec<&'static str>>>,
    }

    impl Panel for Flaky {
        fn show(&mut self, _: &DisplayState<'_>) -> Result<(), Error> {
            self.calls.lock().unwrap().push("show");
            if *self.broken.lock().unwrap() {
                Err(Error::Io {
                    path: "flaky".into(),
                    source: std::io::ErrorKind::BrokenPipe.into(),
                })
            } else {
                Ok(())
            }
        }

        fn reset(&mut self) -> Result<(), Error> {
            self.calls.lock().unwrap().push("reset");
            Ok(())
        }

        fn describe(&self) -> String {
            "flaky".into()
        }
    }

    #[test]
    fn a_display_that_cannot_open_yet_is_retried() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("later/status.png");
        let mut display = Display::open(&DisplayConfig::Png { path: path.clone() }).unwrap();
        let t = Instant::now();
        assert!(!display.update(&DisplayState::default(), t));
        std::fs::create_dir(dir.path().join("later")).unwrap();
        assert!(!display.update(&DisplayState::default(), t), "backing off");
        assert!(display.update(&DisplayState::default(), t + Duration::from_secs(2)));
        assert!(path.exists());
        assert_eq!(display.describe(), path.display().to_string());
    }

    #[test]
    fn a_missing_device_is_retried_not_fatal() {
        let fb = DisplayConfig::Framebuffer {
            device: "/nonexistent/fb9".into(),
        };
        let err = open(&fb).err().unwrap();
        assert!(!err.is_permanent(), "missing device: {err}");
        assert!(Display::open(&fb).is_ok());
    }

    #[test]
    fn failures_back_off_then_recover() {
        let flaky = Flaky::default();
        let mut display = Display::new(Box::new(flaky.clone()));
        let state = DisplayState::default();
        let t = Instant::now();
        let s = Duration::from_secs;
        *flaky.broken.lock().unwrap() = true;
        assert!(!display.update(&state, t));
        assert!(
            display.take_failure().is_some(),
            "a new failure is reported"
        );
        assert!(
            !display.update(&state, t + s(0)),
            "backing off: not even tried"
        );
        assert!(
            !display.update(&state, t + s(1)),
            "retried after 1 s, failed again"
        );
        assert!(!display.update(&state, t + s(2)), "now backing off 2 s");
        assert_eq!(
            display.take_failure(),
            None,
            "reported once per run of failures"
        );
        *flaky.broken.lock().unwrap() = false;
        assert!(display.update(&state, t + s(3)));
        assert!(display.update(&state, t + s(3)));
        assert_eq!(display.failures(), 2);
        assert_eq!(
            *flaky.calls.lock().unwrap(),
            ["show", "reset", "show", "reset", "show", "show"]
        );
    }
}
