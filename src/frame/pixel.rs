//! Pixel formats of camera buffers and their conversion to RGB.
//!
//! YUV is decoded with the BT.601 matrix, in limited range (Y 16–235, chroma 16–240: what UVC
//! webcams, vivid and `rpicam-vid` produce) or full range (0–255, JPEG/JFIF) as the frame says.
//! Integer arithmetic with 16-bit fixed-point coefficients; the result is within one level of the
//! floating-point formula.
//!
//! [`Converter`] writes into an image the caller allocated once, so the steady state of a capture
//! loop allocates nothing. [`Converter::to_tensor`] samples a frame straight into a model's input
//! tensor and [`Converter::to_rgb_resized`] into a small image, in one pass: only the pixels the
//! resampling reads are converted, and no full-size RGB frame is written.

use std::fmt;
use std::str::FromStr;

use image::RgbImage;
use image::codecs::jpeg::JpegDecoder;
use image::{ColorType, ImageDecoder};

use crate::imgproc::{ImageToTensor, Pixels, RotatedRect, resize_rgb};

/// A buffer layout. Round-trips through its V4L2 fourcc; formats bodyzone cannot convert are kept
/// as [`PixelFormat::Custom`] so they can still be listed and named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    /// Packed R, G, B bytes (`RGB3`).
    Rgb24,
    /// Packed 4:2:2, Y0 U Y1 V (`YUYV`, also called YUY2).
    Yuyv,
    /// 4:2:0, a Y plane then one interleaved U/V plane (`NV12`).
    Nv12,
    /// 4:2:0, Y, U and V planes (`YU12`, also called I420; `rpicam-vid --codec yuv420`).
    Yuv420,
    /// Motion JPEG: each buffer is one JPEG image (`MJPG`).
    Mjpeg,
    /// Any other fourcc.
    Custom([u8; 4]),
}

impl PixelFormat {
    /// The formats [`Converter`] handles, in the order bodyzone prefers them from a camera
    /// (uncompressed first: no decode cost, no JPEG artefacts).
    pub const SUPPORTED: [PixelFormat; 5] = [
        PixelFormat::Yuyv,
        PixelFormat::Nv12,
        PixelFormat::Yuv420,
        PixelFormat::Rgb24,
        PixelFormat::Mjpeg,
    ];

    pub fn from_fourcc(fourcc: [u8; 4]) -> PixelFormat {
        match &fourcc {
            b"RGB3" => PixelFormat::Rgb24,
            b"YUYV" => PixelFormat::Yuyv,
            b"NV12" => PixelFormat::Nv12,
            b"YU12" => PixelFormat::Yuv420,
            b"MJPG" => PixelFormat::Mjpeg,
            _ => PixelFormat::Custom(fourcc),
        }
    }

    pub fn fourcc(self) -> [u8; 4] {
        match self {
            PixelFormat::Rgb24 => *b"RGB3",
            PixelFormat::Yuyv => *b"YUYV",
            PixelFormat::Nv12 => *b"NV12",
            PixelFormat::Yuv420 => *b"YU12",
            PixelFormat::Mjpeg => *b"MJPG",
            PixelFormat::Custom(code) => code,
        }
    }

    pub fn is_supported(self) -> bool {
        !matches!(self, PixelFormat::Custom(_))
    }

    /// Bytes per row of the first plane with no padding; `None` for compressed or unknown formats.
    pub fn min_stride(self, width: u32) -> Option<usize> {
        let w = width as usize;
        match self {
            PixelFormat::Rgb24 => Some(3 * w),
            PixelFormat::Yuyv => Some(2 * w.div_ceil(2) * 2),
            // NV12 shares its stride with the interleaved chroma rows, which hold a U,V pair
            // for every two pixels: an odd width needs one byte more than its luma.
            PixelFormat::Nv12 => Some(2 * w.div_ceil(2)),
            PixelFormat::Yuv420 => Some(w),
            PixelFormat::Mjpeg | PixelFormat::Custom(_) => None,
        }
    }

    /// Bytes of one frame whose first plane has `stride` bytes per row; `None` for compressed or
    /// unknown formats.
    pub fn frame_len(self, stride: usize, height: u32) -> Option<usize> {
        let h = height as usize;
        let chroma_rows = h.div_ceil(2);
        match self {
            PixelFormat::Rgb24 | PixelFormat::Yuyv => Some(stride * h),
            PixelFormat::Nv12 => Some(stride * h + stride * chroma_rows),
            PixelFormat::Yuv420 => Some(stride * h + 2 * stride.div_ceil(2) * chroma_rows),
            PixelFormat::Mjpeg | PixelFormat::Custom(_) => None,
        }
    }
}

/// The fourcc as text (`YUYV`), with unprintable bytes escaped.
impl fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.fourcc() {
            if b.is_ascii_graphic() || b == b' ' {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

/// Accepts the fourcc (`YUYV`, `MJPG`, `NV12`, `YU12`, `RGB3`) or a common name (`yuyv`, `yuy2`,
/// `mjpeg`, `nv12`, `yuv420`, `i420`, `rgb24`), in any case.
impl FromStr for PixelFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let format = match s.to_ascii_lowercase().as_str() {
            "rgb3" | "rgb24" | "rgb" => PixelFormat::Rgb24,
            "yuyv" | "yuy2" => PixelFormat::Yuyv,
            "nv12" => PixelFormat::Nv12,
            "yu12" | "yuv420" | "i420" => PixelFormat::Yuv420,
            "mjpg" | "mjpeg" => PixelFormat::Mjpeg,
            _ => {
                return Err(format!(
                    "unknown pixel format '{s}': expected one of yuyv, nv12, yuv420, rgb24, mjpeg"
                ));
            }
        };
        Ok(format)
    }
}

