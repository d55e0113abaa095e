//! The edge loop: frames in, models, zones, poses and reps, events out.
//!
//! [`Pipeline`] is one frame's work: selfie segmentation and BlazePose (each optional, from
//! `[model]`), mask smoothing, skipping frames that barely changed, then the [`Coach`] that turns
//! the person into zone, pose and rep events. [`run`] drives a pipeline over a [`FrameSource`]:
//! capture and pixel conversion run on their own thread and hand over converted frames through a
//! bounded channel of two, so decoding the next frame overlaps inference on this one; the buffers
//! come back to the capture thread once analysed, so the steady state allocates no frames. Events
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
//! use bodyzone::exercise::events::EventSink;
//! use bodyzone::output::events::JsonLines;
//! use bodyzone::runner::{Pipeline, RunOptions, run};
//! use bodyzone::source::{self, OpenOptions};
//!
//! let config = Config::default_demo();
//! let source = source::open(&"clip.mp4".parse().unwrap(), &OpenOptions::default()).unwrap();
//! let mut pipeline = Pipeline::new(&config).unwrap();
//! let mut events = JsonLines::new(std::io::stdout());
//! let mut sinks: Vec<&mut dyn EventSink> = vec![&mut events];
//! let summary = run(source, &mut pipeline, &mut sinks, &RunOptions::default()).unwrap();
//! println!("{} frames, {} events", summary.frames, summary.events);
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, channel, sync_channel};
use std::time::{Duration, Instant};

use image::RgbImage;
use tracing::{info, warn};

use crate::config::Config;
use crate::body::Body;
use crate::exercise::{Coach, Observation};
use crate::model::ModelError;
use crate::exercise::events::{Event, EventSink, SinkError};
use crate::pose::filter::smooth_segmentation;
use crate::pose::{PoseError, PoseEstimator, PoseEstimatorConfig};
use crate::frame::Mask;
use crate::segment::{ModelInput, Segmenter, SegmenterConfig};
use crate::frame::Converter;
use crate::source::{FrameSource, SourceError};
use crate::zone::{PresenceGate, PresenceMode};

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
    /// The events could not be written (disk full, closed pipe).
    #[error("writing events: {0}")]
    Sink(SinkError),
}

/// Milliseconds spent in each stage of one frame.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageMs {
    /// Pixel format to RGB, or to the model input in one pass, on the capture thread (overlaps
    /// the models of the previous frame).
    pub convert: f32,
    pub segment: f32,
    pub pose: f32,
    pub decide: f32,
}

/// What one frame gave.
#[derive(Debug, Clone, Default)]
pub struct FrameResult {
    pub events: Vec<Event>,
    /// The person the pose model found (after the score gate), for drawing.
    pub body: Option<Body>,
    /// The person mask the zones were judged on (model resolution), for drawing.
    pub mask: Option<Arc<Mask>>,
    pub times: StageMs,
    /// The models did not run: the frame was nearly the same as the last one analysed.
    pub skipped: bool,
    /// Width and height of the frame, in pixels.
    pub frame_size: (u32, u32),
}

/// Models and decision state for one stream of frames.
pub struct Pipeline {
    segmenter: Option<Segmenter>,
    pose: Option<PoseEstimator>,
    coach: Coach,
    mask_smoothing: f32,
    skip_unchanged: f32,
    /// Selfie mask at the model's resolution (coverage needs fractions, not pixels).
    mask: Option<Arc<Mask>>,
    /// The mask before it, whose buffer the next frame's mask reuses.
    spare_mask: Option<Arc<Mask>>,
    body: Option<Body>,
    /// Small grey copy of the last analysed frame, for `skip_unchanged`.
    thumb: Vec<f32>,
    /// The current frame's thumbnail (kept to reuse its memory).
    thumb_scratch: Vec<f32>,
}

/// A frame as the pipeline gets it.
#[derive(Clone, Copy)]
enum Picture<'a> {
    Full(&'a RgbImage),
    /// Converted straight into the segmentation model's input: only when pose is off.
    Input(&'a ModelInput),
}

impl Picture<'_> {
    fn size(&self) -> (u32, u32) {
        match self {
            Picture::Full(image) => image.dimensions(),
            Picture::Input(input) => input.frame_size(),
        }
    }
}

/// Side of the grey thumbnail compared by `skip_unchanged`.
const THUMB: (u32, u32) = (32, 18);

