//! The `--source` grammar.
//!
//! | form | meaning |
//! |---|---|
//! | `/dev/video0` | V4L2 camera, bodyzone picks format and size |
//! | `v4l2:/dev/video0[:fmt=MJPG][:640x480][@30]` | V4L2 camera with a pinned format, size and/or fps (`:640x480@30`, `:@30` or `:fps=30`) |
//! | `stdin:yuv420:640x480[:full]` | raw frames on stdin: `yuv420` (I420), `nv12`, `yuyv`, `rgb24`; `full` for full-range YUV (default limited) |
//! | `synthetic[:640x480][@30][:frames=N]` | a generated moving figure |
//! | anything else | a path: image, directory of images or video file |

use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::SourceError;
use crate::files::is_image_path;
use crate::frame::{PixelFormat, YuvMode};

/// A parsed `--source`.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    V4l2(V4l2Spec),
    Stdin {
        format: PixelFormat,
        width: u32,
        height: u32,
        yuv: YuvMode,
    },
    Synthetic {
        width: u32,
        height: u32,
        fps: f64,
        frames: Option<u64>,
    },
    /// Classified when opened ([`classify`]): image, directory or video.
    Path(PathBuf),
}

/// A camera and what the user pinned; `None` lets bodyzone choose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V4l2Spec {
    pub device: PathBuf,
    pub format: Option<PixelFormat>,
    pub size: Option<(u32, u32)>,
    pub fps: Option<u32>,
}

/// What a path source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    Image,
    Directory,
    Video,
}

const VIDEO_EXTENSIONS: &[&str] = &[
    "mp4", "m4v", "mov", "mkv", "webm", "avi", "mpg", "mpeg", "ts", "mts", "flv", "wmv", "gif",
    "h264", "h265", "hevc", "y4m", "ogv",
];

/// Sorts a path into image, directory or video: directories by the file system, files by
/// extension, unknown extensions by sniffing the image magic bytes (anything else is left to
/// ffprobe).
pub fn classify(path: &Path) -> Result<PathKind, SourceError> {
    let meta = std::fs::metadata(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => SourceError::NotFound { path: path.into() },
        _ => SourceError::Io {
            path: path.into(),
            source,
        },
    })?;
    if meta.is_dir() {
        return Ok(PathKind::Directory);
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    if is_image_path(path) {
        return Ok(PathKind::Image);
    }
    if VIDEO_EXTENSIONS.contains(&ext.as_str()) {
        return Ok(PathKind::Video);
    }
    let sniffed = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|source| SourceError::Io {
            path: path.into(),
            source,
        })?;
    Ok(if sniffed.format().is_some() {
        PathKind::Image
    } else {
        PathKind::Video
    })
}

impl FromStr for SourceSpec {
    type Err = SourceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |field: &str, expected: &str| SourceError::BadSpec {
            spec: s.to_string(),
            field: field.to_string(),
            expected: expected.to_string(),
        };
        if s.is_empty() {
            return Err(bad(
                "source",
                "a device, a path, stdin:FMT:WxH or synthetic",
            ));
        }
        let mut parts = s.split(':');
        let head = parts.next().unwrap_or_default();
        match head {
            "v4l2" => {
                let device = parts.next().filter(|d| !d.is_empty()).ok_or_else(|| {
                    bad("device", "a device path after 'v4l2:' (v4l2:/dev/video0)")
                })?;
                parse_v4l2(device, parts, &bad)
            }
            "stdin" => parse_stdin(parts, &bad),
            "synthetic" => parse_synthetic(parts, &bad),
            // Files live under /dev too (the Pi's RAM disk /dev/shm): only what is not a file
            // or a directory there is taken for a camera (a missing one fails as a camera).
            _ if head.starts_with("/dev/") && !is_file_or_dir(s) => parse_v4l2(head, parts, &bad),
            _ => Ok(SourceSpec::Path(PathBuf::from(s))),
        }
    }
}

type Bad<'a> = &'a dyn Fn(&str, &str) -> SourceError;

fn is_file_or_dir(path: &str) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() || m.is_dir())
}

fn parse_v4l2<'a>(
    device: &str,
    parts: impl Iterator<Item = &'a str>,
    bad: Bad<'_>,
) -> Result<SourceSpec, SourceError> {
    let mut spec = V4l2Spec {
        device: PathBuf::from(device),
        format: None,
        size: None,
        fps: None,
    };
    for part in parts {
        if let Some(fmt) = part.strip_prefix("fmt=") {
            let unsupported = |_| {
                let expected = format!("one of YUYV, MJPG, NV12, YU12, RGB3, not '{fmt}'");
                bad("fmt", &expected)
            };
            spec.format = Some(fmt.parse().map_err(unsupported)?);
        } else if let Some(fps) = part.strip_prefix("fps=") {
            spec.fps = Some(parse_fps(fps, bad)?);
        } else {
            let (size, fps) = parse_size_fps(part, bad)?;
            spec.size = size.or(spec.size);
            spec.fps = fps.map(|f| f.round() as u32).or(spec.fps);
        }
    }
    Ok(SourceSpec::V4l2(spec))
}

