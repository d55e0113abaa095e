//! What the device does: events, GPIO pins, displays.

pub mod display;
pub mod events;
pub mod gpio;
pub mod notify;
