//! Frame sources: V4L2 cameras, raw frames on stdin, still images, directories of images, video
//! files and a synthetic moving figure, all behind one small [`FrameSource`] trait.
//!
//! A `--source` string is parsed into a [`SourceSpec`] and [`open`]ed into a boxed source, chosen
//! at run time. Frames come in the camera's own [`PixelFormat`]; convert them with a
//! [`Converter`] into an RGB image allocated once before the loop — full size with
//! [`Converter::to_rgb`], or straight into a small model input with [`Converter::to_rgb_resized`].
//! Give each frame back with [`FrameSource::recycle`] so its buffer is reused.
//!
//! Live sources (cameras, stdin) capture on their own thread and keep only the latest frames:
//! stale ones are dropped and counted ([`FrameSource::dropped`]). A failing camera is reopened
//! with exponential back-off; meanwhile [`FrameSource::next_frame`] returns
//! [`SourceError::Reconnecting`], for which [`SourceError::is_transient`] is true: put outputs in
//! their safe state and keep calling. File sources deliver every frame, paced by their timestamps
//! only when [`OpenOptions::realtime`] is set. [`open_unstarted`] leaves the capture thread to
//! the caller, who gives it a [`Stage`] to run on every frame there ([`Opened::start`]): the
//! runner converts pixels on that one thread, for a camera and for a file alike.
//!
//! ## Examples
//! ```
//! use bodyzone::frame::Converter;
//! use bodyzone::source::{self, OpenOptions, SourceSpec};
//! let spec: SourceSpec = "synthetic:320x240@10:frames=3".parse().unwrap();
//! let mut src = source::open(&spec, &OpenOptions::default()).unwrap();
//! let mut conv = Converter::new();
//! let mut model_input = image::RgbImage::new(256, 144); // allocated once
//! let mut n = 0;
//! while let Some(frame) = src.next_frame().unwrap() {
//!     conv.to_rgb_resized(&frame.raw(), &mut model_input).unwrap();
//!     assert_eq!(frame.sequence, n);
//!     n += 1;
//!     src.recycle(frame);
//! }
//! assert_eq!(n, 3);
//! ```
//!
//! ## Troubleshooting
//! ### `cannot open /dev/video0: Permission denied`
//! Add yourself to the `video` group (`sudo usermod -aG video $USER`, then log in again).
//! ### The Raspberry Pi camera gives Bayer formats or no `/dev/video0`
//! CSI cameras on Bookworm are libcamera devices: run under `libcamerify`, or pipe
//! `rpicam-vid --codec yuv420` into `--source stdin:yuv420:WxH` (see the README, "Cameras").
//! ### `pixel format … is not supported`
//! Pin a format the device offers with `v4l2:/dev/video0:fmt=YUYV` or `fmt=MJPG`;
//! `bodyzone devices` lists them.
//! ### `ffmpeg not found`
//! Video files are decoded by the `ffmpeg`/`ffprobe` programs: install them (`apt install ffmpeg`).

mod file;
mod live;
mod spec;
mod stdin;
mod synthetic;
#[cfg(feature = "camera")]
mod v4l2;
mod video;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::files::DecodeLimits;
use crate::frame::{ConvertError, Frame, PixelFormat};

pub use file::ImageSource;
pub use live::{Backoff, Capture, Device, Live, Opened, Opener, Raw, Stage};
pub use spec::{PathKind, SourceSpec, V4l2Spec};
pub use stdin::RawReader;
pub use synthetic::Synthetic;
#[cfg(feature = "camera")]
pub use v4l2::{DeviceInfo, FormatInfo, SizeInfo, V4l2Capture, device_info, list_devices};
pub use video::VideoSource;

/// Anything that yields frames.
pub trait FrameSource: Send {
    /// The next frame; `Ok(None)` at the end of a file or pipe. Live sources wait at most
    /// [`OpenOptions::frame_timeout`]; a transient error ([`SourceError::is_transient`]) means
    /// "no frame now, call again".
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError>;

    /// What this is, for logs: `/dev/video0 (uvcvideo, YUYV 640x480@30)`, `clip.mp4`.
    fn describe(&self) -> String;

    /// A camera or pipe that does not wait for us (frames are dropped when we are slow).
    fn is_live(&self) -> bool;

    /// Frames the source produced that were never delivered.
    fn dropped(&self) -> u64 {
        0
    }

    /// The number of frames, when known in advance (for a progress bar).
    fn len_hint(&self) -> Option<u64> {
        None
    }

    /// Hands a frame back so its buffer is reused for a later one.
    fn recycle(&mut self, _frame: Frame) {}
}

