//! The 33 BlazePose keypoints: names in MediaPipe / TF.js order, and the skeleton drawn between them
//! (`shared/spec` §3.3).

/// Number of body keypoints a pose has.
pub const NUM_KEYPOINTS: usize = 33;

/// Keypoint names, index = MediaPipe landmark index (TF.js `BLAZEPOSE_KEYPOINTS`).
pub const NAMES: [&str; NUM_KEYPOINTS] = [
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
];

/// Pairs of keypoint indices joined by a bone, as MediaPipe's `POSE_CONNECTIONS`.
pub const SKELETON: [(usize, usize); 35] = [
    (0, 1),
    (1, 2),
    (2, 3),
    (3, 7),
    (0, 4),
    (4, 5),
    (5, 6),
    (6, 8),
    (9, 10),
    (11, 12),
    (11, 13),
    (13, 15),
    (15, 17),
    (15, 19),
    (15, 21),
    (17, 19),
    (12, 14),
    (14, 16),
    (16, 18),
    (16, 20),
    (16, 22),
    (18, 20),
    (11, 23),
    (12, 24),
    (23, 24),
    (23, 25),
    (24, 26),
    (25, 27),
    (26, 28),
    (27, 29),
    (28, 30),
    (29, 31),
    (30, 32),
    (27, 31),
    (28, 32),
];

/// Index of a keypoint by its name, e.g. `index_of("left_hip") == Some(23)`.
pub fn index_of(name: &str) -> Option<usize> {
    NAMES.iter().position(|&n| n == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_mediapipe_order() {
        assert_eq!(index_of("nose"), Some(0));
        assert_eq!(index_of("left_shoulder"), Some(11));
        assert_eq!(index_of("right_hip"), Some(24));
        assert_eq!(index_of("right_foot_index"), Some(32));
        assert_eq!(index_of("tail"), None);
    }

    #[test]
    fn skeleton_joins_known_keypoints_once() {
        let mut seen = std::collections::HashSet::new();
        for &(a, b) in &SKELETON {
            assert!(a < NUM_KEYPOINTS && b < NUM_KEYPOINTS);
            assert!(seen.insert((a.min(b), a.max(b))), "duplicate bone {a}-{b}");
        }
    }
}
