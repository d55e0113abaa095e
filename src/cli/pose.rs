//! `bodyzone pose INPUT [--model lite|full|heavy] [--static] --json OUT.json
//! [--mask OUT.png | --mask-dir DIR] [--overlay OUT]`
//!
//! INPUT is an image, a video file (decoded by an `ffmpeg` subprocess, see `source::VideoSource`)
//! or a directory of frames (taken in natural name order at 30 fps). Videos and frame directories
//! are tracked (MediaPipe's video mode, smoothing on, timestamps from the file, 33.3 ms steps for a
//! directory) unless `--static`; a single image is always static.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use bodyzone::body::SKELETON;
use bodyzone::files;
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

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let meta = std::fs::metadata(&args.input)
        .with_context(|| format!("{}: cannot read input", args.input.display()))?;
    let single_image = !meta.is_dir() && files::is_image_path(&args.input);
    let mut source: Box<dyn FrameSource> = if meta.is_dir() {
        Box::new(ImageSource::directory(&args.input, 30.0)?)
    } else if single_image {
        Box::new(ImageSource::image(&args.input)?)
    } else {
        Box::new(VideoSource::open(&args.input)?)
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
        for dir in args.mask_dir.iter().chain(&args.overlay) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("{}: cannot create output directory", dir.display()))?;
        }
        Outputs::PerFrame {
            mask_dir: args.mask_dir.clone(),
            overlay_dir: args.overlay.clone(),
        }
    };
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

    let progress = match source.len_hint() {
        Some(n) if n > 1 => ProgressBar::new(n).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}").expect("valid template"),
        ),
        _ => ProgressBar::hidden(),
    };
    let mut frames = Vec::new();
    let mut index = 0u64;
    // Source errors name the file already.
    while let Some(frame) = source.next_frame()? {
        let image = frame
            .to_rgb_image()
            .with_context(|| format!("{}: frame {index}", source.describe()))?;
        let timestamp = frame.timestamp;
        source.recycle(frame);
        let poses = estimator
            .estimate_poses(&image, Some(timestamp))
            .with_context(|| format!("{}: frame {index}", source.describe()))?;
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
        frames.push(FrameJson {
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
        index += 1;
        progress.inc(1);
    }
    progress.finish_and_clear();
    write_json(&args.json, &frames)?;
    Ok(ExitCode::SUCCESS)
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
