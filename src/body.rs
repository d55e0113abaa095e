//! The human body as every layer names it: MediaPipe's 33 landmarks (indices, names, the
//! skeleton drawn between them; `shared/spec` §3.3), one person's keypoints as the rules take
//! them ([`Body`]), and the postures the exercise rules name ([`Posture`]).

use std::fmt;
use std::str::FromStr;

/// Number of BlazePose body keypoints.
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

/// Landmark indices the rules use by name.
pub mod landmark {
    pub const LEFT_SHOULDER: usize = 11;
    pub const RIGHT_SHOULDER: usize = 12;
    pub const LEFT_ELBOW: usize = 13;
    pub const LEFT_WRIST: usize = 15;
    pub const LEFT_HIP: usize = 23;
    pub const RIGHT_HIP: usize = 24;
    pub const LEFT_KNEE: usize = 25;
    pub const LEFT_ANKLE: usize = 27;
    pub const RIGHT_ANKLE: usize = 28;
    /// The floor-contact keypoints: ankles 27/28, heels 29/30, foot index 31/32.
    pub const FEET: [usize; 6] = [27, 28, 29, 30, 31, 32];
}

/// One person's keypoints as the rules (zones, exercises) need them, indexed like [`NAMES`].
#[derive(Debug, Clone, PartialEq)]
pub struct Body {
    /// The pose landmark model's score that a person is there (`0..1`).
    pub score: f32,
    /// Image keypoints, `x, y` normalised to the frame (`0..1`, may fall outside when off-frame).
    pub image: [[f32; 2]; NUM_KEYPOINTS],
    /// World keypoints in metres: x right, y down, z away from the camera, origin between the hips.
    pub world: [[f32; 3]; NUM_KEYPOINTS],
    /// Per-keypoint visibility (`0..1`).
    pub visibility: [f32; NUM_KEYPOINTS],
}

/// A named posture of the body, as the exercise rules classify it. `Standing` and `Unknown` are
/// not exercises; the others are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Posture {
    Unknown,
    Standing,
    Squat,
    Lunge,
    Plank,
    Pushup,
    JumpingJack,
    Warrior,
}

impl Posture {
    /// The exercise poses, in config order.
    pub const EXERCISES: [Posture; 6] = [
        Posture::Squat,
        Posture::Lunge,
        Posture::Plank,
        Posture::Pushup,
        Posture::JumpingJack,
        Posture::Warrior,
    ];

    /// The name used in config files and events (`"jumping_jack"`).
    pub fn name(self) -> &'static str {
        match self {
            Posture::Unknown => "unknown",
            Posture::Standing => "standing",
            Posture::Squat => "squat",
            Posture::Lunge => "lunge",
            Posture::Plank => "plank",
            Posture::Pushup => "pushup",
            Posture::JumpingJack => "jumping_jack",
            Posture::Warrior => "warrior",
        }
    }

    /// Whether this is one of [`Posture::EXERCISES`].
    pub fn is_exercise(self) -> bool {
        Posture::EXERCISES.contains(&self)
    }
}

impl fmt::Display for Posture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Posture {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        [Posture::Unknown, Posture::Standing]
            .into_iter()
            .chain(Posture::EXERCISES)
            .find(|p| p.name() == s)
            .ok_or(())
    }
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
