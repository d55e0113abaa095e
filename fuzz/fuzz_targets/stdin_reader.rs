//! Raw frames on stdin (`--source stdin:FMT:WxH`) from a pipe that delivers whatever it has:
//! any bytes, split into reads of any size, cut off anywhere. Reading must end (the stream's end
//! is the source's end or a truncation error), and every frame it hands out must convert.
#![no_main]

use std::io::{self, Read};

use arbitrary::Arbitrary;
use bodyzone::frame::{Converter, Frame, PixelFormat, YuvMode};
use bodyzone::source::{Capture, RawReader};
use image::RgbImage;
use libfuzzer_sys::fuzz_target;

/// Byte layout for hand-made seeds: format, width, height, range, read size, then the stream.
#[derive(Debug, Arbitrary)]
struct Input<'a> {
    /// Index into `PixelFormat::SUPPORTED`; past its end, a format bodyzone cannot convert.
    format: u8,
    width: u8,
    height: u8,
    full_range: bool,
    /// Most bytes one `read` returns (a pipe hands over what it has); 0 means an interrupted read.
    read_size: u8,
    stream: &'a [u8],
}

/// A pipe: short reads, and `Interrupted` (a signal) in place of every read of size 0.
struct Pipe<'a> {
    rest: &'a [u8],
    read_size: usize,
    interrupted: bool,
}

impl Read for Pipe<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Interrupt every other read at most, so reading always progresses.
        self.interrupted = !self.interrupted;
        if self.read_size == 0 && self.interrupted {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let n = buf.len().min(self.rest.len()).min(self.read_size.max(1));
        buf[..n].copy_from_slice(&self.rest[..n]);
        self.rest = &self.rest[n..];
        Ok(n)
    }
}

fuzz_target!(|input: Input<'_>| {
    let format = PixelFormat::SUPPORTED
        .get(usize::from(input.format))
        .copied()
        .unwrap_or(PixelFormat::Custom(*b"GREY"));
    let pipe = Pipe {
        rest: input.stream,
        read_size: usize::from(input.read_size),
        interrupted: false,
    };
    let yuv = if input.full_range {
        YuvMode::Bt601Full
    } else {
        YuvMode::Bt601Limited
    };
    let Ok(mut reader) = RawReader::new(
        pipe,
        "stdin",
        format,
        u32::from(input.width),
        u32::from(input.height),
        yuv,
    ) else {
        return;
    };
    let mut frame = Frame::empty();
    let mut converter = Converter::new();
    let mut rgb = RgbImage::new(0, 0);
    while let Ok(true) = reader.grab(&mut frame) {
        converter
            .to_rgb(&frame.raw(), &mut rgb)
            .expect("a frame the reader hands out converts");
    }
});
