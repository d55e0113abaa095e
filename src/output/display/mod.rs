//! Displays (work in progress).
mod canvas;
pub use canvas::Canvas;
