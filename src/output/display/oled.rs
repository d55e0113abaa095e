//! The SSD1306 128×64 OLED on any embedded-hal I²C bus (linux-embedded-hal's `I2cdev` on a
//! board). Each frame is rendered into a canvas and only the pixels that changed are set in the
//! driver's buffer, so its `flush` sends just the changed window over the slow bus.

use std::path::{Path, PathBuf};

use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::*;
use embedded_hal::i2c::I2c;
use ssd1306::mode::BufferedGraphicsMode;
use ssd1306::prelude::*;
use ssd1306::{I2CDisplayInterface, Ssd1306};

use super::{Canvas, DisplayState, Error, Panel, render_oled};

/// The panel's size in pixels.
pub const OLED_SIZE: Size = Size::new(128, 64);

type Driver<I> =
    Ssd1306<I2CInterface<I>, DisplaySize128x64, BufferedGraphicsMode<DisplaySize128x64>>;

pub struct Oled<I: I2c> {
    driver: Driver<I>,
    device: PathBuf,
    address: u8,
    canvas: Canvas<BinaryColor>,
    /// What the panel shows now; `None` after (re)initialisation, forcing a full redraw.
    shown: Option<Canvas<BinaryColor>>,
}

impl<I: I2c + Send> Oled<I> {
    /// Initialises the panel at `address` on `i2c`; `device` names the bus in errors.
    pub fn new(i2c: I, address: u8, device: &Path) -> Result<Self, Error> {
        let interface = I2CDisplayInterface::new_custom_address(i2c, address);
        let driver = Ssd1306::new(interface, DisplaySize128x64, DisplayRotation::Rotate0)
            .into_buffered_graphics_mode();
        let mut oled = Self {
            driver,
            device: device.to_path_buf(),
            address,
            canvas: Canvas::new(OLED_SIZE, BinaryColor::Off),
            shown: None,
        };
        oled.reset()?;
        Ok(oled)
    }

    fn bus_error(&self, err: impl std::fmt::Debug) -> Error {
        Error::Bus {
            device: self.device.clone(),
            address: self.address,
            reason: format!("{err:?}"),
        }
    }
}

impl<I: I2c + Send> Panel for Oled<I> {
    fn show(&mut self, state: &DisplayState<'_>) -> Result<(), Error> {
        let Ok(()) = render_oled(state, &mut self.canvas);
        for y in 0..OLED_SIZE.height {
            for x in 0..OLED_SIZE.width {
                let now = self.canvas.pixel(x, y);
                if self
                    .shown
                    .as_ref()
                    .is_none_or(|shown| shown.pixel(x, y) != now)
                {
                    self.driver.set_pixel(x, y, now == Some(BinaryColor::On));
                }
            }
        }
        self.driver.flush().map_err(|err| self.bus_error(err))?;
        self.shown = Some(self.canvas.clone());
        Ok(())
    }

    fn reset(&mut self) -> Result<(), Error> {
        self.shown = None;
        self.driver.init().map_err(|err| self.bus_error(err))
    }

    fn describe(&self) -> String {
        format!("{}@{:#04x}", self.device.display(), self.address)
    }
}

#[cfg(feature = "cdev")]
pub(super) fn open(device: &Path, address: u8) -> Result<Box<dyn Panel>, Error> {
    let bus = linux_embedded_hal::I2cdev::new(device).map_err(|err| Error::Io {
        path: device.to_path_buf(),
        source: err.into(),
    })?;
    Ok(Box::new(Oled::new(bus, address, device)?))
}

#[cfg(not(feature = "cdev"))]
pub(super) fn open(device: &Path, _: u8) -> Result<Box<dyn Panel>, Error> {
    Err(Error::FeatureDisabled {
        device: device.to_path_buf(),
        feature: "cdev",
    })
}
