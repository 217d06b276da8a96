//! Realistic healthcare service log lines with planted fake PHI and canaries,
//! for the redaction engine's tests, property tests and benchmarks.
//!
//! Tests use it as `mod corpus;`, benches as
//! `#[path = "../tests/corpus/mod.rs"] mod corpus;`. Its own tests are in
//! `tests/corpus_selftest.rs`.
//!
//! ```text
//! let mut generator = corpus::Generator::new(seed);
//! let line = generator.line_with(Encoding::Hl7, PhiKind::Ssn); // or line(), line_in(…)
//! let output = redact(&line.text);
//! assert!(line.surviving(&output).is_empty(), "{:?} leaked", line.surviving(&output));
//! assert!(line.missing_canaries(&output).is_empty());
//! let clean = generator.clean_line();                         // must come back unchanged
//! // property tests: any::<u64>().prop_map(|seed| Generator::new(seed).line())
//! // benchmarks:     let (text, stats) = corpus::corpus_with_stats(seed, 64 << 20);
//! ```
//!
//! [`Generator::line`], [`Generator::line_in`] and [`Generator::line_with`]
//! always plant PHI; [`Generator::clean_line`] never does;
//! [`Generator::mixed_line`] and [`corpus`] mix them as services print them
//! ([`PHI_LINE_PERCENT`] % with PHI).
//!
//! # What a line is
//!
//! A [`Line`] is one physical log line (never a `\n` inside; an HL7 message may
//! carry raw `\r` bytes, as integration engines print them) in one
//! [`Encoding`]: the way its PHI is written (Spring Boot text, ECS JSON, a JSON
//! document serialized into a string value, logfmt, key=value, access logs,
//! URL queries and paths, HL7 v2, FHIR, HTTP headers). With it come:
//!
//! - `planted`: every PHI value in the line, each once, as a person would
//!   write it, before any encoding. The text holds it in one of the forms
//!   [`encoded_forms`] lists: JSON-escaped (in six serializers' styles, and
//!   again inside a serialized document, up to three layers), percent-encoded
//!   (`+` or `%20` for spaces), HL7 name components (`ROE^JANE`), `Roe, Jane`,
//!   a birth date as `19750308` or `03/08/1975`, upper case. A name written as separate
//!   fields (`"family":"Roe","given":["Jane"]`) is planted as one value per
//!   part. City and state names appear unplanted beside planted addresses;
//!   nothing else PHI-shaped does.
//! - `canaries`: operational values the redactor must leave intact (trace and
//!   span ids, UUIDs, timestamps, epoch milliseconds, durations, order numbers,
//!   versions, pod names, status codes, ports, server addresses, clinician
//!   NPIs), each exactly as written in the text and each in a position of its
//!   own, outside every planted value.
//!
//! [`Line::surviving`] and [`Line::missing_canaries`] are the two checks a
//! redaction test makes on its output.
//!
//! A line from [`Generator::clean_line`] has no PHI at all: a redactor must
//! return it byte for byte (no client addresses, no names, no dates of birth,
//! no `patient` objects; no keys that the shipped field rules name unless
//! allow-listed).
//!
//! # The values are fake
//!
//! Names come from two lists of realistic but fictional names ([`FIRST_NAMES`],
//! [`LAST_NAMES`]); phone and fax numbers are in the `555-0100`–`555-0199`
//! range reserved for fiction; e-mail domains are `example.org/.com/.net`;
//! client addresses are in the documentation ranges (192.0.2.0/24,
//! 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32). Identifiers are random but
//! structurally valid, because the engine validates structure: SSNs follow the
//! SSA rule (area 001–665 or 667–899, group not 00, serial not 0000), card
//! numbers pass Luhn behind real IIN prefixes, MBIs follow the CMS layout, VINs
//! carry a correct check digit, NPIs (canaries) pass the NPI Luhn check.
//!
//! # Which encoding carries which kind
//!
//! [`supports`] is the table. Every kind can be planted in the free-form and
//! field encodings (`SpringText`, `Json`, `JsonInString`, `Logfmt`,
//! `KeyValue`) and in URLs (`AccessLog`, `UrlQuery`, `UrlPath`). The
//! structured ones have no natural place for some kinds:
//!
//! | encoding | not supported | why |
//! | --- | --- | --- |
//! | `Hl7` | `CardNumber`, `Vin`, `ClientIp` | no ADT/ORU field carries them |
//! | `Fhir` | `CardNumber`, `Vin` | no Patient, Coverage, Encounter, Device or AuditEvent element does |
//! | `HttpHeader` | `Fax`, `AdmissionDate`, `CardNumber`, `LicenseNumber`, `Vin`, `StreetAddress`, `Zip` | services do not send them as headers |
//!
//! Structured encodings plant companions a real message always has: an HL7
//! PID carries an MRN, a name and a birth date; a FHIR Patient a name; an
//! nginx access line the client's address. They are planted like the rest.
//!
//! # Determinism
//!
//! Everything comes from one seeded SplitMix64 (`fake.rs`) rather than
//! `rand`'s `StdRng`, whose output `rand` does not promise to keep across
//! versions: a seed names the same lines for as long as this folder is
//! unchanged, so benchmarks can state the counts they expect. The clock
//! starts on 2024-05-06 and moves forward a few milliseconds per line.
//!
//! # Layout
//!
//! This file holds the public types, the [`Generator`] and the corpus;
//! `forms.rs` the encoded forms, decoded views and the JSON writer;
//! `fake.rs` the random source, the fake values and their validators;
//! `scene.rs` one line being written (services, canaries, planting); and one
//! file per family of encodings renders lines (`text.rs`: Spring Boot text,
//! logfmt, key=value; `json.rs`; `url.rs`: access logs and URLs; `hl7.rs`;
//! `fhir.rs`; `headers.rs`).

