//! BlazePose GHUM: 33 keypoints in pixels, 33 world keypoints in metres and a person mask for the
//! most prominent person, with MediaPipe's pipeline (`shared/spec/mediapipe-pipelines.md` §1–§6) on
//! tract: detector → rotated ROI → landmark model → decoding, and tracking across video frames.
//!
//! The API follows TF.js pose-detection: a [`PoseEstimator`] built from a [`PoseEstimatorConfig`],
//! and [`PoseEstimator::estimate_poses`] per frame.
//!
//! - Still images: set `static_image_mode` (the detector runs on every call, nothing is smoothed).
//! - Video: leave it off and pass each frame's timestamp; the person is tracked from the previous
//!   frame's landmarks (the detector runs only when tracking is lost) and, with `enable_smoothing`,
//!   keypoints are one-euro filtered. Without a timestamp tracking still works but nothing is
//!   filtered. MediaPipe's Python solution stamps its frames with its own 30 fps clock, starting
//!   one step in, whatever the video's rate: pass [`mediapipe_solution_timestamp`] to reproduce its
//!   output.
//!
//! ## Examples
//! ```no_run
//! use bodyzone::model::ModelKind;
//! use bodyzone::pose::{PoseEstimator, PoseEstimatorConfig};
//! let mut estimator = PoseEstimator::new(PoseEstimatorConfig {
//!     model: ModelKind::PoseLite,
//!     static_image_mode: true,
//!     ..Default::default()
//! })?;
//! let image = image::open("person.jpg")?.to_rgb8();
//! for pose in estimator.estimate_poses(&image, None)? {
//!     let nose = &pose.keypoints[0];
//!     println!("{} at ({:.0}, {:.0}) px, score {:.2}", nose.name, nose.x, nose.y, nose.score);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Troubleshooting
//! ### `model file not found: pose_landmark_full.onnx`
//! Only the detector and the lite landmark model are embedded; see [`crate::model`] for where the
//! full and heavy models are looked for, or set `landmark_model_path`.

pub mod anchors;
pub mod detector;
pub mod filter;
pub mod landmarks;
pub mod roi;
pub mod tracking;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use image::RgbImage;
use serde::Serialize;
use tract_onnx::prelude::Tensor;

use crate::body::{Body, NAMES, NUM_KEYPOINTS};
pub use crate::frame::Mask;
use crate::imgproc::{BorderMode, ImageToTensor, RotatedRect};
use crate::model::{Model, ModelError, ModelKind, Precision, f32_values};
use anchors::Anchor;
use landmarks::{AUX_START, Landmark};
use tracking::{FrameLandmarks, Tracker};

/// The timestamp MediaPipe's Python solutions give frame `frame` (counted from 0) of any video:
/// `(frame + 1) × 33 333 µs` (`solution_base.py` advances its clock before each frame).
///
/// The one-euro filters take their rate from the timestamps and treat 0 as "no time yet", so the
/// offset matters: stamping frame 0 at 0 leaves it unfiltered and starts the filters a frame late,
/// which on a 5 fps squat clip moves a knee 19 px from MediaPipe's a few frames later.
pub fn mediapipe_solution_timestamp(frame: u64) -> Duration {
    const STEP_US: u64 = 33_333;
    Duration::from_micros(STEP_US * (frame + 1))
}

/// Estimator options; `Default` is TF.js's BlazePose default (full model, smoothing on,
/// segmentation off, segmentation smoothing on) with MediaPipe's thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct PoseEstimatorConfig {
    /// One of [`ModelKind::POSE_LANDMARKS`]: bigger is more accurate and slower.
    pub model: ModelKind,
    /// One-euro filtering of keypoints and visibility low-pass across video frames.
    pub enable_smoothing: bool,
    /// Compute the person mask (`Pose::segmentation`).
    pub enable_segmentation: bool,
    /// Blend each mask with the previous frame's where it is uncertain.
    pub smooth_segmentation: bool,
    /// Detector score a person needs to be found (MediaPipe's `min_detection_confidence`).
    pub min_detection_score: f32,
    /// Pose presence above which a pose is reported and tracked (`min_tracking_confidence`).
    pub min_pose_score: f32,
    /// Every image on its own: the detector runs on each call, no tracking, no smoothing.
    pub static_image_mode: bool,
    pub precision: Precision,
    /// Detector ONNX file instead of the embedded one.
    pub detector_model_path: Option<PathBuf>,
    /// Landmark ONNX file instead of the embedded or installed one.
    pub landmark_model_path: Option<PathBuf>,
}

