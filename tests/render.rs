//! The render helpers against TF.js's render-util goldens: `three_people_*.png` in
//! `shared/fixtures/tfjs-models/`, made by `reference-tests/shared_calculators_render_util_test.ts`
//! from `three_people.jpg` and the segmentation images used here, with the same arguments.
//!
//! Tolerances reached (8-bit levels; RGB, since the drawings are returned without TF.js's alpha):
//!
//! | drawing | mean abs diff | pixels (all channels) within ±1 / ±2 | max |
//! |---|---|---|---|
//! | `to_binary_mask`, `to_colored_mask` | 0 (exact, RGBA) | 100% | 0 |
//! | `draw_mask` (opacity 0.7, blur 3) | 0.22 | 99.95% / 100% | 2 |
//! | `draw_pixelated_mask` (defaults) | 0.34 | 99.74% / 99.99% | 8 |
//! | `draw_bokeh_effect` (defaults) | 0.39 | 94.7% / 99.78% | 4 |
//! | `blur_body_part` (parts 0, 1) | 0.40 | 94.9% / 99.80% | 5 |
//!
//! The test tolerances below leave a small margin over these. What is left is the browser's:
//! its JPEG decoder (the sharp person pixels of the bokeh golden alone differ from ours by 0.43 on
//! average), its 8-bit rounding after every canvas step, and its rasterisation of the grid lines.
//! Without converting the JPEG's Display P3 profile to sRGB as the browser does (see
//! `three_people()`), the mean difference would be ~2 and the maximum ~20.

use std::path::PathBuf;

use bodyzone::segment::render::{self, Rgba};
use image::codecs::jpeg::JpegDecoder;
use image::{ImageDecoder, RgbImage, RgbaImage};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/tfjs-models")
        .join(name)
}

