//! `http.route`: the template of a request's path, safe to be a metric label.
//!
//! A label lives for the life of the series and is copied into every
//! backend, so what becomes one must be low in cardinality and hold no PHI.
//! The route of a path is, in order:
//!
//! 1. the first configured template that matches it (`/api/v1/patients/{id}/records`);
//! 2. otherwise the path with every segment that is not a plain route word
//!    replaced by `{id}`. A route word is ASCII letters, digits, `-`, `_`,
//!    `.` and `$`, holds a letter, and is not an identifier: not a UUID, not a
//!    hex run of 8 or more with a digit, and with at most 3 digits. Anything
//!    else becomes `{id}`: numbers, ids, and whatever redaction replaced
//!    (`[REDACTED:ssn]`, a partial mask, a keyed hash), which fails closed:
//!    a segment of unexpected shape never reaches a label;
//! 3. and a guard per service: once one segment position under one route
//!    prefix has shown [`RouteConfig::max_distinct_segments`] different
//!    words (names, codes: values that look like words), that position
//!    becomes `{id}` for good.
//!
//! The query string never takes part.

use std::collections::{HashMap, HashSet};

/// A path segment that is an identifier or a value, in a route.
pub const PLACEHOLDER: &str = "{id}";

/// Words past this many segments are not kept: the route ends in `/{…}`.
const MAX_SEGMENTS: usize = 16;
/// Services, and positions per service, the guard remembers. Past these the
/// guard treats every new position as already collapsed: fail closed.
const MAX_GUARDED_SERVICES: usize = 4096;
const MAX_POSITIONS_PER_SERVICE: usize = 4096;

/// How routes are made.
#[derive(Clone, Debug)]
pub struct RouteConfig {
    /// Templates tried first, in order: `/api/v1/patients/{id}/records`.
    /// A `{…}` segment matches any one segment; `{…*}` as the last segment
    /// matches the rest of the path.
    pub templates: Vec<String>,
    /// Distinct words one segment position may show before it collapses.
    pub max_distinct_segments: usize,
}

impl Default for RouteConfig {
    fn default() -> Self {
        RouteConfig {
            templates: Vec::new(),
            max_distinct_segments: 32,
        }
    }
}

/// Turns paths into routes; holds the cardinality guard's memory.
#[derive(Debug)]
pub struct Router {
    templates: Vec<Template>,
    max_distinct: usize,
    /// Per service, per (route prefix, position): the words seen, or `None`
    /// once the position collapsed.
    guard: HashMap<String, HashMap<String, Option<HashSet<String>>>>,
}

#[derive(Debug)]
struct Template {
    text: String,
    segments: Vec<TemplateSegment>,
}

#[derive(Debug, PartialEq)]
enum TemplateSegment {
    Literal(String),
    Any,
    Rest,
}

impl Router {
    pub fn new(config: &RouteConfig) -> Router {
        let templates = config
            .templates
            .iter()
            .map(|text| Template {
                text: text.clone(),
                segments: segments(text)
                    .map(|segment| {
                        if segment.starts_with('{') && segment.ends_with("*}") {
                            TemplateSegment::Rest
                        } else if segment.starts_with('{') && segment.ends_with('}') {
                            TemplateSegment::Any
                        } else {
                            TemplateSegment::Literal(segment.to_owned())
                        }
                    })
                    .collect(),
            })
            .collect();
        Router {
            templates,
            max_distinct: config.max_distinct_segments.max(1),
            guard: HashMap::new(),
        }
    }

    /// The route of `path` (already redacted) for `service`.
    pub fn route(&mut self, service: &str, path: &str) -> String {
        let path = path.split(['?', '#']).next().unwrap_or("");
        if let Some(template) = self.templates.iter().find(|t| t.matches(path)) {
            return template.text.clone();
        }
        let mut route = String::with_capacity(path.len());
        for (position, segment) in segments(path).enumerate() {
            if position == MAX_SEGMENTS {
                route.push_str("/{rest}");
                break;
            }
            let keep = is_route_word(segment) && self.guard_allows(service, &route, segment);
            route.push('/');
            route.push_str(if keep { segment } else { PLACEHOLDER });
        }
        if route.is_empty() || path.ends_with('/') {
            route.push('/');
        }
        route
    }

    /// Whether `word` may stay at the position after `prefix`: it has been
    /// seen there before, or the position has room for one more.
    fn guard_allows(&mut self, service: &str, prefix: &str, word: &str) -> bool {
        if !self.guard.contains_key(service) && self.guard.len() >= MAX_GUARDED_SERVICES {
            return false;
        }
        let positions = self.guard.entry(service.to_owned()).or_default();
        if !positions.contains_key(prefix) && positions.len() >= MAX_POSITIONS_PER_SERVICE {
            return false;
        }
        let seen = positions
            .entry(prefix.to_owned())
            .or_insert_with(|| Some(HashSet::new()));
        let Some(words) = seen else {
            return false;
        };
        if words.contains(word) {
            return true;
        }
        if words.len() >= self.max_distinct {
            *seen = None;
            return false;
        }
        words.insert(word.to_owned());
        true
    }
}

