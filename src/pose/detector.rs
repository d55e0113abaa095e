//! Pose detector post-processing: SSD box and keypoint decoding, score sigmoid and threshold,
//! weighted non-maximum suppression and letterbox removal, as MediaPipe's
//! `pose_detection_cpu.pbtxt` (`shared/spec` §1.3–§1.5).

use super::anchors::Anchor;
use crate::imgproc::Padding;

/// Number of keypoints the detector regresses: hip centre, full-body point, shoulder centre, upper-body point.
pub const NUM_DETECTION_KEYPOINTS: usize = 4;
/// Values per anchor in the `boxes` output: box (x, y, w, h) and 4 keypoints (x, y).
pub const NUM_COORDS: usize = 4 + 2 * NUM_DETECTION_KEYPOINTS;
/// The detector's input side; the regressors are in these pixels.
pub const INPUT_SIZE: usize = 224;
/// `min_score_thresh` of the detection graph (and MP Python's `min_detection_confidence`).
pub const MIN_SCORE: f32 = 0.5;
/// Logits are clamped to ±100 before the sigmoid (`score_clipping_thresh`).
const SCORE_CLIPPING: f32 = 100.0;
/// IoU above which detections join a cluster in the weighted NMS.
pub const NMS_IOU: f32 = 0.3;

/// One detection, normalised (to the letterboxed tensor, or to the image after [`Detection::remove_letterbox`]).
/// The box is the face; keypoints 0 and 1 give the body's ROI.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub score: f32,
    pub xmin: f32,
    pub ymin: f32,
    pub width: f32,
    pub height: f32,
    pub keypoints: [[f32; 2]; NUM_DETECTION_KEYPOINTS],
}

fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

/// Decodes the detector's raw outputs (`boxes` rows of [`NUM_COORDS`], `scores` logits) against
/// `anchors`, keeping detections scoring at least `min_score`.
///
/// # Panics
/// If the output sizes do not match the anchors (a model/anchor mismatch, not an input error).
pub fn decode(boxes: &[f32], scores: &[f32], anchors: &[Anchor], min_score: f32) -> Vec<Detection> {
    assert_eq!(
        boxes.len(),
        anchors.len() * NUM_COORDS,
        "box regressors per anchor"
    );
    assert_eq!(scores.len(), anchors.len(), "scores per anchor");
    let scale = INPUT_SIZE as f32;
    let mut out = Vec::new();
    for ((raw, &logit), a) in boxes.chunks_exact(NUM_COORDS).zip(scores).zip(anchors) {
        let score = sigmoid(logit.clamp(-SCORE_CLIPPING, SCORE_CLIPPING));
        if score < min_score {
            continue;
        }
        let xc = raw[0] / scale * a.w + a.x;
        let yc = raw[1] / scale * a.h + a.y;
        let w = raw[2] / scale * a.w;
        let h = raw[3] / scale * a.h;
        if w.is_nan() || h.is_nan() || w < 0.0 || h < 0.0 {
            continue;
        }
        let keypoints = std::array::from_fn(|k| {
            [
                raw[4 + 2 * k] / scale * a.w + a.x,
                raw[5 + 2 * k] / scale * a.h + a.y,
            ]
        });
        out.push(Detection {
            score,
            xmin: xc - w / 2.0,
            ymin: yc - h / 2.0,
            width: w,
            height: h,
            keypoints,
        });
    }
    out
}

impl Detection {
    fn iou(&self, other: &Detection) -> f32 {
        let ix = (self.xmin + self.width).min(other.xmin + other.width) - self.xmin.max(other.xmin);
        let iy =
            (self.ymin + self.height).min(other.ymin + other.height) - self.ymin.max(other.ymin);
        if ix <= 0.0 || iy <= 0.0 {
            return 0.0;
        }
        let inter = ix * iy;
        let union = self.width * self.height + other.width * other.height - inter;
        if union > 0.0 { inter / union } else { 0.0 }
    }

    /// Maps a detection on the letterboxed tensor to image-normalised coordinates.
    pub fn remove_letterbox(&self, padding: &Padding) -> Detection {
        let (xmin, ymin) = padding.remove(self.xmin, self.ymin);
        let sx = 1.0 - padding.left - padding.right;
        let sy = 1.0 - padding.top - padding.bottom;
        Detection {
            score: self.score,
            xmin,
            ymin,
            width: self.width / sx,
            height: self.height / sy,
            keypoints: self.keypoints.map(|[x, y]| {
                let (x, y) = padding.remove(x, y);
                [x, y]
            }),
        }
    }
}