impl Pipeline {
    /// Loads the models `config` asks for.
    pub fn new(config: &Config) -> Result<Pipeline, RunError> {
        let segmenter = match config.model.segmentation {
            Some(model) => Some(Segmenter::new(SegmenterConfig {
                model,
                ..SegmenterConfig::default()
            })?),
            None => None,
        };
        let needs_mask = config
            .zones
            .iter()
            .any(|z| z.presence != PresenceMode::Feet);
        let pose = match config.model.pose {
            Some(model) => {
                Some(PoseEstimator::new(PoseEstimatorConfig {
                    model,
                    enable_smoothing: config.smoothing.landmarks,
                    // BlazePose's own mask stands in when there is no selfie model.
                    enable_segmentation: segmenter.is_none() && needs_mask,
                    smooth_segmentation: config.smoothing.mask > 0.0,
                    min_pose_score: config.model.min_pose_score,
                    ..PoseEstimatorConfig::default()
                })?)
            }
            None => {
                warn!(
                    "pose model off: presence is mask coverage alone, and the selfie models mark \
                     non-people (pets, coats, furniture) as person; no pose or rep events"
                );
                None
            }
        };
        let gate = PresenceGate {
            pose_enabled: pose.is_some(),
            min_pose_score: config.model.min_pose_score,
            min_visibility: config.classifier.min_visibility,
        };
        Ok(Pipeline {
            segmenter,
            pose,
            coach: Coach::new(&config.zones, gate, config.classifier.clone(), &config.reps),
            mask_smoothing: config.smoothing.mask,
            skip_unchanged: config.smoothing.skip_unchanged,
            mask: None,
            spare_mask: None,
            body: None,
            thumb: Vec::new(),
            thumb_scratch: Vec::new(),
        })
    }

    /// An input to fill straight from camera buffers when no model needs full-size frames
    /// (pose off); `None` when they are needed.
    fn one_pass_input(&self) -> Option<ModelInput> {
        match (&self.segmenter, &self.pose) {
            (Some(segmenter), None) => Some(segmenter.new_input()),
            _ => None,
        }
    }

    /// Analyses one frame.
    pub fn process(
        &mut self,
        image: &RgbImage,
        frame: u64,
        timestamp: Duration,
    ) -> Result<FrameResult, RunError> {
        self.analyse(Picture::Full(image), frame, timestamp)
    }

    fn analyse(
        &mut self,
        picture: Picture<'_>,
        frame: u64,
        timestamp: Duration,
    ) -> Result<FrameResult, RunError> {
        let mut times = StageMs::default();
        let skipped = self.unchanged(picture);
        if !skipped {
            let started = Instant::now();
            if let Some(segmenter) = &mut self.segmenter {
                let (values, (w, h)) = match picture {
                    Picture::Full(image) => segmenter.segment_tensor(image)?,
                    Picture::Input(input) => segmenter.segment_input_tensor(input)?,
                };
                // The mask before the last one, unless a frame result still holds it, takes
                // this frame's values: no allocation per frame.
                let mut next = self.spare_mask.take().unwrap_or_default();
                if Arc::get_mut(&mut next).is_none() {
                    next = Arc::default();
                }
                let mask = Arc::make_mut(&mut next);
                mask.set(w as u32, h as u32, values);
                if let Some(previous) = self.mask.as_ref().filter(|_| self.mask_smoothing > 0.0) {
                    smooth_segmentation(
                        previous.probabilities(),
                        mask.probabilities_mut(),
                        self.mask_smoothing,
                    );
                }
                self.spare_mask = self.mask.replace(next);
            }
            let segmented = Instant::now();
            // `one_pass_input` keeps inputs away while pose is on.
            if let (Some(pose), Picture::Full(image)) = (&mut self.pose, picture) {
                let person = pose
                    .estimate_poses(image, Some(timestamp))?
                    .into_iter()
                    .next();
                self.body = person
                    .as_ref()
                    .map(|p| p.body(image.width(), image.height()));
                if self.segmenter.is_none() {
                    self.mask = person.and_then(|p| p.segmentation).map(Arc::new);
                }
            }
            times.segment = ms(segmented - started);
            times.pose = ms(segmented.elapsed());
        }
        let started = Instant::now();
        let events = self.coach.update(&Observation {
            frame,
            timestamp_ms: timestamp.as_millis() as u64,
            body: self.body.as_ref(),
            mask: self.mask.as_deref(),
        });
        times.decide = ms(started.elapsed());
        Ok(FrameResult {
            events,
            body: self.body.clone(),
            mask: self.mask.clone(),
            times,
            skipped,
            frame_size: picture.size(),
        })
    }

    /// Everyone leaves (source lost or ended).
    pub fn leave_all(&mut self, frame: u64, timestamp: Duration) -> Vec<Event> {
        self.body = None;
        self.mask = None;
        self.thumb.clear();
        self.coach.leave_all(frame, timestamp.as_millis() as u64)
    }

