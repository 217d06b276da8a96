//! The rule packs in `redaction-rules/` load through the same path an operator's
//! files take, and broken rule files are reported at their file and line.

use std::alloc::{GlobalAlloc, Layout, System};
use std::borrow::Cow;
use std::cell::Cell;
use std::path::{Path, PathBuf};

use wardwatch::redact::{Redactor, RuleError};

/// Counts the allocations of the current thread, so a test can prove that a
/// path allocates nothing.
struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_allocation() {
    // `try_with`: the thread's counter may already be gone while it exits.
    let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter is a thread-local `Cell` whose access does not allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: the caller's contract is passed on to `System`.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_allocation();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("redaction-rules")
}

fn display(errors: &[RuleError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

fn load(paths: &[PathBuf]) -> Redactor {
    Redactor::load(paths).unwrap_or_else(|errors| panic!("{}", display(&errors)))
}

#[test]
fn every_shipped_rule_file_loads_and_its_examples_pass() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(rules_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            )
        })
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no rule files in {}",
        rules_dir().display()
    );

    for file in &files {
        let redactor = load(std::slice::from_ref(file));
        let checked = redactor
            .check_examples()
            .unwrap_or_else(|errors| panic!("{}", display(&errors)));
        assert!(checked > 0, "{} has no examples", file.display());
        assert!(
            redactor.rule_ids().len() > 0,
            "{} has no rules",
            file.display()
        );
    }

    // The directory as a whole (duplicate ids across files are caught here),
    // and the same rules as the built-in pack.
    let from_dir = load(&[rules_dir()]);
    let builtin = Redactor::builtin();
    assert_eq!(
        from_dir.rule_ids().collect::<Vec<_>>(),
        builtin.rule_ids().collect::<Vec<_>>()
    );
}

const GOOD: &str = r#"
rules:
  - id: good-ssn
    description: fine
    kind: field
    paths: ["*.ssn"]
    examples: {match: [ssn]}
"#;

/// Writes `files` into a fresh directory and loads the directory.
fn load_dir(files: &[(&str, &str)]) -> (tempfile::TempDir, Vec<RuleError>) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let errors = Redactor::load(&[dir.path().to_owned()])
        .map(|_| Vec::new())
        .unwrap_or_else(|errors| errors);
    (dir, errors)
}

fn assert_reported(errors: &[RuleError], file: &Path, line: u64, needle: &str) {
    assert!(
        errors
            .iter()
            .any(|e| e.file == file && e.line == line && e.message.contains(needle)),
        "expected {}:{line}: …{needle}… in:\n{}",
        file.display(),
        display(errors)
    );
}

#[test]
fn broken_rule_files_are_reported_at_file_and_line() {
    let bad_yaml = "rules:\n  - id: x\n    paths: [\"*.ssn\"\n";
    let unknown_key = "rules:\n  - id: y\n    description: d\n    kind: field\n    paths: [\"*.y\"]\n    severity: high\n    examples: {match: [y]}\n";
    let duplicate = GOOD;
    let failing_example = "\n\nrules:\n  - id: z\n    description: d\n    kind: field\n    paths: [\"*.mrn\"]\n    examples: {match: [mrn, mrn_system]}\n";
    let (dir, errors) = load_dir(&[
        ("a-good.yaml", GOOD),
        ("b-bad-yaml.yaml", bad_yaml),
        ("c-unknown-key.yml", unknown_key),
        ("d-duplicate.yaml", duplicate),
        ("e-failing-example.yaml", failing_example),
        ("README.md", "not a rule file"),
    ]);
    let path = |name: &str| dir.path().join(name);

    assert_reported(&errors, &path("b-bad-yaml.yaml"), 3, "invalid rule file");
    assert_reported(
        &errors,
        &path("c-unknown-key.yml"),
        2,
        "unknown field `severity`",
    );
    assert_reported(
        &errors,
        &path("d-duplicate.yaml"),
        3,
        &format!(
            "rule id \"good-ssn\" is already used at {}:3:5",
            path("a-good.yaml").display()
        ),
    );
    assert_reported(
        &errors,
        &path("e-failing-example.yaml"),
        4,
        "rule z: example match[1] \"mrn_system\" is not matched",
    );
    assert_eq!(errors.len(), 4, "{}", display(&errors));

    // Display is `file:line:column: message`.
    let shown = errors
        .iter()
        .find(|e| e.file == path("c-unknown-key.yml"))
        .unwrap()
        .to_string();
    assert!(
        shown.starts_with(&format!("{}:2:5: ", path("c-unknown-key.yml").display())),
        "{shown}"
    );
}

#[test]
fn a_single_broken_file_stops_the_load() {
    let (_dir, errors) = load_dir(&[("only.yaml", "rules:\n  - id: q\n    kind: field\n")]);
    assert_eq!(errors.len(), 1, "{}", display(&errors));
    assert!(errors[0].message.contains("missing field"), "{}", errors[0]);
    assert_eq!(errors[0].line, 2);
}

/// Issue 3: text without PHI comes back borrowed, and once the thread's
/// scratch and automaton caches are warm, redacting it allocates nothing.
#[test]
fn issue_3_text_without_phi_allocates_nothing() {
    let redactor = Redactor::builtin();
    let clean = [
        "2024-05-01T12:00:00.123Z INFO [http-nio-8080-exec-1] c.e.ClaimController : claim 4711 received in 12ms",
        "GET /api/v1/orders/ORD-2024-000123?include=items&page=2 HTTP/1.1 200 5123",
        "level=info ts=2024-05-01T12:00:00Z caller=scheduler.go:88 msg=\"reconciling pod\" pod=claims-7d9f8b6c5-x2k4p version=1.4.2",
        "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7 request 123e4567-e89b-12d3-a456-426614174000",
        "payload={\\\"orderId\\\":\\\"ORD-2024-000123\\\"} q=a%20b",
        "",
    ];
    for text in clean {
        assert!(
            matches!(redactor.redact_text(text), Cow::Borrowed(_)),
            "{text:?}"
        );
    }
    let before = allocations();
    for _ in 0..10 {
        for text in clean {
            assert!(matches!(redactor.redact_text(text), Cow::Borrowed(_)));
        }
    }
    assert_eq!(allocations() - before, 0, "allocations on the no-PHI path");
    // A text with PHI allocates its result, and only that.
    assert!(matches!(
        redactor.redact_text("ssn 123-45-6789"),
        Cow::Owned(ref out) if out == "ssn [REDACTED:ssn]"
    ));
}
