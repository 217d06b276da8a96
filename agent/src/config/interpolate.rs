//! `${VAR}` interpolation on the raw text, before YAML parsing.
//!
//! The syntax is the subset that Vector, Fluent Bit (5.x) and docker-compose
//! agree on, so operators' habits carry over:
//!
//! - `${NAME}`: the variable's value. Unset is an error naming the variable
//!   and its place; set but empty inserts nothing.
//! - `${NAME:-default}`: the default when the variable is unset *or empty*.
//!   The default runs to the matching `}` (braces inside it must balance), may
//!   itself contain `:-`, `$$` and `${...}`, and is only read when needed.
//! - `$$`: a literal `$` (`$${NAME}` is the text `${NAME}`).
//! - A `$` followed by anything else stays as written, so regular expressions
//!   keep their `$` anchors. Bare `$NAME` is therefore *not* interpolated
//!   (unlike Vector), as in Fluent Bit and the OpenTelemetry Collector.
//!
//! Interpolating text rather than parsed values lets a variable fill any
//! scalar, numbers and booleans included. The price is that values are
//! inserted as-is: a value that YAML would read as syntax (`: `, ` #`, a
//! leading `[`, `*`, `&`, `'` ...) must be quoted in the file, preferably in
//! single quotes (`host_name: '${NODE_NAME}'`), where only `'` is special.
//!
//! Lines whose first non-blank character is `#` are comments and are copied
//! untouched, so commented-out examples may mention unset variables. A
//! trailing comment after a value *is* interpolated.
//!
//! Line numbers never change: a value containing a line break is rejected (as
//! Vector does, which also keeps a variable from injecting a whole block), and
//! `${` must be closed on its own line. Columns do change where something was
//! replaced; [`ColumnMap`] maps them back so that errors point into the file
//! as written.

use std::collections::BTreeMap;

use super::ConfigError;

/// The interpolated text and how to find the original columns in it.
#[derive(Debug)]
pub(crate) struct Interpolated {
    pub(crate) text: String,
    pub(crate) columns: ColumnMap,
}

/// Where replacements changed a line's columns.
#[derive(Debug, Default)]
pub(crate) struct ColumnMap {
    /// By 1-based line, in column order.
    edits: BTreeMap<u64, Vec<Edit>>,
}

/// One replacement on one line, in 1-based character columns.
#[derive(Debug, Clone, Copy)]
struct Edit {
    output_start: u64,
    output_len: u64,
    original_start: u64,
    original_len: u64,
}

impl ColumnMap {
    /// The column in the file as written for `column` in the interpolated
    /// text. A column inside an inserted value maps to the `$` that asked for
    /// it: that is what the operator must edit.
    pub(crate) fn original_column(&self, line: u64, column: u64) -> u64 {
        let Some(edits) = self.edits.get(&line) else {
            return column;
        };
        let mut shift: i128 = 0;
        for edit in edits {
            if column < edit.output_start {
                break;
            }
            if column < edit.output_start + edit.output_len {
                return edit.original_start;
            }
            shift += i128::from(edit.output_len) - i128::from(edit.original_len);
        }
        u64::try_from(i128::from(column) - shift).unwrap_or(column)
    }
}

/// Replaces every variable reference in `text`, collecting every problem.
pub(crate) fn interpolate(
    text: &str,
    file: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Interpolated, Vec<ConfigError>> {
    let mut output = String::with_capacity(text.len());
    let mut columns = ColumnMap::default();
    let mut errors = Vec::new();

    for (index, line) in text.split_inclusive('\n').enumerate() {
        let line_number = index as u64 + 1;
        if line.trim_start_matches([' ', '\t']).starts_with('#') || !line.contains('$') {
            output.push_str(line);
            continue;
        }
        let mut expander = Expander {
            file,
            line: line_number,
            env,
            errors: &mut errors,
        };
        let chars: Vec<char> = line.chars().collect();
        let mut edits = Vec::new();
        expander.expand(&chars, 1, &mut output, Some(&mut edits));
        if !edits.is_empty() {
            columns.edits.insert(line_number, edits);
        }
    }

    if errors.is_empty() {
        Ok(Interpolated {
            text: output,
            columns,
        })
    } else {
        Err(errors)
    }
}

struct Expander<'a> {
    file: &'a str,
    line: u64,
    env: &'a dyn Fn(&str) -> Option<String>,
    errors: &'a mut Vec<ConfigError>,
}

