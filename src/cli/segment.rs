//! `bodyzone segment INPUT [--model general|landscape] [--precision f32] --mask OUT.png
//! [--overlay OUT.png] [--effect blur|bokeh|replace:IMAGE] [--max-pixels N]`
//!
//! A directory goes on past an image that cannot be read and lists every such image at the end
//! (exit code 2). Outputs that would overwrite an input or each other are refused up front.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use bodyzone::files::{self, DecodeLimits, PlannedOutput};
use bodyzone::model::{ModelKind, Precision};
use bodyzone::segment::{Segmentation, Segmenter, SegmenterConfig, render};
use image::{DynamicImage, RgbImage, Rgba};
use indicatif::{ProgressBar, ProgressStyle};

use super::batch::{self, Failures};

#[derive(clap::Args)]
pub struct Args {
    /// An image (JPEG, PNG, WebP…) or a directory of images.
    input: PathBuf,
    /// general (256×256) or landscape (144×256).
    #[arg(long, default_value = "general", value_parser = |s: &str| ModelKind::parse_among(s, &ModelKind::SELFIE))]
    model: ModelKind,
    /// f32, f16 or int8.
    #[arg(long, default_value = "f32")]
    precision: Precision,
    /// Load this ONNX file instead of the embedded model.
    #[arg(long)]
    model_path: Option<PathBuf>,
    /// Where the mask goes: 8-bit grey PNG of the input's size, person probability × 255.
    /// A directory when INPUT is one.
    #[arg(long)]
    mask: PathBuf,
    /// Also write the image with the mask drawn over it (or the --effect). A directory when INPUT is one.
    #[arg(long)]
    overlay: Option<PathBuf>,
    /// What the overlay shows: the mask tint (default), `blur` (background blurred), `bokeh`,
    /// or `replace:IMAGE` (background replaced by IMAGE).
    #[arg(long, requires = "overlay")]
    effect: Option<Effect>,
    /// Refuse images of more pixels than this, from their header (a 12 MP photo is 12000000).
    #[arg(long, value_name = "N", default_value_t = DecodeLimits::DEFAULT_MAX_PIXELS,
          value_parser = clap::value_parser!(u64).range(1..))]
    max_pixels: u64,
}

#[derive(Clone, Debug)]
enum Effect {
    Blur,
    Bokeh,
    Replace(PathBuf),
}

impl std::str::FromStr for Effect {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "blur" => Ok(Effect::Blur),
            "bokeh" => Ok(Effect::Bokeh),
            _ => match s.strip_prefix("replace:") {
                Some(path) if !path.is_empty() => Ok(Effect::Replace(PathBuf::from(path))),
                _ => Err(format!("`{s}`: expected blur, bokeh or replace:IMAGE")),
            },
        }
    }
}

/// The overlay as its user asked for it, with the replacement background loaded once.
enum Overlay {
    Tint,
    Blur,
    Bokeh,
    Replace(RgbImage),
}

