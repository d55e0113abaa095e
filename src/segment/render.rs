//! Drawing segmentations: TF.js body-segmentation's render utilities
//! (`shared/calculators/render_util.ts` in tensorflow/tfjs-models) in Rust, plus background
//! replacement.
//!
//! | function | what it draws |
//! |---|---|
//! | [`to_binary_mask`] | foreground/background colours, optionally with a contour |
//! | [`to_colored_mask`] | a colour per mask value (body part), background elsewhere |
//! | [`draw_mask`] | the image with a (blurred) mask image over it |
//! | [`draw_pixelated_mask`] | the image over a pixelated mask with a white grid |
//! | [`draw_bokeh_effect`] | the people sharp, the background blurred |
//! | [`blur_body_part`] | the chosen mask values (body parts) blurred |
//! | [`replace_background`] | the people over another picture, blended by probability |
//!
//! A mask is read as TF.js reads a mask's `ImageData` (see [`SegmentationMask`]): per pixel a
//! *mask value* (red channel: the body part, or for the selfie models the 8-bit probability) and an
//! *alpha* (the probability × 255). A pixel is foreground when `alpha ≥ round(255 × threshold)`,
//! exactly TF.js's comparison.
//!
//! The drawing functions compute what the browser's 2D canvas computes, in `f32` with one rounding
//! at the end: colours are premultiplied by alpha, `globalAlpha` scales the source of a
//! source-over, and the CSS `filter: blur(Npx)` is a Gaussian of standard deviation N pixels
//! (radius 3N) that treats everything outside the picture as transparent. That last point is why
//! the blurred background of [`draw_bokeh_effect`] is translucent within ~3N pixels of the border
//! in TF.js; these functions return RGB, i.e. its colour without that alpha.
//!
//! ## Examples
//! ```
//! use bodyzone::segment::render::{self, Rgba};
//! use bodyzone::frame::Mask;
//! use bodyzone::segment::{Segmentation, selfie_label};
//! use image::{Rgb, RgbImage};
//!
//! // A 96×48 frame with a "person" in the middle 20 columns.
//! let frame = RgbImage::from_pixel(96, 48, Rgb([200, 180, 160]));
//! let probabilities = (0..96 * 48)
//!     .map(|i| if (38..58).contains(&(i % 96)) { 0.95 } else { 0.02 })
//!     .collect();
//! let people = vec![Segmentation {
//!     mask: Mask::new(96, 48, probabilities),
//!     mask_value_to_label: selfie_label,
//! }];
//!
//! // Darken the background, as TF.js's demo does.
//! let tint = render::to_binary_mask(&people, Rgba([0, 0, 0, 0]), Rgba([0, 0, 0, 255]), false, 0.5)?;
//! let overlay = render::draw_mask(&frame, &tint, 0.7, 3, false)?;
//! assert_eq!(overlay.get_pixel(48, 24), &Rgb([200, 180, 160])); // the person is untouched
//! assert_eq!(overlay.get_pixel(12, 24), &Rgb([60, 54, 48])); // 30% of the background is left
//!
//! let bokeh = render::draw_bokeh_effect(&frame, &people, 0.5, 3, 3, false)?;
//! assert_eq!(bokeh.dimensions(), (96, 48));
//! # Ok::<(), render::Error>(())
//! ```
//!
//! ## Troubleshooting
//! ### `mask image is 640×480 but the image is 1280×720`
//! Masks are at the size of the image they were computed from; draw them over that image (or
//! resize the image first), not over a frame of another size.

use std::borrow::Cow;

pub use image::Rgba;
use image::imageops::{self, FilterType};
use image::{RgbImage, RgbaImage};

use super::Segmentation;
use crate::frame::{Mask, to_u8};

/// The largest blur (standard deviation in pixels) accepted; TF.js documents 0–20.
pub const MAX_BLUR: u32 = 100;

/// Colour of the contour TF.js draws around foreground (`drawStroke`'s default).
const CONTOUR: Rgba<u8> = Rgba([0, 255, 255, 255]);

/// Why a drawing could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A mask builder got no segmentation, so there is no size to draw at (TF.js returns null).
    /// Skip the drawing for a frame without people.
    #[error("no segmentation to draw")]
    NoSegmentations,
    /// Two inputs that must have the same size do not, e.g. a mask from a frame of another size.
    #[error("{what} is {}×{} but {reference} is {}×{}", found.0, found.1, expected.0, expected.1)]
    SizeMismatch {
        what: &'static str,
        found: (u32, u32),
        reference: &'static str,
        expected: (u32, u32),
    },
    /// A parameter is outside its range; `expected` says what it should be.
    #[error("{name} = {value}: expected {expected}")]
    InvalidParameter {
        name: &'static str,
        value: f32,
        expected: &'static str,
    },
    /// The replacement background has no pixels.
    #[error("background image is empty (0 pixels)")]
    EmptyBackground,
}

/// What the render helpers read from a segmentation, as TF.js reads a mask's RGBA `ImageData`.
pub trait SegmentationMask {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);
    /// Mask value (TF.js's red channel) and foreground alpha (its alpha channel) of the pixel at
    /// row-major `index`.
    fn value_alpha(&self, index: usize) -> (u8, u8);
    /// Foreground probability of the pixel at row-major `index`, in `0.0..=1.0`.
    fn probability(&self, index: usize) -> f32 {
        f32::from(self.value_alpha(index).1) / 255.0
    }
}

/// A selfie mask is what TF.js's selfie segmenter returns: red = alpha = probability × 255.
impl SegmentationMask for Mask {
    fn size(&self) -> (u32, u32) {
        (self.width(), self.height())
    }
    fn value_alpha(&self, index: usize) -> (u8, u8) {
        let v = to_u8(self.probabilities()[index]);
        (v, v)
    }
    fn probability(&self, index: usize) -> f32 {
        self.probabilities()[index]
    }
}

