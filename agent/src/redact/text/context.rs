//! Labelled values: the key before `=` or `:` names what the value is.
//!
//! The automaton finds a label followed by its separator (the label's regex
//! is part of the one multi-pattern automaton, so no extra pass is spent on
//! keys); this file decides the rest by hand, because "how far does the value
//! reach" depends on quoting and on the next key, which a regular expression
//! says badly. It is small on purpose: every function here takes bytes and
//! offsets, allocates nothing, and is property-tested on arbitrary input.

use crate::redact::rules::{Separator, ValueExtent};

/// A label as compared: ASCII-lowercased, `_` and `-` removed. `None` when the
/// label is not 1 to 64 of `A-Z a-z 0-9 _ -` with a letter or digit.
pub(in crate::redact) fn normalize_label(label: &str) -> Option<String> {
    if label.is_empty() || label.len() > 64 {
        return None;
    }
    if !label
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return None;
    }
    let normalized: String = label
        .bytes()
        .filter(u8::is_ascii_alphanumeric)
        .map(|b| char::from(b.to_ascii_lowercase()))
        .collect();
    (!normalized.is_empty()).then_some(normalized)
}

/// A label's words, lowercase: split at `_`, `-` and at a lower-case letter
/// or digit followed by an upper-case letter (`birthDate` → `birth`, `date`).
pub(in crate::redact) fn label_words(label: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut previous: Option<char> = None;
    for c in label.chars() {
        if c == '_' || c == '-' {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
        } else {
            let camel_break = c.is_ascii_uppercase()
                && previous.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit());
            if camel_break && !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            word.push(c.to_ascii_lowercase());
        }
        previous = Some(c);
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// The regex that finds any of `labels` (each as its words) written as a
/// key: a word boundary, optionally one of `subjects` (as its words, then an
/// optional `_` or `-`), the label's words ASCII case-insensitively with an
/// optional `_` or `-` between two words, then an optional closing quote
/// (`"`, `'`, or the escaped `\"` of JSON inside a string), spaces, and `=` or
/// `:`. The match ends after the separator, where the value parser starts.
///
/// With [`Separator::Loose`] a label's words may also be separated by one
/// space, and the label may instead be followed by 1 to 8 spaces or tabs, or
/// by a `#` with up to 8 spaces or tabs on either side. The strict separator
/// is the first alternative, so where both apply (`dob = …`) the match ends
/// after the `=`, as for a strict rule. With [`Separator::Path`] the label is
/// a whole path segment, `/` on both sides, and takes no subjects.
///
/// Separators are allowed at word breaks only, not between any two letters:
/// that keeps the automaton small (every optional separator is one more
/// state in every partial match), and real keys put them nowhere else.
pub(in crate::redact) fn key_regex(
    labels: &[Vec<String>],
    subjects: &[Vec<String>],
    separator: Separator,
) -> String {
    const STRICT: &str = r#"(?:\\?["'])?[ \t]{0,8}[:=]"#;
    let alternatives = |words: &[Vec<String>], join: &str| {
        let mut alternatives: Vec<String> = words.iter().map(|w| w.join(join)).collect();
        // Descending, so that a label comes before every label it is a
        // prefix of: the automaton prefers the first alternative that
        // matches, and `serial number SN-1` must be read as `serial number`.
        alternatives.sort_by(|a, b| b.cmp(a));
        alternatives.dedup();
        alternatives.join("|")
    };
    let (join, after) = match separator {
        Separator::Strict => ("[-_]?", STRICT.to_owned()),
        Separator::Loose => (
            "[-_ ]?",
            format!(r"(?:{STRICT}|[ \t]{{0,8}}#[ \t]{{0,8}}|[ \t]{{1,8}})"),
        ),
        Separator::Path => return format!("(?i)/(?:{})/", alternatives(labels, "[-_]?")),
    };
    let subject = if subjects.is_empty() {
        String::new()
    } else {
        format!("(?:(?:{})[-_]?)?", alternatives(subjects, join))
    };
    format!(r"(?i)\b{subject}(?:{}){after}", alternatives(labels, join))
}

fn is_segment_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-'
}

