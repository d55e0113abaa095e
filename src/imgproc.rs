//! Image → tensor sampling as MediaPipe's `ImageToTensorCalculator` (OpenCV path) does it, and the
//! bilinear mask resize of `TensorsToSegmentationCalculator`.
//!
//! MediaPipe maps the corners of a (possibly rotated) region of interest onto the tensor's corners
//! with `cv::warpPerspective`, bilinear, no half-pixel offset: tensor pixel `(u, v)` samples the image
//! at `centre + R(θ)·((u/W_t − 0.5)·w, (v/H_t − 0.5)·h)`, integer image coordinates being pixel
//! centres (`shared/spec` §1.1). OpenCV interpolates 8-bit images with weights quantised to 1/32 of
//! a pixel and rounds back to 8 bits before the float conversion; doing the same keeps us within a
//! rounding step of MediaPipe's tensors.
//!
//! ## Examples
//! ```
//! use bodyzone::imgproc::{BorderMode, ImageToTensor, RotatedRect};
//! let img = image::RgbImage::from_pixel(64, 32, image::Rgb([255, 0, 0]));
//! let stretch = ImageToTensor { width: 16, height: 16, keep_aspect_ratio: false,
//!                               range: (0.0, 1.0), border: BorderMode::Zero };
//! let mut tensor = vec![0.0; 3 * 16 * 16];
//! stretch.run(&img, &RotatedRect::whole(64, 32), &mut tensor);
//! assert_eq!(tensor[0], 1.0); // red plane first (NCHW)
//! ```

use image::RgbImage;

/// A rectangle in image pixels, rotated by `rotation` radians around its centre.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RotatedRect {
    pub cx: f32,
    pub cy: f32,
    pub width: f32,
    pub height: f32,
    pub rotation: f32,
}

impl RotatedRect {
    /// The whole image, as MediaPipe's default ROI.
    pub fn whole(width: u32, height: u32) -> Self {
        RotatedRect {
            cx: width as f32 / 2.0,
            cy: height as f32 / 2.0,
            width: width as f32,
            height: height as f32,
            rotation: 0.0,
        }
    }
}

/// What pixels outside the image become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BorderMode {
    /// Black (then mapped through the range, so −1 for a [−1, 1] tensor).
    Zero,
    /// The nearest edge pixel (MediaPipe's default when `border_mode` is unset).
    Replicate,
}

/// Letterbox padding added to keep the aspect ratio, as fractions of the tensor: left, top, right, bottom.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Padding {
    pub left: f32,
    pub top: f32,
    pub right: f32,
    pub bottom: f32,
}

impl Padding {
    /// Maps a tensor-normalised point to ROI-normalised coordinates (MediaPipe's letterbox removal).
    pub fn remove(&self, x: f32, y: f32) -> (f32, f32) {
        (
            (x - self.left) / (1.0 - self.left - self.right),
            (y - self.top) / (1.0 - self.top - self.bottom),
        )
    }
}

/// One image → tensor conversion: output size, aspect handling, value range and border.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImageToTensor {
    pub width: usize,
    pub height: usize,
    pub keep_aspect_ratio: bool,
    /// Pixel 0 maps to `range.0`, pixel 255 to `range.1`.
    pub range: (f32, f32),
    pub border: BorderMode,
}

impl ImageToTensor {
    /// Grows `roi` to the tensor's aspect ratio when `keep_aspect_ratio` is set, as MediaPipe's `PadRoi`.
    pub fn pad_roi(&self, roi: &RotatedRect) -> (RotatedRect, Padding) {
        if !self.keep_aspect_ratio {
            return (*roi, Padding::default());
        }
        let tensor_aspect = self.height as f32 / self.width as f32;
        let roi_aspect = roi.height / roi.width;
        let mut padded = *roi;
        if tensor_aspect > roi_aspect {
            padded.height = roi.width * tensor_aspect;
            let pad = (1.0 - roi.height / padded.height) / 2.0;
            (
                padded,
                Padding {
                    left: 0.0,
                    top: pad,
                    right: 0.0,
                    bottom: pad,
                },
            )
        } else {
            padded.width = roi.height / tensor_aspect;
            let pad = (1.0 - roi.width / padded.width) / 2.0;
            (
                padded,
                Padding {
                    left: pad,
                    top: 0.0,
                    right: pad,
                    bottom: 0.0,
                },
            )
        }
    }

    /// Samples `roi` of `image` into `out`, planar NCHW (`3 × height × width`), and returns the letterbox padding.
    /// `image` is any [`Pixels`]: a decoded picture, or a camera buffer converted tap by tap
    /// (the same tensor as converting it whole first, for a fraction of the work when the
    /// tensor is smaller than the image).
    ///
    /// # Panics
    /// If `out` is not `3 × height × width` long (a programming error, not an input error).
    pub fn run<P: Pixels + ?Sized>(
        &self,
        image: &P,
        roi: &RotatedRect,
        out: &mut [f32],
    ) -> Padding {
        let plane = self.width * self.height;
        assert_eq!(out.len(), 3 * plane, "tensor buffer size");
        let scale = (self.range.1 - self.range.0) / 255.0;
        let offset = self.range.0;
        let (r_plane, rest) = out.split_at_mut(plane);
        let (g_plane, b_plane) = rest.split_at_mut(plane);
        let mut planes = [r_plane, g_plane, b_plane];
        self.sample(image, roi, |i, strip| {
            for (plane, values) in planes.iter_mut().zip(strip) {
                for (t, &v) in plane[i..i + values.len()].iter_mut().zip(values) {
                    *t = v as f32 * scale + offset;
                }
            }
        })
    }

