//! What a receipt's image must pass: it is decoded within limits (pixels, memory, one
//! decode per person, two at a time) and encoded afresh (PDFs: `receipt_pdf`). Used by
//! [`super::receipts::clean`].

use std::io::Cursor;
use std::sync::{Condvar, Mutex};

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits};

use super::receipts::Kind;

/// Images with more pixels are refused before decoding: a small file can declare a
/// huge image (a decompression bomb) that would take gigabytes to decode.
pub const MAX_PIXELS: u64 = 40_000_000;
/// Memory one image decode may take (40 megapixels of 8-bit RGBA is 160 MB).
const MAX_DECODE_BYTES: u64 = 200 * 1024 * 1024;
/// No side longer than this is decoded (checked by the decoder on the header).
const MAX_SIDE: u32 = 40_000;
const JPEG_QUALITY: u8 = 90;
fn too_many_pixels() -> String {
    format!(
        "the image is too large: at most {} megapixels",
        MAX_PIXELS / 1_000_000
    )
}

/// Decodes at once, each up to [`MAX_DECODE_BYTES`] (twice that while turning a
/// photo upright): with one per core, uploads cannot together exhaust memory.
const DECODES_AT_ONCE: usize = 2;

/// Who is decoding: (organisation id, user id).
pub type Decoder = (i64, i64);

/// Decodes under way, and whose.
struct Decoding {
    count: usize,
    people: Vec<Decoder>,
}

impl Decoding {
    /// A decode may start when a turn is free and `who` has none under way.
    fn may_start(&self, who: Option<Decoder>) -> bool {
        self.count < DECODES_AT_ONCE && who.is_none_or(|w| !self.people.contains(&w))
    }
}

static DECODES: (Mutex<Decoding>, Condvar) = (
    Mutex::new(Decoding {
        count: 0,
        people: Vec::new(),
    }),
    Condvar::new(),
);

/// One of the [`DECODES_AT_ONCE`] turns, held while an image is decoded.
pub(super) struct DecodeTurn(Option<Decoder>);

impl DecodeTurn {
    pub(super) fn take(who: Option<Decoder>) -> DecodeTurn {
        let (state, freed) = &DECODES;
        let mut d = state.lock().unwrap_or_else(|p| p.into_inner());
        while !d.may_start(who) {
            d = freed.wait(d).unwrap_or_else(|p| p.into_inner());
        }
        d.count += 1;
        d.people.extend(who);
        DecodeTurn(who)
    }
}

impl Drop for DecodeTurn {
    fn drop(&mut self) {
        let (state, freed) = &DECODES;
        let mut d = state.lock().unwrap_or_else(|p| p.into_inner());
        d.count -= 1;
        if let Some(i) = self.0.and_then(|w| d.people.iter().position(|p| *p == w)) {
            d.people.swap_remove(i);
        }
        // Waiters wait for different things (any turn, or their own to end): all look.
        freed.notify_all();
    }
}

/// Decodes the image and encodes it afresh in the same format. Only pixels survive;
/// the EXIF orientation is applied to them first so photos stay upright.
pub(super) fn reencode(bytes: &[u8], kind: Kind) -> Result<Vec<u8>, String> {
    let unreadable = |_| format!("the receipt could not be read as a {} image", kind.name());
    let format = if kind == Kind::Png {
        ImageFormat::Png
    } else {
        ImageFormat::Jpeg
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    // Pixels are not the whole story: 16-bit channels double the memory a decode
    // takes. This caps one decode whatever the pixel format.
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| match e {
        ImageError::Limits(_) => too_many_pixels(),
        e => unreadable(e),
    })?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(too_many_pixels());
    }
    // 16-bit channels double what the same pixels take: checked on the header too.
    if decoder.total_bytes() > MAX_DECODE_BYTES {
        return Err(
            "the image is too large to read: save it with 8-bit colour or at a smaller size".into(),
        );
    }
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| match e {
        ImageError::Limits(_) => too_many_pixels(),
        e => unreadable(e),
    })?;
    image.apply_orientation(orientation);
    let mut out = Vec::new();
    let written = match kind {
        Kind::Png => image.write_with_encoder(PngEncoder::new(&mut out)),
        _ => {
            // Baseline JPEG takes 8-bit grey or RGB; anything else becomes RGB.
            let image = match image {
                DynamicImage::ImageLuma8(_) | DynamicImage::ImageRgb8(_) => image,
                other => DynamicImage::ImageRgb8(other.to_rgb8()),
            };
            image.write_with_encoder(JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY))
        }
    };
    written.map_err(|e| {
        log::warn!("re-encoding a {} receipt failed: {e}", kind.name());
        format!("the receipt could not be read as a {} image", kind.name())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_person_decodes_one_image_at_a_time() {
        let (ann, bob) = ((1, 1), (1, 2));
        let mut d = Decoding {
            count: 1,
            people: vec![ann],
        };
        assert!(!d.may_start(Some(ann)), "Ann's second waits for her first");
        assert!(d.may_start(Some(bob)));
        assert!(d.may_start(Some((2, 1))), "user 1 of another organisation");
        assert!(d.may_start(None));
        d.count = DECODES_AT_ONCE;
        assert!(!d.may_start(Some(bob)), "no turn free");
    }
}
