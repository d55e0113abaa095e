//! JPEG decoding that matches OpenCV's `cv2.imread` bit for bit.
//!
//! MediaPipe's goldens, and the photos people feed MediaPipe, go through OpenCV, i.e. libjpeg-turbo
//! with its defaults (ISLOW IDCT, fancy upsampling). Pure-Rust decoders round differently (up to 5
//! levels on 8% of the values of a typical photo), which costs mask IoU, so JPEGs are decoded by
//! MozJPEG's copy of libjpeg-turbo's decoder instead, built as plain C: no SIMD, so no nasm and
//! the same result on x86 and ARM (libjpeg-turbo's ISLOW SIMD paths are bit-exact with the C
//! ones anyway). What OpenCV does after libjpeg is copied too: CMYK/YCCK is turned into RGB with
//! OpenCV's formula and the Exif orientation is reported so the caller can apply it.

use std::cell::RefCell;
use std::io::BufRead;
use std::os::raw::c_int;
use std::panic::{AssertUnwindSafe, catch_unwind};

use image::error::{DecodingError, ImageFormatHint};
use image::metadata::Orientation;
use image::{ImageError, ImageFormat, RgbImage};
use mozjpeg::{ColorSpace, Decompress, Marker};
use mozjpeg_sys::{jpeg_common_struct, jpeg_error_mgr, jpeg_std_error};

use super::FileError;

/// Exif lives in APP1, behind this signature.
const EXIF_SIGNATURE: &[u8] = b"Exif\0\0";

/// A decoded JPEG and the orientation its Exif asks for (not applied yet).
pub(super) struct Decoded {
    pub(super) image: RgbImage,
    pub(super) orientation: Orientation,
    /// libjpeg's first warning, e.g. "Premature end of JPEG file": the data was corrupt or cut
    /// short and the missing part is filled in (grey), as OpenCV shows it.
    pub(super) warning: Option<String>,
}

pub(super) enum Error {
    Image(ImageError),
    /// The header's size was refused by the caller's check.
    Refused(FileError),
}

/// Decodes a JPEG, after `check` has accepted the size its header announces. libjpeg reports
/// fatal errors by unwinding (see [`error_manager`]), which is caught here, so corrupt data is an
/// error, never a panic. Data that merely ends early or is damaged decodes like in OpenCV: libjpeg
/// fills the missing part and warns, and the warning is returned with the picture.
pub(super) fn decode(
    reader: impl BufRead,
    check: impl FnOnce((u32, u32)) -> Result<(), FileError>,
) -> Result<Decoded, Error> {
    WARNING.set(None);
    match catch_unwind(AssertUnwindSafe(|| decode_unguarded(reader, check))) {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "libjpeg failed".to_string());
            Err(Error::Image(decoding_error(message)))
        }
    }
}

fn decode_unguarded(
    reader: impl BufRead,
    check: impl FnOnce((u32, u32)) -> Result<(), FileError>,
) -> Result<Decoded, Error> {
    let io = |e: std::io::Error| Error::Image(decoding_error(e.to_string()));
    let decompress = Decompress::with_err(error_manager())
        .with_markers(&[Marker::APP(1)])
        .from_reader(reader)
        .map_err(io)?;
    let orientation = decompress
        .markers()
        .filter(|m| m.marker == Marker::APP(1))
        .find_map(|m| m.data.strip_prefix(EXIF_SIGNATURE))
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    // libjpeg refuses dimensions over 65500, so they fit.
    let (width, height) = (decompress.width() as u32, decompress.height() as u32);
    check((width, height)).map_err(Error::Refused)?;
    let cmyk = matches!(
        decompress.color_space(),
        ColorSpace::JCS_CMYK | ColorSpace::JCS_YCCK
    );
    let image = if cmyk {
        let mut started = decompress.to_colorspace(ColorSpace::JCS_CMYK).map_err(io)?;
        let cmyk: Vec<[u8; 4]> = started.read_scanlines().map_err(io)?;
        started.finish().map_err(io)?;
        let rgb = cmyk.iter().flat_map(|&p| cmyk_to_rgb(p)).collect();
        RgbImage::from_raw(width, height, rgb)
    } else {
        // Grayscale is replicated and RGB kept as it is, as OpenCV asks libjpeg for BGR.
        let mut started = decompress.rgb().map_err(io)?;
        let rgb: Vec<u8> = started.read_scanlines().map_err(io)?;
        started.finish().map_err(io)?;
        RgbImage::from_raw(width, height, rgb)
    };
    let image = image
        .ok_or_else(|| Error::Image(decoding_error("fewer pixels than the header says".into())))?;
    Ok(Decoded {
        image,
        orientation,
        warning: WARNING.take(),
    })
}