// Each test binary and bench uses its own part of this module.
#![allow(dead_code)]

mod fake;
mod fhir;
mod forms;
mod headers;
mod hl7;
mod json;
mod scene;
mod text;
mod url;

use std::ops::Range;

// Each test binary and bench uses its own part of the API.
#[allow(unused_imports)]
pub use fake::{luhn_valid, mbi_valid, npi_valid, ssn_valid, vin_valid};
#[allow(unused_imports)]
pub use forms::{decoded_views, encoded_forms, json_escaped, spellings, JsonStyle};

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use fake::*;
use forms::*;
use scene::*;

// ---------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------

/// A kind of protected health information (the HIPAA Safe Harbor identifiers
/// that services actually log).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PhiKind {
    Name,
    Ssn,
    Phone,
    Fax,
    Email,
    BirthDate,
    AdmissionDate,
    Mrn,
    MemberId,
    AccountNumber,
    CardNumber,
    Mbi,
    LicenseNumber,
    DeviceSerial,
    Vin,
    StreetAddress,
    Zip,
    ClientIp,
}

impl PhiKind {
    pub const ALL: [PhiKind; 18] = [
        PhiKind::Name,
        PhiKind::Ssn,
        PhiKind::Phone,
        PhiKind::Fax,
        PhiKind::Email,
        PhiKind::BirthDate,
        PhiKind::AdmissionDate,
        PhiKind::Mrn,
        PhiKind::MemberId,
        PhiKind::AccountNumber,
        PhiKind::CardNumber,
        PhiKind::Mbi,
        PhiKind::LicenseNumber,
        PhiKind::DeviceSerial,
        PhiKind::Vin,
        PhiKind::StreetAddress,
        PhiKind::Zip,
        PhiKind::ClientIp,
    ];
}

/// How a line is written, and so how the PHI inside it is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Encoding {
    /// Spring Boot's console pattern: PHI in free text and `key=value` bits.
    SpringText,
    /// Logstash/ECS JSON lines: PHI in nested objects and in `message`.
    Json,
    /// A JSON line with a JSON document serialized into a string value
    /// (`"payload":"{\"ssn\":…}"`), sometimes twice over.
    JsonInString,
    /// logfmt (`time=… level=info msg="…" patient_name="Jane Roe"`).
    Logfmt,
    /// `key=value` pairs inside a text message: Python logging, Lombok
    /// `toString()`, audit lines; quoted or not.
    KeyValue,
    /// ingress-nginx and Envoy access logs: PHI in the path, the query, the
    /// client address.
    AccessLog,
    /// An outgoing or incoming URL whose query string carries PHI.
    UrlQuery,
    /// A URL whose path carries PHI (`/patients/123-45-6789/records`).
    UrlPath,
    /// HL7 v2 messages as integration engines log them: segments separated by
    /// a raw `\r`, by `\r` written out, or by `\\r` inside JSON.
    Hl7,
    /// FHIR R4 resources (Patient, Coverage, Encounter, Device, AuditEvent,
    /// Bundle) logged as JSON, raw or in a string.
    Fhir,
    /// HTTP header values (`X-Patient-Id: MRN-0048213`, cookies).
    HttpHeader,
}

