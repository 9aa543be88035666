//! What a PDF receipt must pass: its end where readers look for it, and no active
//! content (scripts, launch actions, forms that send data away) named in it. Two
//! readings:
//! - action types, the long names (`JavaScript`, `Launch`, `SubmitForm` ...), are
//!   refused wherever they are spelt, stream data included: a reader can be pointed
//!   (by the cross-reference table) at any bytes, and these names do not occur by
//!   chance in compressed data;
//! - every active name, short ones too (`JS`, `AA`, `XFA`), is refused where a reader
//!   of a sound file reads names: outside strings, comments and stream data, found by
//!   reading the file token by token. Short names do turn up there by chance (a link's
//!   path, compressed bytes).
//!
//! Objects compressed inside object streams are read by `pdf_object_streams`, the same
//! two ways. Each name is judged as it is read: nothing is kept.

use super::pdf_object_streams::{self, Verdict};

/// `%%EOF` must be within this many bytes of the end (readers look there too).
const EOF_WINDOW: usize = 1024;

/// PDF names for things a receipt has no use for and a reader may run or send:
/// scripts (and XFA forms, which carry them), programs to launch, actions on events
/// (`AA`), forms that submit or import data, links that open other files, embedded
/// media. Plain web links (`URI`) stay allowed: invoices carry them, and readers ask
/// before following one. Attached files are allowed too: e-invoices (ZUGFeRD,
/// Factur-X) carry their XML that way, and a reader does not run them.
const ACTIVE: [&[u8]; 11] = [
    b"JavaScript",
    b"JS",
    b"XFA",
    b"Launch",
    b"AA",
    b"SubmitForm",
    b"ImportData",
    b"GoToR",
    b"GoToE",
    b"RichMedia",
    // A media action, which may carry a script of its own (`/JS`).
    b"Rendition",
];

pub(super) fn check_pdf(bytes: &[u8]) -> Result<(), String> {
    let tail = &bytes[bytes.len().saturating_sub(EOF_WINDOW)..];
    let has = |what: &[u8]| tail.windows(what.len()).any(|w| w == what);
    if !has(b"%%EOF") || !has(b"startxref") {
        return Err(
            "the PDF is incomplete or damaged: save or export it again and attach that".into(),
        );
    }
    let active = |b: &[u8]| action_anywhere(b) || active_in_objects(b);
    let refused = "the PDF contains scripts, forms or launch actions, which a receipt does not \
                   need: print it to a new PDF and attach that";
    if active(bytes) {
        return Err(refused.into());
    }
    match pdf_object_streams::check(bytes, active) {
        Verdict::Clean => Ok(()),
        Verdict::Active => Err(refused.into()),
        Verdict::Unreadable => Err(
            "the PDF holds compressed parts that cannot be checked for scripts: print it \
             to a new PDF and attach that"
                .into(),
        ),
        Verdict::Protected => Err(
            "the PDF is protected (encrypted), so it cannot be checked for scripts: print \
             it to a new PDF and attach that"
                .into(),
        ),
    }
}

/// Where `what` next occurs in `bytes` from `from`.
fn find(bytes: &[u8], what: &[u8], from: usize) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(what.len())
        .position(|w| w == what)
        .map(|i| from + i)
}

/// White space in PDF includes NUL and form feed.
pub(super) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' | 0)
}

pub(super) fn is_delimiter(b: u8) -> bool {
    is_space(b) || b"()<>[]{}/%".contains(&b)
}

fn is_active(name: &[u8]) -> bool {
    ACTIVE.contains(&name)
}

/// Whether an action type is spelt anywhere in the file.
fn action_anywhere(bytes: &[u8]) -> bool {
    names_spelt(bytes).any(|(_, name, _)| name.len() >= 5 && is_active(&name))
}

/// Every name spelt in `bytes`, strings, comments and stream data included: where its
/// `/` is, the name (`#xx` escapes decoded) and where it ends.
pub(super) fn names_spelt(bytes: &[u8]) -> impl Iterator<Item = (usize, Vec<u8>, usize)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let slash = at + bytes.get(at..)?.iter().position(|&c| c == b'/')?;
        let (name, end) = read_name(bytes, slash);
        at = end;
        Some((slash, name, end))
    })
}

