//! JPEG decoding that matches OpenCV's `cv2.imread` bit for bit.
//!
//! MediaPipe's goldens, and the photos people feed MediaPipe, go through OpenCV, i.e. libjpeg-turbo
//! with its defaults (ISLOW IDCT, fancy upsampling). Pure-Rust decoders round differently (up to 5
//! levels on 8% of the values of a typical photo), which costs mask IoU, so JPEGs are decoded by
//! MozJPEG's copy of libjpeg-turbo's decoder instead, built as plain C: no SIMD, so no nasm and
//! the same result on x86 and ARM (libjpeg-turbo's ISLOW SIMD paths are bit-exact with the C
//! ones anyway). What OpenCV does after libjpeg is copied too: CMYK/YCCK is turned into RGB with
//! OpenCV's formula and the Exif orientation is reported so the caller can apply it.

use std::panic::{AssertUnwindSafe, catch_unwind};

use image::error::{DecodingError, ImageFormatHint, LimitError, LimitErrorKind};
use image::metadata::Orientation;
use image::{ImageError, ImageFormat, RgbImage};
use mozjpeg::{ColorSpace, Decompress, Marker};

/// Exif lives in APP1, behind this signature.
const EXIF_SIGNATURE: &[u8] = b"Exif\0\0";

/// A decoded JPEG and the orientation its Exif asks for (not applied yet).
pub(super) struct Decoded {
    pub(super) image: RgbImage,
    pub(super) orientation: Orientation,
}

/// Decodes a JPEG held in memory. libjpeg reports fatal errors by unwinding (MozJPEG's error
/// manager), which is caught here, so corrupt data is an error, never a panic. Data that merely
/// ends early decodes like in OpenCV: libjpeg fills the missing part and warns, silently here.
pub(super) fn decode(bytes: &[u8]) -> Result<Decoded, ImageError> {
    match catch_unwind(AssertUnwindSafe(|| decode_unguarded(bytes))) {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "libjpeg failed".to_string());
            Err(decoding_error(message))
        }
    }
}

fn decode_unguarded(bytes: &[u8]) -> Result<Decoded, ImageError> {
    let io = |e: std::io::Error| decoding_error(e.to_string());
    let decompress = Decompress::with_markers(&[Marker::APP(1)])
        .from_mem(bytes)
        .map_err(io)?;
    let orientation = decompress
        .markers()
        .filter(|m| m.marker == Marker::APP(1))
        .find_map(|m| m.data.strip_prefix(EXIF_SIGNATURE))
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    let (width, height) = decompress.size();
    check_size(width, height)?;
    let cmyk = matches!(
        decompress.color_space(),
        ColorSpace::JCS_CMYK | ColorSpace::JCS_YCCK
    );
    let (width, height) = (width as u32, height as u32);
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
    let image = image.ok_or_else(|| decoding_error("fewer pixels than the header says".into()))?;
    Ok(Decoded { image, orientation })
}

/// OpenCV's `icvCvt_CMYK2BGR_8u_C4C3R`: libjpeg hands out Adobe's inverted CMYK.
fn cmyk_to_rgb([c, m, y, k]: [u8; 4]) -> [u8; 3] {
    let k = u32::from(k);
    let channel = |v: u8| (k - (((255 - u32::from(v)) * k) >> 8)) as u8;
    [channel(c), channel(m), channel(y)]
}

/// The header's size is trusted only up to the `image` crate's default allocation limit, so a
/// corrupt or hostile header cannot make us fill gigabytes.
fn check_size(width: usize, height: usize) -> Result<(), ImageError> {
    let max = image::Limits::default().max_alloc.unwrap_or(u64::MAX);
    let needed = (width as u64)
        .saturating_mul(height as u64)
        .saturating_mul(4);
    if needed > max || u32::try_from(width.max(height)).is_err() {
        return Err(ImageError::Limits(LimitError::from_kind(
            LimitErrorKind::InsufficientMemory,
        )));
    }
    Ok(())
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
        let err = decode(&[0xFF, 0xD8, 0xFF, 0x00, 0x12, 0x34]).err().unwrap();
        assert!(matches!(err, ImageError::Decoding(_)), "{err}");
    }

    #[test]
    fn a_header_claiming_a_gigantic_image_is_refused() {
        assert!(check_size(65_000, 65_000).is_err());
        assert!(check_size(4000, 3000).is_ok());
    }
}
