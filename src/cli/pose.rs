//! `bodyzone pose INPUT [--model lite|full|heavy] [--static] --json OUT.json
//! [--mask OUT.png | --mask-dir DIR] [--overlay OUT]`
//!
//! INPUT is an image, a video file (decoded by an `ffmpeg` subprocess, see `source::VideoSource`)
//! or a directory of frames (taken in natural name order at 30 fps). Videos and frame directories
//! are tracked (MediaPipe's video mode, smoothing on, timestamps from the file, 33.3 ms steps for a
//! directory) unless `--static`; a single image is always static.
//!
//! A frame directory goes on past an image that cannot be read and lists every such image at the
//! end (exit code 2). Outputs that would overwrite an input or each other are refused up front.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use bodyzone::body::SKELETON;
use bodyzone::files::{self, DecodeLimits, PlannedOutput};
use bodyzone::frame::Mask;
use bodyzone::model::{ModelKind, Precision};
use bodyzone::output::display::{Canvas, DisplayState, render_scene};
use bodyzone::pose::{Keypoint, Pose, PoseEstimator, PoseEstimatorConfig};
use bodyzone::source::{FrameSource, ImageSource, VideoSource};
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::{RgbColor, Size};
use image::{DynamicImage, GrayImage, RgbImage};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::batch::{self, Failures};

#[derive(clap::Args)]
pub struct Args {
    /// An image, a video file or a directory of frames.
    input: PathBuf,
    /// Landmark model: lite, full or heavy.
    #[arg(long, default_value = "full", value_parser = |s: &str| ModelKind::parse_among(s, &ModelKind::POSE_LANDMARKS))]
    model: ModelKind,
    /// Run the detector on every frame, without tracking or smoothing.
    #[arg(long = "static")]
    static_mode: bool,
    /// f32, f16 or int8.
    #[arg(long, default_value = "f32")]
    precision: Precision,
    /// Landmark ONNX file instead of the embedded or installed one.
    #[arg(long)]
    model_path: Option<PathBuf>,
    /// Detector ONNX file instead of the embedded one.
    #[arg(long)]
    detector_path: Option<PathBuf>,
    /// Keypoints of every frame: `[{"frame", "timestamp_ms", "poses": [...]}, ...]`.
    #[arg(long)]
    json: PathBuf,
    /// Person mask of a single image: 8-bit grey PNG of the input's size, probability × 255.
    #[arg(long, conflicts_with = "mask_dir")]
    mask: Option<PathBuf>,
    /// One mask per frame, `DIR/<frame>.png` (frame numbers zero-padded to 5 digits).
    #[arg(long)]
    mask_dir: Option<PathBuf>,
    /// Skeleton and mask tint over the picture: a PNG for an image, a directory of
    /// `<frame>.png` for a video or a frame directory.
    #[arg(long)]
    overlay: Option<PathBuf>,
    /// Refuse images of more pixels than this, from their header (a 12 MP photo is 12000000).
    #[arg(long, value_name = "N", default_value_t = DecodeLimits::DEFAULT_MAX_PIXELS,
          value_parser = clap::value_parser!(u64).range(1..))]
    max_pixels: u64,
}

/// One entry of the JSON output.
#[derive(Serialize)]
struct FrameJson {
    frame: u64,
    timestamp_ms: f64,
    poses: Vec<PoseJson>,
}

#[derive(Serialize)]
struct PoseJson {
    score: f32,
    keypoints: Vec<Keypoint>,
    #[serde(rename = "keypoints3D")]
    keypoints_3d: Vec<Keypoint>,
}

/// Where a frame's pictures go.
enum Outputs {
    Single {
        mask: Option<PathBuf>,
        overlay: Option<PathBuf>,
    },
    PerFrame {
        mask_dir: Option<PathBuf>,
        overlay_dir: Option<PathBuf>,
    },
}

