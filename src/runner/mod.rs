//! The edge loop: frames in, models, zones, poses and reps, events out.
//!
//! [`Pipeline`] is one frame's work: selfie segmentation and BlazePose (each optional, from
//! `[model]`), mask smoothing, skipping frames that barely changed, then the [`Coach`] that turns
//! the person into zone, pose and rep events. [`run`] drives a pipeline over a source: capture
//! and pixel conversion run on the source's one capture thread ([`Opened::start`]), so decoding
//! the next frame overlaps inference on this one — a camera keeps only the newest frame there, a
//! file or pipe waits for the loop; the buffers come back to that thread once analysed, so the
//! steady state allocates no frames. Events
//! go to every [`EventSink`]; a per-stage status line is logged through `tracing` every few
//! seconds.
//!
//! When nothing needs the full-size picture — the pose model off (BlazePose crops its regions
//! from the full frame) and no [`RunOptions::full_frames`] (a display or an annotated video
//! draws the camera picture) — each camera buffer is converted and resized in one pass straight
//! into the segmentation model's input ([`ModelInput::fill_raw`]): no full-size RGB frame is
//! made. Otherwise frames are converted whole and the segmenter samples its input from them;
//! both give the model the same tensor, bit for bit ([`Converter::to_tensor`]).
//!
//! When the source reports a transient error (a camera reconnecting) every occupied zone is
//! left at once (`pose_end`, `exit`) and every sink hears [`EventSink::source_lost`], so outputs
//! go to their safe state while there is no picture; the loop keeps asking for frames, and
//! [`EventSink::source_back`] comes before the first one's events.
//!
//! ## Examples
//!
//! ```no_run
//! use bodyzone::config::Config;
//! use bodyzone::output::events::JsonLines;
//! use bodyzone::runner::{Output, Pipeline, RunOptions, run};
//! use bodyzone::source::{self, OpenOptions};
//!
//! let config = Config::default_demo();
//! let source = source::open_unstarted(&"clip.mp4".parse().unwrap(), &OpenOptions::default()).unwrap();
//! let mut pipeline = Pipeline::new(&config).unwrap();
//! let mut events = JsonLines::new(std::io::stdout());
//! let mut outputs = [Output::required("events", &mut events)];
//! let summary = run(source, &mut pipeline, &mut outputs, &RunOptions::default()).unwrap();
//! println!("{} frames, {} events", summary.frames, summary.events);
//! ```

mod capture;
mod picture;
mod pipeline;
mod still;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use image::RgbImage;
use tracing::{info, warn};

use crate::exercise::Coach;
use crate::exercise::events::{Event, EventKind, EventSink, SinkError};
use crate::frame::Converter;
use crate::model::ModelError;
use crate::pose::PoseError;
use crate::source::{Opened, SourceError};
use capture::{Convert, Converted};
pub use pipeline::{FrameResult, Pipeline, StageMs};

/// Why the loop stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A model could not be loaded or run.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The pose estimator failed.
    #[error(transparent)]
    Pose(#[from] PoseError),
    /// The source failed for good (file truncated, device gone without reconnecting).
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A thread of the loop could not start, or panicked (a bug); the message says where.
    #[error("{thread} thread failed: {message}")]
    Thread {
        thread: &'static str,
        message: String,
    },
    /// An output whose failure stops the run failed (the events log: disk full, closed pipe).
    #[error("{output}: {source}")]
    Sink {
        output: &'static str,
        source: SinkError,
    },
}

/// How [`run`] behaves.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Set from a signal handler to stop after the current frame.
    pub stop: Arc<AtomicBool>,
    /// Show a progress bar when the source knows its length.
    pub progress: bool,
    /// Seconds between status lines.
    pub status_every: Duration,
    /// Convert every frame to a full-size RGB image for the per-frame callback (it draws the
    /// camera picture). Without it, and with the pose model off, frames go straight into the
    /// segmentation model's input and the callback sees `None`.
    pub full_frames: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            stop: Arc::new(AtomicBool::new(false)),
            progress: false,
            status_every: Duration::from_secs(5),
            full_frames: false,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSummary {
    pub frames: u64,
    pub events: u64,
    /// Frames the source dropped because the loop was slower than the camera.
    pub dropped: u64,
    /// Frames whose analysis was skipped as unchanged.
    pub skipped: u64,
    pub elapsed: Duration,
}