impl Encoding {
    pub const ALL: [Encoding; 11] = [
        Encoding::SpringText,
        Encoding::Json,
        Encoding::JsonInString,
        Encoding::Logfmt,
        Encoding::KeyValue,
        Encoding::AccessLog,
        Encoding::UrlQuery,
        Encoding::UrlPath,
        Encoding::Hl7,
        Encoding::Fhir,
        Encoding::HttpHeader,
    ];
}

/// One PHI value planted in a line.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Planted {
    pub kind: PhiKind,
    /// The value as a person would write it, before any encoding.
    pub value: String,
}

/// One generated log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// The line, without its trailing newline.
    pub text: String,
    pub encoding: Encoding,
    /// Every PHI value in `text`, each once; empty for a clean line.
    pub planted: Vec<Planted>,
    /// Values that must survive redaction, exactly as they appear in `text`.
    pub canaries: Vec<String>,
}

impl Line {
    /// Whether the line carries no PHI.
    pub fn is_clean(&self) -> bool {
        self.planted.is_empty()
    }

    /// The planted values that still occur in `output` (a redactor's version
    /// of this line), in any encoded form and behind any layer of escaping
    /// that [`decoded_views`] undoes. An occurrence counts only as a whole
    /// token: not glued to letters or digits on a side where the form itself
    /// starts or ends with one. For a name, each part of two or more letters
    /// (`Jane`, `ROE`) counts on its own too.
    pub fn surviving<'a>(&'a self, output: &str) -> Vec<&'a Planted> {
        let views = decoded_views(output);
        self.planted
            .iter()
            .filter(|planted| {
                leak_forms(planted)
                    .iter()
                    .any(|form| views.iter().any(|view| find_bounded(view, form).is_some()))
            })
            .collect()
    }

    /// The canaries that `output` lost: fewer occurrences than the line has
    /// outside its planted values (a status `200` inside a redacted phone
    /// number is not owed).
    pub fn missing_canaries<'a>(&'a self, output: &str) -> Vec<&'a str> {
        // Whole tokens only: a canary is written in a position of its own, and
        // the same digits inside some other value (`200` in `V81042001`) are
        // not it.
        let owed = self.ideally_redacted();
        self.canaries
            .iter()
            .filter(|c| forms::count_bounded(output, c) < forms::count_bounded(&owed, c))
            .map(String::as_str)
            .collect()
    }

    /// Where planted values occur in `text` as written (byte ranges, with the
    /// index into `planted`), in order: what a perfect redactor replaces.
    pub fn planted_spans(&self) -> Vec<(usize, Range<usize>)> {
        let mut spans = Vec::new();
        for (index, planted) in self.planted.iter().enumerate() {
            for form in encoded_forms(&planted.value) {
                let mut from = 0;
                while let Some(at) = find_bounded(&self.text[from..], &form) {
                    let start = from + at;
                    spans.push((index, start..start + form.len()));
                    from = start + form.len();
                }
            }
        }
        spans.sort_by_key(|(i, r)| (r.start, std::cmp::Reverse(r.end), *i));
        spans
    }

    /// The line with every planted span replaced by `[REDACTED]`: what a
    /// perfect redactor could write.
    pub fn ideally_redacted(&self) -> String {
        let mut out = String::with_capacity(self.text.len());
        let mut at = 0;
        for (_, span) in self.planted_spans() {
            if span.start < at {
                at = at.max(span.end);
                continue;
            }
            out.push_str(&self.text[at..span.start]);
            out.push_str("[REDACTED]");
            at = span.end;
        }
        out.push_str(&self.text[at..]);
        out
    }
}

