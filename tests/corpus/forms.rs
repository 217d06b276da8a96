//! Encoded forms and decoded views: every way a value may be written into a
//! line (JSON escapes in several serializers' styles, percent-encoding, HL7)
//! and the decoders that undo them, plus the JSON writer the renderers use.

use std::fmt::Write as _;

use super::*;

/// Every form in which `value` may appear inside a line's text: as written;
/// upper case; a two-part name as `Family^Given` (HL7) and `Family, Given`; an
/// ISO date as `YYYYMMDD` and `MM/DD/YYYY`; digits alone; each of those
/// JSON-escaped (serde, ASCII-only, Gson, .NET, PHP, `@` as `\u0040`), twice
/// or three times JSON-escaped (a document in a string), percent-encoded (`+` or `%20`,
/// upper or lower hex, as a component, a form value or a path segment), then
/// maybe JSON-escaped; and the value HL7-escaped (`\S\` for `^`). The value
/// itself comes first.
pub fn encoded_forms(value: &str) -> Vec<String> {
    let semantic = spellings(value);
    let mut forms: Vec<String> = Vec::new();
    let mut add = |form: String| {
        if !forms.contains(&form) {
            forms.push(form);
        }
    };
    for s in &semantic {
        add(s.clone());
        let json_changes = s.chars().any(|c| !c.is_ascii() || JSON_SPECIAL.contains(c));
        if json_changes {
            // Up to three layers (a document in a string in a string), each
            // layer's distinct results escaped again by every style.
            let mut layer = vec![s.clone()];
            for _ in 0..3 {
                let mut next: Vec<String> = Vec::new();
                for text in &layer {
                    for style in JsonStyle::ALL {
                        let escaped = json_escaped(text, style);
                        if !next.contains(&escaped) {
                            next.push(escaped);
                        }
                    }
                }
                for form in &next {
                    add(form.clone());
                }
                layer = next;
            }
        }
        let pct_changes = !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c));
        if pct_changes {
            for style in PctStyle::ALL {
                for upper in [true, false] {
                    let encoded = pct_encode(s, style, upper);
                    for json in JsonStyle::ALL {
                        add(json_escaped(&encoded, json));
                    }
                    add(encoded);
                }
            }
        }
    }
    add(hl7_escape(value));
    forms
}

/// The ways people spell `value` before any escaping: as given; a two-part
/// name as `Family^Given` (HL7) and `Family, Given`; an ISO date as
/// `YYYYMMDD` and `MM/DD/YYYY`; a number with separators as digits alone;
/// each of those in upper case. Every form in [`encoded_forms`] decodes (see
/// [`decoded_views`]) to one of these.
pub fn spellings(value: &str) -> Vec<String> {
    let mut semantic = vec![value.to_owned()];
    if let Some((given, family)) = name_parts(value) {
        semantic.push(format!("{family}^{given}"));
        semantic.push(format!("{family}, {given}"));
    }
    if let Some(date) = parse_iso_date(value) {
        semantic.push(date.format("%Y%m%d").to_string());
        semantic.push(date.format("%m/%d/%Y").to_string());
    }
    let digits: String = value.chars().filter(char::is_ascii_digit).collect();
    if digits.len() >= 7
        && digits.len() < value.len()
        && value
            .chars()
            .all(|c| c.is_ascii_digit() || "-. ()+".contains(c))
    {
        semantic.push(digits);
    }
    for i in 0..semantic.len() {
        let upper = semantic[i].to_uppercase();
        if upper != semantic[i] {
            semantic.push(upper);
        }
    }
    semantic
}

/// Characters that some JSON serializer escapes.
const JSON_SPECIAL: &str = "\"\\/<>&='+@`";

/// The text and what it says once decoded: JSON string escapes undone
/// (`\"`, `\\`, `\/`, `\r`, `\uXXXX` with surrogate pairs; anything else left
/// as written), percent-encoding undone with `+` as a space and as a `+`, HL7
/// escapes (`\S\`, `\F\`…) undone, and combinations, up to three layers
/// deep. The text itself comes first.
pub fn decoded_views(text: &str) -> Vec<String> {
    let mut views = vec![text.to_owned()];
    let mut next = 0;
    let mut depth = vec![0u8];
    while next < views.len() && views.len() < 24 {
        let view = views[next].clone();
        let level = depth[next];
        next += 1;
        if level >= 3 {
            continue;
        }
        let mut candidates = Vec::new();
        if view.contains('\\') {
            candidates.push(json_unescape(&view));
        }
        if view.contains("\\S\\")
            || view.contains("\\F\\")
            || view.contains("\\T\\")
            || view.contains("\\R\\")
            || view.contains("\\E\\")
        {
            candidates.push(hl7_unescape(&view));
        }
        if view.contains('%') || view.contains('+') {
            candidates.push(pct_decode(&view, true));
            candidates.push(pct_decode(&view, false));
        }
        for candidate in candidates {
            if !views.contains(&candidate) {
                views.push(candidate);
                depth.push(level + 1);
            }
        }
    }
    views
}

