//! Decoding the landmark model's outputs (`shared/spec` §3.2–§4): 39 landmarks in tensor units with
//! visibility and presence, heatmap refinement, projection from the crop back to the image, and the
//! world landmarks turned back by the crop's rotation.

use super::roi;
use crate::imgproc::{Padding, RotatedRect};

/// Rows of the `landmarks` output: 33 body keypoints, 2 auxiliary (ROI) points, 4 unused.
pub const NUM_MODEL_LANDMARKS: usize = 39;
/// Index of the auxiliary hip-centre landmark; the next one is the full-body size point.
pub const AUX_START: usize = 33;
/// Values per row of `landmarks`: x, y, z, visibility logit, presence logit.
const LANDMARK_STRIDE: usize = 5;
/// The landmark model's input side, pixels (landmark coordinates are in these units).
pub const INPUT_SIZE: usize = 256;
/// Heatmap side, cells.
pub const HEATMAP_SIZE: usize = 64;
/// Refinement window side (`kernel_size`). The spec and TF.js say 7, but MediaPipe 0.10.14's
/// output (the goldens) is matched to 0.2 px by 9 and is 16 px away with 7.
const HEATMAP_KERNEL: i64 = 9;
/// A window refines its landmark only if its best cell reaches this probability.
const MIN_CONFIDENCE_TO_REFINE: f32 = 0.5;

/// One landmark. `x`, `y`, `z` are tensor-normalised until projected.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Landmark {
    pub x: f32,
    pub y: f32,
    pub z: f32,
    pub visibility: f32,
    pub presence: f32,
}

pub(crate) fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

/// `TensorsToLandmarksCalculator`: coordinates / 256 (z scaled like x), σ on visibility and presence.
///
/// # Panics
/// If `raw` is not 39 × 5 values (a model mismatch).
pub fn decode(raw: &[f32]) -> Vec<Landmark> {
    assert_eq!(
        raw.len(),
        NUM_MODEL_LANDMARKS * LANDMARK_STRIDE,
        "landmark tensor size"
    );
    let s = INPUT_SIZE as f32;
    raw.chunks_exact(LANDMARK_STRIDE)
        .map(|r| Landmark {
            x: r[0] / s,
            y: r[1] / s,
            z: r[2] / s,
            visibility: sigmoid(r[3]),
            presence: sigmoid(r[4]),
        })
        .collect()
}

/// `RefineLandmarksFromHeatmapCalculator`: moves x, y to the σ-weighted centroid of a 9×9 window of
/// the landmark's heatmap (`heatmap` NCHW: channel per landmark, `HEATMAP_SIZE²` each).
///
/// Reproduces MediaPipe to the letter: the cell index is truncated toward zero and used without a
/// half-cell offset, and only the column is range-checked on both sides (the row's upper bound is
/// not, so a landmark just below the crop is refined from the clipped window).
pub fn refine_from_heatmap(landmarks: &mut [Landmark], heatmap: &[f32]) {
    let n = HEATMAP_SIZE as i64;
    let plane = HEATMAP_SIZE * HEATMAP_SIZE;
    assert!(
        heatmap.len() >= landmarks.len() * plane,
        "heatmap has a channel per landmark"
    );
    let half = (HEATMAP_KERNEL - 1) / 2;
    for (lm, channel) in landmarks.iter_mut().zip(heatmap.chunks_exact(plane)) {
        let col = (lm.x * n as f32) as i64;
        let row = (lm.y * n as f32) as i64;
        if col < 0 || col >= n || row < 0 {
            continue;
        }
        let (mut sum, mut max, mut wcol, mut wrow) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
        for r in (row - half).max(0)..(row + half + 1).min(n) {
            for c in (col - half).max(0)..(col + half + 1).min(n) {
                let conf = sigmoid(channel[(r * n + c) as usize]);
                sum += conf;
                max = max.max(conf);
                wcol += c as f32 * conf;
                wrow += r as f32 * conf;
            }
        }
        if max >= MIN_CONFIDENCE_TO_REFINE && sum > 0.0 {
            lm.x = wcol / n as f32 / sum;
            lm.y = wrow / n as f32 / sum;
        }
    }
}

/// Crop-normalised landmark → image pixels (x, y, and z in the units of x), undoing the crop's
/// letterbox `padding` and rotation (`LandmarkLetterboxRemovalCalculator` + `LandmarkProjectionCalculator`).
pub fn project(lm: &Landmark, padding: &Padding, roi_px: &RotatedRect) -> Landmark {
    let (x, y) = padding.remove(lm.x, lm.y);
    let z = lm.z / (1.0 - padding.left - padding.right);
    let [px, py] = roi::project(roi_px, x, y);
    Landmark {
        x: px,
        y: py,
        z: z * roi_px.width,
        ..*lm
    }
}

