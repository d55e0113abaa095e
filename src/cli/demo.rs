//! `bodyzone demo`: the squat clip with the demo config; events plus annotated frames.
//!
//! The clip (`tests/fixtures/squats_mirrored.mp4`, 680 kB) is embedded in the binary, so the demo
//! works from a fresh clone and from an installed binary alike; only `ffmpeg` is needed to decode
//! it, as for any video source.

use std::collections::HashSet;
use std::convert::Infallible;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use bodyzone::config::{Config, DEMO_TOML};
use bodyzone::body::Posture;
use bodyzone::exercise::events::EventKind;
use bodyzone::body::SKELETON;
use bodyzone::runner::FrameResult;
use bodyzone::source::SourceSpec;
use embedded_graphics::mono_font::{MonoTextStyle, ascii::FONT_10X20};
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{Circle, Line, Polyline, PrimitiveStyle};
use embedded_graphics::text::Text;
use image::RgbImage;

/// A person doing squats in a gym, 720×1280 at 5 fps, 65 frames (TF.js test asset, mirrored;
/// Apache-2.0).
const CLIP: &[u8] = include_bytes!("../../tests/fixtures/squats_mirrored.mp4");

#[derive(clap::Args)]
pub struct Args {
    /// Run on this video instead of the bundled squat clip (the demo zone is the lower middle
    /// of the frame, for squats).
    #[arg(long)]
    clip: Option<PathBuf>,
    /// Directory for `events.jsonl` and the annotated frames `frame_NNNN.png`.
    #[arg(long, default_value = "bodyzone-demo")]
    out: PathBuf,
    /// Print the demo config and exit.
    #[arg(long)]
    print_config: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.print_config {
        print!("{DEMO_TOML}");
        return Ok(ExitCode::SUCCESS);
    }
    super::run::init_logging();
    let config = Config::default_demo();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("{}: cannot create directory", args.out.display()))?;
    // The embedded clip goes to a temporary file for ffmpeg; it is removed when `_unpacked` drops.
    let (clip, _unpacked) = match args.clip {
        Some(path) => (path, None),
        None => {
            let dir = tempfile::Builder::new()
                .prefix("bodyzone-demo")
                .tempdir()
                .context("unpacking the demo clip")?;
            let path = dir.path().join("squats_mirrored.mp4");
            std::fs::write(&path, CLIP)
                .with_context(|| format!("{}: unpacking the demo clip", path.display()))?;
            (path, Some(dir))
        }
    };
    let events = args.out.join("events.jsonl");
    let mut state = Overlay::default();
    let mut index = 0;
    let summary = super::run::execute(
        &config,
        &SourceSpec::Path(clip),
        Some(&events),
        false,
        Some(&mut |image, result| {
            let frame = state.draw(&config, image, result);
            let path = args.out.join(format!("frame_{index:04}.png"));
            index += 1;
            bodyzone::files::save_image(&path, &image::DynamicImage::ImageRgb8(frame))?;
            Ok(())
        }),
    )?;
    println!("{} frames, {} squats counted", summary.frames, state.reps);
    println!("events:           {}", events.display());
    println!(
        "annotated frames: {} … frame_{:04}.png",
        args.out.join("frame_0000.png").display(),
        index.max(1) - 1
    );
    Ok(ExitCode::SUCCESS)
}

/// What the annotation shows, updated from the events.
#[derive(Default)]
struct Overlay {
    inside: HashSet<String>,
    pose: Option<Posture>,
    reps: u32,
}

impl Overlay {
    /// A half-size copy of `image` with the zones (green when occupied), the skeleton, and the
    /// pose and rep count.
    fn draw(&mut self, config: &Config, image: &RgbImage, result: &FrameResult) -> RgbImage {
        for e in &result.events {
            match e.kind {
                EventKind::Enter => drop(self.inside.insert(e.zone.clone())),
                EventKind::Exit => drop(self.inside.remove(&e.zone)),
                EventKind::PoseStart => self.pose = e.pose,
                EventKind::PoseEnd => self.pose = None,
                EventKind::Rep => self.reps = e.reps.unwrap_or(self.reps),
            }
        }
        let (w, h) = (image.width() / 2, image.height() / 2);
        let mut canvas = Canvas(image::imageops::resize(
            image,
            w,
            h,
            image::imageops::FilterType::Triangle,
        ));
        let at = |p: [f32; 2]| Point::new((p[0] * w as f32) as i32, (p[1] * h as f32) as i32);
        for zone in &config.zones {
            let colour = if self.inside.contains(&zone.name) {
                Rgb888::GREEN
            } else {
                Rgb888::YELLOW
            };
            let mut points: Vec<Point> = zone.polygon.points().iter().map(|&p| at(p)).collect();
            points.push(points[0]);
            Polyline::new(&points)
                .into_styled(PrimitiveStyle::with_stroke(colour, 3))
                .draw(&mut canvas)
                .ok();
        }
        if let Some(body) = &result.body {
            let bone = PrimitiveStyle::with_stroke(Rgb888::CYAN, 2);
            for &(a, b) in &SKELETON {
                if body.visibility[a] >= 0.5 && body.visibility[b] >= 0.5 {
                    Line::new(at(body.image[a]), at(body.image[b]))
                        .into_styled(bone)
                        .draw(&mut canvas)
                        .ok();
                }
            }
            for (p, &v) in body.image.iter().zip(&body.visibility) {
                if v >= 0.5 {
                    Circle::with_center(at(*p), 5)
                        .into_styled(PrimitiveStyle::with_fill(Rgb888::RED))
                        .draw(&mut canvas)
                        .ok();
                }
            }
        }
        let label = format!("{}  reps {}", self.pose.map_or("-", Posture::name), self.reps);
        let style = MonoTextStyle::new(&FONT_10X20, Rgb888::WHITE);
        Text::new(&label, Point::new(10, 25), style)
            .draw(&mut canvas)
            .ok();
        canvas.0
    }
}

/// An RGB image as an embedded-graphics target.
struct Canvas(RgbImage);

impl OriginDimensions for Canvas {
    fn size(&self) -> Size {
        Size::new(self.0.width(), self.0.height())
    }
}

impl DrawTarget for Canvas {
    type Color = Rgb888;
    type Error = Infallible;

    fn draw_iter<I: IntoIterator<Item = Pixel<Rgb888>>>(
        &mut self,
        pixels: I,
    ) -> Result<(), Infallible> {
        for Pixel(p, c) in pixels {
            if p.x >= 0
                && p.y >= 0
                && (p.x as u32) < self.0.width()
                && (p.y as u32) < self.0.height()
            {
                self.0
                    .put_pixel(p.x as u32, p.y as u32, image::Rgb([c.r(), c.g(), c.b()]));
            }
        }
        Ok(())
    }
}
