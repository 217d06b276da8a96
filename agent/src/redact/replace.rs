//! What a match becomes: the replacement strategies a rule can name.
//!
//! ```yaml
//! replacement: "[REDACTED]"                          # fixed text
//! replacement: { hash: { key_file: /etc/wardwatch/hmac.key, length: 16 } }
//! replacement: { hash: { key_env: WARDWATCH_HMAC_KEY } }
//! replacement: { mask: { keep_last: 4 } }            # ***-**-6789
//! ```
//!
//! # Design notes
//!
//! **Two forms.** [`Replacement`] is what a rule file says; it holds where a
//! hash key is, never the key. [`PreparedReplacement`] is what the engine runs:
//! [`Replacement::prepare`] reads the key once per rule at load (and again at
//! every reload, which is how a rotated key takes effect) and keys the HMAC
//! there, so a match costs two SHA-256 compressions plus the value's length,
//! with the key's own blocks already absorbed into the cloned state.
//!
//! **Keys are secrets.** A key is accepted only from a file or an environment
//! variable, so a rule pack can be shared, reviewed and committed. It appears
//! in no `Debug` output and no error message: errors name the file or the
//! variable, and a `hash:` written with an inline key is refused without
//! repeating what was written.
//!
//! **Hashing pseudonymizes; it does not anonymize.** The same identifier
//! always gives the same `[HASH:…]` under one key, so a patient's records can
//! be followed across services and days without the backends learning who it
//! is. Whoever holds the key can test guesses, and identifiers come from small
//! spaces (a billion SSNs), so the key must be guarded like the data: a keyed
//! hash, not a plain SHA-256 that anyone could reverse by enumeration.
//!
//! **Deserialized by hand.** The plain text form and the strategy maps are
//! told apart by shape, as `#[serde(untagged)]` would, but a derived untagged
//! enum reports every mistake as "did not match any variant" and echoes a
//! mistyped scalar back in its message; here a typo names the unknown field
//! and a scalar written where the key's location belongs is never repeated.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use sha2::Sha256;

/// What a matched value becomes.
///
/// Written as a text (fixed text) or as a map with one key naming a strategy,
/// `hash` or `mask`. Example: `replacement: "[REDACTED]"`,
/// `replacement: { mask: { keep_last: 4 } }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Replacement {
    /// A fixed text put in place of the whole value. Must not be empty.
    /// Example: `"[REDACTED]"`.
    Text(String),
    /// `{ hash: {..} }`: a keyed hash of the value, `[HASH:<hex>]`.
    Hash(HashReplacement),
    /// `{ mask: {..} }`: the value with its letters and digits starred.
    Mask(MaskReplacement),
}

/// `replacement: { hash: { key_file: …, length: … } }`: the value becomes
/// `[HASH:<hex>]`, the first `length` hex digits of HMAC-SHA256 under a secret
/// key over the value normalized: ASCII letters lower-cased and spaces, `-`,
/// `.`, `(`, `)` dropped, so `123-45-6789` and `123456789`, or
/// `(555) 010-1234` and `555-010-1234`, hash the same.
///
/// The same identifier gives the same hash wherever it is found, so one
/// patient's records can still be correlated without revealing who it is.
/// Changing the key changes every hash, which breaks that correlation.
///
/// The key is never written in the rule file: exactly one of `key_file` or
/// `key_env` says where it is. It is used as raw bytes (one trailing newline
/// dropped) and must be at least 16 bytes; the output of
/// `openssl rand -hex 32` (32 random bytes, as hex) is a good key.
///
/// Fields:
/// - `key_file`: a file holding the key, at most 4096 bytes, typically a
///   mounted Kubernetes Secret. Example: `key_file: /etc/wardwatch/hmac.key`.
/// - `key_env`: an environment variable holding the key.
///   Example: `key_env: WARDWATCH_HMAC_KEY`.
/// - `length`: how many hex digits are written, an even number from 8 to 64.
///   Default: 16 (64 bits). Example: `length: 32`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashReplacement {
    key: KeySource,
    /// Hex digits written.
    length: usize,
}

