//! The PNG sink: the latest frame as a PNG file, replaced atomically (a reader never sees a
//! half-written file), for headless boards and tests.

use std::path::{Path, PathBuf};

use embedded_graphics::pixelcolor::{BinaryColor, Rgb888};

use crate::files;

use super::{Canvas, DisplayState, Error, Layout, OLED_SIZE, Panel, render_oled, render_panel};

pub struct PngSink {
    path: PathBuf,
    layout: Layout,
}

impl PngSink {
    pub fn new(path: impl Into<PathBuf>, layout: Layout) -> Self {
        Self {
            path: path.into(),
            layout,
        }
    }

    /// Renders `state` as this sink's layout would show it.
    pub fn render(&self, state: &DisplayState<'_>) -> image::RgbImage {
        match self.layout {
            Layout::Panel(size) => {
                let mut canvas = Canvas::new(size, Rgb888::new(0, 0, 0));
                let Ok(()) = render_panel(state, &mut canvas);
                canvas.to_rgb_image()
            }
            Layout::Oled => {
                let mut canvas = Canvas::new(OLED_SIZE, BinaryColor::Off);
                let Ok(()) = render_oled(state, &mut canvas);
                canvas.to_rgb_image()
            }
        }
    }
}

/// Writes `image` to `path` as PNG, atomically (a viewer polling the file never sees half a frame).
fn write_atomically(image: &image::RgbImage, path: &Path) -> Result<(), Error> {
    let mut encoded = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut encoded, image::ImageFormat::Png)
        .map_err(|source| Error::Encode {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(files::write_atomic(path, |out| {
        out.write_all(encoded.get_ref())
    })?)
}

impl Panel for PngSink {
    fn show(&mut self, state: &DisplayState<'_>) -> Result<(), Error> {
        write_atomically(&self.render(state), &self.path)
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}