/// The per-frame callback of [`run_with`]: the full-size picture when there is one, the frame's
/// result, the zones after it; returns an output it drives that began to fail.
pub type PerFrame<'a> =
    dyn FnMut(Option<&RgbImage>, &FrameResult, &Coach) -> Option<FrameOutputFailed> + 'a;

/// Runs `pipeline` over `source` until it ends or `opts.stop` is set. `per_frame` sees every
/// frame's result and where the zones stand after it, with the full-size picture when there is
/// one ([`RunOptions::full_frames`] makes sure there is), and says when an output it drives began
/// to fail; events go to every output in order, and each output's [`OnFailure`] says what its
/// failure does.
pub fn run_with(
    source: impl Into<Opened>,
    pipeline: &mut Pipeline,
    outputs: &mut [Output<'_>],
    opts: &RunOptions,
    per_frame: &mut PerFrame<'_>,
) -> Result<RunSummary, RunError> {
    let one_pass = pipeline.one_pass_input().filter(|_| !opts.full_frames);
    let conversion = if one_pass.is_some() {
        "one pass into the model input"
    } else {
        "full frames"
    };
    let stage = Convert {
        converter: Converter::new(),
        one_pass,
    };
    let mut live = source.into().start(stage).map_err(|err| match err {
        SourceError::Io { source, .. } => RunError::Thread {
            thread: "capture",
            message: source.to_string(),
        },
        err => err.into(),
    })?;
    info!(source = %live.name(), live = live.is_live(), conversion, "starting");
    let len = live.len_hint();
    let describe = live.name().to_owned();
    let bar = match (opts.progress, len) {
        (true, Some(n)) => indicatif::ProgressBar::new(n).with_style(
            indicatif::ProgressStyle::with_template(
                "{wide_bar} {pos}/{len} frames, {per_sec}, {eta} left",
            )
            .expect("a valid template"),
        ),
        _ => indicatif::ProgressBar::hidden(),
    };
    let started = Instant::now();
    let mut summary = RunSummary::default();
    let mut window = (Instant::now(), 0u64, StageMs::default());
    let mut last = Moment::default();
    let mut lost = false;
    let ended = loop {
        if opts.stop.load(Ordering::Relaxed) {
            break Ok(());
        }
        let captured = match live.next_item() {
            Ok(Some(c)) => c,
            Ok(None) => break Ok(()),
            Err(err) if err.is_transient() => {
                let events = pipeline.leave_all(last.frame, last.time);
                deliver(outputs, &events, last, &mut summary)?;
                if !std::mem::replace(&mut lost, true) {
                    warn!("{err}; zones cleared and outputs safe until frames come back");
                    let lost = [last.event(EventKind::SourceLost, err.to_string())];
                    deliver(outputs, &lost, last, &mut summary)?;
                    each_output(outputs, last, &mut summary, false, |sink| {
                        sink.source_lost()
                    })?;
                }
                continue;
            }
            Err(err) => break Err(err),
        };
        if std::mem::take(&mut lost) {
            let at = Moment {
                frame: captured.sequence,
                time: captured.timestamp,
            };
            each_output(outputs, at, &mut summary, false, |sink| sink.source_back())?;
            let back = [at.event(EventKind::SourceRestored, describe.clone())];
            deliver(outputs, &back, at, &mut summary)?;
        }
        let mut result = pipeline.analyse(
            captured.frame.picture(),
            captured.sequence,
            captured.timestamp,
        )?;
        result.times.convert = captured.convert_ms;
        last = Moment {
            frame: captured.sequence,
            time: captured.timestamp,
        };
        summary.frames += 1;
        summary.dropped = live.dropped();
        summary.skipped += u64::from(result.skipped);
        deliver(outputs, &result.events, last, &mut summary)?;
        let image = match &captured.frame {
            Converted::Full(image) => Some(image),
            Converted::Input(_) => None,
        };
        if let Some(failed) = per_frame(image, &result, pipeline.coach()) {
            let detail = format!("{}: {}", failed.output, failed.error);
            deliver(
                outputs,
                &[last.event(EventKind::OutputFailed, detail)],
                last,
                &mut summary,
            )?;
        }
        live.recycle_item(captured);
        bar.inc(1);

        window.1 += 1;
        window.2 = StageMs {
            convert: window.2.convert + result.times.convert,
            segment: window.2.segment + result.times.segment,
            pose: window.2.pose + result.times.pose,
            decide: window.2.decide + result.times.decide,
        };
        if window.0.elapsed() >= opts.status_every {
            let n = window.1 as f32;
            // Suspended, the bar is redrawn below the line instead of through it.
            bar.suspend(|| {
                info!(
                    fps = format!("{:.1}", n / window.0.elapsed().as_secs_f32()),
                    convert_ms = format!("{:.1}", window.2.convert / n),
                    segment_ms = format!("{:.1}", window.2.segment / n),
                    pose_ms = format!("{:.1}", window.2.pose / n),
                    decide_ms = format!("{:.2}", window.2.decide / n),
                    dropped = summary.dropped,
                    skipped = summary.skipped,
                    "status"
                )
            });
            window = (Instant::now(), 0, StageMs::default());
        }
    };
    bar.finish_and_clear();
    // However the run ends, the zones are left: the exits reach the outputs before the error.
    let events = pipeline.leave_all(last.frame, last.time);
    deliver(outputs, &events, last, &mut summary)?;
    match ended {
        Ok(()) => {}
        // A panic on the capture thread is a bug that must end the run with its message, never
        // look like the end of the input.
        Err(SourceError::Panicked { message, .. }) => {
            return Err(RunError::Thread {
                thread: "capture",
                message,
            });
        }
        Err(err) => return Err(err.into()),
    }
    summary.elapsed = started.elapsed();
    info!(
        frames = summary.frames,
        events = summary.events,
        dropped = summary.dropped,
        fps = format!(
            "{:.1}",
            summary.frames as f32 / summary.elapsed.as_secs_f32().max(1e-3)
        ),
        "finished"
    );
    Ok(summary)
}

/// [`run_with`] without a per-frame callback.
pub fn run(
    source: impl Into<Opened>,
    pipeline: &mut Pipeline,
    outputs: &mut [Output<'_>],
    opts: &RunOptions,
) -> Result<RunSummary, RunError> {
    run_with(source, pipeline, outputs, opts, &mut |_, _, _| None)
}

/// What a failing output means for the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnFailure {
    /// The run stops with the error: an events log that cannot be written would count reps no
    /// one ever sees.
    Stop,
    /// The failure is logged and the run goes on: a flaky pin or display must not stop
    /// detection (and GPIO retries its writes itself).
    Continue,
}

/// An output the loop feeds, by name (for the logs and events), and what its failure means.
pub struct Output<'a> {
    pub name: &'static str,
    pub sink: &'a mut dyn EventSink,
    pub on_failure: OnFailure,
    /// Failing now: the failure was reported once and is not reported again every frame.
    failing: bool,
}