/// Where a hash key is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum KeySource {
    /// `key_file`: a file holding the key, at most [`MAX_KEY_FILE_BYTES`].
    /// Example: `key_file: /etc/wardwatch/hmac.key` (a mounted Secret).
    File(PathBuf),
    /// `key_env`: an environment variable holding the key.
    /// Example: `key_env: WARDWATCH_HMAC_KEY`.
    Env(String),
}

/// `replacement: { mask: { keep_last: 4 } }`: every letter and digit of the
/// value becomes `*` except the last `keep_last`; separators stay, so the shape
/// is kept: `4111-1111-1111-1111` becomes `****-****-****-1111`.
///
/// At most half of a value's letters and digits (rounded down) are ever left,
/// so a value shorter than expected is not shown whole: with `keep_last: 4`,
/// `1980` becomes `**80`. Letters of any script count as letters, so a
/// non-ASCII name is starred like an ASCII one.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "MaskFields")]
pub struct MaskReplacement {
    keep_last: usize,
}

/// The fields of `mask:` as written, before they are checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MaskFields {
    /// How many letters and digits stay readable at the end, 0 to 8. Required.
    /// Example: `keep_last: 4`.
    keep_last: u64,
}

impl TryFrom<MaskFields> for MaskReplacement {
    type Error = String;

    fn try_from(fields: MaskFields) -> Result<Self, String> {
        match usize::try_from(fields.keep_last) {
            Ok(keep_last @ 0..=MAX_KEEP_LAST) => Ok(MaskReplacement { keep_last }),
            _ => Err(format!(
                "`keep_last` is {}; it must be from 0 to {MAX_KEEP_LAST}",
                fields.keep_last
            )),
        }
    }
}

/// Showing more than this many characters would leave too much of most
/// identifiers readable.
const MAX_KEEP_LAST: usize = 8;

/// Hex digits of the hash, by default: 64 bits, enough that distinct
/// identifiers of one deployment do not collide in practice.
const DEFAULT_HASH_LENGTH: usize = 16;
const MIN_HASH_LENGTH: usize = 8;
const MAX_HASH_LENGTH: usize = 64;

/// A key file is a few dozen bytes; the cap keeps a wrong path (a log file, a
/// device) from being read whole.
const MAX_KEY_FILE_BYTES: u64 = 4096;

/// Shorter keys could be found by trying them all.
const MIN_KEY_BYTES: usize = 16;

/// Field names an operator might use to write the key inline; refused with a
/// message pointing to `key_file` and `key_env`.
const INLINE_KEY_FIELDS: &[&str] = &["key", "secret", "hmac_key", "value"];

const HASH_FIELDS: &[&str] = &["key_file", "key_env", "length"];

const NOT_INLINE: &str = "the hash key is never written in a rule file: \
     name the file that holds it with `key_file`, or the environment variable with `key_env`";

impl<'de> Deserialize<'de> for Replacement {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ReplacementVisitor)
    }
}

struct ReplacementVisitor;

impl<'de> Visitor<'de> for ReplacementVisitor {
    type Value = Replacement;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a replacement text such as \"[REDACTED]\", \
             or a map `hash: {..}` or `mask: {..}`",
        )
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Replacement, E> {
        Ok(Replacement::Text(text.to_owned()))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Replacement, E> {
        Ok(Replacement::Text(text))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Replacement, A::Error> {
        let Some(strategy) = map.next_key::<String>()? else {
            return Err(de::Error::custom(
                "the replacement map is empty; name a strategy, `hash` or `mask`",
            ));
        };
        let replacement = match strategy.as_str() {
            "hash" => Replacement::Hash(map.next_value()?),
            "mask" => Replacement::Mask(map.next_value()?),
            other => {
                return Err(de::Error::custom(format_args!(
                    "unknown replacement strategy `{other}`; expected `hash` or `mask`"
                )))
            }
        };
        if map.next_key::<IgnoredAny>()?.is_some() {
            return Err(de::Error::custom(
                "a replacement names one strategy, `hash` or `mask`, not several",
            ));
        }
        Ok(replacement)
    }
}

impl<'de> Deserialize<'de> for HashReplacement {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(HashVisitor)
    }
}

