//! Free text as people type it (titles, merchants, descriptions, comments): checked
//! before it is sealed, so what is stored reads on every page as it was meant.

/// Format characters that hide inside text or make it read other than it is stored:
/// zero-width spaces and word joiners, the byte order mark (other than leading), line
/// and paragraph separators, the deprecated shaping controls, fillers that look like
/// spaces, interlinear annotations. Not among them: ZWJ and ZWNJ (U+200D, U+200C),
/// which Persian, Indic scripts and emoji need, and the direction marks (LRM, RLM,
/// ALM), which right-to-left keyboards and mail programs put in ordinary text and
/// which cannot turn letters around (the overrides, refused separately, can).
fn disguising(c: char) -> bool {
    matches!(
        c,
        '\u{180E}'
            | '\u{200B}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{2060}'..='\u{2064}'
            | '\u{206A}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
    )
}

/// Whether a character shows as nothing: white space, and the format and filler
/// characters (default ignorable in Unicode) that print no glyph of their own.
fn blank(c: char) -> bool {
    c.is_whitespace()
        || disguising(c)
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200C}'
                | '\u{200D}'
                | '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{2800}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// The text as it will be stored (line breaks unified, trimmed), or why it is refused,
/// naming the field as `what`; `required` refuses text with nothing visible in it.
pub(crate) fn clean_text(
    raw: &str,
    max: usize,
    what: &str,
    required: bool,
) -> Result<String, String> {
    // Text pasted from a file may start with a byte order mark: not part of the text.
    let raw = raw.strip_prefix('\u{FEFF}').unwrap_or(raw);
    // Control characters (other than line breaks) are refused: they are never what a
    // person meant to type, and some turn harmless text into something else elsewhere.
    // So are the bidirectional overrides and isolates, which make text read on screen
    // other than it is stored (a merchant "moc.lanigiro" shown as "original.com").
    let bidi = |c: char| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    if raw
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r')
    {
        return Err(format!("the {what} cannot contain control characters"));
    }
    if raw.chars().any(bidi) {
        return Err(format!(
            "the {what} cannot contain characters that turn the text around (right-to-left overrides)"
        ));
    }
    let text = raw
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .trim()
        .to_owned();
    // A zero-width space alone looks empty on every page: it is no title or merchant.
    let visible = text.chars().any(|c| !blank(c));
    if required && !visible {
        return Err(format!("enter the {what}"));
    }
    if text.chars().any(disguising) {
        return Err(format!(
            "the {what} cannot contain invisible formatting characters, which often come with pasted text: type it in again"
        ));
    }
    if !visible {
        // Only joiners or fillers: nothing anyone could read was typed.
        return Ok(String::new());
    }
    if text.chars().count() > max {
        return Err(format!("the {what} can be at most {max} characters"));
    }
    if stacked_marks(&text) > MAX_STACKED_MARKS {
        return Err(format!(
            "the {what} has too many accents on one letter; type it in again"
        ));
    }
    Ok(text)
}

/// As [`clean_text`], for text shown on one line (titles, merchants): a line break,
/// which their form fields cannot type, is refused rather than kept.
pub(crate) fn clean_line(
    raw: &str,
    max: usize,
    what: &str,
    required: bool,
) -> Result<String, String> {
    let text = clean_text(raw, max, what, required)?;
    if text.contains('\n') {
        return Err(format!("the {what} must be on one line"));
    }
    Ok(text)
}

/// Vietnamese typed decomposed needs two marks on a letter; dozens ("Zalgo" text)
/// spill over the rows above and below on every page that lists the text.
const MAX_STACKED_MARKS: usize = 4;