/// The forms whose survival means a leak: a name's parts count on their own.
pub(super) fn leak_forms(planted: &Planted) -> Vec<String> {
    let mut forms = encoded_forms(&planted.value);
    if planted.kind == PhiKind::Name {
        for part in planted.value.split([' ', ',']) {
            if part.chars().filter(|c| c.is_alphabetic()).count() >= 2 && part != planted.value {
                for form in encoded_forms(part) {
                    if !forms.contains(&form) {
                        forms.push(form);
                    }
                }
            }
        }
    }
    forms
}

/// The first occurrence of `needle` in `haystack` that is a whole token: no
/// letter or digit glued to a side where `needle` itself has one.
pub(super) fn find_bounded(haystack: &str, needle: &str) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    let starts_alnum = needle.chars().next().is_some_and(char::is_alphanumeric);
    let ends_alnum = needle
        .chars()
        .next_back()
        .is_some_and(char::is_alphanumeric);
    let mut from = 0;
    while let Some(at) = haystack[from..].find(needle) {
        let start = from + at;
        let end = start + needle.len();
        let before_ok = !starts_alnum
            || !haystack[..start]
                .chars()
                .next_back()
                .is_some_and(char::is_alphanumeric)
            || ends_with_escape(&haystack[..start]);
        let after_ok = !ends_alnum
            || !haystack[end..]
                .chars()
                .next()
                .is_some_and(char::is_alphanumeric);
        if before_ok && after_ok {
            return Some(start);
        }
        from = start + needle.chars().next().map_or(1, char::len_utf8);
    }
    None
}

/// How many times `needle` occurs in `haystack` as a whole token (see
/// [`find_bounded`]), not overlapping.
pub(super) fn count_bounded(haystack: &str, needle: &str) -> usize {
    let mut count = 0;
    let mut from = 0;
    while let Some(at) = find_bounded(&haystack[from..], needle) {
        count += 1;
        from += at + needle.len();
    }
    count
}

/// Whether `text` ends with an escape (`%7C`, `\u0027`, `\n`): what follows
/// it starts a token even though a letter or digit precedes it.
fn ends_with_escape(text: &str) -> bool {
    let b = text.as_bytes();
    let n = b.len();
    (n >= 3 && b[n - 3] == b'%' && b[n - 2].is_ascii_hexdigit() && b[n - 1].is_ascii_hexdigit())
        || (n >= 6
            && b[n - 6] == b'\\'
            && b[n - 5] == b'u'
            && b[n - 4..].iter().all(u8::is_ascii_hexdigit))
        || (n >= 2 && b[n - 2] == b'\\' && matches!(b[n - 1], b'n' | b'r' | b't'))
}

/// `Given Family` → (`Given`, `Family`), for values that look like a name.
fn name_parts(value: &str) -> Option<(&str, &str)> {
    let (given, family) = value.split_once(' ')?;
    let word = |w: &str| {
        w.chars().next().is_some_and(char::is_uppercase)
            && w.chars()
                .all(|c| c.is_alphabetic() || c == '\'' || c == '-')
    };
    (word(given) && word(family)).then_some((given, family))
}

fn parse_iso_date(value: &str) -> Option<NaiveDate> {
    if value.len() != 10 || value.as_bytes()[4] != b'-' || value.as_bytes()[7] != b'-' {
        return None;
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d").ok()
}

// ---- JSON ----------------------------------------------------------------

/// How a serializer escapes strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonStyle {
    /// serde_json, Jackson, Go: `"`, `\`, control characters.
    Min,
    /// Python's `ensure_ascii`: also non-ASCII as `\u00eb`.
    Ascii,
    /// Gson's HTML-safe default: also `<>&='` as `\u003c`…
    Gson,
    /// .NET's System.Text.Json: non-ASCII, `<>&'+"` and backtick as `\u00EB`.
    DotNet,
    /// PHP's `json_encode`: `/` as `\/`, non-ASCII as `\u00eb`.
    Php,
    /// A hardened encoder that also writes `@` as `\u0040`.
    AtEscaped,
}