/// Whether the generator can plant `kind` in `encoding` (see the module docs).
pub fn supports(encoding: Encoding, kind: PhiKind) -> bool {
    use PhiKind::*;
    match encoding {
        Encoding::Hl7 => !matches!(kind, CardNumber | Vin | ClientIp),
        Encoding::Fhir => !matches!(kind, CardNumber | Vin),
        Encoding::HttpHeader => !matches!(
            kind,
            Fax | AdmissionDate | CardNumber | LicenseNumber | Vin | StreetAddress | Zip
        ),
        _ => true,
    }
}

/// Fictional first names (a few with diacritics, to exercise escaping).
pub const FIRST_NAMES: &[&str] = &[
    "Jane",
    "John",
    "Maria",
    "Wei",
    "Aisha",
    "Carlos",
    "Priya",
    "Dmitri",
    "Fatima",
    "Kenji",
    "Amara",
    "Mateo",
    "Ingrid",
    "Tobias",
    "Leilani",
    "Rashid",
    "Oluwaseun",
    "Marguerite",
    "Declan",
    "Zoë",
    "José",
    "Renée",
    "Thandiwe",
    "Anneliese",
    "Bartholomew",
    "Henrietta",
    "Ezekiel",
    "Rosalind",
    "Cornelius",
    "Imogen",
];

/// Fictional family names (with hyphens, an apostrophe and diacritics).
pub const LAST_NAMES: &[&str] = &[
    "Roe",
    "Doe",
    "Quillfeather",
    "Marchbank",
    "Thistlewood",
    "Brightwater",
    "Kettleby",
    "Hollowell",
    "Merriweather",
    "Stonebridge",
    "Wrenfield",
    "Ashdown-Pryce",
    "O'Brennan",
    "Fairbairn",
    "Pennywhistle",
    "Larkworthy",
    "Ravensworth",
    "Oakhaven",
    "Silverthorn",
    "Castellano-Ruiz",
    "Nakamura-Byrne",
    "Okonkwo-Hale",
    "Vandermolen",
    "Lindqvist-Marsh",
    "Featherstone",
    "Gildersleeve",
    "Pettigrew",
    "Quartermaine",
    "Bellweather",
    "Ibáñez-Quill",
];

// ---------------------------------------------------------------------------
// The generator
// ---------------------------------------------------------------------------

/// Share of lines that carry PHI in [`Generator::mixed_line`] and [`corpus`]:
/// most of what services print is operational.
pub const PHI_LINE_PERCENT: u64 = 24;

/// Encodings of lines with PHI, weighted as a hospital platform's services
/// print them.
const PHI_MIX: &[(Encoding, u32)] = &[
    (Encoding::SpringText, 24),
    (Encoding::Json, 22),
    (Encoding::JsonInString, 8),
    (Encoding::Logfmt, 9),
    (Encoding::KeyValue, 7),
    (Encoding::AccessLog, 12),
    (Encoding::UrlQuery, 5),
    (Encoding::UrlPath, 5),
    (Encoding::Hl7, 3),
    (Encoding::Fhir, 3),
    (Encoding::HttpHeader, 2),
];

/// Encodings of clean lines: more access logs and operational JSON.
const CLEAN_MIX: &[(Encoding, u32)] = &[
    (Encoding::SpringText, 26),
    (Encoding::Json, 24),
    (Encoding::JsonInString, 4),
    (Encoding::Logfmt, 12),
    (Encoding::KeyValue, 6),
    (Encoding::AccessLog, 18),
    (Encoding::UrlQuery, 2),
    (Encoding::UrlPath, 3),
    (Encoding::Hl7, 1),
    (Encoding::Fhir, 1),
    (Encoding::HttpHeader, 3),
];

/// How often each kind is logged, relative to the others.
const KIND_WEIGHTS: &[(PhiKind, u32)] = &[
    (PhiKind::Name, 10),
    (PhiKind::Mrn, 9),
    (PhiKind::BirthDate, 8),
    (PhiKind::Phone, 6),
    (PhiKind::Email, 6),
    (PhiKind::ClientIp, 5),
    (PhiKind::Ssn, 4),
    (PhiKind::MemberId, 4),
    (PhiKind::AccountNumber, 3),
    (PhiKind::AdmissionDate, 3),
    (PhiKind::StreetAddress, 3),
    (PhiKind::Zip, 3),
    (PhiKind::Mbi, 2),
    (PhiKind::Fax, 1),
    (PhiKind::CardNumber, 1),
    (PhiKind::LicenseNumber, 1),
    (PhiKind::DeviceSerial, 1),
    (PhiKind::Vin, 1),
];