impl<'a> Output<'a> {
    /// An output whose failure stops the run.
    pub fn required(name: &'static str, sink: &'a mut dyn EventSink) -> Output<'a> {
        Output {
            name,
            sink,
            on_failure: OnFailure::Stop,
            failing: false,
        }
    }

    /// An output whose failure is logged, reported as an `output_failed` event to the others,
    /// and skipped.
    pub fn best_effort(name: &'static str, sink: &'a mut dyn EventSink) -> Output<'a> {
        Output {
            name,
            sink,
            on_failure: OnFailure::Continue,
            failing: false,
        }
    }

    /// Applies this output's [`OnFailure`] to the result of one call; the first failure of a
    /// best-effort output adds an `output_failed` event to `failed`.
    /// A success only counts as recovery when `recovers` (a frame's events and tick went
    /// through, not merely a call that writes nothing).
    fn check(
        &mut self,
        result: Result<(), SinkError>,
        recovers: bool,
        at: Moment,
        failed: &mut Vec<Event>,
    ) -> Result<(), RunError> {
        match (result, self.on_failure) {
            (Ok(()), _) => {
                self.failing &= !recovers;
                Ok(())
            }
            (Err(source), OnFailure::Stop) => Err(RunError::Sink {
                output: self.name,
                source,
            }),
            (Err(err), OnFailure::Continue) => {
                if !std::mem::replace(&mut self.failing, true) {
                    warn!(output = self.name, "{err}; carrying on without it");
                    let detail = format!("{}: {err}", self.name);
                    failed.push(at.event(EventKind::OutputFailed, detail));
                }
                Ok(())
            }
        }
    }
}

