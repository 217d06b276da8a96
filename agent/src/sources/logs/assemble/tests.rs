use std::time::{Duration, Instant};

use proptest::prelude::*;
use regex::bytes::Regex;

use super::*;

const TIME: &str = "2024-01-02T03:04:05.123456789Z";

fn docker(log: &str, stream: &str) -> Vec<u8> {
    serde_json::json!({ "log": log, "stream": stream, "time": TIME })
        .to_string()
        .into_bytes()
}

fn cri(stream: &str, tag: &str, text: &str) -> Vec<u8> {
    format!("{TIME} {stream} {tag} {text}").into_bytes()
}

/// A file being read: lines pushed one after the other at their offsets.
struct Feed {
    assembler: Assembler,
    offset: u64,
    now: Instant,
    out: Vec<AssembledLine>,
}

impl Feed {
    fn new(config: AssemblerConfig) -> Self {
        Feed {
            assembler: Assembler::new(config),
            offset: 0,
            now: Instant::now(),
            out: Vec::new(),
        }
    }

    fn no_multiline() -> Self {
        Feed::new(AssemblerConfig {
            multiline: None,
            ..AssemblerConfig::default()
        })
    }

    fn java() -> Self {
        Feed::new(AssemblerConfig::default())
    }

    /// Pushes a line; returns its offset.
    fn line(&mut self, line: impl AsRef<[u8]>) -> u64 {
        self.push(line.as_ref(), false)
    }

    fn cut_line(&mut self, line: impl AsRef<[u8]>) -> u64 {
        self.push(line.as_ref(), true)
    }

    fn push(&mut self, line: &[u8], cut: bool) -> u64 {
        let offset = self.offset;
        self.assembler
            .push(line, offset, cut, self.now, &mut self.out);
        self.offset += line.len() as u64 + 1;
        offset
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    fn flush_expired(&mut self) {
        self.assembler.flush_expired(self.now, &mut self.out);
    }

    fn flush_all(&mut self) {
        self.assembler.flush_all(&mut self.out);
    }

    fn take(&mut self) -> Vec<AssembledLine> {
        std::mem::take(&mut self.out)
    }

    fn texts(&mut self) -> Vec<String> {
        self.take()
            .into_iter()
            .map(|line| String::from_utf8(line.bytes).unwrap())
            .collect()
    }
}

#[test]
fn docker_partial_lines_are_joined() {
    let mut feed = Feed::no_multiline();
    let first = feed.line(docker("first 16 KiB ", "stdout"));
    assert!(feed.out.is_empty());
    assert_eq!(feed.assembler.pending_offset(), Some(first));
    feed.line(docker("and the rest\n", "stdout"));
    let lines = feed.take();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].bytes, b"first 16 KiB and the rest");
    assert_eq!(lines[0].start_offset, first);
    assert_eq!(lines[0].stream, Some(Stream::Stdout));
    assert_eq!(lines[0].timestamp, Some(TIME.parse().unwrap()));
    assert!(!lines[0].truncated && !lines[0].malformed);
    assert_eq!(feed.assembler.pending_offset(), None);
    assert_eq!(feed.assembler.format(), Some(Format::Docker));
}

#[test]
fn interleaved_stdout_and_stderr_partials_join_per_stream() {
    let mut feed = Feed::no_multiline();
    let out_start = feed.line(docker("stdout part 1, ", "stdout"));
    let err_start = feed.line(docker("stderr part 1, ", "stderr"));
    feed.line(docker("stdout part 2, ", "stdout"));
    feed.line(docker("a whole stdout line\n", "stderr"));
    feed.line(docker("stdout part 3\n", "stdout"));
    assert_eq!(feed.assembler.pending_offset(), None);
    let lines = feed.take();
    let got: Vec<_> = lines
        .iter()
        .map(|l| (l.stream, l.start_offset, String::from_utf8_lossy(&l.bytes)))
        .collect();
    assert_eq!(
        got,
        [
            (
                Some(Stream::Stderr),
                err_start,
                "stderr part 1, a whole stdout line".into()
            ),
            (
                Some(Stream::Stdout),
                out_start,
                "stdout part 1, stdout part 2, stdout part 3".into()
            ),
        ]
    );
}