/// The key the automaton found at `start`, checked against what the regex
/// cannot see: the label must be a whole segment (`x-name` is not `name`).
/// Returns the whole dotted key (`service.name`), for the allow list.
pub(super) fn whole_key(text: &[u8], start: usize) -> Option<&[u8]> {
    let mut end = start;
    while end < text.len() && is_segment_byte(text[end]) {
        end += 1;
    }
    // `X-Patient-Name:` is a header named for a label: the `X-` of
    // non-standard HTTP headers is not part of the name.
    let x_header = start >= 2
        && text[start - 1] == b'-'
        && matches!(text[start - 2], b'x' | b'X')
        && (start == 2 || !is_segment_byte(text[start - 3]) && text[start - 3] != b'.');
    if x_header {
        return Some(&text[start - 2..end]);
    }
    if start > 0 && text[start - 1] == b'-' {
        return None;
    }
    let mut key_start = start;
    while key_start > 0 && text[key_start - 1] == b'.' {
        let mut segment = key_start - 1;
        while segment > 0 && is_segment_byte(text[segment - 1]) {
            segment -= 1;
        }
        key_start = segment;
    }
    Some(&text[key_start..end])
}

fn is_space(byte: u8) -> bool {
    byte == b' ' || byte == b'\t'
}

fn is_line_break(byte: u8) -> bool {
    byte == b'\n' || byte == b'\r'
}

/// Ends an unquoted token.
fn ends_token(byte: u8) -> bool {
    is_space(byte)
        || is_line_break(byte)
        || matches!(
            byte,
            b'&' | b',' | b';' | b'"' | b'}' | b']' | b')' | b'|' | b'<' | b'>' | b'\\'
        )
}

/// Ends a phrase (and, but for the comma, a line).
fn ends_phrase(byte: u8, commas_end: bool) -> bool {
    is_line_break(byte)
        || matches!(
            byte,
            b'&' | b';' | b'"' | b'}' | b']' | b'|' | b'<' | b'>' | b'\\'
        )
        || (commas_end && byte == b',')
}

/// The spans of the value (or, for an array of scalars, values) that starts
/// after the separator at `at`. Quoted values are the text inside the quotes;
/// objects yield nothing (their members carry their own keys).
pub(super) fn values(
    text: &[u8],
    at: usize,
    extent: ValueExtent,
    emit: &mut dyn FnMut(usize, usize, bool),
) {
    if extent == ValueExtent::Segment {
        let end = segment_end(text, at);
        if end > at {
            emit(at, end, false);
        }
        return;
    }
    let mut at = at;
    while at < text.len() && is_space(text[at]) {
        at += 1;
    }
    match text.get(at) {
        None | Some(b'{') => {}
        Some(b'[') => array(text, at + 1, extent, emit),
        Some(_) => {
            if let Some((start, end, quoted, _)) = scalar(text, at, extent) {
                emit(start, end, quoted);
            }
        }
    }
}

/// Elements of a flat array of scalars (`"given": ["Jane", "Q"]`), each a
/// value; stops at anything nested. An unquoted element reaches as far as
/// the rule's extent says but never past a comma or the `]`: Go prints a
/// header map as `X-Patient-Name:[Jane Roe]`.
fn array(
    text: &[u8],
    mut at: usize,
    extent: ValueExtent,
    emit: &mut dyn FnMut(usize, usize, bool),
) {
    let extent = match extent {
        ValueExtent::Line => ValueExtent::Phrase,
        other => other,
    };
    for _ in 0..64 {
        while at < text.len() && (is_space(text[at]) || is_line_break(text[at])) {
            at += 1;
        }
        match text.get(at) {
            None | Some(b']' | b'[' | b'{') => return,
            Some(_) => {}
        }
        let Some((start, end, quoted, next)) = scalar(text, at, extent) else {
            return;
        };
        emit(start, end, quoted);
        at = next;
        while at < text.len() && is_space(text[at]) {
            at += 1;
        }
        if text.get(at) != Some(&b',') {
            return;
        }
        at += 1;
    }
}

/// One scalar at `at`: `(start, end, quoted, next)` with `next` past it (and
/// past a closing quote). An unterminated quote reaches the end of the line:
/// failing closed, the rest of a broken value is taken rather than left.
fn scalar(text: &[u8], at: usize, extent: ValueExtent) -> Option<(usize, usize, bool, usize)> {
    match text[at] {
        b'\\' if text.get(at + 1) == Some(&b'"') => {
            let start = at + 2;
            let end = memchr::memmem::find(&text[start..], b"\\\"").map(|i| start + i);
            Some(close(text, start, end, 2))
        }
        b'"' => {
            let start = at + 1;
            let mut i = start;
            let mut end = None;
            while i < text.len() {
                match text[i] {
                    b'\\' => i += 2,
                    b'"' => {
                        end = Some(i);
                        break;
                    }
                    byte if is_line_break(byte) => break,
                    _ => i += 1,
                }
            }
            Some(close(text, start, end, 1))
        }
        b'\'' => {
            let start = at + 1;
            let end = memchr::memchr(b'\'', &text[start..]).map(|i| start + i);
            Some(close(text, start, end, 1))
        }
        _ => {
            let end = match extent {
                ValueExtent::Token => token_end(text, at),
                ValueExtent::Phrase => phrase_end(text, at, true),
                ValueExtent::Line => phrase_end(text, at, false),
                ValueExtent::Segment => segment_end(text, at),
            };
            (end > at).then_some((at, end, false, end))
        }
    }
}

