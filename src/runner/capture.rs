//! The runner's [`Stage`]: pixel conversion on the capture thread, so converting the next frame
//! overlaps inference on this one. Converted buffers come back once analysed, so the steady
//! state allocates no frames.

use std::time::{Duration, Instant};

use image::RgbImage;

use super::picture::Picture;
use super::pipeline::ms;
use crate::frame::{ConvertError, Converter, Frame};
use crate::segment::ModelInput;
use crate::source::Stage;

/// A converted frame's pixels.
pub(super) enum Converted {
    Full(RgbImage),
    Input(ModelInput),
}

impl Converted {
    pub(super) fn picture(&self) -> Picture<'_> {
        match self {
            Converted::Full(image) => Picture::Full(image),
            Converted::Input(input) => Picture::Input(input),
        }
    }
}

/// One captured frame, converted on the capture thread.
pub(super) struct Captured {
    pub(super) frame: Converted,
    pub(super) sequence: u64,
    pub(super) timestamp: Duration,
    pub(super) convert_ms: f32,
}

/// Converts frames into `one_pass` inputs when given, else into full-size images.
pub(super) struct Convert {
    pub(super) converter: Converter,
    pub(super) one_pass: Option<ModelInput>,
}

impl Stage for Convert {
    type Item = Captured;

    fn process(
        &mut self,
        frame: &mut Frame,
        reuse: Option<Captured>,
    ) -> Result<Captured, ConvertError> {
        let started = Instant::now();
        let mut buffer = reuse.map_or_else(
            || match &self.one_pass {
                Some(input) => Converted::Input(input.clone()),
                None => Converted::Full(RgbImage::new(0, 0)),
            },
            |captured| captured.frame,
        );
        match &mut buffer {
            Converted::Full(image) => self.converter.to_rgb(&frame.raw(), image)?,
            Converted::Input(input) => input.fill_raw(&frame.raw(), &mut self.converter)?,
        }
        Ok(Captured {
            frame: buffer,
            sequence: frame.sequence,
            timestamp: frame.timestamp,
            convert_ms: ms(started.elapsed()),
        })
    }
}
