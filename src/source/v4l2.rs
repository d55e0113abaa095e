//! V4L2 cameras through the `v4l` crate: format negotiation, memory-mapped streaming with a
//! small buffer ring, frame timeouts, and the device listing behind `bodyzone devices`.
//!
//! Negotiation: the user may pin a format, size and rate; otherwise bodyzone asks for 640x480 in
//! the first of YUYV, NV12, YU12, RGB3, MJPG the device offers at that size and rate. The driver
//! has the last word, so the format is read back: a different but convertible format or size is
//! used as is (and logged), anything else fails with the list of what the device offers.

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Duration;

use v4l::buffer::{Flags as BufferFlags, Type};
use v4l::capability::Flags;
use v4l::format::Quantization;
use v4l::frameinterval::FrameIntervalEnum;
use v4l::framesize::FrameSizeEnum;
use v4l::io::mmap::Stream;
use v4l::io::traits::{CaptureStream, Stream as _};
use v4l::video::Capture as _;
use v4l::video::capture::Parameters;
use v4l::{Device, Format, FourCC};

use super::{Capture, SourceError, V4l2Spec};
use crate::frame::{Frame, PixelFormat, YuvMode};

/// Size asked for when the user pins none: plenty for 256×144 / 224×224 model inputs.
const DEFAULT_SIZE: (u32, u32) = (640, 480);
/// Driver buffers: one being filled, one queued, one with us.
const BUFFERS: u32 = 3;

/// An open, negotiated, streaming camera.
pub struct V4l2Capture {
    device: PathBuf,
    /// `Option` so `Drop` can leak it: v4l's `Stream` panics in its own `Drop` if STREAMOFF fails.
    stream: Option<Stream<'static>>,
    name: String,
    format: PixelFormat,
    width: u32,
    height: u32,
    stride: usize,
    yuv: YuvMode,
    timeout: Duration,
}

fn device_err<'a>(device: &'a Path, op: &'static str) -> impl Fn(io::Error) -> SourceError + 'a {
    move |source| match source.kind() {
        io::ErrorKind::NotFound => SourceError::NotFound {
            path: device.into(),
        },
        _ => SourceError::Device {
            device: device.into(),
            op,
            source,
        },
    }
}

/// Runs a v4l call, turning a panic inside the crate (it `expect`s on values it does not know,
/// such as a non-UTF-8 card name) into an error naming the device.
fn guard<T>(
    device: &Path,
    op: &'static str,
    f: impl FnOnce() -> Result<T, SourceError>,
) -> Result<T, SourceError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(SourceError::Device {
            device: device.into(),
            op,
            source: io::Error::other("the v4l crate panicked on this device's answer"),
        })
    })
}

/// Picks the format to ask for: the pinned one if offered, else the first supported format
/// (in [`PixelFormat::SUPPORTED`] order) that `reaches` the wanted size and rate, else the first
/// supported one at all.
pub(crate) fn choose_format(
    pinned: Option<PixelFormat>,
    offered: &[PixelFormat],
    reaches: impl Fn(PixelFormat) -> bool,
) -> Option<PixelFormat> {
    if let Some(format) = pinned {
        return offered.contains(&format).then_some(format);
    }
    let candidates: Vec<PixelFormat> = PixelFormat::SUPPORTED
        .into_iter()
        .filter(|f| offered.contains(f))
        .collect();
    candidates
        .iter()
        .copied()
        .find(|&f| reaches(f))
        .or(candidates.first().copied())
}

impl V4l2Capture {
    /// Opens and negotiates; `timeout` bounds every wait for a frame.
    pub fn open(spec: &V4l2Spec, timeout: Duration) -> Result<V4l2Capture, SourceError> {
        let path = spec.device.as_path();
        guard(path, "open", || V4l2Capture::open_unguarded(spec, timeout))
    }

