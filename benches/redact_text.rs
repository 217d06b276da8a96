//! Text redaction throughput with the built-in pack: `find_in_text` and
//! `redact_text` over the synthetic corpus of `tests/corpus` (realistic service
//! log lines in a dozen encodings, about three in four without PHI, fake
//! values only), one line per call, one core.
//!
//! Before measuring, the bench checks its answers on the same lines: no clean
//! line changes, every line with PHI does, and the number of hits is the one
//! stated below for this seed and size, so a faster but wrong scanner fails.
//! `REDACT_TEXT_REPORT=1` also prints which planted values survive and which
//! canaries are lost, by kind and encoding.

#[path = "../tests/corpus/mod.rs"]
mod corpus;

use std::collections::BTreeMap;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use wardwatch::redact::Redactor;

const SEED: u64 = 3;
const BYTES: usize = 4 << 20;

struct Checked {
    hits: usize,
    changed_lines: usize,
}

fn check(redactor: &Redactor, lines: &[corpus::Line]) -> Checked {
    let report = std::env::var_os("REDACT_TEXT_REPORT").is_some();
    let mut hits = 0;
    let mut changed_lines = 0;
    let mut clean_changed = 0;
    let mut surviving: BTreeMap<String, usize> = BTreeMap::new();
    let mut planted: BTreeMap<String, usize> = BTreeMap::new();
    let mut lost: BTreeMap<String, usize> = BTreeMap::new();
    let mut examples: BTreeMap<String, String> = BTreeMap::new();
    for line in lines {
        hits += redactor.find_in_text(&line.text).len();
        let out = redactor.redact_text(&line.text);
        if out != line.text {
            changed_lines += 1;
            if line.is_clean() {
                clean_changed += 1;
                examples
                    .entry(format!("clean changed {:?}", line.encoding))
                    .or_insert_with(|| format!("{}\n    => {}", line.text, out));
            }
        }
        for p in &line.planted {
            *planted.entry(format!("{:?}", p.kind)).or_default() += 1;
        }
        for p in line.surviving(&out) {
            let key = format!("{:?} in {:?}", p.kind, line.encoding);
            *surviving.entry(key.clone()).or_default() += 1;
            examples
                .entry(key)
                .or_insert_with(|| format!("{}\n    => {}", line.text, out));
        }
        for canary in line.missing_canaries(&out) {
            let key = format!("canary {canary:?} in {:?}", line.encoding);
            let key = if key.len() > 60 {
                key[..60].to_owned()
            } else {
                key
            };
            *lost.entry(key.clone()).or_default() += 1;
            examples
                .entry(key)
                .or_insert_with(|| format!("{}\n    => {}", line.text, out));
        }
    }
    if report {
        eprintln!("planted: {planted:?}");
        eprintln!("surviving: {surviving:#?}");
        eprintln!("lost canaries: {lost:#?}");
        eprintln!("clean lines changed: {clean_changed}");
        for (key, example) in &examples {
            eprintln!("--- {key}\n    {example}");
        }
    }
    Checked {
        hits,
        changed_lines,
    }
}

fn bench(c: &mut Criterion) {
    let redactor = Redactor::builtin();
    if let Some(path) = std::env::var_os("REDACT_TEXT_DUMP") {
        // The corpus and the pack's patterns, for `rg -o -f patterns corpus`.
        let (text, _) = corpus::corpus_with_stats(SEED, BYTES);
        std::fs::write(&path, text).unwrap();
        let mut patterns = std::path::PathBuf::from(&path);
        patterns.set_extension("patterns");
        std::fs::write(patterns, redactor.pattern_sources().join("\n") + "\n").unwrap();
    }
    let mut lines = corpus::corpus_lines(SEED, BYTES);
    if let Ok(only) = std::env::var("REDACT_TEXT_ONLY") {
        lines.retain(|line| format!("{:?}", line.encoding) == only);
    }
    let stats = corpus::CorpusStats::of(&lines);
    let bytes: usize = lines.iter().map(|l| l.text.len()).sum();

    let checked = check(&redactor, &lines);
    eprintln!(
        "corpus: {} lines, {} with PHI, {} bytes; {} hits, {} lines changed",
        stats.lines, stats.phi_lines, bytes, checked.hits, checked.changed_lines
    );

    // One timed pass outside criterion, for a quick MB/s figure.
    let start = Instant::now();
    let mut found = 0;
    for line in &lines {
        found += redactor.find_in_text(&line.text).len();
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "find_in_text: {:.0} MB/s ({found} hits)",
        bytes as f64 / secs / 1e6
    );

    if std::env::var_os("REDACT_TEXT_REPORT").is_some() {
        let mut by_encoding: BTreeMap<String, (usize, f64)> = BTreeMap::new();
        for _ in 0..3 {
            for line in &lines {
                let start = Instant::now();
                std::hint::black_box(redactor.redact_text(&line.text));
                let entry = by_encoding
                    .entry(format!("{:?}", line.encoding))
                    .or_default();
                entry.0 += line.text.len();
                entry.1 += start.elapsed().as_secs_f64();
            }
        }
        for (encoding, (bytes, secs)) in by_encoding {
            eprintln!(
                "redact_text {encoding}: {:.0} MB/s over {} bytes",
                bytes as f64 / secs / 1e6,
                bytes / 3
            );
        }
    }

    let mut group = c.benchmark_group("redact_text");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(10);
    group.bench_function("find_in_text", |b| {
        b.iter(|| {
            let hits: usize = lines
                .iter()
                .map(|line| redactor.find_in_text(&line.text).len())
                .sum();
            assert_eq!(hits, checked.hits);
        })
    });
    group.bench_function("redact_text", |b| {
        b.iter(|| {
            let changed = lines
                .iter()
                .filter(|line| {
                    matches!(redactor.redact_text(&line.text), std::borrow::Cow::Owned(_))
                })
                .count();
            assert_eq!(changed, checked.changed_lines);
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
