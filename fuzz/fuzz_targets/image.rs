//! Image files as a person or a directory source hands them over: JPEG (libjpeg through mozjpeg),
//! PNG, WebP, BMP, TIFF, PNM, or anything else. Errors are fine; panics, aborts and hangs are not.
#![no_main]

use std::io::Cursor;
use std::path::Path;

use bodyzone::files::{DecodeLimits, decode_rgb};
use libfuzzer_sys::fuzz_target;

/// Below the product's 40 MP so that a tiny header announcing a huge picture costs milliseconds,
/// not seconds, per input; the limit is checked the same way.
const LIMITS: DecodeLimits = DecodeLimits {
    max_pixels: 1_000_000,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(image) = decode_rgb(Cursor::new(data), Path::new("fuzz"), &LIMITS) {
        // A decoded image is whole: its buffer matches its size.
        assert_eq!(
            image.as_raw().len(),
            3 * image.width() as usize * image.height() as usize
        );
    }
});