/// World landmarks (metres, hip-centred) of the `world_landmarks` output, turned by the crop's
/// rotation so they are upright in the image's frame (`WorldLandmarkProjectionCalculator`).
pub fn world(raw: &[f32], rotation: f32) -> Vec<[f32; 3]> {
    assert_eq!(
        raw.len(),
        NUM_MODEL_LANDMARKS * 3,
        "world landmark tensor size"
    );
    let (sin, cos) = rotation.sin_cos();
    raw.chunks_exact(3)
        .map(|p| [cos * p[0] - sin * p[1], sin * p[0] + cos * p[1], p[2]])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lm(x: f32, y: f32) -> Landmark {
        Landmark {
            x,
            y,
            z: 0.0,
            visibility: 1.0,
            presence: 1.0,
        }
    }

    #[test]
    fn decode_scales_and_activates() {
        let mut raw = vec![0.0; NUM_MODEL_LANDMARKS * 5];
        raw[..5].copy_from_slice(&[128.0, 64.0, -32.0, 0.0, 100.0]);
        let lms = decode(&raw);
        assert_eq!(lms.len(), 39);
        assert_eq!((lms[0].x, lms[0].y, lms[0].z), (0.5, 0.25, -0.125));
        assert_eq!(lms[0].visibility, 0.5);
        assert!(lms[0].presence > 0.999);
    }

    /// Reference: the weighted centroid written out for a single hot cell and a uniform 9×9 window.
    #[test]
    fn heatmap_refinement_moves_to_the_centroid() {
        let plane = HEATMAP_SIZE * HEATMAP_SIZE;
        let mut heat = vec![-100.0; 2 * plane];
        heat[10 * HEATMAP_SIZE + 12] = 100.0; // landmark 0: one confident cell at row 10, col 12
        let mut lms = [lm(11.5 / 64.0, 9.2 / 64.0), lm(0.5, 0.5)];
        refine_from_heatmap(&mut lms, &heat);
        assert!((lms[0].x - 12.0 / 64.0).abs() < 1e-6 && (lms[0].y - 10.0 / 64.0).abs() < 1e-6);
        assert_eq!(
            (lms[1].x, lms[1].y),
            (0.5, 0.5),
            "no confident cell: unchanged"
        );

        let flat = vec![0.0; plane]; // σ(0) = 0.5 ≥ 0.5 everywhere: centroid of the window
        let mut corner = [lm(0.5 / 64.0, 0.5 / 64.0)];
        refine_from_heatmap(&mut corner, &flat);
        assert!(
            (corner[0].x - 2.0 / 64.0).abs() < 1e-6,
            "window clipped to cols 0..=4"
        );
    }

    #[test]
    fn heatmap_skips_points_left_of_or_above_the_crop() {
        let heat = vec![100.0; HEATMAP_SIZE * HEATMAP_SIZE];
        let mut lms = [lm(-0.1, 0.5)];
        refine_from_heatmap(&mut lms, &heat);
        assert_eq!(lms[0].x, -0.1);
        // −0.01·64 truncates to column 0: refined, as in MediaPipe.
        let mut near = [lm(-0.01, 0.5)];
        refine_from_heatmap(&mut near, &heat);
        assert!((near[0].x - 2.0 / 64.0).abs() < 1e-6);
    }

    #[test]
    fn projection_uses_roi_pixels() {
        let roi = RotatedRect {
            cx: 100.0,
            cy: 50.0,
            width: 80.0,
            height: 80.0,
            rotation: 0.0,
        };
        let p = project(
            &Landmark {
                z: 0.25,
                ..lm(0.75, 0.5)
            },
            &Padding::default(),
            &roi,
        );
        assert_eq!((p.x, p.y, p.z), (120.0, 50.0, 20.0));
    }

    #[test]
    fn world_rotation_keeps_z() {
        let mut raw = vec![0.0; NUM_MODEL_LANDMARKS * 3];
        raw[..3].copy_from_slice(&[1.0, 0.0, 0.5]);
        let w = world(&raw, std::f32::consts::FRAC_PI_2);
        assert!(w[0][0].abs() < 1e-6 && (w[0][1] - 1.0).abs() < 1e-6 && w[0][2] == 0.5);
    }
}
