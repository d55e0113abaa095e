//! Person masks: a probability per pixel, as every model gives it and every rule and output
//! reads it.

use image::GrayImage;

use crate::imgproc::resize_bilinear_into;

/// A per-pixel value map at the input image's size: person probability in `0.0..=1.0`.
#[derive(Debug, Clone, Default, PartialEq)]
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
        Mask {
            width,
            height,
            values,
        }
    }

    /// Becomes `values` (`width × height`), in the buffer it has when that is large enough.
    ///
    /// # Panics
    /// If `values` is not `width × height` long.
    pub fn set(&mut self, width: u32, height: u32, values: &[f32]) {
        assert_eq!(values.len(), width as usize * height as usize, "mask size");
        self.width = width;
        self.height = height;
        self.values.clear();
        self.values.extend_from_slice(values);
    }

    /// Becomes `map` (`width × height` of `map_size`) resized to `size` with
    /// [`resize_bilinear_into`], in the buffer it has when that is large enough.
    pub(crate) fn resize_from(&mut self, map: &[f32], map_size: (usize, usize), size: (u32, u32)) {
        let (width, height) = size;
        self.width = width;
        self.height = height;
        self.values.resize(width as usize * height as usize, 0.0);
        let (w, h) = map_size;
        resize_bilinear_into(map, w, h, &mut self.values, width as usize, height as usize);
    }

    /// Reads an 8-bit mask back (value / 255), e.g. a golden or a TF.js test mask.
    pub fn from_gray(image: &GrayImage) -> Self {
        let values = image
            .as_raw()
            .iter()
            .map(|&v| f32::from(v) / 255.0)
            .collect();
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

    pub fn probabilities_mut(&mut self) -> &mut [f32] {
        &mut self.values
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
