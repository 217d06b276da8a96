//! Plain files: each line is the application's own text.

use std::borrow::Cow;

use super::Fragment;

/// The line itself, without a trailing `\r` (files written on or for Windows).
pub(super) fn decode(line: &[u8]) -> Fragment<'_> {
    let text = line.strip_suffix(b"\r").unwrap_or(line);
    Fragment {
        timestamp: None,
        stream: None,
        text: Cow::Borrowed(text),
        partial: false,
        malformed: false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{decode, Format};

    #[test]
    fn the_line_is_the_text() {
        let fragment = decode(Format::Plain, b"2024-01-02 03:04:05 INFO admitted\r");
        assert_eq!(&fragment.text[..], b"2024-01-02 03:04:05 INFO admitted");
        assert_eq!(fragment.timestamp, None);
        assert_eq!(fragment.stream, None);
        assert!(!fragment.partial && !fragment.malformed);
    }

    #[test]
    fn empty_and_invalid_utf8_lines() {
        assert_eq!(&decode(Format::Plain, b"").text[..], b"");
        assert_eq!(&decode(Format::Plain, b"\xff\xfe").text[..], b"\xff\xfe");
    }
}
