//! HL7 v2 segments in text: the fields of one segment, by number.
//!
//! An HL7 v2 message is segments separated by carriage returns; logged, it
//! shows up with `\r` as written by a JSON encoder, with line feeds, or in one
//! line. The segment id is a literal, so `memmem` (SIMD) finds candidates and
//! everything else is a walk over the separators of that one segment.

use memchr::memmem;

/// Whether a segment may start at `at`: the start of the text, after a
/// carriage return or line feed, or after their escaped spellings `\r`, `\n`.
fn starts_segment(text: &[u8], at: usize) -> bool {
    at == 0
        || matches!(text[at - 1], b'\r' | b'\n')
        || (at >= 2 && text[at - 2] == b'\\' && matches!(text[at - 1], b'r' | b'n'))
}

/// Whether a segment of one of `ids` may start somewhere in `text`: one pass
/// over the bytes that can open a segment ([`starts_segment`]), so a text
/// with none (most log lines) skips every rule's own search.
pub(super) fn any_segment(text: &[u8], ids: &[[u8; 3]]) -> bool {
    let opens = |at: usize| {
        text.get(at..at + 3)
            .is_some_and(|id| ids.iter().any(|known| known == id))
    };
    opens(0)
        || memchr::memchr3_iter(b'\r', b'\n', b'\\', text).any(|at| match text[at] {
            b'\\' => matches!(text.get(at + 1), Some(b'r' | b'n')) && opens(at + 2),
            _ => opens(at + 1),
        })
}

/// Where the segment that continues at `from` ends.
fn segment_end(text: &[u8], from: usize) -> usize {
    let mut at = from;
    while let Some(offset) = memchr::memchr3(b'\r', b'\n', b'\\', &text[at..]) {
        let found = at + offset;
        if text[found] != b'\\' || matches!(text.get(found + 1), Some(b'r' | b'n')) {
            return found;
        }
        at = found + 1;
    }
    text.len()
}

/// The field separator in force at `at`: the character after `MSH` in the
/// nearest preceding MSH segment, else `|`.
fn separator_before(text: &[u8], at: usize) -> u8 {
    let mut end = at;
    while let Some(found) = memmem::rfind(&text[..end], b"MSH") {
        if starts_segment(text, found) {
            return match text.get(found + 3) {
                Some(&sep) if sep.is_ascii_punctuation() && sep != b'\\' => sep,
                _ => b'|',
            };
        }
        end = found;
    }
    b'|'
}

/// Calls `emit` with the span of each non-empty listed field (sorted
/// `fields`) of every `segment` in `text`.
pub(super) fn find(
    text: &[u8],
    segment: &memmem::Finder<'_>,
    fields: &[u16],
    emit: &mut dyn FnMut(usize, usize),
) {
    let Some(&last_field) = fields.last() else {
        return;
    };
    for at in segment.find_iter(text) {
        if !starts_segment(text, at) {
            continue;
        }
        let sep = separator_before(text, at);
        if text.get(at + 3) != Some(&sep) {
            continue;
        }
        let end = segment_end(text, at + 4);
        let mut field = 1u16;
        let mut start = at + 4;
        loop {
            let field_end = memchr::memchr(sep, &text[start..end]).map_or(end, |i| start + i);
            if field_end > start && fields.binary_search(&field).is_ok() {
                emit(start, field_end);
            }
            if field_end >= end || field >= last_field {
                break;
            }
            field += 1;
            start = field_end + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields_of<'t>(text: &'t str, fields: &[u16]) -> Vec<&'t str> {
        let finder = memmem::Finder::new(b"PID");
        let mut spans = Vec::new();
        find(text.as_bytes(), &finder, fields, &mut |s, e| {
            spans.push((s, e))
        });
        spans.into_iter().map(|(s, e)| &text[s..e]).collect()
    }

    #[test]
    fn pid_fields_by_number() {
        let message = "MSH|^~\\&|LAB|H|||202405011200||ADT^A01|1|P|2.5\rPID|1||123^^^H^MR||Roe^Jane||19800102|F\rPV1|1|I";
        assert_eq!(
            fields_of(message, &[3, 5, 7]),
            ["123^^^H^MR", "Roe^Jane", "19800102"]
        );
        assert_eq!(fields_of(message, &[2, 4, 6]), Vec::<&str>::new());
        assert_eq!(fields_of(message, &[8, 9]), ["F"]);
    }

    #[test]
    fn breaks_and_separators() {
        let escaped = r"MSH|^~\&|A\rPID|1||123||Roe^Jane\rPV1|x";
        assert_eq!(fields_of(escaped, &[3, 5]), ["123", "Roe^Jane"]);
        let lines = "MSH#^~\\&#A\nPID#1##123##Roe^Jane\n";
        assert_eq!(fields_of(lines, &[3, 5]), ["123", "Roe^Jane"]);
        let bare = "PID|1||123";
        assert_eq!(fields_of(bare, &[3]), ["123"]);
        // Not at a segment start, or not followed by the separator.
        assert!(fields_of("xPID|1||123", &[3]).is_empty());
        assert!(fields_of("PIDX|1||123", &[3]).is_empty());
        // HL7's own escapes (`\F\`) stay inside the field.
        assert_eq!(fields_of(r"PID|1||12\F\3|x", &[3]), [r"12\F\3"]);
    }
}
