//! Receipts: JPEG, PNG or PDF files of at most 10 MB, recognised by their content
//! (magic bytes), never by the file's name or the type the browser declared. Images
//! are decoded and encoded afresh, which drops EXIF (GPS position, camera, time), text
//! chunks, embedded thumbnails and anything appended after the image (a polyglot's
//! payload). PDFs are checked (see [`super::receipt_check`]) and stored as uploaded.
//! Every receipt is sealed under the claim owner's key, so erasing the person erases
//! their receipts too. Nothing here knows about HTTP.

use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;

use super::claims::{self, AddLine, ClaimError, LineInput};
use super::lines;
use super::receipt_allowance;
use super::receipt_check::{DecodeTurn, reencode};
pub use super::receipt_check::{Decoder, MAX_PIXELS};
use super::receipt_pdf::check_pdf;
use crate::auth::Roles;
use crate::crypto::Sealed;
use crate::crypto::columns::ReceiptFile;
use crate::db::now_unix;
use crate::db::schema::org::{claims as claims_t, receipts};
use crate::ids::{PersonKeyId, UserId};
use crate::tenancy::Org;

/// The largest receipt accepted, in bytes.
pub const MAX_BYTES: usize = 10 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Jpeg,
    Png,
    Pdf,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Jpeg, Kind::Png, Kind::Pdf];

    pub fn content_type(self) -> &'static str {
        match self {
            Kind::Jpeg => "image/jpeg",
            Kind::Png => "image/png",
            Kind::Pdf => "application/pdf",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Kind::Jpeg => "jpg",
            Kind::Png => "png",
            Kind::Pdf => "pdf",
        }
    }

    pub fn from_content_type(content_type: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.content_type() == content_type)
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::Jpeg => "JPEG",
            Kind::Png => "PNG",
            Kind::Pdf => "PDF",
        }
    }
}

/// What the bytes are, by their first bytes only.
pub fn sniff(bytes: &[u8]) -> Option<Kind> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(Kind::Jpeg)
    } else if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some(Kind::Png)
    } else if bytes.starts_with(b"%PDF-") {
        Some(Kind::Pdf)
    } else {
        None
    }
}

/// A receipt fit to store: its kind and the bytes that will be kept.
pub struct CleanReceipt {
    pub kind: Kind,
    pub bytes: Vec<u8>,
}

pub fn too_large_message() -> String {
    "a receipt can be at most 10 MB".into()
}

/// Checks an upload and gives what to store, or a message for the person uploading.
pub fn clean(bytes: &[u8]) -> Result<CleanReceipt, String> {
    clean_for(bytes, None)
}

/// As [`clean`], for `who` (organisation id, user id): one person decodes one image
/// at a time, so however fast they send, their images take at most one core.
pub fn clean_for(bytes: &[u8], who: Option<Decoder>) -> Result<CleanReceipt, String> {
    if bytes.len() > MAX_BYTES {
        return Err(too_large_message());
    }
    let kind = sniff(bytes).ok_or_else(|| {
        "a receipt must be a JPEG, PNG or PDF file, and this file is none of these \
         (whatever its name says)"
            .to_owned()
    })?;
    let bytes = match kind {
        Kind::Jpeg | Kind::Png => {
            let _turn = DecodeTurn::take(who);
            reencode(bytes, kind)?
        }
        Kind::Pdf => {
            check_pdf(bytes)?;
            // Stored as uploaded: PDFs are not rewritten here, so their own metadata
            // (author, software) stays. They are only ever served as a download with
            // their content type and `nosniff`, never shown inline by this site.
            bytes.to_vec()
        }
    };
    Ok(CleanReceipt { kind, bytes })
}

/// A receipt as the form delivered it.
pub enum Upload {
    None,
    /// The file was over the size limit and was not kept.
    TooLarge,
    /// Something was sent as the receipt, but as text rather than as a file (a
    /// script's form): nothing of it is kept.
    NotAFile,
    File(Vec<u8>),
}

