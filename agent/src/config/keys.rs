//! Where each key of the document is written.
//!
//! serde reports a type error at a line and column but not under which key,
//! and a few fields (`data_dir`, the `sinks` section) carry no span of their
//! own. A second, schema-less parse of the same text records the place of
//! every key and sequence item, so that any error can name the key an
//! operator must edit (`sources.logs.glob_interval_ms`), and checks on
//! unspanned fields can still point at a line.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::options::DuplicateKeyPolicy;
use serde_saphyr::Spanned;

/// Every key and sequence item of a document with its place, in file order.
/// Places are in the text that was parsed (after interpolation).
#[derive(Debug, Default)]
pub(crate) struct KeyIndex {
    entries: Vec<Entry>,
}

#[derive(Debug)]
struct Entry {
    /// `sources.logs.include[1]`.
    path: String,
    line: u64,
    column: u64,
}

/// Which entry an error at an entry's own place belongs to, when a sequence
/// item and its first key share a place (`- name: x`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Innermost {
    /// The key written at the place (an unknown key is reported there).
    Key,
    /// The value that starts at the place (a wrong type is reported there).
    Value,
}

impl KeyIndex {
    /// Indexes `text`. A document that does not parse gives an empty index:
    /// the parse error itself is what the operator needs then.
    pub(crate) fn build(text: &str) -> KeyIndex {
        // Pass duplicates through so that a duplicate key, which the typed
        // parse rejects, still has a place here to be named by.
        let options = serde_saphyr::options! {
            with_snippet: false,
            duplicate_keys: DuplicateKeyPolicy::PassThrough,
        };
        let mut index = KeyIndex::default();
        if let Ok(root) = serde_saphyr::from_str_with_options::<Spanned<Node>>(text, options) {
            index.collect(&root.value, "");
            index
                .entries
                .sort_by_key(|entry| (entry.line, entry.column));
        }
        index
    }

    fn collect(&mut self, node: &Node, path: &str) {
        match node {
            Node::Mapping(pairs) => {
                for (key, value) in pairs {
                    let path = if path.is_empty() {
                        key.value.0.clone()
                    } else {
                        format!("{path}.{}", key.value.0)
                    };
                    self.push(&path, &key.referenced);
                    self.collect(&value.value, &path);
                }
            }
            Node::Sequence(items) => {
                for (position, item) in items.iter().enumerate() {
                    let path = format!("{path}[{position}]");
                    self.push(&path, &item.referenced);
                    self.collect(&item.value, &path);
                }
            }
            Node::Scalar => {}
        }
    }

    fn push(&mut self, path: &str, location: &serde_saphyr::Location) {
        self.entries.push(Entry {
            path: path.to_owned(),
            line: location.line(),
            column: location.column(),
        });
    }

    /// The place of the key at `path`, if the document has it.
    pub(crate) fn find(&self, path: &str) -> Option<(u64, u64)> {
        self.entries
            .iter()
            .find(|entry| entry.path == path)
            .map(|entry| (entry.line, entry.column))
    }

    /// The path of the key or item under which `line`:`column` was written:
    /// the last one that starts at or before it.
    pub(crate) fn path_at(&self, line: u64, column: u64, innermost: Innermost) -> Option<&str> {
        let end = self
            .entries
            .partition_point(|entry| (entry.line, entry.column) <= (line, column));
        let last = self.entries[..end].last()?;
        let at_same_place = |entry: &&Entry| (entry.line, entry.column) == (last.line, last.column);
        let at_the_entry = (last.line, last.column) == (line, column);
        let chosen = match innermost {
            Innermost::Value if at_the_entry => self.entries[..end]
                .iter()
                .rev()
                .take_while(at_same_place)
                .last()
                .unwrap_or(last),
            _ => last,
        };
        Some(&chosen.path)
    }
}

/// A schema-less YAML node: only its shape matters here.
#[derive(Debug)]
enum Node {
    Mapping(Vec<(Spanned<KeyText>, Spanned<Node>)>),
    Sequence(Vec<Spanned<Node>>),
    Scalar,
}

/// A mapping key as written (`on` stays `on`, not YAML 1.1's `true`), which
/// is how serde matches it to a field.
#[derive(Debug)]
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;

        impl Visitor<'_> for KeyVisitor {
            type Value = KeyText;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scalar key")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<KeyText, E> {
                Ok(KeyText(value.to_owned()))
            }
        }

        deserializer.deserialize_str(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NodeVisitor;

        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any YAML node")
            }

            fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
                Ok(Node::Scalar)
            }

            fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }

            fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }

            fn visit_i128<E>(self, _: i128) -> Result<Node, E> {
                Ok(Node::Scalar)
            }

            fn visit_u128<E>(self, _: u128) -> Result<Node, E> {
                Ok(Node::Scalar)
            }

            fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }

            fn visit_str<E>(self, _: &str) -> Result<Node, E> {
                Ok(Node::Scalar)
            }

            fn visit_bytes<E>(self, _: &[u8]) -> Result<Node, E> {
                Ok(Node::Scalar)
            }

            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Scalar)
            }

            fn visit_none<E>(self) -> Result<Node, E> {
                Ok(Node::Scalar)
            }

            fn visit_some<D: Deserializer<'de>>(self, inner: D) -> Result<Node, D::Error> {
                Node::deserialize(inner)
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut pairs = Vec::new();
                while let Some(key) = map.next_key::<Spanned<KeyText>>()? {
                    pairs.push((key, map.next_value::<Spanned<Node>>()?));
                }
                Ok(Node::Mapping(pairs))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<Node>>()? {
                    items.push(item);
                }
                Ok(Node::Sequence(items))
            }
        }

        deserializer.deserialize_any(NodeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_nested_keys_and_items_with_their_places() {
        let index =
            KeyIndex::build("a:\n  on: 1\n  list:\n    - x\n    - name: y\nb: [1, {c: 2}]\n");
        assert_eq!(index.find("a"), Some((1, 1)));
        assert_eq!(index.find("a.on"), Some((2, 3)));
        assert_eq!(index.find("a.list[1]"), Some((5, 7)));
        assert_eq!(index.find("a.list[1].name"), Some((5, 7)));
        assert_eq!(index.find("b[1].c"), Some((6, 9)));
        assert_eq!(index.find("nope"), None);
    }

    #[test]
    fn path_at_names_the_key_a_place_belongs_to() {
        let index = KeyIndex::build("a:\n  n: 1\n  list:\n    - name: y\n");
        assert_eq!(index.path_at(2, 6, Innermost::Value), Some("a.n"));
        assert_eq!(index.path_at(4, 7, Innermost::Value), Some("a.list[0]"));
        assert_eq!(index.path_at(4, 7, Innermost::Key), Some("a.list[0].name"));
        assert_eq!(
            index.path_at(4, 13, Innermost::Value),
            Some("a.list[0].name")
        );
        assert_eq!(index.path_at(1, 0, Innermost::Value), None);
    }

    #[test]
    fn duplicate_keys_are_all_recorded() {
        let index = KeyIndex::build("a: 1\nb: 2\na: 3\n");
        assert_eq!(index.path_at(3, 1, Innermost::Key), Some("a"));
        assert_eq!(index.path_at(2, 4, Innermost::Value), Some("b"));
    }

    #[test]
    fn unparsable_text_gives_an_empty_index() {
        let index = KeyIndex::build("a: [1\n");
        assert_eq!(index.path_at(9, 9, Innermost::Value), None);
    }
}
