//! Object streams (`/Type /ObjStm`) hold a PDF's objects compressed, out of the sight of
//! `receipt_pdf`'s reading of the file; PDF writers put an opening script there by
//! default. Each is inflated, within a budget, and its objects read as the file's are.
//! One whose data cannot be read here (another compression or a predictor named in its
//! dictionary, encryption, damage) is refused: a reader might find an action in it.
//!
//! The dictionary is found by its text (the `obj` keyword before the name, the `stream`
//! one after), not by parsing: a file written to mislead that reading (a string
//! holding `obj` between a filter and the name) can still hide a script. This keeps
//! out what ordinary tools write; the download-only serving (attachment, sandboxing
//! CSP) stands behind it.

use std::borrow::Cow;
use std::io::Read;

use super::receipt_pdf::{Next, is_delimiter, read_name};

/// Most all of a file's object streams may inflate to: ten megabytes of compressed
/// zeros inflate to gigabytes.
const MAX_INFLATED: u64 = 64 * 1024 * 1024;
/// More object streams than any receipt has (each holds up to a few hundred objects):
/// refused rather than read.
const MAX_STREAMS: usize = 10_000;
/// How far around its name an object stream's dictionary is looked for: the `obj`
/// keyword before, the `stream` one after (real dictionaries take a line).
const DICT_WINDOW: usize = 1024;

/// Compression filters; only Flate, which is what PDF writers use for object streams,
/// is read here.
const FLATE: [&[u8]; 2] = [b"FlateDecode", b"Fl"];
const OTHER_FILTERS: [&[u8]; 15] = [
    b"ASCIIHexDecode",
    b"AHx",
    b"ASCII85Decode",
    b"A85",
    b"LZWDecode",
    b"LZW",
    b"RunLengthDecode",
    b"RL",
    b"CCITTFaxDecode",
    b"CCF",
    b"JBIG2Decode",
    b"DCTDecode",
    b"DCT",
    b"JPXDecode",
    b"Crypt",
];

/// What the object streams hold.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    Clean,
    /// `active` found something in one.
    Active,
    /// One could not be read here.
    Unreadable,
}

/// Reads every object stream in `bytes` and asks `active` of its objects.
pub(super) fn check(bytes: &[u8], active: impl Fn(&[u8]) -> bool) -> Verdict {
    let mut budget = MAX_INFLATED;
    // Forward searches remembered while still ahead: a file of many names and no
    // streams must not make each one search to the end again.
    let (mut objstm, mut keywords, mut ends) = (
        Next::new(b"/ObjStm"),
        Next::new(b"stream"),
        Next::new(b"endstream"),
    );
    let (mut from, mut raw_read_to) = (0, 0);
    for _ in 0..=MAX_STREAMS {
        let at = objstm.at_or_after(bytes, from);
        if at >= bytes.len() {
            return Verdict::Clean;
        }
        from = at + b"/ObjStm".len();
        if bytes.get(from).is_some_and(|&c| !is_delimiter(c)) {
            continue; // a longer name
        }
        let keyword = keywords.at_or_after(bytes, from);
        if keyword >= bytes.len() {
            return Verdict::Clean; // no data: nothing to hide
        }
        if keyword - at > DICT_WINDOW {
            return Verdict::Unreadable; // a dictionary padded to be passed over
        }
        let window = at.saturating_sub(DICT_WINDOW);
        let start = rfind(&bytes[window..at], b"obj").map_or(window, |i| window + i);
        let dict = names_in(&bytes[start..keyword]);
        let mut data_at = keyword + b"stream".len();
        if bytes[data_at..].starts_with(b"\r\n") {
            data_at += 2;
        } else if bytes[data_at..].starts_with(b"\n") {
            data_at += 1;
        }
        let end = ends.at_or_after(bytes, data_at);
        let data = &bytes[data_at..end];
        let names = |set: &[&[u8]]| dict.iter().any(|n| set.contains(&n.as_slice()));
        if names(&OTHER_FILTERS) || names(&[b"DecodeParms", b"DP"]) {
            return Verdict::Unreadable;
        }
        // Inflated whether or not a filter was seen: the dictionary's reading may
        // have missed it.
        let objects = match inflate(data, &mut budget) {
            Inflated::Data(objects) => Cow::Owned(objects),
            Inflated::NotZlib if !names(&FLATE) => {
                // Plain data, read once: streams with no end of their own overlap.
                let from = data_at.max(raw_read_to).min(end);
                raw_read_to = end;
                Cow::Borrowed(&bytes[from..end])
            }
            Inflated::NotZlib | Inflated::TooLarge => return Verdict::Unreadable,
        };
        if active(&objects) {
            return Verdict::Active;
        }
    }
    Verdict::Unreadable
}

