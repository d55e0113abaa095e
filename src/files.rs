//! Reading images and writing output files without ever leaving a half-written one behind.
//!
//! Every output goes to a temporary file in the destination's directory, is fsynced, renamed over
//! the destination and the directory fsynced, so a crash, a power cut or a full disk leaves either
//! the old file or the new one. What is not a regular file is written as `cp` or `tee` would: a
//! device or FIFO is written in place (`--mask /dev/null` stays a device), a symlink keeps
//! pointing where it did and the file it points to is replaced.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use image::codecs::png::PngEncoder;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, RgbImage};

mod jpeg;
mod listing;

pub use listing::{image_files, natural_cmp};

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
    /// The header announces more pixels than [`DecodeLimits`] allows; nothing was decoded.
    #[error(
        "{}: {width}×{height} pixels is over the limit of {max_pixels} pixels per image",
        .path.display()
    )]
    TooLarge {
        path: PathBuf,
        width: u32,
        height: u32,
        max_pixels: u64,
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

/// How large a picture may be, checked on its header before any pixel is allocated: a corrupt or
/// hostile header (a 370-byte PNG claiming 100000×100000) must be an error, not an allocation the
/// kernel kills the process for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Width × height.
    pub max_pixels: u64,
}

impl DecodeLimits {
    /// 40 megapixels: a 12 MP phone photo (or a 24 MP camera's) fits with room to spare, and
    /// decoding and segmenting the largest accepted picture still fits a 1 GB board.
    pub const DEFAULT_MAX_PIXELS: u64 = 40_000_000;

    /// An error naming `path` when a `width × height` picture is over the limit.
    pub fn check(&self, path: &Path, (width, height): (u32, u32)) -> Result<(), FileError> {
        if u64::from(width) * u64::from(height) > self.max_pixels {
            return Err(FileError::TooLarge {
                path: path.to_path_buf(),
                width,
                height,
                max_pixels: self.max_pixels,
            });
        }
        Ok(())
    }
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_pixels: Self::DEFAULT_MAX_PIXELS,
        }
    }
}

/// [`load_rgb_limited`] with the default [`DecodeLimits`].
pub fn load_rgb(path: &Path) -> Result<RgbImage, FileError> {
    load_rgb_limited(path, &DecodeLimits::default())
}

/// Decodes an image file to RGB as OpenCV's `cv2.imread` does, whatever its format says inside
/// (not trusting the extension): JPEGs through libjpeg-turbo's decoder (see [`jpeg`]), the rest
/// through the `image` crate, and the Exif orientation applied. Pictures over `limits` are
/// refused from their header. A JPEG with corrupt or missing data decodes as far as it goes (the
/// rest grey, as in OpenCV) with a warning logged, since a cut-off photo still shows most of the
/// person.
pub fn load_rgb_limited(path: &Path, limits: &DecodeLimits) -> Result<RgbImage, FileError> {
    let file = File::open(path).map_err(|source| FileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    // Streamed from the file: a huge input is never held in memory whole.
    decode_rgb(BufReader::new(file), path, limits)
}

/// [`load_rgb_limited`] from any reader, a file's or bytes in memory (`std::io::Cursor`, what
/// `fuzz/` feeds); `path` only names the picture in errors.
pub fn decode_rgb(
    reader: impl BufRead + Seek,
    path: &Path,
    limits: &DecodeLimits,
) -> Result<RgbImage, FileError> {
    let io = |source| FileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let not_an_image = |source| FileError::NotAnImage {
        path: path.to_path_buf(),
        source,
    };
    let reader = ImageReader::new(reader).with_guessed_format().map_err(io)?;
    let (mut image, orientation) =
        if reader.format() == Some(ImageFormat::Jpeg) {
            let decoded = jpeg::decode(reader.into_inner(), |size| limits.check(path, size))
                .map_err(|err| match err {
                    jpeg::Error::Image(source) => not_an_image(source),
                    jpeg::Error::Refused(err) => err,
                })?;
            if let Some(warning) = decoded.warning {
                tracing::warn!(
                    "{}: corrupt or truncated JPEG ({warning}): decoded what is there",
                    path.display()
                );
            }
            (DynamicImage::ImageRgb8(decoded.image), decoded.orientation)
        } else {
            let mut decoder = reader.into_decoder().map_err(not_an_image)?;
            limits.check(path, decoder.dimensions())?;
            let orientation = decoder.orientation().map_err(not_an_image)?;
            let image = DynamicImage::from_decoder(decoder).map_err(not_an_image)?;
            (image, orientation)
        };
    image.apply_orientation(orientation);
    Ok(image.into_rgb8())
}

/// An output file that appears at its path complete or not at all: written to a temporary file
/// in the same directory, fsynced and renamed over `path` by [`AtomicFile::commit`]; dropped
/// without a commit (an error, a panic), the temporary file is removed and `path` is untouched.
/// A device or FIFO is written directly instead, and a symlink's target is the file replaced.
pub struct AtomicFile {
    path: PathBuf,
    out: BufWriter<Destination>,
}

enum Destination {
    /// Renamed over `target`: the path, or the file its symlinks lead to.
    Replace {
        tmp: tempfile::NamedTempFile,
        target: PathBuf,
    },
    /// A device or FIFO, which cannot be renamed over without replacing it by a plain file.
    InPlace(File),
}

impl Write for Destination {
    // Through the plain `File`: `NamedTempFile`'s own writes name the temporary file in their
    // errors, and users should only ever see the path they gave.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Destination::Replace { tmp, .. } => tmp.as_file_mut().write(buf),
            Destination::InPlace(file) => file.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Destination::Replace { tmp, .. } => tmp.as_file_mut().flush(),
            Destination::InPlace(file) => file.flush(),
        }
    }
}

