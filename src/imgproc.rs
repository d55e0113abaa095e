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
            (padded, Padding { left: 0.0, top: pad, right: 0.0, bottom: pad })
        } else {
            padded.width = roi.height / tensor_aspect;
            let pad = (1.0 - roi.width / padded.width) / 2.0;
            (padded, Padding { left: pad, top: 0.0, right: pad, bottom: 0.0 })
        }
    }

    /// Samples `roi` of `image` into `out`, planar NCHW (`3 × height × width`), and returns the letterbox padding.
    ///
    /// # Panics
    /// If `out` is not `3 × height × width` long (a programming error, not an input error).
    pub fn run(&self, image: &RgbImage, roi: &RotatedRect, out: &mut [f32]) -> Padding {
        let plane = self.width * self.height;
        assert_eq!(out.len(), 3 * plane, "tensor buffer size");
        let (roi, padding) = self.pad_roi(roi);
        let (sin, cos) = roi.rotation.sin_cos();
        let scale = (self.range.1 - self.range.0) / 255.0;
        let offset = self.range.0;
        let (r_plane, rest) = out.split_at_mut(plane);
        let (g_plane, b_plane) = rest.split_at_mut(plane);
        let sampler = Sampler::new(image, self.border);
        for v in 0..self.height {
            let dy = (v as f32 / self.height as f32 - 0.5) * roi.height;
            for u in 0..self.width {
                let dx = (u as f32 / self.width as f32 - 0.5) * roi.width;
                let x = roi.cx + cos * dx - sin * dy;
                let y = roi.cy + sin * dx + cos * dy;
                let px = sampler.bilinear(x, y);
                let i = v * self.width + u;
                r_plane[i] = px[0] as f32 * scale + offset;
                g_plane[i] = px[1] as f32 * scale + offset;
                b_plane[i] = px[2] as f32 * scale + offset;
            }
        }
        padding
    }
}

/// OpenCV's fixed-point bilinear sampling of an 8-bit RGB image.
struct Sampler<'a> {
    data: &'a [u8],
    width: i64,
    height: i64,
    border: BorderMode,
}

/// OpenCV's `INTER_BITS`: sub-pixel positions are quantised to 1/32.
const INTER_TAB_SIZE: f32 = 32.0;

impl<'a> Sampler<'a> {
    fn new(image: &'a RgbImage, border: BorderMode) -> Self {
        Sampler {
            data: image.as_raw(),
            width: i64::from(image.width()),
            height: i64::from(image.height()),
            border,
        }
    }

    fn pixel(&self, x: i64, y: i64) -> [u8; 3] {
        let (x, y) = match self.border {
            BorderMode::Zero if x < 0 || y < 0 || x >= self.width || y >= self.height => {
                return [0; 3];
            }
            BorderMode::Zero => (x, y),
            BorderMode::Replicate => (x.clamp(0, self.width - 1), y.clamp(0, self.height - 1)),
        };
        let i = ((y * self.width + x) * 3) as usize;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    fn bilinear(&self, x: f32, y: f32) -> [u8; 3] {
        let xq = (x * INTER_TAB_SIZE).round() as i64;
        let yq = (y * INTER_TAB_SIZE).round() as i64;
        let (x0, y0) = (xq >> 5, yq >> 5);
        let ax = (xq & 31) as f32 / INTER_TAB_SIZE;
        let ay = (yq & 31) as f32 / INTER_TAB_SIZE;
        let p00 = self.pixel(x0, y0);
        let p01 = self.pixel(x0 + 1, y0);
        let p10 = self.pixel(x0, y0 + 1);
        let p11 = self.pixel(x0 + 1, y0 + 1);
        std::array::from_fn(|c| {
            let top = p00[c] as f32 * (1.0 - ax) + p01[c] as f32 * ax;
            let bottom = p10[c] as f32 * (1.0 - ax) + p11[c] as f32 * ax;
            (top * (1.0 - ay) + bottom * ay).round().clamp(0.0, 255.0) as u8
        })
    }
}

/// Bilinear resize of a single-channel float map with half-pixel centres and clamped edges
/// (OpenCV `cv::resize` with `INTER_LINEAR`, which MediaPipe uses to bring masks to the image size).
pub fn resize_bilinear(src: &[f32], src_w: usize, src_h: usize, dst_w: usize, dst_h: usize) -> Vec<f32> {
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
}
