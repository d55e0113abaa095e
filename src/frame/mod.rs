//! Pictures as every layer passes them: a camera [`Frame`] in its own [`PixelFormat`], the
//! [`Converter`] that turns one into RGB or straight into a model input, and the person
//! [`Mask`] the models give. Sources make frames, vision reads them and makes masks, rules and
//! outputs read masks: this module sits below all of them.

mod mask;
mod pixel;

use std::time::Duration;

use image::RgbImage;

pub use mask::{Mask, to_u8};
pub use pixel::{ConvertError, Converter, PixelFormat, RawImage, YuvMode};

/// One frame in its source's pixel format.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// The buffer: rows of `stride` bytes (planes following for 4:2:0), or one JPEG for MJPEG.
    pub data: Vec<u8>,
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    /// Bytes per row of the first plane (may exceed the pixels' width: driver padding).
    pub stride: usize,
    /// How YUV data maps to RGB (ignored for RGB; MJPEG decodes as JPEG full range).
    pub yuv: YuvMode,
    /// File sources: presentation time in the file. Live sources: time since the source opened,
    /// taken when the frame was dequeued.
    pub timestamp: Duration,
    /// Counts every frame the source produced, so a gap is a dropped frame.
    pub sequence: u64,
}

impl Frame {
    /// An empty frame whose buffer a source fills in.
    pub fn empty() -> Frame {
        Frame {
            data: Vec::new(),
            format: PixelFormat::Rgb24,
            width: 0,
            height: 0,
            stride: 0,
            yuv: YuvMode::default(),
            timestamp: Duration::ZERO,
            sequence: 0,
        }
    }

    pub fn from_rgb(image: RgbImage, timestamp: Duration, sequence: u64) -> Frame {
        Frame {
            width: image.width(),
            height: image.height(),
            stride: 3 * image.width() as usize,
            data: image.into_raw(),
            format: PixelFormat::Rgb24,
            yuv: YuvMode::default(),
            timestamp,
            sequence,
        }
    }

    /// The buffer with its layout, for a [`Converter`].
    pub fn raw(&self) -> RawImage<'_> {
        RawImage {
            data: &self.data,
            format: self.format,
            width: self.width,
            height: self.height,
            stride: self.stride,
            yuv: self.yuv,
        }
    }

    /// A new full-size RGB image (allocates; in a loop prefer a [`Converter`] and one image).
    pub fn to_rgb_image(&self) -> Result<RgbImage, ConvertError> {
        let mut out = RgbImage::new(self.width, self.height);
        Converter::new().to_rgb(&self.raw(), &mut out)?;
        Ok(out)
    }
}