impl SegmentationMask for Segmentation {
    fn size(&self) -> (u32, u32) {
        self.mask.size()
    }
    fn value_alpha(&self, index: usize) -> (u8, u8) {
        self.mask.value_alpha(index)
    }
    fn probability(&self, index: usize) -> f32 {
        self.mask.probability(index)
    }
}

/// TF.js's mask `ImageData` layout: red is the mask value (body part), alpha the probability.
impl SegmentationMask for RgbaImage {
    fn size(&self) -> (u32, u32) {
        self.dimensions()
    }
    fn value_alpha(&self, index: usize) -> (u8, u8) {
        let px = &self.as_raw()[4 * index..4 * index + 4];
        (px[0], px[3])
    }
}

/// An image with `foreground` where any segmentation is foreground (alpha ≥ `round(255 ×
/// foreground_threshold)`) and `background` elsewhere, as TF.js's `toBinaryMask`.
///
/// With `draw_contour`, foreground pixels next to background get a cyan (0, 255, 255) stroke
/// exactly as TF.js draws it: TF.js's neighbour loops skip every offset with a zero component, so
/// only the four *diagonal* neighbours are tested and stroked, and strokes on the row below are
/// overwritten as the scan reaches it.
pub fn to_binary_mask<M: SegmentationMask>(
    segmentations: &[M],
    foreground: Rgba<u8>,
    background: Rgba<u8>,
    draw_contour: bool,
    foreground_threshold: f32,
) -> Result<RgbaImage, Error> {
    binary_mask(
        segmentations,
        foreground,
        background,
        draw_contour,
        foreground_threshold,
        &[true; 256],
    )
}

/// An image with `mask_value_to_color(value)` where a segmentation is foreground and `background`
/// elsewhere, as TF.js's `toColoredMask` (later segmentations win where they overlap).
/// `mask_value_to_color` gets the mask value (TF.js's red channel), which
/// [`Segmentation::mask_value_to_label`] turns into a label.
pub fn to_colored_mask<M: SegmentationMask>(
    segmentations: &[M],
    mask_value_to_color: impl Fn(u8) -> Rgba<u8>,
    background: Rgba<u8>,
    foreground_threshold: f32,
) -> Result<RgbaImage, Error> {
    let (width, height) = common_size(segmentations)?;
    let cutoff = alpha_cutoff(foreground_threshold)?;
    let mut out = RgbaImage::new(width, height);
    for (n, px) in out.pixels_mut().enumerate() {
        *px = background;
        for mask in segmentations {
            let (value, alpha) = mask.value_alpha(n);
            if alpha >= cutoff {
                *px = mask_value_to_color(value);
            }
        }
    }
    Ok(out)
}

/// `image` with `mask_image` drawn over it at `mask_opacity`, the mask first blurred by a Gaussian
/// of `mask_blur_amount` pixels, as TF.js's `drawMask`; mirrored if `flip_horizontal`.
pub fn draw_mask(
    image: &RgbImage,
    mask_image: &RgbaImage,
    mask_opacity: f32,
    mask_blur_amount: u32,
    flip_horizontal: bool,
) -> Result<RgbImage, Error> {
    same_size("mask image", mask_image.dimensions(), image)?;
    let opacity = unit_interval("mask_opacity", mask_opacity)?;
    let (w, h) = dims(image);
    let mut mask = BlurredRows::new(w, h, mask_blur_amount, Edges::Transparent, |y, row| {
        premultiplied_row(mask_image, y, row)
    })?;
    Ok(render(w, h, flip_horizontal, |y, colors| {
        for (x, (c, m)) in colors.iter_mut().zip(mask.next_row()).enumerate() {
            let keep = 1.0 - m[3] * opacity;
            let px = rgb_f32(image, y * w + x);
            *c = [
                m[0] * opacity + px[0] * keep,
                m[1] * opacity + px[1] * keep,
                m[2] * opacity + px[2] * keep,
            ];
        }
    }))
}

/// The mask pixelated into cells of `pixel_cell_width` pixels with a white grid, `image` drawn over
/// it at `1 − mask_opacity`, as TF.js's `drawPixelatedMask` (whose default cell width is 10).
///
/// As on the canvas, the low-resolution mask has `floor(width / pixel_cell_width)` columns and is
/// stretched back to the full size, so cells are slightly wider than `pixel_cell_width` while the
/// grid lines stay `pixel_cell_width` apart.
pub fn draw_pixelated_mask(
    image: &RgbImage,
    mask_image: &RgbaImage,
    mask_opacity: f32,
    mask_blur_amount: u32,
    flip_horizontal: bool,
    pixel_cell_width: f32,
) -> Result<RgbImage, Error> {
    same_size("mask image", mask_image.dimensions(), image)?;
    let opacity = unit_interval("mask_opacity", mask_opacity)?;
    let (w, h) = dims(image);
    // The canvas sizes the low-resolution copy as `width * (1 / cell)`, truncated.
    let cells = |len: usize| (len as f64 * (1.0 / f64::from(pixel_cell_width))) as usize;
    let (lw, lh) = (cells(w), cells(h));
    if pixel_cell_width.is_nan() || pixel_cell_width < 1.0 || lw == 0 || lh == 0 {
        return Err(Error::InvalidParameter {
            name: "pixel_cell_width",
            value: pixel_cell_width,
            expected: "1 ≤ pixel_cell_width ≤ the image's width and height",
        });
    }
    let mask = BlurredRows::new(w, h, mask_blur_amount, Edges::Transparent, |y, row| {
        premultiplied_row(mask_image, y, row)
    })?
    .collect();
    let lowres = downscale(&mask, w, h, lw, lh);
    let cell = f64::from(pixel_cell_width);
    let column_keep = grid_keep(w, lw, cell);
    let row_keep = grid_keep(h, lh, cell);
    // Stretching back without smoothing: nearest low-resolution pixel to each pixel centre.
    let nearest =
        |i: usize, len: usize, low: usize| ((i as f64 + 0.5) * low as f64 / len as f64) as usize;
    let lx: Vec<usize> = (0..w).map(|x| nearest(x, w, lw).min(lw - 1)).collect();
    let ly: Vec<usize> = (0..h).map(|y| nearest(y, h, lh).min(lh - 1)).collect();
    let image_alpha = 1.0 - opacity;
    Ok(render_rgba(w, h, flip_horizontal, |y, colors| {
        for (x, c) in colors.iter_mut().enumerate() {
            let cell_px = lowres[ly[y] * lw + lx[x]];
            let keep = column_keep[x] * row_keep[y];
            let px = rgb_f32(image, y * w + x);
            let canvas = cell_px.map(|c| c * keep + (1.0 - keep));
            *c = [
                px[0] * image_alpha + canvas[0] * opacity,
                px[1] * image_alpha + canvas[1] * opacity,
                px[2] * image_alpha + canvas[2] * opacity,
                image_alpha + canvas[3] * opacity,
            ];
        }
    }))
}

