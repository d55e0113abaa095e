//! Raw frames back to back on a byte stream: `rpicam-vid --codec yuv420 -o -` or a GStreamer
//! `fdsink` pipe on stdin. Generic over [`Read`], so tests feed bytes.

use std::io::Read;

use super::{Capture, SourceError};
use crate::frame::{Frame, PixelFormat, YuvMode};

/// Reads fixed-size frames of one raw format; the end of the stream at a frame boundary is the
/// end of the source, anywhere else [`SourceError::Truncated`].
pub struct RawReader<R> {
    reader: R,
    name: String,
    format: PixelFormat,
    width: u32,
    height: u32,
    yuv: YuvMode,
    stride: usize,
    frame_len: usize,
    next: u64,
}

impl<R: Read> RawReader<R> {
    /// Fails for compressed or unknown formats: a pipe has no frame boundaries for them. Fails
    /// for a zero width or height too: frames of no bytes would be read forever from nothing.
    pub fn new(
        reader: R,
        name: &str,
        format: PixelFormat,
        width: u32,
        height: u32,
        yuv: YuvMode,
    ) -> Result<RawReader<R>, SourceError> {
        let stride = format
            .min_stride(width)
            .ok_or_else(|| SourceError::BadSpec {
                spec: format!("{name}:{format}"),
                field: "format".into(),
                expected: "a raw format: yuv420, nv12, yuyv or rgb24".into(),
            })?;
        if width == 0 || height == 0 {
            return Err(SourceError::BadSpec {
                spec: format!("{name}:{format}:{width}x{height}"),
                field: "size".into(),
                expected: "a width and a height above 0".into(),
            });
        }
        let frame_len = format
            .frame_len(stride, height)
            .expect("raw formats have a length");
        Ok(RawReader {
            reader,
            name: name.into(),
            format,
            width,
            height,
            yuv,
            stride,
            frame_len,
            next: 0,
        })
    }

    /// Bytes per frame.
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }
}

impl<R: Read + Send> Capture for RawReader<R> {
    fn grab(&mut self, frame: &mut Frame) -> Result<bool, SourceError> {
        frame.data.resize(self.frame_len, 0);
        let mut filled = 0;
        while filled < self.frame_len {
            match self.reader.read(&mut frame.data[filled..]) {
                Ok(0) if filled == 0 => return Ok(false),
                Ok(0) => {
                    return Err(SourceError::Truncated {
                        path: self.name.clone().into(),
                        frames: self.next,
                        detail: format!(
                            "last frame has {filled} of {} bytes: is the size {}x{} and format {} right?",
                            self.frame_len, self.width, self.height, self.format
                        ),
                    });
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(SourceError::Io {
                        path: self.name.clone().into(),
                        source,
                    });
                }
            }
        }
        frame.format = self.format;
        frame.width = self.width;
        frame.height = self.height;
        frame.stride = self.stride;
        frame.yuv = self.yuv;
        frame.sequence = self.next;
        self.next += 1;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_frames_until_eof() {
        // Two 4x2 I420 frames: 8 luma + 2 + 2 chroma bytes each.
        let bytes: Vec<u8> = (0..24).collect();
        let mut r = RawReader::new(
            &bytes[..],
            "stdin",
            PixelFormat::Yuv420,
            4,
            2,
            YuvMode::Bt601Limited,
        )
        .unwrap();
        assert_eq!(r.frame_len(), 12);
        let mut f = Frame::empty();
        assert!(r.grab(&mut f).unwrap());
        assert_eq!((f.data[0], f.sequence, f.width, f.stride), (0, 0, 4, 4));
        assert!(r.grab(&mut f).unwrap());
        assert_eq!((f.data[0], f.sequence), (12, 1));
        assert!(!r.grab(&mut f).unwrap());
    }

    #[test]
    fn partial_frame_is_truncation() {
        let bytes = [0u8; 20];
        let mut r = RawReader::new(
            &bytes[..],
            "stdin",
            PixelFormat::Yuyv,
            2,
            2,
            YuvMode::Bt601Limited,
        )
        .unwrap();
        let mut f = Frame::empty();
        for _ in 0..2 {
            assert!(r.grab(&mut f).unwrap());
        }
        let err = r.grab(&mut f).unwrap_err().to_string();
        assert_eq!(
            err,
            "stdin: truncated or corrupt after 2 frames (last frame has 4 of 8 bytes: \
             is the size 2x2 and format YUYV right?)"
        );
    }

    /// Found by `fuzz/` (stdin_reader): a 45x0 reader handed out empty frames forever, each
    /// one refused by the converter, and never reached the end of its stream.
    #[test]
    fn a_zero_size_is_refused() {
        for (width, height) in [(45, 0), (0, 3), (0, 0)] {
            let err = RawReader::new(
                &[][..],
                "stdin",
                PixelFormat::Yuv420,
                width,
                height,
                YuvMode::Bt601Limited,
            )
            .err()
            .unwrap();
            assert!(
                err.to_string()
                    .contains("size: expected a width and a height above 0"),
                "{err}"
            );
        }
    }

    #[test]
    fn compressed_formats_are_refused() {
        let err = RawReader::new(
            &[][..],
            "stdin",
            PixelFormat::Mjpeg,
            2,
            2,
            YuvMode::Bt601Full,
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("expected a raw format"), "{err}");
    }
}
