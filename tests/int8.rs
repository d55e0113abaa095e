//! `Precision::Int8` against f32 on the fixtures: the selfie masks (IoU at 0.5) and the pose
//! keypoints (pixels). Int8 quantizes the 1×1 convolutions only (`bodyzone::model::quantized`),
//! so these bound what 8-bit weights and activations cost the product, not the kernels'
//! arithmetic (the unit tests bound that per output).
//!
//! Measured (x86_64, AVX2; the NEON and portable builds compute the same integer sums): mask IoU
//! 0.9871–0.9976 (landscape), 0.9871–0.9971 (general); worst keypoint 10.6 px (squat, 720×1280),
//! 18.0 px (dance, 576×576). The bounds leave a little room below/above those.

use std::path::PathBuf;

use bodyzone::files::load_rgb;
use bodyzone::model::{ModelKind, Precision};
use bodyzone::pose::{PoseEstimator, PoseEstimatorConfig};
use bodyzone::segment::{Segmenter, SegmenterConfig};

const MIN_IOU: f64 = 0.98;
/// IoU measures an outline: on a mask of a few pixels (`image_to_tensor_input.jpg`, 64×128) one
/// pixel moves it by percents, so masks with fewer f32 person pixels are left out.
const MIN_PERSON_PIXELS: u64 = 1000;
/// On 576×576 and 720×1280 frames: about 2% of the person's height. Most of it is the weights'
/// 8 bits (with 12-bit activations it only halved).
const MAX_KEYPOINT_PX: f32 = 20.0;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn images() -> Vec<PathBuf> {
    let shared = root().join("../shared/fixtures/tfjs-models");
    let ours = root().join("tests/fixtures");
    vec![
        shared.join("three_people.jpg"),
        shared.join("image_to_tensor_input.jpg"),
        ours.join("squat_frame20.jpg"),
        ours.join("dance_frame60.jpg"),
        ours.join("asl_frame30.jpg"),
    ]
}

/// IoU of the two masks thresholded at 0.5, and the f32 mask's person pixels.
fn iou(int8: &[f32], f32: &[f32]) -> (f64, u64) {
    let (mut inter, mut union, mut person) = (0u64, 0u64, 0u64);
    for (&a, &b) in int8.iter().zip(f32) {
        let (a, b) = (a >= 0.5, b >= 0.5);
        inter += u64::from(a && b);
        union += u64::from(a || b);
        person += u64::from(b);
    }
    let iou = if union == 0 {
        1.0
    } else {
        inter as f64 / union as f64
    };
    (iou, person)
}

fn check_masks(model: ModelKind) {
    let segmenter = |precision| {
        Segmenter::new(SegmenterConfig {
            model,
            precision,
            model_path: None,
        })
        .unwrap()
    };
    let (mut reference, mut int8) = (segmenter(Precision::F32), segmenter(Precision::Int8));
    let mut checked = 0;
    for path in images() {
        let image = load_rgb(&path).unwrap();
        let expected = reference.segment_people(&image).unwrap();
        let got = int8.segment_people(&image).unwrap();
        let (iou, person) = iou(
            got[0].mask.probabilities(),
            expected[0].mask.probabilities(),
        );
        let name = path.file_name().unwrap().to_string_lossy();
        println!("{model:?} {name}: int8 vs f32 IoU {iou:.4} ({person} person pixels)");
        if person >= MIN_PERSON_PIXELS {
            assert!(iou >= MIN_IOU, "{model:?} {name}: IoU {iou:.4} < {MIN_IOU}");
            checked += 1;
        }
    }
    assert!(checked >= 4, "only {checked} fixtures had a person");
}

#[test]
fn landscape_int8_mask_matches_f32() {
    check_masks(ModelKind::SelfieLandscape);
}

#[test]
fn general_int8_mask_matches_f32() {
    check_masks(ModelKind::SelfieGeneral);
}

/// Single-person frames: on `three_people.jpg` the detector's choice among three similar scores
/// is itself a coin that any rounding can flip, which measures nothing about the landmarks.
#[test]
fn pose_lite_int8_keypoints_match_f32() {
    for name in ["squat_frame20.jpg", "dance_frame60.jpg"] {
        let image = load_rgb(&root().join("tests/fixtures").join(name)).unwrap();
        let estimate = |precision| {
            let mut estimator = PoseEstimator::new(PoseEstimatorConfig {
                model: ModelKind::PoseLite,
                static_image_mode: true,
                precision,
                ..Default::default()
            })
            .unwrap();
            estimator.estimate_poses(&image, None).unwrap()
        };
        let (expected, got) = (estimate(Precision::F32), estimate(Precision::Int8));
        assert_eq!((expected.len(), got.len()), (1, 1), "{name}: one pose each");
        let (keypoint, px) = got[0]
            .keypoints
            .iter()
            .zip(&expected[0].keypoints)
            .map(|(g, e)| (e.name, (g.x - e.x).hypot(g.y - e.y)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        println!("{name}: worst keypoint {keypoint}, {px:.2} px from f32's");
        assert!(
            px <= MAX_KEYPOINT_PX,
            "{name}: keypoint {keypoint} is {px:.2} px from f32's (max {MAX_KEYPOINT_PX})"
        );
    }
}
