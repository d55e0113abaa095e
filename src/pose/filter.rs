//! Temporal filters of the tracking graph, with MediaPipe's parameters (`shared/spec` §6.2–§6.5):
//! one-euro filters on landmark coordinates, a low-pass on visibility and the uncertainty-weighted
//! blend of consecutive segmentation masks.
//!
//! Timestamps are microseconds, as MediaPipe's packets. A timestamp of 0 is "unset" to MediaPipe's
//! one-euro filter: a sample at 0 passes through and leaves the filter untouched, so a video whose
//! first frame is at 0 starts filtering on its second frame. MP Python's synthetic clock starts at
//! 33 333 µs ([`super::mediapipe_solution_timestamp`]), so there the first frame initialises it.

use std::f64::consts::PI;

/// First-order low-pass, `out = α·v + (1 − α)·previous out`; the first value passes through.
#[derive(Debug, Clone, Default)]
struct LowPass {
    raw: Option<f32>,
    stored: f32,
}

impl LowPass {
    fn apply(&mut self, value: f32, alpha: f32) -> f32 {
        let out = if self.raw.is_some() {
            alpha * value + (1.0 - alpha) * self.stored
        } else {
            value
        };
        self.raw = Some(value);
        self.stored = out;
        out
    }
}

/// One-euro filter parameters (`OneEuroFilter` options of `LandmarksSmoothingCalculator`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OneEuro {
    /// Sampling rate assumed until two timestamps are known, Hz.
    pub frequency: f64,
    pub min_cutoff: f64,
    pub beta: f64,
    pub d_cutoff: f64,
}

impl OneEuro {
    /// Body landmarks in image pixels (`pose_landmark_filtering.pbtxt`).
    pub const LANDMARKS: OneEuro = OneEuro {
        frequency: 30.0,
        min_cutoff: 0.05,
        beta: 80.0,
        d_cutoff: 1.0,
    };
    /// World landmarks in metres (value scaling disabled).
    pub const WORLD_LANDMARKS: OneEuro = OneEuro {
        frequency: 30.0,
        min_cutoff: 0.1,
        beta: 40.0,
        d_cutoff: 1.0,
    };
    /// The two auxiliary landmarks that give the next frame's ROI.
    pub const AUX_LANDMARKS: OneEuro = OneEuro {
        frequency: 30.0,
        min_cutoff: 0.01,
        beta: 10.0,
        d_cutoff: 1.0,
    };
}

/// The state of one one-euro filter on one scalar.
#[derive(Debug, Clone)]
pub struct OneEuroFilter {
    params: OneEuro,
    frequency: f64,
    last_time_us: i64,
    x: LowPass,
    dx: LowPass,
}

impl OneEuroFilter {
    pub fn new(params: OneEuro) -> Self {
        OneEuroFilter {
            params,
            frequency: params.frequency,
            last_time_us: 0,
            x: LowPass::default(),
            dx: LowPass::default(),
        }
    }

    fn alpha(&self, cutoff: f64) -> f32 {
        let te = 1.0 / self.frequency;
        let tau = 1.0 / (2.0 * PI * cutoff);
        (1.0 / (1.0 + tau / te)) as f32
    }

    /// Filters `value` seen at `time_us`; `value_scale` turns the value's speed into object sizes per second.
    pub fn apply(&mut self, time_us: i64, value_scale: f64, value: f32) -> f32 {
        if self.last_time_us >= time_us {
            return value;
        }
        if self.last_time_us != 0 {
            self.frequency = 1e6 / (time_us - self.last_time_us) as f64;
        }
        self.last_time_us = time_us;
        let dvalue = match self.x.raw {
            Some(last) => (f64::from(value) - f64::from(last)) * value_scale * self.frequency,
            None => 0.0,
        };
        let edvalue = self
            .dx
            .apply(dvalue as f32, self.alpha(self.params.d_cutoff));
        let cutoff = self.params.min_cutoff + self.params.beta * f64::from(edvalue).abs();
        self.x.apply(value, self.alpha(cutoff))
    }
}

/// Smallest object scale (px) for which landmarks are filtered at all.
const MIN_OBJECT_SCALE: f32 = 1e-6;

/// One-euro filters on the x, y, z of a list of landmarks (`LandmarksSmoothingCalculator`).
#[derive(Debug, Clone)]
pub struct LandmarksFilter {
    params: OneEuro,
    /// Divide speeds by the object's size (image landmarks); off for world landmarks.
    value_scaling: bool,
    filters: Vec<[OneEuroFilter; 3]>,
}

impl LandmarksFilter {
    pub fn new(params: OneEuro, value_scaling: bool) -> Self {
        LandmarksFilter {
            params,
            value_scaling,
            filters: Vec::new(),
        }
    }

    /// Filters `points` in place. `object_scale` (px) is the size of the person, used when value
    /// scaling is on; below 1e-6 the points pass through.
    pub fn apply(&mut self, points: &mut [[f32; 3]], time_us: i64, object_scale: f32) {
        let value_scale = if self.value_scaling {
            if object_scale < MIN_OBJECT_SCALE {
                return;
            }
            1.0 / f64::from(object_scale)
        } else {
            1.0
        };
        if self.filters.len() != points.len() {
            let fresh = OneEuroFilter::new(self.params);
            self.filters = vec![[fresh.clone(), fresh.clone(), fresh]; points.len()];
        }
        for (point, filters) in points.iter_mut().zip(&mut self.filters) {
            for (v, f) in point.iter_mut().zip(filters.iter_mut()) {
                *v = f.apply(time_us, value_scale, *v);
            }
        }
    }

    /// Forgets the history, as MediaPipe does on a frame without landmarks.
    pub fn reset(&mut self) {
        self.filters.clear();
    }
}