/// How YUV bytes map to RGB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum YuvMode {
    /// BT.601, Y 16–235 and chroma 16–240 (V4L2 "limited range", the camera default).
    #[default]
    Bt601Limited,
    /// BT.601, every code 0–255 used (V4L2 "full range", JPEG).
    Bt601Full,
}

/// Why a buffer could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The buffer is shorter than its format and size need: a truncated read or a wrong size.
    #[error("{format} {width}x{height} frame needs {expected} bytes, got {got}")]
    ShortBuffer {
        format: PixelFormat,
        width: u32,
        height: u32,
        expected: usize,
        got: usize,
    },
    /// bodyzone has no converter for this format; pick another with `fmt=`.
    #[error("pixel format {0} is not supported: expected one of YUYV, NV12, YU12, RGB3, MJPG")]
    Unsupported(PixelFormat),
    /// A Motion-JPEG buffer is not a decodable JPEG (a corrupt or partial frame).
    #[error("bad MJPEG frame: {0}")]
    Jpeg(#[from] image::ImageError),
    /// The JPEG's size differs from the size the stream announced.
    #[error("MJPEG frame is {got_w}x{got_h}, expected {width}x{height}")]
    JpegSize {
        width: u32,
        height: u32,
        got_w: u32,
        got_h: u32,
    },
}

/// A borrowed buffer with its layout: what [`Converter`] reads.
#[derive(Debug, Clone, Copy)]
pub struct RawImage<'a> {
    pub data: &'a [u8],
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    /// Bytes per row of the first plane (ignored for MJPEG). 4:2:0 chroma planes follow the
    /// V4L2 rule: NV12's UV plane has the same stride, YU12's U and V planes half of it.
    pub stride: usize,
    pub yuv: YuvMode,
}

/// 16-bit fixed point; float arithmetic in `const fn` keeps the BT.601 derivation visible.
const fn fix(x: f64) -> i32 {
    (x * 65536.0 + 0.5) as i32
}

const KR: f64 = 0.299;
const KB: f64 = 0.114;
const KG: f64 = 1.0 - KR - KB;

/// Fixed-point YUV → RGB matrix: `(y_scale, y_offset, rv, gu, gv, bu)`.
#[derive(Debug, Clone, Copy)]
struct Matrix {
    y_scale: i32,
    y_offset: i32,
    rv: i32,
    gu: i32,
    gv: i32,
    bu: i32,
}

impl Matrix {
    const fn new(y_scale: f64, c_scale: f64, y_offset: i32) -> Matrix {
        Matrix {
            y_scale: fix(y_scale),
            y_offset,
            rv: fix(c_scale * 2.0 * (1.0 - KR)),
            gu: fix(c_scale * 2.0 * (1.0 - KB) * KB / KG),
            gv: fix(c_scale * 2.0 * (1.0 - KR) * KR / KG),
            bu: fix(c_scale * 2.0 * (1.0 - KB)),
        }
    }

    const LIMITED: Matrix = Matrix::new(255.0 / 219.0, 255.0 / 224.0, 16);
    const FULL: Matrix = Matrix::new(1.0, 1.0, 0);

    fn of(mode: YuvMode) -> Matrix {
        match mode {
            YuvMode::Bt601Limited => Matrix::LIMITED,
            YuvMode::Bt601Full => Matrix::FULL,
        }
    }

    #[inline]
    fn rgb(&self, [y, u, v]: [i32; 3]) -> [u8; 3] {
        let y = (y - self.y_offset) * self.y_scale + (1 << 15);
        let (u, v) = (u - 128, v - 128);
        let clamp = |x: i32| (x >> 16).clamp(0, 255) as u8;
        [
            clamp(y + self.rv * v),
            clamp(y - self.gu * u - self.gv * v),
            clamp(y + self.bu * u),
        ]
    }
}

/// Where Y, U and V of pixel (x, y) are in a YUV buffer: one description for the packed and
/// planar layouts, so a single loop serves YUYV, NV12 and YU12.
#[derive(Debug, Clone, Copy)]
struct YuvLayout {
    y_stride: usize,
    y_step: usize,
    u_offset: usize,
    v_offset: usize,
    c_stride: usize,
    c_step: usize,
    /// 1 when chroma rows are shared by two image rows (4:2:0), 0 for 4:2:2.
    c_row_shift: u32,
}

impl YuvLayout {
    fn of(format: PixelFormat, stride: usize, height: u32) -> Option<YuvLayout> {
        let luma = stride * height as usize;
        match format {
            PixelFormat::Yuyv => Some(YuvLayout {
                y_stride: stride,
                y_step: 2,
                u_offset: 1,
                v_offset: 3,
                c_stride: stride,
                c_step: 4,
                c_row_shift: 0,
            }),
            PixelFormat::Nv12 => Some(YuvLayout {
                y_stride: stride,
                y_step: 1,
                u_offset: luma,
                v_offset: luma + 1,
                c_stride: stride,
                c_step: 2,
                c_row_shift: 1,
            }),
            PixelFormat::Yuv420 => {
                let c_stride = stride.div_ceil(2);
                Some(YuvLayout {
                    y_stride: stride,
                    y_step: 1,
                    u_offset: luma,
                    v_offset: luma + c_stride * (height as usize).div_ceil(2),
                    c_stride,
                    c_step: 1,
                    c_row_shift: 1,
                })
            }
            _ => None,
        }
    }

