//! An in-memory `DrawTarget`: what every sink renders into, so the PNG of a frame is exactly
//! what the panel got.

use std::convert::Infallible;

use embedded_graphics::pixelcolor::{BinaryColor, Rgb888};
use embedded_graphics::prelude::*;

/// Pixels in row-major order, any embedded-graphics colour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Canvas<C> {
    size: Size,
    pixels: Vec<C>,
}

impl<C: PixelColor> Canvas<C> {
    /// A canvas filled with `background`.
    pub fn new(size: Size, background: C) -> Self {
        Self {
            size,
            pixels: vec![background; (size.width * size.height) as usize],
        }
    }

    /// The pixel at (x, y); `None` outside.
    pub fn pixel(&self, x: u32, y: u32) -> Option<C> {
        (x < self.size.width && y < self.size.height)
            .then(|| self.pixels[(y * self.size.width + x) as usize])
    }

    /// All pixels, row by row.
    pub fn pixels(&self) -> &[C] {
        &self.pixels
    }
}

impl<C: PixelColor + Into<Rgb888>> Canvas<C> {
    /// The canvas as an RGB image (a binary canvas becomes black and white).
    pub fn to_rgb_image(&self) -> image::RgbImage {
        let raw = self
            .pixels
            .iter()
            .flat_map(|&colour| {
                let rgb: Rgb888 = colour.into();
                [rgb.r(), rgb.g(), rgb.b()]
            })
            .collect();
        image::RgbImage::from_raw(self.size.width, self.size.height, raw)
            .expect("the canvas holds width × height pixels")
    }
}

impl Canvas<BinaryColor> {
    /// SSD1306 page layout: one byte per 8 rows of a column, least significant bit on top.
    pub fn to_pages(&self) -> Vec<u8> {
        let (width, height) = (self.size.width, self.size.height);
        let mut pages = vec![0u8; (width * height.div_ceil(8)) as usize];
        for y in 0..height {
            for x in 0..width {
                if self.pixels[(y * width + x) as usize].is_on() {
                    pages[((y / 8) * width + x) as usize] |= 1 << (y % 8);
                }
            }
        }
        pages
    }
}

impl<C: PixelColor> OriginDimensions for Canvas<C> {
    fn size(&self) -> Size {
        self.size
    }
}

impl<C: PixelColor> DrawTarget for Canvas<C> {
    type Color = C;
    type Error = Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Infallible>
    where
        I: IntoIterator<Item = Pixel<C>>,
    {
        let (width, height) = (self.size.width as i32, self.size.height as i32);
        for Pixel(point, colour) in pixels {
            if (0..width).contains(&point.x) && (0..height).contains(&point.y) {
                self.pixels[(point.y * width + point.x) as usize] = colour;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_pack_columns_lsb_on_top() {
        let mut canvas = Canvas::new(Size::new(2, 16), BinaryColor::Off);
        canvas
            .draw_iter([
                Pixel(Point::new(0, 0), BinaryColor::On),
                Pixel(Point::new(1, 7), BinaryColor::On),
                Pixel(Point::new(1, 9), BinaryColor::On),
                Pixel(Point::new(5, 5), BinaryColor::On),
            ])
            .unwrap();
        assert_eq!(canvas.to_pages(), [0x01, 0x80, 0x00, 0x02]);
    }
}
