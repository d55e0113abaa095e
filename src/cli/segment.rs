//! `bodyzone segment INPUT [--model general|landscape] [--precision f32] --mask OUT.png
//! [--overlay OUT.png] [--effect blur|bokeh|replace:IMAGE]`

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use bodyzone::files;
use bodyzone::model::{ModelKind, Precision};
use bodyzone::segment::{Segmentation, Segmenter, SegmenterConfig, render};
use image::{DynamicImage, RgbImage, Rgba};
use indicatif::{ProgressBar, ProgressStyle};

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
    let overlay = match &args.effect {
        None => Overlay::Tint,
        Some(Effect::Blur) => Overlay::Blur,
        Some(Effect::Bokeh) => Overlay::Bokeh,
        Some(Effect::Replace(path)) => Overlay::Replace(files::load_rgb(path)?),
    };
    let jobs = jobs(&args)?;
    let mut segmenter = Segmenter::new(SegmenterConfig {
        model: args.model,
        precision: args.precision,
        model_path: args.model_path.clone(),
    })?;
    let progress = if args.input.is_dir() {
        ProgressBar::new(jobs.len() as u64).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} {wide_msg}")
                .expect("valid template"),
        )
    } else {
        ProgressBar::hidden()
    };
    for job in &jobs {
        progress.set_message(job.input.display().to_string());
        let image = files::load_rgb(&job.input)?;
        let people = segmenter
            .segment_people(&image)
            .with_context(|| format!("{}", job.input.display()))?;
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
    if !meta.is_dir() {
        return Ok(vec![Job {
            input: args.input.clone(),
            mask: args.mask.clone(),
            overlay: args.overlay.clone(),
        }]);
    }
    let inputs = files::image_files(&args.input)
        .with_context(|| format!("{}: cannot list directory", args.input.display()))?;
    if inputs.is_empty() {
        bail!(
            "{}: no images (expected .jpg, .png, .webp…)",
            args.input.display()
        );
    }
    create_dir(&args.mask)?;
    if let Some(dir) = &args.overlay {
        create_dir(dir)?;
    }
    Ok(inputs
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
        .collect())
}

fn create_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{}: cannot create output directory", dir.display()))
}