/// `image` with its background blurred by a Gaussian of `background_blur_amount` pixels, the
/// people (foreground at `foreground_threshold`) kept sharp behind an edge softened by
/// `edge_blur_amount` pixels, as TF.js's `drawBokehEffect` (defaults 0.5, 3, 3). With no
/// segmentation the whole image is blurred.
pub fn draw_bokeh_effect<M: SegmentationMask>(
    image: &RgbImage,
    segmentations: &[M],
    foreground_threshold: f32,
    background_blur_amount: u32,
    edge_blur_amount: u32,
    flip_horizontal: bool,
) -> Result<RgbImage, Error> {
    // The people are opaque in the mask that keeps the sharp image.
    let person = keep_mask(
        image,
        segmentations,
        Rgba([0, 0, 0, 255]),
        Rgba([0, 0, 0, 0]),
        false,
        foreground_threshold,
        &[true; 256],
    )?;
    blur_behind(
        image,
        person.as_ref(),
        background_blur_amount,
        edge_blur_amount,
        flip_horizontal,
    )
}

/// `image` with the pixels whose mask value is in `mask_values_to_blur` (body parts) blurred, as
/// TF.js's `blurBodyPart`: the sharp image is kept outside those parts and on the contour
/// [`to_binary_mask`] draws around them, with the edge softened by `edge_blur_amount` pixels.
pub fn blur_body_part<M: SegmentationMask>(
    image: &RgbImage,
    segmentations: &[M],
    mask_values_to_blur: &[u8],
    foreground_threshold: f32,
    background_blur_amount: u32,
    edge_blur_amount: u32,
    flip_horizontal: bool,
) -> Result<RgbImage, Error> {
    let mut to_blur = [false; 256];
    for &value in mask_values_to_blur {
        to_blur[usize::from(value)] = true;
    }
    // Everything but the parts to blur is opaque in the mask that keeps the sharp image.
    let keep = keep_mask(
        image,
        segmentations,
        Rgba([0, 0, 0, 0]),
        Rgba([0, 0, 0, 255]),
        true,
        foreground_threshold,
        &to_blur,
    )?;
    blur_behind(
        image,
        keep.as_ref(),
        background_blur_amount,
        edge_blur_amount,
        flip_horizontal,
    )
}

/// `image`'s people over `background` (scaled to cover the image and centred, see
/// [`scale_to_cover`]). Each pixel blends the two by the person probability, where it is at least
/// `foreground_threshold` (0 elsewhere, so 0.0 gives a pure probability blend), softened by a
/// Gaussian of `edge_blur_amount` pixels that keeps full weight up to the image border.
///
/// For video, pass a background already at the frame size: it is then used as is, with no resize
/// per frame.
pub fn replace_background<M: SegmentationMask>(
    image: &RgbImage,
    segmentations: &[M],
    background: &RgbImage,
    foreground_threshold: f32,
    edge_blur_amount: u32,
) -> Result<RgbImage, Error> {
    let cutoff = alpha_cutoff(foreground_threshold)?;
    for mask in segmentations {
        same_size("segmentation mask", mask.size(), image)?;
    }
    if background.width() == 0 || background.height() == 0 {
        return Err(Error::EmptyBackground);
    }
    let (w, h) = dims(image);
    let mut person = BlurredRows::new(w, h, edge_blur_amount, Edges::Renormalise, |y, row| {
        for (x, p) in row.iter_mut().enumerate() {
            let n = y * w + x;
            *p = [segmentations
                .iter()
                .filter(|mask| mask.value_alpha(n).1 >= cutoff)
                .map(|mask| mask.probability(n))
                .fold(0.0f32, f32::max)];
        }
    })?;
    let background = if background.dimensions() == image.dimensions() {
        Cow::Borrowed(background)
    } else {
        Cow::Owned(scale_to_cover(background, image.width(), image.height()))
    };
    Ok(render(w, h, false, |y, colors| {
        for (x, (c, p)) in colors.iter_mut().zip(person.next_row()).enumerate() {
            let n = y * w + x;
            let p = p[0].clamp(0.0, 1.0);
            let (fg, bg) = (rgb_f32(image, n), rgb_f32(&background, n));
            *c = [0, 1, 2].map(|c| fg[c] * p + bg[c] * (1.0 - p));
        }
    }))
}