    /// Hands the tensor's pixels to `put` a strip of a row at a time: the row-major index of the
    /// strip's first pixel, and its red, green and blue values.
    fn sample<P: Pixels + ?Sized>(
        &self,
        image: &P,
        roi: &RotatedRect,
        put: impl FnMut(usize, [&[u8]; 3]),
    ) -> Padding {
        let (roi, padding) = self.pad_roi(roi);
        if roi.rotation == 0.0 {
            wide(
                #[inline(always)]
                || self.sample_axis_aligned(image, &roi, put),
            );
        } else {
            self.sample_rotated(image, &roi, put);
        }
        padding
    }

    /// Any rotation: each tensor pixel interpolates its own four taps.
    fn sample_rotated<P: Pixels + ?Sized>(
        &self,
        image: &P,
        roi: &RotatedRect,
        mut put: impl FnMut(usize, [&[u8]; 3]),
    ) {
        let (sin, cos) = roi.rotation.sin_cos();
        let sampler = Sampler::new(image, self.border);
        let mut strip = [[0u8; STRIP]; 3];
        for v in 0..self.height {
            let dy = (v as f32 / self.height as f32 - 0.5) * roi.height;
            for u0 in (0..self.width).step_by(STRIP) {
                let n = STRIP.min(self.width - u0);
                for k in 0..n {
                    let dx = ((u0 + k) as f32 / self.width as f32 - 0.5) * roi.width;
                    let x = roi.cx + cos * dx - sin * dy;
                    let y = roi.cy + sin * dx + cos * dy;
                    let px = sampler.bilinear(quantise(x), quantise(y));
                    for (s, p) in strip.iter_mut().zip(px) {
                        s[k] = p;
                    }
                }
                put(v * self.width + u0, strip.each_ref().map(|s| &s[..n]));
            }
        }
    }

    /// No rotation (every stretch, letterbox and unrotated crop): cos = 1 and sin = 0 exactly,
    /// so [`ImageToTensor::sample_rotated`]'s positions depend, bit for bit, on the column or
    /// the row alone, and the interpolation separates. A strip of tensor columns interpolates
    /// each image row it needs horizontally once, and each tensor row blends the two rows it
    /// falls between: the operations, and their order, of [`Sampler::bilinear`], so the same
    /// bits for a fraction of the taps and position arithmetic.
    #[inline(always)]
    fn sample_axis_aligned<P: Pixels + ?Sized>(
        &self,
        image: &P,
        roi: &RotatedRect,
        mut put: impl FnMut(usize, [&[u8]; 3]),
    ) {
        let (width, height) = image.dimensions();
        let position = |i: usize, n: usize, centre: f32, extent: f32| {
            quantise(centre + (i as f32 / n as f32 - 0.5) * extent)
        };
        // A tap of weight 0 adds exactly 0: as in `Sampler::bilinear`, it is the first tap
        // again, so such a column or row reads one pixel or image row, not two.
        let second = |(i0, a): (i64, f32)| i0 + i64::from(a > 0.0);
        for u0 in (0..self.width).step_by(STRIP) {
            let n = STRIP.min(self.width - u0);
            let mut columns = [ColumnTaps::default(); STRIP];
            for (k, taps) in columns[..n].iter_mut().enumerate() {
                let x = position(u0 + k, self.width, roi.cx, roi.width);
                *taps = ColumnTaps {
                    first: self.border.index(x.0, width),
                    second: self.border.index(second(x), width),
                    weight: x.1,
                };
            }
            let columns = &columns[..n];
            let mut rows = RowPair::new([[0.0f32; STRIP]; 3]);
            let mut strip = [[0u8; STRIP]; 3];
            for v in 0..self.height {
                let y = position(v, self.height, roi.cy, roi.height);
                let (top, bottom) = rows.get(
                    self.border.index(y.0, height),
                    self.border.index(second(y), height),
                    |row, out| interpolate_row(image, row, columns, out),
                );
                for ((s, top), bottom) in strip.iter_mut().zip(top).zip(bottom) {
                    let s = s[..n].iter_mut().zip(top);
                    if y.1 == 0.0 {
                        // `blend(t, b, 0)` is `t + 0`: `t` (both rows are the same one).
                        s.for_each(|(s, &t)| *s = to_u8(t));
                    } else {
                        s.zip(bottom)
                            .for_each(|((s, &t), &b)| *s = to_u8(blend(t, b, y.1)));
                    }
                }
                put(v * self.width + u0, strip.each_ref().map(|s| &s[..n]));
            }
        }
    }
}

/// Tensor columns per strip of the sampling loops: what their buffers on the stack hold.
const STRIP: usize = 256;