#[test]
fn cri_partial_parts_are_joined_and_held_at_the_first_part() {
    let mut feed = Feed::no_multiline();
    let first = feed.line(cri("stdout", "P", "GET /fhir/Patient?name="));
    assert_eq!(feed.assembler.pending_offset(), Some(first));
    feed.line(cri("stdout", "P", "Doe&birthdate="));
    assert_eq!(feed.assembler.pending_offset(), Some(first));
    feed.line(cri("stdout", "F", "1970-01-01 200"));
    assert_eq!(feed.assembler.pending_offset(), None);
    let lines = feed.take();
    assert_eq!(lines.len(), 1);
    assert_eq!(
        lines[0].bytes,
        b"GET /fhir/Patient?name=Doe&birthdate=1970-01-01 200"
    );
    assert_eq!(lines[0].start_offset, first);
}

#[test]
fn cri_empty_last_part_ends_the_line() {
    let mut feed = Feed::no_multiline();
    feed.line(cri("stderr", "P", "no newline yet"));
    feed.line(format!("{TIME} stderr F"));
    assert_eq!(feed.texts(), ["no newline yet"]);
}

#[test]
fn without_multiline_nothing_waits() {
    let mut feed = Feed::no_multiline();
    feed.line("2024-01-02 03:04:05 INFO appointment booked");
    assert_eq!(
        feed.texts(),
        ["2024-01-02 03:04:05 INFO appointment booked"]
    );
    feed.line("\tat com.acme.Scheduler.book(Scheduler.java:10)");
    assert_eq!(
        feed.texts(),
        ["\tat com.acme.Scheduler.book(Scheduler.java:10)"]
    );
    assert_eq!(feed.assembler.pending_offset(), None);
    assert_eq!(feed.assembler.format(), Some(Format::Plain));
}

const TRACE: &[&str] = &[
    "2024-01-02 03:04:05.123 ERROR [http-nio-8080-exec-3] c.a.e.PatientService - lookup failed",
    "com.acme.ehr.PatientNotFoundException: patient P-000123 not found",
    "\tat com.acme.ehr.PatientService.load(PatientService.java:42)",
    "\tat com.acme.ehr.PatientController.get(PatientController.java:17)",
    "Caused by: java.sql.SQLTimeoutException: query timed out",
    "\tat org.postgresql.jdbc.PgStatement.execute(PgStatement.java:401)",
    "\t... 12 more",
    "\tSuppressed: java.lang.IllegalStateException: close failed",
    "\t\t... 3 common frames omitted",
];

#[test]
fn java_stack_trace_folds_into_the_message_line() {
    let mut feed = Feed::java();
    feed.line("2024-01-02 03:04:04.000 INFO [main] c.a.e.App - started");
    let start = feed.line(TRACE[0]);
    // The previous record is sent as soon as the next one starts.
    assert_eq!(
        feed.texts(),
        ["2024-01-02 03:04:04.000 INFO [main] c.a.e.App - started"]
    );
    for line in &TRACE[1..] {
        feed.line(line);
    }
    assert!(feed.out.is_empty());
    assert_eq!(feed.assembler.pending_offset(), Some(start));
    feed.line("2024-01-02 03:04:06.000 INFO [main] c.a.e.App - next");
    let lines = feed.take();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].bytes, TRACE.join("\n").as_bytes());
    assert_eq!(lines[0].start_offset, start);
    assert!(!lines[0].truncated);
    feed.flush_all();
    assert_eq!(
        feed.texts(),
        ["2024-01-02 03:04:06.000 INFO [main] c.a.e.App - next"]
    );
}

