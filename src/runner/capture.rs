//! Capture and pixel conversion on a thread of their own, so decoding the next frame overlaps
//! inference on this one; buffers come back once analysed, so the steady state allocates no
//! frames.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use image::RgbImage;

use super::picture::Picture;
use super::pipeline::ms;
use crate::frame::Converter;
use crate::segment::ModelInput;
use crate::source::{FrameSource, SourceError};

/// A frame converted on the capture thread; its buffer goes back there once analysed.
pub(super) enum Converted {
    Full(RgbImage),
    Input(ModelInput),
}

impl Converted {
    pub(super) fn picture(&self) -> Picture<'_> {
        match self {
            Converted::Full(image) => Picture::Full(image),
            Converted::Input(input) => Picture::Input(input),
        }
    }
}

/// One captured frame, converted on the capture thread.
pub(super) struct Captured {
    pub(super) frame: Converted,
    pub(super) sequence: u64,
    pub(super) timestamp: Duration,
    pub(super) dropped: u64,
    pub(super) convert_ms: f32,
}

/// The converted frames as the capture thread hands them over.
pub(super) type Frames = Receiver<Result<Captured, SourceError>>;

/// Captures and converts on a thread of its own; at most two frames wait for the loop. Frames
/// are converted into `one_pass` inputs when given, else into full-size images; buffers coming
/// back through `recycled` are reused.
pub(super) fn spawn_capture(
    mut source: Box<dyn FrameSource>,
    stop: Arc<AtomicBool>,
    one_pass: Option<ModelInput>,
    recycled: Receiver<Converted>,
) -> std::io::Result<(Frames, JoinHandle<()>)> {
    let (tx, rx) = sync_channel(2);
    let thread = std::thread::Builder::new()
        .name("capture".into())
        .spawn(move || {
            let mut converter = Converter::new();
            while !stop.load(Ordering::Relaxed) {
                let message = match source.next_frame() {
                    Ok(None) => break,
                    Ok(Some(frame)) => {
                        let started = Instant::now();
                        let mut buffer = recycled.try_recv().unwrap_or_else(|_| match &one_pass {
                            Some(input) => Converted::Input(input.clone()),
                            None => Converted::Full(RgbImage::new(0, 0)),
                        });
                        let converted = match &mut buffer {
                            Converted::Full(image) => converter.to_rgb(&frame.raw(), image),
                            Converted::Input(input) => input.fill_raw(&frame.raw(), &mut converter),
                        };
                        let captured = Captured {
                            frame: buffer,
                            sequence: frame.sequence,
                            timestamp: frame.timestamp,
                            dropped: source.dropped(),
                            convert_ms: ms(started.elapsed()),
                        };
                        let device = source.describe();
                        source.recycle(frame);
                        converted
                            .map(|()| captured)
                            .map_err(|source| SourceError::Convert { device, source })
                    }
                    Err(err) => Err(err),
                };
                let fatal = message.as_ref().is_err_and(|e| !e.is_transient());
                if tx.send(message).is_err() || fatal {
                    break;
                }
            }
        })?;
    Ok((rx, thread))
}
