//! `bodyzone selftest`: whether what a config names works on this board. Each model the config
//! uses must load and find the person in a built-in picture as it did where the binary was
//! made (mask IoU against a golden embedded beside it), the camera must deliver a frame in
//! time, each GPIO line must be grantable, and the display must take a picture.
//!
//! Prints one row per check (name, result, milliseconds, detail) and exits 0 when all pass,
//! 1 when any fails (2 stays for a config that cannot be read).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use bodyzone::config::Config;
use bodyzone::frame::Mask;
use bodyzone::model::ModelKind;
use bodyzone::output::display::{self, DisplayState};
use bodyzone::output::gpio;
use bodyzone::pose::{PoseEstimator, PoseEstimatorConfig};
use bodyzone::segment::{Segmenter, SegmenterConfig};
use bodyzone::source::{self, OpenOptions, SourceSpec};
use image::RgbImage;

#[derive(clap::Args)]
pub struct Args {
    /// The config whose models, camera, GPIO lines and display are checked.
    #[arg(long, short, default_value = "bodyzone.toml")]
    config: PathBuf,
}

/// The built-in picture: frame 20 of the squat clip (`tests/fixtures/squat_frame20.jpg`, from a
/// TF.js test video, Apache-2.0), area-downscaled to 144×256.
const PERSON: &[u8] = include_bytes!("selftest/person.png");

/// A mask must overlap its golden at least this much (threshold 0.5 on both).
const MIN_IOU: f32 = 0.99;

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let checks = checks(&config);
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:width$}  {:6}  {:>6}  detail",
        "check", "result", "ms"
    )?;
    let mut failed = 0;
    for check in checks {
        let started = Instant::now();
        let outcome = (check.run)();
        let ms = started.elapsed().as_millis();
        let (result, detail) = match &outcome {
            Outcome::Pass(detail) => ("pass", detail),
            Outcome::Fail(detail) => ("FAIL", detail),
            Outcome::Skip(detail) => ("skip", detail),
        };
        failed += usize::from(matches!(outcome, Outcome::Fail(_)));
        writeln!(out, "{:width$}  {result:6}  {ms:>6}  {detail}", check.name)?;
        out.flush()?;
    }
    if failed == 0 {
        writeln!(out, "all checks passed")?;
        Ok(ExitCode::SUCCESS)
    } else {
        writeln!(out, "{failed} check(s) failed")?;
        Ok(ExitCode::from(1))
    }
}

enum Outcome {
    Pass(String),
    Fail(String),
    /// Nothing to check (no camera in the config).
    Skip(String),
}

impl From<anyhow::Result<String>> for Outcome {
    fn from(result: anyhow::Result<String>) -> Self {
        match result {
            Ok(detail) => Outcome::Pass(detail),
            Err(err) => Outcome::Fail(crate::one_line(&err)),
        }
    }
}

struct Check<'a> {
    name: String,
    run: Box<dyn FnOnce() -> Outcome + 'a>,
}

/// Every check `config` calls for, in the order they run.
fn checks(config: &Config) -> Vec<Check<'_>> {
    let mut checks = Vec::new();
    for kind in [config.model.segmentation, config.model.pose]
        .into_iter()
        .flatten()
    {
        checks.push(Check {
            name: format!("model {kind}"),
            run: Box::new(move || check_model(kind).into()),
        });
    }
    checks.push(match &config.source.input {
        Some(spec @ SourceSpec::V4l2(v4l2)) => Check {
            name: format!("camera {}", v4l2.device.display()),
            run: Box::new(move || check_camera(spec, config).into()),
        },
        _ => Check {
            name: "camera".into(),
            run: Box::new(|| Outcome::Skip("no camera in [source] input".into())),
        },
    });
    for (i, (address, rule)) in config.output.gpio.iter().enumerate() {
        checks.push(Check {
            name: format!("gpio[{i}] {address}"),
            run: Box::new(move || {
                gpio::open(address, rule.safe_level())
                    .map(|_| {
                        format!(
                            "granted as an output, at its safe level ({:?})",
                            rule.safe_level()
                        )
                    })
                    .map_err(anyhow::Error::from)
                    .into()
            }),
        });
    }
    if let Some(display) = &config.output.display {
        checks.push(Check {
            name: format!("display {}", display::describe(display)),
            run: Box::new(move || check_display(display).into()),
        });
    }
    checks
}

/// The mask `kind` gave for [`PERSON`] when the binary was made
/// (`BODYZONE_BLESS=1 cargo test --bin bodyzone selftest` rewrites them); `None` for a network
/// without one.
fn golden(kind: ModelKind) -> Option<&'static [u8]> {
    Some(match kind {
        ModelKind::SelfieGeneral => include_bytes!("selftest/selfie_segmentation.png"),
        ModelKind::SelfieLandscape => include_bytes!("selftest/selfie_segmentation_landscape.png"),
        ModelKind::PoseLite => include_bytes!("selftest/pose_landmark_lite.png"),
        ModelKind::PoseFull => include_bytes!("selftest/pose_landmark_full.png"),
        ModelKind::PoseHeavy => include_bytes!("selftest/pose_landmark_heavy.png"),
        ModelKind::PoseDetector => return None,
    })
}