/// Accepts only a map. Any scalar is refused without being quoted: `hash:`
/// followed by a text is most likely the key itself.
struct HashVisitor;

impl HashVisitor {
    fn scalar<E: de::Error>() -> Result<HashReplacement, E> {
        Err(E::custom(format_args!(
            "`hash` takes a map such as `{{ key_file: /etc/wardwatch/hmac.key }}`, and {NOT_INLINE}"
        )))
    }
}

impl<'de> Visitor<'de> for HashVisitor {
    type Value = HashReplacement;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map with `key_file` or `key_env`, and optionally `length`")
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<HashReplacement, E> {
        Self::scalar()
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<HashReplacement, E> {
        Self::scalar()
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<HashReplacement, E> {
        Self::scalar()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<HashReplacement, E> {
        Self::scalar()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<HashReplacement, E> {
        Self::scalar()
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<HashReplacement, E> {
        Self::scalar()
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HashReplacement, A::Error> {
        let mut key_file: Option<PathBuf> = None;
        let mut key_env: Option<String> = None;
        let mut length: Option<u64> = None;
        while let Some(field) = map.next_key::<String>()? {
            match field.as_str() {
                "key_file" if key_file.is_some() => {
                    return Err(de::Error::duplicate_field("key_file"))
                }
                "key_env" if key_env.is_some() => {
                    return Err(de::Error::duplicate_field("key_env"))
                }
                "length" if length.is_some() => return Err(de::Error::duplicate_field("length")),
                "key_file" => key_file = Some(map.next_value()?),
                "key_env" => key_env = Some(map.next_value()?),
                "length" => length = Some(map.next_value()?),
                inline if INLINE_KEY_FIELDS.contains(&inline) => {
                    return Err(de::Error::custom(format_args!(
                        "`hash` has a `{inline}` field, but {NOT_INLINE}"
                    )))
                }
                other => return Err(de::Error::unknown_field(other, HASH_FIELDS)),
            }
        }
        let key = match (key_file, key_env) {
            (Some(_), Some(_)) => {
                return Err(de::Error::custom(
                    "`hash` names both `key_file` and `key_env`; name exactly one",
                ))
            }
            (None, None) => {
                return Err(de::Error::custom(
                    "`hash` needs `key_file` or `key_env`: where the key is read from",
                ))
            }
            (Some(path), None) if path.as_os_str().is_empty() => {
                return Err(de::Error::custom("`key_file` is empty"))
            }
            (Some(path), None) => KeySource::File(path),
            (None, Some(name)) if !is_env_var_name(&name) => {
                // Not quoted: a value that is not a variable name may be the
                // key, written in the wrong place.
                return Err(de::Error::custom(
                    "`key_env` is not an environment variable name \
                     (letters, digits and `_`, not starting with a digit)",
                ));
            }
            (None, Some(name)) => KeySource::Env(name),
        };
        let length = match length {
            None => DEFAULT_HASH_LENGTH,
            Some(length) => usize::try_from(length)
                .ok()
                .filter(|length| {
                    (MIN_HASH_LENGTH..=MAX_HASH_LENGTH).contains(length) && length.is_multiple_of(2)
                })
                .ok_or_else(|| {
                    de::Error::custom(format_args!(
                        "`length` is {length}; it must be an even number of hex digits \
                         from {MIN_HASH_LENGTH} to {MAX_HASH_LENGTH}"
                    ))
                })?,
        };
        Ok(HashReplacement { key, length })
    }
}

fn is_env_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Replacement {
    /// Checks the rule's replacement and prepares it (reads the hash key from
    /// its file or environment variable). Called once per rule at load.
    ///
    /// Errors are messages that name the problem (an empty text, a missing or
    /// oversized key file, an unset variable, a short key) and where the key
    /// was looked for, never the key; they do not name the rule, which the
    /// caller adds with the rule's place in its file.
    pub(super) fn prepare(self, rule_id: &str) -> Result<PreparedReplacement, String> {
        let strategy = match self {
            Replacement::Text(text) if text.is_empty() => {
                return Err("`replacement` text is empty".to_owned())
            }
            Replacement::Text(text) => Strategy::Text(text.into()),
            Replacement::Hash(hash) => {
                let key = hash.key.read()?;
                let mac = Hmac::<Sha256>::new_from_slice(&key)
                    .map_err(|_| "the hash key cannot key HMAC-SHA256".to_owned())?;
                Strategy::Hash(KeyedHash {
                    mac,
                    hex_len: hash.length,
                })
            }
            Replacement::Mask(mask) => Strategy::Mask {
                keep_last: mask.keep_last,
            },
        };
        Ok(PreparedReplacement {
            strategy,
            whole_value: default_text(rule_id).into(),
        })
    }
}

/// `[REDACTED:<rule id>]`: what a rule without `replacement:` writes.
fn default_text(rule_id: &str) -> String {
    format!("[REDACTED:{rule_id}]")
}

impl KeySource {
    /// The key's bytes, one trailing newline (`\n` or `\r\n`) dropped: what
    /// `echo … > file` and most secret stores leave at the end.
    fn read(&self) -> Result<Vec<u8>, String> {
        let (mut key, origin) = match self {
            KeySource::File(path) => (read_key_file(path)?, "key file"),
            KeySource::Env(name) => match std::env::var_os(name) {
                Some(value) => (value.into_encoded_bytes(), "environment variable"),
                None => return Err(format!("environment variable {name} is not set")),
            },
        };
        if key.ends_with(b"\n") {
            key.pop();
            if key.ends_with(b"\r") {
                key.pop();
            }
        }
        let place = self.describe();
        if key.is_empty() {
            return Err(format!("the hash key in {origin} {place} is empty"));
        }
        if key.len() < MIN_KEY_BYTES {
            return Err(format!(
                "the hash key in {origin} {place} is shorter than {MIN_KEY_BYTES} bytes; \
                 use a random one such as the output of `openssl rand -hex 32`"
            ));
        }
        Ok(key)
    }

    /// The file or variable, for messages.
    fn describe(&self) -> String {
        match self {
            KeySource::File(path) => path.display().to_string(),
            KeySource::Env(name) => name.clone(),
        }
    }
}

fn read_key_file(path: &Path) -> Result<Vec<u8>, String> {
    let cannot_read =
        |error: std::io::Error| format!("cannot read hash key file {}: {error}", path.display());
    let file = std::fs::File::open(path).map_err(cannot_read)?;
    let mut key = Vec::new();
    file.take(MAX_KEY_FILE_BYTES + 1)
        .read_to_end(&mut key)
        .map_err(cannot_read)?;
    if key.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(format!(
            "hash key file {} is larger than {MAX_KEY_FILE_BYTES} bytes; is it the right file?",
            path.display()
        ));
    }
    Ok(key)
}

/// A rule's replacement ready to run: texts built, hash key read and absorbed.
#[derive(Clone)]
pub(super) struct PreparedReplacement {
    strategy: Strategy,
    /// What hash and mask put in place of a structured value that is not text
    /// (an object, an array, a boolean): `[REDACTED:<rule id>]`.
    whole_value: Box<str>,
}

#[derive(Clone)]
enum Strategy {
    Text(Box<str>),
    Hash(KeyedHash),
    Mask { keep_last: usize },
}

#[derive(Clone)]
struct KeyedHash {
    /// HMAC state with the key already absorbed; cloned for every value.
    mac: Hmac<Sha256>,
    /// Hex digits written: even, 8 to 64.
    hex_len: usize,
}

impl fmt::Debug for PreparedReplacement {
    /// Shows the strategy and its settings; the key never.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.strategy {
            Strategy::Text(text) => f.debug_tuple("Text").field(text).finish(),
            Strategy::Hash(hash) => f
                .debug_struct("Hash")
                .field("length", &hash.hex_len)
                .field("key", &format_args!("<secret>"))
                .finish(),
            Strategy::Mask { keep_last } => f
                .debug_struct("Mask")
                .field("keep_last", keep_last)
                .finish(),
        }
    }
}
impl PreparedReplacement {
    /// The replacement of a rule without `replacement:`: `[REDACTED:<rule id>]`.
    pub(super) fn default_for(rule_id: &str) -> PreparedReplacement {
        let text: Box<str> = default_text(rule_id).into();
        PreparedReplacement {
            strategy: Strategy::Text(text.clone()),
            whole_value: text,
        }
    }

    /// Appends what a text match becomes to `out` (pattern, context and hl7
    /// rules).
    pub(super) fn render(&self, matched: &str, out: &mut String) {
        match &self.strategy {
            Strategy::Text(text) => out.push_str(text),
            Strategy::Hash(hash) => hash.render(matched, out),
            Strategy::Mask { keep_last } => mask(matched, *keep_last, out),
        }
    }

    /// Replaces a whole structured value (field rules, context rules on
    /// structured records). Strings and numbers are rendered from their text;
    /// objects, arrays and booleans become the fixed text or, for hash and
    /// mask, `[REDACTED:<rule id>]`, since hashing a whole object would not be
    /// a stable identifier. A null stays null: it holds nothing.
    pub(super) fn apply(&self, value: &mut Value) {
        let replaced = match (&self.strategy, &*value) {
            (_, Value::Null) => return,
            (Strategy::Text(text), _) => text.to_string(),
            (_, Value::String(text)) => self.rendered(text),
            (_, Value::Number(number)) => self.rendered(&number.to_string()),
            (_, Value::Bool(_) | Value::Array(_) | Value::Object(_)) => {
                self.whole_value.to_string()
            }
        };
        *value = Value::String(replaced);
    }

    fn rendered(&self, matched: &str) -> String {
        let mut out = String::with_capacity(matched.len().max(MAX_HASH_LENGTH + 7));
        self.render(matched, &mut out);
        out
    }
}

impl KeyedHash {
    fn render(&self, matched: &str, out: &mut String) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut mac = self.mac.clone();
        feed_normalized(&mut mac, matched);
        let digest = mac.finalize().into_bytes();
        out.push_str("[HASH:");
        for &byte in &digest[..self.hex_len / 2] {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        out.push(']');
    }
}

/// Whether a byte is dropped before hashing: the separators identifiers are
/// written with, which say nothing about which identifier it is.
fn is_hash_separator(byte: u8) -> bool {
    matches!(byte, b' ' | b'-' | b'.' | b'(' | b')')
}

/// Feeds `text` normalized (ASCII lower case, separators dropped) to the MAC
/// through a small buffer, so hashing allocates nothing. Bytes are handled one
/// by one: the separators and ASCII letters never occur inside a multi-byte
/// UTF-8 character, so other characters pass through whole.
fn feed_normalized(mac: &mut Hmac<Sha256>, text: &str) {
    let mut buffer = [0u8; 64];
    let mut len = 0;
    for &byte in text.as_bytes() {
        if is_hash_separator(byte) {
            continue;
        }
        buffer[len] = byte.to_ascii_lowercase();
        len += 1;
        if len == buffer.len() {
            mac.update(&buffer);
            len = 0;
        }
    }
    mac.update(&buffer[..len]);
}

/// Stars every letter and digit of `matched` but the last `keep_last`, and at
/// most half of them, keeping everything else.
fn mask(matched: &str, keep_last: usize, out: &mut String) {
    let significant = matched.chars().filter(|c| c.is_alphanumeric()).count();
    let hidden = significant - keep_last.min(significant / 2);
    let mut seen = 0;
    for c in matched.chars() {
        if c.is_alphanumeric() {
            out.push(if seen < hidden { '*' } else { c });
            seen += 1;
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests;
