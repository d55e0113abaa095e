//! What a video carries from one frame to the next (`shared/spec` §6): the ROI from the previous
//! frame's auxiliary landmarks, the landmark filters and the previous segmentation mask.

use super::filter::{
    LandmarksFilter, OneEuro, SEGMENTATION_COMBINE_RATIO, VisibilityFilter, smooth_segmentation,
};
use super::landmarks::Landmark;
use super::roi;
use crate::imgproc::RotatedRect;

/// Landmarks of one frame, in image pixels (z in the units of x), before smoothing.
pub struct FrameLandmarks {
    pub body: Vec<Landmark>,
    /// World landmarks, metres; `visibility` copied from `body`.
    pub world: Vec<Landmark>,
    /// The two auxiliary landmarks: hip centre, full-body size point.
    pub aux: [Landmark; 2],
}

/// Tracking state of one person across frames.
pub struct Tracker {
    /// Image size the state belongs to; another size starts over.
    size: (u32, u32),
    next_roi: Option<RotatedRect>,
    body: LandmarksFilter,
    world: LandmarksFilter,
    aux: LandmarksFilter,
    body_visibility: VisibilityFilter,
    world_visibility: VisibilityFilter,
    aux_visibility: VisibilityFilter,
    previous_mask: Option<Vec<f32>>,
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker {
            size: (0, 0),
            next_roi: None,
            body: LandmarksFilter::new(OneEuro::LANDMARKS, true),
            world: LandmarksFilter::new(OneEuro::WORLD_LANDMARKS, false),
            aux: LandmarksFilter::new(OneEuro::AUX_LANDMARKS, true),
            body_visibility: VisibilityFilter::default(),
            world_visibility: VisibilityFilter::default(),
            aux_visibility: VisibilityFilter::default(),
            previous_mask: None,
        }
    }
}

fn xyz(lms: &[Landmark]) -> Vec<[f32; 3]> {
    lms.iter().map(|l| [l.x, l.y, l.z]).collect()
}

fn set_xyz(lms: &mut [Landmark], points: &[[f32; 3]]) {
    for (l, p) in lms.iter_mut().zip(points) {
        [l.x, l.y, l.z] = *p;
    }
}

fn filter_visibility(filter: &mut VisibilityFilter, lms: &mut [Landmark]) {
    let mut vis: Vec<f32> = lms.iter().map(|l| l.visibility).collect();
    filter.apply(&mut vis);
    for (l, v) in lms.iter_mut().zip(vis) {
        l.visibility = v;
    }
}

fn filter_points(
    filter: &mut LandmarksFilter,
    lms: &mut [Landmark],
    time_us: i64,
    object_scale: f32,
) {
    let mut points = xyz(lms);
    filter.apply(&mut points, time_us, object_scale);
    set_xyz(lms, &points);
}

impl Tracker {
    /// The ROI to crop on an image of `size`, if the previous frame found the person.
    pub fn roi(&mut self, size: (u32, u32)) -> Option<RotatedRect> {
        if size != self.size {
            *self = Tracker {
                size,
                ..Tracker::default()
            };
        }
        self.next_roi
    }

    /// A frame without a person: the detector runs next, and the filters MediaPipe resets (image and
    /// aux coordinates) start over; visibility and world filters keep their state (§6.6).
    pub fn lost(&mut self) {
        self.next_roi = None;
        self.body.reset();
        self.aux.reset();
        self.previous_mask = None;
    }

    /// Smooths `frame` in place (when `smooth`, landmarks and world landmarks; the aux landmarks
    /// always, as MediaPipe) at `time_us` and sets the next frame's ROI from the aux landmarks.
    /// Without a timestamp nothing is filtered: the filters need time.
    pub fn update(&mut self, frame: &mut FrameLandmarks, time_us: Option<i64>, smooth: bool) {
        let [hip, scale] = frame.aux;
        if let Some(t) = time_us {
            // Speeds are relative to the person's size, taken from the unsmoothed aux landmarks.
            let object_scale = roi::object_scale([hip.x, hip.y], [scale.x, scale.y]);
            if smooth {
                filter_visibility(&mut self.body_visibility, &mut frame.body);
                filter_points(&mut self.body, &mut frame.body, t, object_scale);
                filter_visibility(&mut self.world_visibility, &mut frame.world);
                filter_points(&mut self.world, &mut frame.world, t, 1.0);
            }
            filter_visibility(&mut self.aux_visibility, &mut frame.aux);
            filter_points(&mut self.aux, &mut frame.aux, t, object_scale);
        }
        let [hip, scale] = frame.aux;
        self.next_roi = Some(roi::pose_roi([hip.x, hip.y], [scale.x, scale.y]));
    }

    /// Blends `mask` (image-sized) with the previous frame's smoothed mask and keeps the result.
    pub fn smooth_mask(&mut self, mask: &mut [f32]) {
        if let Some(previous) = self
            .previous_mask
            .as_deref()
            .filter(|p| p.len() == mask.len())
        {
            smooth_segmentation(previous, mask, SEGMENTATION_COMBINE_RATIO);
        }
        self.previous_mask = Some(mask.to_vec());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lm(x: f32, y: f32) -> Landmark {
        Landmark {
            x,
            y,
            z: 0.0,
            visibility: 0.9,
            presence: 1.0,
        }
    }

    fn frame(dx: f32) -> FrameLandmarks {
        FrameLandmarks {
            body: vec![lm(10.0 + dx, 10.0); 33],
            world: vec![lm(0.1, 0.2); 33],
            aux: [lm(100.0 + dx, 200.0), lm(100.0 + dx, 100.0)],
        }
    }

    #[test]
    fn next_roi_comes_from_aux_landmarks() {
        let mut t = Tracker::default();
        assert_eq!(t.roi((640, 480)), None);
        let mut f = frame(0.0);
        t.update(&mut f, None, true);
        let roi = t.roi((640, 480)).expect("tracked");
        assert_eq!((roi.cx, roi.cy, roi.width), (100.0, 200.0, 250.0));
        assert_eq!(t.roi((320, 240)), None, "a new image size starts over");
    }

    #[test]
    fn losing_the_person_forces_detection() {
        let mut t = Tracker::default();
        t.roi((640, 480));
        t.update(&mut frame(0.0), Some(33_333), true);
        t.lost();
        assert_eq!(t.roi((640, 480)), None);
    }

    #[test]
    fn smoothing_lags_behind_a_jump() {
        let mut t = Tracker::default();
        t.roi((640, 480));
        for (i, dx) in [0.0, 0.0, 0.0, 50.0].into_iter().enumerate() {
            let mut f = frame(dx);
            t.update(&mut f, Some(33_333 * (i as i64 + 1)), true);
            if dx > 0.0 {
                assert!(f.body[0].x > 10.0 && f.body[0].x < 60.0, "{}", f.body[0].x);
                assert!(f.aux[0].x < 150.0);
            }
        }
    }

    #[test]
    fn mask_smoothing_uses_the_previous_mask() {
        let mut t = Tracker::default();
        let mut first = vec![1.0, 0.0];
        t.smooth_mask(&mut first);
        assert_eq!(first, vec![1.0, 0.0], "nothing to blend with");
        let mut second = vec![0.5, 0.5];
        t.smooth_mask(&mut second);
        assert!(
            (second[0] - 0.85).abs() < 1e-6 && (second[1] - 0.15).abs() < 1e-6,
            "{second:?}"
        );
    }
}
