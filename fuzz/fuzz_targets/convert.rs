//! Camera buffers as a driver or a pipe delivers them: every pixel format, any size, stride and
//! range, buffers short or long, MJPEG frames corrupt or of the wrong size. Every `Converter`
//! method must return a result, never panic.
#![no_main]

use arbitrary::Arbitrary;
use bodyzone::frame::{Converter, PixelFormat, RawImage, YuvMode};
use bodyzone::imgproc::{BorderMode, ImageToTensor};
use image::RgbImage;
use libfuzzer_sys::fuzz_target;

/// Sizes stay small so an input runs in microseconds; the interesting cases (odd sizes, one
/// row, short buffers, enlargements) are all small.
const MAX_SIDE: u16 = 300;
const MAX_OUT_SIDE: u8 = 64;

/// Plain integers, not enums, so the byte layout is simple for hand-made seeds:
/// format, width (2 bytes, little-endian), height (2), stride delta, range, output width,
/// output height, tensor flags, then the frame's bytes.
#[derive(Debug, Arbitrary)]
struct Input<'a> {
    /// Index into `PixelFormat::SUPPORTED`; past its end, a format bodyzone cannot convert.
    format: u8,
    width: u16,
    height: u16,
    /// Added to the format's tight stride: padding, or too short a stride.
    stride_delta: i8,
    full_range: bool,
    out_width: u8,
    out_height: u8,
    /// Bit 0: keep the aspect ratio; bit 1: replicate the border.
    tensor_flags: u8,
    data: &'a [u8],
}

fuzz_target!(|input: Input<'_>| {
    let format = PixelFormat::SUPPORTED
        .get(usize::from(input.format))
        .copied()
        .unwrap_or(PixelFormat::Custom(*b"GREY"));
    let width = u32::from(input.width % (MAX_SIDE + 1));
    let height = u32::from(input.height % (MAX_SIDE + 1));
    // MJPEG has no stride; any value must then be ignored.
    let tight = format.min_stride(width).unwrap_or(0);
    let raw = RawImage {
        data: input.data,
        format,
        width,
        height,
        stride: tight.saturating_add_signed(isize::from(input.stride_delta)),
        yuv: if input.full_range {
            YuvMode::Bt601Full
        } else {
            YuvMode::Bt601Limited
        },
    };
    let mut converter = Converter::new();

    let mut full = RgbImage::new(0, 0);
    let _ = converter.to_rgb(&raw, &mut full);

    let (out_width, out_height) = (
        input.out_width % (MAX_OUT_SIDE + 1),
        input.out_height % (MAX_OUT_SIDE + 1),
    );
    let mut small = RgbImage::new(u32::from(out_width), u32::from(out_height));
    let _ = converter.to_rgb_resized(&raw, &mut small);

    let to_tensor = ImageToTensor {
        width: usize::from(out_width),
        height: usize::from(out_height),
        keep_aspect_ratio: input.tensor_flags & 1 != 0,
        range: (-1.0, 1.0),
        border: if input.tensor_flags & 2 != 0 {
            BorderMode::Replicate
        } else {
            BorderMode::Zero
        },
    };
    // `to_tensor` documents a panic for a wrongly sized output: the caller's bug, not fuzzed.
    let mut tensor = vec![0.0; 3 * to_tensor.width * to_tensor.height];
    let _ = converter.to_tensor(&raw, &to_tensor, &mut tensor);
});
