//! Preprocessing one 1280×720 camera frame for the landscape segmentation model (256×144 input),
//! per pixel format: `two_step` converts the whole frame to RGB and samples the tensor from it
//! (what the runner does when a model or a display needs the full frame), `one_pass` samples
//! the tensor straight from the camera buffer (pose off, nothing drawn). Both reuse their
//! buffers across frames, as the runner does. `stretch` is the decoded-picture path alone
//! (`Segmenter::segment_people`): an RGB frame sampled into the tensor.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

use bodyzone::frame::{Converter, PixelFormat, RawImage, YuvMode};
use bodyzone::imgproc::{BorderMode, ImageToTensor, RotatedRect};
use image::RgbImage;

const W: u32 = 1280;
const H: u32 = 720;

/// A frame with detail everywhere (a JPEG of a flat picture would decode unrealistically fast).
fn picture() -> RgbImage {
    RgbImage::from_fn(W, H, |x, y| {
        image::Rgb([
            (x ^ y) as u8,
            (x.wrapping_mul(y) >> 3) as u8,
            (x / 3 + y / 5) as u8,
        ])
    })
}

/// The frame's bytes in `format`: the picture's bytes reinterpreted for the raw formats (the
/// conversion cost does not depend on the values), a JPEG of it for MJPEG.
fn buffer(format: PixelFormat, picture: &RgbImage) -> Vec<u8> {
    if format == PixelFormat::Mjpeg {
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 85)
            .encode_image(picture)
            .expect("encoding the bench frame");
        return jpeg;
    }
    let stride = format.min_stride(W).expect("a raw format");
    let len = format.frame_len(stride, H).expect("a raw format");
    picture.as_raw().iter().copied().cycle().take(len).collect()
}

/// The landscape segmenter's sampling: the frame stretched to 256×144, values in [0, 1].
fn landscape_input() -> ImageToTensor {
    ImageToTensor {
        width: 256,
        height: 144,
        keep_aspect_ratio: false,
        range: (0.0, 1.0),
        border: BorderMode::Zero,
    }
}

fn preprocess(c: &mut Criterion) {
    let to_tensor = landscape_input();
    let picture = picture();
    let mut group = c.benchmark_group("preprocess 1280x720 to 256x144");
    for format in PixelFormat::SUPPORTED {
        let data = buffer(format, &picture);
        let raw = RawImage {
            data: &data,
            format,
            width: W,
            height: H,
            stride: format.min_stride(W).unwrap_or(0),
            yuv: YuvMode::Bt601Limited,
        };
        let mut converter = Converter::new();
        let mut full = RgbImage::new(W, H);
        let mut tensor = vec![0.0f32; 3 * 256 * 144];
        group.bench_function(format!("two_step {format}"), |b| {
            b.iter(|| {
                converter.to_rgb(black_box(&raw), &mut full).unwrap();
                to_tensor.run(&full, &RotatedRect::whole(W, H), &mut tensor);
            })
        });
        group.bench_function(format!("one_pass {format}"), |b| {
            b.iter(|| {
                converter
                    .to_tensor(black_box(&raw), &to_tensor, &mut tensor)
                    .unwrap()
            })
        });
    }
    group.finish();
}

fn stretch(c: &mut Criterion) {
    let to_tensor = landscape_input();
    let picture = picture();
    let mut tensor = vec![0.0f32; 3 * 256 * 144];
    c.bench_function("stretch rgb8 1280x720 to 256x144", |b| {
        b.iter(|| to_tensor.run(black_box(&picture), &RotatedRect::whole(W, H), &mut tensor))
    });
}

criterion_group!(benches, preprocess, stretch);
criterion_main!(benches);