    /// Whether `picture` differs from the last analysed frame by less than `skip_unchanged`
    /// (mean absolute grey difference, fraction of full scale); remembers it otherwise.
    fn unchanged(&mut self, picture: Picture<'_>) -> bool {
        if self.skip_unchanged <= 0.0 {
            return false;
        }
        let grey = &mut self.thumb_scratch;
        match picture {
            Picture::Full(image) => {
                let (w, h) = image.dimensions();
                let data = image.as_raw();
                thumbnail(w as usize, h as usize, grey, |i| {
                    let p = &data[3 * i..3 * i + 3];
                    (f32::from(p[0]) + f32::from(p[1]) + f32::from(p[2])) / (3.0 * 255.0)
                });
            }
            Picture::Input(input) => {
                let (w, h) = input.tensor_size();
                let (r, rest) = input.tensor().split_at(w * h);
                let (g, b) = rest.split_at(w * h);
                thumbnail(w, h, grey, |i| (r[i] + g[i] + b[i]) / 3.0);
            }
        }
        let same = grey.len() == self.thumb.len()
            && grey
                .iter()
                .zip(&self.thumb)
                .map(|(a, b)| (a - b).abs())
                .sum::<f32>()
                / (grey.len() as f32)
                < self.skip_unchanged;
        if !same {
            std::mem::swap(&mut self.thumb, &mut self.thumb_scratch);
        }
        same
    }
}

/// Box averages of `grey` (of the row-major pixel index) over a [`THUMB`] grid covering the
/// whole `width × height` picture: the same thumbnail, up to resampling noise, whether the
/// picture is the full frame or the model's input.
fn thumbnail(width: usize, height: usize, out: &mut Vec<f32>, grey: impl Fn(usize) -> f32) {
    let (tw, th) = (THUMB.0 as usize, THUMB.1 as usize);
    out.clear();
    out.resize(tw * th, 0.0);
    for y in 0..height {
        let row = &mut out[y * th / height * tw..][..tw];
        for x in 0..width {
            row[x * tw / width] += grey(y * width + x);
        }
    }
    // Cells hold different pixel counts when the picture does not divide evenly.
    let span = |n: usize, t: usize, c: usize| ((c + 1) * n).div_ceil(t) - (c * n).div_ceil(t);
    for (cell, sum) in out.iter_mut().enumerate() {
        let count = span(width, tw, cell % tw) * span(height, th, cell / tw);
        *sum /= count.max(1) as f32;
    }
}

fn ms(d: Duration) -> f32 {
    d.as_secs_f32() * 1000.0
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

/// A frame converted on the capture thread; its buffer goes back there once analysed.
enum Converted {
    Full(RgbImage),
    Input(ModelInput),
}

impl Converted {
    fn picture(&self) -> Picture<'_> {
        match self {
            Converted::Full(image) => Picture::Full(image),
            Converted::Input(input) => Picture::Input(input),
        }
    }
}

/// One captured frame, converted on the capture thread.
struct Captured {
    frame: Converted,
    sequence: u64,
    timestamp: Duration,
    dropped: u64,
    convert_ms: f32,
}