/// 2024-05-06T00:00:00Z.
const CLOCK_START_MS: i64 = 1_714_953_600_000;

/// Generates lines; the same seed gives the same lines.
#[derive(Clone, Debug)]
pub struct Generator {
    rng: Rng,
    clock_ms: i64,
    deployments: Vec<Deployment>,
}

#[derive(Clone, Debug)]
struct Deployment {
    version: String,
    pods: Vec<(String, String)>,
}

impl Generator {
    pub fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let deployments = SERVICES
            .iter()
            .map(|_| {
                let version = format!("{}.{}.{}", rng.between(1, 4), rng.below(21), rng.below(16));
                let hash_len = 9 + rng.below(2) as usize;
                let replica_set = rng.chars(POD_ALPHABET, hash_len);
                let mut pods = Vec::new();
                for _ in 0..2 {
                    let suffix = rng.chars(POD_ALPHABET, 5);
                    let ip = format!("10.42.{}.{}", rng.below(8), rng.between(2, 254));
                    pods.push((format!("{replica_set}-{suffix}"), ip));
                }
                Deployment { version, pods }
            })
            .collect();
        let clock_ms = CLOCK_START_MS + rng.below(12 * 3_600_000) as i64;
        Generator {
            rng,
            clock_ms,
            deployments,
        }
    }

    /// A line with PHI (one to four kinds, plus companions) in a random
    /// encoding, weighted as services print them.
    pub fn line(&mut self) -> Line {
        let encoding = self.rng.weighted(PHI_MIX);
        self.line_in(encoding)
    }

    /// A line with PHI in `encoding`, kinds chosen as services log them.
    pub fn line_in(&mut self, encoding: Encoding) -> Line {
        let first = loop {
            let kind = self.rng.weighted(KIND_WEIGHTS);
            if supports(encoding, kind) {
                break kind;
            }
        };
        let kinds = self.more_kinds(encoding, first);
        self.render(encoding, &kinds)
    }

    /// A line in `encoding` that plants `kind` (and maybe others).
    ///
    /// # Panics
    ///
    /// If the combination is not [`supports`]ed; see [`Generator::try_line_with`].
    pub fn line_with(&mut self, encoding: Encoding, kind: PhiKind) -> Line {
        self.try_line_with(encoding, kind)
            .unwrap_or_else(|| panic!("{kind:?} cannot be planted in {encoding:?}"))
    }

    /// [`Generator::line_with`], or `None` for a combination that makes no sense.
    pub fn try_line_with(&mut self, encoding: Encoding, kind: PhiKind) -> Option<Line> {
        if !supports(encoding, kind) {
            return None;
        }
        let kinds = self.more_kinds(encoding, kind);
        Some(self.render(encoding, &kinds))
    }

    /// A line without PHI, only canaries, in a random encoding.
    pub fn clean_line(&mut self) -> Line {
        let encoding = self.rng.weighted(CLEAN_MIX);
        self.clean_line_in(encoding)
    }

    /// A line without PHI in `encoding` (an HL7 ACK, a FHIR OperationOutcome…).
    pub fn clean_line_in(&mut self, encoding: Encoding) -> Line {
        let service = self.service_for(encoding);
        let ops = self.ops(service);
        let mut scene = Scene::new(&mut self.rng, ops, None);
        let text = scene.clean(encoding);
        scene.finish(text, encoding)
    }

    /// What services print: [`PHI_LINE_PERCENT`] % lines with PHI, the rest
    /// clean. [`corpus`] is made of these.
    pub fn mixed_line(&mut self) -> Line {
        if self.rng.chance(PHI_LINE_PERCENT) {
            self.line()
        } else {
            self.clean_line()
        }
    }

    /// One fake value of `kind`, in its most common written form.
    pub fn fake(&mut self, kind: PhiKind) -> String {
        let now = self.clock_ms;
        let p = Patient::new(&mut self.rng, now);
        match kind {
            PhiKind::Name => p.full_name(),
            PhiKind::Ssn => p.ssn.clone(),
            PhiKind::Phone => p.phone.format(PhoneStyle::Dashed),
            PhiKind::Fax => p.fax.format(PhoneStyle::Dashed),
            PhiKind::Email => p.email.clone(),
            PhiKind::BirthDate => iso(p.dob),
            PhiKind::AdmissionDate => iso(p.admitted),
            PhiKind::Mrn => format!("MRN-{}", p.mrn),
            PhiKind::MemberId => p.member_id.clone(),
            PhiKind::AccountNumber => p.account.clone(),
            PhiKind::CardNumber => p.card.clone(),
            PhiKind::Mbi => p.mbi.clone(),
            PhiKind::LicenseNumber => p.license.clone(),
            PhiKind::DeviceSerial => p.device_serial.clone(),
            PhiKind::Vin => p.vin.clone(),
            PhiKind::StreetAddress => p.street.clone(),
            PhiKind::Zip => p.zip.clone(),
            PhiKind::ClientIp => p.client_ip.clone(),
        }
    }

    /// `first` and zero to three more kinds that `encoding` supports.
    fn more_kinds(&mut self, encoding: Encoding, first: PhiKind) -> Vec<PhiKind> {
        let extra = self.rng.weighted(&[(0usize, 40), (1, 33), (2, 20), (3, 7)]);
        let mut kinds = vec![first];
        let mut tries = 0;
        while kinds.len() < 1 + extra && tries < 50 {
            tries += 1;
            let kind = self.rng.weighted(KIND_WEIGHTS);
            if supports(encoding, kind) && !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        kinds
    }

    fn render(&mut self, encoding: Encoding, kinds: &[PhiKind]) -> Line {
        let service = self.service_for(encoding);
        let ops = self.ops(service);
        let patient = Patient::new(&mut self.rng, ops.ms);
        let mut scene = Scene::new(&mut self.rng, ops, Some(patient));
        let text = scene.phi(encoding, kinds);
        let line = scene.finish(text, encoding);
        debug_assert!(
            kinds
                .iter()
                .all(|k| line.planted.iter().any(|p| p.kind == *k)),
            "{encoding:?} did not plant all of {kinds:?}: {line:?}"
        );
        line
    }

    fn service_for(&mut self, encoding: Encoding) -> usize {
        let choices: &[usize] = match encoding {
            Encoding::Hl7 => &[HL7_INTERFACE],
            Encoding::Fhir => &[FHIR_GATEWAY],
            Encoding::Logfmt => &[DEVICE_GATEWAY, NOTIFICATION, PORTAL_BFF],
            Encoding::KeyValue => &[BILLING, CLAIMS, PATIENT_REGISTRY, LAB_RESULTS],
            Encoding::AccessLog | Encoding::HttpHeader => &[PORTAL_BFF, EHR_GATEWAY],
            _ => &[
                APPOINTMENTS,
                PATIENT_REGISTRY,
                CLAIMS,
                NOTIFICATION,
                BILLING,
                LAB_RESULTS,
                PHARMACY,
                EHR_GATEWAY,
            ],
        };
        self.rng.pick(choices)
    }

    fn ops(&mut self, service: usize) -> Ops {
        self.clock_ms += 1 + self.rng.below(250) as i64;
        let rng = &mut self.rng;
        let deployment = &self.deployments[service];
        let (pod, ip) = deployment.pods[rng.below(deployment.pods.len() as u64) as usize].clone();
        let spec = &SERVICES[service];
        let dur_ms = match rng.below(10) {
            0..=6 => rng.between(1, 250),
            7 | 8 => rng.between(250, 2_000),
            _ => rng.between(2_000, 9_000),
        };
        Ops {
            ms: self.clock_ms,
            service: spec,
            version: deployment.version.clone(),
            pod: format!("{}-{pod}", spec.name),
            server_ip: ip,
            trace: rng.hex(32),
            span: rng.hex(16),
            request_id: uuid(rng),
            npi: fake_npi(rng),
            order: format!("ORD-2024-{:06}", rng.below(1_000_000)),
            status: rng.weighted(&[
                (200u16, 70),
                (201, 8),
                (204, 5),
                (304, 3),
                (400, 3),
                (404, 5),
                (409, 2),
                (500, 2),
                (503, 2),
            ]),
            dur_ms,
            thread: rng.between(1, 10),
        }
    }
}