impl Default for PoseEstimatorConfig {
    fn default() -> Self {
        PoseEstimatorConfig {
            model: ModelKind::PoseFull,
            enable_smoothing: true,
            enable_segmentation: false,
            smooth_segmentation: true,
            min_detection_score: detector::MIN_SCORE,
            min_pose_score: 0.5,
            static_image_mode: false,
            precision: Precision::F32,
            detector_model_path: None,
            landmark_model_path: None,
        }
    }
}

/// One keypoint. Image keypoints: `x`, `y` in pixels, `z` depth relative to the hips in the units
/// of `x` (smaller is nearer). World keypoints: metres around the hip centre. `score` is the
/// visibility probability.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Keypoint {
    pub name: &'static str,
    pub x: f32,
    pub y: f32,
    pub z: f32,
    pub score: f32,
}

/// One person.
#[derive(Debug, Clone, PartialEq)]
pub struct Pose {
    /// Pose presence probability.
    pub score: f32,
    /// The 33 keypoints in [`NAMES`] order, image pixels.
    pub keypoints: Vec<Keypoint>,
    /// The same 33 keypoints in metres, origin between the hips, upright in the image's frame.
    pub keypoints_3d: Vec<Keypoint>,
    /// Person probability per image pixel, when `enable_segmentation` is on.
    pub segmentation: Option<Mask>,
}

/// Time spent in each stage by the last [`PoseEstimator::estimate_poses`] call.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StageTimes {
    /// Letterbox, detector inference and decoding (zero on tracked frames).
    pub detector: Duration,
    /// Rotated crop into the landmark model's input.
    pub warp: Duration,
    /// Landmark model inference.
    pub landmarks: Duration,
    /// Landmark decoding, projection, mask warp and filters.
    pub decode: Duration,
}

/// Why an estimate failed.
#[derive(Debug, thiserror::Error)]
pub enum PoseError {
    /// A model could not be loaded or run.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The image has no pixels.
    #[error("empty image ({width}×{height})")]
    EmptyImage { width: u32, height: u32 },
}

/// The detector's input: the whole image letterboxed to 224², values in [−1, 1], zero border.
const DETECTOR_INPUT: ImageToTensor = ImageToTensor {
    width: detector::INPUT_SIZE,
    height: detector::INPUT_SIZE,
    keep_aspect_ratio: true,
    range: (-1.0, 1.0),
    border: BorderMode::Zero,
};

/// The landmark model's input: the rotated ROI at 256², values in [0, 1], replicated border (MP C++).
const LANDMARK_INPUT: ImageToTensor = ImageToTensor {
    width: landmarks::INPUT_SIZE,
    height: landmarks::INPUT_SIZE,
    keep_aspect_ratio: true,
    range: (0.0, 1.0),
    border: BorderMode::Replicate,
};

/// BlazePose on tract; holds the models and the tracking state of a video.
pub struct PoseEstimator {
    config: PoseEstimatorConfig,
    detector: Model,
    landmark: Model,
    anchors: Vec<Anchor>,
    detector_input: Vec<f32>,
    landmark_input: Vec<f32>,
    tracker: Tracker,
    times: StageTimes,
}

impl std::fmt::Debug for PoseEstimator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoseEstimator")
            .field("config", &self.config)
            .field("detector", &self.detector)
            .field("landmark", &self.landmark)
            .finish()
    }
}

fn run_model(model: &mut Model, input: &[f32]) -> Result<Vec<Vec<f32>>, ModelError> {
    let kind = model.kind();
    let tensor = Tensor::from_shape(&kind.input_shape(), input).map_err(|e| ModelError::Run {
        kind,
        message: format!("{e:#}"),
    })?;
    model
        .run(tensor)?
        .iter()
        .map(|t| f32_values(kind, t).map(<[f32]>::to_vec))
        .collect()
}

