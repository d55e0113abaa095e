//! Per-stage timings of a model on one frame, as `bodyzone bench` reports them.
//!
//! A run loads the model, warms it up, then times `iters` frames through the same pipeline the
//! product runs (a [`Segmenter`] or a [`PoseEstimator`]), keeping every sample so the report can
//! give the median and the 10th/90th percentiles of each stage. Medians, not means: these boards
//! and the CI machines are shared, and a few slow frames should not move the figure.
//!
//! Threads: tract's multithreaded matrix products run on a rayon pool when `threads > 1`
//! ([`tract_linalg::multithread`]); depthwise convolutions and element-wise ops stay on the
//! calling thread, so two threads help the 1×1 convolutions only.
//!
//! ## Examples
//! ```no_run
//! use bodyzone::bench::BenchConfig;
//! use bodyzone::model::ModelKind;
//! let report = bodyzone::bench::run(&BenchConfig { iters: 20, ..BenchConfig::new(ModelKind::SelfieLandscape) })?;
//! println!("inference {:.2} ms", report.stages.inference.median_ms);
//! # Ok::<(), bodyzone::bench::BenchError>(())
//! ```

use std::time::{Duration, Instant};

use image::RgbImage;
use serde::Serialize;
use tract_onnx::prelude::tract_linalg::multithread::{Executor, multithread_tract_scope};

use crate::model::profile::NodeTime;
use crate::model::{Model, ModelError, ModelKind, Precision};
use crate::platform::Platform;
use crate::pose::{PoseError, PoseEstimator, PoseEstimatorConfig};
use crate::segment::{Segmenter, SegmenterConfig};
use crate::source::Synthetic;

/// The frame size the end-to-end stage is defined on (RGB in, mask at this size out).
pub const FRAME_SIZE: (u32, u32) = (1280, 720);

/// The networks `bench` times: for pose, the whole pipeline with this landmark model.
pub const MODELS: [ModelKind; 4] = [
    ModelKind::SelfieLandscape,
    ModelKind::SelfieGeneral,
    ModelKind::PoseLite,
    ModelKind::PoseFull,
];

/// The repository path of the ONNX file a peer should time for `model` at `precision`: for
/// int8, ONNX Runtime's own quantization of the same 1×1 convolutions (`models/*_int8.onnx`,
/// see `models/README.md`; pose-full has none and falls back to the f32 file), otherwise the
/// f32 file.
pub fn peer_onnx(model: ModelKind, precision: Precision) -> String {
    let file = model.file_name();
    match (precision, model) {
        (
            Precision::Int8,
            ModelKind::SelfieLandscape | ModelKind::SelfieGeneral | ModelKind::PoseLite,
        ) => {
            format!("models/{}_int8.onnx", file.trim_end_matches(".onnx"))
        }
        _ => format!("models/{file}"),
    }
}

/// More threads than any board has cores only costs memory and start-up (each is a rayon
/// worker with its own stack).
pub const MAX_THREADS: usize = 64;

/// What to time and how long.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// One of [`MODELS`].
    pub model: ModelKind,
    pub precision: Precision,
    /// Threads for tract's matrix products; 1 runs everything on the calling thread.
    pub threads: usize,
    /// Untimed frames first (caches, allocator, tracker state).
    pub warmup: usize,
    /// Timed frames.
    pub iters: usize,
    /// The frame; [`synthetic_frame`] if `None`.
    pub image: Option<RgbImage>,
}

impl BenchConfig {
    /// One thread, 20 warm-up and 200 timed frames of the synthetic frame.
    pub fn new(model: ModelKind) -> BenchConfig {
        BenchConfig {
            model,
            precision: Precision::F32,
            threads: 1,
            warmup: 20,
            iters: 200,
            image: None,
        }
    }
}

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Pose(#[from] PoseError),
    /// The pose pipeline found nobody in the frame, so its landmark model never ran.
    #[error("no person found in the {width}×{height} frame: the pose benchmark needs one")]
    NoPerson { width: u32, height: u32 },
    #[error("--iters must be at least 1")]
    NoIterations,
    #[error("--threads must be 1 to {MAX_THREADS}")]
    NoThreads,
}

