//! `bodyzone run`: the edge loop on a camera, a pipe, a file or the synthetic figure.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use bodyzone::config::Config;
use bodyzone::files::AtomicFile;
use bodyzone::output::events::{EventSink, JsonLines};
use bodyzone::runner::{self, FrameResult, Pipeline, RunOptions, RunSummary};
use bodyzone::source::{self, OpenOptions, SourceSpec};
use image::RgbImage;

#[derive(clap::Args)]
pub struct Args {
    /// The config file (zones, models, outputs); see `bodyzone::config` for every key.
    #[arg(long, short, default_value = "bodyzone.toml")]
    config: PathBuf,
    /// Frames from: /dev/video0, v4l2:/dev/video0[:fmt=YUYV], stdin:yuv420:640x480, an image, a
    /// directory of images, a video file, or `synthetic`. Overrides `[source] input`.
    #[arg(long, short)]
    source: Option<String>,
    /// Write events (JSON lines) to this file, complete when the run ends (stdout, the default
    /// or `-`, streams them live). Overrides `[output] events`.
    #[arg(long)]
    events: Option<PathBuf>,
    /// Pace file sources by their timestamps, as a camera would deliver them.
    #[arg(long)]
    realtime: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    init_logging();
    let config = Config::load(&args.config)?;
    let spec = match &args.source {
        Some(text) => text.parse::<SourceSpec>()?,
        None => config.source.input.clone().with_context(|| {
            format!(
                "no source: give --source, or [source] input in {}",
                args.config.display()
            )
        })?,
    };
    let events = args.events.or_else(|| config.output.events.clone());
    let realtime = args.realtime || config.source.realtime;
    execute(&config, &spec, events.as_deref(), realtime, &mut |_, _| {
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Opens the source, loads the models and runs the loop, events to `events` (stdout when
/// `None` or `-`). Shared with `bodyzone demo`, which draws each frame in `per_frame`.
pub(crate) fn execute(
    config: &Config,
    spec: &SourceSpec,
    events: Option<&Path>,
    realtime: bool,
    per_frame: &mut dyn FnMut(&RgbImage, &FrameResult) -> anyhow::Result<()>,
) -> anyhow::Result<RunSummary> {
    let opts = OpenOptions {
        realtime,
        frame_timeout: config.source.frame_timeout,
        ..OpenOptions::default()
    };
    let source = source::open(spec, &opts)?;
    let progress = !source.is_live();
    let mut pipeline = Pipeline::new(config).context("loading the models")?;
    let mut file = match events {
        Some(path) if path != Path::new("-") => Some(AtomicFile::create(path)?),
        _ => None,
    };
    let mut out: Box<dyn Write + '_> = match file.as_mut() {
        Some(file) => Box::new(file),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut json = JsonLines::new(&mut out);
    let mut sinks: Vec<&mut dyn EventSink> = vec![&mut json];
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // The first signal stops after the current frame; a second one exits at once.
        signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&stop))?;
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    let options = RunOptions {
        stop,
        progress,
        ..RunOptions::default()
    };
    let mut drawing_error = None;
    let summary = runner::run_with(
        source,
        &mut pipeline,
        &mut sinks,
        &options,
        &mut |image, result| {
            if drawing_error.is_none() {
                drawing_error = per_frame(image, result).err();
            }
        },
    )?;
    if let Some(err) = drawing_error {
        return Err(err);
    }
    drop(out);
    if let Some(file) = file {
        file.commit()?;
    }
    Ok(summary)
}

/// Status lines on stderr; `RUST_LOG` chooses the level (default `info`).
pub(crate) fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Another command (or a test) may have installed one already: keep it.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .try_init();
}
