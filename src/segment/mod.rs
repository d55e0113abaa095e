//! Selfie Segmentation: a person-probability mask per image, and ways to draw it.

pub mod render;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use image::RgbImage;
use tract_onnx::prelude::{TValue, TVec};

use crate::frame::{ConvertError, Converter, Mask, RawImage};
use crate::imgproc::{BorderMode, ImageToTensor, RotatedRect};
use crate::model::{Model, ModelError, ModelKind, Precision, f32_values};

/// How to build a [`Segmenter`], as TF.js's `createSegmenter` config.
#[derive(Debug, Clone)]
pub struct SegmenterConfig {
    /// One of [`ModelKind::SELFIE`].
    pub model: ModelKind,
    pub precision: Precision,
    /// Load the ONNX file from here instead of the embedded model.
    pub model_path: Option<PathBuf>,
}

impl Default for SegmenterConfig {
    /// The landscape model (made for 16:9 video, half the general model's work), f32, embedded.
    fn default() -> Self {
        SegmenterConfig {
            model: ModelKind::SelfieLandscape,
            precision: Precision::F32,
            model_path: None,
        }
    }
}

/// Time spent in each stage of the last [`Segmenter::segment_people`] call.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTimes {
    pub preprocess: Duration,
    pub inference: Duration,
    pub postprocess: Duration,
}

/// The model's input for one frame: the frame stretched to the tensor (no letterbox), values in
/// [0, 1], planar RGB. Filled from a decoded picture, or straight from a camera buffer with
/// [`ModelInput::fill_raw`], which converts only the pixels the tensor samples (no full-size RGB
/// frame). Make one per stream with [`Segmenter::new_input`] and refill it every frame: it may
/// be filled on another thread than the one running the model.
#[derive(Debug, Clone)]
pub struct ModelInput {
    to_tensor: ImageToTensor,
    tensor: Vec<f32>,
    frame: (u32, u32),
    preprocess: Duration,
}

impl ModelInput {
    fn new(to_tensor: ImageToTensor) -> ModelInput {
        ModelInput {
            to_tensor,
            tensor: vec![0.0; 3 * to_tensor.width * to_tensor.height],
            frame: (0, 0),
            preprocess: Duration::ZERO,
        }
    }

    pub fn fill_image(&mut self, image: &RgbImage) {
        let started = Instant::now();
        self.to_tensor.run(
            image,
            &RotatedRect::whole(image.width(), image.height()),
            &mut self.tensor,
        );
        self.filled(image.dimensions(), started);
    }

    /// Converts and resizes `raw` into the tensor in one pass: the tensor
    /// [`ModelInput::fill_image`] gives on the converted frame, bit for bit
    /// ([`Converter::to_tensor`]).
    pub fn fill_raw(
        &mut self,
        raw: &RawImage<'_>,
        converter: &mut Converter,
    ) -> Result<(), ConvertError> {
        let started = Instant::now();
        converter.to_tensor(raw, &self.to_tensor, &mut self.tensor)?;
        self.filled((raw.width, raw.height), started);
        Ok(())
    }

    fn filled(&mut self, frame: (u32, u32), started: Instant) {
        self.frame = frame;
        self.preprocess = started.elapsed();
    }

    /// The size of the frame it was filled from: masks come back at this size.
    pub fn frame_size(&self) -> (u32, u32) {
        self.frame
    }

    /// Width and height of the model's input.
    pub fn tensor_size(&self) -> (usize, usize) {
        (self.to_tensor.width, self.to_tensor.height)
    }

    /// Planar R, G, B values in [0, 1], each plane `width × height` of [`ModelInput::tensor_size`].
    pub fn tensor(&self) -> &[f32] {
        &self.tensor
    }
}