/// MediaPipe's WEIGHTED non-maximum suppression: the best detection absorbs every other with
/// IoU > `iou_threshold`; its box and keypoints become the score-weighted mean of the cluster, its
/// score stays its own. Output sorted by score, best first.
pub fn weighted_nms(mut detections: Vec<Detection>, iou_threshold: f32) -> Vec<Detection> {
    detections.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = Vec::new();
    while let Some(top) = detections.first().copied() {
        let (cluster, rest): (Vec<Detection>, Vec<Detection>) = detections
            .into_iter()
            .partition(|d| d.iou(&top) > iou_threshold);
        let mut merged = top;
        if !cluster.is_empty() {
            let total: f32 = cluster.iter().map(|d| d.score).sum();
            let mean = |f: &dyn Fn(&Detection) -> f32| {
                cluster.iter().map(|d| f(d) * d.score).sum::<f32>() / total
            };
            let xmin = mean(&|d| d.xmin);
            let ymin = mean(&|d| d.ymin);
            let xmax = mean(&|d| d.xmin + d.width);
            let ymax = mean(&|d| d.ymin + d.height);
            merged.xmin = xmin;
            merged.ymin = ymin;
            merged.width = xmax - xmin;
            merged.height = ymax - ymin;
            merged.keypoints = std::array::from_fn(|k| {
                [mean(&|d| d.keypoints[k][0]), mean(&|d| d.keypoints[k][1])]
            });
        }
        out.push(merged);
        if cluster.is_empty() {
            // Only possible for a degenerate box that does not overlap itself: stop, as MediaPipe does.
            break;
        }
        detections = rest;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(score: f32, xmin: f32, kx: f32) -> Detection {
        Detection {
            score,
            xmin,
            ymin: 0.0,
            width: 1.0,
            height: 1.0,
            keypoints: [[kx, 0.0]; 4],
        }
    }

    #[test]
    fn decodes_xywh_relative_to_anchor() {
        let anchors = [
            Anchor {
                x: 0.5,
                y: 0.25,
                w: 1.0,
                h: 1.0,
            },
            Anchor {
                x: 0.1,
                y: 0.1,
                w: 1.0,
                h: 1.0,
            },
        ];
        let mut boxes = vec![0.0; 2 * NUM_COORDS];
        boxes[..6].copy_from_slice(&[22.4, -22.4, 44.8, 22.4, 11.2, 0.0]);
        let scores = [2.0, -2.0];
        let dets = decode(&boxes, &scores, &anchors, MIN_SCORE);
        assert_eq!(dets.len(), 1, "the second anchor scores below 0.5");
        let d = dets[0];
        assert!((d.score - sigmoid(2.0)).abs() < 1e-6);
        assert!((d.xmin - (0.6 - 0.1)).abs() < 1e-6 && (d.ymin - (0.15 - 0.05)).abs() < 1e-6);
        assert!((d.width - 0.2).abs() < 1e-6 && (d.height - 0.1).abs() < 1e-6);
        assert!((d.keypoints[0][0] - 0.55).abs() < 1e-6 && (d.keypoints[0][1] - 0.25).abs() < 1e-6);
    }

    #[test]
    fn negative_sizes_are_dropped() {
        let anchors = [Anchor {
            x: 0.5,
            y: 0.5,
            w: 1.0,
            h: 1.0,
        }];
        let mut boxes = vec![0.0; NUM_COORDS];
        boxes[2] = -1.0;
        assert!(decode(&boxes, &[5.0], &anchors, MIN_SCORE).is_empty());
        boxes[2] = f32::NAN;
        assert!(decode(&boxes, &[5.0], &anchors, MIN_SCORE).is_empty());
    }

    #[test]
    fn weighted_nms_averages_clusters_and_keeps_top_score() {
        let dets = vec![det(0.6, 0.1, 1.0), det(0.9, 0.0, 0.0), det(0.7, 5.0, 7.0)];
        let out = weighted_nms(dets, NMS_IOU);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].score, 0.9);
        let want_x = (0.9 * 0.0 + 0.6 * 0.1) / 1.5;
        assert!((out[0].xmin - want_x).abs() < 1e-6);
        assert!((out[0].keypoints[2][0] - 0.6 / 1.5).abs() < 1e-6);
        assert!(
            (out[1].keypoints[0][0] - 7.0).abs() < 1e-5,
            "a lone detection keeps its place"
        );
    }

    #[test]
    fn letterbox_removal_rescales_points_and_sizes() {
        let pad = Padding {
            left: 0.0,
            top: 0.25,
            right: 0.0,
            bottom: 0.25,
        };
        let d = Detection {
            score: 1.0,
            xmin: 0.2,
            ymin: 0.25,
            width: 0.1,
            height: 0.25,
            keypoints: [[0.5, 0.5]; 4],
        };
        let r = d.remove_letterbox(&pad);
        assert!((r.ymin - 0.0).abs() < 1e-6 && (r.height - 0.5).abs() < 1e-6);
        assert!((r.xmin - 0.2).abs() < 1e-6 && (r.width - 0.1).abs() < 1e-6);
        assert_eq!(r.keypoints[0], [0.5, 0.5]);
    }
}
