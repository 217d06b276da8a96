//! Decoded views of a text: what a JSON string escape or a URL percent escape
//! hides from an automaton that reads the bytes as written.
//!
//! A service that logs a JSON document inside a string writes `\"ssn\":\"…\"`
//! and `\u0040` for `@`; a URL carries `%40` and `+`. Rules are written for
//! the decoded text, so the scanner reads a decoded copy as well, and a map
//! from each decoded byte back to the span of the original that produced it
//! turns a hit in the copy into the original span to replace. A view is only
//! built when the text holds an escape of its kind (one `memchr` pass says so);
//! its buffers live in the scanner's scratch and are reused, and decoding only
//! ever shrinks the text, so the work is bounded by the text's length.

/// A decoded copy of a text and where each of its bytes came from.
#[derive(Debug, Default)]
pub(super) struct View {
    pub(super) bytes: Vec<u8>,
    /// For decoded byte `i`, the original span `starts[i]..ends[i]`.
    starts: Vec<u32>,
    ends: Vec<u32>,
}

impl View {
    fn clear(&mut self) {
        self.bytes.clear();
        self.starts.clear();
        self.ends.clear();
    }

    fn push(&mut self, byte: u8, from: usize, to: usize) {
        self.bytes.push(byte);
        self.starts.push(from as u32);
        self.ends.push(to as u32);
    }

    fn push_str(&mut self, bytes: &[u8], from: usize, to: usize) {
        for &byte in bytes {
            self.push(byte, from, to);
        }
    }

    /// The original span of the decoded span `start..end` (not empty).
    pub(super) fn original(&self, start: usize, end: usize) -> (usize, usize) {
        (self.starts[start] as usize, self.ends[end - 1] as usize)
    }
}

/// The kinds of view, in the order they are tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Encoding {
    /// JSON string escapes: `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`, `\uXXXX`.
    JsonString,
    /// URL percent escapes `%XX`, and `+` as a space.
    Percent,
}

pub(super) const ENCODINGS: [Encoding; 2] = [Encoding::JsonString, Encoding::Percent];

/// Decodes `text` into `view` if it holds an escape of this kind; `false`
/// (and no work beyond one `memchr` pass) when it does not.
pub(super) fn decode(encoding: Encoding, text: &[u8], view: &mut View) -> bool {
    match encoding {
        Encoding::JsonString => {
            if !has_json_escape(text) {
                return false;
            }
            json_unescape(text, view);
            true
        }
        Encoding::Percent => {
            if !has_percent_escape(text) {
                return false;
            }
            percent_decode(text, view);
            true
        }
    }
}

fn has_json_escape(text: &[u8]) -> bool {
    memchr::memchr_iter(b'\\', text).any(|at| {
        matches!(
            text.get(at + 1),
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' | b'u')
        )
    })
}

fn has_percent_escape(text: &[u8]) -> bool {
    memchr::memchr_iter(b'%', text).any(|at| hex_pair(text, at + 1).is_some())
}

fn hex_pair(text: &[u8], at: usize) -> Option<u8> {
    let high = hex(*text.get(at)?)?;
    let low = hex(*text.get(at + 1)?)?;
    Some(high << 4 | low)
}

