//! The configuration: YAML with `${VAR}` interpolation, parsed into the types
//! of [`schema`], validated with errors that name the file, line and column.
//!
//! Loading runs in three steps, each stopping the next when it fails:
//! interpolation on the raw text (`interpolate.rs` documents the syntax),
//! parsing (syntax, types, unknown keys: serde stops at the first), then
//! validation of values, which reports every problem at once. Rule files'
//! contents are checked separately by [`validate_rules`], because only the
//! redaction module knows their format.

mod error;
mod interpolate;
mod keys;
mod load;
mod reload;
mod schema;
mod validate;

pub use error::{ConfigError, ConfigErrors};
pub use load::{
    embedded_default, load_embedded_default, load_file, load_file_with_env, load_str,
    load_str_with_env, LoadedConfig, EMBEDDED_DEFAULT_LABEL, EMBEDDED_DEFAULT_TEXT,
};
pub use reload::{RuleReloader, RulesHandle};
pub use schema::*;
pub use validate::{load_rules, validate_rules};
