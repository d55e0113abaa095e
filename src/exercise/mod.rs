//! Fitness poses from BlazePose keypoints, and rep counting.
//!
//! [`classify()`] names the pose of one frame from joint angles and the body's orientation;
//! [`PostureFilter`] holds a pose until a different one has been seen for a while (so one noisy
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
//! frame with no usable torso is [`Posture::Unknown`].
//!
//! ## Examples
//!
//! ```
//! use bodyzone::body::{Body, Posture};
//! use bodyzone::exercise::{ClassifierParams, classify};
//!
//! // No keypoint visible: nothing can be said.
//! let body = Body { score: 1.0, image: [[0.5; 2]; 33], world: [[0.0; 3]; 33], visibility: [0.0; 33] };
//! assert_eq!(classify(&body, &ClassifierParams::default()), Posture::Unknown);
//! ```

mod classify;
mod coach;
pub mod events;
mod reps;

pub use classify::{ClassifierParams, Measures, PostureFilter, classify};
pub use coach::{Coach, Observation, ZoneStatus};
pub use reps::{RepCounter, RepRule};