impl Expander<'_> {
    /// Expands `chars`, whose first character is at `first_column` of the
    /// line. Only the outermost call records edits: a nested default is part
    /// of its enclosing reference, which is what columns map back to.
    fn expand(
        &mut self,
        chars: &[char],
        first_column: u64,
        output: &mut String,
        mut edits: Option<&mut Vec<Edit>>,
    ) {
        let mut output_column = 1;
        let mut i = 0;
        while i < chars.len() {
            let column = first_column + i as u64;
            let replaced_len;
            let replacement: String;
            match (chars[i], chars.get(i + 1)) {
                ('$', Some('$')) => {
                    replacement = "$".to_owned();
                    replaced_len = 2;
                }
                ('$', Some('{')) => {
                    let Some(close) = matching_brace(chars, i + 1) else {
                        self.error(
                            column,
                            "unterminated `${`: no `}` closes it on this line \
                             (write `$${` for a literal `${`)"
                                .to_owned(),
                        );
                        // The rest of the line cannot be read reliably:
                        // keeping it literal avoids a cascade of errors.
                        output.extend(&chars[i..]);
                        return;
                    };
                    replacement = self.reference(&chars[i + 2..close], column);
                    replaced_len = close + 1 - i;
                }
                (c, _) => {
                    output.push(c);
                    output_column += 1;
                    i += 1;
                    continue;
                }
            }
            let output_len = replacement.chars().count() as u64;
            if let Some(edits) = edits.as_deref_mut() {
                edits.push(Edit {
                    output_start: output_column,
                    output_len,
                    original_start: column,
                    original_len: replaced_len as u64,
                });
            }
            output.push_str(&replacement);
            output_column += output_len;
            i += replaced_len;
        }
    }

    /// The text that replaces `${body}`, whose `$` is at `column`.
    fn reference(&mut self, body: &[char], column: u64) -> String {
        let name_len = body
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
            .count();
        let name: String = body[..name_len].iter().collect();
        let rest = &body[name_len..];
        let written = || format!("${{{}}}", body.iter().collect::<String>());

        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            self.error(
                column,
                format!(
                    "`{}` is not a variable reference: a name is letters, digits \
                     and `_`, not starting with a digit (write `$$` for a literal `$`)",
                    written()
                ),
            );
            return String::new();
        }

        let value = (self.env)(&name);
        match rest {
            [] => match value {
                Some(value) => self.checked(&name, value, column),
                None => {
                    self.error(
                        column,
                        format!(
                            "environment variable `{name}` is not set; set it, or give \
                             a default with `${{{name}:-default}}`"
                        ),
                    );
                    String::new()
                }
            },
            [':', '-', default @ ..] => match value.filter(|value| !value.is_empty()) {
                Some(value) => self.checked(&name, value, column),
                None => {
                    let mut expanded = String::new();
                    let default_column = column + 2 + name_len as u64 + 2;
                    self.expand(default, default_column, &mut expanded, None);
                    expanded
                }
            },
            _ => {
                self.error(
                    column,
                    format!(
                        "`{}` is not supported: use `${{{name}}}` or `${{{name}:-default}}`",
                        written()
                    ),
                );
                String::new()
            }
        }
    }

    fn checked(&mut self, name: &str, value: String, column: u64) -> String {
        if value.contains(['\n', '\r']) {
            self.error(
                column,
                format!(
                    "environment variable `{name}` contains a line break; only \
                     single-line values can be inserted"
                ),
            );
            return String::new();
        }
        value
    }

    fn error(&mut self, column: u64, message: String) {
        self.errors.push(ConfigError {
            file: self.file.to_owned(),
            line: self.line,
            column,
            message,
        });
    }
}

/// The index of the `}` closing the `{` at `open`, counting nested braces.
fn matching_brace(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (index, c) in chars.iter().enumerate().skip(open) {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(index);
                }
            }
            '\n' => return None,
            _ => {}
        }
    }
    None
}

/// A fixed environment for tests, instead of the process's.
#[cfg(test)]
pub(super) fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| vars.get(name).cloned()
}

#[cfg(test)]
mod tests {

    use super::*;

    fn expand(text: &str, pairs: &[(&str, &str)]) -> String {
        interpolate(text, "t.yaml", &env(pairs))
            .unwrap_or_else(|errors| panic!("{errors:?}"))
            .text
    }

    fn errors(text: &str, pairs: &[(&str, &str)]) -> Vec<ConfigError> {
        interpolate(text, "t.yaml", &env(pairs)).expect_err("should fail")
    }

    #[test]
    fn text_without_references_is_unchanged() {
        let text = "a: 1\r\nb: 'x'\n\n  c: [1, 2]";
        assert_eq!(expand(text, &[]), text);
    }

    #[test]
    fn set_variable_is_inserted_and_lines_are_kept() {
        let text = "a: ${A}\nb: x${A}y${B}\nc: 3\n";
        assert_eq!(
            expand(text, &[("A", "one"), ("B", "2")]),
            "a: one\nb: xoney2\nc: 3\n"
        );
    }

    #[test]
    fn default_is_used_when_unset_or_empty() {
        let text = "a: ${A:-fallback}";
        assert_eq!(expand(text, &[]), "a: fallback");
        assert_eq!(expand(text, &[("A", "")]), "a: fallback");
        assert_eq!(expand(text, &[("A", "set")]), "a: set");
        assert_eq!(expand("a: ${A:-}", &[]), "a: ");
    }

    #[test]
    fn default_may_contain_the_default_operator() {
        assert_eq!(expand("a: ${A:-x:-y}", &[]), "a: x:-y");
        assert_eq!(expand("a: ${A:-:-}", &[]), "a: :-");
    }