#[test]
fn java_stack_trace_in_cri_parts_on_stderr() {
    let mut feed = Feed::java();
    feed.line(cri(
        "stderr",
        "F",
        "Exception in thread \"main\" java.lang.IllegalStateException: boom",
    ));
    feed.line(cri("stdout", "F", "GET /health 200"));
    feed.line(cri("stderr", "P", "\tat com.acme.ehr.Very"));
    feed.line(cri("stderr", "F", "LongFrame.run(VeryLongFrame.java:1)"));
    feed.line(cri("stderr", "F", "\t... 4 more"));
    feed.flush_all();
    let lines = feed.take();
    let texts: Vec<_> = lines
        .iter()
        .map(|l| String::from_utf8_lossy(&l.bytes))
        .collect();
    assert_eq!(
        texts,
        [
            "Exception in thread \"main\" java.lang.IllegalStateException: boom\n\tat com.acme.ehr.VeryLongFrame.run(VeryLongFrame.java:1)\n\t... 4 more",
            "GET /health 200",
        ]
    );
    assert_eq!(lines[0].stream, Some(Stream::Stderr));
}

#[test]
fn exception_header_joins_only_a_one_line_record() {
    let mut feed = Feed::java();
    feed.line("java.lang.IllegalStateException: first");
    feed.line("\tat com.acme.A.run(A.java:1)");
    // A second header after a whole trace is the next exception.
    feed.line("java.lang.IllegalStateException: second");
    feed.line("\tat com.acme.B.run(B.java:2)");
    feed.flush_all();
    assert_eq!(
        feed.texts(),
        [
            "java.lang.IllegalStateException: first\n\tat com.acme.A.run(A.java:1)",
            "java.lang.IllegalStateException: second\n\tat com.acme.B.run(B.java:2)",
        ]
    );
}

#[test]
fn start_pattern_mode() {
    let mut feed = Feed::new(AssemblerConfig {
        multiline: Some(MultilineRule::StartPattern(
            Regex::new(r"^\d{4}-\d{2}-\d{2} ").unwrap(),
        )),
        ..AssemblerConfig::default()
    });
    // Lines before any start line form a record of their own.
    feed.line("orphan continuation");
    feed.line("2024-01-02 03:04:05 WARN slow query");
    feed.line("  SELECT * FROM encounters");
    feed.line("  WHERE ward = 4");
    feed.line("2024-01-02 03:04:06 INFO done");
    feed.flush_all();
    assert_eq!(
        feed.texts(),
        [
            "orphan continuation",
            "2024-01-02 03:04:05 WARN slow query\n  SELECT * FROM encounters\n  WHERE ward = 4",
            "2024-01-02 03:04:06 INFO done",
        ]
    );
}

#[test]
fn pending_record_is_sent_after_the_timeout() {
    let mut feed = Feed::java();
    let start = feed.line("2024-01-02 ERROR lookup failed");
    feed.advance(Duration::from_millis(600));
    feed.line("java.lang.IllegalStateException: boom");
    feed.flush_expired();
    assert!(feed.out.is_empty(), "not yet: counted from the first line");
    assert_eq!(feed.assembler.pending_offset(), Some(start));
    feed.advance(Duration::from_millis(400));
    feed.flush_expired();
    assert_eq!(
        feed.texts(),
        ["2024-01-02 ERROR lookup failed\njava.lang.IllegalStateException: boom"]
    );
    assert_eq!(feed.assembler.pending_offset(), None);
    // A frame after the timeout starts a record of its own.
    feed.line("\tat com.acme.Late.run(Late.java:1)");
    feed.flush_all();
    assert_eq!(feed.texts(), ["\tat com.acme.Late.run(Late.java:1)"]);
}