/// Why a source could not give a frame. Variants hold the device, file or `--source` at fault.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The `--source` string does not parse; the message says which part and what was expected.
    #[error("bad --source '{spec}': {field}: expected {expected}")]
    BadSpec {
        spec: String,
        field: String,
        expected: String,
    },
    /// The file, directory or device does not exist.
    #[error("{}: no such file, directory or device", path.display())]
    NotFound { path: PathBuf },
    /// A directory source holds no image files (by extension).
    #[error("{}: no images (jpg, jpeg, png, webp, bmp, tiff) in this directory", dir.display())]
    NoImages { dir: PathBuf },
    /// An image file could not be read or decoded.
    #[error(transparent)]
    File(#[from] crate::files::FileError),
    /// Reading a file, directory or pipe failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `ffmpeg`/`ffprobe` are needed for video files and are not installed.
    #[error("{program} not found: install ffmpeg to read video files")]
    FfmpegMissing { program: &'static str },
    /// ffprobe/ffmpeg could not read the video; the message is ffmpeg's.
    #[error("{}: not a readable video: {message}", path.display())]
    Video { path: PathBuf, message: String },
    /// The video or pipe ended in the middle of a frame or before its announced frame count.
    #[error("{}: truncated or corrupt after {frames} frames ({detail})", path.display())]
    Truncated {
        path: PathBuf,
        frames: u64,
        detail: String,
    },
    /// A frame's buffer could not be converted.
    #[error("{device}: {source}")]
    Convert {
        device: String,
        source: ConvertError,
    },
    /// The device has no format bodyzone can convert, or not the one pinned with `fmt=`.
    #[error("{}: pixel format {format} is not supported or not offered; the device offers {offered}", device.display())]
    UnsupportedFormat {
        device: PathBuf,
        format: PixelFormat,
        offered: String,
    },
    /// The device is not a video capture device with streaming (e.g. a metadata node).
    #[error("{}: '{card}' is not a streaming video capture device", device.display())]
    NotCapture { device: PathBuf, card: String },
    /// An ioctl or read on the device failed (unplugged, busy, permission).
    #[error("{}: {op}: {source}", device.display())]
    Device {
        device: PathBuf,
        op: &'static str,
        source: std::io::Error,
    },
    /// No frame arrived in time (a hung camera, a stalled pipe).
    #[error("{device}: no frame for {after:?}")]
    Timeout { device: String, after: Duration },
    /// The camera failed and is being reopened; outputs should stay safe meanwhile.
    #[error("{device}: reconnecting (attempt {attempt}) after: {cause}")]
    Reconnecting {
        device: String,
        attempt: u32,
        cause: String,
    },
    /// The binary was built without the `camera` feature.
    #[error("{}: V4L2 cameras need the `camera` feature (cargo build --features camera)", device.display())]
    CameraSupportDisabled { device: PathBuf },
    /// A bug: the capture thread panicked. The run stops with the message (outputs safe).
    #[error("{device}: capture thread panicked: {message}")]
    Panicked { device: String, message: String },
}

impl SourceError {
    /// True for "no frame now, try again": the source may recover without being reopened.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SourceError::Timeout { .. } | SourceError::Reconnecting { .. }
        )
    }
}

/// How [`open`] builds a source.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Pace file sources by their timestamps instead of as fast as possible.
    pub realtime: bool,
    /// Frame rate given to image directories (their timestamps are `i / fps`).
    pub image_fps: f64,
    /// Longest wait for a live frame before [`SourceError::Timeout`] (a hung camera).
    pub frame_timeout: Duration,
    /// How a failing camera is reopened.
    pub reconnect: Backoff,
    /// Frames a live source keeps for a slow consumer (1–2: latest frame wins).
    pub queue: usize,
    /// A live source waits for its consumer instead of dropping its oldest frame (pipes).
    pub lossless: bool,
    /// Set to stop: waits (realtime pacing) end early when it is.
    pub stop: Arc<AtomicBool>,
    /// How large a picture (image, video or stdin frame) may be, checked before allocating.
    pub limits: DecodeLimits,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            realtime: false,
            image_fps: 30.0,
            frame_timeout: Duration::from_secs(2),
            reconnect: Backoff::default(),
            queue: 1,
            lossless: false,
            stop: Arc::new(AtomicBool::new(false)),
            limits: DecodeLimits::default(),
        }
    }
}

/// Opens the source a spec names; a camera or pipe captures on a thread of its own.
pub fn open(spec: &SourceSpec, opts: &OpenOptions) -> Result<Box<dyn FrameSource>, SourceError> {
    open_unstarted(spec, opts)?.into_source()
}