impl Outputs {
    /// Every file written for `frames` frames, with the flag asking for it and `input(frame)`.
    fn planned(&self, frames: u64, input: impl Fn(u64) -> String) -> Vec<PlannedOutput> {
        let (mask, overlay) = match self {
            Outputs::Single { .. } => ("--mask", "--overlay"),
            Outputs::PerFrame { .. } => ("--mask-dir", "--overlay"),
        };
        (0..frames)
            .flat_map(|frame| {
                let (mask_path, overlay_path) = self.paths(frame);
                let by = |flag: &str| match self {
                    Outputs::Single { .. } => flag.to_string(),
                    Outputs::PerFrame { .. } => format!("{flag} for {}", input(frame)),
                };
                let mask_path = mask_path.map(|path| PlannedOutput { path, by: by(mask) });
                let overlay_path = overlay_path.map(|path| PlannedOutput {
                    path,
                    by: by(overlay),
                });
                mask_path.into_iter().chain(overlay_path)
            })
            .collect()
    }

    fn paths(&self, frame: u64) -> (Option<PathBuf>, Option<PathBuf>) {
        match self {
            Outputs::Single { mask, overlay } => (mask.clone(), overlay.clone()),
            Outputs::PerFrame {
                mask_dir,
                overlay_dir,
            } => {
                let name = format!("{frame:05}.png");
                (
                    mask_dir.as_ref().map(|d| d.join(&name)),
                    overlay_dir.as_ref().map(|d| d.join(&name)),
                )
            }
        }
    }
}

/// The frame rate a directory of frames is taken at.
const DIRECTORY_FPS: f64 = 30.0;

/// Where the frames come from: image files, loaded here so that one bad file can be skipped, or
/// a video.
enum Frames {
    Files(Vec<PathBuf>),
    Video(VideoSource),
}

impl Frames {
    fn count(&self) -> u64 {
        match self {
            Frames::Files(paths) => paths.len() as u64,
            Frames::Video(video) => video.len_hint().unwrap_or(0),
        }
    }

    /// The input frame `index` comes from, for messages.
    fn describe(&self, index: u64) -> String {
        match self {
            Frames::Files(paths) => paths[index as usize].display().to_string(),
            Frames::Video(video) => format!("{}: frame {index}", video.describe()),
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let limits = DecodeLimits {
        max_pixels: args.max_pixels,
    };
    let meta = std::fs::metadata(&args.input)
        .with_context(|| format!("{}: cannot read input", args.input.display()))?;
    let batch = meta.is_dir();
    let single_image = !batch && files::is_image_path(&args.input);
    let mut frames = if batch {
        Frames::Files(
            ImageSource::directory(&args.input, DIRECTORY_FPS)?
                .files()
                .to_vec(),
        )
    } else if single_image {
        Frames::Files(ImageSource::image(&args.input)?.files().to_vec())
    } else {
        Frames::Video(VideoSource::open(&args.input, &limits)?)
    };
    let outputs = if single_image {
        if args.mask_dir.is_some() {
            bail!(
                "--mask-dir is for videos and frame directories; use --mask OUT.png for an image"
            );
        }
        Outputs::Single {
            mask: args.mask.clone(),
            overlay: args.overlay.clone(),
        }
    } else {
        if args.mask.is_some() {
            bail!(
                "{}: several frames: use --mask-dir DIR instead of --mask",
                args.input.display()
            );
        }
        Outputs::PerFrame {
            mask_dir: args.mask_dir.clone(),
            overlay_dir: args.overlay.clone(),
        }
    };
    check_outputs(&args, &frames, &outputs)?;
    if !single_image {
        for dir in args.mask_dir.iter().chain(&args.overlay) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("{}: cannot create output directory", dir.display()))?;
        }
    }
    let wants_mask = args.mask.is_some() || args.mask_dir.is_some() || args.overlay.is_some();
    let mut estimator = PoseEstimator::new(PoseEstimatorConfig {
        model: args.model,
        enable_segmentation: wants_mask,
        static_image_mode: args.static_mode || single_image,
        precision: args.precision,
        detector_model_path: args.detector_path.clone(),
        landmark_model_path: args.model_path.clone(),
        ..Default::default()
    })?;

