//! Rule-file forms and their errors, key loading, and what each strategy
//! writes, for text matches and for whole structured values.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

use hmac::{Hmac, KeyInit, Mac};
use proptest::prelude::*;
use serde::Deserialize;
use serde_json::{json, Value};
use serde_saphyr::{DefaultMessageFormatter, MessageFormatter};
use sha2::Sha256;

use super::{PreparedReplacement, Replacement};

const KEY: &str = "wardwatch-test-key-0123456789abcdef";
const OTHER_KEY: &str = "wardwatch-other-key-0123456789abcd";

fn parse(yaml: &str) -> Replacement {
    serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"))
}

/// The message as the loader reports it: without the snippet of the file.
fn parse_error(yaml: &str) -> String {
    let error = serde_saphyr::from_str::<Replacement>(yaml).expect_err(yaml);
    DefaultMessageFormatter
        .format_message(error.without_snippet())
        .into_owned()
}

/// A key file in a temporary directory, kept as long as the returned guard.
fn key_file(contents: &[u8]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hmac.key");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(contents)
        .unwrap();
    let path = path.to_str().unwrap().to_owned();
    (dir, path)
}

/// A variable name no other test uses, so tests can run in parallel.
fn unique_env_var() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "WARDWATCH_TEST_HMAC_KEY_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn hashed_with(key: &str, length: Option<u32>) -> (tempfile::TempDir, PreparedReplacement) {
    let (dir, path) = key_file(key.as_bytes());
    let length = length.map_or(String::new(), |n| format!(", length: {n}"));
    let replacement = parse(&format!("hash: {{ key_file: '{path}'{length} }}"));
    (dir, replacement.prepare("rule-x").unwrap())
}

fn render(replacement: &PreparedReplacement, matched: &str) -> String {
    let mut out = String::from(">");
    replacement.render(matched, &mut out);
    out.strip_prefix('>').unwrap().to_owned()
}

fn masked(keep_last: usize) -> PreparedReplacement {
    parse(&format!("mask: {{ keep_last: {keep_last} }}"))
        .prepare("rule-x")
        .unwrap()
}

// ---- the rule-file forms ----

#[test]
fn a_plain_text_is_a_fixed_text() {
    assert_eq!(
        parse("'[REDACTED]'"),
        Replacement::Text("[REDACTED]".into())
    );
    assert_eq!(parse("'***'"), Replacement::Text("***".into()));
}

#[test]
fn strategies_parse_from_their_maps() {
    for yaml in [
        "hash: { key_file: /etc/wardwatch/hmac.key, length: 16 }",
        "hash: { key_env: WARDWATCH_HMAC_KEY }",
        "hash:\n  key_env: WARDWATCH_HMAC_KEY\n  length: 64\n",
        "mask: { keep_last: 4 }",
        "mask: { keep_last: 0 }",
    ] {
        parse(yaml);
    }
    assert_ne!(
        parse("hash: { key_env: A_KEY, length: 16 }"),
        parse("hash: { key_env: A_KEY, length: 32 }")
    );
    assert_eq!(
        parse("hash: { key_env: A_KEY }"),
        parse("hash: { key_env: A_KEY, length: 16 }")
    );
}

/// Rules are an internally tagged enum, which serde reads through a buffer:
/// the forms must parse, and fail, the same way there.
#[test]
fn forms_parse_inside_a_tagged_rule() {
    #[derive(Debug, Deserialize)]
    #[serde(tag = "kind", rename_all = "lowercase")]
    enum Rule {
        Pattern {
            #[allow(dead_code, reason = "only parsed")]
            replacement: Replacement,
        },
    }
    let Rule::Pattern { replacement } =
        serde_saphyr::from_str("kind: pattern\nreplacement: { mask: { keep_last: 4 } }\n").unwrap();
    assert_eq!(replacement, parse("mask: { keep_last: 4 }"));
    let Rule::Pattern { replacement } =
        serde_saphyr::from_str("kind: pattern\nreplacement: '[X]'\n").unwrap();
    assert_eq!(replacement, Replacement::Text("[X]".into()));

    let error = serde_saphyr::from_str::<Rule>(
        "kind: pattern\nreplacement: { hash: 'inline-secret-value' }\n",
    )
    .unwrap_err();
    let message = DefaultMessageFormatter
        .format_message(error.without_snippet())
        .into_owned();
    assert!(
        message.contains("never written in a rule file"),
        "{message}"
    );
    assert!(!message.contains("inline-secret-value"), "{message}");
}