fn close(
    text: &[u8],
    start: usize,
    end: Option<usize>,
    quote_len: usize,
) -> (usize, usize, bool, usize) {
    match end {
        Some(end) => (start, end, true, end + quote_len),
        None => {
            let end = line_end(text, start);
            (start, end, true, end)
        }
    }
}

fn line_end(text: &[u8], from: usize) -> usize {
    memchr::memchr2(b'\n', b'\r', &text[from..]).map_or(text.len(), |i| from + i)
}

fn segment_end(text: &[u8], from: usize) -> usize {
    let mut end = from;
    while end < text.len()
        && !is_space(text[end])
        && !is_line_break(text[end])
        && !matches!(
            text[end],
            b'/' | b'?' | b'#' | b'&' | b';' | b'"' | b'\'' | b'<' | b'>' | b'\\' | b'|'
        )
    {
        end += 1;
    }
    end
}

fn token_end(text: &[u8], from: usize) -> usize {
    let mut end = from;
    while end < text.len() && !ends_token(text[end]) {
        end += 1;
    }
    end
}

const ORDINARY: u8 = 0;

/// Per byte, `ORDINARY` unless it may end a word of a phrase: a space, a
/// byte that [`ends_phrase`] (the comma included), `=` or `:`.
static PHRASE_BYTES: [u8; 256] = {
    let mut table = [ORDINARY; 256];
    let special = b" \t\n\r&;\"}]|<>\\,=:";
    let mut i = 0;
    while i < special.len() {
        table[special[i] as usize] = 1;
        i += 1;
    }
    table
};

/// Words separated by spaces; stops before a word that is the next key
/// (`dob=` or `dob: `), and trims trailing spaces.
fn phrase_end(text: &[u8], from: usize, commas_end: bool) -> usize {
    let mut end = from;
    let mut at = from;
    loop {
        let word_start = at;
        // Most bytes of a phrase are letters: one table lookup each, and
        // only the few bytes that may end a word are looked at closely.
        while at < text.len() {
            while at < text.len() && PHRASE_BYTES[usize::from(text[at])] == ORDINARY {
                at += 1;
            }
            let Some(&byte) = text.get(at) else {
                break;
            };
            if is_space(byte) || ends_phrase(byte, commas_end) {
                break;
            }
            let next = text.get(at + 1).copied();
            let is_key = at > word_start
                && (byte == b'='
                    || (byte == b':' && next.is_none_or(|n| is_space(n) || n == b'"')));
            if is_key {
                return end;
            }
            at += 1;
        }
        if at > word_start {
            end = at;
        }
        if at >= text.len() || !is_space(text[at]) {
            return end;
        }
        while at < text.len() && is_space(text[at]) {
            at += 1;
        }
    }
}

/// Whether an unquoted value is a JSON literal that labels nothing.
pub(super) fn is_literal(value: &[u8]) -> bool {
    matches!(value, b"null" | b"true" | b"false")
}