    let progress = match frames.count() {
        n if n > 1 => ProgressBar::new(n).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}").expect("valid template"),
        ),
        _ => ProgressBar::hidden(),
    };
    batch::log_above(&progress);
    let interval = Duration::from_secs_f64(1.0 / DIRECTORY_FPS);
    let mut failures = Failures::default();
    let mut json = Vec::new();
    for index in 0u64.. {
        let (image, timestamp) = match &mut frames {
            Frames::Files(paths) => {
                let Some(path) = paths.get(index as usize) else {
                    break;
                };
                match files::load_rgb_limited(path, &limits) {
                    Ok(image) => (image, interval * index as u32),
                    Err(err) if batch => {
                        failures.add(&err.into());
                        progress.inc(1);
                        continue;
                    }
                    Err(err) => return Err(err.into()),
                }
            }
            Frames::Video(video) => {
                // Source errors name the file already.
                let Some(frame) = video.next_frame()? else {
                    break;
                };
                let image = frame
                    .to_rgb_image()
                    .with_context(|| format!("{}: frame {index}", video.describe()))?;
                let timestamp = frame.timestamp;
                video.recycle(frame);
                (image, timestamp)
            }
        };
        let poses = match estimator.estimate_poses(&image, Some(timestamp)) {
            Ok(poses) => poses,
            Err(err) => {
                let err = anyhow::Error::from(err).context(frames.describe(index));
                if !batch {
                    return Err(err);
                }
                failures.add(&err);
                progress.inc(1);
                continue;
            }
        };
        let (mask_path, overlay_path) = outputs.paths(index);
        if let Some(path) = mask_path {
            let mask = poses
                .first()
                .and_then(|p| p.segmentation.as_ref())
                .map_or_else(
                    || GrayImage::new(image.width(), image.height()),
                    Mask::to_gray_image,
                );
            files::save_image(&path, &DynamicImage::ImageLuma8(mask))?;
        }
        if let Some(path) = overlay_path {
            let picture = overlay(&image, &poses);
            files::save_image(&path, &DynamicImage::ImageRgb8(picture))?;
        }
        json.push(FrameJson {
            frame: index,
            timestamp_ms: timestamp.as_secs_f64() * 1e3,
            poses: poses
                .into_iter()
                .map(|p| PoseJson {
                    score: p.score,
                    keypoints: p.keypoints,
                    keypoints_3d: p.keypoints_3d,
                })
                .collect(),
        });
        progress.inc(1);
    }
    progress.finish_and_clear();
    write_json(&args.json, &json)?;
    failures.finish(frames.count() as usize)?;
    Ok(ExitCode::SUCCESS)
}

/// Refuses a JSON, mask or overlay that would overwrite an input (a frame, the video, a model) or
/// another output.
fn check_outputs(args: &Args, frames: &Frames, outputs: &Outputs) -> anyhow::Result<()> {
    let mut inputs: Vec<&Path> = match frames {
        Frames::Files(paths) => paths.iter().map(PathBuf::as_path).collect(),
        Frames::Video(_) => vec![&args.input],
    };
    inputs.extend(args.model_path.as_deref());
    inputs.extend(args.detector_path.as_deref());
    let mut planned = vec![PlannedOutput {
        path: args.json.clone(),
        by: "--json".into(),
    }];
    planned.extend(outputs.planned(frames.count(), |frame| frames.describe(frame)));
    Ok(files::check_outputs(&inputs, &planned)?)
}

fn write_json(path: &Path, frames: &[FrameJson]) -> anyhow::Result<()> {
    files::write_atomic(path, |out| {
        serde_json::to_writer(&mut *out, frames).map_err(std::io::Error::other)?;
        out.write_all(b"\n")
    })?;
    Ok(())
}

/// The picture with the person tinted (mask probability as opacity) and the skeleton on top,
/// drawn as the display draws a frame.
fn overlay(image: &RgbImage, poses: &[Pose]) -> RgbImage {
    let (width, height) = image.dimensions();
    let mut canvas = Canvas::new(Size::new(width, height), Rgb888::BLACK);
    let person = poses.first();
    let state = DisplayState {
        frame: Some(image),
        mask: person.and_then(|p| p.segmentation.as_ref()),
        keypoints: person.map_or(&[], |p| &p.keypoints),
        skeleton: &SKELETON,
        ..DisplayState::default()
    };
    match render_scene(&state, &mut canvas) {
        Ok(()) => canvas.to_rgb_image(),
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_frame_outputs_are_numbered() {
        let out = Outputs::PerFrame {
            mask_dir: Some("m".into()),
            overlay_dir: None,
        };
        assert_eq!(out.paths(7), (Some(PathBuf::from("m/00007.png")), None));
    }
}
