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
        self.sample(image, roi, |i, px| {
            r_plane[i] = px[0] as f32 * scale + offset;
            g_plane[i] = px[1] as f32 * scale + offset;
            b_plane[i] = px[2] as f32 * scale + offset;
        })
    }

    /// Hands every tensor pixel, by row-major index, to `put`.
    fn sample<P: Pixels + ?Sized>(
        &self,
        image: &P,
        roi: &RotatedRect,
        mut put: impl FnMut(usize, [u8; 3]),
    ) -> Padding {
        let (roi, padding) = self.pad_roi(roi);
        let (sin, cos) = roi.rotation.sin_cos();
        let sampler = Sampler::new(image, self.border);
        if roi.rotation == 0.0 {
            // cos = 1 and sin = 0 exactly, so the formula below reduces, bit for bit, to
            // positions that depend on the column or the row alone: quantise each once.
            let axis = |i: usize, n: usize, centre: f32, extent: f32| {
                quantise(centre + (i as f32 / n as f32 - 0.5) * extent)
            };
            let xs: Vec<_> = (0..self.width)
                .map(|u| axis(u, self.width, roi.cx, roi.width))
                .collect();
            for v in 0..self.height {
                let y = axis(v, self.height, roi.cy, roi.height);
                for (u, &x) in xs.iter().enumerate() {
                    put(v * self.width + u, sampler.bilinear(x, y));
                }
            }
            return padding;
        }
        for v in 0..self.height {
            let dy = (v as f32 / self.height as f32 - 0.5) * roi.height;
            for u in 0..self.width {
                let dx = (u as f32 / self.width as f32 - 0.5) * roi.width;
                let x = roi.cx + cos * dx - sin * dy;
                let y = roi.cy + sin * dx + cos * dy;
                put(
                    v * self.width + u,
                    sampler.bilinear(quantise(x), quantise(y)),
                );
            }
        }
        padding
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
    stretch.sample(image, &RotatedRect::whole(w, h), |i, px| {
        data[3 * i..3 * i + 3].copy_from_slice(&px)
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

/// OpenCV's fixed-point bilinear sampling of an 8-bit RGB image.
struct Sampler<'a, P: ?Sized> {
    image: &'a P,
    width: i64,
    height: i64,
    border: BorderMode,
}

/// OpenCV's `INTER_BITS`: sub-pixel positions are quantised to 1/32.
const INTER_TAB_SIZE: f32 = 32.0;

impl<'a, P: Pixels + ?Sized> Sampler<'a, P> {
    fn new(image: &'a P, border: BorderMode) -> Self {
        let (width, height) = image.dimensions();
        Sampler {
            image,
            width: i64::from(width),
            height: i64::from(height),
            border,
        }
    }

    #[inline]
    fn pixel(&self, x: i64, y: i64) -> [u8; 3] {
        let (x, y) = match self.border {
            BorderMode::Zero if x < 0 || y < 0 || x >= self.width || y >= self.height => {
                return [0; 3];
            }
            BorderMode::Zero => (x, y),
            BorderMode::Replicate => (x.clamp(0, self.width - 1), y.clamp(0, self.height - 1)),
        };
        self.image.rgb(x as usize, y as usize)
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
            let top = p00[c] as f32 * (1.0 - ax) + p01[c] as f32 * ax;
            let bottom = p10[c] as f32 * (1.0 - ax) + p11[c] as f32 * ax;
            (top * (1.0 - ay) + bottom * ay).round().clamp(0.0, 255.0) as u8
        })
    }
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
    assert_eq!(src.len(), src_w * src_h, "source map size");
    let xs = axis_taps(src_w, dst_w);
    let ys = axis_taps(src_h, dst_h);
    let mut out = Vec::with_capacity(dst_w * dst_h);
    for &(y0, y1, wy) in &ys {
        let row0 = &src[y0 * src_w..(y0 + 1) * src_w];
        let row1 = &src[y1 * src_w..(y1 + 1) * src_w];
        out.extend(xs.iter().map(|&(x0, x1, wx)| {
            let top = row0[x0] + (row0[x1] - row0[x0]) * wx;
            let bottom = row1[x0] + (row1[x1] - row1[x0]) * wx;
            top + (bottom - top) * wy
        }));
    }
    out
}

/// For each destination index along one axis: the two source indices and the weight of the second.
fn axis_taps(src: usize, dst: usize) -> Vec<(usize, usize, f32)> {
    let scale = src as f32 / dst as f32;
    (0..dst)
        .map(|d| {
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
        })
        .collect()
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
