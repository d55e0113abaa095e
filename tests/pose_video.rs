//! BlazePose tracking on video against MediaPipe's video mode (`shared/fixtures/golden/
//! pose_1.pose1.json`, full model; `squats_mirrored.pose0.json`, lite): 95% of keypoints within
//! 6 px of MediaPipe's and all within 15 px, on every frame where MediaPipe found the person.
//!
//! Frames are decoded by `ffmpeg` (`source::VideoSource`; the same RGB values as the OpenCV decode
//! the goldens were made from) and timestamped like MediaPipe's Python solution, which clocks frame
//! `i` at `(i + 1) × 33 333 µs` whatever the video's rate: the one-euro filters then see the same
//! time steps as in the goldens.
//!
//! The squat clip is chaotic under tracking (5 fps, fast squats: each crop comes from the previous
//! frame's landmarks): MediaPipe itself, given the clip with 0.1% of the values moved by one level,
//! lands more than 15 px (up to 49 px) from its own golden on 9 to 11 of 65 frames. Fed
//! MediaPipe's own crop, our landmark model is within 0.02 px (of the 256-px input) of MediaPipe's
//! on any frame, but float rounding decides where those frames end up. So on that clip the 15 px bound is checked on the frames
//! MediaPipe reproduces to 15 px in all of its noisy runs (`tests/pose_fixtures/
//! squats_mirrored.pose0.spread.json`, made by `mediapipe_spread.py` beside it); the other frames
//! count in the 95%-within-6-px statistic only.

mod pose_support;

use bodyzone::model::ModelKind;
use bodyzone::pose::{PoseEstimator, PoseEstimatorConfig, mediapipe_solution_timestamp};
use bodyzone::source::{FrameSource, VideoSource};
use pose_support::*;
use serde::Deserialize;

/// The bound on every keypoint.
const MAX_PX: f32 = 15.0;

/// MediaPipe's own largest distance from its golden, per frame and keypoint, under invisible noise.
#[derive(Deserialize)]
struct Spread {
    max_px: Vec<Option<Vec<f32>>>,
}

fn check(video: &str, golden: &str, model: ModelKind, spread: Option<&str>) {
    let mut source = VideoSource::open(&fixture(video), &Default::default()).unwrap();
    let golden = golden_frames(golden);
    let spread = spread.map(|name| {
        let text = std::fs::read_to_string(own_fixture(name)).unwrap();
        serde_json::from_str::<Spread>(&text).unwrap().max_px
    });
    let mut estimator = PoseEstimator::new(PoseEstimatorConfig {
        model,
        ..Default::default()
    })
    .unwrap();
    let mut errors = Vec::new();
    let mut worst_at = (0, 0, 0.0f32);
    let mut frames = 0;
    while let Some(frame) = source.next_frame().unwrap() {
        let i = frames;
        frames += 1;
        let image = frame.to_rgb_image().unwrap();
        let poses = estimator
            .estimate_poses(&image, Some(mediapipe_solution_timestamp(i as u64)))
            .unwrap();
        let want = &golden[i];
        assert_eq!(want.frame, i);
        let Some(want) = &want.keypoints else {
            assert!(
                poses.is_empty(),
                "{video} frame {i}: MediaPipe found nobody, we did"
            );
            continue;
        };
        assert_eq!(
            poses.len(),
            1,
            "{video} frame {i}: MediaPipe found the person, we did not"
        );
        let px = pixel_errors(&poses[0].keypoints, want);
        let (k, e) = worst(&px);
        if e > worst_at.2 {
            worst_at = (i, k, e);
        }
        // A frame MediaPipe itself cannot reproduce to 15 px under invisible noise says nothing
        // about our pipeline beyond the 6 px statistic below.
        let reproducible = spread
            .as_ref()
            .and_then(|s| s[i].as_ref())
            .is_none_or(|s| s.iter().all(|&d| d <= MAX_PX));
        if reproducible {
            let (k, e) = worst(&px);
            assert!(
                e <= MAX_PX,
                "{video}: frame {i} keypoint {k} is {e:.2} px from MediaPipe's (max {MAX_PX})"
            );
        }
        errors.extend(px);
    }
    assert_eq!(frames, golden.len(), "{video}: frame count");
    let within6 = errors.iter().filter(|&&e| e <= 6.0).count() as f32 / errors.len() as f32;
    let (fi, k, e) = worst_at;
    eprintln!(
        "{video}: {:.1}% of keypoints within 6 px, worst {e:.2} px (frame {fi}, keypoint {k})",
        within6 * 100.0
    );
    assert!(
        within6 >= 0.95,
        "{video}: only {:.1}% of keypoints within 6 px",
        within6 * 100.0
    );
}

#[test]
fn dance_tracking_matches_mediapipe_full() {
    check(
        "tfjs-models/pose_1.mp4",
        "pose_1.pose1.json",
        ModelKind::PoseFull,
        None,
    );
}

#[test]
fn squats_tracking_matches_mediapipe_lite() {
    check(
        "demo/squats_mirrored.mp4",
        "squats_mirrored.pose0.json",
        ModelKind::PoseLite,
        Some("squats_mirrored.pose0.spread.json"),
    );
}
