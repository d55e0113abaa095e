//! bodyzone: MediaPipe body models on tract for ARM boards.
//!
//! The crate is a table of contents: one module per concept, in layers. A module uses only
//! modules of its own layer or the layers above it in this table (lower layers know nothing of
//! higher ones), and no two modules import each other. `docs/architecture.md` follows one camera
//! frame through them to a GPIO pin.
//!
//! | layer | module | what |
//! |---|---|---|
//! | 1. pixels and models | [`platform`] | CPU features, target |
//! | | [`process`] | the ways out: signals, panic hook, safe-state registry |
//! | | [`model`] | embedded ONNX models, loading them into tract, our kernels |
//! | | [`imgproc`] | image → tensor sampling (MediaPipe's ImageToTensor), mask resizing |
//! | | [`frame`] | camera frames, pixel formats, converters, person masks |
//! | | [`files`] | reading images, listing inputs, writing outputs atomically |
//! | | [`body`] | landmark names and indices, skeleton, a person's keypoints, postures |
//! | 2. sources | [`source`] | V4L2 cameras, stdin, images, videos, synthetic |
//! | 3. vision | [`segment`] | Selfie Segmentation: `Segmenter`, rendering |
//! | | [`pose`] | BlazePose GHUM: detector, landmarks, tracking |
//! | 4. rules | [`hold`] | believing a change once it has lasted |
//! | | [`zone`] | zones and presence with hysteresis |
//! | | [`exercise`] | posture classification, rep counting, the coach and its events |
//! | 5. outputs | [`output`] | JSON-lines events, GPIO, displays, systemd notifications |
//! | 6. runner | [`config`] | `bodyzone.toml`, building every layer's settings |
//! | | [`runner`] | the edge loop: source → models → coach → outputs |
//! | | [`bench`] | per-stage timings |
//! | 7. CLI | `src/cli` (the binary) | commands: wiring only |

pub mod platform;
pub mod process;

pub mod files;
pub mod frame;
pub mod imgproc;
pub mod model;

pub mod body;

pub mod source;

pub mod pose;
pub mod segment;

pub mod exercise;
pub mod hold;
pub mod zone;

pub mod output;

pub mod bench;
pub mod config;
pub mod runner;
