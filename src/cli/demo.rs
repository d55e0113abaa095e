//! `bodyzone demo`: the squat clip with the demo config; events plus annotated frames.
//!
//! The clip (`tests/fixtures/squats_mirrored.mp4`, 680 kB) is embedded in the binary, so the demo
//! works from a fresh clone and from an installed binary alike; only `ffmpeg` is needed to decode
//! it, as for any video source.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use bodyzone::config::{Config, DEMO_TOML};
use bodyzone::exercise::events::EventKind;
use bodyzone::output::display::{Canvas, DisplayState, render_panel};
use bodyzone::output::events::EventLog;
use bodyzone::source::SourceSpec;
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::{RgbColor, Size};
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
    // Emptied, not appended to: each demo is a batch whose output is this run's alone, like the
    // frames it overwrites.
    let events = args.out.join("events.jsonl");
    let log = EventLog::create(&events, config.output.events_sync)?;
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
    let mut reps = 0;
    let mut index = 0;
    let summary = super::run::execute(
        &config,
        &SourceSpec::Path(clip),
        super::run::Events::Log(log),
        false,
        Some(&mut |state, result| {
            reps += result
                .events
                .iter()
                .filter(|e| e.kind == EventKind::Rep)
                .count();
            let frame = annotate(state);
            let path = args.out.join(format!("frame_{index:04}.png"));
            index += 1;
            bodyzone::files::save_image(&path, &image::DynamicImage::ImageRgb8(frame))?;
            Ok(())
        }),
    )?;
    println!("{} frames, {reps} squats counted", summary.frames);
    println!("events:           {}", events.display());
    println!(
        "annotated frames: {} … frame_{:04}.png",
        args.out.join("frame_0000.png").display(),
        index.max(1) - 1
    );
    Ok(ExitCode::SUCCESS)
}

/// The frame at half size as a display shows it: zones (coloured by their state), the
/// skeleton, and the status bar with the pose and the rep count.
fn annotate(state: &DisplayState<'_>) -> RgbImage {
    let (width, height) = state.frame.map_or((0, 0), |f| f.dimensions());
    let mut canvas = Canvas::new(Size::new(width / 2, height / 2), Rgb888::BLACK);
    match render_panel(state, &mut canvas) {
        Ok(()) => canvas.to_rgb_image(),
        Err(never) => match never {},
    }
}
