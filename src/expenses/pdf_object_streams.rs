//! Object streams hold a PDF's objects compressed, out of the sight of `receipt_pdf`'s
//! reading of the file; PDF writers put an opening script there by default. Each is
//! inflated, within budgets, and its objects read as the file's are. One whose data
//! cannot be read here (a filter other than one Flate, a predictor, a filter given by
//! reference, encryption, damage) is refused: a reader might find an action in it.
//!
//! Object streams are found by their names (`/ObjStm`, or `/First` with `/N`, which is
//! what readers go by), `#xx` escapes decoded, anywhere in the file: the cross-reference
//! table may point a reader at one inside another stream's data. Their dictionary is
//! then read from its text (from the `obj` keyword before the name to the `stream`
//! keyword after it), not parsed: a string in the dictionary that holds `obj` or
//! ` stream` can still mislead that reading and hide a script. This keeps out what
//! ordinary tools write; the download-only serving (attachment, sandboxing CSP) stands
//! behind it.

use std::borrow::Cow;
use std::io::Read;

use super::receipt_pdf::{Next, is_delimiter, is_space, names_spelt};

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
/// Decode parameters (predictors obscure the data) and data kept in another file.
const PARAMS: [&[u8]; 5] = [b"DecodeParms", b"DP", b"F", b"FFilter", b"FDecodeParms"];

/// What the object streams hold.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    Clean,
    /// `active` found something in one.
    Active,
    /// One could not be read here.
    Unreadable,
    /// The file is encrypted: its object streams cannot be read without its password.
    Protected,
}

/// Where to find something, remembered while still ahead.
struct Reading<'a> {
    bytes: &'a [u8],
    /// Left to inflate (output) and to read compressed (input: object streams do not
    /// overlap, so theirs add up to less than the file).
    out_left: u64,
    in_left: u64,
    ends: Next,
    /// Plain data read so far: streams with no end of their own overlap.
    raw_read_to: usize,
    /// The last stream judged, so a dictionary's two names judge it once.
    judged: Option<usize>,
}

/// Reads every object stream in `bytes` and asks `active` of its objects.
pub(super) fn check(bytes: &[u8], active: impl Fn(&[u8]) -> bool) -> Verdict {
    let encrypted = names_spelt(bytes).any(|(_, n, _)| n == b"Encrypt");
    let mut r = Reading {
        bytes,
        out_left: MAX_INFLATED,
        in_left: bytes.len() as u64,
        ends: Next::new(b"endstream"),
        raw_read_to: 0,
        judged: None,
    };
    let mut found = 0usize;
    for (name_at, name, end) in names_spelt(bytes) {
        let sure = match name.as_slice() {
            b"ObjStm" => true,
            b"First" => false,
            _ => continue,
        };
        found += 1;
        if found > MAX_STREAMS {
            return Verdict::Unreadable;
        }
        let verdict = judge(&mut r, name_at, end, sure, encrypted, &active);
        if verdict != Verdict::Clean {
            return verdict;
        }
    }
    Verdict::Clean
}

/// Judges the object stream whose dictionary holds the name at `name_at..name_end`;
/// `sure` if that name says so by itself (`/ObjStm`), else `/N` must be there too.
fn judge(
    r: &mut Reading,
    name_at: usize,
    name_end: usize,
    sure: bool,
    encrypted: bool,
    active: &impl Fn(&[u8]) -> bool,
) -> Verdict {
    let bytes = r.bytes;
    let Some(keyword) = stream_keyword(bytes, name_end) else {
        // No data near: an outline's `/First`, or a dictionary padded to be passed over.
        return if sure {
            Verdict::Unreadable
        } else {
            Verdict::Clean
        };
    };
    if r.judged == Some(keyword) {
        return Verdict::Clean;
    }
    let window = name_at.saturating_sub(DICT_WINDOW);
    let start = rfind(&bytes[window..name_at], b"obj").map_or(window, |i| window + i);
    let dict = &bytes[start..keyword];
    let names: Vec<Vec<u8>> = names_spelt(dict).map(|(_, name, _)| name).collect();
    let has = |set: &[&[u8]]| names.iter().filter(|n| set.contains(&n.as_slice())).count();
    if !sure && has(&[b"N"]) == 0 {
        return Verdict::Clean;
    }
    r.judged = Some(keyword);
    if encrypted {
        return Verdict::Protected;
    }
    let filters = has(&[b"Filter"]);
    if has(&OTHER_FILTERS) > 0 || has(&PARAMS) > 0 || filter_by_reference(dict) {
        return Verdict::Unreadable;
    }
    let mut data_at = keyword + b"stream".len();
    while bytes.get(data_at).is_some_and(|&b| is_space(b)) {
        data_at += 1;
    }
    let end = r.ends.at_or_after(bytes, data_at);
    let data = &bytes[data_at..end];
    let objects = match (filters, has(&FLATE)) {
        (0, 0) => {
            let from = data_at.max(r.raw_read_to).min(end);
            r.raw_read_to = end;
            Cow::Borrowed(&bytes[from..end])
        }
        (1, 1) => match inflate(data, &mut r.out_left, &mut r.in_left) {
            Some(objects) => Cow::Owned(objects),
            None => return Verdict::Unreadable,
        },
        // Two filters (Flate twice, say), or a filter named that is none of those known.
        _ => return Verdict::Unreadable,
    };
    if active(&objects) {
        Verdict::Active
    } else {
        Verdict::Clean
    }
}