fn parse_stdin<'a>(
    mut parts: impl Iterator<Item = &'a str>,
    bad: Bad<'_>,
) -> Result<SourceSpec, SourceError> {
    const FORMATS: &str = "one of yuv420, nv12, yuyv, rgb24 (stdin:yuv420:640x480)";
    let format: PixelFormat = parts
        .next()
        .ok_or_else(|| bad("format", FORMATS))?
        .parse()
        .map_err(|_| bad("format", FORMATS))?;
    if format.min_stride(1).is_none() {
        return Err(bad("format", FORMATS));
    }
    let size = parts
        .next()
        .ok_or_else(|| bad("size", "WxH after the format"))?;
    let (Some((width, height)), None) = parse_size_fps(size, bad)? else {
        return Err(bad("size", "WxH after the format (the pipe sets the rate)"));
    };
    // A pipe's rows are packed with no stride to say otherwise, and YUYV and NV12 give each
    // pair of pixels one chroma sample: an odd width has no one layout to agree on.
    if matches!(format, PixelFormat::Yuyv | PixelFormat::Nv12) && width % 2 == 1 {
        return Err(bad(
            "size",
            &format!("an even width for {format} (one chroma pair per two pixels), not {width}"),
        ));
    }
    let yuv = match parts.next() {
        None | Some("limited") => YuvMode::Bt601Limited,
        Some("full") => YuvMode::Bt601Full,
        Some(_) => return Err(bad("range", "'full' or 'limited' after the size")),
    };
    if parts.next().is_some() {
        return Err(bad("options", "nothing after the range"));
    }
    Ok(SourceSpec::Stdin {
        format,
        width,
        height,
        yuv,
    })
}

fn parse_synthetic<'a>(
    parts: impl Iterator<Item = &'a str>,
    bad: Bad<'_>,
) -> Result<SourceSpec, SourceError> {
    let (mut width, mut height, mut fps, mut frames) = (640, 480, 30.0, None);
    for part in parts {
        if let Some(n) = part.strip_prefix("frames=") {
            frames = Some(
                n.parse()
                    .map_err(|_| bad("frames", "a whole number of frames"))?,
            );
        } else {
            let (size, rate) = parse_size_fps(part, bad)?;
            (width, height) = size.unwrap_or((width, height));
            fps = rate.unwrap_or(fps);
        }
    }
    Ok(SourceSpec::Synthetic {
        width,
        height,
        fps,
        frames,
    })
}

/// `WxH`, `WxH@fps` or `@fps`.
/// A parsed `WxH@fps` token: size and rate, each optional.
type SizeFps = (Option<(u32, u32)>, Option<f64>);

fn parse_size_fps(part: &str, bad: Bad<'_>) -> Result<SizeFps, SourceError> {
    let (size, fps) = match part.split_once('@') {
        Some((size, fps)) => (size, Some(fps)),
        None => (part, None),
    };
    let size = if size.is_empty() && fps.is_some() {
        None
    } else {
        let dims = size.split_once('x').and_then(|(w, h)| {
            let (w, h) = (w.parse::<u32>().ok()?, h.parse::<u32>().ok()?);
            (w > 0 && h > 0 && w <= 16384 && h <= 16384).then_some((w, h))
        });
        Some(dims.ok_or_else(|| {
            bad(
                &format!("'{part}'"),
                "a size WxH (e.g. 640x480), @FPS, fmt=FOURCC or frames=N",
            )
        })?)
    };
    let fps = fps
        .map(|f| {
            f.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite() && *f > 0.0 && *f <= 1000.0)
                .ok_or_else(|| bad("fps", "a frame rate above 0 (e.g. @30)"))
        })
        .transpose()?;
    Ok((size, fps))
}

