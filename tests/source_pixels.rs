//! Pixel conversions against ffmpeg: a known RGB image encoded by ffmpeg (swscale, BT.601) into
//! each camera format must convert back to that image.

mod common;

use bodyzone::frame::{Converter, PixelFormat, RawImage, YuvMode};
use image::{Rgb, RgbImage};

const W: u32 = 64;
const H: u32 = 32;

/// 75 % colour bars on top, a full-range ramp of saturated colours below; blocks 8 px wide and
/// 16 px high so 4:2:0 chroma subsampling does not mix colours.
fn reference() -> RgbImage {
    const BARS: [[u8; 3]; 8] = [
        [191, 191, 191],
        [191, 191, 0],
        [0, 191, 191],
        [0, 191, 0],
        [191, 0, 191],
        [191, 0, 0],
        [0, 0, 191],
        [0, 0, 0],
    ];
    RgbImage::from_fn(W, H, |x, y| {
        let i = (x / 8) as usize;
        if y < 16 {
            Rgb(BARS[i])
        } else {
            let v = (i * 36) as u8;
            Rgb([255 - v, v, 128])
        }
    })
}

/// Runs ffmpeg rawvideo rgb24 → `pix_fmt`, with extra filter options.
fn ffmpeg_encode(img: &RgbImage, pix_fmt: &str, extra: &[&str]) -> Vec<u8> {
    let args = [extra, &["-pix_fmt", pix_fmt, "-f", "rawvideo"]].concat();
    common::ffmpeg_from_rgb(img.as_raw().clone(), W, H, &args)
}

/// Compares pixels at least 3 px away from block edges: ffmpeg's chroma subsampling filters
/// across edges with more than 2 taps, so colour bleeds there by design.
fn assert_close(got: &RgbImage, want: &RgbImage, tol: u8, what: &str) {
    let interior = |x: u32, y: u32| (3..=4).contains(&(x % 8)) && (6..=9).contains(&(y % 16));
    for (x, y, p) in want.enumerate_pixels().filter(|(x, y, _)| interior(*x, *y)) {
        let q = got.get_pixel(x, y);
        let d = (0..3).map(|k| p[k].abs_diff(q[k])).max().unwrap();
        assert!(
            d <= tol,
            "{what}: first outlier at ({x},{y}): got {:?}, want {:?}",
            q.0,
            p.0
        );
    }
}

fn convert(data: &[u8], format: PixelFormat, yuv: YuvMode) -> RgbImage {
    let raw = RawImage {
        data,
        format,
        width: W,
        height: H,
        stride: format.min_stride(W).unwrap_or(0),
        yuv,
    };
    let mut out = RgbImage::new(W, H);
    Converter::new().to_rgb(&raw, &mut out).unwrap();
    out
}

#[test]
fn limited_range_formats_made_by_ffmpeg() {
    let img = reference();
    for (pix_fmt, format) in [
        ("yuyv422", PixelFormat::Yuyv),
        ("nv12", PixelFormat::Nv12),
        ("yuv420p", PixelFormat::Yuv420),
    ] {
        let data = ffmpeg_encode(
            &img,
            pix_fmt,
            &["-vf", "scale=out_color_matrix=bt601:out_range=tv"],
        );
        assert_eq!(
            data.len(),
            format.frame_len(format.min_stride(W).unwrap(), H).unwrap(),
            "{pix_fmt}"
        );
        assert_close(
            &convert(&data, format, YuvMode::Bt601Limited),
            &img,
            3,
            pix_fmt,
        );
    }
}

#[test]
fn full_range_formats_made_by_ffmpeg() {
    let img = reference();
    for (pix_fmt, format) in [
        ("nv12", PixelFormat::Nv12),
        ("yuv420p", PixelFormat::Yuv420),
    ] {
        let data = ffmpeg_encode(
            &img,
            pix_fmt,
            &["-vf", "scale=out_color_matrix=bt601:out_range=pc"],
        );
        assert_close(
            &convert(&data, format, YuvMode::Bt601Full),
            &img,
            3,
            pix_fmt,
        );
    }
}

#[test]
fn mjpeg_frame_made_by_ffmpeg() {
    let img = reference();
    let jpeg = ffmpeg_encode(
        &img,
        "yuvj444p",
        &["-c:v", "mjpeg", "-q:v", "2", "-f", "mjpeg"],
    );
    assert_eq!(&jpeg[..2], [0xff, 0xd8]);
    // Lossy: compare the block centres only.
    let got = convert(&jpeg, PixelFormat::Mjpeg, YuvMode::Bt601Full);
    for x in (4..W).step_by(8) {
        for y in [8, 24] {
            let (p, q) = (img.get_pixel(x, y), got.get_pixel(x, y));
            assert!(
                (0..3).all(|k| p[k].abs_diff(q[k]) <= 6),
                "({x},{y}): {:?} vs {:?}",
                q.0,
                p.0
            );
        }
    }
}

#[test]
fn convert_and_resize_into_a_model_input() {
    let img = reference();
    let data = ffmpeg_encode(
        &img,
        "nv12",
        &["-vf", "scale=out_color_matrix=bt601:out_range=tv"],
    );
    let raw = RawImage {
        data: &data,
        format: PixelFormat::Nv12,
        width: W,
        height: H,
        stride: W as usize,
        yuv: YuvMode::Bt601Limited,
    };
    let mut small = RgbImage::new(16, 8);
    let mut conv = Converter::new();
    conv.to_rgb_resized(&raw, &mut small).unwrap();
    // Output pixel (u, v) samples source (4u, 4v): odd u are bar centres, v = 2 and 6 block centres.
    for u in (1..16).step_by(2) {
        for v in [2, 6] {
            let want = img.get_pixel(4 * u, 4 * v);
            let got = small.get_pixel(u, v);
            assert!(
                (0..3).all(|k| want[k].abs_diff(got[k]) <= 3),
                "({u},{v}): {:?} vs {:?}",
                got.0,
                want.0
            );
        }
    }
}