/// Where a tensor column samples: the image columns of its two taps (`None`: off the image,
/// zero border) and the weight of the second.
#[derive(Debug, Clone, Copy, Default)]
struct ColumnTaps {
    first: Option<usize>,
    second: Option<usize>,
    weight: f32,
}

/// Image row `row` (`None`: off the image, zero border) interpolated at `columns`, planar.
#[inline(always)]
fn interpolate_row<P: Pixels + ?Sized>(
    image: &P,
    row: Option<usize>,
    columns: &[ColumnTaps],
    out: &mut [[f32; STRIP]; 3],
) {
    let Some(y) = row else {
        // Black taps blend to 0.
        out.iter_mut().for_each(|plane| plane.fill(0.0));
        return;
    };
    let pixel = |x: Option<usize>| x.map_or([0; 3], |x| image.rgb(x, y));
    for (k, taps) in columns.iter().enumerate() {
        let p0 = pixel(taps.first);
        if taps.weight == 0.0 {
            // `blend(a, b, 0)` is `a + 0`: `a`, with no second pixel to read (and, from a
            // camera buffer, convert).
            for (plane, a) in out.iter_mut().zip(p0) {
                plane[k] = f32::from(a);
            }
            continue;
        }
        let p1 = if taps.second == taps.first {
            p0
        } else {
            pixel(taps.second)
        };
        for (plane, (a, b)) in out.iter_mut().zip(p0.into_iter().zip(p1)) {
            plane[k] = blend(f32::from(a), f32::from(b), taps.weight);
        }
    }
}

/// The two source rows a separable resize most recently interpolated, by source row: the
/// output rows between the same two source rows (all of them, when enlarging) reuse them.
struct RowPair<K, R> {
    keys: [Option<K>; 2],
    rows: [R; 2],
}

impl<K: Copy + PartialEq, R: Clone> RowPair<K, R> {
    fn new(row: R) -> Self {
        RowPair {
            keys: [None, None],
            rows: [row.clone(), row],
        }
    }

    /// The rows `a` and `b` (possibly the same), interpolating with `fill` those not held.
    #[inline(always)]
    fn get(&mut self, a: K, b: K, mut fill: impl FnMut(K, &mut R)) -> (&R, &R) {
        let held = |keys: &[Option<K>; 2], k| keys.iter().position(|&h| h == Some(k));
        let ia = held(&self.keys, a).unwrap_or_else(|| {
            let i = usize::from(self.keys[0] == Some(b));
            fill(a, &mut self.rows[i]);
            self.keys[i] = Some(a);
            i
        });
        let ib = held(&self.keys, b).unwrap_or_else(|| {
            let i = 1 - ia;
            fill(b, &mut self.rows[i]);
            self.keys[i] = Some(b);
            i
        });
        (&self.rows[ia], &self.rows[ib])
    }
}

/// Stretches all of `image` over `out` with [`ImageToTensor`]'s mapping, edges replicated:
/// sampling the result at the same size again is an identity.
pub fn resize_rgb<P: Pixels + ?Sized>(image: &P, out: &mut RgbImage) {
    let (width, height) = out.dimensions();
    let (w, h) = image.dimensions();
    let stretch = ImageToTensor {
        width: width as usize,
        height: height as usize,
        keep_aspect_ratio: false,
        range: (0.0, 255.0),
        border: BorderMode::Replicate,
    };
    let data: &mut [u8] = out;
    stretch.sample(image, &RotatedRect::whole(w, h), |i, [r, g, b]| {
        let pixels = data[3 * i..3 * (i + r.len())].chunks_exact_mut(3);
        for (k, px) in pixels.enumerate() {
            px.copy_from_slice(&[r[k], g[k], b[k]]);
        }
    });
}

/// An 8-bit RGB picture read pixel by pixel.
pub trait Pixels {
    /// Width and height in pixels, both at least 1.
    fn dimensions(&self) -> (u32, u32);

    /// The pixel at column `x`, row `y`, both inside [`Pixels::dimensions`].
    fn rgb(&self, x: usize, y: usize) -> [u8; 3];
}

impl Pixels for RgbImage {
    fn dimensions(&self) -> (u32, u32) {
        RgbImage::dimensions(self)
    }

    #[inline]
    fn rgb(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.width() as usize + x) * 3;
        let data = self.as_raw();
        [data[i], data[i + 1], data[i + 2]]
    }
}

impl BorderMode {
    /// The pixel index that stands for index `i` along an axis of `len` pixels; `None` for black.
    #[inline]
    fn index(self, i: i64, len: u32) -> Option<usize> {
        let len = i64::from(len);
        match self {
            BorderMode::Zero => (0..len).contains(&i).then_some(i as usize),
            BorderMode::Replicate => Some(i.clamp(0, len - 1) as usize),
        }
    }
}

/// OpenCV's fixed-point bilinear sampling of an 8-bit RGB image.
struct Sampler<'a, P: ?Sized> {
    image: &'a P,
    width: u32,
    height: u32,
    border: BorderMode,
}

/// OpenCV's `INTER_BITS`: sub-pixel positions are quantised to 1/32.
const INTER_TAB_SIZE: f32 = 32.0;

