//! Writing the access and portability export ([`super::export`]) as a ZIP: the texts
//! are made first (so errors come before anything is sent), then the archive is
//! written as it goes, one receipt opened at a time.

use std::io::Write;

use askama::Template;

use super::PrivacyError;
use super::export::{Files, SCHEMA_DOC, SubjectData, collect};
use super::retention::{self, Periods};
use crate::expenses::receipts;
use crate::ids::UserId;
use crate::tenancy::Org;

#[derive(Template)]
#[template(path = "report.html")]
struct Report<'a> {
    d: &'a SubjectData,
    periods: Periods,
    schema_doc: &'a str,
}

fn zip_err(e: impl std::fmt::Display) -> PrivacyError {
    PrivacyError::Export(e.to_string())
}

/// An export ready to be written: its texts made, its receipts still sealed.
pub struct Prepared {
    subject: UserId,
    key: crate::ids::PersonKeyId,
    readme: String,
    json: Vec<u8>,
    report: String,
    files: Files,
}

/// Gathers the person's data and renders the texts of their ZIP. Errors (no such
/// person, a database fault) come from here, before anything is sent.
pub fn prepare(org: &Org, subject: UserId) -> Result<Prepared, PrivacyError> {
    let (data, files) = collect(org, subject)?;
    let periods = retention::periods(org)?;
    let json = serde_json::to_vec_pretty(&data).map_err(zip_err)?;
    let report = Report {
        d: &data,
        periods,
        schema_doc: SCHEMA_DOC,
    }
    .render()
    .map_err(zip_err)?;
    let readme = format!(
        "Personal data held about you by {} in ExpensePlus.\n\n\
         report.html  the same data, readable in any browser (no internet needed), with\n\
         \x20            what the data is used for, who receives it, how long it is kept\n\
         \x20            and your rights\n\
         data.json    the data in a machine-readable form (schema below)\n\
         receipts/    the receipt files you uploaded\n\n{SCHEMA_DOC}",
        data.organisation
    );
    let key = crate::auth::users::get(org, subject)?
        .ok_or(PrivacyError::NotFound)?
        .person_key();
    Ok(Prepared {
        subject,
        key,
        readme,
        json,
        report,
        files,
    })
}

impl Prepared {
    /// Writes the ZIP (`README.txt`, `data.json`, `report.html`, `receipts/`) to `out`
    /// as it goes, without seeking. Each receipt is opened just before it is written
    /// and dropped after, so memory holds one receipt, however many the person has;
    /// nothing is written to disk. Gives `out` back.
    pub fn write_zip<W: Write>(&self, org: &Org, out: W) -> Result<W, PrivacyError> {
        let mut zip = zip::ZipWriter::new_stream(out);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in [
            ("README.txt", self.readme.as_bytes()),
            ("data.json", &self.json[..]),
            ("report.html", self.report.as_bytes()),
        ] {
            zip.start_file(name, options).map_err(zip_err)?;
            zip.write_all(bytes).map_err(zip_err)?;
        }
        // Receipts are compressed already (JPEG, PNG, PDF): stored as they are.
        let stored = options.compression_method(zip::CompressionMethod::Stored);
        for (name, receipt) in &self.files {
            // Removed or erased meanwhile: listed in the data, not in the ZIP. The id is
            // checked against the person again (a removed receipt's id may be someone
            // else's by now).
            let file = receipts::file_for_owner(org, *receipt, self.subject, self.key)?;
            let Some(bytes) = file else {
                continue;
            };
            zip.start_file(name.as_str(), stored).map_err(zip_err)?;
            zip.write_all(&bytes).map_err(zip_err)?;
        }
        Ok(zip.finish().map_err(zip_err)?.into_inner())
    }
}

/// The person's whole ZIP in memory (for tests and small tools; pages stream it).
pub fn subject_zip(org: &Org, subject: UserId) -> Result<Vec<u8>, PrivacyError> {
    prepare(org, subject)?.write_zip(org, Vec::new())
}