impl AtomicFile {
    pub fn create(path: &Path) -> Result<Self, FileError> {
        let io = |source| FileError::Io {
            path: path.to_path_buf(),
            source,
        };
        let target = resolve_symlinks(path).map_err(io)?;
        let existing = match std::fs::metadata(&target) {
            Ok(meta) => Some(meta),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(err) => return Err(io(err)),
        };
        let destination = match existing {
            Some(meta) if meta.is_dir() => {
                return Err(io(std::io::ErrorKind::IsADirectory.into()));
            }
            // Opened without truncating, as `tee` does: a FIFO blocks here until it has a reader.
            Some(meta) if !meta.is_file() => {
                Destination::InPlace(OpenOptions::new().write(true).open(&target).map_err(io)?)
            }
            _ => {
                let tmp = tempfile::Builder::new()
                    .prefix(".bodyzone-")
                    .suffix(".tmp")
                    .make_in(parent_dir(&target), |tmp| {
                        // What `creat` would give a new file (tempfile's default is 0600, which
                        // hides outputs from the board's other users, e.g. a web server).
                        OpenOptions::new()
                            .write(true)
                            .create_new(true)
                            .mode(0o666)
                            .open(tmp)
                    })
                    // Our own `open`'s error, which names no temporary file.
                    .map_err(io)?;
                if let Some(meta) = existing {
                    // A replaced file keeps its mode, as it would if written in place.
                    tmp.as_file()
                        .set_permissions(std::fs::Permissions::from_mode(meta.mode() & 0o7777))
                        .map_err(io)?;
                }
                Destination::Replace { tmp, target }
            }
        };
        Ok(Self {
            path: path.to_path_buf(),
            out: BufWriter::new(destination),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes, fsyncs and renames the temporary file over the destination, then fsyncs the
    /// directory so the rename itself survives a power cut.
    pub fn commit(self) -> Result<(), FileError> {
        let path = self.path;
        let io = |source| FileError::Io {
            path: path.clone(),
            source,
        };
        match self.out.into_inner().map_err(|e| io(e.into_error()))? {
            Destination::InPlace(_) => Ok(()),
            Destination::Replace { tmp, target } => {
                tmp.as_file().sync_all().map_err(io)?;
                tmp.persist(&target).map_err(|e| io(e.error))?;
                File::open(parent_dir(&target))
                    .and_then(|dir| dir.sync_all())
                    .map_err(io)
            }
        }
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

/// The directory a file is in (`.` for a bare name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// The path `path`'s symlinks lead to, whether or not that file exists yet (`cp` writes through a
/// dangling symlink too).
fn resolve_symlinks(path: &Path) -> std::io::Result<PathBuf> {
    let mut path = path.to_path_buf();
    // Linux's own limit before ELOOP.
    for _ in 0..40 {
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                // A relative target is relative to the link's directory; `join` keeps an
                // absolute one as it is.
                path = parent_dir(&path).join(std::fs::read_link(&path)?);
            }
            _ => return Ok(path),
        }
    }
    Err(std::io::Error::from_raw_os_error(libc::ELOOP))
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
    let mut file = AtomicFile::create(path)?;
    let written = match format {
        // Straight into the file: a 12 MP overlay's PNG is megabytes that need not sit in memory.
        ImageFormat::Png => image.write_with_encoder(PngEncoder::new(&mut file)),
        // The other encoders want to seek.
        _ => {
            let mut encoded = Vec::new();
            image
                .write_to(&mut std::io::Cursor::new(&mut encoded), format)
                .and_then(|()| file.write_all(&encoded).map_err(ImageError::IoError))
        }
    };
    written.map_err(|err| match err {
        ImageError::IoError(source) => FileError::Io {
            path: path.to_path_buf(),
            source,
        },
        source => FileError::Encode {
            path: path.to_path_buf(),
            source,
        },
    })?;
    file.commit()
}

/// A file a command is about to write and what writes it (`--mask for photos/a.jpg`), for
/// [`check_outputs`].
#[derive(Clone, Debug)]
pub struct PlannedOutput {
    pub path: PathBuf,
    pub by: String,
}

/// Why [`check_outputs`] refused a command's outputs.
#[derive(Debug, thiserror::Error)]
pub enum OutputClash {
    #[error("{}: {by} would overwrite the input {}", .output.display(), .input.display())]
    OverwritesInput {
        output: PathBuf,
        by: String,
        input: PathBuf,
    },
    #[error("{}: written twice, by {first} and by {second}", .output.display())]
    WrittenTwice {
        output: PathBuf,
        first: String,
        second: String,
    },
}

/// Refuses, before any work is done, outputs that would overwrite an input or each other. Paths
/// are compared as the files they lead to: by device and inode where the file exists (so a
/// symlink or hard link to an input is that input), by canonical directory and name where it
/// does not yet. Devices and FIFOs may take several outputs (`--mask /dev/null --overlay
/// /dev/null`).
pub fn check_outputs(inputs: &[&Path], outputs: &[PlannedOutput]) -> Result<(), OutputClash> {
    let inputs: HashMap<Identity, &Path> = inputs
        .iter()
        .map(|&input| (Identity::of(input), input))
        .collect();
    let mut written: HashMap<Identity, &PlannedOutput> = HashMap::new();
    for output in outputs {
        let identity = Identity::of(&output.path);
        if let Some(input) = inputs.get(&identity) {
            return Err(OutputClash::OverwritesInput {
                output: output.path.clone(),
                by: output.by.clone(),
                input: input.to_path_buf(),
            });
        }
        if matches!(identity, Identity::Stream) {
            continue;
        }
        if let Some(first) = written.insert(identity, output) {
            return Err(OutputClash::WrittenTwice {
                output: output.path.clone(),
                first: first.by.clone(),
                second: output.by.clone(),
            });
        }
    }
    Ok(())
}

/// Which file a path leads to, for [`check_outputs`].
#[derive(Debug, PartialEq, Eq, Hash)]
enum Identity {
    File {
        dev: u64,
        ino: u64,
    },
    /// A device or FIFO: written in place, never replaced.
    Stream,
    /// Where a file that does not exist yet will be created.
    New(PathBuf),
}

impl Identity {
    fn of(path: &Path) -> Identity {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_file() || meta.is_dir() => Identity::File {
                dev: meta.dev(),
                ino: meta.ino(),
            },
            Ok(_) => Identity::Stream,
            Err(_) => Identity::New(location(path)),
        }
    }
}

/// `path` made absolute through its deepest existing ancestor's canonical path, symlinks
/// followed, so `out/./a.png`, `link-to-out/a.png` and `/abs/out/a.png` compare equal even
/// before `out` exists.
fn location(path: &Path) -> PathBuf {
    let path = resolve_symlinks(path).unwrap_or_else(|_| path.to_path_buf());
    let path = std::path::absolute(&path).unwrap_or(path);
    let mut ancestor = path.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = ancestor.canonicalize() {
            return rest.iter().rev().fold(real, |p, name| p.join(name));
        }
        match (ancestor.parent(), ancestor.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name);
                ancestor = parent;
            }
            _ => return path.clone(),
        }
    }
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
    fn errors_name_the_users_path_never_the_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing/out.png");
        let err = write_atomic(&path, |out| out.write_all(b"x")).unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with(&path.display().to_string()),
            "{message}"
        );
        assert!(!message.contains(".bodyzone-"), "{message}");
        let err = write_atomic(Path::new("/dev/full"), |out| {
            out.write_all(&[0; 1 << 16])?;
            out.flush()
        })
        .unwrap_err();
        assert!(err.to_string().starts_with("/dev/full: "), "{err}");
    }

    #[test]
    fn a_device_is_written_in_place_not_replaced() {
        write_atomic(Path::new("/dev/null"), |out| out.write_all(b"mask")).unwrap();
        let meta = std::fs::symlink_metadata("/dev/null").unwrap();
        assert!(std::os::unix::fs::FileTypeExt::is_char_device(
            &meta.file_type()
        ));
    }

    #[test]
    fn a_fifo_gets_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let reader = std::thread::spawn({
            let fifo = fifo.clone();
            move || std::fs::read(fifo).unwrap()
        });
        write_atomic(&fifo, |out| out.write_all(b"through the pipe")).unwrap();
        assert_eq!(reader.join().unwrap(), b"through the pipe");
        let meta = std::fs::symlink_metadata(&fifo).unwrap();
        assert!(std::os::unix::fs::FileTypeExt::is_fifo(&meta.file_type()));
    }

    #[test]
    fn a_symlink_keeps_pointing_at_its_file_which_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        let target = dir.path().join("real/out.json");
        std::fs::write(&target, "old").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink("real/out.json", &link).unwrap();
        write_atomic(&link, |out| out.write_all(b"new")).unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        let mode = std::fs::metadata(&target).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640, "the replaced file keeps its mode");
        // A dangling link is written through too, as `cp` would.
        let dangling = dir.path().join("dangling.json");
        std::os::unix::fs::symlink("real/new.json", &dangling).unwrap();
        write_atomic(&dangling, |out| out.write_all(b"created")).unwrap();
        let created = dir.path().join("real/new.json");
        assert_eq!(std::fs::read_to_string(created).unwrap(), "created");
        assert!(std::fs::symlink_metadata(&dangling).unwrap().is_symlink());
    }

    #[test]
    fn a_directory_is_not_an_output() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_atomic(dir.path(), |out| out.write_all(b"x")).unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
    }

    fn output(path: &Path, by: &str) -> PlannedOutput {
        PlannedOutput {
            path: path.to_path_buf(),
            by: by.into(),
        }
    }

    #[test]
    fn outputs_may_not_overwrite_an_input_by_any_name() {
        let dir = tempfile::tempdir().unwrap();
        let photo = dir.path().join("photo.jpg");
        std::fs::write(&photo, "jpeg").unwrap();
        let link = dir.path().join("link.png");
        std::os::unix::fs::symlink(&photo, &link).unwrap();
        let hard = dir.path().join("hard.png");
        std::fs::hard_link(&photo, &hard).unwrap();
        let dotted = dir.path().join(".").join("photo.jpg");
        for name in [&photo, &link, &hard, &dotted] {
            let err = check_outputs(&[&photo], &[output(name, "--mask")]).unwrap_err();
            assert!(matches!(err, OutputClash::OverwritesInput { .. }), "{err}");
            assert_eq!(
                err.to_string(),
                format!(
                    "{}: --mask would overwrite the input {}",
                    name.display(),
                    photo.display()
                )
            );
        }
        let fine = dir.path().join("mask.png");
        check_outputs(&[&photo], &[output(&fine, "--mask")]).unwrap();
    }

    #[test]
    fn outputs_may_not_collide_unless_they_stream() {
        let dir = tempfile::tempdir().unwrap();
        // Neither exists yet, nor does their directory.
        let a = dir.path().join("out/a.png");
        let b = dir.path().join("out/./a.png");
        let err = check_outputs(&[], &[output(&a, "--mask"), output(&b, "--overlay")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}: written twice, by --mask and by --overlay", b.display())
        );
        let null = Path::new("/dev/null");
        check_outputs(&[], &[output(null, "--mask"), output(null, "--overlay")]).unwrap();
    }

    #[test]
    fn decode_limits_take_a_phone_photo_and_refuse_a_huge_header() {
        let limits = DecodeLimits::default();
        let path = Path::new("big.png");
        limits.check(path, (4000, 3000)).unwrap();
        let err = limits.check(path, (100_000, 100_000)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "big.png: 100000×100000 pixels is over the limit of 40000000 pixels per image"
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
