//! What a match becomes: the replacement strategies a rule can name.

use serde::Deserialize;
use serde_json::Value;

/// What a matched value becomes.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged, expecting = "a replacement text such as \"[REDACTED]\"")]
pub enum Replacement {
    /// A fixed text put in place of the whole value. Must not be empty.
    /// Example: `"[REDACTED]"`.
    Text(String),
}

impl Replacement {
    pub(super) fn apply(&self, value: &mut Value) {
        match self {
            Replacement::Text(text) => *value = Value::String(text.clone()),
        }
    }
}