/// Median and spread of one stage, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    pub median_ms: f64,
    pub p10_ms: f64,
    pub p90_ms: f64,
}

impl Summary {
    /// Median and nearest-rank 10th/90th percentiles (as `peer_bench.py` computes them, so the
    /// ratios compare like with like). `samples` must not be empty.
    pub fn of(samples: &[Duration]) -> Summary {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let n = ms.len();
        let median = if n % 2 == 1 {
            ms[n / 2]
        } else {
            (ms[n / 2 - 1] + ms[n / 2]) / 2.0
        };
        Summary {
            median_ms: median,
            p10_ms: ms[n / 10],
            p90_ms: ms[(9 * n) / 10],
        }
    }
}

/// The four stages of the JSON contract.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stages {
    /// Image → model input tensor (for pose: detector when it runs, and the ROI crop).
    pub preprocess: Summary,
    /// The network (for pose: the landmark model).
    pub inference: Summary,
    /// Model output → mask at the frame's size (for pose: decoding, projection, filters).
    pub postprocess: Summary,
    /// The whole call, frame in → result out.
    pub end_to_end: Summary,
}

/// The BlazePose pipeline stage by stage (`--model pose-lite|pose-full`), ms per frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PoseStages {
    /// Letterbox, detector and decoding, on frames that run it (the first one, and any frame after
    /// the person was lost): timed on frames with the tracking reset.
    pub detector: Summary,
    /// Rotated ROI crop into the landmark model's input, tracked frames.
    pub warp: Summary,
    /// Landmark model, tracked frames.
    pub landmarks: Summary,
    /// Landmark decoding, projection and filters, tracked frames.
    pub decode: Summary,
}

/// One benchmark's result; serialises to the `--json` contract (plus `iters`, `frame`, `platform`,
/// and `pose_stages` for the pose models).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub model: String,
    pub precision: String,
    pub threads: usize,
    /// The repository path of the ONNX file a peer should time for the same network.
    pub onnx: String,
    pub iters: usize,
    /// Frame width and height.
    pub frame: (u32, u32),
    pub stages: Stages,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pose_stages: Option<PoseStages>,
    pub platform: Platform,
}

/// A 1280×720 frame of the synthetic scene (a figure standing in a room): the same on every run.
pub fn synthetic_frame() -> RgbImage {
    let mut image = RgbImage::new(FRAME_SIZE.0, FRAME_SIZE.1);
    Synthetic::render(0.0, &mut image);
    image
}

#[derive(Default)]
struct Samples {
    preprocess: Vec<Duration>,
    inference: Vec<Duration>,
    postprocess: Vec<Duration>,
    end_to_end: Vec<Duration>,
    pose: Option<PoseSamples>,
}

#[derive(Default)]
struct PoseSamples {
    detector: Vec<Duration>,
    warp: Vec<Duration>,
    landmarks: Vec<Duration>,
    decode: Vec<Duration>,
}

impl Samples {
    fn push(&mut self, pre: Duration, inference: Duration, post: Duration, total: Duration) {
        self.preprocess.push(pre);
        self.inference.push(inference);
        self.postprocess.push(post);
        self.end_to_end.push(total);
    }

    fn stages(&self) -> Stages {
        Stages {
            preprocess: Summary::of(&self.preprocess),
            inference: Summary::of(&self.inference),
            postprocess: Summary::of(&self.postprocess),
            end_to_end: Summary::of(&self.end_to_end),
        }
    }

    fn pose_stages(&self) -> Option<PoseStages> {
        self.pose.as_ref().map(|p| PoseStages {
            detector: Summary::of(&p.detector),
            warp: Summary::of(&p.warp),
            landmarks: Summary::of(&p.landmarks),
            decode: Summary::of(&p.decode),
        })
    }
}