/// Selfie Segmentation with MediaPipe's pre- and post-processing (`shared/spec` §7): the image is
/// stretched to the tensor (no letterbox), values in [0, 1], the model's sigmoid output is resized
/// back to the image with half-pixel bilinear sampling.
///
/// The `_into` and `_tensor` calls reuse memory across frames: in the steady state they
/// allocate nothing of their own (the masks they fill keep their buffers, the model output is
/// copied into one the segmenter keeps).
pub struct Segmenter {
    network: Network,
    input: ModelInput,
}

/// The model and what a call leaves behind, apart from the segmenter's own input so one can be
/// lent while the other runs.
struct Network {
    model: Model,
    /// The last [`Segmenter::segment_input_tensor`] result.
    probabilities: Vec<f32>,
    times: StageTimes,
}

impl Segmenter {
    pub fn new(config: SegmenterConfig) -> Result<Segmenter, ModelError> {
        let kind = config
            .model
            .expect(&ModelKind::SELFIE, "a selfie segmentation model")?;
        let model = Model::load(kind, config.precision, config.model_path.as_deref())?;
        let [_, _, h, w] = kind.input_shape();
        Ok(Segmenter {
            network: Network {
                model,
                probabilities: Vec::new(),
                times: StageTimes::default(),
            },
            input: ModelInput::new(ImageToTensor {
                width: w,
                height: h,
                keep_aspect_ratio: false,
                range: (0.0, 1.0),
                border: BorderMode::Zero,
            }),
        })
    }

    pub fn model(&self) -> &Model {
        &self.network.model
    }

    /// An input this segmenter's model takes, to fill per frame and pass to
    /// [`Segmenter::segment_input`].
    pub fn new_input(&self) -> ModelInput {
        ModelInput::new(self.input.to_tensor)
    }

    /// The people in `image`: the selfie models give one mask for everyone, so this is one
    /// [`Segmentation`] whose mask is the person probability at the image's size.
    pub fn segment_people(&mut self, image: &RgbImage) -> Result<Vec<Segmentation>, ModelError> {
        let mut people = Vec::new();
        self.segment_people_into(image, &mut people)?;
        Ok(people)
    }

    /// [`Segmenter::segment_people`] into `people`, whose first mask is refilled in place (its
    /// buffer reallocated only when the image is larger than before): the steady state of a
    /// video loop that keeps `people` allocates no frame-sized mask.
    pub fn segment_people_into(
        &mut self,
        image: &RgbImage,
        people: &mut Vec<Segmentation>,
    ) -> Result<(), ModelError> {
        self.input.fill_image(image);
        self.network.segment_into(&self.input, people)
    }

    /// [`Segmenter::segment_people`] on a filled input: the mask is at the size of the frame the
    /// input was filled from.
    pub fn segment_input(&mut self, input: &ModelInput) -> Result<Vec<Segmentation>, ModelError> {
        let mut people = Vec::new();
        self.segment_input_into(input, &mut people)?;
        Ok(people)
    }

    /// [`Segmenter::segment_input`] into `people`, as [`Segmenter::segment_people_into`].
    pub fn segment_input_into(
        &mut self,
        input: &ModelInput,
        people: &mut Vec<Segmentation>,
    ) -> Result<(), ModelError> {
        self.network.segment_into(input, people)
    }

    /// The raw model output at tensor size (`width × height` of the model input), before the resize
    /// to the image, with that size; for callers that only need coverage of a region. The values
    /// live in the segmenter until the next call.
    pub fn segment_tensor(
        &mut self,
        image: &RgbImage,
    ) -> Result<(&[f32], (usize, usize)), ModelError> {
        self.input.fill_image(image);
        self.network.tensor(&self.input)
    }

    /// [`Segmenter::segment_tensor`] on a filled input.
    pub fn segment_input_tensor(
        &mut self,
        input: &ModelInput,
    ) -> Result<(&[f32], (usize, usize)), ModelError> {
        self.network.tensor(input)
    }

    /// Stage times of the last call.
    pub fn stage_times(&self) -> StageTimes {
        self.network.times
    }
}

