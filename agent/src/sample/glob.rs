//! Names matched exactly or with `*` wildcards: `billing-*`, `/health*`,
//! `GET /api/v1/patients/*`.
//!
//! Only `*` is special, and it matches any text, `/` included. Routes are
//! templates such as `/api/v1/patients/{id}`, and operation names hold spaces
//! and braces: shell-style globs (`?`, `[...]`, `{a,b}`) would turn ordinary
//! characters of those names into syntax an operator must escape.

/// A compiled name pattern.
#[derive(Clone, Debug)]
pub(super) enum Glob {
    Exact(String),
    Wildcard {
        /// Text before the first `*`.
        prefix: String,
        /// Text between stars, each found in order.
        inner: Vec<String>,
        /// Text after the last `*`.
        suffix: String,
    },
}

impl Glob {
    /// `pattern` with `*` as the wildcard.
    pub(super) fn new(pattern: &str) -> Glob {
        let mut parts = pattern.split('*');
        // `split` yields at least one part.
        let prefix = parts.next().unwrap_or_default().to_owned();
        let mut rest: Vec<String> = parts.map(str::to_owned).collect();
        let Some(suffix) = rest.pop() else {
            return Glob::Exact(prefix);
        };
        rest.retain(|part| !part.is_empty());
        Glob::Wildcard {
            prefix,
            inner: rest,
            suffix,
        }
    }

    /// `name` itself, stars included: names from a Jaeger strategies file
    /// are exact there.
    pub(super) fn literal(name: &str) -> Glob {
        Glob::Exact(name.to_owned())
    }

    pub(super) fn matches(&self, text: &str) -> bool {
        match self {
            Glob::Exact(name) => name == text,
            Glob::Wildcard {
                prefix,
                inner,
                suffix,
            } => {
                if text.len() < prefix.len() + suffix.len()
                    || !text.starts_with(prefix.as_str())
                    || !text.ends_with(suffix.as_str())
                {
                    return false;
                }
                // Taking each inner part at its leftmost place leaves the
                // most room for the next ones; with `*` the only wildcard, a
                // match exists exactly when this greedy search finds one.
                let mut middle = &text[prefix.len()..text.len() - suffix.len()];
                for part in inner {
                    match middle.find(part.as_str()) {
                        Some(at) => middle = &middle[at + part.len()..],
                        None => return false,
                    }
                }
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The reference: the pattern as a regular expression.
    fn naive(pattern: &str, text: &str) -> bool {
        let body: Vec<String> = pattern.split('*').map(regex::escape).collect();
        regex::Regex::new(&format!("(?s)^{}$", body.join(".*")))
            .unwrap()
            .is_match(text)
    }

    #[test]
    fn examples() {
        let cases = [
            ("/health*", "/health", true),
            ("/health*", "/healthz/ready", true),
            ("/health*", "/api/health", false),
            ("billing-service", "billing-service", true),
            ("billing-service", "billing-service-2", false),
            (
                "GET /api/*/patients/{id}",
                "GET /api/v1/patients/{id}",
                true,
            ),
            ("*", "", true),
            ("a*a", "a", false),
            ("a*a", "aa", true),
            ("*b*b*", "abab", true),
            ("*b*b*", "ab", false),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(
                Glob::new(pattern).matches(text),
                expected,
                "{pattern:?} on {text:?}"
            );
        }
    }

    #[test]
    fn literal_names_keep_their_stars() {
        assert!(Glob::literal("a*").matches("a*"));
        assert!(!Glob::literal("a*").matches("ab"));
    }

    proptest! {
        #[test]
        fn agrees_with_a_regex(pattern in "[ab*/]{0,8}", text in "[ab/]{0,10}") {
            prop_assert_eq!(Glob::new(&pattern).matches(&text), naive(&pattern, &text));
        }
    }
}