#[test]
fn malformed_strategies_are_refused_with_what_is_wrong() {
    for (yaml, expected) in [
        (
            "hash: { key_file: /k, key_env: K }",
            "names both `key_file` and `key_env`",
        ),
        ("hash: { length: 16 }", "needs `key_file` or `key_env`"),
        ("hash: {}", "needs `key_file` or `key_env`"),
        ("hash: { key_file: '' }", "`key_file` is empty"),
        ("hash: { key_env: K, length: 7 }", "`length` is 7"),
        ("hash: { key_env: K, length: 6 }", "`length` is 6"),
        ("hash: { key_env: K, length: 66 }", "`length` is 66"),
        ("hash: { key_env: K, length: 0 }", "`length` is 0"),
        ("hash: { key_env: K, key_env: L }", "duplicate"),
        ("hash: { key_env: K, lenght: 16 }", "lenght"),
        ("mask: { keep_last: 9 }", "`keep_last` is 9"),
        ("mask: {}", "keep_last"),
        ("mask: { keep_last: 4, keep_first: 2 }", "keep_first"),
        ("shuffle: {}", "shuffle"),
        ("{}", "empty"),
        (
            "{ mask: { keep_last: 4 }, hash: { key_env: K } }",
            "one strategy",
        ),
        ("[a, b]", "a replacement text"),
    ] {
        let message = parse_error(yaml);
        assert!(message.contains(expected), "{yaml}: {message}");
    }
}

/// A key written into the rule file is refused, and the message does not
/// repeat it: rule-file errors go to the agent's log.
#[test]
fn an_inline_key_is_refused_without_being_repeated() {
    for yaml in [
        "hash: { key: s3cr3t-inline-key-value }",
        "hash: { secret: s3cr3t-inline-key-value }",
        "hash: { key_env: K, key: s3cr3t-inline-key-value }",
        "hash: s3cr3t-inline-key-value",
        "hash: 123456789012345678",
        "hash: { key_env: 's3cr3t-inline-key-value' }",
        "hash: { key_env: '0123456789abcdef0123456789abcdef' }",
    ] {
        let message = parse_error(yaml);
        assert!(!message.contains("s3cr3t"), "{yaml}: {message}");
        assert!(!message.contains("123456789012"), "{yaml}: {message}");
        assert!(!message.contains("0123456789abcdef"), "{yaml}: {message}");
    }
    assert!(parse_error("hash: { key: s3cr3t }").contains("`key_file`"));
}

// ---- preparing: reading the key ----

#[test]
fn the_key_is_read_from_a_file() {
    let (_dir, path) = key_file(KEY.as_bytes());
    let from_file = parse(&format!("hash: {{ key_file: '{path}' }}"))
        .prepare("r")
        .unwrap();
    assert_eq!(
        render(&from_file, "123456789"),
        "[HASH:47b7719bd63c34ef]",
        "HMAC-SHA256 computed independently (Python's hmac module)"
    );
}

#[test]
fn one_trailing_newline_of_a_key_file_is_not_part_of_the_key() {
    let (_dir, plain) = hashed_with(KEY, None);
    for contents in [format!("{KEY}\n"), format!("{KEY}\r\n")] {
        let (_d, path) = key_file(contents.as_bytes());
        let with_newline = parse(&format!("hash: {{ key_file: '{path}' }}"))
            .prepare("r")
            .unwrap();
        assert_eq!(render(&with_newline, "x"), render(&plain, "x"));
    }
    // Only one: a second newline is part of the key.
    let (_d, path) = key_file(format!("{KEY}\n\n").as_bytes());
    let two = parse(&format!("hash: {{ key_file: '{path}' }}"))
        .prepare("r")
        .unwrap();
    assert_ne!(render(&two, "x"), render(&plain, "x"));
}

#[test]
fn the_key_is_read_from_an_environment_variable() {
    let name = unique_env_var();
    std::env::set_var(&name, format!("{KEY}\n"));
    let from_env = parse(&format!("hash: {{ key_env: {name} }}"))
        .prepare("r")
        .unwrap();
    std::env::remove_var(&name);
    let (_dir, from_file) = hashed_with(KEY, None);
    assert_eq!(render(&from_env, "123456789"), "[HASH:47b7719bd63c34ef]");
    assert_eq!(
        render(&from_env, "555-010-1234"),
        render(&from_file, "555-010-1234")
    );
}