    fn open_unguarded(spec: &V4l2Spec, timeout: Duration) -> Result<V4l2Capture, SourceError> {
        let path = spec.device.as_path();
        let dev = Device::with_path(path).map_err(device_err(path, "open"))?;
        let caps = dev
            .query_caps()
            .map_err(device_err(path, "VIDIOC_QUERYCAP"))?;
        if !caps
            .capabilities
            .contains(Flags::VIDEO_CAPTURE | Flags::STREAMING)
        {
            return Err(SourceError::NotCapture {
                device: path.into(),
                card: caps.card,
            });
        }
        let offered: Vec<PixelFormat> = dev
            .enum_formats()
            .map_err(device_err(path, "VIDIOC_ENUM_FMT"))?
            .iter()
            .map(|d| PixelFormat::from_fourcc(d.fourcc.repr))
            .collect();
        let (width, height) = spec.size.unwrap_or(DEFAULT_SIZE);
        let reaches = |f: PixelFormat| supports(&dev, f, width, height, spec.fps);
        let unsupported = |format: PixelFormat| SourceError::UnsupportedFormat {
            device: path.into(),
            format,
            offered: describe_offers(&dev),
        };
        let wanted = choose_format(spec.format, &offered, reaches).ok_or_else(|| {
            unsupported(
                spec.format
                    .unwrap_or_else(|| offered.first().copied().unwrap_or(PixelFormat::Yuyv)),
            )
        })?;
        let request = Format::new(width, height, FourCC::new(&wanted.fourcc()));
        let got = dev
            .set_format(&request)
            .map_err(device_err(path, "VIDIOC_S_FMT"))?;
        let format = PixelFormat::from_fourcc(got.fourcc.repr);
        if !format.is_supported() {
            return Err(unsupported(format));
        }
        if format != wanted {
            tracing::warn!(device = %path.display(), asked = %wanted, got = %format, "driver changed the pixel format; using it");
        }
        if (got.width, got.height) != (width, height) {
            tracing::info!(device = %path.display(), asked = %format!("{width}x{height}"), got = %format!("{}x{}", got.width, got.height), "driver changed the frame size; using it");
        }
        let fps = negotiate_fps(&dev, path, spec.fps);
        let yuv = match got.quantization {
            Quantization::FullRange => YuvMode::Bt601Full,
            Quantization::Default | Quantization::LimitedRange => YuvMode::Bt601Limited,
        };
        let stride = match got.stride as usize {
            0 => format.min_stride(got.width).unwrap_or(0),
            s => s,
        };
        let mut stream = Stream::with_buffers(&dev, Type::VideoCapture, BUFFERS)
            .map_err(device_err(path, "VIDIOC_REQBUFS"))?;
        stream.set_timeout(timeout);
        let rate = fps.map(|f| format!("@{f:.0}")).unwrap_or_default();
        let name = format!(
            "{} ({} '{}', {format} {}x{}{rate})",
            path.display(),
            caps.driver,
            caps.card,
            got.width,
            got.height
        );
        tracing::info!(camera = %name, "opened");
        Ok(V4l2Capture {
            device: path.into(),
            stream: Some(stream),
            name,
            format,
            width: got.width,
            height: got.height,
            stride,
            yuv,
            timeout,
        })
    }

    /// `/dev/video0 (uvcvideo 'HD Webcam', YUYV 640x480@30)`.
    pub fn describe(&self) -> String {
        self.name.clone()
    }
}

/// Whether the device lists `format` at `width`×`height` (and `fps`, if given). A device that
/// cannot enumerate is given the benefit of the doubt.
fn supports(dev: &Device, format: PixelFormat, width: u32, height: u32, fps: Option<u32>) -> bool {
    let fourcc = FourCC::new(&format.fourcc());
    let size_ok = dev.enum_framesizes(fourcc).map_or(true, |sizes| {
        sizes.iter().any(|s| match &s.size {
            FrameSizeEnum::Discrete(d) => (d.width, d.height) == (width, height),
            FrameSizeEnum::Stepwise(s) => {
                (s.min_width..=s.max_width).contains(&width)
                    && (s.min_height..=s.max_height).contains(&height)
            }
        })
    });
    let Some(fps) = fps else { return size_ok };
    size_ok
        && dev
            .enum_frameintervals(fourcc, width, height)
            .map_or(true, |intervals| {
                intervals
                    .iter()
                    .any(|i| max_fps(&i.interval) >= fps as f64 - 0.5)
            })
}

/// The fastest rate an interval entry allows.
fn max_fps(interval: &FrameIntervalEnum) -> f64 {
    match interval {
        FrameIntervalEnum::Discrete(f) => rate(f.numerator, f.denominator),
        FrameIntervalEnum::Stepwise(s) => rate(s.min.numerator, s.min.denominator),
    }
}

/// Frames per second of an interval `num/den` seconds.
fn rate(num: u32, den: u32) -> f64 {
    if num == 0 {
        0.0
    } else {
        den as f64 / num as f64
    }
}