impl JsonStyle {
    pub const ALL: [JsonStyle; 6] = [
        JsonStyle::Min,
        JsonStyle::Ascii,
        JsonStyle::Gson,
        JsonStyle::DotNet,
        JsonStyle::Php,
        JsonStyle::AtEscaped,
    ];
}

pub fn json_escaped(s: &str, style: JsonStyle) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    json_escape_into(&mut out, s, style);
    out
}

fn json_escape_into(out: &mut String, s: &str, style: JsonStyle) {
    let unicode = |out: &mut String, c: char, upper: bool| {
        let mut buf = [0u16; 2];
        for unit in c.encode_utf16(&mut buf) {
            if upper {
                let _ = write!(out, "\\u{unit:04X}");
            } else {
                let _ = write!(out, "\\u{unit:04x}");
            }
        }
    };
    for c in s.chars() {
        match (c, style) {
            ('"', JsonStyle::DotNet) => unicode(out, c, true),
            ('"', _) => out.push_str("\\\""),
            ('\\', _) => out.push_str("\\\\"),
            ('\n', _) => out.push_str("\\n"),
            ('\r', _) => out.push_str("\\r"),
            ('\t', _) => out.push_str("\\t"),
            (c, JsonStyle::DotNet) if (c as u32) < 0x20 => unicode(out, c, true),
            (c, _) if (c as u32) < 0x20 => unicode(out, c, false),
            ('/', JsonStyle::Php) => out.push_str("\\/"),
            ('<' | '>' | '&' | '=' | '\'', JsonStyle::Gson) => unicode(out, c, false),
            ('<' | '>' | '&' | '\'' | '+' | '`', JsonStyle::DotNet) => unicode(out, c, true),
            ('@', JsonStyle::AtEscaped) => unicode(out, c, false),
            (c, JsonStyle::Ascii | JsonStyle::Php) if !c.is_ascii() => unicode(out, c, false),
            (c, JsonStyle::DotNet) if !c.is_ascii() => unicode(out, c, true),
            (c, _) => out.push(c),
        }
    }
}

/// Undoes JSON string escapes leniently: an escape that is not JSON's stays
/// as written (HL7's `\F\`, `MSH|^~\&`), a lone surrogate too.
fn json_unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let hex4 = |at: usize| -> Option<u32> {
        let digits = s.get(at..at + 4)?;
        if digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            u32::from_str_radix(digits, 16).ok()
        } else {
            None
        }
    };
    while i < bytes.len() {
        if bytes[i] != b'\\' || i + 1 >= bytes.len() {
            let c = s[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
            continue;
        }
        let simple = match bytes[i + 1] {
            b'"' => Some('"'),
            b'\\' => Some('\\'),
            b'/' => Some('/'),
            b'n' => Some('\n'),
            b'r' => Some('\r'),
            b't' => Some('\t'),
            b'b' => Some('\u{8}'),
            b'f' => Some('\u{c}'),
            _ => None,
        };
        if let Some(c) = simple {
            out.push(c);
            i += 2;
            continue;
        }
        if bytes[i + 1] == b'u' {
            if let Some(unit) = hex4(i + 2) {
                if (0xD800..0xDC00).contains(&unit)
                    && s.get(i + 6..i + 8) == Some("\\u")
                    && hex4(i + 8).is_some_and(|low| (0xDC00..0xE000).contains(&low))
                {
                    let low = hex4(i + 8).unwrap();
                    let c = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                    if let Some(c) = char::from_u32(c) {
                        out.push(c);
                        i += 12;
                        continue;
                    }
                }
                if let Some(c) = char::from_u32(unit) {
                    out.push(c);
                    i += 6;
                    continue;
                }
            }
        }
        out.push('\\');
        i += 1;
    }
    out
}

/// A JSON value as the generator writes it (keys in insertion order).
#[derive(Clone, Debug)]
pub(super) enum J {
    S(String),
    /// A number, `true`, `false` or `null`, written as is.
    Raw(String),
    O(Vec<(String, J)>),
    A(Vec<J>),
}

