//! Pin back-ends: any embedded-hal `OutputPin` (rppal, linux-embedded-hal's `CdevPin`, a fake),
//! behind one object-safe `DynPin` so one output can hold pins of any kind.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use embedded_hal::digital::{Error as _, ErrorType, OutputPin};

use super::{Error, Level, PinAddress};

/// An output pin that can be boxed: every embedded-hal [`OutputPin`] that is `Send` is one.
pub trait DynPin: Send {
    /// Drives the wire to `level`; the error is the back-end's, as text.
    fn set(&mut self, level: Level) -> Result<(), String>;
}

impl<P> DynPin for P
where
    P: OutputPin + Send,
    <P as ErrorType>::Error: std::fmt::Display,
{
    fn set(&mut self, level: Level) -> Result<(), String> {
        let result = match level {
            Level::Low => self.set_low(),
            Level::High => self.set_high(),
        };
        result.map_err(|err| format!("{err} ({:?})", err.kind()))
    }
}

/// Opens the pin at `address` as an output already at `initial` (no glitch through the other
/// level while the line is requested).
pub fn open(address: &PinAddress, initial: Level) -> Result<Box<dyn DynPin>, Error> {
    match address {
        PinAddress::Cdev { chip, line } => open_cdev(chip, *line, initial),
        PinAddress::Rpi { pin } => open_rpi(*pin, initial),
    }
}

#[cfg(feature = "cdev")]
fn open_cdev(chip: &std::path::Path, line: u32, initial: Level) -> Result<Box<dyn DynPin>, Error> {
    use linux_embedded_hal::gpio_cdev::{Chip, LineRequestFlags};
    let request = || -> Result<_, linux_embedded_hal::gpio_cdev::Error> {
        let handle = Chip::new(chip)?.get_line(line)?.request(
            LineRequestFlags::OUTPUT,
            u8::from(initial == Level::High),
            "bodyzone",
        )?;
        linux_embedded_hal::CdevPin::new(handle)
    };
    match request() {
        Ok(pin) => Ok(Box::new(pin)),
        Err(err) => Err(Error::Open {
            pin: PinAddress::Cdev {
                chip: chip.to_path_buf(),
                line,
            },
            reason: err.to_string(),
        }),
    }
}

#[cfg(not(feature = "cdev"))]
fn open_cdev(chip: &std::path::Path, line: u32, _: Level) -> Result<Box<dyn DynPin>, Error> {
    Err(Error::FeatureDisabled {
        pin: PinAddress::Cdev {
            chip: chip.to_path_buf(),
            line,
        },
        feature: "cdev",
    })
}

#[cfg(feature = "rpi")]
fn open_rpi(pin: u8, initial: Level) -> Result<Box<dyn DynPin>, Error> {
    let request = || -> Result<_, rppal::gpio::Error> {
        let pin = rppal::gpio::Gpio::new()?.get(pin)?;
        let mut output = match initial {
            Level::Low => pin.into_output_low(),
            Level::High => pin.into_output_high(),
        };
        // rppal would put the pin back to an input on drop, undoing the safe level we just set.
        output.set_reset_on_drop(false);
        Ok(output)
    };
    match request() {
        Ok(output) => Ok(Box::new(output)),
        Err(err) => Err(Error::Open {
            pin: PinAddress::Rpi { pin },
            reason: err.to_string(),
        }),
    }
}

#[cfg(not(feature = "rpi"))]
fn open_rpi(pin: u8, _: Level) -> Result<Box<dyn DynPin>, Error> {
    Err(Error::FeatureDisabled {
        pin: PinAddress::Rpi { pin },
        feature: "rpi",
    })
}

/// A pin that records every level it is driven to, with the time; clones share the record.
#[derive(Clone, Default)]
pub struct FakePin {
    log: Arc<Mutex<Vec<(Instant, Level)>>>,
    fail: Arc<Mutex<bool>>,
}

/// The fake's error: set by [`FakePin::fail`].
#[derive(Debug)]
pub struct FakePinError;

impl std::fmt::Display for FakePinError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("fake pin set to fail")
    }
}

impl embedded_hal::digital::Error for FakePinError {
    fn kind(&self) -> embedded_hal::digital::ErrorKind {
        embedded_hal::digital::ErrorKind::Other
    }
}

impl FakePin {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every level driven so far, oldest first, with when.
    pub fn history(&self) -> Vec<(Instant, Level)> {
        crate::process::try_lock(&self.log)
            .map(|log| log.clone())
            .unwrap_or_default()
    }

    /// The levels driven so far, without times.
    pub fn levels(&self) -> Vec<Level> {
        self.history().into_iter().map(|(_, level)| level).collect()
    }

    /// The level last driven, if any.
    pub fn level(&self) -> Option<Level> {
        self.levels().last().copied()
    }

    /// Makes every later write fail (or succeed again).
    pub fn fail(&self, fail: bool) {
        *self
            .fail
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = fail;
    }

    fn record(&mut self, level: Level) -> Result<(), FakePinError> {
        if *self
            .fail
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
        {
            return Err(FakePinError);
        }
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push((Instant::now(), level));
        Ok(())
    }
}

impl ErrorType for FakePin {
    type Error = FakePinError;
}

impl OutputPin for FakePin {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        self.record(Level::Low)
    }

    fn set_high(&mut self) -> Result<(), Self::Error> {
        self.record(Level::High)
    }
}