#[test]
fn partial_line_without_its_last_part_is_sent_after_the_timeout() {
    let mut feed = Feed::no_multiline();
    let start = feed.line(cri("stdout", "P", "Enter MRN: "));
    feed.advance(Duration::from_millis(999));
    feed.flush_expired();
    assert_eq!(feed.assembler.pending_offset(), Some(start));
    feed.advance(Duration::from_millis(1));
    feed.flush_expired();
    assert_eq!(feed.texts(), ["Enter MRN: "]);
    assert_eq!(feed.assembler.pending_offset(), None);
}

#[test]
fn flush_all_sends_everything_in_offset_order() {
    let mut feed = Feed::java();
    let a = feed.line(cri("stderr", "F", "stderr record"));
    let b = feed.line(cri("stdout", "P", "stdout partial"));
    let c = feed.line(cri("stdout", "P", ""));
    assert_eq!(feed.assembler.pending_offset(), Some(a));
    feed.flush_all();
    let lines = feed.take();
    let offsets: Vec<_> = lines.iter().map(|l| l.start_offset).collect();
    assert_eq!(offsets, [a, b]);
    assert!(c > b);
    assert_eq!(lines[1].bytes, b"stdout partial");
    assert_eq!(feed.assembler.pending_offset(), None);
}

#[test]
fn pending_offset_is_the_smallest_held_start() {
    let mut feed = Feed::java();
    let err = feed.line(cri("stderr", "P", "err part"));
    let out = feed.line(cri("stdout", "F", "out record"));
    assert!(out > err);
    assert_eq!(feed.assembler.pending_offset(), Some(err));
    feed.line(cri("stderr", "F", " end"));
    // The stderr line is now a pending multiline record, still held.
    assert_eq!(feed.assembler.pending_offset(), Some(err));
    feed.flush_all();
    assert_eq!(feed.assembler.pending_offset(), None);
    assert_eq!(feed.texts(), ["err part end", "out record"]);
}

#[test]
fn partial_line_is_capped_and_its_remaining_parts_consumed() {
    let mut feed = Feed::new(AssemblerConfig {
        max_record_bytes: 10,
        multiline: None,
        ..AssemblerConfig::default()
    });
    feed.line(docker("0123456", "stdout"));
    feed.line(docker("789abc", "stdout"));
    feed.line(docker("def\n", "stdout"));
    feed.line(docker("next\n", "stdout"));
    let lines = feed.take();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].bytes, b"0123456789");
    assert!(lines[0].truncated);
    assert_eq!(lines[1].bytes, b"next");
    assert!(!lines[1].truncated);
}

#[test]
fn multiline_record_is_capped() {
    let mut feed = Feed::new(AssemblerConfig {
        max_record_bytes: 40,
        ..AssemblerConfig::default()
    });
    feed.line("java.lang.IllegalStateException: boom");
    feed.line("\tat com.acme.A.run(A.java:1)");
    feed.line("\tat com.acme.B.run(B.java:2)");
    feed.line("2024-01-02 INFO next");
    feed.flush_all();
    let lines = feed.take();
    assert_eq!(
        lines[0].bytes,
        b"java.lang.IllegalStateException: boom\n\ta"
    );
    assert!(lines[0].truncated);
    assert_eq!(lines[1].bytes, b"2024-01-02 INFO next");
    assert!(!lines[1].truncated);
}

#[test]
fn line_longer_than_the_cap_in_one_part() {
    let mut feed = Feed::new(AssemblerConfig {
        max_record_bytes: 4,
        multiline: None,
        ..AssemblerConfig::default()
    });
    feed.line(cri("stdout", "F", "abcdefgh"));
    let lines = feed.take();
    assert_eq!(lines[0].bytes, b"abcd");
    assert!(lines[0].truncated);
}

#[test]
fn reader_cut_marks_the_record_truncated() {
    let mut feed = Feed::no_multiline();
    feed.cut_line("2024-01-02 INFO a very long line, cut by the rea");
    feed.line("2024-01-02 INFO short");
    let lines = feed.take();
    assert!(lines[0].truncated);
    assert_eq!(
        lines[0].bytes,
        b"2024-01-02 INFO a very long line, cut by the rea"
    );
    assert!(!lines[1].truncated);
}