    #[inline]
    fn sample(&self, data: &[u8], x: usize, y: usize) -> [i32; 3] {
        let c = (y >> self.c_row_shift) * self.c_stride + (x >> 1) * self.c_step;
        [
            data[y * self.y_stride + x * self.y_step] as i32,
            data[self.u_offset + c] as i32,
            data[self.v_offset + c] as i32,
        ]
    }
}

/// A checked camera buffer read as RGB pixels, each converted when it is read: what lets a
/// resampler convert only the pixels it samples.
#[derive(Debug, Clone, Copy)]
enum RawPixels<'a> {
    Rgb {
        data: &'a [u8],
        stride: usize,
        width: u32,
        height: u32,
    },
    Yuv {
        data: &'a [u8],
        layout: YuvLayout,
        matrix: Matrix,
        width: u32,
        height: u32,
    },
}

impl<'a> RawPixels<'a> {
    /// The buffer's pixels once its length is checked; `None` for MJPEG, which has to be
    /// decoded first.
    fn of(raw: &RawImage<'a>) -> Result<Option<RawPixels<'a>>, ConvertError> {
        check_len(raw)?;
        let (data, width, height) = (raw.data, raw.width, raw.height);
        Ok(match raw.format {
            PixelFormat::Rgb24 => Some(RawPixels::Rgb {
                data,
                stride: raw.stride,
                width,
                height,
            }),
            PixelFormat::Yuyv | PixelFormat::Nv12 | PixelFormat::Yuv420 => Some(RawPixels::Yuv {
                data,
                layout: YuvLayout::of(raw.format, raw.stride, height)
                    .ok_or(ConvertError::Unsupported(raw.format))?,
                matrix: Matrix::of(raw.yuv),
                width,
                height,
            }),
            PixelFormat::Mjpeg => None,
            PixelFormat::Custom(_) => return Err(ConvertError::Unsupported(raw.format)),
        })
    }
}

impl Pixels for RawPixels<'_> {
    fn dimensions(&self) -> (u32, u32) {
        match *self {
            RawPixels::Rgb { width, height, .. } | RawPixels::Yuv { width, height, .. } => {
                (width, height)
            }
        }
    }

    #[inline]
    fn rgb(&self, x: usize, y: usize) -> [u8; 3] {
        match self {
            RawPixels::Rgb { data, stride, .. } => {
                let i = y * stride + 3 * x;
                [data[i], data[i + 1], data[i + 2]]
            }
            RawPixels::Yuv {
                data,
                layout,
                matrix,
                ..
            } => matrix.rgb(layout.sample(data, x, y)),
        }
    }
}

/// Converts camera buffers to RGB, keeping the scratch memory (a decoded MJPEG frame) between
/// calls. Create one per stream, before the loop.
#[derive(Debug)]
pub struct Converter {
    decoded: RgbImage,
}

impl Default for Converter {
    fn default() -> Self {
        Converter {
            decoded: RgbImage::new(0, 0),
        }
    }
}

impl Converter {
    pub fn new() -> Converter {
        Converter::default()
    }

    /// Full-size conversion. `out` is reallocated only if its size differs from the frame's.
    pub fn to_rgb(&mut self, raw: &RawImage<'_>, out: &mut RgbImage) -> Result<(), ConvertError> {
        if out.dimensions() != (raw.width, raw.height) {
            *out = RgbImage::new(raw.width, raw.height);
        }
        let row_len = 3 * raw.width as usize;
        match RawPixels::of(raw)? {
            Some(RawPixels::Rgb { data, stride, .. }) => {
                for (y, row) in out.chunks_exact_mut(row_len).enumerate() {
                    row.copy_from_slice(&data[y * stride..y * stride + row_len]);
                }
            }
            Some(pixels) => {
                for (y, row) in out.chunks_exact_mut(row_len).enumerate() {
                    for (x, px) in row.chunks_exact_mut(3).enumerate() {
                        px.copy_from_slice(&pixels.rgb(x, y));
                    }
                }
            }
            None => decode_jpeg(raw, out)?,
        }
        Ok(())
    }

    /// Converts and resizes (bilinear, the whole frame stretched over `out` with
    /// [`ImageToTensor`]'s mapping) in one pass into `out`, whose size is the target's: only the
    /// pixels the resize samples are converted. MJPEG is decoded at full size first (into
    /// scratch memory kept by the converter).
    pub fn to_rgb_resized(
        &mut self,
        raw: &RawImage<'_>,
        out: &mut RgbImage,
    ) -> Result<(), ConvertError> {
        if out.dimensions() == (raw.width, raw.height) {
            return self.to_rgb(raw, out);
        }
        match RawPixels::of(raw)? {
            Some(pixels) => resize_rgb(&pixels, out),
            None => resize_rgb(self.decode(raw)?, out),
        }
        Ok(())
    }

