//! bodyzone: MediaPipe body models on tract for ARM boards.
//!
//! The crate is a table of contents: one module per concept.

pub mod model;
pub mod segment;