/// Each failure names the file or the variable and what is wrong, and no
/// message contains the key.
#[test]
fn key_problems_are_reported_without_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.key");
    let missing = missing.to_str().unwrap();
    let (_empty_dir, empty) = key_file(b"\n");
    let (_short_dir, short) = key_file(b"short-key-value");
    let huge_key = KEY.repeat(200);
    let (_huge_dir, huge) = key_file(huge_key.as_bytes());
    let unset = unique_env_var();
    let empty_var = unique_env_var();
    std::env::set_var(&empty_var, "");
    let short_var = unique_env_var();
    std::env::set_var(&short_var, "short-key-value");

    for (yaml, expected) in [
        (
            format!("hash: {{ key_file: '{missing}' }}"),
            format!("cannot read hash key file {missing}"),
        ),
        (
            format!("hash: {{ key_file: '{}' }}", dir.path().display()),
            "cannot read hash key file".to_owned(),
        ),
        (
            format!("hash: {{ key_file: '{empty}' }}"),
            format!("the hash key in key file {empty} is empty"),
        ),
        (
            format!("hash: {{ key_file: '{short}' }}"),
            "shorter than 16 bytes".to_owned(),
        ),
        (
            format!("hash: {{ key_file: '{huge}' }}"),
            "larger than 4096 bytes".to_owned(),
        ),
        (
            format!("hash: {{ key_env: {unset} }}"),
            format!("environment variable {unset} is not set"),
        ),
        (
            format!("hash: {{ key_env: {empty_var} }}"),
            format!("environment variable {empty_var} is empty"),
        ),
        (
            format!("hash: {{ key_env: {short_var} }}"),
            "shorter than 16 bytes".to_owned(),
        ),
    ] {
        let message = parse(&yaml).prepare("r").expect_err(&yaml);
        assert!(message.contains(&expected), "{yaml}: {message}");
        assert!(!message.contains("short-key-value"), "{message}");
        assert!(!message.contains(KEY), "{message}");
    }
    std::env::remove_var(&empty_var);
    std::env::remove_var(&short_var);
}

#[test]
fn an_empty_text_is_refused() {
    let message = Replacement::Text(String::new()).prepare("r").unwrap_err();
    assert!(message.contains("empty"), "{message}");
}

#[test]
fn debug_output_never_shows_the_key() {
    let (_dir, hashed) = hashed_with(KEY, Some(32));
    let debug = format!("{hashed:?}");
    assert!(!debug.contains(KEY), "{debug}");
    assert!(!debug.contains("wardwatch-test"), "{debug}");
    assert!(debug.contains("32"), "{debug}");
    // The rule-file form holds only where the key is.
    let (_dir, path) = key_file(KEY.as_bytes());
    let debug = format!("{:?}", parse(&format!("hash: {{ key_file: '{path}' }}")));
    assert!(
        debug.contains("hmac.key") && !debug.contains(KEY),
        "{debug}"
    );
}

// ---- rendering text matches ----

#[test]
fn fixed_text_and_the_default_render_as_written() {
    let text = Replacement::Text("[SSN]".into()).prepare("r").unwrap();
    assert_eq!(render(&text, "123-45-6789"), "[SSN]");
    let default = PreparedReplacement::default_for("ssn-dashed");
    assert_eq!(render(&default, "123-45-6789"), "[REDACTED:ssn-dashed]");
}

#[test]
fn hashes_are_hex_of_the_chosen_length() {
    for (length, expected) in [
        (None, "[HASH:47b7719bd63c34ef]"),
        (Some(8), "[HASH:47b7719b]"),
        (
            Some(64),
            "[HASH:47b7719bd63c34efa89f37c5bc3155e24b08ad440b4bd78cedddcc623fce0ecd]",
        ),
    ] {
        let (_dir, hashed) = hashed_with(KEY, length);
        assert_eq!(render(&hashed, "123456789"), expected);
    }
}

#[test]
fn one_identifier_written_differently_hashes_the_same() {
    let (_dir, hashed) = hashed_with(KEY, None);
    for spellings in [
        &["123-45-6789", "123456789", "123 45 6789", "123.45.6789"][..],
        &[
            "(555) 010-1234",
            "555-010-1234",
            "555.010.1234",
            "5550101234",
        ],
        &["1EG4-TE5-MK73", "1eg4te5mk73", "1Eg4-te5-MK73"],
        &["GB82 WEST 1234 5698 7654 32", "gb82west12345698765432"],
    ] {
        let hashes: Vec<String> = spellings.iter().map(|s| render(&hashed, s)).collect();
        assert!(
            hashes.iter().all(|h| *h == hashes[0]),
            "{spellings:?}: {hashes:?}"
        );
    }
    assert_eq!(render(&hashed, "(555) 010-1234"), "[HASH:1a346f1873db3b34]");
    assert_eq!(render(&hashed, "1EG4-TE5-MK73"), "[HASH:9c5682a648496ce3]");
}