/// The person mask of `image`, at its size: the selfie model's, or BlazePose's (detector,
/// landmarks and segmentation, on the image alone, no tracking).
fn mask(kind: ModelKind, image: &RgbImage) -> anyhow::Result<Mask> {
    if ModelKind::SELFIE.contains(&kind) {
        let mut segmenter = Segmenter::new(SegmenterConfig {
            model: kind,
            ..SegmenterConfig::default()
        })?;
        let people = segmenter.segment_people(image)?;
        return Ok(people
            .into_iter()
            .next()
            .context("the model gave no mask")?
            .mask);
    }
    let mut estimator = PoseEstimator::new(PoseEstimatorConfig {
        model: kind,
        enable_smoothing: false,
        enable_segmentation: true,
        static_image_mode: true,
        ..PoseEstimatorConfig::default()
    })?;
    let person = estimator
        .estimate_poses(image, None)?
        .into_iter()
        .next()
        .context("no person found in the built-in picture")?;
    person.segmentation.context("the model gave no mask")
}

fn person() -> RgbImage {
    image::load_from_memory(PERSON)
        .expect("the built-in picture is a valid PNG")
        .to_rgb8()
}

fn golden_mask(golden: &[u8]) -> Mask {
    let gray = image::load_from_memory(golden)
        .expect("the built-in goldens are valid PNGs")
        .to_luma8();
    Mask::from_gray(&gray)
}

fn check_model(kind: ModelKind) -> anyhow::Result<String> {
    let golden = golden(kind).with_context(|| format!("{kind} is not a checked model"))?;
    let mask = mask(kind, &person())?;
    let iou = iou(&mask, &golden_mask(golden));
    anyhow::ensure!(
        iou >= MIN_IOU,
        "mask IoU {iou:.4} with the built-in golden, below {MIN_IOU}: this build computes \
         differently from the one that made it"
    );
    Ok(format!("mask IoU {iou:.4} with the built-in golden"))
}

/// Intersection over union of the two masks thresholded at 0.5; 1 when both are empty.
fn iou(a: &Mask, b: &Mask) -> f32 {
    if (a.width(), a.height()) != (b.width(), b.height()) {
        return 0.0;
    }
    let (mut both, mut either) = (0usize, 0usize);
    for (&p, &q) in a.probabilities().iter().zip(b.probabilities()) {
        let (p, q) = (p >= 0.5, q >= 0.5);
        both += usize::from(p && q);
        either += usize::from(p || q);
    }
    if either == 0 {
        1.0
    } else {
        both as f32 / either as f32
    }
}

fn check_camera(spec: &SourceSpec, config: &Config) -> anyhow::Result<String> {
    let opts = OpenOptions {
        frame_timeout: config.source.frame_timeout,
        ..OpenOptions::default()
    };
    let started = Instant::now();
    let mut camera = source::open(spec, &opts)?;
    let frame = camera
        .next_frame()?
        .context("the camera ended its stream before the first frame")?;
    Ok(format!(
        "{}: first frame {}x{} after {} ms",
        camera.describe(),
        frame.width,
        frame.height,
        started.elapsed().as_millis()
    ))
}

fn check_display(config: &bodyzone::output::display::DisplayConfig) -> anyhow::Result<String> {
    let mut panel = display::open(config)?;
    let image = person();
    let state = DisplayState {
        frame: Some(&image),
        zone: Some("selftest"),
        ..DisplayState::default()
    };
    panel.show(&state)?;
    Ok(format!("{} took a picture", panel.describe()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Each network's mask of the built-in picture matches its embedded golden, and the goldens
    /// are person-shaped: close to MediaPipe's own selfie mask of the full-size frame.
    /// `BODYZONE_BLESS=1` rewrites the goldens from this build.
    #[test]
    fn goldens_match_this_build() {
        let image = person();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cli/selftest");
        let reference = mediapipe_mask(&image);
        for kind in checked() {
            let mask = mask(kind, &image).unwrap();
            if std::env::var_os("BODYZONE_BLESS").is_some() {
                let path = dir.join(format!("{kind}.png"));
                mask.to_gray_image().save(&path).unwrap();
                continue;
            }
            let golden = golden_mask(golden(kind).unwrap());
            let iou = iou(&mask, &golden);
            assert!(iou >= MIN_IOU, "{kind}: IoU {iou} with the golden");
            let person = super::iou(&golden, &reference);
            assert!(person >= 0.8, "{kind}: IoU {person} with MediaPipe");
        }
    }

    /// The networks with a built-in golden: the selfie and the landmark models.
    fn checked() -> impl Iterator<Item = ModelKind> {
        ModelKind::SELFIE
            .into_iter()
            .chain(ModelKind::POSE_LANDMARKS)
    }

    /// MediaPipe's landscape mask of the full-size frame, sampled down to the picture's size.
    fn mediapipe_mask(image: &RgbImage) -> Mask {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/golden/squat_frame20.landscape.png");
        let full = image::open(&path).unwrap().to_luma8();
        let small = image::imageops::resize(
            &full,
            image.width(),
            image.height(),
            image::imageops::FilterType::Triangle,
        );
        Mask::from_gray(&small)
    }

    #[test]
    fn iou_counts_pixels_over_one_half() {
        let a = Mask::new(4, 1, vec![1.0, 1.0, 0.0, 0.0]);
        let b = Mask::new(4, 1, vec![1.0, 0.6, 0.6, 0.4]);
        assert!((iou(&a, &b) - 2.0 / 3.0).abs() < 1e-6);
        assert_eq!(iou(&a, &Mask::new(2, 2, vec![1.0; 4])), 0.0);
        assert_eq!(
            iou(&Mask::new(1, 1, vec![0.0]), &Mask::new(1, 1, vec![0.2])),
            1.0
        );
    }
}