// ---------------------------------------------------------------------------
// Corpus for benchmarks
// ---------------------------------------------------------------------------

/// What a corpus holds: what a benchmark states and checks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CorpusStats {
    pub lines: usize,
    /// Bytes, newlines included.
    pub bytes: usize,
    pub clean_lines: usize,
    pub phi_lines: usize,
    /// Planted values (a value written twice in one line counts once).
    pub planted: usize,
    /// Places where planted values are written (see [`Line::planted_spans`]).
    pub planted_spans: usize,
    pub canaries: usize,
    /// For every kind, in [`PhiKind::ALL`] order.
    pub planted_by_kind: Vec<(PhiKind, usize)>,
    /// For every encoding, in [`Encoding::ALL`] order.
    pub lines_by_encoding: Vec<(Encoding, usize)>,
}

impl CorpusStats {
    /// What `lines` hold.
    pub fn of(lines: &[Line]) -> CorpusStats {
        let mut stats = CorpusStats::empty();
        for line in lines {
            stats.add(line);
        }
        stats
    }

    fn empty() -> CorpusStats {
        CorpusStats {
            planted_by_kind: PhiKind::ALL.iter().map(|k| (*k, 0)).collect(),
            lines_by_encoding: Encoding::ALL.iter().map(|e| (*e, 0)).collect(),
            ..CorpusStats::default()
        }
    }