impl<'a, P: Pixels + ?Sized> Sampler<'a, P> {
    fn new(image: &'a P, border: BorderMode) -> Self {
        let (width, height) = image.dimensions();
        Sampler {
            image,
            width,
            height,
            border,
        }
    }

    #[inline]
    fn pixel(&self, x: i64, y: i64) -> [u8; 3] {
        match (
            self.border.index(x, self.width),
            self.border.index(y, self.height),
        ) {
            (Some(x), Some(y)) => self.image.rgb(x, y),
            _ => [0; 3],
        }
    }

    /// Interpolates at a position [`quantise`]d on both axes.
    fn bilinear(&self, (x0, ax): (i64, f32), (y0, ay): (i64, f32)) -> [u8; 3] {
        // A tap of weight 0 adds exactly 0: skip it (a stretch by an integer factor lands on
        // pixel centres, and every tap of a camera buffer costs a colour conversion).
        let p00 = self.pixel(x0, y0);
        let p01 = if ax > 0.0 {
            self.pixel(x0 + 1, y0)
        } else {
            p00
        };
        let (p10, p11) = if ay > 0.0 {
            let p10 = self.pixel(x0, y0 + 1);
            (
                p10,
                if ax > 0.0 {
                    self.pixel(x0 + 1, y0 + 1)
                } else {
                    p10
                },
            )
        } else {
            (p00, p01)
        };
        std::array::from_fn(|c| {
            let top = blend(f32::from(p00[c]), f32::from(p01[c]), ax);
            let bottom = blend(f32::from(p10[c]), f32::from(p11[c]), ax);
            to_u8(blend(top, bottom, ay))
        })
    }
}

/// `a` and `b` weighted `1 − w` and `w`: OpenCV's interpolation of 8-bit pixels, in the
/// order both sampling paths keep.
#[inline(always)]
fn blend(a: f32, b: f32, w: f32) -> f32 {
    a * (1.0 - w) + b * w
}

/// `x.round().clamp(0.0, 255.0) as u8` (half away from zero) in operations that vectorise
/// (`f32::round` is a library call on x86-64's baseline, and a float → u8 cast goes lane by
/// lane). Adding 2²³ to a clamped `x` leaves its nearest integer, ties to even, in the low
/// mantissa bits; `x` minus that integer is exact, so the ties that must go up are exactly
/// those where it is ½.
#[inline(always)]
fn to_u8(x: f32) -> u8 {
    const SHIFT: f32 = (1 << 23) as f32;
    let x = x.clamp(0.0, 255.0);
    let shifted = x + SHIFT;
    let nearest = shifted - SHIFT;
    shifted.to_bits() as u8 + u8::from(x - nearest == 0.5)
}

/// A coordinate as OpenCV's remap sees it: the pixel left of it and the offset from that pixel,
/// quantised to 1/32.
fn quantise(x: f32) -> (i64, f32) {
    let q = (x * INTER_TAB_SIZE).round() as i64;
    (q >> 5, (q & 31) as f32 / INTER_TAB_SIZE)
}

impl ImageToTensor {
    /// Maps a single-channel `width × height` map in this tensor's space (e.g. the mask a model
    /// produced for the crop of `roi`) back onto the `image_width × image_height` image: the inverse
    /// of [`ImageToTensor::run`]'s mapping, bilinear, 0 outside the crop. This is MediaPipe's
    /// `WarpAffineCalculator` on the inverse crop matrix (OpenCV-compatible path: no half-pixel
    /// shifts, coordinates quantised to 1/32 as `cv::warpAffine`).
    ///
    /// # Panics
    /// If `map` is not `width × height` long.
    pub fn warp_back(
        &self,
        map: &[f32],
        roi: &RotatedRect,
        image_width: u32,
        image_height: u32,
    ) -> Vec<f32> {
        assert_eq!(map.len(), self.width * self.height, "map size");
        let (roi, _) = self.pad_roi(roi);
        let (sin, cos) = roi.rotation.sin_cos();
        let (w, h) = (self.width as i64, self.height as i64);
        let tap = |x: i64, y: i64| {
            if x < 0 || y < 0 || x >= w || y >= h {
                0.0
            } else {
                map[(y * w + x) as usize]
            }
        };
        // Image pixel → tensor pixel: rotate back by −θ around the centre, scale ROI → tensor.
        let (su, sv) = (
            self.width as f32 / roi.width,
            self.height as f32 / roi.height,
        );
        let mut out = Vec::with_capacity(image_width as usize * image_height as usize);
        for y in 0..image_height {
            let dy = y as f32 - roi.cy;
            for x in 0..image_width {
                let dx = x as f32 - roi.cx;
                let u = (cos * dx + sin * dy) * su + self.width as f32 / 2.0;
                let v = (-sin * dx + cos * dy) * sv + self.height as f32 / 2.0;
                let (u0, au) = quantise(u);
                let (v0, av) = quantise(v);
                let top = tap(u0, v0) * (1.0 - au) + tap(u0 + 1, v0) * au;
                let bottom = tap(u0, v0 + 1) * (1.0 - au) + tap(u0 + 1, v0 + 1) * au;
                out.push(top * (1.0 - av) + bottom * av);
            }
        }
        out
    }
}

