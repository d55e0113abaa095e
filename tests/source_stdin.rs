//! Raw frames on a byte stream (what `rpicam-vid --codec yuv420 -o -` writes), read from any
//! `Read` so no real stdin is needed.

mod common;

use std::io::Cursor;
use std::time::Duration;

use bodyzone::frame::{Converter, Frame, PixelFormat, YuvMode};
use bodyzone::source::{
    Capture, FrameSource, Live, OpenOptions, Opener, RawReader, SourceSpec, Synthetic,
};
use image::RgbImage;

const W: u32 = 160;
const H: u32 = 120;
const FRAMES: u64 = 6;

/// Synthetic frames, and the same frames as ffmpeg's I420 byte stream.
fn synthetic_i420() -> (Vec<RgbImage>, Vec<u8>) {
    let mut src = Synthetic::new(W, H, 10.0, Some(FRAMES));
    let images: Vec<RgbImage> = std::iter::from_fn(|| src.next_frame().unwrap())
        .map(|f| f.to_rgb_image().unwrap())
        .collect();
    let raw: Vec<u8> = images
        .iter()
        .flat_map(|i| i.as_raw().iter().copied())
        .collect();
    let i420 = common::ffmpeg_from_rgb(
        raw,
        W,
        H,
        &[
            "-vf",
            "scale=out_color_matrix=bt601:out_range=tv",
            "-pix_fmt",
            "yuv420p",
            "-f",
            "rawvideo",
        ],
    );
    (images, i420)
}

fn mean_abs_diff(a: &RgbImage, b: &RgbImage) -> f64 {
    let sum: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| x.abs_diff(*y) as u64)
        .sum();
    sum as f64 / a.as_raw().len() as f64
}

#[test]
fn every_frame_read_and_converted() {
    let (images, bytes) = synthetic_i420();
    let mut reader = RawReader::new(
        Cursor::new(bytes),
        "stdin",
        PixelFormat::Yuv420,
        W,
        H,
        YuvMode::Bt601Limited,
    )
    .unwrap();
    let mut frame = Frame::empty();
    let mut rgb = RgbImage::new(W, H);
    let mut conv = Converter::new();
    for (i, want) in images.iter().enumerate() {
        assert!(reader.grab(&mut frame).unwrap());
        assert_eq!(frame.sequence, i as u64);
        conv.to_rgb(&frame.raw(), &mut rgb).unwrap();
        // 4:2:0 blurs colour edges of the figure; flat areas are exact within rounding.
        let mad = mean_abs_diff(&rgb, want);
        assert!(mad < 2.0, "frame {i}: mean difference {mad}");
    }
    assert!(!reader.grab(&mut frame).unwrap());
}

#[test]
fn live_pipe_keeps_the_newest_frames_and_counts_the_rest() {
    let (_, bytes) = synthetic_i420();
    let reader = RawReader::new(
        Cursor::new(bytes),
        "stdin",
        PixelFormat::Yuv420,
        W,
        H,
        YuvMode::Bt601Limited,
    )
    .unwrap();
    let mut once = Some(reader);
    let opener: Opener =
        Box::new(move || Ok(Box::new(once.take().expect("opened once")) as Box<dyn Capture>));
    let opts = OpenOptions {
        frame_timeout: Duration::from_secs(30),
        ..OpenOptions::default()
    };
    let mut live = Live::spawn("stdin".into(), opener, None, &opts).unwrap();
    assert!(live.is_live());
    let mut delivered = Vec::new();
    while let Some(frame) = live.next_frame().unwrap() {
        delivered.push(frame.sequence);
        live.recycle(frame);
    }
    // However the threads interleave: the last frame arrives, order holds, nothing is lost uncounted.
    assert_eq!(delivered.last(), Some(&(FRAMES - 1)));
    assert!(delivered.windows(2).all(|w| w[0] < w[1]), "{delivered:?}");
    assert_eq!(delivered.len() as u64 + live.dropped(), FRAMES);
}

#[test]
fn stdin_spec_parses_the_rpicam_vid_form() {
    let spec: SourceSpec = "stdin:yuv420:640x480".parse().unwrap();
    assert_eq!(
        spec,
        SourceSpec::Stdin {
            format: PixelFormat::Yuv420,
            width: 640,
            height: 480,
            yuv: YuvMode::Bt601Limited
        }
    );
}