#[test]
fn reader_cut_part_drops_the_rest_of_its_logical_line() {
    let mut feed = Feed::no_multiline();
    let start = feed.line(cri("stdout", "P", "kept "));
    feed.cut_line(cri("stdout", "P", "also kept, then cu"));
    feed.line(cri("stdout", "P", "dropped"));
    assert_eq!(feed.assembler.pending_offset(), Some(start));
    feed.line(cri("stdout", "F", "dropped too"));
    let lines = feed.take();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].bytes, b"kept also kept, then cu");
    assert!(lines[0].truncated);
}

#[test]
fn cut_docker_line_is_delivered_raw_and_truncated() {
    let mut feed = Feed::no_multiline();
    feed.line(docker("first\n", "stdout"));
    feed.cut_line(br#"{"log":"a long line cut by the rea"#);
    let lines = feed.take();
    assert_eq!(lines[1].bytes, br#"{"log":"a long line cut by the rea"#);
    assert!(lines[1].truncated && lines[1].malformed);
}

#[test]
fn empty_records_are_dropped() {
    let mut feed = Feed::java();
    feed.line("");
    feed.line("   ");
    assert_eq!(feed.assembler.format(), None, "blank lines do not decide");
    feed.line(cri("stdout", "F", ""));
    assert_eq!(feed.assembler.format(), Some(Format::Cri));
    feed.line(format!("{TIME} stdout F"));
    feed.line(cri("stdout", "F", " \t "));
    feed.line(cri("stdout", "P", ""));
    feed.line(cri("stdout", "F", ""));
    feed.flush_all();
    assert!(feed.take().is_empty());
    assert_eq!(feed.assembler.pending_offset(), None);

    let mut feed = Feed::no_multiline();
    feed.line(docker("\n", "stdout"));
    feed.line(docker("\r\n", "stderr"));
    assert!(feed.take().is_empty());
    assert_eq!(feed.assembler.pending_offset(), None);
}

#[test]
fn malformed_lines_are_delivered_raw_without_breaking_partials() {
    let mut feed = Feed::no_multiline();
    feed.line(cri("stdout", "P", "part one, "));
    feed.line("panic: runtime error: index out of range");
    feed.line(cri("stdout", "F", "part two"));
    let lines = feed.take();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].bytes, b"panic: runtime error: index out of range");
    assert!(lines[0].malformed);
    assert_eq!(lines[0].stream, None);
    assert_eq!(lines[1].bytes, b"part one, part two");
    assert!(!lines[1].malformed);
}