/// Bilinear resize of a single-channel float map with half-pixel centres and clamped edges
/// (OpenCV `cv::resize` with `INTER_LINEAR`, which MediaPipe uses to bring masks to the image size).
pub fn resize_bilinear(
    src: &[f32],
    src_w: usize,
    src_h: usize,
    dst_w: usize,
    dst_h: usize,
) -> Vec<f32> {
    let mut out = vec![0.0; dst_w * dst_h];
    resize_bilinear_into(src, src_w, src_h, &mut out, dst_w, dst_h);
    out
}

/// Output columns per strip of [`resize_bilinear_into`]: its taps and two rows live on the
/// stack. A whole 1280- or 1920-pixel row, so the output is written front to back: a mask
/// written in strips of its rows took 40% longer once it had left the cache between frames.
const MAP_STRIP: usize = 2048;

/// [`resize_bilinear`] into `out` (`dst_w × dst_h`, row-major), allocating nothing.
///
/// Separable: a strip of output columns interpolates each source row it needs horizontally
/// once, and each output row blends the two it falls between. The operations and their order
/// are those of the four-tap formula, so the values are the same bit for bit, for a fifth of
/// the horizontal work when enlarging 5× and vector code for the rest.
///
/// # Panics
/// If `src` is not `src_w × src_h` or `out` not `dst_w × dst_h` long.
pub fn resize_bilinear_into(
    src: &[f32],
    src_w: usize,
    src_h: usize,
    out: &mut [f32],
    dst_w: usize,
    dst_h: usize,
) {
    assert_eq!(src.len(), src_w * src_h, "source map size");
    assert_eq!(out.len(), dst_w * dst_h, "destination map size");
    wide(
        #[inline(always)]
        || resize_rows(src, src_w, src_h, out, dst_w, dst_h),
    );
}

/// [`resize_bilinear_into`]'s loops.
#[inline(always)]
fn resize_rows(
    src: &[f32],
    src_w: usize,
    src_h: usize,
    out: &mut [f32],
    dst_w: usize,
    dst_h: usize,
) {
    for u0 in (0..dst_w).step_by(MAP_STRIP) {
        let n = MAP_STRIP.min(dst_w - u0);
        let mut columns = [(0, 0, 0.0); MAP_STRIP];
        for (k, taps) in columns[..n].iter_mut().enumerate() {
            *taps = half_pixel_taps(u0 + k, src_w, dst_w);
        }
        let columns = &columns[..n];
        let mut rows = RowPair::new([0.0f32; MAP_STRIP]);
        for (v, out) in out.chunks_exact_mut(dst_w).enumerate() {
            let (y0, y1, wy) = half_pixel_taps(v, src_h, dst_h);
            let (top, bottom) = rows.get(y0, y1, |y, row| {
                let src = &src[y * src_w..(y + 1) * src_w];
                for (r, &(x0, x1, wx)) in row.iter_mut().zip(columns) {
                    *r = src[x0] + (src[x1] - src[x0]) * wx;
                }
            });
            for ((o, &t), &b) in out[u0..u0 + n].iter_mut().zip(top).zip(bottom) {
                *o = t + (b - t) * wy;
            }
        }
    }
}

/// Runs `f` compiled for AVX2 when the CPU has it: the loops of this module that the
/// compiler vectorises (rounding, the blends of interpolated rows) then run 8 lanes wide
/// instead of the x86-64 baseline's 4 (12% less time for the 256×144 tensor of a 1280×720
/// frame, 16% for its mask, with both in the cache). The same source and no fused
/// multiply-adds, so the same bits either way.
/// Elsewhere `f` as it is: NEON is aarch64's baseline.
#[inline(always)]
fn wide<T>(f: impl FnOnce() -> T) -> T {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[target_feature(enable = "avx2")]
        unsafe fn avx2<T>(f: impl FnOnce() -> T) -> T {
            f()
        }
        // SAFETY: the CPU has AVX2.
        return unsafe { avx2(f) };
    }
    f()
}