impl Overlay {
    fn draw(&self, image: &RgbImage, people: &[Segmentation]) -> Result<RgbImage, render::Error> {
        const THRESHOLD: f32 = 0.5;
        match self {
            Overlay::Tint => {
                // TF.js demo colours: people untouched, the background dimmed, a contour around them.
                let tint = render::to_binary_mask(
                    people,
                    Rgba([0, 0, 0, 0]),
                    Rgba([0, 0, 0, 255]),
                    true,
                    THRESHOLD,
                )?;
                render::draw_mask(image, &tint, 0.7, 3, false)
            }
            Overlay::Blur => render::draw_bokeh_effect(image, people, THRESHOLD, 15, 3, false),
            Overlay::Bokeh => render::draw_bokeh_effect(image, people, THRESHOLD, 3, 3, false),
            Overlay::Replace(background) => {
                render::replace_background(image, people, background, THRESHOLD, 3)
            }
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let limits = DecodeLimits {
        max_pixels: args.max_pixels,
    };
    let jobs = jobs(&args)?;
    let overlay = match &args.effect {
        None => Overlay::Tint,
        Some(Effect::Blur) => Overlay::Blur,
        Some(Effect::Bokeh) => Overlay::Bokeh,
        Some(Effect::Replace(path)) => Overlay::Replace(files::load_rgb_limited(path, &limits)?),
    };
    let batch = args.input.is_dir();
    if batch {
        for dir in std::iter::once(&args.mask).chain(&args.overlay) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("{}: cannot create output directory", dir.display()))?;
        }
    }
    let mut segmenter = Segmenter::new(SegmenterConfig {
        model: args.model,
        precision: args.precision,
        model_path: args.model_path.clone(),
    })?;
    let progress = if batch {
        ProgressBar::new(jobs.len() as u64).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} {wide_msg}")
                .expect("valid template"),
        )
    } else {
        ProgressBar::hidden()
    };
    batch::log_above(&progress);
    let mut failures = Failures::default();
    for job in &jobs {
        progress.set_message(job.input.display().to_string());
        // What is wrong with one input is reported at the end; what is wrong with the outputs
        // (a full disk) would be wrong for the next too, and stops the batch.
        let segmented = files::load_rgb_limited(&job.input, &limits)
            .map_err(anyhow::Error::from)
            .and_then(|image| {
                let people = segmenter
                    .segment_people(&image)
                    .with_context(|| format!("{}", job.input.display()))?;
                Ok((image, people))
            });
        let (image, people) = match segmented {
            Ok(segmented) => segmented,
            Err(err) if batch => {
                failures.add(&err);
                progress.inc(1);
                continue;
            }
            Err(err) => return Err(err),
        };
        let mask = people[0].mask.to_gray_image();
        files::save_image(&job.mask, &DynamicImage::ImageLuma8(mask))?;
        if let Some(path) = &job.overlay {
            let picture = overlay
                .draw(&image, &people)
                .with_context(|| format!("{}: drawing the overlay", job.input.display()))?;
            files::save_image(path, &DynamicImage::ImageRgb8(picture))?;
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    failures.finish(jobs.len())?;
    Ok(ExitCode::SUCCESS)
}

struct Job {
    input: PathBuf,
    mask: PathBuf,
    overlay: Option<PathBuf>,
}

/// The files to process, checked before any model is loaded or anything is written.
fn jobs(args: &Args) -> anyhow::Result<Vec<Job>> {
    let meta = std::fs::metadata(&args.input)
        .with_context(|| format!("{}: cannot read input", args.input.display()))?;
    let jobs = if meta.is_dir() {
        let inputs = files::image_files(&args.input)
            .with_context(|| format!("{}: cannot list directory", args.input.display()))?;
        if inputs.is_empty() {
            bail!(
                "{}: no images (expected .jpg, .png, .webp…)",
                args.input.display()
            );
        }
        inputs
            .into_iter()
            .map(|input| {
                let name = Path::new(input.file_stem().expect("listed files have names"))
                    .with_extension("png");
                Job {
                    mask: args.mask.join(&name),
                    overlay: args.overlay.as_ref().map(|dir| dir.join(&name)),
                    input,
                }
            })
            .collect()
    } else {
        vec![Job {
            input: args.input.clone(),
            mask: args.mask.clone(),
            overlay: args.overlay.clone(),
        }]
    };
    check_outputs(args, &jobs, meta.is_dir())?;
    Ok(jobs)
}

/// Refuses masks and overlays that would overwrite an input (an image, the replacement background,
/// the model) or each other (`a.jpg` and `a.png` both giving `a.png`).
fn check_outputs(args: &Args, jobs: &[Job], batch: bool) -> anyhow::Result<()> {
    let mut inputs: Vec<&Path> = jobs.iter().map(|job| job.input.as_path()).collect();
    if let Some(Effect::Replace(background)) = &args.effect {
        inputs.push(background);
    }
    inputs.extend(args.model_path.as_deref());
    let by = |flag: &str, job: &Job| {
        if batch {
            format!("{flag} for {}", job.input.display())
        } else {
            flag.to_string()
        }
    };
    let outputs: Vec<PlannedOutput> = jobs
        .iter()
        .flat_map(|job| {
            let mask = PlannedOutput {
                path: job.mask.clone(),
                by: by("--mask", job),
            };
            let overlay = job.overlay.as_ref().map(|path| PlannedOutput {
                path: path.clone(),
                by: by("--overlay", job),
            });
            std::iter::once(mask).chain(overlay)
        })
        .collect();
    Ok(files::check_outputs(&inputs, &outputs)?)
}
