//! Still images and directories of images.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{FrameSource, SourceError};
use crate::files::{self, DecodeLimits};
use crate::frame::Frame;

/// One image, or every image of a directory in natural name order (`frame2` before `frame10`).
/// A directory's frames get timestamps `i / fps`.
#[derive(Debug)]
pub struct ImageSource {
    name: String,
    files: Vec<PathBuf>,
    next: usize,
    interval: Duration,
    limits: DecodeLimits,
}

impl ImageSource {
    pub fn image(path: &Path) -> Result<ImageSource, SourceError> {
        if !path.is_file() {
            return Err(SourceError::NotFound { path: path.into() });
        }
        Ok(ImageSource {
            name: path.display().to_string(),
            files: vec![path.into()],
            next: 0,
            interval: Duration::ZERO,
            limits: DecodeLimits::default(),
        })
    }

    pub fn directory(dir: &Path, fps: f64) -> Result<ImageSource, SourceError> {
        let io_err = |source| SourceError::Io {
            path: dir.into(),
            source,
        };
        let files = files::image_files(dir).map_err(io_err)?;
        if files.is_empty() {
            return Err(SourceError::NoImages { dir: dir.into() });
        }
        Ok(ImageSource {
            name: format!("{} ({} images)", dir.display(), files.len()),
            files,
            next: 0,
            interval: Duration::from_secs_f64(1.0 / fps),
            limits: DecodeLimits::default(),
        })
    }

    /// Refuses images over `limits` (from their headers) instead of the default.
    pub fn with_limits(self, limits: DecodeLimits) -> ImageSource {
        ImageSource { limits, ..self }
    }

    /// The files in the order they are delivered.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }
}

impl FrameSource for ImageSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        let Some(path) = self.files.get(self.next) else {
            return Ok(None);
        };
        let image = files::load_rgb_limited(path, &self.limits)?;
        let sequence = self.next as u64;
        self.next += 1;
        Ok(Some(Frame::from_rgb(
            image,
            self.interval * sequence as u32,
            sequence,
        )))
    }

    fn describe(&self) -> String {
        self.name.clone()
    }

    fn is_live(&self) -> bool {
        false
    }

    fn len_hint(&self) -> Option<u64> {
        Some(self.files.len() as u64)
    }
}