/// Asks for `fps` if pinned and returns the rate the driver reports.
fn negotiate_fps(dev: &Device, path: &Path, fps: Option<u32>) -> Option<f64> {
    if let Some(fps) = fps {
        match dev.set_params(&Parameters::with_fps(fps)) {
            Ok(p) => {
                let got = rate(p.interval.numerator, p.interval.denominator);
                if (got - fps as f64).abs() > 0.5 {
                    tracing::warn!(device = %path.display(), asked = fps, got, "driver changed the frame rate");
                }
            }
            Err(error) => {
                tracing::warn!(device = %path.display(), %error, "cannot set the frame rate")
            }
        }
    }
    let p = dev.params().ok()?;
    let got = rate(p.interval.numerator, p.interval.denominator);
    (got > 0.0).then_some(got)
}

impl Capture for V4l2Capture {
    fn grab(&mut self, frame: &mut Frame) -> Result<bool, SourceError> {
        let stream = self.stream.as_mut().expect("the stream lives until drop");
        loop {
            let (buf, meta) =
                CaptureStream::next(stream).map_err(|source| match source.kind() {
                    io::ErrorKind::TimedOut => SourceError::Timeout {
                        device: self.device.display().to_string(),
                        after: self.timeout,
                    },
                    _ => SourceError::Device {
                        device: self.device.clone(),
                        op: "VIDIOC_DQBUF",
                        source,
                    },
                })?;
            // A buffer the driver marks corrupt is skipped; the sequence gap counts it as dropped.
            if meta.flags.contains(BufferFlags::ERROR) {
                continue;
            }
            let used = match meta.bytesused as usize {
                0 => buf.len(),
                n => n.min(buf.len()),
            };
            frame.data.clear();
            frame.data.extend_from_slice(&buf[..used]);
            frame.format = self.format;
            frame.width = self.width;
            frame.height = self.height;
            frame.stride = self.stride;
            frame.yuv = self.yuv;
            frame.sequence = meta.sequence as u64;
            return Ok(true);
        }
    }
}

impl Drop for V4l2Capture {
    fn drop(&mut self) {
        let Some(mut stream) = self.stream.take() else {
            return;
        };
        if let Err(error) = stream.stop() {
            tracing::warn!(device = %self.device.display(), %error, "VIDIOC_STREAMOFF failed; leaking the buffers");
            std::mem::forget(stream);
        }
    }
}

/// A capture device as `bodyzone devices` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceInfo {
    pub path: PathBuf,
    pub driver: String,
    pub card: String,
    pub bus: String,
    /// False for metadata, output and multi-planar-only nodes (which bodyzone cannot stream).
    pub capture: bool,
    pub formats: Vec<FormatInfo>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FormatInfo {
    pub format: PixelFormat,
    pub description: String,
    pub sizes: Vec<SizeInfo>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SizeInfo {
    /// A size with the frame rates it offers.
    Discrete {
        width: u32,
        height: u32,
        fps: Vec<f64>,
    },
    Stepwise {
        min: (u32, u32),
        max: (u32, u32),
        step: (u32, u32),
    },
}

impl std::fmt::Display for SizeInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SizeInfo::Discrete { width, height, fps } => {
                write!(f, "{width}x{height}")?;
                let rates: Vec<String> = fps
                    .iter()
                    .map(|r| {
                        format!("{r:.4}")
                            .trim_end_matches('0')
                            .trim_end_matches('.')
                            .to_string()
                    })
                    .collect();
                if !rates.is_empty() {
                    write!(f, "@{}", rates.join("/"))?;
                }
                Ok(())
            }
            SizeInfo::Stepwise { min, max, step } => {
                write!(
                    f,
                    "{}x{} to {}x{} step {}x{}",
                    min.0, min.1, max.0, max.1, step.0, step.1
                )
            }
        }
    }
}