/// Loads the model, warms up, times `config.iters` frames.
pub fn run(config: &BenchConfig) -> Result<Report, BenchError> {
    if config.iters == 0 {
        return Err(BenchError::NoIterations);
    }
    let executor = match config.threads {
        n if n == 0 || n > MAX_THREADS => return Err(BenchError::NoThreads),
        1 => Executor::SingleThread,
        n => Executor::multithread(n),
    };
    let image = config.image.clone().unwrap_or_else(synthetic_frame);
    let samples = multithread_tract_scope(executor, || {
        if ModelKind::SELFIE.contains(&config.model) {
            time_segmenter(config, &image)
        } else {
            time_pose(config, &image)
        }
    })?;
    Ok(Report {
        model: config.model.name().to_owned(),
        precision: config.precision.to_string(),
        threads: config.threads,
        onnx: peer_onnx(config.model, config.precision),
        iters: config.iters,
        frame: image.dimensions(),
        stages: samples.stages(),
        pose_stages: samples.pose_stages(),
        platform: Platform::probe(),
    })
}

/// Per-node times of the model's optimised plan over `config.iters` inferences of a fixed
/// pseudo-random input in [0, 1] (the model alone, no pre- or post-processing), slowest first.
pub fn profile(config: &BenchConfig) -> Result<Vec<NodeTime>, BenchError> {
    if config.iters == 0 {
        return Err(BenchError::NoIterations);
    }
    let executor = match config.threads {
        n if n == 0 || n > MAX_THREADS => return Err(BenchError::NoThreads),
        1 => Executor::SingleThread,
        n => Executor::multithread(n),
    };
    let kind = config.model;
    let mut model = Model::load(kind, config.precision, None)?;
    let shape = kind.input_shape();
    let len = shape.iter().product::<usize>();
    let values: Vec<f32> = (0..len)
        .map(|i| ((i * 7919) % 1000) as f32 / 999.0)
        .collect();
    let input =
        tract_onnx::prelude::Tensor::from_shape(&shape, &values).map_err(|e| ModelError::Run {
            kind,
            message: format!("{e:#}"),
        })?;
    Ok(multithread_tract_scope(executor, || {
        model.profile(input, config.iters)
    })?)
}

fn time_segmenter(config: &BenchConfig, image: &RgbImage) -> Result<Samples, BenchError> {
    let mut segmenter = Segmenter::new(SegmenterConfig {
        model: config.model,
        precision: config.precision,
        model_path: None,
    })?;
    let mut people = Vec::new();
    time_frames(config, |_| {
        segmenter.segment_people_into(image, &mut people)?;
        std::hint::black_box(&people);
        let t = segmenter.stage_times();
        Ok([t.preprocess, t.inference, t.postprocess])
    })
}

/// Runs `frame(i)` for the warm-up and timed frames; it returns the stages it just timed
/// (preprocess, inference, postprocess), kept with the whole call's time for the timed frames.
fn time_frames<E>(
    config: &BenchConfig,
    mut frame: impl FnMut(usize) -> Result<[Duration; 3], E>,
) -> Result<Samples, E> {
    let mut samples = Samples::default();
    for i in 0..config.warmup + config.iters {
        let started = Instant::now();
        let [pre, inference, post] = frame(i)?;
        let total = started.elapsed();
        if i >= config.warmup {
            samples.push(pre, inference, post, total);
        }
    }
    Ok(samples)
}

