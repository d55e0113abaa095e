//! `bodyzone run`: the edge loop on a camera, a pipe, a file or the synthetic figure, driving
//! every configured output: events (JSON lines), GPIO pins, a display, and systemd's readiness
//! and watchdog notifications.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use bodyzone::body::SKELETON;
use bodyzone::config::Config;
use bodyzone::exercise::events::{Event, EventSink, SinkError};
use bodyzone::output::display::{self, Display, DisplayState};
use bodyzone::output::events::{EventLog, JsonLines};
use bodyzone::output::gpio::GpioOutput;
use bodyzone::output::notify::Notifier;
use bodyzone::process;
use bodyzone::runner::{
    self, FrameOutputFailed, FrameResult, Output, Pipeline, RunOptions, RunSummary,
};
use bodyzone::source::{self, OpenOptions, SourceSpec};
use tracing::warn;

#[derive(clap::Args)]
pub struct Args {
    /// The config file (zones, models, outputs); see `bodyzone::config` for every key.
    #[arg(long, short, default_value = "bodyzone.toml")]
    config: PathBuf,
    /// Frames from: /dev/video0, v4l2:/dev/video0[:fmt=YUYV], stdin:yuv420:640x480, an image, a
    /// directory of images, a video file, or `synthetic`. Overrides `[source] input`.
    #[arg(long, short)]
    source: Option<String>,
    /// Append events (JSON lines) to this file as they happen, creating it if missing; a FIFO
    /// or a device works too (default, or `-`: stdout). Overrides `[output] events`.
    #[arg(long)]
    events: Option<PathBuf>,
    /// Pace file sources by their timestamps, as a camera would deliver them.
    #[arg(long)]
    realtime: bool,
    /// Log lines on stderr: `text` (no colours unless stderr is a terminal; under systemd,
    /// without timestamps and with journald priorities) or `json` (one object per line).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// How log lines look on stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    init_logging_as(args.log_format);
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
    // Before the source and the models: a bad path fails at once, not after a minute of loading.
    let events = match args.events.or_else(|| config.output.events.clone()) {
        Some(path) if path != Path::new("-") => {
            let log = EventLog::open(&path, config.output.events_sync)?;
            if log.is_same_file(&args.config) {
                anyhow::bail!(
                    "{}: is the config file {}: events need a file of their own",
                    path.display(),
                    args.config.display()
                );
            }
            Events::Log(log)
        }
        _ => Events::Stdout,
    };
    let realtime = args.realtime || config.source.realtime;
    execute(&config, &spec, events, realtime, None)?;
    Ok(ExitCode::SUCCESS)
}

/// Where `execute` writes the events.
pub(crate) enum Events {
    /// Streamed to stdout.
    Stdout,
    /// Appended to a log, already open.
    Log(EventLog),
}

