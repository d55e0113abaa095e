//! `load_rgb` decodes JPEGs exactly as OpenCV's `cv2.imread` does (what MediaPipe's goldens and
//! users' pipelines are made with): same RGB bytes, Exif orientation applied.
//!
//! The reference is `tests/fixtures/jpeg/opencv_rgb.sha256`, the SHA-256 of OpenCV's RGB bytes
//! for every fixture JPEG, made by `tests/fixtures/jpeg/opencv_reference.py` (which also makes
//! the small JPEGs there: every chroma subsampling, progressive, restart markers, grayscale, CMYK,
//! Exif orientations 2–8, truncated data).

use std::io::Write;
use std::path::PathBuf;

use bodyzone::files::{FileError, load_rgb};
use sha2::{Digest, Sha256};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// (sha256 hex, (width, height), path) of every line of the reference.
fn reference() -> Vec<(String, (u32, u32), PathBuf)> {
    let path = root().join("tests/fixtures/jpeg/opencv_rgb.sha256");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|line| {
            let [digest, size, file] = line.split(' ').collect::<Vec<_>>()[..] else {
                panic!("bad reference line {line:?}");
            };
            let (w, h) = size.split_once('x').unwrap();
            (
                digest.to_string(),
                (w.parse().unwrap(), h.parse().unwrap()),
                root().join(file),
            )
        })
        .collect()
}

#[test]
fn jpegs_decode_to_the_same_bytes_as_opencv() {
    let cases = reference();
    assert!(cases.len() >= 20, "reference has {} entries", cases.len());
    let mut mismatched = Vec::new();
    for (digest, size, path) in &cases {
        let image = load_rgb(path).unwrap_or_else(|e| panic!("{e}"));
        let ours = format!("{:x}", Sha256::digest(image.as_raw()));
        if image.dimensions() != *size || ours != *digest {
            mismatched.push(format!(
                "{}: {:?} {ours}, OpenCV {size:?} {digest}",
                path.display(),
                image.dimensions()
            ));
        }
    }
    assert!(
        mismatched.is_empty(),
        "differs from OpenCV:\n{}",
        mismatched.join("\n")
    );
}

#[test]
fn a_corrupt_jpeg_is_a_named_error_not_a_panic() {
    let whole = std::fs::read(root().join("tests/fixtures/jpeg/yuv420.jpg")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Cut inside the header; a frame header (SOF0) claiming 7-bit samples.
    let mut bad_precision = whole.clone();
    let sof = whole.windows(2).position(|m| m == [0xFF, 0xC0]).unwrap();
    bad_precision[sof + 4] = 7;
    for (name, bytes) in [
        ("header.jpg", &whole[..40]),
        ("precision.jpg", &bad_precision[..]),
    ] {
        let path = dir.path().join(name);
        std::fs::File::create(&path)
            .unwrap()
            .write_all(bytes)
            .unwrap();
        match load_rgb(&path) {
            Err(err @ FileError::NotAnImage { .. }) => {
                assert!(
                    err.to_string().starts_with(&path.display().to_string()),
                    "{err}"
                )
            }
            other => panic!(
                "{name}: expected NotAnImage, got {:?}",
                other.map(|i| i.dimensions())
            ),
        }
    }
}
