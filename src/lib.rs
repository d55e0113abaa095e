//! bodyzone: MediaPipe body models on tract for ARM boards.
//!
//! The crate is a table of contents: one module per concept.
//!
//! | module | what |
//! |---|---|
//! | [`model`] | embedded ONNX models, loading them into tract |
//! | [`files`] | reading images, writing outputs atomically |
//! | [`imgproc`] | image → tensor sampling (MediaPipe's ImageToTensor), mask resizing |
//! | [`segment`] | Selfie Segmentation: `Segmenter`, masks and rendering |
//! | [`pose`] | BlazePose GHUM: detector, landmarks, tracking |
//! | [`source`] | frame sources: V4L2 cameras, stdin, images, videos, synthetic |
//! | [`config`] | `bodyzone.toml` |
//! | [`zone`] | zones and presence with hysteresis |
//! | [`exercise`] | fitness pose classification and rep counting |
//! | [`output`] | events (JSON lines), GPIO, displays |
//! | [`runner`] | the edge loop: source → models → zones → events |
//! | [`bench`] | per-stage timings |

pub mod bench;
pub mod body;
pub mod config;
pub mod exercise;
pub mod files;
pub mod frame;
pub mod hold;
pub mod imgproc;
pub mod model;
pub mod output;
pub mod platform;
pub mod process;
pub mod pose;
pub mod runner;
pub mod segment;
pub mod source;
pub mod zone;
