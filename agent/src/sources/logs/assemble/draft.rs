//! A record being assembled, and the size cap applied as it grows.
//!
//! The cap is applied at every append rather than once at the end so that a
//! runaway record (a line without end, a stack trace that never stops) holds
//! at most `max_record_bytes` of memory however long it runs.

use std::time::Instant;

use super::AssembledLine;
use crate::sources::logs::format::Fragment;

pub(super) struct Draft {
    /// The record so far. Once `truncated` is set, further content is dropped
    /// so a record never has a hole in its middle.
    pub line: AssembledLine,
    /// When its first line was pushed; timeouts count from here, as Vector's
    /// line aggregator does, so a record that keeps growing is still sent.
    pub started: Instant,
    /// Logical lines folded into it.
    pub lines: u32,
}

impl Draft {
    /// A draft from the first fragment of a logical line. `cut` says the
    /// reader already cut the physical line at the cap.
    pub fn start(
        fragment: Fragment<'_>,
        offset: u64,
        cut: bool,
        now: Instant,
        cap: usize,
    ) -> Draft {
        let mut draft = Draft {
            line: AssembledLine {
                start_offset: offset,
                timestamp: fragment.timestamp,
                stream: fragment.stream,
                // Docker's decoded text is already owned: this moves it, no copy.
                bytes: fragment.text.into_owned(),
                truncated: false,
                malformed: fragment.malformed,
            },
            started: now,
            lines: 1,
        };
        if draft.line.bytes.len() > cap {
            let next = draft.line.bytes[cap];
            draft.line.bytes.truncate(cap);
            drop_split_char(&mut draft.line.bytes, next);
            draft.line.truncated = true;
        }
        draft.line.truncated |= cut;
        draft
    }

    /// Joins the next part of a logical line the runtime cut (no separator).
    pub fn join_part(&mut self, fragment: &Fragment<'_>, cut: bool, cap: usize) {
        self.append(b"", &fragment.text, cap);
        self.line.truncated |= cut;
        self.line.malformed |= fragment.malformed;
    }

    /// Folds a continuation line (a stack frame, say) into this record.
    pub fn fold(&mut self, continuation: Draft, cap: usize) {
        self.append(b"\n", &continuation.line.bytes, cap);
        self.line.truncated |= continuation.line.truncated;
        self.line.malformed |= continuation.line.malformed;
        self.lines = self.lines.saturating_add(continuation.lines);
    }

    /// Nothing but whitespace: not worth a record.
    pub fn is_blank(&self) -> bool {
        self.line.bytes.iter().all(u8::is_ascii_whitespace)
    }

    pub fn into_line(self) -> AssembledLine {
        self.line
    }

    fn append(&mut self, separator: &[u8], text: &[u8], cap: usize) {
        if self.line.truncated {
            return;
        }
        let room = cap.saturating_sub(self.line.bytes.len());
        if separator.len() + text.len() <= room {
            self.line.bytes.extend_from_slice(separator);
            self.line.bytes.extend_from_slice(text);
            return;
        }
        self.line.truncated = true;
        let next = if room > separator.len() {
            self.line.bytes.extend_from_slice(separator);
            let keep = room - separator.len();
            self.line.bytes.extend_from_slice(&text[..keep]);
            text[keep]
        } else if separator.is_empty() {
            // Full already; the part may still finish a character it split.
            text[0]
        } else {
            // A record ending in a lone separator would look like an empty
            // line that was never written.
            return;
        };
        drop_split_char(&mut self.line.bytes, next);
    }
}

/// Drops the start of a UTF-8 sequence the cap split, so the record does not
/// end in a replacement character; `next` is the first byte cut away. Only
/// the last three kept bytes are looked at (a sequence is at most four).
fn drop_split_char(bytes: &mut Vec<u8>, next: u8) {
    let is_continuation = |b: u8| b & 0xC0 == 0x80;
    if !is_continuation(next) {
        return;
    }
    for back in 1..=bytes.len().min(3) {
        let byte = bytes[bytes.len() - back];
        if is_continuation(byte) {
            continue;
        }
        let sequence_len = match byte {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        if sequence_len > back {
            bytes.truncate(bytes.len() - back);
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use crate::sources::logs::format::{decode, Format};

    use super::*;

    fn fragment(text: &[u8]) -> Fragment<'_> {
        decode(Format::Plain, text)
    }

    fn draft(text: &[u8], cap: usize) -> Draft {
        Draft::start(fragment(text), 0, false, Instant::now(), cap)
    }

    #[test]
    fn cap_keeps_the_first_bytes() {
        let d = draft(b"abcdef", 4);
        assert_eq!(d.line.bytes, b"abcd");
        assert!(d.line.truncated);
        let d = draft(b"abcd", 4);
        assert_eq!(d.line.bytes, b"abcd");
        assert!(!d.line.truncated);
    }

    #[test]
    fn cap_does_not_split_a_character() {
        // "né" is 6E C3 A9; a cap of 2 falls inside the é.
        let d = draft("né".as_bytes(), 2);
        assert_eq!(d.line.bytes, b"n");
        // A 4-byte character cut after any of its first three bytes.
        for cap in 1..=3 {
            let d = draft("🩺".as_bytes(), cap);
            assert!(d.line.bytes.is_empty(), "cap {cap}");
        }
        let d = draft("a🩺b".as_bytes(), 5);
        assert_eq!(d.line.bytes, "a🩺".as_bytes());
    }

    #[test]
    fn invalid_utf8_is_cut_where_the_cap_says() {
        let d = draft(b"ab\x80\x80\x80\x80", 4);
        assert_eq!(d.line.bytes, b"ab\x80\x80");
        // A complete character followed by a stray continuation byte stays.
        let d = draft(b"\xc3\xa9\x80", 2);
        assert_eq!(d.line.bytes, b"\xc3\xa9");
    }

    #[test]
    fn character_split_across_appends() {
        let mut d = draft(b"ab\xc3", 3);
        assert!(!d.line.truncated);
        d.join_part(&fragment(b"\xa9cd"), false, 3);
        assert_eq!(d.line.bytes, b"ab");
        assert!(d.line.truncated);
    }

    #[test]
    fn nothing_is_added_once_truncated() {
        let mut d = draft(b"abc", 5);
        d.join_part(&fragment(b"def"), false, 5);
        assert_eq!(d.line.bytes, b"abcde");
        d.fold(draft(b"x", 5), 5);
        assert_eq!(d.line.bytes, b"abcde");
        assert_eq!(d.lines, 2);
    }

    #[test]
    fn separator_alone_is_not_kept() {
        let mut d = draft(b"abc", 4);
        d.fold(draft(b"xyz", 4), 4);
        assert_eq!(d.line.bytes, b"abc");
        assert!(d.line.truncated);
        let mut d = draft(b"abcd", 4);
        d.fold(draft(b"xyz", 4), 4);
        assert_eq!(d.line.bytes, b"abcd");
        assert!(d.line.truncated);
    }

    #[test]
    fn reader_cut_marks_truncated() {
        let d = Draft::start(fragment(b"abc"), 7, true, Instant::now(), 100);
        assert!(d.line.truncated);
        assert_eq!(d.line.start_offset, 7);
    }
}
