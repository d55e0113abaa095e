//! Fitness poses from BlazePose keypoints, and rep counting.
//!
//! [`classify()`] names the pose of one frame from joint angles and the body's orientation;
//! [`PoseFilter`] holds a pose until a different one has been seen for a while (so one noisy
//! frame does not flip it); [`RepCounter`] counts squats, push-ups, lunges and jumping jacks as
//! full down-and-up cycles of one angle; [`Coach`] runs all of it per zone and turns frames into
//! [events](events).
//!
//! # Geometry
//!
//! Everything here is computed from the **world keypoints** (metres, 3D, origin between the hips):
//! a knee angle measured in 3D is the same whether the camera sees the person from the front, the
//! side or at 45°, where the 2D angle in the image shrinks with foreshortening (on the squat clip
//! the image knee angle at the bottom reads 85–105°, the 3D one 65–90°). MediaPipe rotates the
//! world keypoints back into the camera's axes (x right, y down, z away from the camera), so
//! "vertical" is the camera's vertical: orientation rules (upright, horizontal) assume a camera
//! that is roughly level. The **image keypoints** (normalised `0..1` in the frame) are only used
//! to place the person on the floor of a zone ([`crate::zone`]).
//!
//! Visibility is respected everywhere: a joint whose visibility is below
//! [`ClassifierParams::min_visibility`] gives no angle, a rule needing it does not fire, and a
//! frame with no usable torso is [`Pose::Unknown`].
//!
//! ## Examples
//!
//! ```
//! use bodyzone::exercise::{Body, ClassifierParams, Pose, classify};
//!
//! // No keypoint visible: nothing can be said.
//! let body = Body { score: 1.0, image: [[0.5; 2]; 33], world: [[0.0; 3]; 33], visibility: [0.0; 33] };
//! assert_eq!(classify(&body, &ClassifierParams::default()), Pose::Unknown);
//! ```

mod classify;
mod coach;
pub mod events;
mod reps;

pub use classify::{ClassifierParams, Measures, PoseFilter, classify};
pub use coach::{Coach, Observation};
pub use reps::{RepCounter, RepRule};

use std::fmt;
use std::str::FromStr;

/// Number of BlazePose keypoints.
pub const NUM_KEYPOINTS: usize = 33;

/// One person's keypoints as the decision logic needs them, indexed like MediaPipe's landmarks
/// (0 nose … 11/12 shoulders, 13/14 elbows, 15/16 wrists, 23/24 hips, 25/26 knees, 27/28 ankles,
/// 29/30 heels, 31/32 foot index).
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

/// A named body pose. `Standing` and `Unknown` are not exercises; the others are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pose {
    Unknown,
    Standing,
    Squat,
    Lunge,
    Plank,
    Pushup,
    JumpingJack,
    Warrior,
}

impl Pose {
    /// The exercise poses, in config order.
    pub const EXERCISES: [Pose; 6] = [
        Pose::Squat,
        Pose::Lunge,
        Pose::Plank,
        Pose::Pushup,
        Pose::JumpingJack,
        Pose::Warrior,
    ];

    /// The name used in config files and events (`"jumping_jack"`).
    pub fn name(self) -> &'static str {
        match self {
            Pose::Unknown => "unknown",
            Pose::Standing => "standing",
            Pose::Squat => "squat",
            Pose::Lunge => "lunge",
            Pose::Plank => "plank",
            Pose::Pushup => "pushup",
            Pose::JumpingJack => "jumping_jack",
            Pose::Warrior => "warrior",
        }
    }

    /// Whether this is one of [`Pose::EXERCISES`].
    pub fn is_exercise(self) -> bool {
        Pose::EXERCISES.contains(&self)
    }
}

impl fmt::Display for Pose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Pose {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        [Pose::Unknown, Pose::Standing]
            .into_iter()
            .chain(Pose::EXERCISES)
            .find(|p| p.name() == s)
            .ok_or(())
    }
}

/// MediaPipe landmark indices used by the rules.
pub(crate) mod kp {
    pub const LEFT_SHOULDER: usize = 11;
    pub const RIGHT_SHOULDER: usize = 12;
    pub const LEFT_ELBOW: usize = 13;
    pub const LEFT_WRIST: usize = 15;
    pub const LEFT_HIP: usize = 23;
    pub const RIGHT_HIP: usize = 24;
    pub const LEFT_KNEE: usize = 25;
    pub const LEFT_ANKLE: usize = 27;
    pub const RIGHT_ANKLE: usize = 28;
}

impl Body {
    /// From the pose estimator's person in an image of `width × height` pixels.
    pub fn from_pose(pose: &crate::pose::Pose, width: u32, height: u32) -> Body {
        let mut body = Body {
            score: pose.score,
            image: [[0.0; 2]; NUM_KEYPOINTS],
            world: [[0.0; 3]; NUM_KEYPOINTS],
            visibility: [0.0; NUM_KEYPOINTS],
        };
        let (w, h) = (width.max(1) as f32, height.max(1) as f32);
        for (i, kp) in pose.keypoints.iter().take(NUM_KEYPOINTS).enumerate() {
            body.image[i] = [kp.x / w, kp.y / h];
            body.visibility[i] = kp.score;
        }
        for (i, kp) in pose.keypoints_3d.iter().take(NUM_KEYPOINTS).enumerate() {
            body.world[i] = [kp.x, kp.y, kp.z];
        }
        body
    }
}
