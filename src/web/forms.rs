//! Reading multipart forms (a line with an optional receipt) with limits on every part.
//! The CSRF middleware has already checked the token and capped the whole body.

use std::collections::HashMap;

use actix_multipart::Multipart;
use futures_util::StreamExt;

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

/// Text fields are short; anything longer is cut off and reported by the domain.
pub const TEXT_FIELD_LIMIT: usize = 16 * 1024;
pub const FILE_LIMIT: usize = 10 * 1024 * 1024;

pub struct Upload {
    pub bytes: Vec<u8>,
}

#[derive(Default)]
pub struct MultipartForm {
    pub fields: HashMap<String, String>,
    pub file: Option<Upload>,
    /// The file part was larger than `FILE_LIMIT`.
    pub file_too_large: bool,
}

impl MultipartForm {
    pub fn text(&self, name: &str) -> String {
        self.fields.get(name).cloned().unwrap_or_default()
    }
}

/// Reads every part. Invalid UTF-8 in a text field becomes replacement characters
/// (the domain then validates the text as usual).
pub async fn read(mut parts: Multipart, file_field: &str) -> Result<MultipartForm, String> {
    let mut form = MultipartForm::default();
    while let Some(part) = parts.next().await {
        let mut field = part.map_err(|_| "the form could not be read".to_owned())?;
        let name = field.name().unwrap_or_default().to_owned();
        let is_file = name == file_field;
        let limit = if is_file {
            FILE_LIMIT
        } else {
            TEXT_FIELD_LIMIT
        };
        let mut bytes = Vec::new();
        let mut over = false;
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|_| "the form could not be read".to_owned())?;
            if bytes.len() + chunk.len() > limit {
                over = true;
                continue; // drain the part, keep nothing more
            }
            bytes.extend_from_slice(&chunk);
        }
        if is_file {
            form.file_too_large |= over;
            if !bytes.is_empty() && !over {
                form.file = Some(Upload { bytes });
            }
        } else {
            form.fields
                .insert(name, String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    Ok(form)
}
