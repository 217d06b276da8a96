//! Free-text encodings: Spring Boot's console lines, logfmt, and `key=value`
//! pairs inside text (Python logging, Lombok `toString()`, audit lines).

use super::*;

impl Scene<'_> {
    // ---- Spring Boot text ----

    /// Spring Boot 3's console pattern (with the correlation ids), or Boot 2's.
    pub(super) fn spring_head(&mut self, level: &str, logger: &str) -> String {
        let thread = self.thread();
        if self.rng.chance(75) {
            let ts = self.ts();
            let trace = self.trace();
            let span = self.span();
            format!(
                "{ts} {level:>5} 1 --- [{}] [{thread:>15}] [{trace}-{span}] {logger:<40} : ",
                self.ops.service.name
            )
        } else {
            let ts = self.canary(spaced_time(self.ops.ms, '.'));
            format!("{ts} {level:>5} 1 --- [{thread:>15}] {logger:<40} : ")
        }
    }

    /// A sentence's start for a line about a patient.
    pub(super) fn phi_phrase(&mut self) -> String {
        match self.rng.below(12) {
            0 => format!(
                "Booked slot {:02}:{:02} in {} for",
                self.rng.between(7, 17),
                self.rng.below(4) * 15,
                self.rng.pick(WARDS)
            ),
            1 => "Registration completed for".into(),
            2 => "Updated demographics for".into(),
            3 => format!("Claim CLM-{} submitted for", self.rng.digits(8)),
            4 => "Reminder queued for".into(),
            5 => "Statement generated for".into(),
            6 => "Lab result released to portal for".into(),
            7 => "Eligibility check passed for".into(),
            8 => "Duplicate patient candidate found:".into(),
            9 => "Consent form signed by".into(),
            10 => format!("Order {} placed for", self.order()),
            _ => "Prior authorization requested for".into(),
        }
    }

    /// `kind` written into a sentence, planted.
    pub(super) fn mention(&mut self, kind: PhiKind) -> String {
        let v = self.value(kind, Flavor::Text);
        let form = self.rng.below(3);
        match kind {
            PhiKind::Name => match form {
                0 => format!("patient {v}"),
                1 => v,
                _ => format!("patient_name=\"{v}\""),
            },
            PhiKind::Ssn => ["ssn=", "SSN ", "ssn: "][form as usize].to_owned() + &v,
            PhiKind::Phone => ["phone=", "callback ", "tel:"][form as usize].to_owned() + &v,
            PhiKind::Fax => ["fax=", "faxed to ", "fax: "][form as usize].to_owned() + &v,
            PhiKind::Email => match form {
                0 => format!("email={v}"),
                1 => format!("<{v}>"),
                _ => format!("email: {v}"),
            },
            PhiKind::BirthDate => ["dob=", "DOB ", "born "][form as usize].to_owned() + &v,
            PhiKind::AdmissionDate => {
                ["admitted ", "admit_date=", "admission date "][form as usize].to_owned() + &v
            }
            PhiKind::Mrn => match form {
                0 => format!("({v})"),
                1 => format!("mrn={v}"),
                _ => format!("MRN: {v}"),
            },
            PhiKind::MemberId => {
                ["member_id=", "member ", "subscriber "][form as usize].to_owned() + &v
            }
            PhiKind::AccountNumber => {
                ["account=", "acct #", "account number "][form as usize].to_owned() + &v
            }
            PhiKind::CardNumber => ["card=", "card number ", "pan="][form as usize].to_owned() + &v,
            PhiKind::Mbi => ["mbi=", "Medicare ID ", "MBI "][form as usize].to_owned() + &v,
            PhiKind::LicenseNumber => {
                ["dl=", "driver license ", "DL# "][form as usize].to_owned() + &v
            }
            PhiKind::DeviceSerial => {
                ["device_serial=", "pump SN ", "serial "][form as usize].to_owned() + &v
            }
            PhiKind::Vin => ["vin=", "vehicle VIN ", "VIN "][form as usize].to_owned() + &v,
            PhiKind::StreetAddress => {
                let (city, state) = (self.p().city, self.p().state);
                match form {
                    0 => format!("address=\"{v}\""),
                    _ => format!("at {v}, {city} {state}"),
                }
            }
            PhiKind::Zip => ["zip=", "ZIP ", "postal code "][form as usize].to_owned() + &v,
            PhiKind::ClientIp => ["from ", "client_ip=", "remote="][form as usize].to_owned() + &v,
        }
    }

    pub(super) fn spring_text(&mut self, kinds: &[PhiKind]) -> String {
        let level = self.level();
        let logger = self.ops.service.logger;
        let head = self.spring_head(level, logger);
        let phrase = self.phi_phrase();
        let sep = if self.rng.chance(50) { " " } else { ", " };
        let ordered = in_speaking_order(kinds);
        let mentions: Vec<String> = ordered.iter().map(|k| self.mention(*k)).collect();
        let tail = self.ops_tail();
        let sentence = sentence(&phrase, ordered[0], &mentions.join(sep));
        format!("{head}{sentence}{tail}")
    }

    pub(super) fn clean_message(&mut self) -> String {
        match self.rng.below(10) {
            0 => {
                let path = self.clean_path();
                format!(
                    "Completed GET {path} with status {} in {}",
                    self.status(),
                    self.duration()
                )
            }
            1 => format!(
                "HikariPool-1 - Pool stats (total=10, active={}, idle={}, waiting=0)",
                self.rng.below(10),
                self.rng.below(10)
            ),
            2 => format!(
                "Order {} released to pharmacy queue in {} npi={}",
                self.order(),
                self.duration(),
                self.npi()
            ),
            3 => format!(
                "Consumed event {} from topic orders.v1 partition {} offset {}",
                self.request_id(),
                self.rng.below(12),
                self.rng.between(1000, 9_999_999)
            ),
            4 => format!(
                "Tomcat started on port {} (http) with context path '/'",
                self.port()
            ),
            5 => format!(
                "Formulary cache refreshed to v{} ({} entries) in {}",
                self.version(),
                self.rng.between(100, 40_000),
                self.duration()
            ),
            6 => format!(
                "Outbound call to {}:{} succeeded in {}",
                self.server_ip(),
                self.port(),
                self.duration()
            ),
            7 => format!(
                "Scheduled job lab-feed-sync finished at {} with {} messages",
                self.epoch(),
                self.rng.below(500)
            ),
            8 => format!(
                "Prescription {} signed by npi={} status={}",
                self.order(),
                self.npi(),
                self.status()
            ),
            _ => format!(
                "Circuit breaker pharmacy-api CLOSED after {} (trace {})",
                self.duration(),
                self.trace()
            ),
        }
    }

    pub(super) fn clean_path(&mut self) -> String {
        match self.rng.below(6) {
            0 => "/actuator/health".into(),
            1 => "/actuator/prometheus".into(),
            2 => format!("/api/v1/orders/{}", self.order()),
            3 => format!("/api/v1/formulary/v{}", self.version()),
            4 => format!("/api/v1/appointments/slots/{}", self.fresh_uuid()),
            _ => "/fhir/metadata".into(),
        }
    }

    pub(super) fn clean_spring(&mut self) -> String {
        let level = self.level();
        let logger = self.ops.service.logger;
        let head = self.spring_head(level, logger);
        let message = self.clean_message();
        format!("{head}{message}")
    }

    // ---- logfmt ----

    /// Quotes a logfmt value when it needs it (slog), or unless it is made of
    /// logrus' safe characters.
    pub(super) fn logfmt_value(value: &str, logrus: bool) -> String {
        let needs = if logrus {
            !value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._/@^+".contains(c))
        } else {
            value.is_empty() || value.contains([' ', '=', '"'])
        };
        if needs {
            let mut out = String::from("\"");
            for c in value.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        } else {
            value.to_owned()
        }
    }

    /// The snake_case key a field of `kind` goes by.
    pub(super) fn field_key(&mut self, kind: PhiKind) -> &'static str {
        let keys: &[&'static str] = match kind {
            PhiKind::Name => &["patient_name", "name", "full_name"],
            PhiKind::Ssn => &["ssn", "social_security_number"],
            PhiKind::Phone => &["phone", "phone_number", "callback_number"],
            PhiKind::Fax => &["fax", "fax_number"],
            PhiKind::Email => &["email", "email_address", "contact_email"],
            PhiKind::BirthDate => &["dob", "birth_date", "date_of_birth"],
            PhiKind::AdmissionDate => &["admit_date", "admission_date"],
            PhiKind::Mrn => &["mrn", "patient_mrn", "medical_record_number"],
            PhiKind::MemberId => &["member_id", "subscriber_id"],
            PhiKind::AccountNumber => &["account_number", "patient_account"],
            PhiKind::CardNumber => &["card_number", "pan"],
            PhiKind::Mbi => &["mbi", "medicare_id"],
            PhiKind::LicenseNumber => &["drivers_license", "dl_number"],
            PhiKind::DeviceSerial => &["device_serial", "serial_number"],
            PhiKind::Vin => &["vin", "vehicle_vin"],
            PhiKind::StreetAddress => &["address", "street"],
            PhiKind::Zip => &["zip", "postal_code"],
            PhiKind::ClientIp => &["client_ip", "remote_addr", "source_ip"],
        };
        self.rng.pick(keys)
    }

    pub(super) fn logfmt(&mut self, kinds: &[PhiKind]) -> String {
        let logrus = self.rng.chance(40);
        let mut parts = Vec::new();
        let ts = self.ts();
        parts.push(format!("time={}", Self::logfmt_value(&ts, logrus)));
        let level = self.level();
        parts.push(format!(
            "level={}",
            if logrus {
                level.to_lowercase()
            } else {
                level.to_owned()
            }
        ));
        let phrase = self.phi_phrase();
        let (msg, fields) = if self.rng.chance(20) {
            let mention = self.mention(kinds[0]);
            (sentence(&phrase, kinds[0], &mention), &kinds[1..])
        } else {
            (headline(&phrase), kinds)
        };
        parts.push(format!("msg={}", Self::logfmt_value(&msg, logrus)));
        parts.push(format!("service={}", self.ops.service.name));
        parts.push(format!("pod={}", self.pod()));
        parts.push(format!("trace_id={}", self.trace()));
        parts.push(format!("span_id={}", self.span()));
        for &kind in fields {
            let key = self.field_key(kind);
            let value = self.value(kind, Flavor::Field);
            parts.push(format!("{key}={}", Self::logfmt_value(&value, logrus)));
        }
        parts.push(format!("duration={}", self.duration()));
        if self.rng.chance(50) {
            parts.push(format!("status={}", self.status()));
        }
        if self.rng.chance(30) {
            parts.push(format!("npi={}", self.npi()));
        }
        parts.join(" ")
    }

    pub(super) fn clean_logfmt(&mut self) -> String {
        let logrus = self.rng.chance(40);
        let ts = self.ts();
        let path = self.clean_path();
        let mut parts = vec![
            format!("time={}", Self::logfmt_value(&ts, logrus)),
            "level=info".to_owned(),
            format!(
                "msg={}",
                Self::logfmt_value(
                    self.rng.pick(&[
                        "request completed",
                        "telemetry batch flushed",
                        "reminder batch sent"
                    ]),
                    logrus
                )
            ),
            format!("service={}", self.ops.service.name),
            format!("pod={}", self.pod()),
            format!("trace_id={}", self.trace()),
            format!("span_id={}", self.span()),
            format!("method=GET path={path}"),
            format!("status={}", self.status()),
            format!("duration={}", self.duration()),
        ];
        if self.rng.chance(40) {
            parts.push(format!("upstream={}:{}", self.server_ip(), self.port()));
        }
        if self.rng.chance(30) {
            parts.push(format!("ts_ms={}", self.epoch()));
        }
        parts.join(" ")
    }

    // ---- key=value in text ----

    pub(super) fn key_value(&mut self, kinds: &[PhiKind]) -> String {
        match self.rng.below(3) {
            0 => {
                // Python logging with OpenTelemetry's format.
                let ts = self.canary(spaced_time(self.ops.ms, ','));
                let level = self.level();
                let (trace, span) = (self.trace(), self.span());
                let quote = self.rng.pick(&["'", "\"", ""]);
                let pairs: Vec<String> = kinds
                    .iter()
                    .map(|&k| {
                        let key = self.field_key(k);
                        let value = self.value(k, Flavor::Field);
                        format!("{key}={quote}{value}{quote}")
                    })
                    .collect();
                let phrase = headline(&self.phi_phrase());
                format!(
                    "{ts} {level} [{}.worker] [worker.py:{}] [trace_id={trace} span_id={span} resource.service.name={} trace_sampled=True] - {phrase}: {}",
                    self.ops.service.name.replace('-', "_"),
                    self.rng.between(20, 400),
                    self.ops.service.name,
                    pairs.join(", ")
                )
            }
            1 => {
                // Lombok's toString() of an entity.
                let ts = self.ts();
                let pod = self.pod();
                let id = self.fresh_uuid();
                let entity = self
                    .rng
                    .pick(&["Patient", "Member", "ClaimSubject", "Registration"]);
                let mut pairs = vec![format!("id={id}")];
                for &k in kinds {
                    let key = camel_case(self.field_key(k));
                    let value = self.value(k, Flavor::Field);
                    pairs.push(format!("{key}={value}"));
                }
                format!(
                    "{ts} INFO [{pod}] {} - Saving {entity}({})",
                    self.ops.service.class,
                    pairs.join(", ")
                )
            }
            _ => {
                // An audit line: `key: value; …`.
                let ts = self.ts();
                let npi = self.npi();
                let mut pairs = vec![
                    format!("action: {}", self.rng.pick(&["READ", "UPDATE", "EXPORT"])),
                    format!("npi: {npi}"),
                ];
                for &k in kinds {
                    let key = self.field_key(k);
                    let value = self.value(k, Flavor::Field);
                    if value.contains(' ') {
                        pairs.push(format!("{key}: \"{value}\""));
                    } else {
                        pairs.push(format!("{key}: {value}"));
                    }
                }
                pairs.push(format!("request_id: {}", self.request_id()));
                format!("{ts} AUDIT {} {}", self.ops.service.name, pairs.join("; "))
            }
        }
    }

    pub(super) fn clean_key_value(&mut self) -> String {
        let ts = self.canary(spaced_time(self.ops.ms, ','));
        let (trace, span) = (self.trace(), self.span());
        format!(
            "{ts} INFO [{}.worker] [worker.py:{}] [trace_id={trace} span_id={span} resource.service.name={} trace_sampled=True] - batch done: order_id='{}', items={}, duration={}, version={}",
            self.ops.service.name.replace('-', "_"),
            self.rng.between(20, 400),
            self.ops.service.name,
            self.order(),
            self.rng.between(1, 500),
            self.duration(),
            self.version()
        )
    }
}

/// `kinds` as a sentence names them: who (name, MRN, birth date), then the rest.
fn in_speaking_order(kinds: &[PhiKind]) -> Vec<PhiKind> {
    let mut ordered = kinds.to_vec();
    ordered.sort_by_key(|k| match k {
        PhiKind::Name => 0,
        PhiKind::Mrn => 1,
        PhiKind::BirthDate => 2,
        _ => 3,
    });
    ordered
}

/// `phrase` and the `mentions` that finish it: `… for patient Jane Roe`, or
/// `… for patient dob=…` when no name comes first.
pub(super) fn sentence(phrase: &str, first: PhiKind, mentions: &str) -> String {
    let dangling = phrase.ends_with(" for") || phrase.ends_with(" by");
    if dangling && first != PhiKind::Name {
        format!("{phrase} patient {mentions}")
    } else {
        format!("{phrase} {mentions}")
    }
}

/// `phrase` as a message of its own: `Consent form signed`.
pub(super) fn headline(phrase: &str) -> String {
    phrase
        .trim_end_matches(':')
        .trim_end_matches(" for")
        .trim_end_matches(" by")
        .to_owned()
}