fn hex(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

fn hex4(text: &[u8], at: usize) -> Option<u32> {
    let mut value = 0u32;
    for offset in 0..4 {
        value = value << 4 | u32::from(hex(*text.get(at + offset)?)?);
    }
    Some(value)
}

/// JSON-unescapes `text`. Anything that is not a valid escape is copied as it
/// is; a lone surrogate becomes U+FFFD, as serde_json would refuse it.
fn json_unescape(text: &[u8], view: &mut View) {
    view.clear();
    let mut at = 0;
    while at < text.len() {
        let next = match memchr::memchr(b'\\', &text[at..]) {
            Some(offset) => at + offset,
            None => text.len(),
        };
        for (offset, &byte) in text[at..next].iter().enumerate() {
            view.push(byte, at + offset, at + offset + 1);
        }
        at = next;
        if at >= text.len() {
            break;
        }
        let simple = match text.get(at + 1) {
            Some(b'"') => Some(b'"'),
            Some(b'\\') => Some(b'\\'),
            Some(b'/') => Some(b'/'),
            Some(b'b') => Some(0x08),
            Some(b'f') => Some(0x0c),
            Some(b'n') => Some(b'\n'),
            Some(b'r') => Some(b'\r'),
            Some(b't') => Some(b'\t'),
            _ => None,
        };
        if let Some(byte) = simple {
            view.push(byte, at, at + 2);
            at += 2;
            continue;
        }
        if text.get(at + 1) == Some(&b'u') {
            if let Some(unit) = hex4(text, at + 2) {
                let (c, used) = match unit {
                    0xD800..=0xDBFF => {
                        let low = (text.get(at + 6) == Some(&b'\\')
                            && text.get(at + 7) == Some(&b'u'))
                        .then(|| hex4(text, at + 8))
                        .flatten()
                        .filter(|low| (0xDC00..=0xDFFF).contains(low));
                        match low {
                            Some(low) => {
                                let code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                                (char::from_u32(code).unwrap_or('\u{FFFD}'), 12)
                            }
                            None => ('\u{FFFD}', 6),
                        }
                    }
                    _ => (char::from_u32(unit).unwrap_or('\u{FFFD}'), 6),
                };
                let mut buf = [0u8; 4];
                view.push_str(c.encode_utf8(&mut buf).as_bytes(), at, at + used);
                at += used;
                continue;
            }
        }
        view.push(b'\\', at, at + 1);
        at += 1;
    }
}

/// Percent-decodes `text`, with `+` as a space (form encoding).
fn percent_decode(text: &[u8], view: &mut View) {
    view.clear();
    let mut at = 0;
    while at < text.len() {
        match text[at] {
            b'%' => match hex_pair(text, at + 1) {
                Some(byte) => {
                    view.push(byte, at, at + 3);
                    at += 3;
                }
                None => {
                    view.push(b'%', at, at + 1);
                    at += 1;
                }
            },
            b'+' => {
                view.push(b' ', at, at + 1);
                at += 1;
            }
            byte => {
                view.push(byte, at, at + 1);
                at += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(encoding: Encoding, text: &str) -> Option<(String, View)> {
        let mut view = View::default();
        decode(encoding, text.as_bytes(), &mut view)
            .then(|| (String::from_utf8_lossy(&view.bytes).into_owned(), view))
    }

    #[test]
    fn json_escapes_decode_and_map_back() {
        let text = r#"{\"email\":\"a\u0040b.test\", \"n\":\"\ud83d\ude00\"}"#;
        let (plain, view) = decoded(Encoding::JsonString, text).unwrap();
        assert_eq!(plain, "{\"email\":\"a@b.test\", \"n\":\"\u{1F600}\"}");
        let at = plain.find('@').unwrap();
        let (start, end) = view.original(at, at + 1);
        assert_eq!(&text[start..end], r"\u0040");
        let a = plain.find("a@").unwrap();
        let (start, end) = view.original(a, a + "a@b.test".len());
        assert_eq!(&text[start..end], r"a\u0040b.test");
        let emoji = plain.find('\u{1F600}').unwrap();
        let (start, end) = view.original(emoji, emoji + 4);
        assert_eq!(&text[start..end], r"\ud83d\ude00");
    }

    #[test]
    fn malformed_escapes_are_kept_as_written() {
        let (plain, _) = decoded(Encoding::JsonString, r"a\x \u12 \ud800x \n").unwrap();
        assert_eq!(plain, "a\\x \\u12 \u{FFFD}x \n");
        assert!(decoded(Encoding::JsonString, r"C:\x\y").is_none());
    }

    #[test]
    fn percent_escapes_and_plus_decode() {
        let text = "q=jane%40example.test&name=Jane+Roe%2";
        let (plain, view) = decoded(Encoding::Percent, text).unwrap();
        assert_eq!(plain, "q=jane@example.test&name=Jane Roe%2");
        let at = plain.find('@').unwrap();
        assert_eq!(view.original(at, at + 1), (6, 9));
        assert!(decoded(Encoding::Percent, "100% sure + more").is_none());
    }
}