/// Where the `stream` keyword after `from` begins, within [`DICT_WINDOW`]: a token of
/// its own followed by white space, not part of a longer name such as `/Mainstream`.
fn stream_keyword(bytes: &[u8], from: usize) -> Option<usize> {
    let window = &bytes[from..bytes.len().min(from + DICT_WINDOW)];
    let mut at = 0;
    while let Some(i) = window[at..].windows(6).position(|w| w == b"stream") {
        let k = from + at + i;
        let before = k.checked_sub(1).map(|p| bytes[p]);
        let after = bytes.get(k + 6).copied();
        if before.is_none_or(is_delimiter) && after.is_some_and(is_space) {
            return Some(k);
        }
        at += i + 1;
    }
    None
}

/// Whether a `/Filter` in the dictionary's text is given by reference (`9 0 R`, or an
/// array of them), which is read from another object.
fn filter_by_reference(dict: &[u8]) -> bool {
    names_spelt(dict)
        .filter(|(_, name, _)| name == b"Filter")
        .any(|(_, _, end)| {
            let mut i = end;
            while dict.get(i).is_some_and(|&b| is_space(b) || b == b'[') {
                i += 1;
            }
            dict.get(i).is_some_and(u8::is_ascii_digit)
        })
}

/// Where `what` last occurs in `bytes`.
fn rfind(bytes: &[u8], what: &[u8]) -> Option<usize> {
    bytes.windows(what.len()).rposition(|w| w == what)
}