/// The names in a dictionary's text.
fn names_in(dict: &[u8]) -> Vec<Vec<u8>> {
    let mut names = Vec::new();
    let mut at = 0;
    while let Some(slash) = dict[at..].iter().position(|&c| c == b'/') {
        let (name, end) = read_name(dict, at + slash);
        names.push(name);
        at = end;
    }
    names
}

/// Where `what` last occurs in `bytes`.
fn rfind(bytes: &[u8], what: &[u8]) -> Option<usize> {
    bytes.windows(what.len()).rposition(|w| w == what)
}

enum Inflated {
    Data(Vec<u8>),
    NotZlib,
    TooLarge,
}

/// The inflated data, taken from `budget`. Bytes after the end of the compressed data
/// are ignored, as readers do.
fn inflate(data: &[u8], budget: &mut u64) -> Inflated {
    let mut out = Vec::new();
    let read = flate2::read::ZlibDecoder::new(data)
        .take(*budget + 1)
        .read_to_end(&mut out);
    let n = out.len() as u64;
    if n > *budget {
        return Inflated::TooLarge;
    }
    if read.is_err() {
        return Inflated::NotZlib;
    }
    *budget -= n;
    Inflated::Data(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(data).unwrap();
        z.finish().unwrap()
    }

    fn file(dict: &str, data: &[u8]) -> Vec<u8> {
        let mut f =
            format!("%PDF-1.5\n7 0 obj\n<< /Type /ObjStm /N 1 /First 4 {dict} >>\nstream\n")
                .into_bytes();
        f.extend_from_slice(data);
        f.extend_from_slice(b"\nendstream\nendobj\n");
        f
    }

    fn js(bytes: &[u8]) -> bool {
        bytes.windows(3).any(|w| w == b"/JS")
    }

    #[test]
    fn a_script_compressed_in_an_object_stream_is_found() {
        // Enough objects that the writer compresses rather than stores them.
        let pages = "<< /Type /Page /Parent 2 0 R >> ".repeat(40);
        let objects = format!("5 0 {pages}<< /S /JavaScript /JS (app.alert(1)) >>");
        let objects = objects.as_bytes();
        let hidden = file("/Filter /FlateDecode", &zlib(objects));
        assert!(!js(&hidden), "not visible in the file itself");
        assert_eq!(check(&hidden, js), Verdict::Active);
        assert_eq!(
            check(&file("/Filter [/Fl]", &zlib(objects)), js),
            Verdict::Active
        );
        // Uncompressed, read as it is; compressed with no filter seen, inflated all
        // the same.
        assert_eq!(check(&file("", objects), js), Verdict::Active);
        assert_eq!(check(&file("", &zlib(objects)), js), Verdict::Active);
        // Innocent objects pass.
        let fine = file("/Filter /FlateDecode", &zlib(b"5 0 << /Type /Page >>"));
        assert_eq!(check(&fine, js), Verdict::Clean);
    }

    #[test]
    fn what_cannot_be_read_here_is_unreadable() {
        let objects = zlib(b"5 0 << /Type /Page >>");
        for dict in [
            "/Filter [/ASCIIHexDecode /FlateDecode]",
            "/Filter /FlateDecode /DecodeParms << /Predictor 12 >>",
        ] {
            assert_eq!(
                check(&file(dict, &objects), js),
                Verdict::Unreadable,
                "{dict}"
            );
        }
        assert_eq!(
            check(&file("/Filter /FlateDecode", b"not zlib"), js),
            Verdict::Unreadable
        );
        // Many names and no streams, or many streams of no data: read once each.
        let names = b"/ObjStm ".repeat(1_250_000);
        assert_eq!(check(&names, js), Verdict::Clean);
        // A dictionary padded so that its stream seems to be someone else's.
        let padded = [&b"/ObjStm ("[..], &[b'x'; 2000], b")\nstream\nx\nendstream"].concat();
        assert_eq!(check(&padded, js), Verdict::Unreadable);
        let empty = b"/ObjStm\nstream\n".repeat(700_000);
        assert_eq!(
            check(&empty, js),
            Verdict::Unreadable,
            "more than any real file"
        );
        // A bomb: 100 MB of zeros in about 100 KB.
        let bomb = zlib(&vec![0u8; 100 * 1024 * 1024]);
        assert_eq!(
            check(&file("/Filter /FlateDecode", &bomb), js),
            Verdict::Unreadable
        );
    }
}