/// Opens the source a spec names without starting a capture thread, so that the caller runs it
/// on one with its own [`Stage`] (the runner converts pixels there).
pub fn open_unstarted(spec: &SourceSpec, opts: &OpenOptions) -> Result<Opened, SourceError> {
    let source: Box<dyn FrameSource> = match spec {
        SourceSpec::V4l2(v4l2) => return open_camera(v4l2, opts),
        SourceSpec::Stdin {
            format,
            width,
            height,
            yuv,
        } => {
            opts.limits.check(Path::new("stdin"), (*width, *height))?;
            let reader = RawReader::new(std::io::stdin(), "stdin", *format, *width, *height, *yuv)?;
            return Ok(Opened::Device(Device {
                name: "stdin".into(),
                first: Box::new(reader),
                opener: Box::new(|| {
                    Err(SourceError::Io {
                        path: "stdin".into(),
                        source: std::io::Error::other("a pipe cannot be reopened"),
                    })
                }),
                reconnect: None,
                // A pipe paces its writer: a file or a fast decoder on stdin must not lose
                // frames, and a camera piping into it drops frames on its side when bodyzone is
                // slower.
                lossless: true,
                queue: opts.queue,
                frame_timeout: opts.frame_timeout,
            }));
        }
        SourceSpec::Synthetic {
            width,
            height,
            fps,
            frames,
        } => Box::new(Synthetic::new(*width, *height, *fps, *frames)),
        SourceSpec::Path(path) => match spec::classify(path)? {
            PathKind::Image => Box::new(ImageSource::image(path)?.with_limits(opts.limits)),
            PathKind::Directory => {
                Box::new(ImageSource::directory(path, opts.image_fps)?.with_limits(opts.limits))
            }
            PathKind::Video => Box::new(VideoSource::open(path, &opts.limits)?),
        },
    };
    Ok(Opened::Pull(if opts.realtime {
        Box::new(Realtime::new(source, opts.stop.clone()))
    } else {
        source
    }))
}

#[cfg(feature = "camera")]
fn open_camera(spec: &V4l2Spec, opts: &OpenOptions) -> Result<Opened, SourceError> {
    let first = V4l2Capture::open(spec, opts.frame_timeout)?;
    let spec = spec.clone();
    let timeout = opts.frame_timeout;
    Ok(Opened::Device(Device {
        name: first.describe(),
        first: Box::new(first),
        opener: Box::new(move || Ok(Box::new(V4l2Capture::open(&spec, timeout)?))),
        reconnect: Some(opts.reconnect),
        lossless: opts.lossless,
        queue: opts.queue,
        frame_timeout: opts.frame_timeout,
    }))
}

#[cfg(not(feature = "camera"))]
fn open_camera(spec: &V4l2Spec, _opts: &OpenOptions) -> Result<Opened, SourceError> {
    Err(SourceError::CameraSupportDisabled {
        device: spec.device.clone(),
    })
}

/// Delivers a file source's frames no faster than their timestamps say.
pub struct Realtime<S> {
    inner: S,
    start: Option<(Instant, Duration)>,
    stop: Arc<AtomicBool>,
}

impl<S: FrameSource> Realtime<S> {
    /// Waits end early once `stop` is set (a long gap in a file's timestamps must not hold
    /// up Ctrl-C).
    pub fn new(inner: S, stop: Arc<AtomicBool>) -> Self {
        Realtime {
            inner,
            start: None,
            stop,
        }
    }
}

impl<S: FrameSource> FrameSource for Realtime<S> {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        let Some(frame) = self.inner.next_frame()? else {
            return Ok(None);
        };
        let (t0, ts0) = *self.start.get_or_insert((Instant::now(), frame.timestamp));
        let due = t0 + frame.timestamp.saturating_sub(ts0);
        const SLICE: Duration = Duration::from_millis(50);
        while !self.stop.load(Ordering::Relaxed) {
            let left = due.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(SLICE));
        }
        Ok(Some(frame))
    }

    fn describe(&self) -> String {
        format!("{} (realtime)", self.inner.describe())
    }

    fn is_live(&self) -> bool {
        self.inner.is_live()
    }

    fn dropped(&self) -> u64 {
        self.inner.dropped()
    }

    fn len_hint(&self) -> Option<u64> {
        self.inner.len_hint()
    }

    fn recycle(&mut self, frame: Frame) {
        self.inner.recycle(frame)
    }
}

impl FrameSource for Box<dyn FrameSource> {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        (**self).next_frame()
    }

    fn describe(&self) -> String {
        (**self).describe()
    }

    fn is_live(&self) -> bool {
        (**self).is_live()
    }

    fn dropped(&self) -> u64 {
        (**self).dropped()
    }

    fn len_hint(&self) -> Option<u64> {
        (**self).len_hint()
    }

    fn recycle(&mut self, frame: Frame) {
        (**self).recycle(frame)
    }
}