/// Destination index `d` along an axis of `src` → `dst` pixels: the two source indices and
/// the weight of the second.
fn half_pixel_taps(d: usize, src: usize, dst: usize) -> (usize, usize, f32) {
    let scale = src as f32 / dst as f32;
    let s = (d as f32 + 0.5) * scale - 0.5;
    let s0 = s.floor();
    let w = s - s0;
    let s0 = s0 as i64;
    if s0 < 0 {
        (0, 0, 0.0)
    } else if s0 as usize >= src - 1 {
        (src - 1, src - 1, 0.0)
    } else {
        (s0 as usize, s0 as usize + 1, w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letterbox_of_a_wide_image_pads_top_and_bottom() {
        let det = ImageToTensor {
            width: 224,
            height: 224,
            keep_aspect_ratio: true,
            range: (-1.0, 1.0),
            border: BorderMode::Zero,
        };
        let (roi, pad) = det.pad_roi(&RotatedRect::whole(1280, 720));
        assert_eq!(roi.width, 1280.0);
        assert_eq!(roi.height, 1280.0);
        let want = (1.0 - 720.0 / 1280.0) / 2.0;
        assert!((pad.top - want).abs() < 1e-6 && (pad.bottom - want).abs() < 1e-6);
        assert_eq!((pad.left, pad.right), (0.0, 0.0));
        let (x, y) = pad.remove(0.5, want);
        assert!((x - 0.5).abs() < 1e-6 && y.abs() < 1e-6);
    }

    #[test]
    fn zero_border_maps_through_the_range() {
        let img = RgbImage::from_pixel(4, 2, image::Rgb([255, 255, 255]));
        let det = ImageToTensor {
            width: 4,
            height: 4,
            keep_aspect_ratio: true,
            range: (-1.0, 1.0),
            border: BorderMode::Zero,
        };
        let mut t = vec![0.0; 48];
        det.run(&img, &RotatedRect::whole(4, 2), &mut t);
        assert_eq!(t[0], -1.0, "top row is letterbox");
        assert_eq!(t[4 + 1], 1.0, "second row is image");
    }

    /// A picture of `w × h` pseudo-random pixels.
    fn noise(w: u32, h: u32, seed: u64) -> RgbImage {
        let mut state = seed | 1;
        RgbImage::from_fn(w, h, |_, _| {
            image::Rgb(std::array::from_fn(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 56) as u8
            }))
        })
    }

    /// The ways a tensor is sampled: the rotated formula, and the separable path in the
    /// baseline build and in [`wide`]'s (AVX2 on x86-64 CPUs that have it).
    #[derive(Debug, Clone, Copy)]
    enum Path {
        Rotated,
        Separable,
        SeparableWide,
    }

    /// The pixels `path` hands out, row-major.
    fn sampled(
        conv: &ImageToTensor,
        image: &RgbImage,
        roi: &RotatedRect,
        path: Path,
    ) -> Vec<[u8; 3]> {
        let mut out = vec![[0; 3]; conv.width * conv.height];
        let mut seen = 0;
        let put = |i: usize, [r, g, b]: [&[u8]; 3]| {
            for k in 0..r.len() {
                out[i + k] = [r[k], g[k], b[k]];
            }
            seen += r.len();
        };
        match path {
            Path::Rotated => conv.sample_rotated(image, roi, put),
            Path::Separable => conv.sample_axis_aligned(image, roi, put),
            Path::SeparableWide => wide(|| conv.sample_axis_aligned(image, roi, put)),
        }
        assert_eq!(seen, out.len(), "every pixel handed out once");
        out
    }

    /// Whether both builds of the separable path give the rotated formula's pixels.
    fn separable_is_exact(conv: &ImageToTensor, image: &RgbImage, roi: &RotatedRect) -> bool {
        let want = sampled(conv, image, roi, Path::Rotated);
        [Path::Separable, Path::SeparableWide]
            .into_iter()
            .all(|path| sampled(conv, image, roi, path) == want)
    }

    #[test]
    fn axis_aligned_path_crosses_strips_like_the_rotated_formula() {
        // Wider than a strip both ways, enlarging and shrinking, sub-rect and overhanging ROIs.
        let image = noise(700, 9, 7);
        for (tw, th) in [(STRIP + 7, 5), (2 * STRIP + 1, 13), (300, 2)] {
            for border in [BorderMode::Zero, BorderMode::Replicate] {
                let conv = ImageToTensor {
                    width: tw,
                    height: th,
                    keep_aspect_ratio: false,
                    range: (0.0, 1.0),
                    border,
                };
                for roi in [
                    RotatedRect::whole(700, 9),
                    RotatedRect {
                        cx: 100.0,
                        cy: 4.0,
                        width: 90.5,
                        height: 7.0,
                        rotation: 0.0,
                    },
                    RotatedRect {
                        cx: 650.0,
                        cy: 1.0,
                        width: 300.0,
                        height: 12.0,
                        rotation: 0.0,
                    },
                ] {
                    assert!(
                        separable_is_exact(&conv, &image, &roi),
                        "{tw}x{th} {border:?} {roi:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn to_u8_rounds_half_away_from_zero_and_clamps() {
        let reference = |x: f32| x.round().clamp(0.0, 255.0) as u8;
        // Every half-integer and its two neighbouring floats, where rounding can go wrong, and
        // a fine grid across and beyond the range.
        for k in -4..=600 {
            let half = k as f32 / 2.0;
            let bits = half.abs().to_bits();
            for x in [
                half,
                f32::from_bits(bits + 1),
                f32::from_bits(bits.max(1) - 1),
            ] {
                for x in [x, -x] {
                    assert_eq!(to_u8(x), reference(x), "{x}");
                }
            }
        }
        for k in -1000..300_000 {
            let x = k as f32 / 1024.0;
            assert_eq!(to_u8(x), reference(x), "{x}");
        }
        assert_eq!(to_u8(f32::NAN), reference(f32::NAN));
    }

    /// The four-tap formula of OpenCV's `INTER_LINEAR` resize, one output pixel at a time: what
    /// the separable [`resize_bilinear_into`] must equal.
    fn resize_reference(
        src: &[f32],
        src_w: usize,
        src_h: usize,
        dst_w: usize,
        dst_h: usize,
    ) -> Vec<f32> {
        let mut out = Vec::with_capacity(dst_w * dst_h);
        for v in 0..dst_h {
            let (y0, y1, wy) = half_pixel_taps(v, src_h, dst_h);
            for u in 0..dst_w {
                let (x0, x1, wx) = half_pixel_taps(u, src_w, dst_w);
                let at = |x: usize, y: usize| src[y * src_w + x];
                let top = at(x0, y0) + (at(x1, y0) - at(x0, y0)) * wx;
                let bottom = at(x0, y1) + (at(x1, y1) - at(x0, y1)) * wx;
                out.push(top + (bottom - top) * wy);
            }
        }
        out
    }

    /// Whether the separable resize, in the baseline build and in [`wide`]'s, gives the
    /// four-tap formula's bits.
    fn resize_is_exact(
        src: &[f32],
        src_w: usize,
        src_h: usize,
        dst_w: usize,
        dst_h: usize,
    ) -> bool {
        let want = resize_reference(src, src_w, src_h, dst_w, dst_h);
        let mut baseline = vec![f32::NAN; want.len()];
        resize_rows(src, src_w, src_h, &mut baseline, dst_w, dst_h);
        let wide = resize_bilinear(src, src_w, src_h, dst_w, dst_h);
        [baseline, wide].iter().all(|got| {
            want.iter()
                .zip(got)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        })
    }

    #[test]
    fn separable_resize_crosses_strips_like_the_four_tap_formula() {
        let src: Vec<f32> = (0..7 * 3).map(|i| ((i * 37) % 11) as f32 / 10.0).collect();
        for (w, h) in [(MAP_STRIP + 3, 4), (2 * MAP_STRIP + 1, 2), (5, 9)] {
            let want = resize_reference(&src, 7, 3, w, h);
            let got = resize_bilinear(&src, 7, 3, w, h);
            assert!(
                want.iter()
                    .zip(&got)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{w}x{h}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn axis_aligned_path_equals_the_rotated_formula(
            (w, h, seed) in (1u32..24, 1u32..24, proptest::prelude::any::<u64>()),
            (tw, th) in (1usize..70, 1usize..70),
            (fx, fy, fw, fh) in (-0.5f32..1.5, -0.5f32..1.5, 0.05f32..2.5, 0.05f32..2.5),
            replicate: bool,
            keep_aspect_ratio: bool,
        ) {
            // Sizes either side of the image's: enlarging, shrinking, and crops reaching off it.
            let image = noise(w, h, seed);
            let conv = ImageToTensor {
                width: tw,
                height: th,
                keep_aspect_ratio,
                range: (0.0, 1.0),
                border: if replicate { BorderMode::Replicate } else { BorderMode::Zero },
            };
            let (roi, _) = conv.pad_roi(&RotatedRect {
                cx: fx * w as f32,
                cy: fy * h as f32,
                width: fw * w as f32,
                height: fh * h as f32,
                rotation: 0.0,
            });
            proptest::prop_assert!(separable_is_exact(&conv, &image, &roi));
        }

        #[test]
        fn separable_resize_equals_the_four_tap_formula(
            (src_w, src_h) in (1usize..20, 1usize..20),
            (dst_w, dst_h) in (1usize..90, 1usize..90),
            seed: u64,
        ) {
            let mut state = seed | 1;
            let src: Vec<f32> = (0..src_w * src_h)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    (state >> 40) as f32 / (1u64 << 24) as f32
                })
                .collect();
            proptest::prop_assert!(resize_is_exact(&src, src_w, src_h, dst_w, dst_h));
        }
    }

    #[test]
    fn identity_resize_is_exact() {
        let src: Vec<f32> = (0..12).map(|v| v as f32).collect();
        assert_eq!(resize_bilinear(&src, 4, 3, 4, 3), src);
    }

    #[test]
    fn upscale_uses_half_pixel_centres() {
        let out = resize_bilinear(&[0.0, 1.0], 2, 1, 4, 1);
        assert_eq!(out, vec![0.0, 0.25, 0.75, 1.0]);
    }

    /// One case of TF.js `convert_image_to_tensor_test.ts` (the MediaPipe `ImageToTensorCalculator`
    /// goldens): ROI normalised to the 64×128 input, tensor size, range, keep-aspect, border, golden file.
    struct CropCase {
        roi: [f32; 5],
        size: (usize, usize),
        range: (f32, f32),
        keep_aspect_ratio: bool,
        border: BorderMode,
        golden: &'static str,
    }

    fn fixture(path: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/fixtures")
            .join(path)
    }

    #[test]
    fn crops_match_mediapipe_goldens() {
        use BorderMode::{Replicate, Zero};
        use std::f32::consts::PI;
        let medium = [0.65, 0.4, 0.5, 0.5, 0.0];
        let large = [0.5, 0.5, 1.5, 1.1, 0.0];
        let rot = |r: [f32; 5], deg: f32| [r[0], r[1], r[2], r[3], PI * deg / 180.0];
        let case = |roi, size, range, keep_aspect_ratio, border, golden| CropCase {
            roi,
            size,
            range,
            keep_aspect_ratio,
            border,
            golden,
        };
        let unit = (0.0, 1.0);
        let cases = [
            case(
                medium,
                (256, 256),
                unit,
                true,
                Replicate,
                "medium_sub_rect_keep_aspect.png",
            ),
            case(
                medium,
                (256, 256),
                unit,
                true,
                Zero,
                "medium_sub_rect_keep_aspect_border_zero.png",
            ),
            case(
                rot(medium, 90.0),
                (256, 256),
                unit,
                true,
                Replicate,
                "medium_sub_rect_keep_aspect_with_rotation.png",
            ),
            case(
                rot(medium, 90.0),
                (256, 256),
                unit,
                true,
                Zero,
                "medium_sub_rect_keep_aspect_with_rotation_border_zero.png",
            ),
            case(
                rot(medium, -45.0),
                (256, 256),
                (-1.0, 1.0),
                false,
                Replicate,
                "medium_sub_rect_with_rotation.png",
            ),
            case(
                rot(medium, -45.0),
                (256, 256),
                (-1.0, 1.0),
                false,
                Zero,
                "medium_sub_rect_with_rotation_border_zero.png",
            ),
            case(
                large,
                (128, 128),
                unit,
                false,
                Replicate,
                "large_sub_rect.png",
            ),
            case(
                large,
                (128, 128),
                unit,
                false,
                Zero,
                "large_sub_rect_border_zero.png",
            ),
            case(
                large,
                (128, 128),
                unit,
                true,
                Replicate,
                "large_sub_rect_keep_aspect.png",
            ),
            case(
                large,
                (128, 128),
                unit,
                true,
                Zero,
                "large_sub_rect_keep_aspect_border_zero.png",
            ),
            case(
                rot(large, -15.0),
                (128, 128),
                unit,
                true,
                Replicate,
                "large_sub_rect_keep_aspect_with_rotation.png",
            ),
            case(
                rot(large, -15.0),
                (128, 128),
                unit,
                true,
                Zero,
                "large_sub_rect_keep_aspect_with_rotation_border_zero.png",
            ),
            case(
                [0.5, 0.5, 1.0, 1.0, 0.0],
                (64, 128),
                unit,
                true,
                Replicate,
                "noop_except_range.png",
            ),
            case(
                [0.5, 0.5, 1.0, 1.0, 0.0],
                (64, 128),
                unit,
                true,
                Zero,
                "noop_except_range.png",
            ),
        ];
        let input = image::open(fixture("tfjs-models/image_to_tensor_input.jpg"))
            .unwrap()
            .to_rgb8();
        let (iw, ih) = (input.width() as f32, input.height() as f32);
        for c in cases {
            let [cx, cy, w, h, rotation] = c.roi;
            let roi = RotatedRect {
                cx: cx * iw,
                cy: cy * ih,
                width: w * iw,
                height: h * ih,
                rotation,
            };
            let conv = ImageToTensor {
                width: c.size.0,
                height: c.size.1,
                keep_aspect_ratio: c.keep_aspect_ratio,
                range: c.range,
                border: c.border,
            };
            let mut t = vec![0.0; 3 * c.size.0 * c.size.1];
            conv.run(&input, &roi, &mut t);
            let golden = image::open(fixture(&format!(
                "tfjs-models/image_to_tensor/{}",
                c.golden
            )))
            .unwrap()
            .to_rgb8();
            let plane = c.size.0 * c.size.1;
            let scale = 255.0 / (c.range.1 - c.range.0);
            // The TF.js test's tolerance (7 of 255) absorbs JPEG decoder differences.
            let mut worst = (0.0f32, 0);
            for (i, px) in golden.pixels().enumerate() {
                for ch in 0..3 {
                    let got = (t[ch * plane + i] - c.range.0) * scale;
                    let err = (got - f32::from(px[ch])).abs();
                    if err > worst.0 {
                        worst = (err, i);
                    }
                }
            }
            assert!(
                worst.0 <= 7.0,
                "{}: pixel {} off by {}",
                c.golden,
                worst.1,
                worst.0
            );
        }
    }

    #[test]
    fn warp_back_inverts_a_rotated_crop() {
        // A map that is 1 on the crop's left half: after warping back, image points on the left
        // of the (rotated) crop centre line are 1, points beyond the crop are 0.
        let conv = ImageToTensor {
            width: 64,
            height: 64,
            keep_aspect_ratio: true,
            range: (0.0, 1.0),
            border: BorderMode::Zero,
        };
        let map: Vec<f32> = (0..64 * 64)
            .map(|i| if i % 64 < 32 { 1.0 } else { 0.0 })
            .collect();
        let roi = RotatedRect {
            cx: 50.0,
            cy: 40.0,
            width: 40.0,
            height: 40.0,
            rotation: std::f32::consts::FRAC_PI_2,
        };
        let out = conv.warp_back(&map, &roi, 100, 80);
        let at = |x: usize, y: usize| out[y * 100 + x];
        // θ = 90°: the crop's x axis points down the image, so its left half is the top half.
        assert_eq!(at(50, 30), 1.0);
        assert_eq!(at(50, 50), 0.0);
        assert_eq!(at(5, 5), 0.0, "outside the crop");
    }
}
