//! Skipping frames that barely changed: a small grey thumbnail of each analysed frame, compared
//! with the next (`[smoothing] skip_unchanged`).

use super::picture::Picture;

/// Side of the grey thumbnail compared by `skip_unchanged`.
const THUMB: (u32, u32) = (32, 18);

/// The thumbnail of the last analysed frame and the threshold it is compared against.
#[derive(Debug, Default)]
pub(super) struct Still {
    /// Mean absolute grey difference, as a fraction of full scale, under which a frame is the
    /// same; 0 turns skipping off.
    threshold: f32,
    /// Small grey copy of the last analysed frame.
    thumb: Vec<f32>,
    /// The current frame's thumbnail (kept to reuse its memory).
    scratch: Vec<f32>,
}

impl Still {
    pub(super) fn new(threshold: f32) -> Still {
        Still {
            threshold,
            ..Still::default()
        }
    }

    /// Forgets the last frame: the next one is analysed whatever it shows.
    pub(super) fn forget(&mut self) {
        self.thumb.clear();
    }

    /// Whether `picture` differs from the last analysed frame by less than the threshold;
    /// remembers it otherwise.
    pub(super) fn unchanged(&mut self, picture: Picture<'_>) -> bool {
        if self.threshold <= 0.0 {
            return false;
        }
        let grey = &mut self.scratch;
        match picture {
            Picture::Full(image) => {
                let (w, h) = image.dimensions();
                let data = image.as_raw();
                thumbnail(w as usize, h as usize, grey, |i| {
                    let p = &data[3 * i..3 * i + 3];
                    (f32::from(p[0]) + f32::from(p[1]) + f32::from(p[2])) / (3.0 * 255.0)
                });
            }
            Picture::Input(input) => {
                let (w, h) = input.tensor_size();
                let (r, rest) = input.tensor().split_at(w * h);
                let (g, b) = rest.split_at(w * h);
                thumbnail(w, h, grey, |i| (r[i] + g[i] + b[i]) / 3.0);
            }
        }
        let same = grey.len() == self.thumb.len()
            && grey
                .iter()
                .zip(&self.thumb)
                .map(|(a, b)| (a - b).abs())
                .sum::<f32>()
                / (grey.len() as f32)
                < self.threshold;
        if !same {
            std::mem::swap(&mut self.thumb, &mut self.scratch);
        }
        same
    }
}

/// Box averages of `grey` (of the row-major pixel index) over a [`THUMB`] grid covering the
/// whole `width × height` picture: the same thumbnail, up to resampling noise, whether the
/// picture is the full frame or the model's input.
fn thumbnail(width: usize, height: usize, out: &mut Vec<f32>, grey: impl Fn(usize) -> f32) {
    let (tw, th) = (THUMB.0 as usize, THUMB.1 as usize);
    out.clear();
    out.resize(tw * th, 0.0);
    for y in 0..height {
        let row = &mut out[y * th / height * tw..][..tw];
        for x in 0..width {
            row[x * tw / width] += grey(y * width + x);
        }
    }
    // Cells hold different pixel counts when the picture does not divide evenly.
    let span = |n: usize, t: usize, c: usize| ((c + 1) * n).div_ceil(t) - (c * n).div_ceil(t);
    for (cell, sum) in out.iter_mut().enumerate() {
        let count = span(width, tw, cell % tw) * span(height, th, cell / tw);
        *sum /= count.max(1) as f32;
    }
}