    /// Samples the whole frame into a model's input tensor (`3 × height × width` of
    /// `to_tensor`, planar) in one pass: the tensor [`Converter::to_rgb`] then
    /// [`ImageToTensor::run`] give, bit for bit, but only the pixels the tensor samples are
    /// converted and no full-size RGB frame is written. MJPEG is the exception: it is decoded
    /// whole, into scratch memory the converter keeps.
    ///
    /// # Panics
    /// If `out` is not `3 × height × width` of `to_tensor` long.
    pub fn to_tensor(
        &mut self,
        raw: &RawImage<'_>,
        to_tensor: &ImageToTensor,
        out: &mut [f32],
    ) -> Result<(), ConvertError> {
        let whole = RotatedRect::whole(raw.width, raw.height);
        match RawPixels::of(raw)? {
            Some(pixels) => to_tensor.run(&pixels, &whole, out),
            None => to_tensor.run(self.decode(raw)?, &whole, out),
        };
        Ok(())
    }

    /// Decodes an MJPEG frame into the converter's scratch image, at full size: the decoder
    /// (zune-jpeg, through `image`) has no reduced-scale decoding. libjpeg's DCT scaling (the
    /// `mozjpeg` crate) would have it, but reports corrupt data by unwinding, and in
    /// `bodyzone run` every panic, even a caught one, drives the GPIO pins to their safe state:
    /// a camera's occasional broken frame must not do that.
    fn decode(&mut self, raw: &RawImage<'_>) -> Result<&RgbImage, ConvertError> {
        if self.decoded.dimensions() != (raw.width, raw.height) {
            self.decoded = RgbImage::new(raw.width, raw.height);
        }
        decode_jpeg(raw, &mut self.decoded)?;
        Ok(&self.decoded)
    }
}

fn check_len(raw: &RawImage<'_>) -> Result<(), ConvertError> {
    let Some(min_stride) = raw.format.min_stride(raw.width) else {
        return match raw.format {
            PixelFormat::Mjpeg => Ok(()),
            _ => Err(ConvertError::Unsupported(raw.format)),
        };
    };
    let short = |expected: usize| ConvertError::ShortBuffer {
        format: raw.format,
        width: raw.width,
        height: raw.height,
        expected,
        got: raw.data.len(),
    };
    if raw.stride < min_stride {
        return Err(short(
            raw.format.frame_len(min_stride, raw.height).unwrap_or(0),
        ));
    }
    let expected = raw.format.frame_len(raw.stride, raw.height).unwrap_or(0);
    if raw.data.len() < expected || raw.width == 0 || raw.height == 0 {
        return Err(short(expected));
    }
    Ok(())
}