impl Upload {
    /// The receipt checked and cleaned, none, or what is wrong with it (for the
    /// form's receipt field).
    fn cleaned(self, org: &Org, owner: UserId) -> Result<Option<CleanReceipt>, String> {
        match self {
            Upload::None => Ok(None),
            Upload::TooLarge => Err(too_large_message()),
            Upload::NotAFile => Err("attach the receipt as a file".into()),
            Upload::File(bytes) => clean_for(&bytes, Some((org.id.0, owner.0))).map(Some),
        }
    }

    /// As [`Upload::cleaned`], once the owner's daily allowance allows another file
    /// (checked before the file is decoded). The outer error is a fault; the inner one
    /// the message for the receipt field.
    pub fn checked(
        self,
        org: &Org,
        owner: UserId,
    ) -> Result<Result<Option<CleanReceipt>, String>, ClaimError> {
        if let Upload::File(_) = self
            && let Some(refused) = receipt_allowance::refusal(org, owner)?
        {
            return Ok(Err(refused));
        }
        Ok(self.cleaned(org, owner))
    }
}

/// What is stored about a receipt, without its (sealed) file.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = receipts)]
pub struct ReceiptMeta {
    pub id: i64,
    pub claim_id: i64,
    pub line_id: Option<i64>,
    pub content_type: String,
    pub size: i64,
    pub created_at: i64,
}

impl ReceiptMeta {
    pub fn kind(&self) -> Option<Kind> {
        Kind::from_content_type(&self.content_type)
    }
}

pub(super) fn seal(
    org: &Org,
    owner_key: PersonKeyId,
    receipt: &CleanReceipt,
) -> Result<Sealed<ReceiptFile>, ClaimError> {
    Ok(org
        .keys
        .seal_bytes::<ReceiptFile>(owner_key, &receipt.bytes)?)
}

pub(super) fn insert_row(
    c: &mut SqliteConnection,
    claim_id: i64,
    line_id: Option<i64>,
    receipt: &CleanReceipt,
    data: &Sealed<ReceiptFile>,
) -> QueryResult<i64> {
    let id = super::row_ids::next(c, super::row_ids::Table::Receipts)?;
    diesel::insert_into(receipts::table)
        .values((
            receipts::id.eq(id),
            receipts::claim_id.eq(claim_id),
            receipts::line_id.eq(line_id),
            receipts::content_type.eq(receipt.kind.content_type()),
            receipts::size.eq(receipt.bytes.len() as i64),
            receipts::data.eq(data),
            receipts::created_at.eq(now_unix()),
        ))
        .execute(c)?;
    Ok(id)
}

/// Adds a line to the owner's draft claim together with its receipt, if any: the
/// line's fields and the file are checked first (every problem comes back, the file's
/// under `receipt`), then line and receipt are written in one transaction.
pub fn add_line_with_receipt(
    org: &Org,
    owner: UserId,
    claim_id: i64,
    input: &LineInput,
    upload: Upload,
) -> Result<AddLine, ClaimError> {
    if lines::already_added(org, owner, claim_id, &input.form_key)? {
        return Ok(AddLine::Added);
    }
    let line = lines::validate(org, owner, claim_id, input)?;
    let receipt = upload.checked(org, owner)?;
    let (line, receipt) = match (line, receipt) {
        (Ok(line), Ok(receipt)) => (line, receipt),
        (line, receipt) => {
            let mut errors = line.err().unwrap_or_default();
            if let Err(msg) = receipt {
                errors.add("receipt", msg);
            }
            return Ok(AddLine::Invalid(errors));
        }
    };
    let sealed = match &receipt {
        Some(r) => Some(seal(org, line.owner_key(), r)?),
        None => None,
    };
    lines::insert(org, &line, |c, line_id| {
        if let (Some(r), Some(data)) = (&receipt, &sealed) {
            insert_row(c, line.claim_id(), Some(line_id), r, data)?;
        }
        Ok(())
    })?;
    Ok(AddLine::Added)
}

