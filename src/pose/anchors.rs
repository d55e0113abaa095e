//! SSD anchors as MediaPipe's `SsdAnchorsCalculator` makes them (`shared/spec` §1.2).

/// One anchor, normalised to the detector's input tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Anchor {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

/// `SsdAnchorsCalculatorOptions`, with the proto defaults where the pose graph leaves a field unset.
#[derive(Debug, Clone, PartialEq)]
pub struct AnchorConfig {
    pub input_width: u32,
    pub input_height: u32,
    pub min_scale: f32,
    pub max_scale: f32,
    pub anchor_offset_x: f32,
    pub anchor_offset_y: f32,
    /// One stride per layer; consecutive layers with the same stride share a feature map.
    pub strides: Vec<u32>,
    pub aspect_ratios: Vec<f32>,
    /// Adds one anchor per layer at the geometric mean of this and the next layer's scale (0 = off).
    pub interpolated_scale_aspect_ratio: f32,
    pub reduce_boxes_in_lowest_layer: bool,
    /// Every anchor gets width = height = 1 (the regressors carry the size).
    pub fixed_anchor_size: bool,
}

impl AnchorConfig {
    /// The pose detector's options (`pose_detection_cpu.pbtxt`).
    pub fn pose_detection() -> Self {
        AnchorConfig {
            input_width: 224,
            input_height: 224,
            min_scale: 0.148_437_5,
            max_scale: 0.75,
            anchor_offset_x: 0.5,
            anchor_offset_y: 0.5,
            strides: vec![8, 16, 32, 32, 32],
            aspect_ratios: vec![1.0],
            interpolated_scale_aspect_ratio: 1.0,
            reduce_boxes_in_lowest_layer: false,
            fixed_anchor_size: true,
        }
    }

    /// All anchors, in the order of the model's output rows: layer group → y → x → anchor.
    pub fn anchors(&self) -> Vec<Anchor> {
        let layers = self.strides.len();
        let scale_of = |layer: usize| {
            if layers == 1 {
                (self.min_scale + self.max_scale) * 0.5
            } else {
                self.min_scale
                    + (self.max_scale - self.min_scale) * layer as f32 / (layers as f32 - 1.0)
            }
        };
        let mut anchors = Vec::new();
        let mut layer = 0;
        while layer < layers {
            // (scale, aspect ratio) of each anchor of a cell, over all layers sharing this stride.
            let mut shapes: Vec<(f32, f32)> = Vec::new();
            let mut last = layer;
            while last < layers && self.strides[last] == self.strides[layer] {
                let scale = scale_of(last);
                if last == 0 && self.reduce_boxes_in_lowest_layer {
                    shapes.extend([(0.1, 1.0), (scale, 2.0), (scale, 0.5)]);
                } else {
                    shapes.extend(self.aspect_ratios.iter().map(|&ratio| (scale, ratio)));
                    if self.interpolated_scale_aspect_ratio > 0.0 {
                        let next = if last == layers - 1 {
                            1.0
                        } else {
                            scale_of(last + 1)
                        };
                        shapes.push(((scale * next).sqrt(), self.interpolated_scale_aspect_ratio));
                    }
                }
                last += 1;
            }
            let stride = self.strides[layer] as f32;
            let fh = (self.input_height as f32 / stride).ceil() as u32;
            let fw = (self.input_width as f32 / stride).ceil() as u32;
            for y in 0..fh {
                for x in 0..fw {
                    for &(scale, ratio) in &shapes {
                        let (w, h) = if self.fixed_anchor_size {
                            (1.0, 1.0)
                        } else {
                            (scale * ratio.sqrt(), scale / ratio.sqrt())
                        };
                        anchors.push(Anchor {
                            x: (x as f32 + self.anchor_offset_x) / fw as f32,
                            y: (y as f32 + self.anchor_offset_y) / fh as f32,
                            w,
                            h,
                        });
                    }
                }
            }
            layer = last;
        }
        anchors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden(name: &str) -> Vec<Anchor> {
        let path = format!(
            "{}/../shared/fixtures/tfjs-models/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let rows: Vec<[f32; 4]> = serde_json::from_str(&text).expect("anchor golden JSON");
        rows.into_iter()
            .map(|[x, y, w, h]| Anchor { x, y, w, h })
            .collect()
    }

    fn assert_anchors_close(got: &[Anchor], want: &[Anchor]) {
        assert_eq!(got.len(), want.len(), "anchor count");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            let close = [(g.x, w.x), (g.y, w.y), (g.w, w.w), (g.h, w.h)]
                .iter()
                .all(|(a, b)| (a - b).abs() <= 1e-5);
            assert!(close, "anchor {i}: got {g:?}, want {w:?}");
        }
    }

    /// TF.js `create_ssd_anchors_test.ts`, "face detection config".
    #[test]
    fn face_detection_golden() {
        let config = AnchorConfig {
            input_width: 256,
            input_height: 256,
            min_scale: 0.117_187_5,
            ..AnchorConfig::pose_detection()
        };
        assert_anchors_close(&config.anchors(), &golden("anchor_golden_file_0.json"));
    }

    /// TF.js `create_ssd_anchors_test.ts`, "3 inputs reverse".
    #[test]
    fn reduced_lowest_layer_golden() {
        let config = AnchorConfig {
            input_width: 300,
            input_height: 300,
            min_scale: 0.2,
            max_scale: 0.95,
            anchor_offset_x: 0.5,
            anchor_offset_y: 0.5,
            strides: vec![16, 32, 64, 128, 256, 512],
            aspect_ratios: vec![1.0, 2.0, 0.5, 3.0, 0.3333],
            interpolated_scale_aspect_ratio: 1.0,
            reduce_boxes_in_lowest_layer: true,
            fixed_anchor_size: false,
        };
        assert_anchors_close(&config.anchors(), &golden("anchor_golden_file_1.json"));
    }

    #[test]
    fn pose_detector_has_one_anchor_per_output_row() {
        let anchors = AnchorConfig::pose_detection().anchors();
        assert_eq!(anchors.len(), 2254);
        assert_eq!(
            anchors[1568].x,
            0.5 / 14.0,
            "second layer group starts after 28²·2 rows"
        );
    }
}