/// Whether an active name stands where a reader reads names: outside strings,
/// comments and stream data.
fn active_in_objects(bytes: &[u8]) -> bool {
    let mut i = 0;
    // Whether the last token was a dictionary's end: only there does `stream` begin one.
    let mut after_dict = false;
    // The next `endstream` and `endobj`, reused while still ahead: a file of many
    // keywords that are not streams must not make each one search to the end again.
    let mut ahead = (Next::new(b"endstream"), Next::new(b"endobj"));
    while i < bytes.len() {
        let b = bytes[i];
        if is_space(b) {
            i += 1;
            continue;
        }
        let was_after_dict = std::mem::replace(&mut after_dict, false);
        i = match b {
            b'%' => bytes[i..]
                .iter()
                .position(|&c| c == b'\r' || c == b'\n')
                .map_or(bytes.len(), |n| i + n),
            b'(' => literal_string_end(bytes, i),
            b'<' if bytes.get(i + 1) == Some(&b'<') => i + 2,
            b'<' => find(bytes, b">", i).map_or(bytes.len(), |e| e + 1),
            b'>' if bytes.get(i + 1) == Some(&b'>') => {
                after_dict = true;
                i + 2
            }
            b'/' => {
                let (name, end) = read_name(bytes, i);
                if is_active(&name) {
                    return true;
                }
                end
            }
            b's' if was_after_dict && bytes[i..].starts_with(b"stream") => {
                stream_end(bytes, i + b"stream".len(), &mut ahead)
            }
            _ => i + 1,
        };
    }
    false
}

/// The name whose `/` is at `slash`, `#xx` escapes decoded, and where it ends.
fn read_name(bytes: &[u8], slash: usize) -> (Vec<u8>, usize) {
    let start = slash + 1;
    let len = bytes[start..]
        .iter()
        .position(|&c| is_delimiter(c))
        .unwrap_or(bytes.len() - start);
    (decode_name(&bytes[start..start + len]), start + len)
}

