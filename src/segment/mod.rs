//! Selfie Segmentation: a person-probability mask per image, and ways to draw it.

pub mod render;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use image::{GrayImage, RgbImage};
use tract_onnx::prelude::Tensor;

use crate::imgproc::{BorderMode, ImageToTensor, RotatedRect, resize_bilinear};
use crate::model::{Model, ModelError, ModelKind, Precision, f32_values};

/// Which Selfie Segmentation network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SelfieModel {
    /// 256×256: better on portrait and square images, slower.
    General,
    /// 144×256: made for 16:9 video, about half the work.
    #[default]
    Landscape,
}

impl SelfieModel {
    pub fn kind(self) -> ModelKind {
        match self {
            SelfieModel::General => ModelKind::SelfieGeneral,
            SelfieModel::Landscape => ModelKind::SelfieLandscape,
        }
    }
}

impl std::str::FromStr for SelfieModel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "general" => Ok(SelfieModel::General),
            "landscape" => Ok(SelfieModel::Landscape),
            other => Err(format!(
                "unknown segmentation model `{other}`: expected general or landscape"
            )),
        }
    }
}

/// How to build a [`Segmenter`], as TF.js's `createSegmenter` config.
#[derive(Debug, Clone, Default)]
pub struct SegmenterConfig {
    pub model: SelfieModel,
    pub precision: Precision,
    /// Load the ONNX file from here instead of the embedded model.
    pub model_path: Option<PathBuf>,
}

/// Time spent in each stage of the last [`Segmenter::segment_people`] call.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTimes {
    pub preprocess: Duration,
    pub inference: Duration,
    pub postprocess: Duration,
}

/// Selfie Segmentation with MediaPipe's pre- and post-processing (`shared/spec` §7): the image is
/// stretched to the tensor (no letterbox), values in [0, 1], the model's sigmoid output is resized
/// back to the image with half-pixel bilinear sampling.
pub struct Segmenter {
    model: Model,
    to_tensor: ImageToTensor,
    input: Vec<f32>,
    times: StageTimes,
}

impl Segmenter {
    pub fn new(config: SegmenterConfig) -> Result<Segmenter, ModelError> {
        let kind = config.model.kind();
        let model = Model::load(kind, config.precision, config.model_path.as_deref())?;
        let [_, c, h, w] = kind.input_shape();
        Ok(Segmenter {
            model,
            to_tensor: ImageToTensor {
                width: w,
                height: h,
                keep_aspect_ratio: false,
                range: (0.0, 1.0),
                border: BorderMode::Zero,
            },
            input: vec![0.0; c * h * w],
            times: StageTimes::default(),
        })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The people in `image`: the selfie models give one mask for everyone, so this is one
    /// [`Segmentation`] whose mask is the person probability at the image's size.
    pub fn segment_people(&mut self, image: &RgbImage) -> Result<Vec<Segmentation>, ModelError> {
        let (mask, _) = self.segment_tensor(image)?;
        let started = Instant::now();
        let mask = Mask::new(
            image.width(),
            image.height(),
            resize_bilinear(
                &mask,
                self.to_tensor.width,
                self.to_tensor.height,
                image.width() as usize,
                image.height() as usize,
            ),
        );
        self.times.postprocess = started.elapsed();
        Ok(vec![Segmentation {
            mask,
            mask_value_to_label: selfie_label,
        }])
    }

    /// The raw model output at tensor size (`width × height` of the model input), before the resize
    /// to the image, with that size; for callers that only need coverage of a region.
    pub fn segment_tensor(
        &mut self,
        image: &RgbImage,
    ) -> Result<(Vec<f32>, (usize, usize)), ModelError> {
        let started = Instant::now();
        self.to_tensor.run(
            image,
            &RotatedRect::whole(image.width(), image.height()),
            &mut self.input,
        );
        let kind = self.model.kind();
        let input =
            Tensor::from_shape(&kind.input_shape(), &self.input).map_err(|e| ModelError::Run {
                kind,
                message: format!("{e:#}"),
            })?;
        let preprocessed = Instant::now();
        let outputs = self.model.run(input)?;
        let inferred = Instant::now();
        let probabilities = f32_values(kind, &outputs[0])?.to_vec();
        self.times = StageTimes {
            preprocess: preprocessed - started,
            inference: inferred - preprocessed,
            postprocess: Duration::ZERO,
        };
        Ok((probabilities, (self.to_tensor.width, self.to_tensor.height)))
    }

    /// Stage times of the last call.
    pub fn stage_times(&self) -> StageTimes {
        self.times
    }
}

/// A per-pixel value map at the input image's size: person probability in `0.0..=1.0`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mask {
    width: u32,
    height: u32,
    values: Vec<f32>,
}

impl Mask {
    /// # Panics
    /// If `values` is not `width × height` long.
    pub fn new(width: u32, height: u32, values: Vec<f32>) -> Self {
        assert_eq!(values.len(), width as usize * height as usize, "mask size");
        Mask {
            width,
            height,
            values,
        }
    }

    /// Reads an 8-bit mask back (value / 255), e.g. a golden or a TF.js test mask.
    pub fn from_gray(image: &GrayImage) -> Self {
        let values = image
            .as_raw()
            .iter()
            .map(|&v| f32::from(v) / 255.0)
            .collect();
        Mask::new(image.width(), image.height(), values)
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// Row-major probabilities, `width × height`.
    pub fn probabilities(&self) -> &[f32] {
        &self.values
    }

    /// Probability at pixel `(x, y)`.
    pub fn get(&self, x: u32, y: u32) -> f32 {
        self.values[y as usize * self.width as usize + x as usize]
    }

    /// 8-bit image, pixel = round(probability × 255): the `--mask` file format.
    pub fn to_gray_image(&self) -> GrayImage {
        let bytes = self.values.iter().map(|&p| to_u8(p)).collect();
        GrayImage::from_raw(self.width, self.height, bytes).expect("size checked in Mask::new")
    }

    /// `true` where the probability is at least `threshold`.
    pub fn to_binary(&self, threshold: f32) -> Vec<bool> {
        self.values.iter().map(|&p| p >= threshold).collect()
    }
}

/// Probability → 8-bit value, rounding half away from zero.
pub fn to_u8(p: f32) -> u8 {
    (p * 255.0).round().clamp(0.0, 255.0) as u8
}

/// One segmented person (or, for multi-part models, one labelled map), as TF.js's `Segmentation`.
#[derive(Debug, Clone)]
pub struct Segmentation {
    pub mask: Mask,
    /// Maps an 8-bit mask value to its label.
    pub mask_value_to_label: fn(u8) -> &'static str,
}

/// Labels of the selfie models: every value above zero is a person.
pub fn selfie_label(value: u8) -> &'static str {
    if value > 0 { "person" } else { "background" }
}