/// An output the per-frame callback drives (the display) began to fail: the runner reports it to
/// the other outputs as an `output_failed` event, once per run of failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameOutputFailed {
    pub output: &'static str,
    pub error: String,
}

/// Where in the stream something happened: the frame and its time.
#[derive(Clone, Copy, Debug, Default)]
struct Moment {
    frame: u64,
    time: Duration,
}

impl Moment {
    fn event(self, kind: EventKind, detail: String) -> Event {
        Event::system(self.time.as_millis() as u64, self.frame, kind, detail)
    }
}

/// Calls `call` on every output, then delivers the `output_failed` events it caused; see
/// [`Output::check`] for `recovers`.
fn each_output(
    outputs: &mut [Output<'_>],
    at: Moment,
    summary: &mut RunSummary,
    recovers: bool,
    mut call: impl FnMut(&mut dyn EventSink) -> Result<(), SinkError>,
) -> Result<(), RunError> {
    let mut failed = Vec::new();
    for output in outputs.iter_mut() {
        let result = call(output.sink);
        output.check(result, recovers, at, &mut failed)?;
    }
    if failed.is_empty() {
        return Ok(());
    }
    deliver(outputs, &failed, at, summary)
}

/// Gives `events` to every output, then a tick.
fn deliver(
    outputs: &mut [Output<'_>],
    events: &[Event],
    at: Moment,
    summary: &mut RunSummary,
) -> Result<(), RunError> {
    summary.events += events.len() as u64;
    let timestamp_ms = at.time.as_millis() as u64;
    each_output(outputs, at, summary, true, |sink| {
        events.iter().try_for_each(|event| sink.event(event))?;
        sink.tick(timestamp_ms)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::frame::{Frame, Mask};
    use crate::source::FrameSource;

    fn person() -> RgbImage {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/squat_frame20.jpg"
        );
        crate::files::load_rgb(path.as_ref()).unwrap()
    }

    fn pipeline(toml: &str) -> Pipeline {
        let zone = "[[zone]]\nname = \"mat\"\npolygon = [[0.2, 0.65], [0.8, 0.65], [0.8, 0.9]]\n";
        Pipeline::new(&Config::parse_str(&format!("{toml}\n{zone}")).unwrap()).unwrap()
    }

    fn at(i: u64) -> Duration {
        Duration::from_millis(100 * i)
    }

    /// Ready-made frames, as a file source would deliver them.
    struct Frames(std::vec::IntoIter<Frame>);

    impl FrameSource for Frames {
        fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
            Ok(self.0.next())
        }

        fn describe(&self) -> String {
            "test frames".into()
        }

        fn is_live(&self) -> bool {
            false
        }
    }

    /// `image` (even width) as a YUYV camera buffer: BT.601 limited range, each pixel pair's
    /// chroma averaged.
    fn yuyv(image: &RgbImage, sequence: u64) -> Frame {
        let yuv = |p: &image::Rgb<u8>| {
            let [r, g, b] = p.0.map(f32::from);
            let y = 0.299 * r + 0.587 * g + 0.114 * b;
            [
                16.0 + y * 219.0 / 255.0,
                128.0 + (b - y) / 1.772 * 224.0 / 255.0,
                128.0 + (r - y) / 1.402 * 224.0 / 255.0,
            ]
        };
        let data = image
            .pixels()
            .collect::<Vec<_>>()
            .chunks_exact(2)
            .flat_map(|pair| {
                let (a, b) = (yuv(pair[0]), yuv(pair[1]));
                [a[0], (a[1] + b[1]) / 2.0, b[0], (a[2] + b[2]) / 2.0].map(|c| c.round() as u8)
            })
            .collect();
        Frame {
            data,
            format: crate::frame::PixelFormat::Yuyv,
            width: image.width(),
            height: image.height(),
            stride: 2 * image.width() as usize,
            yuv: crate::frame::YuvMode::Bt601Limited,
            timestamp: at(sequence),
            sequence,
        }
    }

    /// What the per-frame callback saw of one frame.
    struct Seen {
        /// It got the full-size picture.
        picture: bool,
        mask: Option<Arc<Mask>>,
        skipped: bool,
    }

    /// Runs `images` as YUYV camera buffers.
    fn run_frames(toml: &str, full_frames: bool, images: &[RgbImage]) -> Vec<Seen> {
        let frames = images.iter().zip(0..).map(|(image, i)| yuyv(image, i));
        let mut seen = Vec::new();
        let opts = RunOptions {
            full_frames,
            ..RunOptions::default()
        };
        run_with(
            Frames(frames.collect::<Vec<_>>().into_iter()),
            &mut pipeline(toml),
            &mut [],
            &opts,
            &mut |picture, result, _| {
                assert_eq!(result.frame_size, images[0].dimensions());
                seen.push(Seen {
                    picture: picture.is_some(),
                    mask: result.mask.clone(),
                    skipped: result.skipped,
                });
                None
            },
        )
        .unwrap();
        seen
    }

    /// The person a few pixels to the left: the mask's uncertain edges move.
    fn shifted(image: &RgbImage) -> RgbImage {
        RgbImage::from_fn(image.width(), image.height(), |x, y| {
            *image.get_pixel((x + 12).min(image.width() - 1), y)
        })
    }

    #[test]
    fn pose_off_converts_camera_buffers_straight_into_the_model_input() {
        let image = person();
        let images = [image.clone(), shifted(&image)];
        let pose_off = "[model]\npose = \"off\"\n[smoothing]\nmask = 0.5";
        let one_pass = run_frames(pose_off, false, &images);
        assert!(
            one_pass.iter().all(|s| !s.picture),
            "no full-size picture was made"
        );
        let two_step = run_frames(pose_off, true, &images);
        assert!(two_step.iter().all(|s| s.picture));
        // The model saw the same tensor both ways, so the (smoothed) masks are the same bits.
        let masks = |seen: &[Seen]| {
            seen.iter()
                .map(|s| s.mask.clone().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(masks(&one_pass), masks(&two_step));

        let pose_on = run_frames("[model]\npose = \"lite\"", false, &images);
        assert!(
            pose_on.iter().all(|s| s.picture),
            "BlazePose crops the full frame"
        );
    }

    #[test]
    fn skip_unchanged_works_on_the_model_input() {
        let image = person();
        let mut noisy = image.clone();
        noisy
            .pixels_mut()
            .for_each(|p| p[1] = p[1].saturating_add(2));
        let images = [image.clone(), noisy, shifted(&image), image];
        let toml = "[model]\npose = \"off\"\n[smoothing]\nskip_unchanged = 0.01";
        let seen = run_frames(toml, false, &images);
        assert!(seen.iter().all(|s| !s.picture));
        let skipped: Vec<bool> = seen.iter().map(|s| s.skipped).collect();
        assert_eq!(skipped, [false, true, false, false]);
    }

    #[test]
    fn skip_unchanged_reuses_the_last_analysis() {
        let image = person();
        // Sensor noise: every pixel off by one level.
        let mut noisy = image.clone();
        noisy
            .pixels_mut()
            .for_each(|p| p[0] = p[0].saturating_add(1));
        let grey = RgbImage::from_pixel(image.width(), image.height(), image::Rgb([128; 3]));

        let mut p = pipeline("[smoothing]\nskip_unchanged = 0.01");
        let first = p.process(&image, 0, at(0)).unwrap();
        assert!(!first.skipped && first.body.is_some());
        let again = p.process(&noisy, 1, at(1)).unwrap();
        assert!(again.skipped);
        assert_eq!(again.body, first.body);
        let changed = p.process(&grey, 2, at(2)).unwrap();
        assert!(!changed.skipped && changed.body.is_none());

        let mut never = pipeline("[smoothing]\nskip_unchanged = 0");
        never.process(&image, 0, at(0)).unwrap();
        assert!(!never.process(&image, 1, at(1)).unwrap().skipped);
    }

    #[test]
    fn mask_smoothing_follows_the_config() {
        let image = person();
        // The person a few pixels to the left: the mask's uncertain edges move.
        let shifted = RgbImage::from_fn(image.width(), image.height(), |x, y| {
            *image.get_pixel((x + 12).min(image.width() - 1), y)
        });
        let masks = |ratio: f32| {
            let mut p = pipeline(&format!(
                "[model]\npose = \"off\"\n[smoothing]\nmask = {ratio}"
            ));
            let a = p.process(&image, 0, at(0)).unwrap().mask.unwrap();
            let b = p.process(&shifted, 1, at(1)).unwrap().mask.unwrap();
            (a.probabilities().to_vec(), b.probabilities().to_vec())
        };
        let (off, on) = (masks(0.0), masks(0.9));
        assert_eq!(off.0, on.0, "the first frame has nothing to smooth with");
        let moved = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>();
        // Smoothed, the second mask stays closer to the first.
        assert!(moved(&on.0, &on.1) < 0.9 * moved(&off.0, &off.1));
    }

    /// What a scripted source does on each call.
    enum Next {
        Frame(RgbImage),
        Lost,
        Panic,
    }

    struct Scripted(std::vec::IntoIter<Next>, u64);

    impl FrameSource for Scripted {
        fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
            match self.0.next() {
                None => Ok(None),
                Some(Next::Frame(image)) => {
                    self.1 += 1;
                    Ok(Some(Frame::from_rgb(image, at(self.1), self.1)))
                }
                Some(Next::Lost) => Err(SourceError::Timeout {
                    device: "/dev/fake".into(),
                    after: Duration::from_secs(2),
                }),
                Some(Next::Panic) => panic!("a converter bug"),
            }
        }

        fn describe(&self) -> String {
            "/dev/fake".into()
        }

        fn is_live(&self) -> bool {
            true
        }
    }

    /// Keeps every event; fails every call when `broken`.
    #[derive(Default)]
    struct Sink {
        events: Vec<Event>,
        broken: bool,
    }

    impl EventSink for Sink {
        fn event(&mut self, event: &Event) -> Result<(), SinkError> {
            self.events.push(event.clone());
            Ok(())
        }

        fn tick(&mut self, _: u64) -> Result<(), SinkError> {
            if self.broken {
                return Err("line 0: No such device".into());
            }
            Ok(())
        }
    }

    fn run_script(
        script: Vec<Next>,
        pins: &mut Sink,
    ) -> (Result<RunSummary, RunError>, Vec<Event>) {
        let mut log = Sink::default();
        let result = {
            let mut outputs = [
                Output::required("events", &mut log),
                Output::best_effort("gpio", pins),
            ];
            run(
                Scripted(script.into_iter(), 0),
                &mut pipeline("[model]\npose = \"off\""),
                &mut outputs,
                &RunOptions::default(),
            )
        };
        (result, log.events)
    }

    #[test]
    fn a_lost_camera_and_a_failing_output_are_events() {
        let grey = RgbImage::from_pixel(64, 36, image::Rgb([90; 3]));
        let script = vec![
            Next::Frame(grey.clone()),
            Next::Lost,
            Next::Lost,
            Next::Frame(grey.clone()),
            Next::Frame(grey),
        ];
        let mut pins = Sink {
            broken: true,
            ..Sink::default()
        };
        let (result, events) = run_script(script, &mut pins);
        assert_eq!(result.unwrap().frames, 3);
        let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                EventKind::OutputFailed,
                EventKind::SourceLost,
                EventKind::SourceRestored
            ],
            "one output_failed however often it fails, one source_lost for two timeouts"
        );
        assert_eq!(
            events[0].detail.as_deref(),
            Some("gpio: line 0: No such device")
        );
        assert!(
            events[1]
                .detail
                .as_deref()
                .unwrap()
                .contains("no frame for 2s")
        );
    }

    #[test]
    fn a_camera_that_changes_size_keeps_the_loop_running() {
        let (small, large) = (
            RgbImage::from_pixel(64, 36, image::Rgb([90; 3])),
            RgbImage::from_pixel(320, 240, image::Rgb([90; 3])),
        );
        let script = vec![
            Next::Frame(small.clone()),
            Next::Frame(large),
            Next::Lost,
            Next::Frame(small),
        ];
        let (result, events) = run_script(script, &mut Sink::default());
        assert_eq!(result.unwrap().frames, 3);
        assert_eq!(events.len(), 2, "lost and restored: {events:?}");
    }

    #[test]
    fn a_panic_on_the_capture_thread_ends_the_run_with_an_error() {
        let grey = RgbImage::from_pixel(64, 36, image::Rgb([90; 3]));
        let (result, _) = run_script(vec![Next::Frame(grey), Next::Panic], &mut Sink::default());
        let err = result.unwrap_err().to_string();
        assert_eq!(err, "capture thread failed: a converter bug");
    }
}
