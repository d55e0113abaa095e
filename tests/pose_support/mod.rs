//! Shared by the pose golden tests: the goldens of `shared/reference/mediapipe_golden.py` and the
//! distances the thresholds are stated in.
#![allow(dead_code)] // each test file uses part of this

use std::path::PathBuf;

use bodyzone::frame::Mask;
use bodyzone::pose::Keypoint;
use serde::Deserialize;

pub fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures")
        .join(path)
}

/// A file of `tests/pose_fixtures/`.
pub fn own_fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/pose_fixtures")
        .join(name)
}

/// One landmark of a golden: image keypoints in pixels (z like x), world keypoints in metres.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct GoldenPoint {
    pub x: f32,
    pub y: f32,
    pub z: f32,
    pub visibility: f32,
}

/// One frame of a golden file; `keypoints` is `None` where MediaPipe found nobody.
#[derive(Debug, Deserialize)]
pub struct GoldenFrame {
    pub frame: usize,
    pub width: u32,
    pub height: u32,
    pub keypoints: Option<Vec<GoldenPoint>>,
    #[serde(rename = "keypoints3D")]
    pub keypoints_3d: Option<Vec<GoldenPoint>>,
}

pub fn golden_frames(name: &str) -> Vec<GoldenFrame> {
    let path = fixture(&format!("golden/{name}"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Image-plane distance of each keypoint to the golden, pixels.
pub fn pixel_errors(got: &[Keypoint], want: &[GoldenPoint]) -> Vec<f32> {
    assert_eq!(got.len(), want.len(), "keypoint count");
    got.iter()
        .zip(want)
        .map(|(g, w)| (g.x - w.x).hypot(g.y - w.y))
        .collect()
}

/// 3D distance of each world keypoint to the golden, metres.
pub fn world_errors(got: &[Keypoint], want: &[GoldenPoint]) -> Vec<f32> {
    assert_eq!(got.len(), want.len(), "world keypoint count");
    got.iter()
        .zip(want)
        .map(|(g, w)| ((g.x - w.x).powi(2) + (g.y - w.y).powi(2) + (g.z - w.z).powi(2)).sqrt())
        .collect()
}

/// The worst of `errors` with its index, for failure messages that name the outlier.
pub fn worst(errors: &[f32]) -> (usize, f32) {
    errors
        .iter()
        .copied()
        .enumerate()
        .fold((0, 0.0), |a, (i, e)| if e > a.1 { (i, e) } else { a })
}

/// IoU of the two masks thresholded at 0.5.
pub fn mask_iou(got: &Mask, golden_png: &str) -> f32 {
    let path = fixture(&format!("golden/{golden_png}"));
    let want = image::open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_luma8();
    assert_eq!(
        (got.width(), got.height()),
        want.dimensions(),
        "{golden_png}: mask size"
    );
    let (mut inter, mut union) = (0u64, 0u64);
    for (&p, &w) in got.probabilities().iter().zip(want.as_raw()) {
        let (a, b) = (p >= 0.5, w >= 128);
        inter += u64::from(a && b);
        union += u64::from(a || b);
    }
    if union == 0 {
        1.0
    } else {
        inter as f32 / union as f32
    }
}
