//! Video files, decoded by an `ffmpeg` subprocess into raw RGB (no codec libraries linked in).
//!
//! `ffprobe` reads the stream's size, rotation and every packet's presentation time first (it
//! demuxes without decoding, so it is quick); `ffmpeg -fps_mode passthrough` then emits each
//! decoded frame exactly once, and frame `i` gets the `i`-th presentation time in display order,
//! relative to the first. Any error either program reports (a truncated or corrupt file) becomes
//! [`SourceError::Truncated`] naming the file: ffprobe's at open, ffmpeg's at the end of the frames.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Deserialize;

use super::{FrameSource, SourceError};
use crate::files::DecodeLimits;
use crate::frame::{Frame, PixelFormat, YuvMode};

/// A video file's frames as RGB, every frame in order.
pub struct VideoSource {
    path: PathBuf,
    child: Child,
    stdout: ChildStdout,
    stderr: Option<JoinHandle<Vec<String>>>,
    width: u32,
    height: u32,
    fps: f64,
    pts: Vec<Duration>,
    next: u64,
    pool: Vec<Vec<u8>>,
    finished: bool,
}

#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    streams: Vec<ProbeStream>,
    #[serde(default)]
    packets: Vec<ProbePacket>,
}

#[derive(Deserialize)]
struct ProbeStream {
    width: u32,
    height: u32,
    #[serde(default)]
    avg_frame_rate: String,
    #[serde(default)]
    r_frame_rate: String,
    #[serde(default)]
    side_data_list: Vec<ProbeSideData>,
}

#[derive(Deserialize)]
struct ProbeSideData {
    #[serde(default)]
    rotation: Option<f64>,
}

#[derive(Deserialize)]
struct ProbePacket {
    #[serde(default)]
    pts_time: Option<String>,
}

/// Runs a tool, mapping "not installed" to its own error.
fn run_tool(
    program: &'static str,
    args: &[&std::ffi::OsStr],
    path: &Path,
) -> Result<std::process::Output, SourceError> {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => SourceError::FfmpegMissing { program },
            _ => SourceError::Io {
                path: path.into(),
                source,
            },
        })
}

fn parse_rate(rate: &str) -> Option<f64> {
    let (num, den) = rate.split_once('/')?;
    let fps = num.parse::<f64>().ok()? / den.parse::<f64>().ok()?;
    (fps.is_finite() && fps > 0.0).then_some(fps)
}

