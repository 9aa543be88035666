//! Reading multipart forms (a line with an optional receipt) with limits on every part.
//! The CSRF middleware reads them (it needs the token) and hands them on whole.

use std::cell::Cell;
use std::collections::HashMap;
use std::future::{Ready, ready};
use std::rc::Rc;

use actix_multipart::Multipart;
use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::header::HeaderMap;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use futures_util::StreamExt;

use super::AppError;

/// A posted urlencoded form as name/value pairs, for forms with repeated or optional
/// fields (role checkboxes, radio buttons).
pub type Fields = actix_web::web::Form<Vec<(String, String)>>;

/// The first value of `name` in a posted form; a missing field reads as empty.
pub fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// Text fields are short; a longer one keeps its first this many bytes, so the domain's
/// length check reports it on its field with the text still shown.
pub const TEXT_FIELD_LIMIT: usize = 16 * 1024;
/// A file part keeps at most this much; anything more is read and dropped, and the
/// form comes back with a message on the file's field.
pub const FILE_LIMIT: usize = 10 * 1024 * 1024;
/// The most a multipart body may send in all (a 20 MB receipt still gets the form back
/// with a message); past it the request is refused outright.
pub const BODY_LIMIT: usize = 32 * 1024 * 1024;
/// More parts than any of our forms has.
const MAX_PARTS: usize = 64;

/// A file part as posted; `too_large` when it passed [`FILE_LIMIT`] (then it is empty).
pub struct FilePart {
    pub bytes: Vec<u8>,
    pub too_large: bool,
}

/// A multipart form read by the CSRF middleware, handed to the handler whole.
#[derive(Default)]
pub struct MultipartForm {
    fields: HashMap<String, String>,
    files: HashMap<String, FilePart>,
}

impl MultipartForm {
    /// A text field; a missing one reads as empty.
    pub fn text(&self, name: &str) -> String {
        self.fields.get(name).cloned().unwrap_or_default()
    }

    /// The file posted as `name`, if one was chosen (browsers send an empty part
    /// when none was).
    pub fn take_file(&mut self, name: &str) -> Option<FilePart> {
        self.files
            .remove(name)
            .filter(|f| f.too_large || !f.bytes.is_empty())
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// Not a multipart body we can read.
    Malformed,
    /// More than the limit in all.
    TooLarge,
}

/// Reads every part of a multipart body as it streams in, holding at most
/// [`TEXT_FIELD_LIMIT`] per text part and `file_limit` for its one file part (a part
/// sent with a file name; a second is malformed), and refusing the body once more than `body_limit` bytes of it
/// (boundaries and headers included) have come. Invalid UTF-8 in a text field becomes
/// replacement characters (the domain then validates the text as usual).
pub async fn read_multipart<S>(
    headers: &HeaderMap,
    stream: S,
    file_limit: usize,
    body_limit: usize,
) -> Result<MultipartForm, ReadError>
where
    S: futures_util::Stream<Item = Result<Bytes, PayloadError>> + 'static,
{
    // Counted below the multipart parser, so no part of the body escapes the limit.
    let seen = Rc::new(Cell::new(0usize));
    let counter = seen.clone();
    let counted = stream.map(move |chunk| {
        let chunk = chunk?;
        counter.set(counter.get() + chunk.len());
        if counter.get() > body_limit {
            return Err(PayloadError::Overflow);
        }
        Ok(chunk)
    });
    let failed = |_| {
        if seen.get() > body_limit {
            ReadError::TooLarge
        } else {
            ReadError::Malformed
        }
    };
    let mut parts = Multipart::new(headers, counted);
    let mut form = MultipartForm::default();
    let mut count = 0usize;
    while let Some(part) = parts.next().await {
        let mut field = part.map_err(failed)?;
        count += 1;
        if count > MAX_PARTS {
            return Err(ReadError::Malformed);
        }
        let name = field.name().unwrap_or_default().to_owned();
        let is_file = field
            .content_disposition()
            .and_then(|d| d.get_filename())
            .is_some();
        // Our forms have one file field: a second file would only hold memory.
        if is_file && !form.files.is_empty() {
            return Err(ReadError::Malformed);
        }
        let limit = if is_file {
            file_limit
        } else {
            TEXT_FIELD_LIMIT
        };
        let (mut bytes, mut over) = (Vec::new(), false);
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(failed)?;
            let room = limit.saturating_sub(bytes.len());
            over |= chunk.len() > room;
            bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        if is_file {
            if over {
                bytes = Vec::new();
            }
            let too_large = over;
            form.files.insert(name, FilePart { bytes, too_large });
        } else {
            let mut text = String::from_utf8_lossy(&bytes).into_owned();
            // A cut inside a character leaves a replacement character: drop it.
            if over && text.ends_with('\u{FFFD}') {
                text.pop();
            }
            form.fields.insert(name, text);
        }
    }
    Ok(form)
}

/// The handler's side: the form the CSRF middleware read and checked.
impl FromRequest for MultipartForm {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions_mut()
                .remove::<MultipartForm>()
                .ok_or_else(|| AppError::BadRequest("The form could not be read.".into())),
        )
    }
}
