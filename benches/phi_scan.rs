//! The whole PHI pack over a realistic corpus, on one core, against ripgrep
//! finding every match of the pack's patterns on the same corpus in the same
//! run (`rg -o -j1 -f patterns`, the patterns from `Redactor::pattern_sources`).
//!
//! The corpus comes from `tests/corpus` (fake data; ~76 % of lines carry no
//! PHI, as service logs do). Before anything is timed, the run checks its
//! answer: every canary (trace ids, timestamps, NPIs, …) is still there and
//! every clean line comes back unchanged; it reports how many planted values
//! survived (issue 3's bar is none). Criterion's throughput of the same call
//! is `benches/redact_text.rs`; this harness is the side-by-side with ripgrep.
//!
//! `cargo bench --bench phi_scan`; `WARDWATCH_BENCH_MIB=8` for a quick run. Needs `rg` (Debian `ripgrep`) for
//! the comparison; without it, says so and reports the engine alone.

#[path = "../tests/corpus/mod.rs"]
mod corpus;

use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wardwatch::redact::Redactor;

const SEED: u64 = 20_261_122;
const RUNS: usize = 5;
/// How many lines that still leak a planted value are printed.
const SHOWN_LEAKS: usize = 5;

fn main() {
    let mib: usize = std::env::var("WARDWATCH_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let redactor = Redactor::builtin();
    let lines = corpus::corpus_lines(SEED, mib << 20);
    let mut text = String::with_capacity((mib << 20) + (1 << 16));
    for line in &lines {
        text.push_str(&line.text);
        text.push('\n');
    }
    let stats = corpus::CorpusStats::of(&lines);
    let checked = check_answer(&redactor, &lines);

    let ours = median(RUNS, || {
        let start = Instant::now();
        black_box(redact_corpus(&redactor, &text));
        start.elapsed()
    });
    let ripgrep = ripgrep(&redactor, &text);
    report(&stats, text.len(), checked, ours, ripgrep);
    report_floors(&redactor, &text, ours);
    report_by_encoding(&redactor, &lines, ours);
}

/// What reading the corpus costs before any rule logic: the engine's union
/// automaton alone over every line (every byte, no gate, nothing confirmed),
/// and one `memchr` pass (memory speed on this host). The first is the floor
/// of the one-automaton design on this host.
///
/// Also what skipping bytes could buy at best: the share of bytes after
/// which the automaton is not back in its start state (a match may be under
/// way), which even a perfect prefilter would let through, and the engine's
/// speed if the walk over every other byte cost nothing.
fn report_floors(redactor: &Redactor, text: &str, ours: Duration) {
    let walk = || -> usize { text.lines().map(|l| redactor.automaton_pass(l)).sum() };
    walk();
    let automaton = median(RUNS, || {
        let start = Instant::now();
        black_box(walk());
        start.elapsed()
    });
    let one_pattern = one_pattern_walk(text);
    let newlines = median(RUNS, || {
        let start = Instant::now();
        black_box(memchr::memchr_iter(b'\n', text.as_bytes()).count());
        start.elapsed()
    });
    let busy: usize = text
        .lines()
        .map(|l| redactor.automaton_busy_bytes(l).unwrap_or(l.len()))
        .sum();
    let busy = busy as f64 / text.len() as f64;
    // Generous: the engine walks JSON lines' values, not their whole bytes,
    // so it has less to save than the whole-line walk this subtracts.
    let skipping = ours.saturating_sub(automaton.mul_f64(1.0 - busy));
    let mbps = |t: Duration| text.len() as f64 / 1e6 / t.as_secs_f64();
    println!();
    println!("| reference, one core | MB/s |");
    println!("| --- | ---: |");
    println!(
        "| the union automaton alone, every byte of every line, nothing confirmed | {:.0} |",
        mbps(automaton)
    );
    println!(
        "| a lazy DFA of one pattern (`{ONE_PATTERN}`), same walk | {:.0} |",
        mbps(one_pattern)
    );
    println!(
        "| `memchr` for newlines (memory speed) | {:.0} |",
        mbps(newlines)
    );
    println!(
        "| wardwatch if a perfect prefilter skipped every byte at which no match is under way \
         ({:.0} % of the bytes are read) | {:.0} |",
        100.0 * busy,
        mbps(skipping)
    );
}

/// The pattern of the smallest automaton [`one_pattern_walk`] measures.
const ONE_PATTERN: &str = r"\b\d{3}-\d{2}-\d{4}\b";

/// How long a lazy DFA of [`ONE_PATTERN`] alone takes to walk every line:
/// what reading a byte at a time costs on this host when the automaton is
/// as small as it gets.
fn one_pattern_walk(text: &str) -> Duration {
    use regex_automata::hybrid::dfa::DFA;
    use regex_automata::{nfa::thompson, Input, MatchKind};

    let dfa = DFA::builder()
        .syntax(
            regex_automata::util::syntax::Config::new()
                .unicode(false)
                .utf8(false),
        )
        .thompson(thompson::Config::new().utf8(false))
        .configure(DFA::config().match_kind(MatchKind::All))
        .build(ONE_PATTERN)
        .expect("the pattern compiles");
    let mut cache = dfa.create_cache();
    let mut walk = || -> Option<usize> {
        let mut ends = 0;
        for line in text.lines() {
            let mut sid = dfa
                .start_state_forward(&mut cache, &Input::new(line))
                .ok()?;
            for &byte in line.as_bytes() {
                sid = dfa.next_state(&mut cache, sid, byte).ok()?;
                ends += usize::from(sid.is_match());
            }
        }
        Some(ends)
    };
    walk().expect("the DFA neither quits nor gives up");
    median(RUNS, || {
        let start = Instant::now();
        black_box(walk().expect("the DFA neither quits nor gives up"));
        start.elapsed()
    })
}

/// Every line through `redact_text`, as the pipeline sends every message.
fn redact_corpus(redactor: &Redactor, text: &str) -> usize {
    let mut changed = 0;
    for line in text.lines() {
        if let std::borrow::Cow::Owned(_) = redactor.redact_text(line) {
            changed += 1;
        }
    }
    changed
}

/// Each kind of line timed on its own: where the time of the whole run goes,
/// and which lines are slowest per byte. By encoding, then by whether the
/// line carries PHI and whether it is a JSON document.
// Not inlined, so that callgrind can count its instructions apart from the
// mixed run's (`--toggle-collect=phi_scan::report_by_encoding`).
#[inline(never)]
fn report_by_encoding(redactor: &Redactor, lines: &[corpus::Line], whole: Duration) {
    let total: usize = lines.iter().map(|l| l.text.len() + 1).sum();
    let row = |label: &str, pick: &dyn Fn(&corpus::Line) -> bool| {
        let mut text = String::new();
        for line in lines.iter().filter(|l| pick(l)) {
            text.push_str(&line.text);
            text.push('\n');
        }
        if text.is_empty() {
            return;
        }
        let took = median(RUNS, || {
            let start = Instant::now();
            black_box(redact_corpus(redactor, &text));
            start.elapsed()
        });
        println!(
            "| {label} | {:.1} % | {:.0} | {:.1} % |",
            100.0 * text.len() as f64 / total as f64,
            text.len() as f64 / 1e6 / took.as_secs_f64(),
            100.0 * took.as_secs_f64() / whole.as_secs_f64()
        );
    };
    println!();
    println!("| lines | share of bytes | MB/s | share of time |");
    println!("| --- | ---: | ---: | ---: |");
    for encoding in corpus::Encoding::ALL {
        row(&format!("{encoding:?}"), &|l| l.encoding == encoding);
    }
    let json = |l: &corpus::Line| l.text.trim_start().starts_with('{');
    for (label, phi, is_json) in [
        ("without PHI, JSON", false, true),
        ("without PHI, other", false, false),
        ("with PHI, JSON", true, true),
        ("with PHI, other", true, false),
    ] {
        row(label, &|l| l.is_clean() != phi && json(l) == is_json);
    }
}

/// What the answer check found.
struct Checked {
    replaced: usize,
    leaked_lines: usize,
}

/// Every canary survives and clean lines are untouched (asserted); counts the
/// spans replaced and the lines from which a planted value survived.
fn check_answer(redactor: &Redactor, lines: &[corpus::Line]) -> Checked {
    let mut checked = Checked {
        replaced: 0,
        leaked_lines: 0,
    };
    for line in lines {
        let output = redactor.redact_text(&line.text);
        if line.is_clean() {
            assert_eq!(output.as_ref(), line.text.as_str(), "a clean line changed");
        }
        let lost = line.missing_canaries(&output);
        assert!(
            lost.is_empty(),
            "canaries lost: {lost:?}\n  in:  {}\n  out: {output}",
            line.text
        );
        let leaked: Vec<_> = line
            .surviving(&output)
            .into_iter()
            .filter(|p| p.kind != corpus::PhiKind::ClientIp)
            .map(|p| p.kind)
            .collect();
        // The corpus is fake, so the line can be shown: what leaked is what
        // the pack should learn next.
        if !leaked.is_empty() && checked.leaked_lines < SHOWN_LEAKS {
            eprintln!("leaked {leaked:?}\n  in:  {}\n  out: {output}", line.text);
        }
        checked.leaked_lines += usize::from(!leaked.is_empty());
        checked.replaced += redactor.find_in_text(&line.text).len();
    }
    checked
}

fn median(runs: usize, mut once: impl FnMut() -> Duration) -> Duration {
    let mut times: Vec<Duration> = (0..runs).map(|_| once()).collect();
    times.sort();
    times[runs / 2]
}

/// ripgrep's time to print every match of the pack's patterns, one thread,
/// its output read through a pipe (ripgrep stops early when its output is
/// `/dev/null`, which would not be finding every match). Also its match count.
fn ripgrep(redactor: &Redactor, text: &str) -> Option<(Duration, usize)> {
    let dir = tempfile::tempdir().ok()?;
    let corpus_file = dir.path().join("corpus.log");
    let patterns_file = dir.path().join("patterns");
    std::fs::write(&corpus_file, text).ok()?;
    let mut patterns = std::fs::File::create(&patterns_file).ok()?;
    for pattern in redactor.pattern_sources() {
        writeln!(patterns, "{pattern}").ok()?;
    }
    drop(patterns);
    let run = || -> Option<(Duration, usize)> {
        let start = Instant::now();
        let mut child = Command::new("rg")
            .args([
                "--no-config",
                "-o",
                "-j1",
                "--no-filename",
                "--no-line-number",
                "-f",
            ])
            .arg(&patterns_file)
            .arg(&corpus_file)
            .stdout(Stdio::piped())
            .spawn()
            .ok()?;
        let matches = BufReader::new(child.stdout.take()?).split(b'\n').count();
        let status = child.wait().ok()?;
        (status.success() || status.code() == Some(1)).then(|| (start.elapsed(), matches))
    };
    let Some((_, matches)) = run() else {
        eprintln!(
            "ripgrep (`rg`) is not installed or failed: no comparison (apt-get install ripgrep)"
        );
        return None;
    };
    Some((
        median(RUNS, || run().map_or(Duration::MAX, |(t, _)| t)),
        matches,
    ))
}

fn report(
    stats: &corpus::CorpusStats,
    bytes: usize,
    checked: Checked,
    ours: Duration,
    ripgrep: Option<(Duration, usize)>,
) {
    let mbps = |t: Duration| bytes as f64 / 1e6 / t.as_secs_f64();
    println!();
    println!(
        "corpus: {:.1} MB, {} lines ({} with PHI), {} planted values, {} canaries",
        bytes as f64 / 1e6,
        stats.lines,
        stats.phi_lines,
        stats.planted,
        stats.canaries
    );
    println!(
        "checked: every canary survives, clean lines unchanged; {} spans replaced; \
         {} of {} lines with PHI still leak a planted value",
        checked.replaced, checked.leaked_lines, stats.phi_lines
    );
    println!();
    println!("| one core | time (median of {RUNS}) | MB/s |");
    println!("| --- | ---: | ---: |");
    println!(
        "| wardwatch `redact_text`, whole pack | {:.3} s | {:.0} |",
        ours.as_secs_f64(),
        mbps(ours)
    );
    if let Some((rg, matches)) = ripgrep {
        println!(
            "| ripgrep `rg -o -j1 -f patterns` ({matches} matches) | {:.3} s | {:.0} |",
            rg.as_secs_f64(),
            mbps(rg)
        );
        println!();
        println!(
            "ratio: wardwatch is {:.2}x ripgrep's speed",
            mbps(ours) / mbps(rg)
        );
    }
}
