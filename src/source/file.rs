//! Still images and directories of images.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::frame::Frame;
use super::{FrameSource, SourceError};
use crate::files;

/// One image, or every image of a directory in natural name order (`frame2` before `frame10`).
/// A directory's frames get timestamps `i / fps`.
#[derive(Debug)]
pub struct ImageSource {
    name: String,
    files: Vec<PathBuf>,
    next: usize,
    interval: Duration,
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
        })
    }

    pub fn directory(dir: &Path, fps: f64) -> Result<ImageSource, SourceError> {
        let io_err = |source| SourceError::Io {
            path: dir.into(),
            source,
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io_err)? {
            let path = entry.map_err(io_err)?.path();
            if files::is_image_path(&path) && path.is_file() {
                files.push(path);
            }
        }
        if files.is_empty() {
            return Err(SourceError::NoImages { dir: dir.into() });
        }
        files.sort_by(|a, b| natural_cmp(&a.to_string_lossy(), &b.to_string_lossy()));
        Ok(ImageSource {
            name: format!("{} ({} images)", dir.display(), files.len()),
            files,
            next: 0,
            interval: Duration::from_secs_f64(1.0 / fps),
        })
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
        let image = files::load_rgb(path)?;
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

/// Compares names with digit runs as numbers, so `img9.png` < `img10.png`.
pub(crate) fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        match (a.chars().next(), b.chars().next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.find(|c: char| !c.is_ascii_digit()).unwrap_or(a.len());
                let db = b.find(|c: char| !c.is_ascii_digit()).unwrap_or(b.len());
                let (na, nb) = (
                    a[..da].trim_start_matches('0'),
                    b[..db].trim_start_matches('0'),
                );
                // Longer number (without leading zeros) is larger; then digit by digit; then
                // fewer leading zeros first, so the order is total.
                let ord = na
                    .len()
                    .cmp(&nb.len())
                    .then_with(|| na.cmp(nb))
                    .then(da.cmp(&db));
                if ord != Ordering::Equal {
                    return ord;
                }
                (a, b) = (&a[da..], &b[db..]);
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(&y);
                }
                (a, b) = (&a[x.len_utf8()..], &b[y.len_utf8()..]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn natural_order() {
        let mut names = vec![
            "f10.png", "f9.png", "f1.png", "f01.png", "a.png", "f2b.png", "f2a.png",
        ];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            names,
            [
                "a.png", "f1.png", "f01.png", "f2a.png", "f2b.png", "f9.png", "f10.png"
            ]
        );
    }

    proptest! {
        #[test]
        fn natural_order_is_a_total_order(a in "[a-c0-9]{0,6}", b in "[a-c0-9]{0,6}", c in "[a-c0-9]{0,6}") {
            prop_assert_eq!(natural_cmp(&a, &b), natural_cmp(&b, &a).reverse());
            prop_assert_eq!(natural_cmp(&a, &b) == Ordering::Equal, a == b);
            if natural_cmp(&a, &b) != Ordering::Greater && natural_cmp(&b, &c) != Ordering::Greater {
                prop_assert_ne!(natural_cmp(&a, &c), Ordering::Greater);
            }
        }
    }
}