fn check_outputs(kind: ModelKind, outputs: &[Vec<f32>], sizes: &[usize]) -> Result<(), ModelError> {
    let got: Vec<usize> = outputs.iter().map(Vec::len).collect();
    if got.len() < sizes.len() || got.iter().zip(sizes).any(|(g, s)| g != s) {
        return Err(ModelError::Run {
            kind,
            message: format!("output sizes {got:?}, expected {sizes:?}"),
        });
    }
    Ok(())
}

impl Pose {
    /// The person as the rules take it, keypoints normalised to a `width × height` frame.
    pub fn body(&self, width: u32, height: u32) -> Body {
        let mut body = Body {
            score: self.score,
            image: [[0.0; 2]; NUM_KEYPOINTS],
            world: [[0.0; 3]; NUM_KEYPOINTS],
            visibility: [0.0; NUM_KEYPOINTS],
        };
        let (w, h) = (width.max(1) as f32, height.max(1) as f32);
        for (i, kp) in self.keypoints.iter().take(NUM_KEYPOINTS).enumerate() {
            body.image[i] = [kp.x / w, kp.y / h];
            body.visibility[i] = kp.score;
        }
        for (i, kp) in self.keypoints_3d.iter().take(NUM_KEYPOINTS).enumerate() {
            body.world[i] = [kp.x, kp.y, kp.z];
        }
        body
    }
}

impl PoseEstimator {
    /// Loads the detector and the landmark model of `config.model`.
    pub fn new(config: PoseEstimatorConfig) -> Result<PoseEstimator, PoseError> {
        let kind = config
            .model
            .expect(&ModelKind::POSE_LANDMARKS, "a pose landmark model")?;
        let detector = Model::load(
            ModelKind::PoseDetector,
            config.precision,
            config.detector_model_path.as_deref(),
        )?;
        let landmark = Model::load(
            kind,
            config.precision,
            config.landmark_model_path.as_deref(),
        )?;
        Ok(PoseEstimator {
            config,
            detector,
            landmark,
            anchors: anchors::AnchorConfig::pose_detection().anchors(),
            detector_input: vec![0.0; 3 * detector::INPUT_SIZE * detector::INPUT_SIZE],
            landmark_input: vec![0.0; 3 * landmarks::INPUT_SIZE * landmarks::INPUT_SIZE],
            tracker: Tracker::default(),
            times: StageTimes::default(),
        })
    }

    pub fn config(&self) -> &PoseEstimatorConfig {
        &self.config
    }

    /// The landmark model (kind, precision, where it was loaded from).
    pub fn landmark_model(&self) -> &Model {
        &self.landmark
    }

    /// Stage times of the last call.
    pub fn stage_times(&self) -> StageTimes {
        self.times
    }

    /// Forgets the tracked person and filter history (e.g. before another video).
    pub fn reset(&mut self) {
        self.tracker = Tracker::default();
    }