/// A receipt and its file: `None` if its owner was erased (their key is gone).
pub fn get(org: &Org, receipt_id: i64) -> Result<(ReceiptMeta, Option<Vec<u8>>), ClaimError> {
    let mut conn = org.conn()?;
    let (meta, data): (ReceiptMeta, Sealed<ReceiptFile>) = receipts::table
        .find(receipt_id)
        .select((ReceiptMeta::as_select(), receipts::data))
        .first(&mut conn)
        .optional()?
        .ok_or(ClaimError::NotFound)?;
    let bytes = org.keys.open_bytes(&data)?;
    Ok((meta, bytes))
}

/// A receipt's file for `owner`'s data export: only while it is on a claim of theirs
/// and sealed under their key (`key`); `None` otherwise, or if it was erased or
/// removed. Ids of deleted rows can be given again, so an id noted before the export
/// was written is checked here, not trusted.
pub fn file_for_owner(
    org: &Org,
    receipt_id: i64,
    owner: UserId,
    key: PersonKeyId,
) -> Result<Option<Vec<u8>>, ClaimError> {
    let mut conn = org.conn()?;
    let data: Option<Sealed<ReceiptFile>> = receipts::table
        .inner_join(claims_t::table)
        .filter(receipts::id.eq(receipt_id))
        .filter(claims_t::owner_id.eq(owner.0))
        .select(receipts::data)
        .first(&mut conn)
        .optional()?;
    drop(conn);
    let Some(data) = data else {
        return Ok(None);
    };
    let sealed_under = crate::crypto::envelope::key_id(data.ciphertext()).ok();
    if sealed_under != u64::try_from(key.0).ok() {
        return Ok(None);
    }
    Ok(org.keys.open_bytes(&data)?)
}

/// A receipt of claim `claim_id` for `viewer`, who must have a part in that claim;
/// otherwise, or if the receipt belongs to another claim, `NotFound` (as for a claim).
/// Nothing is decrypted before the check. Also gives the claim's owner.
pub fn get_for(
    org: &Org,
    viewer: UserId,
    roles: Roles,
    claim_id: i64,
    receipt_id: i64,
) -> Result<(ReceiptMeta, Option<Vec<u8>>, UserId), ClaimError> {
    let claim = claims::get(org, claim_id)?;
    if claims::role_for(org, viewer, roles, &claim)?.is_none() {
        return Err(ClaimError::NotFound);
    }
    // The connection goes back before `get` takes one: never two at once.
    let of_claim: i64 = receipts::table
        .filter(receipts::id.eq(receipt_id))
        .filter(receipts::claim_id.eq(claim_id))
        .count()
        .get_result(&mut org.conn()?)?;
    if of_claim == 0 {
        return Err(ClaimError::NotFound);
    }
    let (meta, bytes) = get(org, receipt_id)?;
    Ok((meta, bytes, UserId(claim.owner_id)))
}

