//! Selfie Segmentation: a person-probability mask per image, and ways to draw it.

pub mod render;

use image::GrayImage;

/// A per-pixel value map at the input image's size: person probability in `0.0..=1.0`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mask {
    width: u32,
    height: u32,
    values: Vec<f32>,
}

impl Mask {
    /// # Panics
    /// If `values` is not `width × height` long.
    pub fn new(width: u32, height: u32, values: Vec<f32>) -> Self {
        assert_eq!(values.len(), width as usize * height as usize, "mask size");
        Mask { width, height, values }
    }

    /// Reads an 8-bit mask back (value / 255), e.g. a golden or a TF.js test mask.
    pub fn from_gray(image: &GrayImage) -> Self {
        let values = image.as_raw().iter().map(|&v| f32::from(v) / 255.0).collect();
        Mask::new(image.width(), image.height(), values)
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// Row-major probabilities, `width × height`.
    pub fn probabilities(&self) -> &[f32] {
        &self.values
    }

    /// Probability at pixel `(x, y)`.
    pub fn get(&self, x: u32, y: u32) -> f32 {
        self.values[y as usize * self.width as usize + x as usize]
    }

    /// 8-bit image, pixel = round(probability × 255): the `--mask` file format.
    pub fn to_gray_image(&self) -> GrayImage {
        let bytes = self.values.iter().map(|&p| to_u8(p)).collect();
        GrayImage::from_raw(self.width, self.height, bytes).expect("size checked in Mask::new")
    }

    /// `true` where the probability is at least `threshold`.
    pub fn to_binary(&self, threshold: f32) -> Vec<bool> {
        self.values.iter().map(|&p| p >= threshold).collect()
    }
}

/// Probability → 8-bit value, rounding half away from zero.
pub fn to_u8(p: f32) -> u8 {
    (p * 255.0).round().clamp(0.0, 255.0) as u8
}

/// One segmented person (or, for multi-part models, one labelled map), as TF.js's `Segmentation`.
#[derive(Debug, Clone, PartialEq)]
pub struct Segmentation {
    pub mask: Mask,
    /// Maps an 8-bit mask value to its label.
    pub mask_value_to_label: fn(u8) -> &'static str,
}

/// Labels of the selfie models: every value above zero is a person.
pub fn selfie_label(value: u8) -> &'static str {
    if value > 0 { "person" } else { "background" }
}