    /// Counts one more line (written with its newline).
    pub fn add(&mut self, line: &Line) {
        self.lines += 1;
        self.bytes += line.text.len() + 1;
        if line.is_clean() {
            self.clean_lines += 1;
        } else {
            self.phi_lines += 1;
            self.planted_spans += line.planted_spans().len();
        }
        self.planted += line.planted.len();
        self.canaries += line.canaries.len();
        for planted in &line.planted {
            self.planted_by_kind[planted.kind as usize].1 += 1;
        }
        let at = Encoding::ALL
            .iter()
            .position(|e| *e == line.encoding)
            .expect("every encoding is listed");
        self.lines_by_encoding[at].1 += 1;
    }
}

/// Hands [`Generator::mixed_line`]s of `seed` to `each` until their lines and
/// newlines make at least `bytes`.
fn corpus_each(seed: u64, bytes: usize, mut each: impl FnMut(Line)) {
    let mut generator = Generator::new(seed);
    let mut size = 0;
    while size < bytes {
        let line = generator.mixed_line();
        size += line.text.len() + 1;
        each(line);
    }
}

/// The lines of [`corpus`]`(seed, bytes)`.
pub fn corpus_lines(seed: u64, bytes: usize) -> Vec<Line> {
    let mut lines = Vec::new();
    corpus_each(seed, bytes, |line| lines.push(line));
    lines
}

/// A newline-separated corpus of about `bytes` bytes (at least `bytes`, at
/// most one line more) in which ~76 % of lines are clean, as services print
/// them, for throughput benchmarks. About 80 MB/s to generate (optimized).
pub fn corpus(seed: u64, bytes: usize) -> String {
    let mut text = String::with_capacity(bytes + 16 * 1024);
    corpus_each(seed, bytes, |line| {
        text.push_str(&line.text);
        text.push('\n');
    });
    text
}

/// [`corpus`] and what it holds (counting planted spans makes this slower).
pub fn corpus_with_stats(seed: u64, bytes: usize) -> (String, CorpusStats) {
    let mut text = String::with_capacity(bytes + 16 * 1024);
    let mut stats = CorpusStats::empty();
    corpus_each(seed, bytes, |line| {
        text.push_str(&line.text);
        text.push('\n');
        stats.add(&line);
    });
    (text, stats)
}

/// What [`corpus`]`(seed, bytes)` holds, without keeping its text.
pub fn corpus_stats(seed: u64, bytes: usize) -> CorpusStats {
    let mut stats = CorpusStats::empty();
    corpus_each(seed, bytes, |line| stats.add(&line));
    stats
}