/// What `bodyzone demo` does with each frame as the display would show it, and its result.
pub(crate) type DrawFrame<'a> =
    dyn FnMut(&DisplayState<'_>, &FrameResult) -> anyhow::Result<()> + 'a;

/// Opens the source and the outputs, loads the models and runs the loop, events to `events`.
/// Shared with `bodyzone demo`, which draws each frame in `per_frame`.
pub(crate) fn execute(
    config: &Config,
    spec: &SourceSpec,
    mut events: Events,
    realtime: bool,
    mut per_frame: Option<&mut DrawFrame<'_>>,
) -> anyhow::Result<RunSummary> {
    // The first SIGINT/SIGTERM stops after the current frame (and ends a realtime wait); a
    // second one drives the pins safe and exits at once.
    let shutdown = process::Shutdown::install().context("installing the SIGINT/SIGTERM handler")?;
    let opts = OpenOptions {
        realtime,
        frame_timeout: config.source.frame_timeout,
        limits: config.source.limits,
        stop: shutdown.flag(),
        ..OpenOptions::default()
    };
    let source = source::open_unstarted(spec, &opts)?;
    let progress = matches!(source, source::Opened::Pull(_));
    // Pins first: they go to their safe level as soon as they are requested.
    process::install_panic_hook();
    let mut gpio = if config.output.gpio.is_empty() {
        None
    } else {
        Some(GpioOutput::open(config.output.gpio.clone()).context("[[output.gpio]]")?)
    };
    let mut display = match &config.output.display {
        Some(display) => Some(Display::open(display).context("[output.display]")?),
        None => None,
    };
    let systemd = match Notifier::from_env() {
        Ok(notifier) => notifier.map(Systemd::new),
        Err(err) => {
            warn!("not notifying systemd: {err}");
            None
        }
    };
    let mut pipeline = Pipeline::new(config).context("loading the models")?;
    let mut stdout = JsonLines::new(std::io::stdout().lock());
    let events_sink: &mut dyn EventSink = match &mut events {
        Events::Stdout => &mut stdout,
        Events::Log(log) => log,
    };
    let mut watchdog = systemd.as_ref().map(Watchdog);
    // The events first: the watchdog's ping for a frame then says its events are written.
    let mut outputs = vec![Output::required("events", events_sink)];
    outputs.extend(gpio.as_mut().map(|g| Output::best_effort("gpio", g)));
    outputs.extend(watchdog.as_mut().map(|w| Output::best_effort("systemd", w)));

    let options = RunOptions {
        stop: shutdown.flag(),
        progress,
        full_frames: display.is_some() || per_frame.is_some(),
        ..RunOptions::default()
    };
    let mut fps = FpsMeter::default();
    let mut drawing_error = None;
    let summary = runner::run_with(
        source,
        &mut pipeline,
        &mut outputs,
        &options,
        &mut |image, result, coach| {
            let now = Instant::now();
            let fps = fps.frame(now);
            let keypoints = result
                .body
                .as_ref()
                .map(|body| display::keypoints(body, result.frame_size))
                .unwrap_or_default();
            let zones = display::zone_views(coach);
            let state = DisplayState {
                frame: image,
                mask: result.mask.as_deref(),
                keypoints: &keypoints,
                skeleton: &SKELETON,
                zones: &zones,
                fps,
                ..DisplayState::focus(coach)
            };
            let display_failed = display.as_mut().and_then(|display| {
                display.update(&state, now);
                display.take_failure()
            });
            if let Some(systemd) = &systemd {
                systemd.frame(&state, now);
            }
            if drawing_error.is_none() {
                if let Some(per_frame) = &mut per_frame {
                    drawing_error = per_frame(&state, result).err();
                }
            }
            display_failed.map(|error| FrameOutputFailed {
                output: "display",
                error,
            })
        },
    )?;
    if let Some(systemd) = &systemd {
        systemd.stopping();
    }
    if let Some(err) = drawing_error {
        return Err(err);
    }
    if let Events::Log(log) = events {
        log.close()?;
    }
    Ok(summary)
}

/// Frames per second over the last few frames (wall clock: what the loop really achieves).
#[derive(Default)]
struct FpsMeter {
    times: VecDeque<Instant>,
}

impl FpsMeter {
    const WINDOW: usize = 16;

    fn frame(&mut self, now: Instant) -> f32 {
        if self.times.len() == Self::WINDOW {
            self.times.pop_front();
        }
        self.times.push_back(now);
        match (self.times.front(), self.times.len()) {
            (Some(&first), n) if n > 1 && now > first => {
                (n - 1) as f32 / (now - first).as_secs_f32()
            }
            _ => 0.0,
        }
    }
}

/// systemd's side of the loop: `READY=1` with the first frame (the models are loaded by then),
/// `STATUS=` when the zone, pose or rep count changes and otherwise every few seconds (for the
/// frame rate), and, through [`Watchdog`], `WATCHDOG=1` on every pass of the
/// loop. A failing socket is reported once, not every frame.
struct Systemd {
    notifier: Notifier,
    ready: Cell<bool>,
    next_status: Cell<Option<Instant>>,
    headline: RefCell<String>,
    failing: Cell<bool>,
}

impl Systemd {
    const STATUS_EVERY: Duration = Duration::from_secs(2);

    fn new(notifier: Notifier) -> Self {
        Self {
            notifier,
            ready: Cell::new(false),
            next_status: Cell::new(None),
            headline: RefCell::new(String::new()),
            failing: Cell::new(false),
        }
    }

    fn frame(&self, state: &DisplayState<'_>, now: Instant) {
        let headline = display::status_headline(state);
        let changed = *self.headline.borrow() != headline;
        let due = self.next_status.get().is_none_or(|at| now >= at);
        if !(changed || due) {
            return;
        }
        self.headline.replace(headline);
        self.next_status.set(Some(now + Self::STATUS_EVERY));
        let status = display::status_line(state);
        if self.ready.replace(true) {
            self.check(self.notifier.status(&status));
        } else {
            self.check(self.notifier.ready(&status));
        }
    }

    fn stopping(&self) {
        self.check(self.notifier.stopping());
    }

    fn check(&self, sent: Result<(), bodyzone::output::notify::Error>) {
        match sent {
            Ok(()) => self.failing.set(false),
            Err(err) => {
                if !self.failing.replace(true) {
                    warn!("systemd notification failed: {err}");
                }
            }
        }
    }
}

/// Pings the watchdog on every pass of the loop: each frame, and each "no frame yet" while a
/// lost camera reconnects (the loop is alive; restarting it would not bring the camera back).
struct Watchdog<'a>(&'a Systemd);