thread_local! {
    /// The first warning libjpeg gave in the decode running on this thread (libjpeg calls its
    /// error manager synchronously, and the manager has no room for our state).
    static WARNING: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// libjpeg's standard error manager, with fatal errors unwinding with their message (as the
/// mozjpeg crate's own manager does) and the first warning kept in [`WARNING`], where the crate's
/// manager drops every warning.
fn error_manager() -> jpeg_error_mgr {
    // SAFETY: all-zero is a valid `jpeg_error_mgr` (null pointers, no callbacks), which
    // `jpeg_std_error` then fills in completely.
    let mut err: jpeg_error_mgr = unsafe { std::mem::zeroed() };
    // SAFETY: `err` is a valid, exclusively borrowed manager for the call; libjpeg only writes
    // its fields (the returned pointer is `err` itself and is not kept).
    unsafe { jpeg_std_error(&mut err) };
    err.error_exit = Some(error_exit);
    err.emit_message = Some(emit_message);
    err
}

extern "C-unwind" fn error_exit(cinfo: &mut jpeg_common_struct) {
    std::panic::resume_unwind(Box::new(message(cinfo)));
}

/// Negative levels are warnings (corrupt data, premature end), the others trace messages.
extern "C-unwind" fn emit_message(cinfo: &mut jpeg_common_struct, level: c_int) {
    if level < 0 {
        WARNING.with_borrow_mut(|warning| {
            if warning.is_none() {
                *warning = Some(message(cinfo));
            }
        });
    }
}

/// libjpeg-turbo's `JMSG_LENGTH_MAX`; the Rust binding's buffer type says 80, which the C code
/// may overrun.
const MESSAGE_LENGTH: usize = 200;

/// The message of the error or warning libjpeg is reporting.
fn message(cinfo: &mut jpeg_common_struct) -> String {
    let mut buffer = [0u8; MESSAGE_LENGTH];
    // SAFETY: `cinfo.err` is the manager built by `error_manager`, whose `format_message` is
    // libjpeg's: it writes a NUL-terminated string of at most JMSG_LENGTH_MAX bytes to its second
    // argument, a plain pointer in C (hence the cast from the binding's `&[u8; 80]`).
    unsafe {
        if let Some(format) = (*cinfo.err).format_message {
            let format = std::mem::transmute::<
                unsafe extern "C-unwind" fn(&mut jpeg_common_struct, &[u8; 80]),
                unsafe extern "C-unwind" fn(&mut jpeg_common_struct, *mut u8),
            >(format);
            format(cinfo, buffer.as_mut_ptr());
        }
    }
    let len = buffer
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(MESSAGE_LENGTH);
    String::from_utf8_lossy(&buffer[..len]).into_owned()
}

/// OpenCV's `icvCvt_CMYK2BGR_8u_C4C3R`: libjpeg hands out Adobe's inverted CMYK.
fn cmyk_to_rgb([c, m, y, k]: [u8; 4]) -> [u8; 3] {
    let k = u32::from(k);
    let channel = |v: u8| (k - (((255 - u32::from(v)) * k) >> 8)) as u8;
    [channel(c), channel(m), channel(y)]
}

fn decoding_error(message: String) -> ImageError {
    ImageError::Decoding(DecodingError::new(
        ImageFormatHint::Exact(ImageFormat::Jpeg),
        message,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmyk_is_converted_like_opencv() {
        assert_eq!(cmyk_to_rgb([0, 0, 0, 0]), [0, 0, 0]);
        assert_eq!(cmyk_to_rgb([255, 255, 255, 255]), [255, 255, 255]);
        // k - (255 - c) * k / 256, truncated: 200 - 155 * 200 / 256 = 200 - 121.
        assert_eq!(cmyk_to_rgb([100, 255, 0, 200]), [79, 200, 1]);
    }

    #[test]
    fn garbage_after_the_soi_marker_is_an_error_not_a_panic() {
        let bytes: &[u8] = &[0xFF, 0xD8, 0xFF, 0x00, 0x12, 0x34];
        match decode(bytes, |_| Ok(())) {
            Err(Error::Image(ImageError::Decoding(_))) => {}
            Err(Error::Image(err)) => panic!("{err}"),
            Err(Error::Refused(err)) => panic!("{err}"),
            Ok(_) => panic!("decoded garbage"),
        }
    }
}
