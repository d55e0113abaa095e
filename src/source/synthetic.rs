//! A generated person-like figure doing squats while it drifts across a room: a source for
//! tests, demos and benchmarks with no camera or file, identical on every run.

use std::f32::consts::TAU;
use std::time::Duration;

use image::{Rgb, RgbImage};

use super::{FrameSource, SourceError};
use crate::frame::Frame;

/// Seconds per squat and per left-right drift.
const SQUAT_PERIOD: f32 = 2.0;
const DRIFT_PERIOD: f32 = 8.0;

const WALL: [u8; 3] = [196, 190, 178];
const FLOOR: [u8; 3] = [120, 104, 88];
const SKIN: [u8; 3] = [224, 172, 140];
const SHIRT: [u8; 3] = [40, 90, 170];
const TROUSERS: [u8; 3] = [40, 40, 48];

/// Frames `i = 0, 1, …` at timestamps `i / fps`, for ever or for `frames` frames.
#[derive(Debug, Clone)]
pub struct Synthetic {
    width: u32,
    height: u32,
    fps: f64,
    frames: Option<u64>,
    next: u64,
}

impl Synthetic {
    pub fn new(width: u32, height: u32, fps: f64, frames: Option<u64>) -> Synthetic {
        Synthetic {
            width,
            height,
            fps,
            frames,
            next: 0,
        }
    }

    /// Squat depth at time `t`: 0 standing, 1 at the bottom.
    pub fn depth(t: f32) -> f32 {
        (1.0 - (TAU * t / SQUAT_PERIOD).cos()) / 2.0
    }

    /// Draws the scene at time `t` seconds into `img`.
    pub fn render(t: f32, img: &mut RgbImage) {
        let (w, h) = (img.width() as f32, img.height() as f32);
        let horizon = (0.62 * h) as u32;
        for (_, y, px) in img.enumerate_pixels_mut() {
            *px = Rgb(if y < horizon { WALL } else { FLOOR });
        }
        let d = Synthetic::depth(t);
        // Figure units: body height 1, feet at the origin, y up; mapped to pixels below.
        let scale = 0.62 * h;
        let feet = (w * (0.5 + 0.25 * (TAU * t / DRIFT_PERIOD).sin()), 0.9 * h);
        let at = |x: f32, y: f32| (feet.0 + x * scale, feet.1 - y * scale);
        let hip = 0.5 - 0.2 * d;
        let knee = (0.1 + 0.08 * d, 0.26 - 0.04 * d);
        let shoulder = hip + 0.3;
        let limb = 0.035 * scale;
        for side in [-1.0f32, 1.0] {
            let ankle = at(side * 0.08, 0.02);
            let k = at(side * knee.0, knee.1);
            let hp = at(side * 0.07, hip);
            segment(img, ankle, k, limb, TROUSERS);
            segment(img, k, hp, limb * 1.2, TROUSERS);
            segment(img, ankle, at(side * 0.1, 0.0), limb * 0.8, TROUSERS);
            // Arms rise forward (towards the camera: shorter, higher) as the squat deepens.
            let sh = at(side * 0.12, shoulder);
            let elbow = at(side * (0.16 - 0.04 * d), shoulder - 0.15 + 0.12 * d);
            let wrist = at(side * (0.18 - 0.08 * d), shoulder - 0.3 + 0.28 * d);
            segment(img, sh, elbow, limb * 0.9, SHIRT);
            segment(img, elbow, wrist, limb * 0.8, SKIN);
        }
        segment(img, at(0.0, hip), at(0.0, shoulder), 0.11 * scale, SHIRT);
        segment(
            img,
            at(0.0, shoulder),
            at(0.0, shoulder + 0.05),
            0.03 * scale,
            SKIN,
        );
        segment(
            img,
            at(0.0, shoulder + 0.1),
            at(0.0, shoulder + 0.12),
            0.065 * scale,
            SKIN,
        );
    }
}

/// Fills every pixel within `radius` of the segment a–b (a limb with round ends).
fn segment(img: &mut RgbImage, a: (f32, f32), b: (f32, f32), radius: f32, colour: [u8; 3]) {
    let (w, h) = (img.width() as f32, img.height() as f32);
    let x0 = (a.0.min(b.0) - radius).floor().clamp(0.0, w) as u32;
    let x1 = (a.0.max(b.0) + radius).ceil().clamp(0.0, w) as u32;
    let y0 = (a.1.min(b.1) - radius).floor().clamp(0.0, h) as u32;
    let y1 = (a.1.max(b.1) + radius).ceil().clamp(0.0, h) as u32;
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = (dx * dx + dy * dy).max(f32::EPSILON);
    for y in y0..y1 {
        for x in x0..x1 {
            let (px, py) = (x as f32 + 0.5 - a.0, y as f32 + 0.5 - a.1);
            let s = ((px * dx + py * dy) / len2).clamp(0.0, 1.0);
            let (ex, ey) = (px - s * dx, py - s * dy);
            if ex * ex + ey * ey <= radius * radius {
                img.put_pixel(x, y, Rgb(colour));
            }
        }
    }
}

impl FrameSource for Synthetic {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        if self.frames.is_some_and(|n| self.next >= n) {
            return Ok(None);
        }
        let timestamp = Duration::from_secs_f64(self.next as f64 / self.fps);
        let mut img = RgbImage::new(self.width, self.height);
        Synthetic::render(timestamp.as_secs_f32(), &mut img);
        let frame = Frame::from_rgb(img, timestamp, self.next);
        self.next += 1;
        Ok(Some(frame))
    }

    fn describe(&self) -> String {
        format!(
            "synthetic {}x{} at {} fps",
            self.width, self.height, self.fps
        )
    }

    fn is_live(&self) -> bool {
        false
    }

    fn len_hint(&self) -> Option<u64> {
        self.frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_moving_figure() {
        let mut a = Synthetic::new(160, 120, 10.0, Some(12));
        let mut b = a.clone();
        let frames: Vec<Frame> = std::iter::from_fn(|| a.next_frame().unwrap()).collect();
        assert_eq!(frames.len(), 12);
        for (i, f) in frames.iter().enumerate() {
            assert_eq!(f.sequence, i as u64);
            assert_eq!(f.timestamp, Duration::from_millis(100 * i as u64));
            assert_eq!(Some(f.clone()), b.next_frame().unwrap());
        }
        // The figure moves: consecutive frames differ, and it has shirt-coloured pixels.
        assert_ne!(frames[0].data, frames[1].data);
        let shirt = frames[0].data.chunks(3).filter(|p| *p == SHIRT).count();
        assert!(shirt > 100, "{shirt} shirt pixels");
        assert_eq!(b.next_frame().unwrap(), None);
    }

    #[test]
    fn depth_cycles() {
        assert_eq!(Synthetic::depth(0.0), 0.0);
        assert!((Synthetic::depth(SQUAT_PERIOD / 2.0) - 1.0).abs() < 1e-6);
    }
}