/// The most combining diacritical marks in a row (the blocks such text is built from).
fn stacked_marks(text: &str) -> usize {
    let mark = |c: char| {
        matches!(
            c,
            '\u{0300}'..='\u{036F}'
                | '\u{1AB0}'..='\u{1AFF}'
                | '\u{1DC0}'..='\u{1DFF}'
                | '\u{20D0}'..='\u{20FF}'
                | '\u{FE20}'..='\u{FE2F}'
        )
    };
    let (mut run, mut most) = (0, 0);
    for c in text.chars() {
        run = if mark(c) { run + 1 } else { 0 };
        most = most.max(run);
    }
    most
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{clean_line, clean_text};

    #[test]
    fn one_line_text_refuses_line_breaks() {
        assert_eq!(
            clean_line("Cafe\r\nOne", 200, "merchant", true),
            Err("the merchant must be on one line".to_owned())
        );
        // Trailing breaks are trimmed away, not refused.
        assert_eq!(
            clean_line("Cafe One\n", 200, "merchant", true),
            Ok("Cafe One".to_owned())
        );
        assert_eq!(
            clean_text("Line one\nLine two", 200, "description", false),
            Ok("Line one\nLine two".to_owned())
        );
    }

    #[test]
    fn letters_buried_in_marks_are_refused() {
        // Vietnamese typed decomposed: two marks on one letter.
        let viet = "Pho\u{031B}\u{0309} Ha\u{0300} No\u{0323}\u{0302}i";
        assert_eq!(clean_text(viet, 200, "merchant", true), Ok(viet.to_owned()));
        let zalgo = format!("Cafe{}", "\u{0301}\u{0316}\u{0334}".repeat(10));
        assert_eq!(
            clean_text(&zalgo, 200, "merchant", true),
            Err("the merchant has too many accents on one letter; type it in again".to_owned())
        );
    }

    #[test]
    fn text_that_shows_as_nothing_is_not_text() {
        for blank in [
            "\u{200B}",
            "\u{FEFF}",
            " \u{200D} ",
            "\u{3164}",
            "\u{2060}\u{200C}",
        ] {
            assert_eq!(
                clean_text(blank, 200, "merchant", true),
                Err("enter the merchant".to_owned()),
                "{blank:?}"
            );
        }
        // Not required: joiners alone are nothing, and stored as nothing.
        assert_eq!(
            clean_text("\u{200D}", 200, "description", false),
            Ok(String::new())
        );
    }

    #[test]
    fn characters_that_disguise_text_are_refused() {
        for c in [
            '\u{200B}', '\u{2028}', '\u{2029}', '\u{FEFF}', '\u{2060}', '\u{2064}', '\u{206A}',
            '\u{206F}', '\u{180E}', '\u{3164}', '\u{FFA0}', '\u{FFF9}', '\u{FFFB}',
        ] {
            let err = clean_text(&format!("Cafe{c}One"), 200, "merchant", true).unwrap_err();
            assert!(
                err.starts_with("the merchant cannot contain"),
                "{c:?}: {err}"
            );
        }
        // Direction marks typed with right-to-left text stay, as does a pasted text's
        // leading byte order mark, dropped.
        assert_eq!(
            clean_text(
                "\u{05E7}\u{05E4}\u{05D4}\u{200F} Cafe",
                200,
                "merchant",
                true
            ),
            Ok("\u{05E7}\u{05E4}\u{05D4}\u{200F} Cafe".to_owned())
        );
        assert_eq!(
            clean_text("\u{FEFF}Cafe One", 200, "merchant", true),
            Ok("Cafe One".to_owned())
        );
        // Scripts that need the joiners keep them.
        assert_eq!(
            clean_text(
                "\u{0645}\u{06CC}\u{200C}\u{062E}\u{0648}\u{0627}\u{0645}",
                200,
                "merchant",
                true
            ),
            Ok("\u{0645}\u{06CC}\u{200C}\u{062E}\u{0648}\u{0627}\u{0645}".to_owned())
        );
        assert_eq!(
            clean_text("Team \u{1F469}\u{200D}\u{1F4BB}", 200, "merchant", true),
            Ok("Team \u{1F469}\u{200D}\u{1F4BB}".to_owned())
        );
    }
}
