//! Reading images and writing output files without ever leaving a half-written one behind.
//!
//! Every output goes to a temporary file in the destination's directory and is renamed over the
//! destination once complete, so a crash or a full disk leaves either the old file or the new one.

use std::io::{BufWriter, Cursor, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageDecoder, ImageFormat, RgbImage};

mod jpeg;

/// A file that could not be read or written, named.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not a decodable JPEG/PNG/WebP/… image, or truncated.
    #[error("{}: not a readable image: {source}", .path.display())]
    NotAnImage {
        path: PathBuf,
        source: image::ImageError,
    },
    #[error("{}: could not encode: {source}", .path.display())]
    Encode {
        path: PathBuf,
        source: image::ImageError,
    },
}

/// Image file extensions accepted as input (what the `image` crate is built to decode).
pub const IMAGE_EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "webp", "bmp", "tiff"];

/// Whether `path` has an image extension (case-insensitive).
pub fn is_image_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// Decodes an image file to RGB as OpenCV's `cv2.imread` does, whatever its format says inside
/// (not trusting the extension): JPEGs through libjpeg-turbo's decoder (see [`jpeg`]), the rest
/// through the `image` crate, and the Exif orientation applied.
pub fn load_rgb(path: &Path) -> Result<RgbImage, FileError> {
    let bytes = std::fs::read(path).map_err(|source| FileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let not_an_image = |source| FileError::NotAnImage {
        path: path.to_path_buf(),
        source,
    };
    let (mut image, orientation) = if image::guess_format(&bytes).ok() == Some(ImageFormat::Jpeg) {
        let decoded = jpeg::decode(&bytes).map_err(not_an_image)?;
        (DynamicImage::ImageRgb8(decoded.image), decoded.orientation)
    } else {
        let mut decoder = image::ImageReader::new(Cursor::new(&bytes))
            .with_guessed_format()
            .map_err(|source| FileError::Io {
                path: path.to_path_buf(),
                source,
            })?
            .into_decoder()
            .map_err(not_an_image)?;
        let orientation = decoder.orientation().map_err(not_an_image)?;
        let image = DynamicImage::from_decoder(decoder).map_err(not_an_image)?;
        (image, orientation)
    };
    image.apply_orientation(orientation);
    Ok(image.into_rgb8())
}

/// An output file that appears at its path complete or not at all: written to a temporary file
/// in the same directory, renamed over `path` by [`AtomicFile::commit`]; dropped without a commit
/// (an error, a panic), the temporary file is removed and `path` is untouched.
pub struct AtomicFile {
    path: PathBuf,
    out: BufWriter<tempfile::NamedTempFile>,
}

impl AtomicFile {
    pub fn create(path: &Path) -> Result<Self, FileError> {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".bodyzone-")
            .suffix(".tmp")
            // tempfile's default 0600 would make outputs unreadable to the other users of a board
            // (a web server showing the snapshot): a new file gets what `creat` would give it.
            .permissions(std::fs::Permissions::from_mode(0o666 & !umask()))
            .tempfile_in(dir)
            .map_err(|source| FileError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Self {
            path: path.to_path_buf(),
            out: BufWriter::new(tmp),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes and renames the temporary file over the destination.
    pub fn commit(self) -> Result<(), FileError> {
        let path = self.path;
        let io = |source| FileError::Io {
            path: path.clone(),
            source,
        };
        let tmp = self.out.into_inner().map_err(|e| io(e.into_error()))?;
        tmp.persist(&path).map_err(|e| io(e.error))?;
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// The process's file-creation mask (read by setting it, then restoring it: POSIX has no getter).
fn umask() -> u32 {
    static UMASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *UMASK.get_or_init(|| {
        // SAFETY: umask only swaps an integer in the process; called once, before any file is
        // created through this module.
        let mask = unsafe { libc::umask(0o022) };
        // SAFETY: as above; this puts the mask back.
        unsafe { libc::umask(mask) };
        mask
    })
}

/// Writes `path` atomically with `write`, which gets a buffered writer on a temporary file.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), FileError> {
    let mut file = AtomicFile::create(path)?;
    write(&mut file).map_err(|source| FileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    file.commit()
}

/// Saves an image atomically, in the format its extension names (PNG when there is none).
pub fn save_image(path: &Path, image: &DynamicImage) -> Result<(), FileError> {
    let format = ImageFormat::from_path(path).unwrap_or(ImageFormat::Png);
    let mut encoded = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut encoded), format)
        .map_err(|source| FileError::Encode {
            path: path.to_path_buf(),
            source,
        })?;
    write_atomic(path, |out| out.write_all(&encoded))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.png");
        let err = write_atomic(&path, |_| Err(std::io::Error::other("disk full"))).unwrap_err();
        assert!(err.to_string().contains("out.png: disk full"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_text_file_is_not_an_image_and_says_which() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.png");
        std::fs::write(&path, "hello").unwrap();
        let err = load_rgb(&path).unwrap_err();
        assert!(matches!(err, FileError::NotAnImage { .. }));
        assert!(
            err.to_string().starts_with(&path.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn saved_png_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.png");
        let img = image::GrayImage::from_fn(3, 2, |x, y| image::Luma([(x * 10 + y) as u8]));
        save_image(&path, &DynamicImage::ImageLuma8(img.clone())).unwrap();
        assert_eq!(image::open(&path).unwrap().into_luma8(), img);
    }
}