/// Low-pass on visibility scores (`VisibilitySmoothingCalculator`, α = 0.1).
#[derive(Debug, Clone, Default)]
pub struct VisibilityFilter {
    filters: Vec<LowPass>,
}

impl VisibilityFilter {
    const ALPHA: f32 = 0.1;

    pub fn apply(&mut self, visibility: &mut [f32]) {
        if self.filters.len() != visibility.len() {
            self.filters = vec![LowPass::default(); visibility.len()];
        }
        for (v, f) in visibility.iter_mut().zip(&mut self.filters) {
            *v = f.apply(*v, Self::ALPHA);
        }
    }
}

/// How much of the previous mask an uncertain pixel keeps (`pose_segmentation_filtering.pbtxt`).
pub const SEGMENTATION_COMBINE_RATIO: f32 = 0.7;

/// Blends `current` towards `previous` where the current probability is uncertain (near 0.5),
/// as `SegmentationSmoothingCalculator`: a polynomial approximation of the squared binary entropy.
///
/// # Panics
/// If the masks differ in length.
pub fn smooth_segmentation(previous: &[f32], current: &mut [f32], ratio: f32) {
    assert_eq!(previous.len(), current.len(), "mask sizes");
    const C: [f32; 5] = [5.688_42, -0.748_699, -57.805_1, 291.309, -624.717];
    for (p, &prev) in current.iter_mut().zip(previous) {
        let t = *p - 0.5;
        let x = t * t;
        let poly = x * (C[0] + x * (C[1] + x * (C[2] + x * (C[3] + x * C[4]))));
        let uncertainty = 1.0 - poly.min(1.0);
        *p += (prev - *p) * (uncertainty * ratio);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TF.js `one_euro_filter_test.ts`: outputs stay in the convex hull of the inputs.
    #[test]
    fn one_euro_stays_in_convex_hull() {
        let params = OneEuro {
            frequency: 30.0,
            min_cutoff: 15.5,
            beta: 20.2,
            d_cutoff: 21.5,
        };
        let mut f = OneEuroFilter::new(params);
        assert_eq!(f.apply(1, 1.0, -1.0), -1.0);
        let out1 = f.apply(15, 1.0, 2.0);
        assert!(-1.0 < out1 && out1 < 2.0, "{out1}");
        let out2 = f.apply(33, 1.0, -3.0);
        assert!(-3.0 < out2 && out2 < 2.0, "{out2}");
    }

    #[test]
    fn one_euro_ignores_time_zero_and_starts_on_the_next_sample() {
        let mut f = OneEuroFilter::new(OneEuro::LANDMARKS);
        assert_eq!(f.apply(0, 0.01, 10.0), 10.0, "t = 0 is 'no timestamp yet'");
        assert_eq!(
            f.apply(33_333, 0.01, 20.0),
            20.0,
            "first real sample initialises the filter"
        );
        let out = f.apply(66_666, 0.01, 30.0);
        assert!(20.0 < out && out < 30.0, "{out}");
        assert_eq!(
            f.apply(66_666, 0.01, 99.0),
            99.0,
            "a repeated timestamp passes through"
        );
    }

    #[test]
    fn one_euro_matches_the_formula() {
        // Reference: the filter written out by hand for three samples at 10 Hz, value scale 1.
        let p = OneEuro {
            frequency: 30.0,
            min_cutoff: 1.0,
            beta: 0.5,
            d_cutoff: 1.0,
        };
        let mut f = OneEuroFilter::new(p);
        let alpha = |freq: f64, cutoff: f64| 1.0 / (1.0 + freq / (2.0 * PI * cutoff));
        f.apply(100_000, 1.0, 1.0);
        let got = f.apply(200_000, 1.0, 2.0);
        let d = alpha(10.0, 1.0) * 10.0; // first derivative sample passed through, then low-passed
        let a = alpha(10.0, 1.0 + 0.5 * d);
        let want = a * 2.0 + (1.0 - a) * 1.0;
        assert!(
            (f64::from(got) - want).abs() < 1e-5,
            "got {got}, want {want}"
        );
    }

    #[test]
    fn small_objects_are_not_filtered() {
        let mut f = LandmarksFilter::new(OneEuro::LANDMARKS, true);
        let mut pts = [[1.0, 2.0, 3.0]];
        f.apply(&mut pts, 33_333, 1.0);
        let mut moved = [[5.0, 5.0, 5.0]];
        f.apply(&mut moved, 66_666, 0.0);
        assert_eq!(moved, [[5.0, 5.0, 5.0]]);
    }

    #[test]
    fn visibility_low_pass() {
        let mut f = VisibilityFilter::default();
        let mut v = [1.0];
        f.apply(&mut v);
        assert_eq!(v, [1.0]);
        let mut v = [0.0];
        f.apply(&mut v);
        assert!((v[0] - 0.9).abs() < 1e-6);
    }

    /// TF.js `segmentation_smoothing_test.ts`.
    #[test]
    fn segmentation_smoothing_golden() {
        let prev = [111.0 / 255.0; 16];
        let mut cur = [0.0f32; 16];
        for i in [5, 6, 9, 10] {
            cur[i] = 0.98;
        }
        let input = cur;
        smooth_segmentation(&prev, &mut cur, 1.0);
        for (i, (&a, &b)) in input.iter().zip(&cur).enumerate() {
            if a > 0.0 {
                assert!(
                    (a - b).abs() > 1e-4,
                    "pixel {i} should move towards the previous mask"
                );
            }
            assert!((a - b).abs() <= 3.0 / 255.0, "pixel {i}: {a} → {b}");
        }
        let mut same = input;
        smooth_segmentation(&prev, &mut same, 0.0);
        assert_eq!(same, input);
    }
}
