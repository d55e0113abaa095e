//! BlazePose GHUM: detector, 33 keypoints, 3D world keypoints, segmentation and tracking.

pub mod anchors;
pub mod detector;
pub mod filter;
pub mod keypoints;
pub mod landmarks;
pub mod roi;