impl Network {
    /// Runs the model on `input`; the stage times are its preprocess and this inference.
    fn infer(&mut self, input: &ModelInput) -> Result<TVec<TValue>, ModelError> {
        let started = Instant::now();
        let outputs = self.model.run_values(input.tensor())?;
        self.times = StageTimes {
            preprocess: input.preprocess,
            inference: started.elapsed(),
            postprocess: Duration::ZERO,
        };
        Ok(outputs)
    }

    fn tensor(&mut self, input: &ModelInput) -> Result<(&[f32], (usize, usize)), ModelError> {
        let outputs = self.infer(input)?;
        self.probabilities.clear();
        self.probabilities
            .extend_from_slice(f32_values(self.model.kind(), &outputs[0])?);
        Ok((&self.probabilities, input.tensor_size()))
    }

    /// One person whose mask is the model's output brought to the frame's size.
    fn segment_into(
        &mut self,
        input: &ModelInput,
        people: &mut Vec<Segmentation>,
    ) -> Result<(), ModelError> {
        let outputs = self.infer(input)?;
        let probabilities = f32_values(self.model.kind(), &outputs[0])?;
        let started = Instant::now();
        people.truncate(1);
        if people.is_empty() {
            people.push(Segmentation {
                mask: Mask::new(0, 0, Vec::new()),
                mask_value_to_label: selfie_label,
            });
        }
        let person = &mut people[0];
        person.mask_value_to_label = selfie_label;
        person
            .mask
            .resize_from(probabilities, input.tensor_size(), input.frame_size());
        self.times.postprocess = started.elapsed();
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{PixelFormat, YuvMode};

    #[test]
    fn into_refills_the_same_mask_as_the_owned_call() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/squat_frame20.jpg"
        );
        let image = crate::files::load_rgb(path.as_ref()).unwrap();
        let (width, height) = image.dimensions();
        let mut segmenter = Segmenter::new(SegmenterConfig::default()).unwrap();
        let want = segmenter.segment_people(&image).unwrap();
        let (values, (w, h)) = segmenter.segment_tensor(&image).unwrap();
        assert_eq!(
            want[0].mask.probabilities(),
            crate::imgproc::resize_bilinear(values, w, h, width as usize, height as usize),
            "the mask is the tensor-size output resized"
        );

        let mut people = Vec::new();
        segmenter.segment_people_into(&image, &mut people).unwrap();
        assert_eq!(people.len(), 1);
        assert_eq!(people[0].mask, want[0].mask);
        let buffer = people[0].mask.probabilities().as_ptr();
        let small = image::imageops::thumbnail(&image, width / 2, height / 3);
        segmenter.segment_people_into(&small, &mut people).unwrap();
        assert_eq!(
            people[0].mask,
            segmenter.segment_people(&small).unwrap()[0].mask
        );
        assert_eq!(
            people[0].mask.probabilities().as_ptr(),
            buffer,
            "a smaller frame's mask is written into the same buffer"
        );
    }

    #[test]
    fn a_raw_frame_segments_like_its_decoded_picture() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/squat_frame20.jpg"
        );
        let image = crate::files::load_rgb(path.as_ref()).unwrap();
        let mut segmenter = Segmenter::new(SegmenterConfig::default()).unwrap();
        let want = segmenter.segment_people(&image).unwrap();

        let raw = RawImage {
            data: image.as_raw(),
            format: PixelFormat::Rgb24,
            width: image.width(),
            height: image.height(),
            stride: 3 * image.width() as usize,
            yuv: YuvMode::default(),
        };
        let mut input = segmenter.new_input();
        input.fill_raw(&raw, &mut Converter::new()).unwrap();
        assert_eq!(input.frame_size(), image.dimensions());
        let got = segmenter.segment_input(&input).unwrap();
        assert_eq!(
            got[0].mask, want[0].mask,
            "same tensor, same mask at the frame's size"
        );
    }
}