fn load(name: &str) -> image::DynamicImage {
    let path = fixture(name);
    image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `three_people.jpg` as the browser drew it: its embedded ICC profile (Apple's "Display", i.e.
/// Display P3) converted to sRGB. Without this, colours differ by up to 20 levels from TF.js's.
fn three_people() -> RgbImage {
    let path = fixture("three_people.jpg");
    let file = std::io::BufReader::new(std::fs::File::open(&path).unwrap());
    let mut decoder = JpegDecoder::new(file).unwrap();
    let profile = decoder
        .icc_profile()
        .unwrap()
        .expect("three_people.jpg has an ICC profile");
    let mut image = image::DynamicImage::from_decoder(decoder)
        .unwrap()
        .into_rgb8();
    let to_srgb = MatrixProfile::parse(&profile).to_srgb();
    for px in image.pixels_mut() {
        px.0 = to_srgb(px.0);
    }
    image
}

/// A matrix/TRC ICC profile: colourant XYZ (D50) columns and a tone curve per channel.
struct MatrixProfile {
    colourants: [[f64; 3]; 3],
    curves: [Vec<f64>; 3],
}

impl MatrixProfile {
    fn parse(icc: &[u8]) -> MatrixProfile {
        let u32_at = |at: usize| u32::from_be_bytes(icc[at..at + 4].try_into().unwrap()) as usize;
        let tag = |signature: &[u8; 4]| {
            (0..u32_at(128))
                .map(|k| 132 + 12 * k)
                .find(|&entry| &icc[entry..entry + 4] == signature)
                .map(|entry| &icc[u32_at(entry + 4)..u32_at(entry + 4) + u32_at(entry + 8)])
                .unwrap_or_else(|| panic!("ICC profile has no {:?} tag", signature))
        };
        let xyz = |signature| {
            let t = tag(signature);
            std::array::from_fn(|i| {
                f64::from(i32::from_be_bytes(
                    t[8 + 4 * i..12 + 4 * i].try_into().unwrap(),
                )) / 65536.0
            })
        };
        let curve = |signature| {
            let t = tag(signature);
            assert_eq!(&t[..4], b"curv", "tone curve tables only");
            let count = u32::from_be_bytes(t[8..12].try_into().unwrap()) as usize;
            (0..count)
                .map(|i| f64::from(u16::from_be_bytes([t[12 + 2 * i], t[13 + 2 * i]])) / 65535.0)
                .collect()
        };
        MatrixProfile {
            colourants: [xyz(b"rXYZ"), xyz(b"gXYZ"), xyz(b"bXYZ")],
            curves: [curve(b"rTRC"), curve(b"gTRC"), curve(b"bTRC")],
        }
    }

    /// The conversion of a pixel in this profile to sRGB (linear light through XYZ D50).
    fn to_srgb(&self) -> impl Fn([u8; 3]) -> [u8; 3] + use<> {
        // sRGB's colourants adapted to D50, as in the sRGB ICC profile.
        const SRGB: [[f64; 3]; 3] = [
            [0.436_074_7, 0.222_504_5, 0.013_932_2],
            [0.385_064_9, 0.716_878_6, 0.097_104_5],
            [0.143_080_4, 0.060_616_9, 0.714_173_3],
        ];
        let to_xyz = |c: &[[f64; 3]; 3]| -> [[f64; 3]; 3] {
            std::array::from_fn(|r| std::array::from_fn(|k| c[k][r]))
        };
        let matrix = product(&inverse(&to_xyz(&SRGB)), &to_xyz(&self.colourants));
        let linear: [Vec<f64>; 3] = std::array::from_fn(|c| {
            let curve = &self.curves[c];
            (0..256)
                .map(|v| {
                    let at = v as f64 / 255.0 * (curve.len() - 1) as f64;
                    let (i, f) = (at.floor() as usize, at.fract());
                    curve[i] + (curve[(i + 1).min(curve.len() - 1)] - curve[i]) * f
                })
                .collect()
        });
        move |px| {
            let l: [f64; 3] = std::array::from_fn(|c| linear[c][usize::from(px[c])]);
            std::array::from_fn(|r| {
                let v = (0..3)
                    .map(|k| matrix[r][k] * l[k])
                    .sum::<f64>()
                    .clamp(0.0, 1.0);
                let encoded = if v <= 0.003_130_8 {
                    12.92 * v
                } else {
                    1.055 * v.powf(1.0 / 2.4) - 0.055
                };
                (encoded * 255.0).round() as u8
            })
        }
    }
}

fn product(a: &[[f64; 3]; 3], b: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    std::array::from_fn(|r| std::array::from_fn(|c| (0..3).map(|k| a[r][k] * b[k][c]).sum()))
}

fn inverse(m: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let cofactor = |r: usize, c: usize| {
        let (r1, r2, c1, c2) = ((r + 1) % 3, (r + 2) % 3, (c + 1) % 3, (c + 2) % 3);
        m[r1][c1] * m[r2][c2] - m[r1][c2] * m[r2][c1]
    };
    let det: f64 = (0..3).map(|c| m[0][c] * cofactor(0, c)).sum();
    std::array::from_fn(|r| std::array::from_fn(|c| cofactor(c, r) / det))
}

/// TF.js's mask `ImageData`: red = mask value (body part), alpha = probability.
fn segmentation(name: &str) -> Vec<RgbaImage> {
    vec![load(name).into_rgba8()]
}

const RAINBOW_PART_COLORS: [[u8; 3]; 24] = [
    [110, 64, 170],
    [143, 61, 178],
    [178, 60, 178],
    [210, 62, 167],
    [238, 67, 149],
    [255, 78, 125],
    [255, 94, 99],
    [255, 115, 75],
    [255, 140, 56],
    [239, 167, 47],
    [217, 194, 49],
    [194, 219, 64],
    [175, 240, 91],
    [135, 245, 87],
    [96, 247, 96],
    [64, 243, 115],
    [40, 234, 141],
    [28, 219, 169],
    [26, 199, 194],
    [33, 176, 213],
    [47, 150, 224],
    [65, 125, 224],
    [84, 101, 214],
    [99, 81, 195],
];

fn rainbow(value: u8) -> Rgba<u8> {
    let [r, g, b] = RAINBOW_PART_COLORS[usize::from(value)];
    Rgba([r, g, b, 255])
}

fn binary_mask() -> RgbaImage {
    let white = Rgba([255, 255, 255, 255]);
    let black = Rgba([0, 0, 0, 255]);
    render::to_binary_mask(
        &segmentation("three_people_binary_segmentation.png"),
        white,
        black,
        false,
        0.5,
    )
    .unwrap()
}

fn colored_mask() -> RgbaImage {
    render::to_colored_mask(
        &segmentation("three_people_colored_segmentation.png"),
        rainbow,
        Rgba([255, 255, 255, 255]),
        0.5,
    )
    .unwrap()
}

/// How close a drawing must be to its golden.
#[derive(Debug, Clone, Copy)]
struct Tolerance {
    /// Mean absolute difference over all compared channel values, in 8-bit levels.
    mean_abs: f64,
    /// A pixel is close when none of its channels differs by more than this.
    pixel_within: u8,
    /// The share of pixels that must be close.
    close_pixels: f64,
}

const EXACT: Tolerance = Tolerance {
    mean_abs: 0.0,
    pixel_within: 0,
    close_pixels: 1.0,
};

/// Compares the first `channels` channels of `got` (with `got_channels` per pixel) to `want`;
/// prints how close it is and, on failure, the first pixel outside `tol.pixel_within`.
fn compare(
    name: &str,
    got: &[u8],
    got_channels: usize,
    channels: usize,
    want: &RgbaImage,
    tol: Tolerance,
) {
    let (width, pixels) = (want.width() as usize, want.pixels().len());
    assert_eq!(got.len(), pixels * got_channels, "{name}: size");
    let mut sum = 0u64;
    let mut worst = Vec::with_capacity(pixels);
    for (g, w) in got.chunks_exact(got_channels).zip(want.pixels()) {
        let diffs = (0..channels).map(|c| g[c].abs_diff(w[c]));
        sum += diffs.clone().map(u64::from).sum::<u64>();
        worst.push(diffs.max().unwrap_or(0));
    }
    let mean = sum as f64 / (pixels * channels) as f64;
    let share_within = |k: u8| worst.iter().filter(|&&d| d <= k).count() as f64 / pixels as f64;
    let (max_at, max) = worst.iter().enumerate().max_by_key(|&(_, d)| d).unwrap();
    eprintln!(
        "{name}: mean |diff| {mean:.3}/255; pixels within ±0 {:.3}%, ±1 {:.3}%, ±2 {:.3}%; \
         max {max} at ({}, {})",
        100.0 * share_within(0),
        100.0 * share_within(1),
        100.0 * share_within(2),
        max_at % width,
        max_at / width
    );
    let share = share_within(tol.pixel_within);
    if mean <= tol.mean_abs && share >= tol.close_pixels {
        return;
    }
    let n = worst
        .iter()
        .position(|&d| d > tol.pixel_within)
        .unwrap_or(0);
    let g = &got[n * got_channels..][..channels];
    panic!(
        "{name}: mean |diff| {mean:.3} (allowed {}), {:.3}% of pixels within ±{} (need {}%); \
         first outlier ({}, {}): got {g:?}, want {:?}",
        tol.mean_abs,
        100.0 * share,
        tol.pixel_within,
        100.0 * tol.close_pixels,
        n % width,
        n / width,
        &want.as_raw()[4 * n..][..channels],
    );
}

fn compare_rgb(name: &str, got: &RgbImage, golden: &str, tol: Tolerance) {
    compare(name, got.as_raw(), 3, 3, &load(golden).into_rgba8(), tol);
}

#[test]
fn binary_mask_matches_tfjs_exactly() {
    let golden = load("three_people_binary_mask.png").into_rgba8();
    compare("toBinaryMask", binary_mask().as_raw(), 4, 4, &golden, EXACT);
}

#[test]
fn colored_mask_matches_tfjs_exactly() {
    let golden = load("three_people_colored_mask.png").into_rgba8();
    compare(
        "toColoredMask",
        colored_mask().as_raw(),
        4,
        4,
        &golden,
        EXACT,
    );
}

/// `drawMask(canvas, image, binaryMask, 0.7, 3)`.
#[test]
fn draw_mask_matches_tfjs() {
    const DRAW_MASK: Tolerance = Tolerance {
        mean_abs: 0.3,
        pixel_within: 1,
        close_pixels: 0.999,
    };
    let drawn = render::draw_mask(&three_people(), &binary_mask(), 0.7, 3, false).unwrap();
    compare_rgb("drawMask", &drawn, "three_people_draw_mask.png", DRAW_MASK);
}

/// `drawPixelatedMask(canvas, image, coloredMask)`: opacity 0.7, no blur, cells of 10 pixels.
#[test]
fn pixelated_mask_matches_tfjs() {
    const PIXELATED: Tolerance = Tolerance {
        mean_abs: 0.4,
        pixel_within: 1,
        close_pixels: 0.995,
    };
    let drawn =
        render::draw_pixelated_mask(&three_people(), &colored_mask(), 0.7, 0, false, 10.0).unwrap();
    compare_rgb(
        "drawPixelatedMask",
        &drawn,
        "three_people_pixelated_mask.png",
        PIXELATED,
    );
}

/// `drawBokehEffect(canvas, image, binarySegmentation)`: threshold 0.5, blurs 3 and 3.
#[test]
fn bokeh_effect_matches_tfjs() {
    const BOKEH: Tolerance = Tolerance {
        mean_abs: 0.45,
        pixel_within: 2,
        close_pixels: 0.997,
    };
    let segs = segmentation("three_people_binary_segmentation.png");
    let drawn = render::draw_bokeh_effect(&three_people(), &segs, 0.5, 3, 3, false).unwrap();
    compare_rgb(
        "drawBokehEffect",
        &drawn,
        "three_people_bokeh_effect.png",
        BOKEH,
    );
}

/// `blurBodyPart(canvas, image, coloredSegmentation, [0, 1])`: threshold 0.5, blurs 3 and 3.
#[test]
fn blur_body_part_matches_tfjs() {
    const BLUR_BODY_PART: Tolerance = Tolerance {
        mean_abs: 0.45,
        pixel_within: 2,
        close_pixels: 0.997,
    };
    let segs = segmentation("three_people_colored_segmentation.png");
    let drawn = render::blur_body_part(&three_people(), &segs, &[0, 1], 0.5, 3, 3, false).unwrap();
    compare_rgb(
        "blurBodyPart",
        &drawn,
        "three_people_blur_body_parts.png",
        BLUR_BODY_PART,
    );
}