/// Where a value regex's match may end: at the end of the value or before a
/// space, tab, comma, period, or a closing `)` or `]` (`Patient(dob=1980-01-02)`
/// reaches the parenthesis as a phrase: names may hold one).
pub(super) fn ends_value(text: &[u8], end: usize, value_end: usize) -> bool {
    end == value_end
        || matches!(
            text.get(end),
            Some(b' ' | b'\t' | b',' | b'.' | b')' | b']')
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str, extent: ValueExtent) -> Vec<&str> {
        let key_end = match extent {
            ValueExtent::Segment => text[1..].find('/').unwrap() + 2,
            _ => text.find(['=', ':']).unwrap() + 1,
        };
        let mut spans = Vec::new();
        values(text.as_bytes(), key_end, extent, &mut |s, e, _| {
            spans.push((s, e))
        });
        spans.into_iter().map(|(s, e)| &text[s..e]).collect()
    }

    #[test]
    fn label_words_split_at_breaks() {
        assert_eq!(label_words("first_name"), ["first", "name"]);
        assert_eq!(label_words("birthDate"), ["birth", "date"]);
        assert_eq!(label_words("X-Forwarded-For"), ["x", "forwarded", "for"]);
        assert_eq!(label_words("address_line1"), ["address", "line1"]);
        assert_eq!(label_words("SSN"), ["ssn"]);
        assert_eq!(
            key_regex(
                &[label_words("first_name"), label_words("dob")],
                &[],
                Separator::Strict
            ),
            r#"(?i)\b(?:first[-_]?name|dob)(?:\\?["'])?[ \t]{0,8}[:=]"#
        );
        assert_eq!(
            key_regex(&[label_words("account_number")], &[], Separator::Loose),
            r#"(?i)\b(?:account[-_ ]?number)(?:(?:\\?["'])?[ \t]{0,8}[:=]|[ \t]{0,8}#[ \t]{0,8}|[ \t]{1,8})"#
        );
        assert_eq!(
            key_regex(
                &[label_words("mrn")],
                &[label_words("patient")],
                Separator::Strict
            ),
            r#"(?i)\b(?:(?:patient)[-_]?)?(?:mrn)(?:\\?["'])?[ \t]{0,8}[:=]"#
        );
        assert_eq!(
            key_regex(
                &[label_words("by-name"), label_words("dob")],
                &[],
                Separator::Path
            ),
            "(?i)/(?:dob|by[-_]?name)/"
        );
    }

    #[test]
    fn labels_normalize() {
        assert_eq!(normalize_label("first_name").as_deref(), Some("firstname"));
        assert_eq!(normalize_label("birthDate").as_deref(), Some("birthdate"));
        assert_eq!(
            normalize_label("X-Forwarded-For").as_deref(),
            Some("xforwardedfor")
        );
        for bad in ["", "_", "a.b", "a b", "ä", &"a".repeat(65)] {
            assert_eq!(normalize_label(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn value_extents() {
        use ValueExtent::*;
        let table: &[(&str, ValueExtent, &[&str])] = &[
            ("ssn=123-45-6789&x=1", Token, &["123-45-6789"]),
            ("ssn = 123 45 6789", Token, &["123"]),
            ("name=John Smith dob=1980", Phrase, &["John Smith"]),
            ("name=John Smith, age 4", Phrase, &["John Smith"]),
            ("name: John Smith  admitted: yes", Phrase, &["John Smith"]),
            ("name=Jane at 12:30 ok", Phrase, &["Jane at 12:30 ok"]),
            (
                "address: 1 Main St, Springfield IL; x",
                Line,
                &["1 Main St, Springfield IL"],
            ),
            (
                r#""name": "John \"J\" Smith", "x": 1"#,
                Token,
                &[r#"John \"J\" Smith"#],
            ),
            (r#""name":"Jane"#, Token, &["Jane"]),
            (r#"name='Jane Roe' ok"#, Token, &["Jane Roe"]),
            (r#"\"name\":\"Jane Roe\",\"x\":1"#, Token, &["Jane Roe"]),
            (r#""given": ["Jane", "Q", 7]"#, Token, &["Jane", "Q", "7"]),
            (r#""given": [["nested"]]"#, Token, &[]),
            (r#""name": {"family": "Roe"}"#, Token, &[]),
            ("name=", Token, &[]),
            ("name=   ", Phrase, &[]),
            ("dob=1980-01-02)", Token, &["1980-01-02"]),
            ("X-Name:[Jane Roe]]", Phrase, &["Jane Roe"]),
            ("X-Name:[Jane Roe, J. Roe]", Line, &["Jane Roe", "J. Roe"]),
            ("/dob/1980-01-02?x=1", Segment, &["1980-01-02"]),
            ("/n/Jane%20Roe HTTP/1.1", Segment, &["Jane%20Roe"]),
        ];
        for (text, extent, expected) in table {
            assert_eq!(&found(text, *extent), expected, "{text:?} {extent:?}");
        }
    }

    #[test]
    fn keys_are_whole_segments() {
        let text = b"y-name=1 service.name=2 a.b-c.name=3 X-Name:4 ax-name=5";
        assert_eq!(whole_key(text, 2), None);
        assert!(whole_key(text, 39).is_some());
        assert_eq!(whole_key(text, 49), None);
        assert_eq!(whole_key(text, 17), Some(&b"service.name"[..]));
        assert_eq!(whole_key(text, 30), Some(&b"a.b-c.name"[..]));
    }
}