#[test]
fn different_values_and_different_keys_hash_differently() {
    let (_dir, hashed) = hashed_with(KEY, None);
    let (_other_dir, other_key) = hashed_with(OTHER_KEY, None);
    assert_ne!(
        render(&hashed, "123-45-6789"),
        render(&hashed, "123-45-6780")
    );
    assert_ne!(
        render(&hashed, "123-45-6789"),
        render(&other_key, "123-45-6789")
    );
    // Characters other than the listed separators are part of the value.
    assert_ne!(render(&hashed, "123/45/6789"), render(&hashed, "123456789"));
    // Stable across calls: the keyed state is cloned, never consumed.
    assert_eq!(render(&hashed, "123456789"), render(&hashed, "123456789"));
}

#[test]
fn masks_keep_the_layout_and_the_last_characters() {
    for (keep_last, matched, expected) in [
        (4, "4111-1111-1111-1111", "****-****-****-1111"),
        (4, "4111 1111 1111 1111", "**** **** **** 1111"),
        (4, "123-45-6789", "***-**-6789"),
        (4, "1EG4-TE5-MK73", "****-***-MK73"),
        (2, "(555) 010-1234", "(***) ***-**34"),
        (0, "123-45-6789", "***-**-****"),
        (8, "4111111111111111", "********11111111"),
        // Never more than half: a short value is not left readable.
        (4, "1980", "**80"),
        (4, "12345", "***45"),
        (4, "1", "*"),
        (4, "", ""),
        (4, "---", "---"),
        // Letters of any script are starred.
        (2, "José Ñúñez", "**** ***ez"),
        (0, "Zoë", "***"),
    ] {
        assert_eq!(
            render(&masked(keep_last), matched),
            expected,
            "keep_last {keep_last} on {matched:?}"
        );
    }
}

// ---- replacing structured values ----

#[test]
fn structured_values_are_replaced_by_kind() {
    let (_dir, hashed) = hashed_with(KEY, None);
    let text = Replacement::Text("[X]".into()).prepare("r").unwrap();
    let mask = masked(4);
    let hash_of = |s: &str| Value::String(render(&hashed, s));

    let cases: Vec<(&PreparedReplacement, Value, Value)> = vec![
        (&text, json!("123-45-6789"), json!("[X]")),
        (&text, json!(123456789), json!("[X]")),
        (&text, json!({"ssn": "123-45-6789"}), json!("[X]")),
        (&text, json!(["a"]), json!("[X]")),
        (&text, json!(true), json!("[X]")),
        (&hashed, json!("123-45-6789"), hash_of("123456789")),
        (&hashed, json!(123456789), hash_of("123456789")),
        (
            &hashed,
            json!({"ssn": "123-45-6789"}),
            json!("[REDACTED:rule-x]"),
        ),
        (&hashed, json!([1, 2]), json!("[REDACTED:rule-x]")),
        (&hashed, json!(false), json!("[REDACTED:rule-x]")),
        (&mask, json!("123-45-6789"), json!("***-**-6789")),
        (&mask, json!(4111111111111111u64), json!("************1111")),
        (&mask, json!(-12.5), json!("-**.5")),
        (&mask, json!({"pan": "4111"}), json!("[REDACTED:rule-x]")),
        (&mask, json!([]), json!("[REDACTED:rule-x]")),
        // Null holds nothing and stays.
        (&text, Value::Null, Value::Null),
        (&hashed, Value::Null, Value::Null),
        (&mask, Value::Null, Value::Null),
    ];
    for (replacement, mut value, expected) in cases {
        let before = value.clone();
        replacement.apply(&mut value);
        assert_eq!(value, expected, "{replacement:?} on {before}");
    }
}

// ---- properties ----

/// The reference: normalize into a new string, then hash with a fresh MAC.
fn reference_hash(key: &str, value: &str, length: usize) -> String {
    let normalized: String = value
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(normalized.as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("[HASH:{}]", &hex[..length])
}

proptest! {
    #[test]
    fn hash_agrees_with_the_reference(value in "[ -~]{0,200}|\\PC{0,100}") {
        let (_dir, hashed) = hashed_with(KEY, Some(24));
        prop_assert_eq!(render(&hashed, &value), reference_hash(KEY, &value, 24));
    }

    /// A mask keeps every non-alphanumeric character in place, writes as many
    /// characters as it read, and shows at most `keep_last` of them, and no
    /// more than half.
    #[test]
    fn mask_keeps_the_layout(value in "\\PC{0,60}", keep_last in 0usize..=8) {
        let out = render(&masked(keep_last), &value);
        prop_assert_eq!(out.chars().count(), value.chars().count());
        let significant = value.chars().filter(|c| c.is_alphanumeric()).count();
        let mut shown = 0;
        for (original, written) in value.chars().zip(out.chars()) {
            if original.is_alphanumeric() {
                prop_assert!(written == '*' || written == original);
                shown += usize::from(written == original);
            } else {
                prop_assert_eq!(written, original);
            }
        }
        prop_assert_eq!(shown, keep_last.min(significant / 2));
    }
}