/// The inflated data, taken from the budgets (whether or not it inflates whole);
/// `None` if it is not whole zlib data or goes over either. Bytes after the end of the
/// compressed data are ignored, as readers do.
fn inflate(data: &[u8], out_left: &mut u64, in_left: &mut u64) -> Option<Vec<u8>> {
    let mut decoder = flate2::read::ZlibDecoder::new(data);
    let mut out = Vec::new();
    let read = (&mut decoder).take(*out_left + 1).read_to_end(&mut out);
    let (produced, consumed) = (out.len() as u64, decoder.total_in());
    if produced > *out_left || consumed > *in_left {
        *out_left = 0;
        return None;
    }
    *out_left -= produced;
    *in_left -= consumed;
    read.ok().map(|_| out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(data).unwrap();
        z.finish().unwrap()
    }

    fn file(dict: &str, data: &[u8]) -> Vec<u8> {
        let mut f = format!("%PDF-1.5\n7 0 obj\n<< {dict} >>\nstream\n").into_bytes();
        f.extend_from_slice(data);
        f.extend_from_slice(b"\nendstream\nendobj\n");
        f
    }

    const OBJSTM: &str = "/Type /ObjStm /N 1 /First 4";

    fn js(bytes: &[u8]) -> bool {
        bytes.windows(3).any(|w| w == b"/JS")
    }

    /// Enough objects that the writer compresses rather than stores them.
    fn script() -> Vec<u8> {
        let pages = "<< /Type /Page /Parent 2 0 R >> ".repeat(40);
        format!("5 0 {pages}<< /S /JavaScript /JS (app.alert(1)) >>").into_bytes()
    }

    #[test]
    fn a_script_compressed_in_an_object_stream_is_found() {
        let hidden = file(&format!("{OBJSTM} /Filter /FlateDecode"), &zlib(&script()));
        assert!(!js(&hidden), "not visible in the file itself");
        assert_eq!(check(&hidden, js), Verdict::Active);
        for dict in [
            "/Type /ObjStm /N 1 /First 4 /Filter [/Fl]",
            // Names spelt with escapes, and no /Type at all (readers go by /N and /First).
            "/Type /Obj#53tm /N 1 /First 4 /Filter /Fl#61teDecode",
            "/N 1 /First 4 /Filter /FlateDecode",
            // A name ending in "stream" is not the keyword.
            "/Type /ObjStm /N 1 /First 4 /Mainstream 0 /Filter /FlateDecode",
        ] {
            assert_eq!(
                check(&file(dict, &zlib(&script())), js),
                Verdict::Active,
                "{dict}"
            );
        }
        // Uncompressed, read as it is.
        assert_eq!(check(&file(OBJSTM, &script()), js), Verdict::Active);
        // Innocent objects pass, and so does an outline's /First with no stream.
        let pages = zlib(b"5 0 << /Type /Page >>");
        let fine = file(&format!("{OBJSTM} /Filter /FlateDecode"), &pages);
        assert_eq!(check(&fine, js), Verdict::Clean);
        let outline = b"3 0 obj << /Type /Outlines /First 4 0 R /Count 1 >> endobj";
        assert_eq!(check(outline, js), Verdict::Clean);
    }

    #[test]
    fn what_cannot_be_read_here_is_unreadable() {
        let objects = zlib(&script());
        for dict in [
            "/Filter [/ASCIIHexDecode /FlateDecode]",
            "/Filter [/FlateDecode /FlateDecode]",
            "/Filter /FlateDecode /DecodeParms << /Predictor 12 >>",
            "/Filter 9 0 R",
            "/Filter [ 9 0 R ]",
            "/Filter /Unheard",
            "/Filter /AHx /Mainstream 0",
        ] {
            let f = file(&format!("{OBJSTM} {dict}"), &objects);
            assert_eq!(check(&f, js), Verdict::Unreadable, "{dict}");
        }
        let damaged = file(&format!("{OBJSTM} /Filter /FlateDecode"), b"not zlib");
        assert_eq!(check(&damaged, js), Verdict::Unreadable);
        // Encrypted: its data cannot be read here.
        let mut locked = file(&format!("{OBJSTM} /Filter /FlateDecode"), &objects);
        locked.extend_from_slice(b"trailer << /Encrypt 9 0 R >>");
        assert_eq!(check(&locked, js), Verdict::Protected);
        // A dictionary padded so that its stream seems to be someone else's.
        let padded = [&b"/ObjStm ("[..], &[b'x'; 2000], b")\nstream\nx\nendstream"].concat();
        assert_eq!(check(&padded, js), Verdict::Unreadable);
    }

    #[test]
    fn bombs_and_floods_are_cut_short() {
        // Zeros past the budget, in a few hundred KB.
        let bomb = zlib(&vec![0u8; MAX_INFLATED as usize + 1024 * 1024]);
        let f = file(&format!("{OBJSTM} /Filter /FlateDecode"), &bomb);
        assert_eq!(check(&f, js), Verdict::Unreadable);
        // Many streams each inflating well within the budget, together over it.
        let ten_mb = zlib(&vec![0u8; 10 * 1024 * 1024]);
        let one = file(&format!("{OBJSTM} /Filter /FlateDecode"), &ten_mb);
        assert_eq!(check(&one.repeat(8), js), Verdict::Unreadable);
        assert_eq!(check(&one.repeat(2), js), Verdict::Clean);
        // Data read twice (streams whose data overlap) is charged twice: the compressed
        // input of all object streams together cannot exceed the file.
        let data = zlib(b"5 0 << /Type /Page >>");
        let (mut out_left, mut in_left) = (MAX_INFLATED, data.len() as u64 * 3 / 2);
        assert!(inflate(&data, &mut out_left, &mut in_left).is_some());
        assert!(inflate(&data, &mut out_left, &mut in_left).is_none());
        // Streams of no data, more than any real file has.
        let empty = b"/ObjStm\nstream\n".repeat(700_000);
        assert_eq!(check(&empty, js), Verdict::Unreadable);
        // Outline-like /First names by the million, no streams: read once each.
        let firsts = b"/First 4 0 R ".repeat(9_000);
        assert_eq!(check(&firsts, js), Verdict::Clean);
    }
}