/// Just past the `)` closing the literal string opened at `open` (nesting and
/// backslash escapes as PDF has them), or the end of the file.
fn literal_string_end(bytes: &[u8], open: usize) -> usize {
    let mut depth = 0usize;
    let mut i = open;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

/// Where reading goes on after a stream whose keyword ends at `body`: past its
/// `endstream`. Not skipped at all (read on as objects) when the keyword is not followed
/// by a line end, when no `endstream` follows, or when the data holds `endobj`: a
/// reader may end the stream sooner, by its length, and read objects from the rest.
fn stream_end(bytes: &[u8], body: usize, (endstream, endobj): &mut (Next, Next)) -> usize {
    if !matches!(bytes.get(body), Some(b'\r' | b'\n')) {
        return body;
    }
    let end = endstream.at_or_after(bytes, body);
    if end < bytes.len() && endobj.at_or_after(bytes, body) > end {
        end + b"endstream".len()
    } else {
        body
    }
}

/// Where a word next occurs, remembered until reading passes it.
pub(super) struct Next {
    word: &'static [u8],
    at: Option<usize>,
}

impl Next {
    pub(super) fn new(word: &'static [u8]) -> Next {
        Next { word, at: None }
    }

    /// Its first place at or after `from` (the file's length if none).
    pub(super) fn at_or_after(&mut self, bytes: &[u8], from: usize) -> usize {
        match self.at {
            Some(at) if at >= from => at,
            _ => {
                let at = find(bytes, self.word, from).unwrap_or(bytes.len());
                self.at = Some(at);
                at
            }
        }
    }
}

fn decode_name(raw: &[u8]) -> Vec<u8> {
    let mut name = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let hex = raw
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (raw[i], hex) {
            (b'#', Some(b)) => {
                name.push(b);
                i += 3;
            }
            (b, _) => {
                name.push(b);
                i += 1;
            }
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    const PDF: &str = "%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n\
        xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Root 1 0 R >>\nstartxref\n9\n%%EOF\n";

    fn with(extra: &str) -> Result<(), String> {
        check_pdf(
            PDF.replace("/Pages 2 0 R", &format!("/Pages 2 0 R {extra}"))
                .as_bytes(),
        )
    }

    const SCRIPT: &str = "/OpenAction << /S /JavaScript /JS (app.alert(1)) >>";

    #[test]
    fn a_stream_keyword_in_a_comment_or_string_hides_nothing() {
        assert!(with(SCRIPT).is_err());
        // Before, any "stream" skipped to the next "endstream" or the end of the file.
        for cover in [
            "%stream\n",
            "(upstream) ",
            "(a \\) stream\n) ",
            "/Upstream ",
        ] {
            let err = with(&format!("{cover}{SCRIPT}")).err().unwrap_or_default();
            assert!(err.contains("scripts"), "{cover:?}: {err}");
        }
        // The keyword with no dictionary before it begins no stream.
        assert!(with(&format!("[1 2] stream\n{SCRIPT}\nendstream")).is_err());
        // A string holding a dictionary end and the keyword is still a string.
        assert!(with(&format!("(>> stream\n) {SCRIPT} (endstream)")).is_err());
    }

    #[test]
    fn an_action_inside_stream_data_is_refused() {
        // The cross-reference table may point a reader at an object inside a stream.
        let inside = format!(
            "/OpenAction 5 0 R >> endobj 4 0 obj <<>>\nstream\n5 0 obj <<{SCRIPT}>>\nendstream"
        );
        assert!(with(&inside).is_err());
        // Short names there are chance bytes, as in compressed data.
        assert!(with(">> endobj 4 0 obj <<>>\nstream\nx/JS/AA/XFA\nendstream").is_ok());
    }

    #[test]
    fn a_stream_a_reader_ends_sooner_hides_nothing() {
        // The data holds whole objects: a reader going by /Length reads them.
        let hidden = format!(
            ">> endobj 4 0 obj << /Length 1 >>\nstream\nx endobj 5 0 obj << {SCRIPT} >> endobj\nendstream"
        );
        assert!(with(&hidden).is_err());
        // No endstream at all: read on.
        assert!(
            with(&format!(
                ">> endobj 4 0 obj << /Length 1 >>\nstream\nx {SCRIPT}"
            ))
            .is_err()
        );
    }

    /// Files of keywords that are not streams, whose checks would each search to the
    /// end again (hours for 10 MB, were the searches not remembered).
    #[test]
    fn many_false_streams_are_read_once() {
        for (unit, tail) in [
            // Each "stream" holds an endobj; one endstream at the very end.
            (">>\nstream\nendobj ", "endstream\n"),
            // No endobj inside any; endobj and endstream only at the very end.
            (">>\nstream\nxx ", "endobj endstream\n"),
            // Nothing but names, each judged and dropped as it is read.
            ("/", "\n"),
        ] {
            let mut text = PDF.replace("startxref\n9\n%%EOF\n", "");
            text.push_str(&unit.repeat(10_000_000 / unit.len()));
            text.push_str(tail);
            text.push_str("startxref\n9\n%%EOF\n");
            assert!(check_pdf(text.as_bytes()).is_ok(), "{unit:?}");
        }
    }

    /// What `qpdf --object-streams=generate` and most writers make of a file with an
    /// opening script: the action compressed inside an object stream.
    #[test]
    #[allow(clippy::unwrap_used)]
    fn a_script_compressed_in_an_object_stream_is_refused() {
        use std::io::Write;
        let pdf = |objects: &[u8], dict: &str| {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            z.write_all(objects).unwrap();
            let mut f =
                format!("%PDF-1.5\n7 0 obj\n<< /Type /ObjStm /N 1 /First 4 {dict} >>\nstream\n")
                    .into_bytes();
            f.extend_from_slice(&z.finish().unwrap());
            f.extend_from_slice(b"\nendstream\nendobj\nstartxref\n9\n%%EOF\n");
            f
        };
        let flate = "/Filter /FlateDecode";
        let script = format!("5 0 << {SCRIPT} >>");
        let err = check_pdf(&pdf(script.as_bytes(), flate)).unwrap_err();
        assert!(err.contains("scripts"), "{err}");
        assert!(check_pdf(&pdf(b"5 0 << /Type /Page >>", flate)).is_ok());
        let predictor = "/Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 4 >>";
        let err = check_pdf(&pdf(b"5 0 << /Type /Page >>", predictor)).unwrap_err();
        assert!(err.contains("cannot be checked"), "{err}");
    }

    /// Files from real tools: a page Chromium printed, and qpdf's rewrite of it with
    /// object streams, as is and with an opening script added (README, Receipts).
    #[test]
    fn real_files_with_object_streams() {
        let printed = include_bytes!("../../tests/fixtures/printed.pdf");
        let objstm = include_bytes!("../../tests/fixtures/printed-objstm.pdf");
        let script = include_bytes!("../../tests/fixtures/printed-objstm-script.pdf");
        assert_eq!(check_pdf(printed), Ok(()));
        assert_eq!(check_pdf(objstm), Ok(()));
        let hidden = |w: &[u8]| script.windows(w.len()).any(|x| x == w);
        assert!(
            !hidden(b"JavaScript") && !hidden(b"/JS"),
            "compressed out of sight"
        );
        let err = check_pdf(script).err().unwrap_or_default();
        assert!(err.contains("scripts"), "{err}");
    }

    #[test]
    fn forms_events_and_remote_actions_are_refused_too() {
        for active in [
            "/AcroForm << /XFA 7 0 R >>",
            "/AA << /WC 8 0 R >>",
            "/OpenAction << /S /SubmitForm /F (https://example.com/x) >>",
            "/OpenAction << /S /ImportData /F (data.fdf) >>",
            "/OpenAction << /S /GoToR /F (other.pdf) /D [0 /Fit] >>",
        ] {
            assert!(with(active).is_err(), "{active}");
        }
        // A plain link is fine, even one whose path spells short names, and a name
        // spelt in hex is no name.
        assert!(with("/URI (https://example.com/invoice)").is_ok());
        assert!(with("/URI (https://airline.example/AA/JS/booking) % /XFA\n").is_ok());
        assert!(with("<2F4A53> [(a (nested) string)]").is_ok());
        // Action types in comments and strings count: a reader pointed there, or
        // rebuilding a damaged file, may find objects there.
        for hidden in [
            "% /JavaScript\n",
            "(5 0 obj << /S /Launch >> endobj)",
            "(/SubmitForm",
        ] {
            assert!(with(hidden).is_err(), "{hidden:?}");
        }
    }
}