fn parse_fps(s: &str, bad: Bad<'_>) -> Result<u32, SourceError> {
    s.parse::<u32>()
        .ok()
        .filter(|f| (1..=1000).contains(f))
        .ok_or_else(|| bad("fps", "a whole frame rate from 1 to 1000"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> SourceSpec {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> String {
        s.parse::<SourceSpec>().unwrap_err().to_string()
    }

    #[test]
    fn cameras() {
        let plain = V4l2Spec {
            device: "/dev/video0".into(),
            format: None,
            size: None,
            fps: None,
        };
        assert_eq!(parse("/dev/video0"), SourceSpec::V4l2(plain.clone()));
        assert_eq!(parse("v4l2:/dev/video0"), SourceSpec::V4l2(plain.clone()));
        assert_eq!(
            parse("v4l2:/dev/video2:fmt=MJPG:640x480@30"),
            SourceSpec::V4l2(V4l2Spec {
                device: "/dev/video2".into(),
                format: Some(PixelFormat::Mjpeg),
                size: Some((640, 480)),
                fps: Some(30),
            })
        );
        assert_eq!(
            parse("/dev/video0:@15:fmt=yuyv"),
            SourceSpec::V4l2(V4l2Spec {
                fps: Some(15),
                format: Some(PixelFormat::Yuyv),
                ..plain.clone()
            })
        );
        assert_eq!(
            parse("v4l2:/dev/video0:fps=10"),
            SourceSpec::V4l2(V4l2Spec {
                fps: Some(10),
                ..plain
            })
        );
    }

    #[test]
    fn stdin_and_synthetic() {
        assert_eq!(
            parse("stdin:yuv420:640x480"),
            SourceSpec::Stdin {
                format: PixelFormat::Yuv420,
                width: 640,
                height: 480,
                yuv: YuvMode::Bt601Limited
            }
        );
        assert_eq!(
            parse("stdin:NV12:1280x720:full"),
            SourceSpec::Stdin {
                format: PixelFormat::Nv12,
                width: 1280,
                height: 720,
                yuv: YuvMode::Bt601Full
            }
        );
        assert_eq!(
            parse("synthetic"),
            SourceSpec::Synthetic {
                width: 640,
                height: 480,
                fps: 30.0,
                frames: None
            }
        );
        assert_eq!(
            parse("synthetic:320x240@12.5:frames=40"),
            SourceSpec::Synthetic {
                width: 320,
                height: 240,
                fps: 12.5,
                frames: Some(40)
            }
        );
    }

    #[test]
    fn paths() {
        assert_eq!(parse("clip.mp4"), SourceSpec::Path("clip.mp4".into()));
        assert_eq!(
            parse("./a:b/frames"),
            SourceSpec::Path("./a:b/frames".into())
        );
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            err("v4l2:/dev/video0:fmt=H264"),
            "bad --source 'v4l2:/dev/video0:fmt=H264': fmt: expected one of YUYV, MJPG, NV12, YU12, \
             RGB3, not 'H264'"
        );
        assert!(err("stdin:mjpeg:640x480").contains("format: expected one of yuv420"));
        assert!(err("stdin:yuv420").contains("size: expected WxH"));
        assert!(err("stdin:yuv420:640x0").contains("'640x0': expected a size WxH"));
        assert!(err("stdin:yuv420:640x480:bt709").contains("range: expected 'full' or 'limited'"));
        assert!(err("synthetic:frames=x").contains("frames: expected a whole number"));
        assert!(err("synthetic:@0").contains("fps: expected a frame rate above 0"));
        assert!(err("v4l2:").contains("device: expected a device path"));
        assert!(err("").contains("source: expected"));
    }

    #[test]
    fn classify_by_fs_and_extension() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(classify(dir.path()).unwrap(), PathKind::Directory);
        let png = dir.path().join("frame.PNG");
        image::RgbImage::new(2, 2)
            .save_with_format(&png, image::ImageFormat::Png)
            .unwrap();
        assert_eq!(classify(&png).unwrap(), PathKind::Image);
        let sniffed = dir.path().join("frame.bin");
        std::fs::copy(&png, &sniffed).unwrap();
        assert_eq!(classify(&sniffed).unwrap(), PathKind::Image);
        let clip = dir.path().join("clip.mkv");
        std::fs::write(&clip, b"x").unwrap();
        assert_eq!(classify(&clip).unwrap(), PathKind::Video);
        let missing = dir.path().join("missing.mp4");
        assert!(
            matches!(classify(&missing), Err(SourceError::NotFound { path }) if path == missing)
        );
    }

    #[test]
    fn odd_widths_are_refused_where_chroma_pairs_pixels() {
        assert!(err("stdin:nv12:641x480").contains("an even width for NV12"));
        assert!(err("stdin:yuyv:641x480").contains("an even width for YUYV"));
        assert!(matches!(
            parse("stdin:yuv420:641x481"),
            SourceSpec::Stdin { width: 641, .. }
        ));
    }

    #[test]
    fn a_file_under_dev_is_a_file_not_a_camera() {
        let shm = std::path::Path::new("/dev/shm");
        if !shm.is_dir() {
            return; // no RAM disk on this machine
        }
        let file = tempfile::Builder::new()
            .suffix(".jpg")
            .tempfile_in(shm)
            .unwrap();
        let path = file.path().to_str().unwrap();
        assert_eq!(parse(path), SourceSpec::Path(path.into()));
        assert!(matches!(parse("/dev/video7"), SourceSpec::V4l2(_)));
    }
}