impl VideoSource {
    /// Opens `path` through ffprobe and ffmpeg; a stream of more pixels than `limits` allow is
    /// refused before any frame buffer is made.
    pub fn open(path: &Path, limits: &DecodeLimits) -> Result<VideoSource, SourceError> {
        if !path.is_file() {
            return Err(SourceError::NotFound { path: path.into() });
        }
        let video_err = |message: String| SourceError::Video {
            path: path.into(),
            message,
        };
        let probe = run_tool(
            "ffprobe",
            &[
                "-v".as_ref(),
                "error".as_ref(),
                "-select_streams".as_ref(),
                "v:0".as_ref(),
                "-show_entries".as_ref(),
                "stream=width,height,avg_frame_rate,r_frame_rate:stream_side_data=rotation:packet=pts_time"
                    .as_ref(),
                "-of".as_ref(),
                "json".as_ref(),
                path.as_os_str(),
            ],
            path,
        )?;
        let probe_errors = String::from_utf8_lossy(&probe.stderr).trim().to_string();
        if !probe.status.success() {
            return Err(video_err(tidy(
                probe_errors.lines(),
                path,
                "ffprobe failed",
            )));
        }
        let parsed: Probe = serde_json::from_slice(&probe.stdout)
            .map_err(|e| video_err(format!("unreadable ffprobe output: {e}")))?;
        let stream = parsed
            .streams
            .first()
            .ok_or_else(|| video_err("no video stream".into()))?;
        if !probe_errors.is_empty() {
            return Err(SourceError::Truncated {
                path: path.into(),
                frames: 0,
                detail: format!("ffprobe: {}", tidy(probe_errors.lines(), path, "")),
            });
        }
        // ffmpeg applies the rotation metadata of phone videos itself (autorotate).
        let rotation = stream
            .side_data_list
            .iter()
            .find_map(|s| s.rotation)
            .unwrap_or(0.0);
        let quarter_turn = (rotation.abs() as i64) % 180 == 90;
        let (width, height) = if quarter_turn {
            (stream.height, stream.width)
        } else {
            (stream.width, stream.height)
        };
        if width == 0 || height == 0 {
            return Err(video_err(format!("video stream is {width}x{height}")));
        }
        limits.check(path, (width, height))?;
        let fps = parse_rate(&stream.avg_frame_rate)
            .or_else(|| parse_rate(&stream.r_frame_rate))
            .unwrap_or(30.0);
        let mut pts: Vec<f64> = parsed
            .packets
            .iter()
            .filter_map(|p| p.pts_time.as_deref()?.parse().ok())
            .collect();
        pts.sort_by(f64::total_cmp);
        let first = pts.first().copied().unwrap_or(0.0);
        let pts = pts
            .iter()
            .map(|t| Duration::from_secs_f64((t - first).max(0.0)))
            .collect();

        let mut child = Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(path)
            .args(["-map", "0:v:0", "-an", "-sn", "-fps_mode", "passthrough"])
            .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| match source.kind() {
                std::io::ErrorKind::NotFound => SourceError::FfmpegMissing { program: "ffmpeg" },
                _ => SourceError::Io {
                    path: path.into(),
                    source,
                },
            })?;
        let stdout = child.stdout.take().expect("stdout was piped");
        let stderr = child.stderr.take().expect("stderr was piped");
        // Drained on a thread so a chatty ffmpeg never blocks on a full pipe.
        let stderr = std::thread::spawn(move || {
            let mut tail = VecDeque::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tail.len() == 8 {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
            Vec::from(tail)
        });
        Ok(VideoSource {
            path: path.into(),
            child,
            stdout,
            stderr: Some(stderr),
            width,
            height,
            fps,
            pts,
            next: 0,
            pool: Vec::new(),
            finished: false,
        })
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// The stream's average frame rate (30 when the file does not say).
    pub fn fps(&self) -> f64 {
        self.fps
    }

    fn timestamp(&self, index: u64) -> Duration {
        match self.pts.get(index as usize) {
            Some(t) => *t,
            // More frames than packets (should not happen): continue at the nominal rate.
            None => {
                let last = self.pts.last().copied().unwrap_or_default();
                let extra = index + 1 - self.pts.len() as u64;
                last + Duration::from_secs_f64(extra as f64 / self.fps)
            }
        }
    }

    /// Waits for ffmpeg at the end of its output and turns anything it reported into an error.
    fn finish(&mut self, partial: usize) -> Result<Option<Frame>, SourceError> {
        self.finished = true;
        let status = self.child.wait().map_err(|source| SourceError::Io {
            path: self.path.clone(),
            source,
        })?;
        let lines = self
            .stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        let errors = tidy(lines.iter().map(String::as_str), &self.path, "");
        let truncated = |detail: String| SourceError::Truncated {
            path: self.path.clone(),
            frames: self.next,
            detail,
        };
        if partial > 0 {
            return Err(truncated(format!(
                "last frame has {partial} of {} bytes",
                self.frame_len()
            )));
        }
        if !status.success() || !errors.is_empty() {
            let detail = if errors.is_empty() {
                format!("ffmpeg {status}")
            } else {
                format!("ffmpeg: {errors}")
            };
            return Err(truncated(detail));
        }
        Ok(None)
    }

    fn frame_len(&self) -> usize {
        3 * self.width as usize * self.height as usize
    }
}

/// ffmpeg's messages on one line without what our error says already: the `[mov,mp4 @ 0x…]`
/// tags, the file name, repeats; `fallback` when nothing is left.
fn tidy<'a>(lines: impl IntoIterator<Item = &'a str>, path: &Path, fallback: &str) -> String {
    let name = path.display().to_string();
    let mut kept: Vec<&str> = Vec::new();
    for line in lines {
        let mut line = line.trim();
        if line.starts_with('[') {
            line = line.split_once("] ").map_or(line, |(_, rest)| rest);
        }
        line = line
            .strip_prefix(name.as_str())
            .and_then(|rest| rest.strip_prefix(": "))
            .unwrap_or(line);
        if !line.is_empty() && !kept.contains(&line) {
            kept.push(line);
        }
    }
    if kept.is_empty() {
        fallback.to_string()
    } else {
        kept.join("; ")
    }
}

impl FrameSource for VideoSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        if self.finished {
            return Ok(None);
        }
        let len = self.frame_len();
        let mut data = self.pool.pop().unwrap_or_default();
        data.resize(len, 0);
        let mut filled = 0;
        while filled < len {
            match self.stdout.read(&mut data[filled..]) {
                Ok(0) => return self.finish(filled),
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => {
                    self.finished = true;
                    return Err(SourceError::Io {
                        path: self.path.clone(),
                        source,
                    });
                }
            }
        }
        let sequence = self.next;
        self.next += 1;
        Ok(Some(Frame {
            data,
            format: PixelFormat::Rgb24,
            width: self.width,
            height: self.height,
            stride: 3 * self.width as usize,
            yuv: YuvMode::default(),
            timestamp: self.timestamp(sequence),
            sequence,
        }))
    }

    fn describe(&self) -> String {
        format!(
            "{} ({}x{}, {} frames at {:.3} fps)",
            self.path.display(),
            self.width,
            self.height,
            self.pts.len(),
            self.fps
        )
    }

    fn is_live(&self) -> bool {
        false
    }

    fn len_hint(&self) -> Option<u64> {
        Some(self.pts.len() as u64)
    }

    fn recycle(&mut self, frame: Frame) {
        if self.pool.len() < 2 {
            self.pool.push(frame.data);
        }
    }
}

impl Drop for VideoSource {
    fn drop(&mut self) {
        if !self.finished {
            // Stopped early: ffmpeg would block on the full pipe forever.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
