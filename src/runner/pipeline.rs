//! One frame's work: the models the config asks for, mask smoothing, skipping frames that barely
//! changed, and the coach's decisions.

use std::sync::Arc;
use std::time::{Duration, Instant};

use image::RgbImage;
use tracing::warn;

use super::RunError;
use super::picture::Picture;
use super::still::Still;
use crate::body::Body;
use crate::config::Config;
use crate::exercise::events::Event;
use crate::exercise::{Coach, Observation};
use crate::frame::Mask;
use crate::pose::PoseEstimator;
use crate::pose::filter::smooth_segmentation;
use crate::segment::{ModelInput, Segmenter};
use crate::zone::PresenceGate;

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
    /// Selfie mask at the model's resolution (coverage needs fractions, not pixels).
    mask: Option<Arc<Mask>>,
    /// The mask before it, whose buffer the next frame's mask reuses.
    spare_mask: Option<Arc<Mask>>,
    body: Option<Body>,
    still: Still,
}

impl Pipeline {
    /// Loads the models `config` asks for.
    pub fn new(config: &Config) -> Result<Pipeline, RunError> {
        let segmenter = match config.segmenter() {
            Some(segmenter) => Some(Segmenter::new(segmenter)?),
            None => None,
        };
        let pose = match config.pose_estimator(segmenter.is_some()) {
            Some(estimator) => Some(PoseEstimator::new(estimator)?),
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
            still: Still::new(config.smoothing.skip_unchanged),
            mask: None,
            spare_mask: None,
            body: None,
        })
    }

    /// An input to fill straight from camera buffers when no model needs full-size frames
    /// (pose off); `None` when they are needed.
    pub(super) fn one_pass_input(&self) -> Option<ModelInput> {
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

    pub(super) fn analyse(
        &mut self,
        picture: Picture<'_>,
        frame: u64,
        timestamp: Duration,
    ) -> Result<FrameResult, RunError> {
        let mut times = StageMs::default();
        let skipped = self.still.unchanged(picture);
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

    /// The decision state: where every zone stands.
    pub fn coach(&self) -> &Coach {
        &self.coach
    }

    /// Everyone leaves (source lost or ended).
    pub fn leave_all(&mut self, frame: u64, timestamp: Duration) -> Vec<Event> {
        self.body = None;
        self.mask = None;
        self.still.forget();
        self.coach.leave_all(frame, timestamp.as_millis() as u64)
    }
}

pub(super) fn ms(d: Duration) -> f32 {
    d.as_secs_f32() * 1000.0
}