fn time_pose(config: &BenchConfig, image: &RgbImage) -> Result<Samples, BenchError> {
    // Tracking mode, as on a camera: after the first frame the detector only runs when the
    // tracked person is lost, so the steady state is crop → landmarks → decode.
    let mut estimator = PoseEstimator::new(PoseEstimatorConfig {
        model: config.model,
        precision: config.precision,
        ..PoseEstimatorConfig::default()
    })?;
    let mut pose = PoseSamples::default();
    let frame_time = Duration::from_millis(33);
    let mut samples = time_frames(config, |i| {
        let poses = estimator.estimate_poses(image, Some(frame_time * i as u32))?;
        if poses.is_empty() {
            let (width, height) = image.dimensions();
            return Err(BenchError::NoPerson { width, height });
        }
        std::hint::black_box(poses);
        let t = estimator.stage_times();
        if i >= config.warmup {
            pose.warp.push(t.warp);
            pose.landmarks.push(t.landmarks);
            pose.decode.push(t.decode);
        }
        Ok([t.detector + t.warp, t.landmarks, t.decode])
    })?;
    // The detector runs once per lost person, so it gets its own frames: each one starts over.
    for _ in 0..config.iters {
        estimator.reset();
        std::hint::black_box(estimator.estimate_poses(image, None)?);
        pose.detector.push(estimator.stage_times().detector);
    }
    samples.pose = Some(pose);
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn summary_takes_median_and_nearest_rank_percentiles() {
        let s = Summary::of(&ms(&[10, 1, 9, 2, 8, 3, 7, 4, 6, 5]));
        assert_eq!(s.median_ms, 5.5);
        assert_eq!(s.p10_ms, 2.0);
        assert_eq!(s.p90_ms, 10.0);
        let one = Summary::of(&ms(&[4]));
        assert_eq!((one.median_ms, one.p10_ms, one.p90_ms), (4.0, 4.0, 4.0));
    }

    #[test]
    fn model_names_round_trip() {
        for m in MODELS {
            assert_eq!(ModelKind::parse_among(m.name(), &MODELS).unwrap(), m);
        }
        assert!(
            ModelKind::parse_among("heavy", &MODELS)
                .unwrap_err()
                .contains("pose-lite")
        );
    }

    #[test]
    fn landscape_report_follows_the_json_contract() {
        let report = run(&BenchConfig {
            warmup: 1,
            iters: 3,
            ..BenchConfig::new(ModelKind::SelfieLandscape)
        })
        .unwrap();
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["model"], "landscape");
        assert_eq!(json["precision"], "f32");
        assert_eq!(json["threads"], 1);
        assert_eq!(json["onnx"], "models/selfie_segmentation_landscape.onnx");
        for stage in ["preprocess", "inference", "postprocess", "end_to_end"] {
            let s = &json["stages"][stage];
            let (p10, med, p90) = (
                s["p10_ms"].as_f64().unwrap(),
                s["median_ms"].as_f64().unwrap(),
                s["p90_ms"].as_f64().unwrap(),
            );
            assert!(0.0 < p10 && p10 <= med && med <= p90, "{stage}: {s}");
        }
    }

    #[test]
    fn every_peer_file_exists() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for model in MODELS {
            for precision in [Precision::F32, Precision::F16, Precision::Int8] {
                let onnx = peer_onnx(model, precision);
                assert!(root.join(&onnx).is_file(), "{model} {precision}: {onnx}");
            }
        }
        assert_eq!(
            peer_onnx(ModelKind::SelfieGeneral, Precision::Int8),
            "models/selfie_segmentation_int8.onnx"
        );
    }

    #[test]
    fn int8_runs_against_the_int8_peer_file() {
        let report = run(&BenchConfig {
            precision: Precision::Int8,
            warmup: 0,
            iters: 1,
            ..BenchConfig::new(ModelKind::SelfieLandscape)
        })
        .unwrap();
        assert_eq!(report.precision, "int8");
        assert_eq!(
            report.onnx,
            "models/selfie_segmentation_landscape_int8.onnx"
        );
    }

    #[test]
    fn two_threads_run() {
        let report = run(&BenchConfig {
            warmup: 0,
            iters: 1,
            threads: 2,
            ..BenchConfig::new(ModelKind::SelfieLandscape)
        })
        .unwrap();
        assert_eq!(report.threads, 2);
    }

    #[test]
    fn zero_iterations_or_threads_are_errors() {
        let cfg = BenchConfig::new(ModelKind::SelfieLandscape);
        assert!(matches!(
            run(&BenchConfig {
                iters: 0,
                ..cfg.clone()
            }),
            Err(BenchError::NoIterations)
        ));
        assert!(matches!(
            run(&BenchConfig { threads: 0, ..cfg }),
            Err(BenchError::NoThreads)
        ));
    }
}
