//! The configuration: YAML with `${VAR}` interpolation, parsed into the types
//! of [`schema`], validated with errors that name the file, line and column.

mod schema;

pub use schema::*;
