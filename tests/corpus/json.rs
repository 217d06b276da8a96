//! JSON lines (logstash-logback and ECS) and JSON documents serialized into
//! their string values.

use super::text::{headline, sentence};
use super::*;

impl Scene<'_> {
    // ---- JSON lines ----

    fn json_style(&mut self) -> JsonStyle {
        self.rng.weighted(&[
            (JsonStyle::Min, 62),
            (JsonStyle::Gson, 12),
            (JsonStyle::Ascii, 8),
            (JsonStyle::DotNet, 6),
            (JsonStyle::Php, 4),
            (JsonStyle::AtEscaped, 8),
        ])
    }

    /// The operational fields of a logstash-logback or ECS line.
    pub(super) fn json_head(&mut self, ecs: bool, message: String) -> Vec<(String, J)> {
        let level = self.level();
        let svc = self.ops.service;
        let mut head: Vec<(&str, J)> = Vec::new();
        if ecs {
            head.push(("@timestamp", js(self.ts())));
            head.push(("log.level", js(level)));
            head.push(("message", js(message)));
            head.push(("ecs.version", js("1.2.0")));
            head.push(("service.name", js(svc.name)));
            head.push(("service.version", js(self.version())));
            head.push(("event.dataset", js(format!("{}.log", svc.name))));
            head.push(("process.thread.name", js(format!("http-{}", self.thread()))));
            head.push(("log.logger", js(svc.class)));
            head.push(("trace.id", js(self.trace())));
            head.push(("span.id", js(self.span())));
            head.push(("kubernetes.pod.name", js(self.pod())));
            if self.rng.chance(60) {
                head.push(("server.address", js(self.server_ip())));
                head.push(("server.port", J::Raw(self.port())));
                head.push(("http.response.status_code", J::Raw(self.status())));
                head.push((
                    "event.duration",
                    J::Raw((self.ops.dur_ms * 1_000_000).to_string()),
                ));
            }
            if self.rng.chance(30) {
                head.push(("provider_npi", js(self.npi())));
            }
            if self.rng.chance(30) {
                head.push(("labels", jo(vec![("order_id", js(self.order()))])));
            }
        } else {
            head.push(("@timestamp", js(self.ts())));
            head.push(("@version", js("1")));
            head.push(("message", js(message)));
            head.push(("logger_name", js(svc.class)));
            head.push(("thread_name", js(format!("http-{}", self.thread()))));
            head.push(("level", js(level)));
            head.push(("level_value", J::Raw("20000".into())));
            head.push(("traceId", js(self.trace())));
            head.push(("spanId", js(self.span())));
            head.push(("pod", js(self.pod())));
            head.push((
                "app",
                jo(vec![
                    ("name", js(svc.name)),
                    ("version", js(self.version())),
                ]),
            ));
            if self.rng.chance(40) {
                head.push(("durationMs", J::Raw(self.ops.dur_ms.to_string())));
                head.push(("status", J::Raw(self.status())));
            }
            if self.rng.chance(25) {
                head.push(("provider_npi", js(self.npi())));
            }
            if self.rng.chance(25) {
                head.push(("orderId", js(self.order())));
            }
            if self.rng.chance(15) {
                head.push(("epochMillis", J::Raw(self.epoch())));
            }
        }
        head.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    /// The PHI of `kinds` as JSON fields: a `patient` object (or `member`,
    /// `subject`), `coverage`, `encounter`, `payment`, `vehicle`, `device`
    /// and the client's address.
    fn json_phi(&mut self, kinds: &[PhiKind], camel: bool, ecs: bool) -> Vec<(String, J)> {
        let key = |snake: &str| {
            if camel {
                camel_case(snake)
            } else {
                snake.to_owned()
            }
        };
        let mut patient: Vec<(String, J)> = Vec::new();
        let mut address: Vec<(String, J)> = Vec::new();
        let mut coverage: Vec<(String, J)> = Vec::new();
        let mut top: Vec<(String, J)> = Vec::new();
        for &kind in kinds {
            match kind {
                PhiKind::Name => {
                    if self.rng.chance(30) {
                        patient.push((key("first_name"), js(self.given())));
                        patient.push((key("last_name"), js(self.family())));
                    } else {
                        let k = self.rng.pick(&["name", "full_name", "patient_name"]);
                        patient.push((key(k), js(self.value(kind, Flavor::Field))));
                    }
                }
                PhiKind::BirthDate => {
                    let k = self.rng.pick(&["dob", "birth_date", "date_of_birth"]);
                    patient.push((key(k), js(self.value(kind, Flavor::Field))));
                }
                PhiKind::Ssn => {
                    let k = self.rng.pick(&["ssn", "ssn", "social_security_number"]);
                    patient.push((key(k), js(self.value(kind, Flavor::Field))));
                }
                PhiKind::Mrn => {
                    let k = self.rng.pick(&["mrn", "mrn", "medical_record_number"]);
                    patient.push((key(k), js(self.value(kind, Flavor::Field))));
                }
                PhiKind::Phone => {
                    let k = self.rng.pick(&["phone", "phone_number", "mobile"]);
                    patient.push((key(k), js(self.value(kind, Flavor::Field))));
                }
                PhiKind::Fax => {
                    let k = self.rng.pick(&["fax", "fax_number"]);
                    patient.push((key(k), js(self.value(kind, Flavor::Field))));
                }
                PhiKind::Email => {
                    let k = self.rng.pick(&["email", "email_address"]);
                    patient.push((key(k), js(self.value(kind, Flavor::Field))));
                }
                PhiKind::LicenseNumber => {
                    patient.push((key("drivers_license"), js(self.value(kind, Flavor::Field))));
                }
                PhiKind::StreetAddress => {
                    address.insert(0, (key("line1"), js(self.value(kind, Flavor::Field))));
                }
                PhiKind::Zip => {
                    let k = self.rng.pick(&["zip", "postal_code"]);
                    address.push((key(k), js(self.value(kind, Flavor::Field))));
                }
                PhiKind::MemberId => {
                    coverage.push((key("member_id"), js(self.value(kind, Flavor::Field))));
                }
                PhiKind::Mbi => {
                    coverage.push((key("mbi"), js(self.value(kind, Flavor::Field))));
                }
                PhiKind::AccountNumber => top.push((
                    "billing".into(),
                    J::O(vec![
                        (key("account_number"), js(self.value(kind, Flavor::Field))),
                        (
                            key("balance_due"),
                            J::Raw(format!(
                                "{}.{:02}",
                                self.rng.below(900),
                                self.rng.below(100)
                            )),
                        ),
                    ]),
                )),
                PhiKind::AdmissionDate => top.push((
                    "encounter".into(),
                    J::O(vec![
                        (key("admit_date"), js(self.value(kind, Flavor::Field))),
                        ("ward".into(), js(self.rng.pick(WARDS))),
                    ]),
                )),
                PhiKind::CardNumber => top.push((
                    "payment".into(),
                    J::O(vec![
                        (key("card_number"), js(self.value(kind, Flavor::Field))),
                        (
                            "amount".into(),
                            J::Raw(format!(
                                "{}.{:02}",
                                self.rng.between(5, 400),
                                self.rng.below(100)
                            )),
                        ),
                    ]),
                )),
                PhiKind::Vin => top.push((
                    "vehicle".into(),
                    J::O(vec![
                        ("vin".into(), js(self.value(kind, Flavor::Field))),
                        (key("claim_type"), js("auto-injury")),
                    ]),
                )),
                PhiKind::DeviceSerial => {
                    let device_kind = self.p().device_kind;
                    top.push((
                        "device".into(),
                        J::O(vec![
                            (key("serial_number"), js(self.value(kind, Flavor::Field))),
                            ("type".into(), js(device_kind)),
                        ]),
                    ))
                }
                PhiKind::ClientIp => {
                    let k = if ecs {
                        self.rng.pick(&["client.ip", "source.ip"])
                    } else {
                        self.rng.pick(&["remoteAddr", "client_ip"])
                    };
                    top.push((k.into(), js(self.value(kind, Flavor::Field))));
                }
            }
        }
        if !address.is_empty() {
            let (city, state) = (self.p().city, self.p().state);
            let at = address.len().min(1);
            address.insert(at, ("city".into(), js(city)));
            address.insert(at + 1, ("state".into(), js(state)));
            patient.push(("address".into(), J::O(address)));
        }
        let mut out = Vec::new();
        if !patient.is_empty() {
            let name = self
                .rng
                .weighted(&[("patient", 70), ("member", 15), ("subject", 15)]);
            out.push((name.to_owned(), J::O(patient)));
        }
        if !coverage.is_empty() {
            coverage.push(("payer".into(), js("Northwind Health")));
            out.push(("coverage".into(), J::O(coverage)));
        }
        out.extend(top);
        out
    }

    pub(super) fn json_line(&mut self, kinds: &[PhiKind]) -> String {
        let ecs = self.rng.chance(50);
        let style = self.json_style();
        let phrase = self.phi_phrase();
        // Sometimes the first value is written into the message as well as,
        // or instead of, a field.
        let (message, fields) = if self.rng.chance(25) {
            let mention = self.mention(kinds[0]);
            (sentence(&phrase, kinds[0], &mention), &kinds[1..])
        } else {
            (headline(&phrase), kinds)
        };
        let camel = !ecs && self.rng.chance(60);
        let mut entries = self.json_head(ecs, message);
        entries.extend(self.json_phi(fields, camel, ecs));
        write_json(&J::O(entries), style)
    }

    pub(super) fn clean_json(&mut self) -> String {
        let ecs = self.rng.chance(50);
        let style = self.json_style();
        let message = self.clean_message();
        let mut entries = self.json_head(ecs, message);
        match self.rng.below(3) {
            0 => entries.push((
                "pool".into(),
                jo(vec![
                    ("total", J::Raw("10".into())),
                    ("active", J::Raw(self.rng.below(10).to_string())),
                    ("waiting", J::Raw("0".into())),
                ]),
            )),
            1 => entries.push((
                "kafka".into(),
                jo(vec![
                    ("topic", js("orders.v1")),
                    ("partition", J::Raw(self.rng.below(12).to_string())),
                    (
                        "offset",
                        J::Raw(self.rng.between(1000, 9_999_999).to_string()),
                    ),
                ]),
            )),
            _ => {}
        }
        write_json(&J::O(entries), style)
    }

    // ---- JSON documents in strings ----

    pub(super) fn json_in_string(&mut self, kinds: &[PhiKind]) -> String {
        let ecs = self.rng.chance(50);
        let inner_style = self.rng.weighted(&[
            (JsonStyle::Min, 60),
            (JsonStyle::AtEscaped, 20),
            (JsonStyle::Gson, 10),
            (JsonStyle::Ascii, 10),
        ]);
        let outer_style = self.rng.weighted(&[
            (JsonStyle::Min, 80),
            (JsonStyle::Gson, 10),
            (JsonStyle::AtEscaped, 10),
        ]);
        let event = self.rng.pick(&[
            "PatientUpdated",
            "AppointmentBooked",
            "ClaimSubmitted",
            "ReminderRequested",
            "CoverageVerified",
        ]);
        let mut inner = vec![
            ("eventType".to_owned(), js(event)),
            ("eventId".to_owned(), js(self.request_id())),
            ("occurredAt".to_owned(), js(self.ts())),
            ("source".to_owned(), js(self.ops.service.name)),
        ];
        let phi = self.json_phi(kinds, true, false);
        if self.rng.chance(12) {
            // A document in a string in a string.
            inner.push(("data".into(), js(write_json(&J::O(phi), inner_style))));
        } else {
            inner.push(("data".into(), J::O(phi)));
        }
        let document = write_json(&J::O(inner), inner_style);
        let topic = self
            .rng
            .pick(&["adt.patient.v1", "scheduling.events", "claims.outbox"]);
        if self.rng.chance(25) {
            let head = self.json_head(ecs, format!("Received message from {topic}: {document}"));
            write_json(&J::O(head), outer_style)
        } else {
            let mut head = self.json_head(ecs, format!("Publishing {event} to {topic}"));
            let key = self
                .rng
                .pick(&["payload", "event.original", "body", "kafka.value"]);
            head.push((key.into(), J::S(document)));
            write_json(&J::O(head), outer_style)
        }
    }

    pub(super) fn clean_json_in_string(&mut self) -> String {
        let ecs = self.rng.chance(50);
        let inner = jo(vec![
            ("eventType", js("OrderShipped")),
            ("eventId", js(self.request_id())),
            ("orderId", js(self.order())),
            ("status", js("SHIPPED")),
            ("occurredAt", js(self.ts())),
            ("items", J::Raw(self.rng.between(1, 9).to_string())),
        ]);
        let document = write_json(&inner, JsonStyle::Min);
        let mut head = self.json_head(ecs, "Publishing OrderShipped to pharmacy.orders".into());
        head.push(("payload".into(), J::S(document)));
        write_json(&J::O(head), JsonStyle::Min)
    }
}