#[test]
fn malformed_line_never_joins_a_partial_of_an_unknown_stream() {
    let mut feed = Feed::no_multiline();
    feed.line(docker("ok\n", "stdout"));
    let part = br#"{"log":"part","stream":"console","time":"2024-01-02T03:04:05Z"}"#;
    let start = feed.line(part);
    feed.line("not json");
    assert_eq!(feed.assembler.pending_offset(), Some(start));
    feed.line(br#"{"log":" end\n","stream":"console","time":"2024-01-02T03:04:05Z"}"#);
    let lines = feed.take();
    let texts: Vec<_> = lines
        .iter()
        .map(|l| (l.bytes.as_slice(), l.malformed))
        .collect();
    assert_eq!(
        texts,
        [
            (&b"ok"[..], false),
            (&b"not json"[..], true),
            (&b"part end"[..], false)
        ]
    );
}

#[test]
fn garbage_truncated_json_and_invalid_utf8_in_a_docker_file() {
    let mut feed = Feed::no_multiline();
    feed.line(docker("ok\n", "stdout"));
    feed.line(b"\x00\xff garbage");
    feed.line(br#"{"log":"truncated"#);
    feed.line(b"{\"log\":\"bad \xff\\n\",\"stream\":\"stdout\",\"time\":\"x\"}");
    let lines = feed.take();
    assert_eq!(lines.len(), 4);
    assert!(!lines[0].malformed);
    assert!(lines[1..].iter().all(|l| l.malformed && l.stream.is_none()));
    assert_eq!(lines[1].bytes, b"\x00\xff garbage");
}

#[test]
fn invalid_utf8_passes_through_as_bytes() {
    let mut feed = Feed::no_multiline();
    feed.line(b"caf\xe9 \xff");
    assert_eq!(feed.take()[0].bytes, b"caf\xe9 \xff");
}

#[test]
fn reset_drops_held_state_and_forgets_the_format() {
    let mut feed = Feed::java();
    feed.line(cri("stdout", "P", "held part"));
    feed.line(cri("stderr", "F", "held record"));
    assert!(feed.assembler.pending_offset().is_some());
    feed.assembler.reset();
    assert_eq!(feed.assembler.pending_offset(), None);
    assert_eq!(feed.assembler.format(), None);
    feed.flush_all();
    assert!(feed.take().is_empty());
    // The file now holds something else.
    feed.line(docker("after truncation\n", "stdout"));
    assert_eq!(feed.assembler.format(), Some(Format::Docker));
    feed.flush_all();
    assert_eq!(feed.texts(), ["after truncation"]);
}

#[test]
fn format_is_fixed_after_detection() {
    let mut feed = Feed::no_multiline();
    feed.line("plain first line");
    feed.line(cri("stdout", "F", "looks like CRI"));
    assert_eq!(feed.assembler.format(), Some(Format::Plain));
    let lines = feed.take();
    assert_eq!(lines[1].bytes, cri("stdout", "F", "looks like CRI"));
    assert!(!lines[1].malformed);
}

#[test]
fn timestamp_and_stream_are_the_first_fragments() {
    let mut feed = Feed::no_multiline();
    feed.line(b"2024-01-02T03:04:05Z stdout P first ");
    feed.line(b"2024-01-02T03:04:09Z stdout F last");
    let lines = feed.take();
    assert_eq!(
        lines[0].timestamp,
        Some("2024-01-02T03:04:05Z".parse().unwrap())
    );
}

/// How a runtime would write `text` as parts: split at `cuts` (positions in
/// `0..=len`, taken modulo), the last part marked final.
fn split_at(len: usize, cuts: &[usize]) -> Vec<(usize, usize)> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (len + 1)).collect();
    points.push(0);
    points.push(len);
    points.sort_unstable();
    points.dedup();
    if points.len() == 1 {
        return vec![(0, 0)];
    }
    points.windows(2).map(|w| (w[0], w[1])).collect()
}

fn docker_parts(text: &str, stream: &str, cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut bounds = split_at(text.len(), cuts);
    // Docker's encoder works on characters: move cuts to character boundaries.
    for (start, end) in &mut bounds {
        while !text.is_char_boundary(*start) {
            *start -= 1;
        }
        while !text.is_char_boundary(*end) {
            *end -= 1;
        }
    }
    let last = bounds.len() - 1;
    bounds
        .iter()
        .enumerate()
        .map(|(i, &(start, end))| {
            let mut log = text[start..end].to_owned();
            if i == last {
                log.push('\n');
            }
            docker(&log, stream)
        })
        .collect()
}

fn cri_parts(text: &[u8], stream: &str, cuts: &[usize]) -> Vec<Vec<u8>> {
    let bounds = split_at(text.len(), cuts);
    let last = bounds.len() - 1;
    bounds
        .iter()
        .enumerate()
        .map(|(i, &(start, end))| {
            let tag = if i == last { "F" } else { "P" };
            let mut line = format!("{TIME} {stream} {tag} ").into_bytes();
            line.extend_from_slice(&text[start..end]);
            line
        })
        .collect()
}