pub(super) fn js(s: impl Into<String>) -> J {
    J::S(s.into())
}

pub(super) fn jo(entries: Vec<(&str, J)>) -> J {
    J::O(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

/// Sets `key` in an object's entries: replaces its value if present, else
/// appends it (serializers write each key once).
pub(super) fn set(entries: &mut Vec<(String, J)>, key: &str, value: J) {
    match entries.iter_mut().find(|(k, _)| k == key) {
        Some(entry) => entry.1 = value,
        None => entries.push((key.to_owned(), value)),
    }
}

pub(super) fn write_json(j: &J, style: JsonStyle) -> String {
    let mut out = String::with_capacity(256);
    write_json_into(&mut out, j, style);
    out
}

fn write_json_into(out: &mut String, j: &J, style: JsonStyle) {
    match j {
        J::S(s) => {
            out.push('"');
            json_escape_into(out, s, style);
            out.push('"');
        }
        J::Raw(raw) => out.push_str(raw),
        J::O(entries) => {
            out.push('{');
            for (i, (key, value)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('"');
                json_escape_into(out, key, style);
                out.push_str("\":");
                write_json_into(out, value, style);
            }
            out.push('}');
        }
        J::A(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_into(out, item, style);
            }
            out.push(']');
        }
    }
}

// ---- percent-encoding ------------------------------------------------------

/// What a URL encoder leaves as is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PctStyle {
    /// JavaScript's `encodeURIComponent`: `A-Za-z0-9-_.!~*'()`, space `%20`.
    Component,
    /// HTML forms, Java's `URLEncoder`: `A-Za-z0-9-_.*`, space `+`.
    Form,
    /// An RFC 3986 path segment: unreserved, sub-delims, `:` and `@`.
    Path,
}

impl PctStyle {
    pub(super) const ALL: [PctStyle; 3] = [PctStyle::Component, PctStyle::Form, PctStyle::Path];
}

pub(super) fn pct_encode(s: &str, style: PctStyle, upper: bool) -> String {
    let keep: &str = match style {
        PctStyle::Component => "-_.!~*'()",
        PctStyle::Form => "-_.*",
        PctStyle::Path => "-._~!$&'()*+,;=:@",
    };
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || keep.as_bytes().contains(&b) {
            out.push(char::from(b));
        } else if b == b' ' && style == PctStyle::Form {
            out.push('+');
        } else if upper {
            let _ = write!(out, "%{b:02X}");
        } else {
            let _ = write!(out, "%{b:02x}");
        }
    }
    out
}

fn hex_digit(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).map(|d| d as u8)
}

fn pct_decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 3 <= bytes.len() => {
                let hex = &bytes[i + 1..i + 3];
                match (hex_digit(hex[0]), hex_digit(hex[1])) {
                    (Some(high), Some(low)) => {
                        let b = high * 16 + low;
                        out.push(b);
                        i += 3;
                    }
                    _ => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    match String::from_utf8(out) {
        Ok(decoded) => decoded,
        Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
    }
}

// ---- HL7 -------------------------------------------------------------------

/// HL7 v2 escapes for the default delimiters `|^~\&`.
pub(super) fn hl7_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' => out.push_str("\\F\\"),
            '^' => out.push_str("\\S\\"),
            '&' => out.push_str("\\T\\"),
            '~' => out.push_str("\\R\\"),
            '\\' => out.push_str("\\E\\"),
            c => out.push(c),
        }
    }
    out
}

/// Undoes [`hl7_escape`] (other escapes, such as `\.br\`, stay as written).
fn hl7_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let b = tail.as_bytes();
        let decoded = match (b.get(1), b.get(2)) {
            (Some(b'F'), Some(b'\\')) => Some('|'),
            (Some(b'S'), Some(b'\\')) => Some('^'),
            (Some(b'T'), Some(b'\\')) => Some('&'),
            (Some(b'R'), Some(b'\\')) => Some('~'),
            (Some(b'E'), Some(b'\\')) => Some('\\'),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &tail[3..];
            }
            None => {
                out.push('\\');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A segment from its fields (index 0 is the segment id), trailing empty
/// fields left out as senders do.
pub(super) fn hl7_segment(mut fields: Vec<String>) -> String {
    while fields.len() > 1 && fields.last().is_some_and(String::is_empty) {
        fields.pop();
    }
    fields.join("|")
}
