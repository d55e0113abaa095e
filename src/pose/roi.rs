//! Regions of interest: from two alignment points (the detector's keypoints 0–1, or the landmark
//! model's auxiliary landmarks 33–34) to the rotated square the landmark model looks at
//! (`shared/spec` §2, §6.1 step 4).

use crate::imgproc::RotatedRect;

/// How much larger than the alignment-point box the landmark crop is (`RectTransformationCalculator`).
pub const ROI_SCALE: f32 = 1.25;

/// Wraps an angle into [−π, π), as MediaPipe's `NormalizeRadians`.
pub fn normalize_radians(angle: f32) -> f32 {
    use std::f32::consts::PI;
    angle - 2.0 * PI * ((angle + PI) / (2.0 * PI)).floor()
}

/// The square centred on `centre` whose half side is the distance to `scale_point`, turned so that
/// `scale_point` is straight above `centre` (`AlignmentPointsRectsCalculator`, target angle 90°).
/// Points and result in pixels.
pub fn alignment_rect(centre: [f32; 2], scale_point: [f32; 2]) -> RotatedRect {
    let (dx, dy) = (scale_point[0] - centre[0], scale_point[1] - centre[1]);
    let side = (dx * dx + dy * dy).sqrt() * 2.0;
    RotatedRect {
        cx: centre[0],
        cy: centre[1],
        width: side,
        height: side,
        rotation: normalize_radians(std::f32::consts::FRAC_PI_2 - (-dy).atan2(dx)),
    }
}

/// The landmark model's crop for a person with hip centre `centre` and size point `scale_point`
/// (pixels): the alignment square, long side kept, scaled by 1.25.
pub fn pose_roi(centre: [f32; 2], scale_point: [f32; 2]) -> RotatedRect {
    let rect = alignment_rect(centre, scale_point);
    let side = rect.width.max(rect.height) * ROI_SCALE;
    RotatedRect {
        width: side,
        height: side,
        ..rect
    }
}

/// The object size that scales one-euro speeds: mean of the alignment square's sides, pixels
/// (`GetObjectScale` on the unscaled aux-landmark rect).
pub fn object_scale(centre: [f32; 2], scale_point: [f32; 2]) -> f32 {
    let rect = alignment_rect(centre, scale_point);
    (rect.width + rect.height) / 2.0
}

/// Maps a point normalised to `roi` (0..1 across the crop) to image pixels (`LandmarkProjectionCalculator`).
pub fn project(roi: &RotatedRect, x: f32, y: f32) -> [f32; 2] {
    let (sin, cos) = roi.rotation.sin_cos();
    let (dx, dy) = ((x - 0.5) * roi.width, (y - 0.5) * roi.height);
    [roi.cx + cos * dx - sin * dy, roi.cy + sin * dx + cos * dy]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::{FRAC_PI_2, PI};

    #[test]
    fn upright_person_has_no_rotation() {
        let roi = pose_roi([100.0, 200.0], [100.0, 150.0]);
        assert_eq!((roi.cx, roi.cy), (100.0, 200.0));
        assert!((roi.width - 125.0).abs() < 1e-4 && (roi.height - 125.0).abs() < 1e-4);
        assert!(roi.rotation.abs() < 1e-6);
    }

    #[test]
    fn rotation_follows_the_scale_point() {
        // Scale point to the right of the hips: the person lies along +x, turned by +90°.
        assert!((alignment_rect([0.0, 0.0], [10.0, 0.0]).rotation - FRAC_PI_2).abs() < 1e-6);
        assert!((alignment_rect([0.0, 0.0], [-10.0, 0.0]).rotation + FRAC_PI_2).abs() < 1e-6);
        // Upside down wraps to −π.
        assert!((alignment_rect([0.0, 0.0], [0.0, 10.0]).rotation + PI).abs() < 1e-6);
    }

    #[test]
    fn radians_wrap_into_half_open_range() {
        assert!((normalize_radians(3.0 * PI) + PI).abs() < 1e-5);
        assert!((normalize_radians(0.5) - 0.5).abs() < 1e-7);
        assert!((normalize_radians(-PI) + PI).abs() < 1e-7);
    }

    #[test]
    fn projection_inverts_the_crop_mapping() {
        let roi = RotatedRect {
            cx: 50.0,
            cy: 60.0,
            width: 40.0,
            height: 40.0,
            rotation: FRAC_PI_2,
        };
        // The crop's top-left corner is the image point centre + R(θ)·(−w/2, −h/2).
        let [x, y] = project(&roi, 0.0, 0.0);
        assert!(
            (x - 70.0).abs() < 1e-4 && (y - 40.0).abs() < 1e-4,
            "({x}, {y})"
        );
        assert_eq!(project(&roi, 0.5, 0.5), [50.0, 60.0]);
    }

    #[test]
    fn object_scale_is_twice_the_point_distance() {
        assert!((object_scale([0.0, 0.0], [3.0, 4.0]) - 10.0).abs() < 1e-5);
    }
}