impl EventSink for Watchdog<'_> {
    fn event(&mut self, _: &Event) -> Result<(), SinkError> {
        Ok(())
    }

    fn tick(&mut self, _timestamp_ms: u64) -> Result<(), SinkError> {
        // Before READY=1 the start timeout is in charge, not the watchdog.
        if self.0.ready.get() {
            self.0.check(self.0.notifier.watchdog());
        }
        Ok(())
    }

    fn source_lost(&mut self) -> Result<(), SinkError> {
        self.0
            .check(self.0.notifier.status("camera lost, reconnecting"));
        Ok(())
    }
}

/// Status lines on stderr as text; `RUST_LOG` chooses the level (default `info`).
pub(crate) fn init_logging() {
    init_logging_as(LogFormat::Text);
}

/// Status lines on stderr in `format`; `RUST_LOG` chooses the level (default `info`).
/// Whether logs are JSON lines: then the final error is one too.
pub(crate) fn json_logs() -> bool {
    JSON_LOGS.load(std::sync::atomic::Ordering::Relaxed)
}

static JSON_LOGS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub(crate) fn init_logging_as(format: LogFormat) {
    JSON_LOGS.store(
        format == LogFormat::Json,
        std::sync::atomic::Ordering::Relaxed,
    );
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    // Another command (or a test) may have installed one already: keep it.
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text if journal::is_stderr() => builder
            .with_ansi(false)
            .event_format(journal::Prefixed(
                tracing_subscriber::fmt::format().without_time(),
            ))
            .try_init(),
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
}

/// Text logs into the journal: journald stamps each line itself, and reads a `<N>` prefix as
/// the line's syslog priority (so `journalctl -p warning` works).
mod journal {
    use std::fmt;
    use std::os::unix::fs::MetadataExt;

    use tracing::{Event, Level, Subscriber};
    use tracing_subscriber::fmt::format::Writer;
    use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
    use tracing_subscriber::registry::LookupSpan;

    /// Whether stderr is the journal stream systemd connected (`$JOURNAL_STREAM` holds its
    /// `device:inode`; a child whose stderr was redirected elsewhere inherits the variable).
    pub(super) fn is_stderr() -> bool {
        let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
            return false;
        };
        std::fs::metadata("/proc/self/fd/2")
            .is_ok_and(|meta| matches(&stream.to_string_lossy(), meta.dev(), meta.ino()))
    }

    pub(super) fn matches(stream: &str, dev: u64, ino: u64) -> bool {
        stream
            .split_once(':')
            .is_some_and(|(d, i)| d.parse() == Ok(dev) && i.parse() == Ok(ino))
    }

    pub(super) fn priority(level: &Level) -> u8 {
        match *level {
            Level::ERROR => 3,
            Level::WARN => 4,
            Level::INFO => 6,
            _ => 7,
        }
    }

    /// Another event format with the priority prefix in front.
    pub(super) struct Prefixed<F>(pub(super) F);

    impl<S, N, F> FormatEvent<S, N> for Prefixed<F>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
        N: for<'a> FormatFields<'a> + 'static,
        F: FormatEvent<S, N>,
    {
        fn format_event(
            &self,
            ctx: &FmtContext<'_, S, N>,
            mut writer: Writer<'_>,
            event: &Event<'_>,
        ) -> fmt::Result {
            write!(writer, "<{}>", priority(event.metadata().level()))?;
            self.0.format_event(ctx, writer, event)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_stream_is_device_colon_inode() {
        assert!(journal::matches("2049:123456", 2049, 123456));
        assert!(!journal::matches("2049:123456", 2049, 7));
        assert!(!journal::matches("garbage", 2049, 123456));
        assert_eq!(journal::priority(&tracing::Level::WARN), 4);
        assert_eq!(journal::priority(&tracing::Level::TRACE), 7);
    }

    #[test]
    fn fps_is_over_the_recent_frames() {
        let mut meter = FpsMeter::default();
        let t = Instant::now();
        assert_eq!(meter.frame(t), 0.0);
        for i in 1..=40 {
            let fps = meter.frame(t + Duration::from_millis(100 * i));
            assert!((fps - 10.0).abs() < 0.01, "{fps}");
        }
    }
}