/// Decodes a JPEG straight into `out` (already sized to the stream's frame size).
fn decode_jpeg(raw: &RawImage<'_>, out: &mut RgbImage) -> Result<(), ConvertError> {
    let decoder = JpegDecoder::new(std::io::Cursor::new(raw.data))?;
    let (got_w, got_h) = decoder.dimensions();
    if (got_w, got_h) != (raw.width, raw.height) {
        return Err(ConvertError::JpegSize {
            width: raw.width,
            height: raw.height,
            got_w,
            got_h,
        });
    }
    match decoder.color_type() {
        ColorType::Rgb8 => decoder.read_image(out)?,
        ColorType::L8 => {
            let out: &mut [u8] = out;
            // Decode grey into the front third, then spread it back to front in place.
            let n = (got_w * got_h) as usize;
            decoder.read_image(&mut out[..n])?;
            for i in (0..n).rev() {
                let g = out[i];
                out[3 * i..3 * i + 3].fill(g);
            }
        }
        other => {
            return Err(ConvertError::Jpeg(image::ImageError::Unsupported(
                image::error::UnsupportedError::from_format_and_kind(
                    image::error::ImageFormatHint::Exact(image::ImageFormat::Jpeg),
                    image::error::UnsupportedErrorKind::Color(other.into()),
                ),
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The textbook BT.601 formula in floating point: the reference for the fixed-point path.
    fn reference(mode: YuvMode, y: u8, u: u8, v: u8) -> [f64; 3] {
        let (ys, cs, off) = match mode {
            YuvMode::Bt601Limited => (255.0 / 219.0, 255.0 / 224.0, 16.0),
            YuvMode::Bt601Full => (1.0, 1.0, 0.0),
        };
        let y = (y as f64 - off) * ys;
        let u = (u as f64 - 128.0) * cs;
        let v = (v as f64 - 128.0) * cs;
        [
            y + 2.0 * (1.0 - KR) * v,
            y - 2.0 * (1.0 - KB) * KB / KG * u - 2.0 * (1.0 - KR) * KR / KG * v,
            y + 2.0 * (1.0 - KB) * u,
        ]
        .map(|c| c.clamp(0.0, 255.0))
    }

    /// RGB → YUV with the same matrix (what a camera does), rounded to bytes.
    fn encode(mode: YuvMode, [r, g, b]: [u8; 3]) -> [u8; 3] {
        let (r, g, b) = (r as f64, g as f64, b as f64);
        let y = KR * r + KG * g + KB * b;
        let u = (b - y) / (2.0 * (1.0 - KB));
        let v = (r - y) / (2.0 * (1.0 - KR));
        let (ys, cs, off) = match mode {
            YuvMode::Bt601Limited => (219.0 / 255.0, 224.0 / 255.0, 16.0),
            YuvMode::Bt601Full => (1.0, 1.0, 0.0),
        };
        [y * ys + off, u * cs + 128.0, v * cs + 128.0].map(|c| c.round().clamp(0.0, 255.0) as u8)
    }

    /// Packs an RGB image (even size) into `format` with 2×2 / 2×1 chroma averaging.
    fn pack(img: &RgbImage, format: PixelFormat, mode: YuvMode) -> Vec<u8> {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let yuv = |x: usize, y: usize| encode(mode, img.get_pixel(x as u32, y as u32).0);
        let chroma = |x: usize, y: usize, rows: usize| {
            let mut s = [0u32; 2];
            for dy in 0..rows {
                for dx in 0..2 {
                    let p = yuv(x + dx, y + dy);
                    s[0] += p[1] as u32;
                    s[1] += p[2] as u32;
                }
            }
            let n = 2 * rows as u32;
            [((s[0] + n / 2) / n) as u8, ((s[1] + n / 2) / n) as u8]
        };
        let mut out = Vec::new();
        match format {
            PixelFormat::Yuyv => {
                for y in 0..h {
                    for x in (0..w).step_by(2) {
                        let [u, v] = chroma(x, y, 1);
                        out.extend([yuv(x, y)[0], u, yuv(x + 1, y)[0], v]);
                    }
                }
            }
            PixelFormat::Nv12 | PixelFormat::Yuv420 => {
                out.extend(
                    (0..h)
                        .flat_map(|y| (0..w).map(move |x| (x, y)))
                        .map(|(x, y)| yuv(x, y)[0]),
                );
                let uv: Vec<[u8; 2]> = (0..h)
                    .step_by(2)
                    .flat_map(|y| (0..w).step_by(2).map(move |x| (x, y)))
                    .map(|(x, y)| chroma(x, y, 2))
                    .collect();
                if format == PixelFormat::Nv12 {
                    out.extend(uv.iter().flatten());
                } else {
                    out.extend(uv.iter().map(|c| c[0]));
                    out.extend(uv.iter().map(|c| c[1]));
                }
            }
            _ => unreachable!("test packs YUV only"),
        }
        out
    }

    fn raw(data: &[u8], format: PixelFormat, w: u32, h: u32, yuv: YuvMode) -> RawImage<'_> {
        RawImage {
            data,
            format,
            width: w,
            height: h,
            stride: format.min_stride(w).unwrap_or(0),
            yuv,
        }
    }

    /// 75 % colour bars (white, yellow, cyan, green, magenta, red, blue, black), 8 px each.
    fn bars(h: u32) -> RgbImage {
        // Green switches every four bars, red every two, blue every one.
        let on = |bit: bool| if bit { 191 } else { 0 };
        RgbImage::from_fn(64, h, |x, _| {
            let i = x / 8;
            image::Rgb([on(i % 4 < 2), on(i < 4), on(i % 2 == 0)])
        })
    }

    fn max_diff(a: &RgbImage, b: &RgbImage) -> (u8, (u32, u32)) {
        let mut worst = (0, (0, 0));
        for (x, y, p) in a.enumerate_pixels() {
            let q = b.get_pixel(x, y);
            let d = (0..3).map(|k| p[k].abs_diff(q[k])).max().unwrap();
            if d > worst.0 {
                worst = (d, (x, y));
            }
        }
        worst
    }

    #[test]
    fn fourcc_round_trips() {
        for f in PixelFormat::SUPPORTED {
            assert_eq!(PixelFormat::from_fourcc(f.fourcc()), f);
            assert_eq!(f.to_string().parse::<PixelFormat>().unwrap(), f);
        }
        let grey = PixelFormat::from_fourcc(*b"GREY");
        assert_eq!(grey, PixelFormat::Custom(*b"GREY"));
        assert_eq!(grey.fourcc(), *b"GREY");
        assert_eq!(
            PixelFormat::Custom([b'B', b'A', 0, 1]).to_string(),
            "BA\\x00\\x01"
        );
        assert!(
            "H264"
                .parse::<PixelFormat>()
                .unwrap_err()
                .contains("yuyv, nv12")
        );
    }

    #[test]
    fn limited_range_extremes_are_black_and_white() {
        let m = Matrix::LIMITED;
        assert_eq!(m.rgb([16, 128, 128]), [0, 0, 0]);
        assert_eq!(m.rgb([235, 128, 128]), [255, 255, 255]);
        // BT.601 75 % bars as a camera sends them (ITU-R BT.801 8-bit codes, themselves rounded,
        // hence one level of slack).
        let close = |got: [u8; 3], want: [u8; 3]| (0..3).all(|k| got[k].abs_diff(want[k]) <= 1);
        assert!(close(m.rgb([180, 128, 128]), [191, 191, 191])); // white
        assert!(close(m.rgb([162, 44, 142]), [191, 191, 0])); // yellow
        assert!(close(m.rgb([65, 100, 212]), [191, 0, 0])); // red
        assert!(close(m.rgb([35, 212, 114]), [0, 0, 191])); // blue
        let f = Matrix::FULL;
        assert_eq!(f.rgb([0, 128, 128]), [0, 0, 0]);
        assert_eq!(f.rgb([255, 128, 128]), [255, 255, 255]);
    }

    #[test]
    fn fixed_point_matches_formula_everywhere() {
        for mode in [YuvMode::Bt601Limited, YuvMode::Bt601Full] {
            let m = Matrix::of(mode);
            for y in (0..=255).step_by(3) {
                for u in (0..=255).step_by(5) {
                    for v in (0..=255).step_by(5) {
                        let got = m.rgb([y, u, v]);
                        let want = reference(mode, y as u8, u as u8, v as u8);
                        for k in 0..3 {
                            assert!(
                                (got[k] as f64 - want[k]).abs() <= 0.51,
                                "{mode:?} yuv ({y},{u},{v}) ch {k}: got {} want {:.2}",
                                got[k],
                                want[k]
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn colour_bars_survive_every_yuv_format() {
        let img = bars(4);
        for mode in [YuvMode::Bt601Limited, YuvMode::Bt601Full] {
            for format in [PixelFormat::Yuyv, PixelFormat::Nv12, PixelFormat::Yuv420] {
                let data = pack(&img, format, mode);
                assert_eq!(
                    data.len(),
                    format.frame_len(format.min_stride(64).unwrap(), 4).unwrap()
                );
                let mut out = RgbImage::new(1, 1);
                Converter::new()
                    .to_rgb(&raw(&data, format, 64, 4, mode), &mut out)
                    .unwrap();
                let (d, at) = max_diff(&img, &out);
                assert!(d <= 2, "{format} {mode:?}: off by {d} at {at:?}");
            }
        }
    }

    #[test]
    fn padded_stride_is_skipped() {
        let img = bars(2);
        let tight = pack(&img, PixelFormat::Nv12, YuvMode::Bt601Limited);
        // Re-lay with 16 bytes of padding per row in both planes.
        let stride = 80;
        let mut padded = vec![0u8; stride * 3];
        for (row, chunk) in tight.chunks(64).enumerate() {
            padded[row * stride..row * stride + 64].copy_from_slice(chunk);
        }
        let mut a = RgbImage::new(64, 2);
        let mut b = RgbImage::new(64, 2);
        let mut conv = Converter::new();
        conv.to_rgb(
            &raw(&tight, PixelFormat::Nv12, 64, 2, YuvMode::Bt601Limited),
            &mut a,
        )
        .unwrap();
        let padded_raw = RawImage {
            stride,
            ..raw(&padded, PixelFormat::Nv12, 64, 2, YuvMode::Bt601Limited)
        };
        conv.to_rgb(&padded_raw, &mut b).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn rgb24_copies_and_mjpeg_decodes() {
        let img = bars(16);
        let mut out = RgbImage::new(64, 16);
        let mut conv = Converter::new();
        conv.to_rgb(
            &raw(img.as_raw(), PixelFormat::Rgb24, 64, 16, YuvMode::default()),
            &mut out,
        )
        .unwrap();
        assert_eq!(out, img);

        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95)
            .encode_image(&img)
            .unwrap();
        conv.to_rgb(
            &raw(&jpeg, PixelFormat::Mjpeg, 64, 16, YuvMode::Bt601Full),
            &mut out,
        )
        .unwrap();
        // JPEG is lossy at bar edges: compare bar centres.
        for x in (4..64).step_by(8) {
            let (p, q) = (img.get_pixel(x, 8), out.get_pixel(x, 8));
            assert!(
                (0..3).all(|k| p[k].abs_diff(q[k]) <= 8),
                "x {x}: {p:?} vs {q:?}"
            );
        }
        let grey = image::GrayImage::from_pixel(8, 8, image::Luma([77]));
        jpeg.clear();
        image::codecs::jpeg::JpegEncoder::new(&mut jpeg)
            .encode_image(&grey)
            .unwrap();
        conv.to_rgb(
            &raw(&jpeg, PixelFormat::Mjpeg, 8, 8, YuvMode::Bt601Full),
            &mut out,
        )
        .unwrap();
        assert!(
            out.pixels()
                .all(|p| p.0.iter().all(|&c| c.abs_diff(77) <= 1))
        );
    }

    #[test]
    fn bad_buffers_are_errors() {
        let mut out = RgbImage::new(1, 1);
        let mut conv = Converter::new();
        let short = raw(&[0; 10], PixelFormat::Yuyv, 4, 4, YuvMode::default());
        let err = conv.to_rgb(&short, &mut out).unwrap_err();
        assert_eq!(err.to_string(), "YUYV 4x4 frame needs 32 bytes, got 10");
        let grey = raw(
            &[0; 16],
            PixelFormat::Custom(*b"GREY"),
            4,
            4,
            YuvMode::default(),
        );
        assert!(matches!(
            conv.to_rgb(&grey, &mut out),
            Err(ConvertError::Unsupported(_))
        ));
        let junk = raw(&[1, 2, 3], PixelFormat::Mjpeg, 4, 4, YuvMode::default());
        assert!(matches!(
            conv.to_rgb_resized(&junk, &mut out),
            Err(ConvertError::Jpeg(_))
        ));
    }

    /// Bilinear with the model-input mapping on an RGB image, in floating point.
    fn reference_resize(img: &RgbImage, w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |u, v| {
            let sx = u as f64 * img.width() as f64 / w as f64;
            let sy = v as f64 * img.height() as f64 / h as f64;
            let (x0, y0) = (sx.floor() as u32, sy.floor() as u32);
            let (x1, y1) = (
                (x0 + 1).min(img.width() - 1),
                (y0 + 1).min(img.height() - 1),
            );
            let (fx, fy) = (sx - x0 as f64, sy - y0 as f64);
            let p = |x, y, k| img.get_pixel(x, y)[k] as f64;
            image::Rgb(std::array::from_fn(|k| {
                let top = p(x0, y0, k) * (1.0 - fx) + p(x1, y0, k) * fx;
                let bottom = p(x0, y1, k) * (1.0 - fx) + p(x1, y1, k) * fx;
                (top * (1.0 - fy) + bottom * fy).round() as u8
            }))
        })
    }

    #[test]
    fn resize_matches_convert_then_bilinear() {
        let img = RgbImage::from_fn(64, 48, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 5) as u8, ((x + y) * 2) as u8])
        });
        let mut conv = Converter::new();
        for format in [
            PixelFormat::Rgb24,
            PixelFormat::Yuyv,
            PixelFormat::Nv12,
            PixelFormat::Yuv420,
        ] {
            let data = if format == PixelFormat::Rgb24 {
                img.as_raw().clone()
            } else {
                pack(&img, format, YuvMode::Bt601Limited)
            };
            let frame = raw(&data, format, 64, 48, YuvMode::Bt601Limited);
            let mut full = RgbImage::new(64, 48);
            conv.to_rgb(&frame, &mut full).unwrap();
            let want = reference_resize(&full, 24, 20);
            let mut got = RgbImage::new(24, 20);
            conv.to_rgb_resized(&frame, &mut got).unwrap();
            let (d, at) = max_diff(&want, &got);
            assert!(d <= 2, "{format}: off by {d} at {at:?}");
        }
    }

    /// A busy picture: ramps, a product term and saturated corners, so both bilinear weights
    /// and YUV clipping are exercised.
    fn busy(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([
                (x * 7 + y * 3) as u8,
                (x * y) as u8,
                if (x / 5 + y / 3) % 2 == 0 { 255 } else { 0 },
            ])
        })
    }

    fn stretch(width: usize, height: usize) -> ImageToTensor {
        ImageToTensor {
            width,
            height,
            keep_aspect_ratio: false,
            range: (0.0, 1.0),
            border: crate::imgproc::BorderMode::Zero,
        }
    }

    /// The two-step path: the whole frame converted, then sampled into the tensor.
    fn convert_then_sample(frame: &RawImage<'_>, to_tensor: &ImageToTensor) -> Vec<f32> {
        let mut full = RgbImage::new(1, 1);
        Converter::new().to_rgb(frame, &mut full).unwrap();
        let mut want = vec![0.0; 3 * to_tensor.width * to_tensor.height];
        to_tensor.run(
            &full,
            &RotatedRect::whole(frame.width, frame.height),
            &mut want,
        );
        want
    }

    fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    /// Tensor sizes: the landscape model's, a 1/5 stretch landing on pixel centres, and an
    /// enlargement (the right and bottom taps fall off the frame onto the zero border).
    const TENSORS: [(usize, usize); 3] = [(256, 144), (14, 10), (29, 23)];

    #[test]
    fn one_pass_tensor_equals_convert_then_sample_for_uncompressed_formats() {
        // Bound: 0, the same bits. Each tap is the pixel `to_rgb` writes, converted on the fly,
        // then weighted exactly as `ImageToTensor` weights the converted frame.
        let (w, h) = (70, 46);
        let img = busy(w, h);
        let mut conv = Converter::new();
        for mode in [YuvMode::Bt601Limited, YuvMode::Bt601Full] {
            for format in [
                PixelFormat::Rgb24,
                PixelFormat::Yuyv,
                PixelFormat::Nv12,
                PixelFormat::Yuv420,
            ] {
                let data = if format == PixelFormat::Rgb24 {
                    img.as_raw().clone()
                } else {
                    pack(&img, format, mode)
                };
                let frame = raw(&data, format, w, h, mode);
                for (tw, th) in TENSORS {
                    let to_tensor = stretch(tw, th);
                    let want = convert_then_sample(&frame, &to_tensor);
                    let mut got = vec![f32::NAN; want.len()];
                    conv.to_tensor(&frame, &to_tensor, &mut got).unwrap();
                    let d = max_abs_diff(&want, &got);
                    assert_eq!(d, 0.0, "{format} {mode:?} into {tw}x{th}: off by {d}");
                }
            }
        }
    }

    #[test]
    fn one_pass_tensor_reads_padded_rows_and_odd_sizes() {
        // YU12 at an odd size with 6 bytes of row padding: chroma rows and columns are shared
        // by the last odd pixel, and the padding must never be read as pixels.
        let (w, h, stride) = (33usize, 21usize, 39usize);
        let (cw, ch, cstride) = (w.div_ceil(2), h.div_ceil(2), stride.div_ceil(2));
        let mut data = vec![0xEE; stride * h + 2 * cstride * ch];
        for y in 0..h {
            for x in 0..w {
                data[y * stride + x] = (16 + (x * 5 + y * 9) % 220) as u8;
            }
        }
        let chroma = stride * h;
        for plane in 0..2 {
            for y in 0..ch {
                for x in 0..cw {
                    data[chroma + plane * cstride * ch + y * cstride + x] =
                        (16 + (x * 11 + y * 7 + plane * 50) % 225) as u8;
                }
            }
        }
        let frame = RawImage {
            stride,
            ..raw(
                &data,
                PixelFormat::Yuv420,
                w as u32,
                h as u32,
                YuvMode::Bt601Limited,
            )
        };
        for (tw, th) in TENSORS {
            let to_tensor = stretch(tw, th);
            let want = convert_then_sample(&frame, &to_tensor);
            let mut got = vec![0.0; want.len()];
            Converter::new()
                .to_tensor(&frame, &to_tensor, &mut got)
                .unwrap();
            assert_eq!(max_abs_diff(&want, &got), 0.0, "into {tw}x{th}");
        }
    }

    #[test]
    fn one_pass_tensor_of_mjpeg_equals_convert_then_sample() {
        let img = busy(64, 48);
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
            .encode_image(&img)
            .unwrap();
        let frame = raw(&jpeg, PixelFormat::Mjpeg, 64, 48, YuvMode::Bt601Full);
        let mut conv = Converter::new();
        for (tw, th) in TENSORS {
            let to_tensor = stretch(tw, th);
            let want = convert_then_sample(&frame, &to_tensor);
            let mut got = vec![0.0; want.len()];
            conv.to_tensor(&frame, &to_tensor, &mut got).unwrap();
            assert_eq!(max_abs_diff(&want, &got), 0.0, "into {tw}x{th}");
        }
    }

    #[test]
    fn one_pass_tensor_rejects_what_to_rgb_rejects() {
        let to_tensor = stretch(4, 4);
        let mut out = vec![0.0; 48];
        let mut conv = Converter::new();
        let short = raw(&[0; 10], PixelFormat::Nv12, 4, 4, YuvMode::default());
        assert!(matches!(
            conv.to_tensor(&short, &to_tensor, &mut out),
            Err(ConvertError::ShortBuffer { expected: 24, .. })
        ));
        let junk = raw(&[1, 2, 3], PixelFormat::Mjpeg, 4, 4, YuvMode::default());
        assert!(matches!(
            conv.to_tensor(&junk, &to_tensor, &mut out),
            Err(ConvertError::Jpeg(_))
        ));
        let grey = raw(
            &[0; 16],
            PixelFormat::Custom(*b"GREY"),
            4,
            4,
            YuvMode::default(),
        );
        assert!(matches!(
            conv.to_tensor(&grey, &to_tensor, &mut out),
            Err(ConvertError::Unsupported(_))
        ));
    }

    proptest! {
        #[test]
        fn yuv_round_trip_is_close(r: u8, g: u8, b: u8, full: bool) {
            let mode = if full { YuvMode::Bt601Full } else { YuvMode::Bt601Limited };
            let [y, u, v] = encode(mode, [r, g, b]);
            let got = Matrix::of(mode).rgb([y as i32, u as i32, v as i32]);
            // Quantising to YUV bytes costs up to ~1.7 levels per channel in limited range.
            for (k, want) in [r, g, b].into_iter().enumerate() {
                prop_assert!(got[k].abs_diff(want) <= 3, "rgb ({r},{g},{b}) ch {k} -> {:?}", got);
            }
        }

        #[test]
        fn any_bytes_any_size_never_panic(
            data in proptest::collection::vec(any::<u8>(), 0..400),
            w in 1u32..12, h in 1u32..12, pad in 0usize..5,
            tw in 1u32..9, th in 1u32..9, fmt in 0usize..4,
        ) {
            let format = PixelFormat::SUPPORTED[fmt];
            let frame = RawImage { stride: format.min_stride(w).unwrap() + pad, ..raw(&data, format, w, h, YuvMode::Bt601Full) };
            let mut conv = Converter::new();
            let mut out = RgbImage::new(1, 1);
            let full = conv.to_rgb(&frame, &mut out);
            let mut small = RgbImage::new(tw, th);
            let resized = conv.to_rgb_resized(&frame, &mut small);
            let to_tensor = stretch(tw as usize, th as usize);
            let mut tensor = vec![0.0; 3 * (tw * th) as usize];
            let one_pass = conv.to_tensor(&frame, &to_tensor, &mut tensor);
            let needed = format.frame_len(frame.stride, h).unwrap();
            prop_assert_eq!(full.is_ok(), data.len() >= needed);
            prop_assert_eq!(resized.is_ok(), data.len() >= needed);
            prop_assert_eq!(one_pass.is_ok(), data.len() >= needed);
            if one_pass.is_ok() {
                // Odd sizes, padding, enlargements: still the two-step tensor exactly.
                prop_assert_eq!(tensor, convert_then_sample(&frame, &to_tensor));
            }
        }

        #[test]
        fn resizing_a_flat_frame_keeps_its_colour(y in 16u8..236, u in 16u8..241, v in 16u8..241, tw in 1u32..40, th in 1u32..40) {
            let (w, h) = (32usize, 18usize);
            let mut data = vec![y; w * h];
            data.extend(std::iter::repeat_n([u, v], w * h / 4).flatten());
            let frame = raw(&data, PixelFormat::Nv12, w as u32, h as u32, YuvMode::Bt601Limited);
            let mut conv = Converter::new();
            let mut full = RgbImage::new(1, 1);
            conv.to_rgb(&frame, &mut full).unwrap();
            let mut small = RgbImage::new(tw, th);
            conv.to_rgb_resized(&frame, &mut small).unwrap();
            let want = full.get_pixel(0, 0);
            prop_assert!(small.pixels().all(|p| p == want));
        }
    }

    #[test]
    fn no_width_of_a_packed_or_planar_format_panics() {
        for format in [
            PixelFormat::Yuyv,
            PixelFormat::Nv12,
            PixelFormat::Yuv420,
            PixelFormat::Rgb24,
        ] {
            for (w, h) in [(1, 1), (3, 3), (5, 2), (641, 3)] {
                let stride = format.min_stride(w).unwrap();
                let data = vec![128u8; format.frame_len(stride, h).unwrap()];
                let raw = RawImage {
                    data: &data,
                    format,
                    width: w,
                    height: h,
                    stride,
                    yuv: YuvMode::Bt601Limited,
                };
                let mut out = RgbImage::new(w, h);
                Converter::new().to_rgb(&raw, &mut out).unwrap();
                // One byte short is an error, not a read past the end.
                let short = RawImage {
                    data: &data[..data.len() - 1],
                    ..raw
                };
                assert!(Converter::new().to_rgb(&short, &mut out).is_err());
            }
        }
    }
}