/// `image` scaled (bilinear) so it covers `width × height` with its aspect ratio kept, and cropped
/// to that size around its centre, as CSS `object-fit: cover`.
///
/// # Panics
/// If `image` has no pixels.
pub fn scale_to_cover(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    let (iw, ih) = (f64::from(image.width()), f64::from(image.height()));
    let scale = (f64::from(width) / iw).max(f64::from(height) / ih);
    let sw = ((iw * scale).round() as u32).max(width);
    let sh = ((ih * scale).round() as u32).max(height);
    let scaled = imageops::resize(image, sw, sh, FilterType::Triangle);
    imageops::crop_imm(&scaled, (sw - width) / 2, (sh - height) / 2, width, height).to_image()
}

/// TF.js's `toBinaryMask` with its `foregroundMaskValues` as a lookup table by mask value.
fn binary_mask<M: SegmentationMask>(
    segmentations: &[M],
    foreground: Rgba<u8>,
    background: Rgba<u8>,
    draw_contour: bool,
    foreground_threshold: f32,
    is_foreground_value: &[bool; 256],
) -> Result<RgbaImage, Error> {
    let (width, height) = common_size(segmentations)?;
    let cutoff = alpha_cutoff(foreground_threshold)?;
    let (w, h) = (width as usize, height as usize);
    let is_foreground = |mask: &M, n: usize| {
        let (value, alpha) = mask.value_alpha(n);
        is_foreground_value[usize::from(value)] && alpha >= cutoff
    };
    let diagonals = [
        -(w as isize) - 1,
        -(w as isize) + 1,
        w as isize - 1,
        w as isize + 1,
    ];
    let mut out = RgbaImage::new(width, height);
    let bytes: &mut [u8] = &mut out;
    let mut put = |n: usize, color: Rgba<u8>| bytes[4 * n..4 * n + 4].copy_from_slice(&color.0);
    // One pass in TF.js's order: a stroke reaching the row below is overwritten when the scan
    // gets there, and the golden images depend on it.
    for i in 0..h {
        for j in 0..w {
            let n = i * w + j;
            put(n, background);
            for mask in segmentations {
                if !is_foreground(mask, n) {
                    continue;
                }
                put(n, foreground);
                let interior = i >= 1 && i + 1 < h && j >= 1 && j + 1 < w;
                if draw_contour
                    && interior
                    && diagonals
                        .iter()
                        .any(|&d| !is_foreground(mask, n.wrapping_add_signed(d)))
                {
                    for d in diagonals {
                        put(n.wrapping_add_signed(d), CONTOUR);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The binary mask whose alpha says where [`blur_behind`] keeps the sharp image, checked against
/// the image's size; `None` for no segmentation (TF.js then draws only the blurred image).
fn keep_mask<M: SegmentationMask>(
    image: &RgbImage,
    segmentations: &[M],
    foreground: Rgba<u8>,
    background: Rgba<u8>,
    draw_contour: bool,
    foreground_threshold: f32,
    is_foreground_value: &[bool; 256],
) -> Result<Option<RgbaImage>, Error> {
    if segmentations.is_empty() {
        alpha_cutoff(foreground_threshold)?;
        return Ok(None);
    }
    let mask = binary_mask(
        segmentations,
        foreground,
        background,
        draw_contour,
        foreground_threshold,
        is_foreground_value,
    )?;
    same_size("segmentation mask", mask.dimensions(), image)?;
    Ok(Some(mask))
}

/// TF.js's bokeh compositing: the sharp image kept by `keep` (alpha channel, blurred by
/// `edge_blur` unless absent), over the image blurred by `background_blur`.
fn blur_behind(
    image: &RgbImage,
    keep: Option<&RgbaImage>,
    background_blur: u32,
    edge_blur: u32,
    flip_horizontal: bool,
) -> Result<RgbImage, Error> {
    let (w, h) = dims(image);
    let mut back = BlurredRows::new(w, h, background_blur, Edges::Transparent, |y, row| {
        let pixels = image.as_raw()[3 * w * y..3 * w * (y + 1)].chunks_exact(3);
        for (o, p) in row.iter_mut().zip(pixels) {
            *o = [p[0], p[1], p[2], 255].map(|c| f32::from(c) / 255.0);
        }
    })?;
    let mut keep = BlurredRows::new(w, h, edge_blur, Edges::Transparent, |y, row| match keep {
        Some(mask) => {
            let pixels = mask.as_raw()[4 * w * y..4 * w * (y + 1)].chunks_exact(4);
            for (o, p) in row.iter_mut().zip(pixels) {
                *o = [f32::from(p[3]) / 255.0];
            }
        }
        None => row.fill([0.0]),
    })?;
    Ok(render_rgba(w, h, flip_horizontal, |y, colors| {
        let rows = colors.iter_mut().zip(keep.next_row()).zip(back.next_row());
        for (x, ((c, k), b)) in rows.enumerate() {
            // "destination-in" the mask, then the blurred image "destination-over".
            let (k, px) = (k[0], rgb_f32(image, y * w + x));
            *c = [
                px[0] * k + b[0] * (1.0 - k),
                px[1] * k + b[1] * (1.0 - k),
                px[2] * k + b[2] * (1.0 - k),
                k + b[3] * (1.0 - k),
            ];
        }
    }))
}

/// What pixels outside the picture count as when blurring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edges {
    /// Transparent, as the canvas: alpha fades towards the border.
    Transparent,
    /// Not there: weights are renormalised over the pixels inside.
    Renormalise,
}

/// The canvas's `filter: blur(Npx)` of a whole image, or the image itself for 0.
#[cfg(test)]
fn blurred<const N: usize>(
    pixels: Vec<[f32; N]>,
    w: usize,
    h: usize,
    sigma: u32,
) -> Result<Vec<[f32; N]>, Error> {
    blurred_with(pixels, w, h, sigma, Edges::Transparent)
}

#[cfg(test)]
fn blurred_with<const N: usize>(
    pixels: Vec<[f32; N]>,
    w: usize,
    h: usize,
    sigma: u32,
    edges: Edges,
) -> Result<Vec<[f32; N]>, Error> {
    let rows = BlurredRows::new(w, h, sigma, edges, |y, row: &mut [[f32; N]]| {
        row.copy_from_slice(&pixels[y * w..(y + 1) * w]);
    })?;
    Ok(rows.collect())
}

/// Half of a normalised Gaussian kernel of standard deviation `sigma`: weights for offsets
/// `0..=ceil(3σ)`, Skia's radius for the canvas blur.
fn gaussian_kernel(sigma: f32) -> Vec<f32> {
    let radius = (3.0 * sigma).ceil() as usize;
    let half: Vec<f32> = (0..=radius)
        .map(|i| (-((i * i) as f32) / (2.0 * sigma * sigma)).exp())
        .collect();
    let total = 2.0 * half.iter().sum::<f32>() - half[0];
    half.into_iter().map(|v| v / total).collect()
}

/// A separable Gaussian blur (the canvas's `filter: blur(Npx)` with [`Edges::Transparent`]) of an
/// interleaved `N`-channel image whose rows `source(y, row)` fills, handed out top to bottom by
/// [`BlurredRows::next_row`]. Only the `2 × radius + 1` rows of the horizontal pass that the
/// current row needs are kept: full-size `f32` copies of a 12 MP photo take 200 MB each.
/// O(radius) per pixel and channel.
struct BlurredRows<const N: usize, F> {
    source: F,
    w: usize,
    h: usize,
    kernel: Vec<f32>,
    edges: Edges,
    /// Source row `y` blurred across lies at slot `y % slots`.
    across: Vec<[f32; N]>,
    slots: usize,
    /// Rows `0..across_done` have been blurred across.
    across_done: usize,
    source_row: Vec<[f32; N]>,
    out: Vec<[f32; N]>,
    next: usize,
}

impl<const N: usize, F: FnMut(usize, &mut [[f32; N]])> BlurredRows<N, F> {
    fn new(w: usize, h: usize, sigma: u32, edges: Edges, source: F) -> Result<Self, Error> {
        if sigma > MAX_BLUR {
            return Err(Error::InvalidParameter {
                name: "blur amount",
                value: sigma as f32,
                expected: "at most 100 pixels",
            });
        }
        // No blur is a one-tap kernel: multiplying by 1 and adding to 0 give the pixels back.
        let kernel = if sigma == 0 {
            vec![1.0]
        } else {
            gaussian_kernel(sigma as f32)
        };
        let slots = (2 * kernel.len() - 1).min(h).max(1);
        Ok(Self {
            source,
            w,
            h,
            kernel,
            edges,
            across: vec![[0.0; N]; slots * w],
            slots,
            across_done: 0,
            source_row: vec![[0.0; N]; w],
            out: vec![[0.0; N]; w],
            next: 0,
        })
    }

    /// The next row of the blurred image, from the top.
    fn next_row(&mut self) -> &[[f32; N]] {
        let (w, y) = (self.w, self.next);
        self.next += 1;
        let radius = self.kernel.len() - 1;
        let window = |i: usize, len: usize| (i.saturating_sub(radius), (i + radius).min(len - 1));
        let edges = self.edges;
        let finish = |acc: &mut [f32; N], weight: f32| {
            if edges == Edges::Renormalise {
                acc.iter_mut().for_each(|c| *c /= weight);
            }
        };
        let (top, bottom) = window(y, self.h);
        while self.across_done <= bottom {
            let row = self.across_done;
            (self.source)(row, &mut self.source_row);
            let slot = row % self.slots;
            let out = &mut self.across[slot * w..(slot + 1) * w];
            for (x, acc) in out.iter_mut().enumerate() {
                *acc = [0.0; N];
                let (lo, hi) = window(x, w);
                let mut weight = 0.0;
                for (xi, px) in (lo..=hi).zip(&self.source_row[lo..=hi]) {
                    let k = self.kernel[xi.abs_diff(x)];
                    weight += k;
                    for c in 0..N {
                        acc[c] += k * px[c];
                    }
                }
                finish(acc, weight);
            }
            self.across_done += 1;
        }
        self.out.fill([0.0; N]);
        let mut weight = 0.0;
        for yi in top..=bottom {
            let k = self.kernel[yi.abs_diff(y)];
            weight += k;
            let slot = yi % self.slots;
            for (acc, px) in self
                .out
                .iter_mut()
                .zip(&self.across[slot * w..(slot + 1) * w])
            {
                for c in 0..N {
                    acc[c] += k * px[c];
                }
            }
        }
        for acc in self.out.iter_mut() {
            finish(acc, weight);
        }
        &self.out
    }

    /// The whole blurred image, for the drawings that sample it out of order.
    fn collect(mut self) -> Vec<[f32; N]> {
        let mut all = Vec::with_capacity(self.w * self.h);
        for _ in 0..self.h {
            all.extend_from_slice(self.next_row());
        }
        all
    }
}

/// Canvas bilinear downscale ("low" smoothing): each target pixel samples the source at its
/// centre mapped back, between the four nearest source pixels (edge pixels repeated).
fn downscale(src: &[[f32; 4]], w: usize, h: usize, lw: usize, lh: usize) -> Vec<[f32; 4]> {
    let taps = |i: usize, len: usize, low: usize| {
        let s = ((i as f64 + 0.5) * len as f64 / low as f64 - 0.5).clamp(0.0, (len - 1) as f64);
        let i0 = s.floor() as usize;
        (i0, (i0 + 1).min(len - 1), (s - i0 as f64) as f32)
    };
    let mut out = Vec::with_capacity(lw * lh);
    for y in 0..lh {
        let (y0, y1, fy) = taps(y, h, lh);
        for x in 0..lw {
            let (x0, x1, fx) = taps(x, w, lw);
            let at = |yy: usize, xx: usize| src[yy * w + xx];
            let (a, b, c, d) = (at(y0, x0), at(y0, x1), at(y1, x0), at(y1, x1));
            out.push(std::array::from_fn(|ch| {
                let top = a[ch] + (b[ch] - a[ch]) * fx;
                let bottom = c[ch] + (d[ch] - c[ch]) * fx;
                top + (bottom - top) * fy
            }));
        }
    }
    out
}

/// Per pixel along one axis of `len` pixels, the fraction left visible by the grid: lines one
/// pixel wide centred at `cell × i` for `i < lines`, antialiased by the area they cover.
fn grid_keep(len: usize, lines: usize, cell: f64) -> Vec<f32> {
    let mut keep = vec![1.0f32; len];
    for i in 0..lines {
        let centre = cell * i as f64;
        let (from, to) = (centre - 0.5, centre + 0.5);
        let first = from.floor().max(0.0) as usize;
        for (p, k) in keep
            .iter_mut()
            .enumerate()
            .take(to.ceil() as usize)
            .skip(first)
        {
            let covered = (to.min(p as f64 + 1.0) - from.max(p as f64)).max(0.0);
            *k *= 1.0 - covered as f32;
        }
    }
    keep
}

/// Row `y` of an RGBA image as premultiplied `f32` pixels in `0.0..=1.0` (the canvas's
/// `putImageData`).
fn premultiplied_row(image: &RgbaImage, y: usize, row: &mut [[f32; 4]]) {
    let w = image.width() as usize;
    for (o, p) in row
        .iter_mut()
        .zip(image.as_raw()[4 * w * y..4 * w * (y + 1)].chunks_exact(4))
    {
        let a = f32::from(p[3]) / 255.0;
        *o = [
            f32::from(p[0]) / 255.0 * a,
            f32::from(p[1]) / 255.0 * a,
            f32::from(p[2]) / 255.0 * a,
            a,
        ];
    }
}

fn rgb_f32(image: &RgbImage, n: usize) -> [f32; 3] {
    let px = &image.as_raw()[3 * n..3 * n + 3];
    [px[0], px[1], px[2]].map(|c| f32::from(c) / 255.0)
}

/// Builds the output from opaque colours in `0.0..=1.0`, which `row(y, colors)` gives a row at a
/// time from the top, mirrored if `flip` (TF.js flips the canvas before drawing anything, so the
/// whole result is mirrored).
fn render(w: usize, h: usize, flip: bool, mut row: impl FnMut(usize, &mut [[f32; 3]])) -> RgbImage {
    let mut colors = vec![[0.0; 3]; w];
    let mut out = vec![0u8; 3 * w * h];
    for (y, out_row) in out.chunks_exact_mut(3 * w.max(1)).enumerate().take(h) {
        row(y, &mut colors);
        for (x, c) in colors.iter().enumerate() {
            let dx = if flip { w - 1 - x } else { x };
            for (o, &v) in out_row[3 * dx..3 * dx + 3].iter_mut().zip(c) {
                *o = to_u8(v);
            }
        }
    }
    RgbImage::from_raw(w as u32, h as u32, out).expect("buffer sized to the image")
}

/// As [`render`] from premultiplied RGBA: the colour the canvas's `getImageData` gives back.
fn render_rgba(
    w: usize,
    h: usize,
    flip: bool,
    mut row: impl FnMut(usize, &mut [[f32; 4]]),
) -> RgbImage {
    let mut premultiplied = vec![[0.0; 4]; w];
    render(w, h, flip, |y, colors| {
        row(y, &mut premultiplied);
        for (color, c) in colors.iter_mut().zip(&premultiplied) {
            *color = if c[3] > 0.0 {
                [c[0] / c[3], c[1] / c[3], c[2] / c[3]]
            } else {
                [0.0; 3]
            };
        }
    })
}

fn dims(image: &RgbImage) -> (usize, usize) {
    (image.width() as usize, image.height() as usize)
}

fn same_size(what: &'static str, found: (u32, u32), image: &RgbImage) -> Result<(), Error> {
    if found == image.dimensions() {
        Ok(())
    } else {
        Err(Error::SizeMismatch {
            what,
            found,
            reference: "the image",
            expected: image.dimensions(),
        })
    }
}

/// The size all `segmentations` share.
fn common_size<M: SegmentationMask>(segmentations: &[M]) -> Result<(u32, u32), Error> {
    let first = segmentations.first().ok_or(Error::NoSegmentations)?.size();
    for mask in &segmentations[1..] {
        if mask.size() != first {
            return Err(Error::SizeMismatch {
                what: "a segmentation mask",
                found: mask.size(),
                reference: "the first",
                expected: first,
            });
        }
    }
    Ok(first)
}

/// TF.js's `Math.round(255 * foregroundThreshold)`: the least alpha that is foreground.
fn alpha_cutoff(foreground_threshold: f32) -> Result<u8, Error> {
    let t = unit_interval("foreground_threshold", foreground_threshold)?;
    Ok((255.0 * f64::from(t) + 0.5).floor() as u8)
}

fn unit_interval(name: &'static str, value: f32) -> Result<f32, Error> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(Error::InvalidParameter {
            name,
            value,
            expected: "a number in 0..=1",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    fn selfie(width: u32, height: u32, p: impl Fn(u32, u32) -> f32) -> Vec<Segmentation> {
        let values = (0..height)
            .flat_map(|y| (0..width).map(move |x| (x, y)))
            .map(|(x, y)| p(x, y))
            .collect();
        vec![Segmentation {
            mask: Mask::new(width, height, values),
            mask_value_to_label: super::super::selfie_label,
        }]
    }

    /// A deterministic, textured test frame.
    fn frame(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            Rgb([(x * 7 + y * 3) as u8, (x * y) as u8, (x * 5) as u8])
        })
    }

    fn mirrored(image: &RgbImage) -> RgbImage {
        imageops::flip_horizontal(image)
    }

    const FG: Rgba<u8> = Rgba([255, 0, 0, 255]);
    const BG: Rgba<u8> = Rgba([0, 0, 0, 255]);

    #[test]
    fn threshold_compares_alpha_with_rounded_cutoff_like_tfjs() {
        assert_eq!(alpha_cutoff(0.5), Ok(128));
        assert_eq!(alpha_cutoff(0.0), Ok(0));
        assert_eq!(alpha_cutoff(1.0), Ok(255));
        // 127/255 ≈ 0.498 is background at 0.5, 128/255 is foreground.
        let segs = selfie(2, 1, |x, _| [127.0, 128.0][x as usize] / 255.0);
        let mask = to_binary_mask(&segs, FG, BG, false, 0.5).unwrap();
        assert_eq!(mask.get_pixel(0, 0), &BG);
        assert_eq!(mask.get_pixel(1, 0), &FG);
    }

    #[test]
    fn selfie_mask_value_and_alpha_are_the_8_bit_probability() {
        let segs = selfie(1, 1, |_, _| 0.5);
        assert_eq!(segs[0].value_alpha(0), (128, 128));
        assert_eq!(segs[0].probability(0), 0.5);
    }

    #[test]
    fn contour_follows_tfjs_diagonal_rule_and_scan_order() {
        // A 3×3 foreground block in a 5×5 mask. TF.js tests and strokes only diagonal
        // neighbours, and rows below are repainted when the scan reaches them.
        let segs = selfie(5, 5, |x, y| {
            f32::from((1..4).contains(&x) && (1..4).contains(&y))
        });
        let mask = to_binary_mask(&segs, FG, BG, true, 0.5).unwrap();
        let expected = ["CCCCC", "CFCFC", "CCCCC", "BFFFB", "BBBBB"];
        let got: Vec<String> = (0..5)
            .map(|y| {
                (0..5)
                    .map(|x| match *mask.get_pixel(x, y) {
                        c if c == CONTOUR => 'C',
                        c if c == FG => 'F',
                        c if c == BG => 'B',
                        c => panic!("unexpected colour {c:?}"),
                    })
                    .collect()
            })
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn later_segmentations_win_in_colored_masks() {
        let first = Mask::new(2, 1, vec![1.0, 1.0]);
        let second = Mask::new(2, 1, vec![0.0, 1.0]);
        let colour = |v: u8| Rgba([v, 0, 0, 255]);
        let mask = to_colored_mask(&[first, second], colour, BG, 0.5).unwrap();
        assert_eq!(mask.as_raw(), &[255, 0, 0, 255, 255, 0, 0, 255]);
        let none = to_colored_mask(&[Mask::new(1, 1, vec![0.2])], colour, BG, 0.5).unwrap();
        assert_eq!(none.get_pixel(0, 0), &BG);
    }

    #[test]
    fn canvas_blur_fades_to_transparent_at_the_border() {
        // The alpha of TF.js's bokeh golden along its top border, in the background: Chrome's
        // blur(3px) of an opaque image (three_people_bokeh_effect.png, x = 300, y = 0..9). The
        // exact Gaussian gives 144.48 for the first; Chrome's own rounding makes it 145.
        const GOLDEN: [u8; 9] = [145, 177, 204, 224, 238, 247, 251, 254, 255];
        let (w, h) = (40, 40);
        let blurred = blurred(vec![[1.0f32]; w * h], w, h, 3).unwrap();
        let column: Vec<u8> = (0..9).map(|y| to_u8(blurred[y * w + 20][0])).collect();
        assert!(
            column.iter().zip(GOLDEN).all(|(&a, b)| a.abs_diff(b) <= 1),
            "{column:?} vs Chrome's {GOLDEN:?}"
        );
        assert_eq!(column[1..], GOLDEN[1..]);
    }

    #[test]
    fn renormalised_blur_keeps_flat_images_flat() {
        let (w, h) = (30, 20);
        let flat = blurred_with(vec![[0.7f32, 0.2]; w * h], w, h, 4, Edges::Renormalise).unwrap();
        assert!(
            flat.iter()
                .flatten()
                .zip([0.7, 0.2].iter().cycle())
                .all(|(a, b)| (a - b).abs() < 1e-5)
        );
    }

    #[test]
    fn gaussian_kernel_is_normalised_with_radius_three_sigma() {
        let kernel = gaussian_kernel(3.0);
        assert_eq!(kernel.len(), 10);
        let total: f32 = 2.0 * kernel.iter().sum::<f32>() - kernel[0];
        assert!((total - 1.0).abs() < 1e-6);
    }

    #[test]
    fn grid_lines_cover_half_of_each_neighbouring_pixel() {
        let keep = grid_keep(30, 3, 10.0);
        assert_eq!(keep[0], 0.5); // the line at 0 is half outside
        assert_eq!((keep[9], keep[10]), (0.5, 0.5));
        assert_eq!((keep[5], keep[29]), (1.0, 1.0));
    }

    #[test]
    fn flip_mirrors_every_drawing() {
        let image = frame(37, 23);
        let segs = selfie(37, 23, |x, y| if x < 15 && y > 5 { 0.9 } else { 0.1 });
        let mask = to_binary_mask(&segs, FG, Rgba([0, 0, 0, 0]), true, 0.5).unwrap();
        let draws: [&dyn Fn(bool) -> RgbImage; 5] = [
            &|flip| draw_mask(&image, &mask, 0.6, 2, flip).unwrap(),
            &|flip| draw_pixelated_mask(&image, &mask, 0.7, 1, flip, 4.0).unwrap(),
            &|flip| draw_bokeh_effect(&image, &segs, 0.5, 3, 2, flip).unwrap(),
            &|flip| draw_bokeh_effect::<Segmentation>(&image, &[], 0.5, 3, 2, flip).unwrap(),
            &|flip| blur_body_part(&image, &segs, &[230], 0.5, 2, 1, flip).unwrap(),
        ];
        for (i, draw) in draws.iter().enumerate() {
            assert_eq!(draw(true), mirrored(&draw(false)), "drawing {i}");
        }
    }

    #[test]
    fn bokeh_keeps_people_sharp_and_blurs_the_rest() {
        let image = frame(60, 40);
        let segs = selfie(60, 40, |x, _| if x < 30 { 1.0 } else { 0.0 });
        let bokeh = draw_bokeh_effect(&image, &segs, 0.5, 3, 1, false).unwrap();
        assert_eq!(bokeh.get_pixel(10, 20), image.get_pixel(10, 20));
        let everything = draw_bokeh_effect::<Mask>(&image, &[], 0.5, 3, 1, false).unwrap();
        assert_eq!(bokeh.get_pixel(50, 20), everything.get_pixel(50, 20));
        assert_ne!(bokeh.get_pixel(50, 20), image.get_pixel(50, 20));
    }

    #[test]
    fn replace_background_blends_by_probability_over_a_covering_background() {
        let image = RgbImage::from_pixel(40, 20, Rgb([0, 0, 200]));
        let segs = selfie(40, 20, |x, _| [1.0, 0.75, 0.4, 0.0][(x / 10) as usize]);
        // 10×10, so scaled ×4 to cover 40×20 and cropped: its centre rows are the output.
        let background =
            RgbImage::from_fn(10, 10, |_, y| Rgb([if y < 5 { 100 } else { 200 }, 0, 0]));
        let out = replace_background(&image, &segs, &background, 0.5, 0).unwrap();
        assert_eq!(out.get_pixel(5, 5), &Rgb([0, 0, 200]));
        // 0.75 person over the background's top half (100): 25, 0, 150.
        assert_eq!(out.get_pixel(15, 5), &Rgb([25, 0, 150]));
        // 0.4 is under the threshold: background only.
        assert_eq!(out.get_pixel(25, 5), &Rgb([100, 0, 0]));
        assert_eq!(out.get_pixel(35, 15), &Rgb([200, 0, 0]));
        // With a threshold of 0 the probability itself is the weight.
        let soft = replace_background(&image, &segs, &background, 0.0, 0).unwrap();
        assert_eq!(soft.get_pixel(25, 5), &Rgb([60, 0, 80]));
    }

    #[test]
    fn scale_to_cover_keeps_aspect_ratio_and_centre() {
        let wide = RgbImage::from_fn(100, 50, |x, _| {
            Rgb([if (20..80).contains(&x) { 255 } else { 0 }, 0, 0])
        });
        let square = scale_to_cover(&wide, 30, 30);
        assert_eq!(square.dimensions(), (30, 30));
        assert!(square.pixels().all(|p| p[0] == 255));
    }

    #[test]
    fn bad_input_is_an_error_naming_what_is_wrong() {
        let image = frame(5, 5);
        let mask = RgbaImage::new(4, 4);
        let err = draw_mask(&image, &mask, 0.7, 0, false).unwrap_err();
        assert_eq!(err.to_string(), "mask image is 4×4 but the image is 5×5");
        let none: &[Segmentation] = &[];
        assert_eq!(
            to_binary_mask(none, FG, BG, false, 0.5),
            Err(Error::NoSegmentations)
        );
        let mixed = [Mask::new(1, 1, vec![0.0]), Mask::new(2, 1, vec![0.0; 2])];
        assert!(matches!(
            to_colored_mask(&mixed, |_| FG, BG, 0.5),
            Err(Error::SizeMismatch { .. })
        ));
        let segs = selfie(4, 4, |_, _| 1.0);
        assert!(matches!(
            draw_bokeh_effect(&image, &segs, 0.5, 3, 3, false),
            Err(Error::SizeMismatch { .. })
        ));
        let err = draw_mask(&image, &RgbaImage::new(5, 5), 1.5, 0, false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "mask_opacity = 1.5: expected a number in 0..=1"
        );
        let err =
            draw_pixelated_mask(&image, &RgbaImage::new(5, 5), 0.7, 0, false, 6.0).unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidParameter {
                name: "pixel_cell_width",
                ..
            }
        ));
        assert!(draw_bokeh_effect(&image, none, f32::NAN, 3, 3, false).is_err());
        assert!(draw_bokeh_effect(&image, none, 0.5, MAX_BLUR + 1, 3, false).is_err());
        let empty = RgbImage::new(0, 0);
        assert_eq!(
            replace_background(&image, none, &empty, 0.5, 3),
            Err(Error::EmptyBackground)
        );
    }
}