    /// The most prominent person in `image` (none or one pose). `timestamp` is the frame's time in
    /// a video, which the smoothing filters need; see the module documentation.
    pub fn estimate_poses(
        &mut self,
        image: &RgbImage,
        timestamp: Option<Duration>,
    ) -> Result<Vec<Pose>, PoseError> {
        let (width, height) = image.dimensions();
        if width == 0 || height == 0 {
            return Err(PoseError::EmptyImage { width, height });
        }
        self.times = StageTimes::default();
        let tracking = !self.config.static_image_mode;
        let tracked = if tracking {
            self.tracker.roi((width, height))
        } else {
            None
        };
        let roi = match tracked {
            Some(roi) => roi,
            None => match self.detect(image)? {
                Some(roi) => roi,
                None => {
                    self.tracker.lost();
                    return Ok(Vec::new());
                }
            },
        };

        let started = Instant::now();
        let padding = LANDMARK_INPUT.run(image, &roi, &mut self.landmark_input);
        let cropped = Instant::now();
        let outputs = run_model(&mut self.landmark, &self.landmark_input)?;
        let inferred = Instant::now();
        self.times.warp = cropped - started;
        self.times.landmarks = inferred - cropped;

        let side = landmarks::INPUT_SIZE;
        let heat = landmarks::HEATMAP_SIZE;
        let n = landmarks::NUM_MODEL_LANDMARKS;
        check_outputs(
            self.landmark.kind(),
            &outputs,
            &[n * 5, 1, side * side, n * heat * heat, n * 3],
        )?;
        let score = outputs[1][0];
        // Strictly above, as MediaPipe's ThresholdingCalculator.
        if score.is_nan() || score <= self.config.min_pose_score {
            self.tracker.lost();
            self.times.decode = inferred.elapsed();
            return Ok(Vec::new());
        }
        let mut raw = landmarks::decode(&outputs[0]);
        landmarks::refine_from_heatmap(&mut raw, &outputs[3]);
        let projected: Vec<Landmark> = raw
            .iter()
            .map(|l| landmarks::project(l, &padding, &roi))
            .collect();
        let world = landmarks::world(&outputs[4], roi.rotation)
            .into_iter()
            .zip(&raw)
            .take(NUM_KEYPOINTS)
            .map(|([x, y, z], l)| Landmark { x, y, z, ..*l })
            .collect();
        let mut frame = FrameLandmarks {
            body: projected[..NUM_KEYPOINTS].to_vec(),
            world,
            aux: [projected[AUX_START], projected[AUX_START + 1]],
        };
        if tracking {
            let time_us = timestamp.map(|t| i64::try_from(t.as_micros()).unwrap_or(i64::MAX));
            self.tracker
                .update(&mut frame, time_us, self.config.enable_smoothing);
        }

        let segmentation = self.config.enable_segmentation.then(|| {
            let probabilities: Vec<f32> =
                outputs[2].iter().map(|&v| landmarks::sigmoid(v)).collect();
            let mut mask = LANDMARK_INPUT.warp_back(&probabilities, &roi, width, height);
            if tracking && self.config.smooth_segmentation {
                self.tracker.smooth_mask(&mut mask);
            }
            Mask::new(width, height, mask)
        });
        let named = |lms: &[Landmark]| -> Vec<Keypoint> {
            lms.iter()
                .zip(NAMES)
                .map(|(l, name)| Keypoint {
                    name,
                    x: l.x,
                    y: l.y,
                    z: l.z,
                    score: l.visibility,
                })
                .collect()
        };
        let pose = Pose {
            score,
            keypoints: named(&frame.body),
            keypoints_3d: named(&frame.world),
            segmentation,
        };
        self.times.decode = inferred.elapsed();
        Ok(vec![pose])
    }

    /// Runs the detector on the whole image; the ROI of the best person, pixels.
    fn detect(&mut self, image: &RgbImage) -> Result<Option<RotatedRect>, PoseError> {
        let started = Instant::now();
        let (width, height) = image.dimensions();
        let padding = DETECTOR_INPUT.run(
            image,
            &RotatedRect::whole(width, height),
            &mut self.detector_input,
        );
        let outputs = run_model(&mut self.detector, &self.detector_input)?;
        let rows = self.anchors.len();
        check_outputs(
            ModelKind::PoseDetector,
            &outputs,
            &[rows * detector::NUM_COORDS, rows],
        )?;
        let found = detector::decode(
            &outputs[0],
            &outputs[1],
            &self.anchors,
            self.config.min_detection_score,
        );
        let best = detector::weighted_nms(found, detector::NMS_IOU)
            .into_iter()
            .next();
        self.times.detector = started.elapsed();
        Ok(best.map(|d| {
            let d = d.remove_letterbox(&padding);
            let px = |[x, y]: [f32; 2]| [x * width as f32, y * height as f32];
            roi::pose_roi(px(d.keypoints[0]), px(d.keypoints[1]))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mediapipe_clock_starts_one_step_in() {
        assert_eq!(
            mediapipe_solution_timestamp(0),
            Duration::from_micros(33_333)
        );
        assert_eq!(
            mediapipe_solution_timestamp(2),
            Duration::from_micros(99_999)
        );
    }
}
