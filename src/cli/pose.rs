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
use bodyzone::files::{self, DecodeLimits, PlannedOutput};
use bodyzone::model::Precision;
use bodyzone::pose::keypoints::SKELETON;
use bodyzone::pose::{Keypoint, Mask, Pose, PoseEstimator, PoseEstimatorConfig, PoseModel};
use bodyzone::segment::render;
use bodyzone::source::{FrameSource, ImageSource, VideoSource};
use image::{DynamicImage, GrayImage, Rgb, RgbImage, Rgba, RgbaImage};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::batch::{self, Failures};

#[derive(clap::Args)]
pub struct Args {
    /// An image, a video file or a directory of frames.
    input: PathBuf,
    /// Landmark model: lite, full or heavy.
    #[arg(long, default_value = "full")]
    model: PoseModel,
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
        Frames::Video(VideoSource::open(&args.input)?)
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
            let picture = overlay(&image, &poses)
                .with_context(|| format!("{}: drawing the overlay", path.display()))?;
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

/// Keypoints drawn only where the model thinks they are visible (the TF.js demo's threshold).
const DRAW_SCORE: f32 = 0.5;

/// The picture with the person tinted (mask probability as opacity) and the skeleton on top.
fn overlay(image: &RgbImage, poses: &[Pose]) -> Result<RgbImage, render::Error> {
    let (w, h) = image.dimensions();
    let mut tint = RgbaImage::new(w, h);
    for mask in poses.iter().filter_map(|p| p.segmentation.as_ref()) {
        for (px, &p) in tint.pixels_mut().zip(mask.probabilities()) {
            *px = Rgba([40, 200, 255, bodyzone::segment::to_u8(p)]);
        }
    }
    let mut out = render::draw_mask(image, &tint, 0.5, 0, false)?;
    let thickness = (w.max(h) / 300).max(2) as i64;
    for pose in poses {
        let kp = &pose.keypoints;
        for &(a, b) in &SKELETON {
            if kp[a].score >= DRAW_SCORE && kp[b].score >= DRAW_SCORE {
                draw_line(
                    &mut out,
                    (kp[a].x, kp[a].y),
                    (kp[b].x, kp[b].y),
                    thickness,
                    Rgb([255, 255, 255]),
                );
            }
        }
        for k in kp.iter().filter(|k| k.score >= DRAW_SCORE) {
            let colour = if k.name.starts_with("left") {
                Rgb([255, 140, 0])
            } else {
                Rgb([0, 220, 90])
            };
            draw_disc(&mut out, (k.x, k.y), thickness + 2, colour);
        }
    }
    Ok(out)
}

fn draw_disc(image: &mut RgbImage, (cx, cy): (f32, f32), radius: i64, colour: Rgb<u8>) {
    let (cx, cy) = (cx.round() as i64, cy.round() as i64);
    for y in cy - radius..=cy + radius {
        for x in cx - radius..=cx + radius {
            let inside = (x - cx).pow(2) + (y - cy).pow(2) <= radius * radius;
            if inside
                && x >= 0
                && y >= 0
                && x < i64::from(image.width())
                && y < i64::from(image.height())
            {
                image.put_pixel(x as u32, y as u32, colour);
            }
        }
    }
}

fn draw_line(
    image: &mut RgbImage,
    from: (f32, f32),
    to: (f32, f32),
    thickness: i64,
    colour: Rgb<u8>,
) {
    let steps = (to.0 - from.0)
        .abs()
        .max((to.1 - from.1).abs())
        .ceil()
        .max(1.0) as usize;
    for i in 0..=steps {
        let t = i as f32 / steps as f32;
        let p = (from.0 + (to.0 - from.0) * t, from.1 + (to.1 - from.1) * t);
        draw_disc(image, p, thickness / 2, colour);
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

    #[test]
    fn lines_stay_inside_the_image() {
        let mut img = RgbImage::new(10, 10);
        draw_line(&mut img, (-5.0, 5.0), (20.0, 5.0), 2, Rgb([255, 0, 0]));
        assert_eq!(*img.get_pixel(0, 5), Rgb([255, 0, 0]));
        assert_eq!(*img.get_pixel(9, 5), Rgb([255, 0, 0]));
        assert_eq!(*img.get_pixel(5, 0), Rgb([0, 0, 0]));
    }
}