impl Template {
    fn matches(&self, path: &str) -> bool {
        let mut parts = segments(path);
        for expected in &self.segments {
            match expected {
                TemplateSegment::Rest => return parts.next().is_some(),
                TemplateSegment::Any => {
                    if parts.next().is_none() {
                        return false;
                    }
                }
                TemplateSegment::Literal(word) => {
                    if parts.next() != Some(word.as_str()) {
                        return false;
                    }
                }
            }
        }
        parts.next().is_none()
    }
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|segment| !segment.is_empty())
}

/// A word a route is written with (`patients`, `v1`, `by-name`, `_search`,
/// FHIR's `$everything`), not a value.
fn is_route_word(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    let plain = !bytes.is_empty()
        && bytes.len() <= 64
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'$'));
    if !plain || !bytes.iter().any(u8::is_ascii_alphabetic) {
        return false;
    }
    let digits = bytes.iter().filter(|b| b.is_ascii_digit()).count();
    digits <= 3 && !is_uuid(segment) && !is_hex_id(segment)
}

fn is_uuid(segment: &str) -> bool {
    segment.len() == 36
        && segment.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

fn is_hex_id(segment: &str) -> bool {
    segment.len() >= 8
        && segment.bytes().all(|b| b.is_ascii_hexdigit())
        && segment.bytes().any(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(templates: &[&str], max_distinct_segments: usize) -> Router {
        Router::new(&RouteConfig {
            templates: templates.iter().map(|t| t.to_string()).collect(),
            max_distinct_segments,
        })
    }

    #[test]
    fn identifiers_and_redacted_values_become_placeholders() {
        let mut r = router(&[], 32);
        let cases = [
            (
                "/api/v1/patients/12345/records",
                "/api/v1/patients/{id}/records",
            ),
            (
                "/api/v1/appointments/7f3c9a2e-1b4d-4c8e-9f0a-2d6b8e4c1a37",
                "/api/v1/appointments/{id}",
            ),
            ("/orders/5f2b9c0e1a7d/items", "/orders/{id}/items"),
            (
                "/patients/[REDACTED:ssn-dashed]/records",
                "/patients/{id}/records",
            ),
            ("/members/***-**-6789", "/members/{id}"),
            ("/fhir/Patient/$everything", "/fhir/Patient/$everything"),
            ("/health?probe=1", "/health"),
            ("/", "/"),
            ("", "/"),
            ("/api/v2/", "/api/v2/"),
            ("/files/report%20final.pdf", "/files/{id}"),
            ("/encounters/ENC20240117", "/encounters/{id}"),
        ];
        for (path, route) in cases {
            assert_eq!(r.route("svc", path), route, "{path}");
        }
    }

    #[test]
    fn configured_templates_come_first() {
        let mut r = router(&["/api/v1/patients/{id}/records", "/static/{path*}"], 32);
        assert_eq!(
            r.route("svc", "/api/v1/patients/jane-roe/records"),
            "/api/v1/patients/{id}/records"
        );
        assert_eq!(r.route("svc", "/static/css/app.css"), "/static/{path*}");
        assert_eq!(r.route("svc", "/static"), "/static");
        assert_eq!(
            r.route("svc", "/api/v1/patients/jane-roe"),
            "/api/v1/patients/jane-roe"
        );
    }

    #[test]
    fn a_position_with_too_many_words_collapses_for_that_service_only() {
        let mut r = router(&[], 4);
        for name in ["alice", "bob", "carol", "dave"] {
            assert_eq!(
                r.route("a", &format!("/by-name/{name}")),
                format!("/by-name/{name}")
            );
        }
        assert_eq!(r.route("a", "/by-name/erin"), "/by-name/{id}");
        assert_eq!(
            r.route("a", "/by-name/alice"),
            "/by-name/{id}",
            "collapsed for good"
        );
        assert_eq!(r.route("b", "/by-name/erin"), "/by-name/erin");
        // Other positions keep their words.
        assert_eq!(r.route("a", "/health"), "/health");
    }

    #[test]
    fn long_paths_are_cut() {
        let mut r = router(&[], 32);
        let path = "/a".repeat(20);
        let route = r.route("svc", &path);
        assert!(route.ends_with("/{rest}"), "{route}");
        assert_eq!(route.matches('/').count(), MAX_SEGMENTS + 1);
    }
}