fn format_infos(dev: &Device) -> io::Result<Vec<FormatInfo>> {
    let mut formats = Vec::new();
    for desc in dev.enum_formats()? {
        let sizes = dev
            .enum_framesizes(desc.fourcc)
            .unwrap_or_default()
            .into_iter()
            .map(|s| match s.size {
                FrameSizeEnum::Discrete(d) => {
                    let fps = dev
                        .enum_frameintervals(desc.fourcc, d.width, d.height)
                        .unwrap_or_default()
                        .iter()
                        .map(|i| max_fps(&i.interval))
                        .collect();
                    SizeInfo::Discrete {
                        width: d.width,
                        height: d.height,
                        fps,
                    }
                }
                FrameSizeEnum::Stepwise(s) => SizeInfo::Stepwise {
                    min: (s.min_width, s.min_height),
                    max: (s.max_width, s.max_height),
                    step: (s.step_width, s.step_height),
                },
            })
            .collect();
        formats.push(FormatInfo {
            format: PixelFormat::from_fourcc(desc.fourcc.repr),
            description: desc.description,
            sizes,
        });
    }
    Ok(formats)
}

/// `YUYV 640x480, 1280x720; MJPG 1920x1080` for error messages.
fn describe_offers(dev: &Device) -> String {
    match format_infos(dev) {
        Ok(formats) if !formats.is_empty() => formats
            .iter()
            .map(|f| {
                let sizes: Vec<String> = f
                    .sizes
                    .iter()
                    .map(|s| match s {
                        SizeInfo::Discrete { width, height, .. } => format!("{width}x{height}"),
                        other => other.to_string(),
                    })
                    .collect();
                format!("{} {}", f.format, sizes.join(", "))
                    .trim_end()
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join("; "),
        Ok(_) => "no formats".into(),
        Err(e) => format!("formats unknown ({e})"),
    }
}

/// Describes one device node.
pub fn device_info(path: &Path) -> Result<DeviceInfo, SourceError> {
    guard(path, "query", || {
        let dev = Device::with_path(path).map_err(device_err(path, "open"))?;
        let caps = dev
            .query_caps()
            .map_err(device_err(path, "VIDIOC_QUERYCAP"))?;
        let capture = caps
            .capabilities
            .contains(Flags::VIDEO_CAPTURE | Flags::STREAMING);
        let formats = if capture {
            format_infos(&dev).map_err(device_err(path, "VIDIOC_ENUM_FMT"))?
        } else {
            Vec::new()
        };
        Ok(DeviceInfo {
            path: path.into(),
            driver: caps.driver,
            card: caps.card,
            bus: caps.bus,
            capture,
            formats,
        })
    })
}

/// Every `/dev/video*` node in natural order, each described or with the error that stopped it
/// (permission, busy).
pub fn list_devices() -> Vec<(PathBuf, Result<DeviceInfo, SourceError>)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir("/dev")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("video"))
                })
                .collect()
        })
        .unwrap_or_default();
    paths.sort_by(|a, b| crate::files::natural_cmp(&a.to_string_lossy(), &b.to_string_lossy()));
    paths
        .into_iter()
        .map(|p| {
            let info = device_info(&p);
            (p, info)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_choice() {
        use PixelFormat::*;
        let offered = [Mjpeg, Yuyv, Custom(*b"H264")];
        assert_eq!(choose_format(None, &offered, |_| true), Some(Yuyv));
        // YUYV cannot reach the size/rate (a USB 2 webcam at 720p30): MJPEG is picked.
        assert_eq!(choose_format(None, &offered, |f| f == Mjpeg), Some(Mjpeg));
        assert_eq!(choose_format(None, &offered, |_| false), Some(Yuyv));
        assert_eq!(choose_format(Some(Mjpeg), &offered, |_| false), Some(Mjpeg));
        assert_eq!(choose_format(Some(Nv12), &offered, |_| true), None);
        assert_eq!(choose_format(None, &[Custom(*b"BA81")], |_| true), None);
    }

    #[test]
    fn size_display() {
        let s = SizeInfo::Discrete {
            width: 640,
            height: 480,
            fps: vec![30.0, 15.0, 7.5],
        };
        assert_eq!(s.to_string(), "640x480@30/15/7.5");
        let s = SizeInfo::Stepwise {
            min: (16, 16),
            max: (1920, 1080),
            step: (8, 8),
        };
        assert_eq!(s.to_string(), "16x16 to 1920x1080 step 8x8");
    }

    #[test]
    fn missing_device_is_named() {
        let spec = V4l2Spec {
            device: "/dev/video-bodyzone-missing".into(),
            format: None,
            size: None,
            fps: None,
        };
        let err = V4l2Capture::open(&spec, Duration::from_secs(1))
            .err()
            .unwrap();
        assert!(
            matches!(&err, SourceError::NotFound { path } if path == Path::new("/dev/video-bodyzone-missing")),
            "{err}"
        );
    }
}