/// Runs `pipeline` over `source` until it ends or `opts.stop` is set. `per_frame` sees every
/// frame's result and where the zones stand after it, with the full-size picture when there is one ([`RunOptions::full_frames`]
/// makes sure there is); events go to every sink in order. Outputs that fail are logged and
/// skipped; the first sink is the events stream, whose failure stops the run.
pub fn run_with(
    source: Box<dyn FrameSource>,
    pipeline: &mut Pipeline,
    sinks: &mut [&mut dyn EventSink],
    opts: &RunOptions,
    per_frame: &mut dyn FnMut(Option<&RgbImage>, &FrameResult, &Coach),
) -> Result<RunSummary, RunError> {
    let one_pass = pipeline.one_pass_input().filter(|_| !opts.full_frames);
    info!(
        source = %source.describe(),
        live = source.is_live(),
        conversion = if one_pass.is_some() {
            "one pass into the model input"
        } else {
            "full frames"
        },
        "starting"
    );
    let len = source.len_hint();
    let (recycle, recycled) = channel();
    let frames_rx = spawn_capture(source, opts.stop.clone(), one_pass, recycled);
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
    let (mut last_frame, mut last_time) = (0, Duration::ZERO);
    let mut lost = false;
    for message in frames_rx.iter() {
        let captured = match message {
            Ok(c) => c,
            Err(err) if err.is_transient() => {
                warn!("{err}; zones cleared until frames come back");
                let events = pipeline.leave_all(last_frame, last_time);
                deliver(sinks, &events, last_time, &mut summary)?;
                if !std::mem::replace(&mut lost, true) {
                    for (i, sink) in sinks.iter_mut().enumerate() {
                        if let Err(err) = sink.source_lost() {
                            warn!("output {i}: {err}");
                        }
                    }
                }
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        if std::mem::take(&mut lost) {
            for (i, sink) in sinks.iter_mut().enumerate() {
                if let Err(err) = sink.source_back() {
                    warn!("output {i}: {err}");
                }
            }
        }
        let mut result = pipeline.analyse(
            captured.frame.picture(),
            captured.sequence,
            captured.timestamp,
        )?;
        result.times.convert = captured.convert_ms;
        (last_frame, last_time) = (captured.sequence, captured.timestamp);
        summary.frames += 1;
        summary.dropped = captured.dropped;
        summary.skipped += u64::from(result.skipped);
        deliver(sinks, &result.events, captured.timestamp, &mut summary)?;
        let image = match &captured.frame {
            Converted::Full(image) => Some(image),
            Converted::Input(_) => None,
        };
        per_frame(image, &result, &pipeline.coach);
        // The capture thread may have ended: then the buffer is simply dropped.
        let _ = recycle.send(captured.frame);
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
    }
    bar.finish_and_clear();
    let events = pipeline.leave_all(last_frame, last_time);
    deliver(sinks, &events, last_time, &mut summary)?;
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
    source: Box<dyn FrameSource>,
    pipeline: &mut Pipeline,
    sinks: &mut [&mut dyn EventSink],
    opts: &RunOptions,
) -> Result<RunSummary, RunError> {
    run_with(source, pipeline, sinks, opts, &mut |_, _, _| {})
}

fn deliver(
    sinks: &mut [&mut dyn EventSink],
    events: &[Event],
    timestamp: Duration,
    summary: &mut RunSummary,
) -> Result<(), RunError> {
    for (i, sink) in sinks.iter_mut().enumerate() {
        for event in events {
            match sink.event(event) {
                Ok(()) => {}
                Err(err) if i == 0 => return Err(RunError::Sink(err)),
                Err(err) => warn!("output {i}: {err}"),
            }
        }
        if let Err(err) = sink.tick(timestamp.as_millis() as u64) {
            warn!("output {i}: {err}");
        }
    }
    summary.events += events.len() as u64;
    Ok(())
}

/// Captures and converts on a thread of its own; at most two frames wait for the loop. Frames
/// are converted into `one_pass` inputs when given, else into full-size images; buffers coming
/// back through `recycled` are reused.
fn spawn_capture(
    mut source: Box<dyn FrameSource>,
    stop: Arc<AtomicBool>,
    one_pass: Option<ModelInput>,
    recycled: Receiver<Converted>,
) -> Receiver<Result<Captured, SourceError>> {
    let (tx, rx) = sync_channel(2);
    std::thread::Builder::new()
        .name("capture".into())
        .spawn(move || {
            let mut converter = Converter::new();
            while !stop.load(Ordering::Relaxed) {
                let message = match source.next_frame() {
                    Ok(None) => break,
                    Ok(Some(frame)) => {
                        let started = Instant::now();
                        let mut buffer = recycled.try_recv().unwrap_or_else(|_| match &one_pass {
                            Some(input) => Converted::Input(input.clone()),
                            None => Converted::Full(RgbImage::new(0, 0)),
                        });
                        let converted = match &mut buffer {
                            Converted::Full(image) => converter.to_rgb(&frame.raw(), image),
                            Converted::Input(input) => input.fill_raw(&frame.raw(), &mut converter),
                        };
                        let captured = Captured {
                            frame: buffer,
                            sequence: frame.sequence,
                            timestamp: frame.timestamp,
                            dropped: source.dropped(),
                            convert_ms: ms(started.elapsed()),
                        };
                        let device = source.describe();
                        source.recycle(frame);
                        converted
                            .map(|()| captured)
                            .map_err(|source| SourceError::Convert { device, source })
                    }
                    Err(err) => Err(err),
                };
                let fatal = message.as_ref().is_err_and(|e| !e.is_transient());
                if tx.send(message).is_err() || fatal {
                    break;
                }
            }
        })
        .expect("spawning the capture thread");
    rx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Frame;

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
            Box::new(Frames(frames.collect::<Vec<_>>().into_iter())),
            &mut pipeline(toml),
            &mut [],
            &opts,
            &mut |picture, result| {
                assert_eq!(result.frame_size, images[0].dimensions());
                seen.push(Seen {
                    picture: picture.is_some(),
                    mask: result.mask.clone(),
                    skipped: result.skipped,
                });
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
}