    #[test]
    fn nested_references_in_defaults_expand_only_when_needed() {
        assert_eq!(expand("a: ${A:-${B:-deep}}", &[]), "a: deep");
        assert_eq!(expand("a: ${A:-${B:-deep}}", &[("B", "b")]), "a: b");
        // B is unset, but the default is never read.
        assert_eq!(expand("a: ${A:-${B}}", &[("A", "a")]), "a: a");
        let nested = errors("a: ${A:-x${B}}", &[]);
        assert_eq!((nested[0].line, nested[0].column), (1, 10));
        assert!(nested[0].message.contains("`B`"), "{nested:?}");
    }

    #[test]
    fn balanced_braces_in_a_default_are_kept() {
        assert_eq!(expand("a: ${A:-{x}}", &[]), "a: {x}");
        assert_eq!(expand("a: ${A:-{x}}}", &[]), "a: {x}}");
        assert_eq!(expand("a: '${A:-^\\d{4}-}'", &[]), "a: '^\\d{4}-'");
    }

    #[test]
    fn double_dollar_is_a_literal_dollar() {
        assert_eq!(expand("a: $$", &[]), "a: $");
        assert_eq!(expand("a: $${A}", &[]), "a: ${A}");
        assert_eq!(expand("a: $$$$", &[]), "a: $$");
        assert_eq!(expand("a: $$${A}", &[("A", "v")]), "a: $v");
    }

    #[test]
    fn lone_dollar_is_kept() {
        assert_eq!(expand("a: $", &[]), "a: $");
        assert_eq!(expand("a: '^x$'\nb: 5$ each", &[]), "a: '^x$'\nb: 5$ each");
        assert_eq!(expand("a: $HOME", &[("HOME", "/root")]), "a: $HOME");
        assert_eq!(expand("a: $\n", &[]), "a: $\n");
    }

    #[test]
    fn empty_variable_inserts_nothing() {
        assert_eq!(expand("a: x${E}y", &[("E", "")]), "a: xy");
    }

    #[test]
    fn unset_variable_is_an_error_with_its_place() {
        let found = errors("a: 1\nb: x ${MISSING}\n", &[]);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].line, found[0].column), (2, 6));
        assert!(found[0].message.contains("`MISSING` is not set"));
        assert_eq!(found[0].file, "t.yaml");
    }

    #[test]
    fn every_error_is_collected() {
        let found = errors("a: ${A}\nb: ${B} ${C}\n", &[]);
        let places: Vec<_> = found.iter().map(|e| (e.line, e.column)).collect();
        assert_eq!(places, [(1, 4), (2, 4), (2, 9)]);
    }

    #[test]
    fn unterminated_reference_is_an_error() {
        let found = errors("a: ok\nb: ${A\nc: ${B:-{x}\n", &[("A", "1")]);
        let places: Vec<_> = found.iter().map(|e| (e.line, e.column)).collect();
        assert_eq!(places, [(2, 4), (3, 4)]);
        assert!(found[0].message.contains("unterminated"));
    }

    #[test]
    fn malformed_references_are_errors() {
        for text in [
            "a: ${}",
            "a: ${:-x}",
            "a: ${1A}",
            "a: ${A-x}",
            "a: ${A:?x}",
            "a: ${A B}",
        ] {
            let found = errors(text, &[("A", "1")]);
            assert_eq!(found.len(), 1, "{text}");
            assert_eq!((found[0].line, found[0].column), (1, 4), "{text}");
        }
    }

    #[test]
    fn comment_lines_are_not_interpolated() {
        let text = "# uses ${UNSET}\n  # and $$\na: ${A} # but ${A} here\n";
        assert_eq!(
            expand(text, &[("A", "v")]),
            "# uses ${UNSET}\n  # and $$\na: v # but v here\n"
        );
    }

    #[test]
    fn multi_line_value_is_rejected() {
        let found = errors("a: ${A}", &[("A", "x\nb: injected")]);
        assert!(found[0].message.contains("line break"));
    }

    #[test]
    fn columns_map_back_to_the_file_as_written() {
        let done = interpolate(
            "key: ${A}, after\nplain\nx: $$ ${B:-é} z",
            "t.yaml",
            &env(&[("A", "a-long-value")]),
        )
        .unwrap();
        assert_eq!(done.text, "key: a-long-value, after\nplain\nx: $ é z");
        let map = &done.columns;
        assert_eq!(map.original_column(1, 1), 1);
        assert_eq!(map.original_column(1, 6), 6); // inside the value: the `$`
        assert_eq!(map.original_column(1, 17), 6);
        assert_eq!(map.original_column(1, 18), 10); // the `,` after `${A}`
        assert_eq!(map.original_column(2, 3), 3);
        assert_eq!(map.original_column(3, 4), 4); // `$` from `$$`
        assert_eq!(map.original_column(3, 6), 7); // `é`, from `${B:-é}`
        assert_eq!(map.original_column(3, 8), 15); // `z`
    }
}