/// The receipts of a claim, oldest first, without their files.
pub fn for_claim(org: &Org, claim_id: i64) -> Result<Vec<ReceiptMeta>, ClaimError> {
    let mut conn = org.conn()?;
    Ok(receipts::table
        .filter(receipts::claim_id.eq(claim_id))
        .order(receipts::id)
        .select(ReceiptMeta::as_select())
        .load(&mut conn)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_content_only() {
        assert_eq!(sniff(b"\xff\xd8\xff\xe0rest"), Some(Kind::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some(Kind::Png));
        assert_eq!(sniff(b"%PDF-1.7\n"), Some(Kind::Pdf));
        assert_eq!(sniff(b"<html><body>hi</body></html>"), None);
        assert_eq!(sniff(b"PK\x03\x04zip"), None);
        assert_eq!(sniff(b""), None);
    }

    const PDF: &[u8] = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n\
        xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Root 1 0 R >>\nstartxref\n9\n%%EOF\n";

    #[test]
    fn pdf_needs_its_end_where_readers_look() {
        assert!(clean(PDF).is_ok());
        assert!(clean(b"%PDF-1.4\n1 0 obj\n").is_err());
        // A web page with a PDF's first and last line is not a PDF.
        let page = b"%PDF-1.4\n<html><script>alert(document.domain)</script></html>\n%%EOF\n";
        let err = clean(page).err().unwrap();
        assert!(err.contains("incomplete or damaged"), "{err}");
        let mut far = PDF.to_vec();
        far.extend(std::iter::repeat_n(b' ', 2000));
        assert!(clean(&far).is_err());
    }

    #[test]
    fn pdfs_with_scripts_or_launch_actions_are_refused() {
        let with = |extra: &str| {
            let text = String::from_utf8_lossy(PDF)
                .replace("/Pages 2 0 R", &format!("/Pages 2 0 R {extra}"));
            clean(text.as_bytes())
        };
        for active in [
            "/OpenAction << /S /JavaScript /JS (app.alert(1)) >>",
            "/OpenAction<</S/Launch/F(cmd.exe)>>",
            // The same name spelt with escapes, or ended by a NUL.
            "/AA << /O << /S /J#61vaScript >> >>",
            "/AA<</O<</S/JavaScript\0>>>>",
        ] {
            let err = with(active).err().unwrap_or_default();
            assert!(err.contains("scripts"), "{active}: {err}");
        }
        // Ordinary names, a name that merely starts like one, attached files (an
        // e-invoice's XML), and stream data that spells a short name by chance all pass.
        assert!(with("/OpenAction [3 0 R /Fit] /PageMode /UseNone /JSON 1").is_ok());
        assert!(with("/Names << /EmbeddedFiles 3 0 R >>").is_ok());
        assert!(
            with(
                ">> endobj 4 0 obj << /Length 9 >>\nstream\nx/JS /AA\nendstream\nendobj 5 0 obj <<"
            )
            .is_ok()
        );
        // ...but not a script after a stream.
        let after = with(
            ">> endobj 4 0 obj << /Length 1 >>\nstream\nx\nendstream\nendobj 5 0 obj << /S /JavaScript",
        );
        assert!(after.is_err());
    }

    #[test]
    fn broken_images_and_bombs_are_refused_plainly() {
        let err = clean(b"\xff\xd8\xff\xe0 not really a jpeg").err().unwrap();
        assert!(err.contains("could not be read as a JPEG"), "{err}");
        // A PNG declaring 8000 x 8000 pixels in a few bytes: refused on its header,
        // before any pixel is decoded.
        let mut ihdr = 8_000u32.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&8_000u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(png_chunk(b"IHDR", &ihdr));
        png.extend(png_chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00]));
        png.extend(png_chunk(b"IEND", &[]));
        let err = clean(&png).err().unwrap();
        assert!(err.contains("megapixels"), "{err}");
        // Under the pixel limit, but 16-bit RGBA: 30 megapixels at 8 bytes each would
        // take 240 MB to decode. Refused on its header too.
        let mut ihdr = 6_000u32.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&5_000u32.to_be_bytes());
        ihdr.extend_from_slice(&[16, 6, 0, 0, 0]);
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(png_chunk(b"IHDR", &ihdr));
        png.extend(png_chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00]));
        png.extend(png_chunk(b"IEND", &[]));
        let err = clean(&png).err().unwrap();
        assert!(err.contains("8-bit colour"), "{err}");
    }

    #[test]
    fn over_the_size_limit_is_refused() {
        let mut big = b"%PDF-1.4\n".to_vec();
        big.resize(MAX_BYTES + 1, b' ');
        assert_eq!(clean(&big).err().unwrap(), too_large_message());
    }

    /// One PNG chunk: length, type, data and the CRC-32 of type and data.
    fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in kind.iter().chain(data) {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&(!crc).to_be_bytes());
        out
    }
}