/// Interleaves two streams' parts as a runtime would, keeping each in order.
fn interleave(a: Vec<Vec<u8>>, b: Vec<Vec<u8>>, choices: &[bool]) -> Vec<Vec<u8>> {
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    let mut choices = choices.iter().cycle();
    let mut lines = Vec::new();
    while a.peek().is_some() || b.peek().is_some() {
        let from_a = b.peek().is_none() || (a.peek().is_some() && *choices.next().unwrap());
        lines.extend(if from_a { a.next() } else { b.next() });
    }
    lines
}

fn assemble_all(lines: &[Vec<u8>]) -> Vec<AssembledLine> {
    let mut feed = Feed::java();
    for line in lines {
        feed.line(line);
    }
    feed.flush_all();
    feed.take()
}

fn expected(text: &[u8]) -> Vec<Vec<u8>> {
    if text.trim_ascii().is_empty() {
        vec![]
    } else {
        vec![text.to_vec()]
    }
}

fn bytes_of(lines: &[AssembledLine], stream: Stream) -> Vec<Vec<u8>> {
    lines
        .iter()
        .filter(|l| l.stream == Some(stream))
        .map(|l| l.bytes.clone())
        .collect()
}

proptest! {
    #[test]
    fn docker_parts_assemble_to_the_original_text(
        out_text in "[^\n]{0,200}",
        err_text in "[^\n]{0,200}",
        out_cuts in proptest::collection::vec(any::<usize>(), 0..6),
        err_cuts in proptest::collection::vec(any::<usize>(), 0..6),
        choices in proptest::collection::vec(any::<bool>(), 1..12),
    ) {
        let lines = interleave(
            docker_parts(&out_text, "stdout", &out_cuts),
            docker_parts(&err_text, "stderr", &err_cuts),
            &choices,
        );
        let assembled = assemble_all(&lines);
        prop_assert!(assembled.iter().all(|l| !l.truncated && !l.malformed));
        prop_assert_eq!(bytes_of(&assembled, Stream::Stdout), expected(out_text.as_bytes()));
        prop_assert_eq!(bytes_of(&assembled, Stream::Stderr), expected(err_text.as_bytes()));
    }

    #[test]
    fn cri_parts_assemble_to_the_original_text(
        out_text in proptest::collection::vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 0..200),
        err_text in proptest::collection::vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 0..200),
        out_cuts in proptest::collection::vec(any::<usize>(), 0..6),
        err_cuts in proptest::collection::vec(any::<usize>(), 0..6),
        choices in proptest::collection::vec(any::<bool>(), 1..12),
    ) {
        let lines = interleave(
            cri_parts(&out_text, "stdout", &out_cuts),
            cri_parts(&err_text, "stderr", &err_cuts),
            &choices,
        );
        let assembled = assemble_all(&lines);
        prop_assert!(assembled.iter().all(|l| !l.truncated && !l.malformed));
        prop_assert_eq!(bytes_of(&assembled, Stream::Stdout), expected(&out_text));
        prop_assert_eq!(bytes_of(&assembled, Stream::Stderr), expected(&err_text));
    }

    #[test]
    fn capped_records_are_prefixes_within_the_cap(
        text in "[^\n]{1,300}",
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
        cap in 1usize..120,
    ) {
        let mut feed = Feed::new(AssemblerConfig {
            max_record_bytes: cap,
            multiline: None,
            ..AssemblerConfig::default()
        });
        for line in docker_parts(&text, "stdout", &cuts) {
            feed.line(line);
        }
        feed.flush_all();
        for line in feed.take() {
            prop_assert!(line.bytes.len() <= cap);
            prop_assert!(text.as_bytes().starts_with(&line.bytes));
            prop_assert_eq!(line.truncated, text.len() > cap);
            prop_assert!(std::str::from_utf8(&line.bytes).is_ok(), "no split character");
        }
    }
}
