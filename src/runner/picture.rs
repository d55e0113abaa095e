//! A frame as the pipeline gets it: the full picture, or the model input it was converted
//! straight into.

use image::RgbImage;

use crate::segment::ModelInput;

/// A frame as the pipeline gets it.
#[derive(Clone, Copy)]
pub(super) enum Picture<'a> {
    Full(&'a RgbImage),
    /// Converted straight into the segmentation model's input: only when pose is off.
    Input(&'a ModelInput),
}

impl Picture<'_> {
    pub(super) fn size(&self) -> (u32, u32) {
        match self {
            Picture::Full(image) => image.dimensions(),
            Picture::Input(input) => input.frame_size(),
        }
    }
}
