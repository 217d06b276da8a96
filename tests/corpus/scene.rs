//! One line being written: the services of the platform and the operational
//! values (canaries) of a line, the patient whose values it plants, and the
//! bookkeeping of what was planted and which canaries were written. The
//! renderers of each encoding are `impl Scene` blocks in their own files.

use super::*;

/// A service of the platform, as its logs name it.
#[derive(Debug)]
pub(super) struct Service {
    pub(super) name: &'static str,
    /// Spring's abbreviated logger (`c.e.a.web.AppointmentController`).
    pub(super) logger: &'static str,
    /// The fully qualified class.
    pub(super) class: &'static str,
    pub(super) port: u16,
}

pub(super) const APPOINTMENTS: usize = 0;
pub(super) const PATIENT_REGISTRY: usize = 1;
pub(super) const CLAIMS: usize = 2;
pub(super) const NOTIFICATION: usize = 3;
pub(super) const BILLING: usize = 4;
pub(super) const LAB_RESULTS: usize = 5;
pub(super) const FHIR_GATEWAY: usize = 6;
pub(super) const HL7_INTERFACE: usize = 7;
pub(super) const PORTAL_BFF: usize = 8;
pub(super) const DEVICE_GATEWAY: usize = 9;
pub(super) const PHARMACY: usize = 10;
pub(super) const EHR_GATEWAY: usize = 11;

pub(super) const SERVICES: &[Service] = &[
    Service {
        name: "appointment-service",
        logger: "c.e.a.web.AppointmentController",
        class: "com.example.appointments.web.AppointmentController",
        port: 8080,
    },
    Service {
        name: "patient-registry",
        logger: "c.e.r.PatientRegistrationService",
        class: "com.example.registry.PatientRegistrationService",
        port: 8080,
    },
    Service {
        name: "claims-service",
        logger: "c.e.c.ClaimSubmissionService",
        class: "com.example.claims.ClaimSubmissionService",
        port: 8081,
    },
    Service {
        name: "notification-service",
        logger: "c.e.n.ReminderSender",
        class: "com.example.notify.ReminderSender",
        port: 8080,
    },
    Service {
        name: "billing-service",
        logger: "c.e.b.StatementService",
        class: "com.example.billing.StatementService",
        port: 8082,
    },
    Service {
        name: "lab-results",
        logger: "c.e.l.ResultReleaseService",
        class: "com.example.lab.ResultReleaseService",
        port: 8080,
    },
    Service {
        name: "fhir-gateway",
        logger: "c.e.f.FhirGatewayController",
        class: "com.example.fhir.FhirGatewayController",
        port: 8443,
    },
    Service {
        name: "hl7-interface",
        logger: "c.e.i.Hl7InboundListener",
        class: "com.example.interfaces.Hl7InboundListener",
        port: 6661,
    },
    Service {
        name: "portal-bff",
        logger: "c.e.p.PortalSessionFilter",
        class: "com.example.portal.PortalSessionFilter",
        port: 8080,
    },
    Service {
        name: "device-gateway",
        logger: "c.e.d.TelemetryIngestService",
        class: "com.example.devices.TelemetryIngestService",
        port: 9090,
    },
    Service {
        name: "pharmacy-service",
        logger: "c.e.rx.PrescriptionService",
        class: "com.example.pharmacy.PrescriptionService",
        port: 8080,
    },
    Service {
        name: "ehr-gateway",
        logger: "c.e.g.EhrProxyController",
        class: "com.example.gateway.EhrProxyController",
        port: 8080,
    },
];

/// The operational values of one line: the canaries it may write.
#[derive(Clone, Debug)]
pub(super) struct Ops {
    pub(super) ms: i64,
    pub(super) service: &'static Service,
    pub(super) version: String,
    pub(super) pod: String,
    pub(super) server_ip: String,
    pub(super) trace: String,
    pub(super) span: String,
    pub(super) request_id: String,
    pub(super) npi: String,
    pub(super) order: String,
    pub(super) status: u16,
    pub(super) dur_ms: u64,
    pub(super) thread: u64,
}

pub(super) fn utc(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).expect("a 2024 timestamp")
}

fn rfc3339(ms: i64) -> String {
    utc(ms).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `2024-05-06 07:08:09` + `sep` + milliseconds (Logback, Python logging).
pub(super) fn spaced_time(ms: i64, sep: char) -> String {
    format!(
        "{}{sep}{:03}",
        utc(ms).format("%Y-%m-%d %H:%M:%S"),
        ms.rem_euclid(1000)
    )
}

pub(super) const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "okhttp/4.12.0",
    "PatientPortal/5.2 (Android 14)",
];

pub(super) const INTERNAL_AGENTS: &[&str] = &[
    "kube-probe/1.29",
    "Prometheus/2.51.0",
    "okhttp/4.12.0",
    "Go-http-client/1.1",
    "Apache-HttpClient/5.3 (Java/21.0.2)",
];

pub(super) const WARDS: &[&str] = &["4B", "ICU-2", "ER", "3A", "PEDS-1", "ONC-5"];

// ---------------------------------------------------------------------------
// One line being written
// ---------------------------------------------------------------------------

/// Where a value is written: picks the forms people use there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Flavor {
    /// In a sentence.
    Text,
    /// As a field's value.
    Field,
    /// In a URL.
    Url,
}

pub(super) struct Scene<'g> {
    pub(super) rng: &'g mut Rng,
    pub(super) ops: Ops,
    pub(super) patient: Option<Patient>,
    pub(super) planted: Vec<Planted>,
    pub(super) canaries: Vec<String>,
}

impl<'g> Scene<'g> {
    pub(super) fn new(rng: &'g mut Rng, ops: Ops, patient: Option<Patient>) -> Scene<'g> {
        Scene {
            rng,
            ops,
            patient,
            planted: Vec::new(),
            canaries: Vec::new(),
        }
    }

    pub(super) fn finish(self, text: String, encoding: Encoding) -> Line {
        debug_assert!(!text.contains('\n'), "{encoding:?} wrote a newline: {text}");
        debug_assert!(
            self.canaries.iter().all(|c| text.contains(c.as_str())),
            "{encoding:?} recorded a canary it did not write: {:?} in {text}",
            self.canaries
        );
        Line {
            text,
            encoding,
            planted: self.planted,
            canaries: self.canaries,
        }
    }

    pub(super) fn p(&self) -> &Patient {
        self.patient
            .as_ref()
            .expect("a line with PHI has a patient")
    }

    // ---- canaries ----

    pub(super) fn canary(&mut self, value: String) -> String {
        if !self.canaries.contains(&value) {
            self.canaries.push(value.clone());
        }
        value
    }

    pub(super) fn ts(&mut self) -> String {
        self.canary(rfc3339(self.ops.ms))
    }

    pub(super) fn trace(&mut self) -> String {
        self.canary(self.ops.trace.clone())
    }

    pub(super) fn span(&mut self) -> String {
        self.canary(self.ops.span.clone())
    }

    pub(super) fn request_id(&mut self) -> String {
        self.canary(self.ops.request_id.clone())
    }

    pub(super) fn fresh_uuid(&mut self) -> String {
        let id = uuid(self.rng);
        self.canary(id)
    }

    pub(super) fn pod(&mut self) -> String {
        self.canary(self.ops.pod.clone())
    }

    pub(super) fn version(&mut self) -> String {
        self.canary(self.ops.version.clone())
    }

    pub(super) fn npi(&mut self) -> String {
        self.canary(self.ops.npi.clone())
    }

    pub(super) fn order(&mut self) -> String {
        self.canary(self.ops.order.clone())
    }

    pub(super) fn status(&mut self) -> String {
        self.canary(self.ops.status.to_string())
    }

    pub(super) fn port(&mut self) -> String {
        self.canary(self.ops.service.port.to_string())
    }

    pub(super) fn server_ip(&mut self) -> String {
        self.canary(self.ops.server_ip.clone())
    }

    pub(super) fn epoch(&mut self) -> String {
        self.canary(self.ops.ms.to_string())
    }

    /// `12ms`, `1.532s`, `12.345ms` (Go).
    pub(super) fn duration(&mut self) -> String {
        let ms = self.ops.dur_ms;
        let text = match self.rng.below(3) {
            0 if ms >= 1000 => format!("{:.3}s", ms as f64 / 1000.0),
            1 => format!("{ms}.{:03}ms", self.rng.below(1000)),
            _ => format!("{ms}ms"),
        };
        self.canary(text)
    }

    /// nginx's `$request_time`: seconds with milliseconds.
    pub(super) fn seconds(&mut self) -> String {
        let ms = self.ops.dur_ms;
        self.canary(format!("{}.{:03}", ms / 1000, ms % 1000))
    }

    pub(super) fn thread(&self) -> String {
        format!("nio-{}-exec-{}", self.ops.service.port, self.ops.thread)
    }

    pub(super) fn level(&mut self) -> &'static str {
        self.rng
            .weighted(&[("INFO", 80), ("DEBUG", 8), ("WARN", 9), ("ERROR", 3)])
    }

    /// A few operational `key=value`s for the end of a text line.
    pub(super) fn ops_tail(&mut self) -> String {
        let mut tail = String::new();
        let n = self.rng.between(1, 3);
        let mut used = 0u8;
        for _ in 0..n {
            let pick = self.rng.below(6) as u8;
            if used & (1 << pick) != 0 {
                continue;
            }
            used |= 1 << pick;
            let part = match pick {
                0 => format!(" npi={}", self.npi()),
                1 => format!(" order={}", self.order()),
                2 => format!(" in {}", self.duration()),
                3 => format!(" status={}", self.status()),
                4 => format!(" requestId={}", self.request_id()),
                _ => format!(" (client v{})", self.version()),
            };
            tail.push_str(&part);
        }
        tail
    }

    // ---- planting ----

    pub(super) fn plant(&mut self, kind: PhiKind, value: impl Into<String>) {
        let value = value.into();
        if !self
            .planted
            .iter()
            .any(|p| p.kind == kind && p.value == value)
        {
            self.planted.push(Planted { kind, value });
        }
    }

    /// The patient's value of `kind` in a form usual for `flavor`, planted.
    pub(super) fn value(&mut self, kind: PhiKind, flavor: Flavor) -> String {
        let p = self.p().clone();
        let r = &mut *self.rng;
        let (shown, planted) = match kind {
            PhiKind::Name => {
                let name = p.full_name();
                let shown = if flavor == Flavor::Text && r.chance(20) {
                    format!("{}, {}", p.last, p.first)
                } else {
                    name.clone()
                };
                (shown, name)
            }
            PhiKind::Ssn => {
                let digits = flavor == Flavor::Field && r.chance(20);
                let v = if digits {
                    p.ssn.replace('-', "")
                } else {
                    p.ssn.clone()
                };
                (v.clone(), v)
            }
            PhiKind::Phone | PhiKind::Fax => {
                let number = if kind == PhiKind::Phone {
                    p.phone
                } else {
                    p.fax
                };
                let style = match flavor {
                    Flavor::Text => r.pick(&[
                        PhoneStyle::Dashed,
                        PhoneStyle::Parens,
                        PhoneStyle::Dotted,
                        PhoneStyle::Plus,
                    ]),
                    Flavor::Field => r.pick(&[
                        PhoneStyle::Dashed,
                        PhoneStyle::Parens,
                        PhoneStyle::E164,
                        PhoneStyle::Plus,
                    ]),
                    Flavor::Url => {
                        r.pick(&[PhoneStyle::Dashed, PhoneStyle::E164, PhoneStyle::Plus])
                    }
                };
                let v = number.format(style);
                (v.clone(), v)
            }
            PhiKind::Email => (p.email.clone(), p.email.clone()),
            PhiKind::BirthDate | PhiKind::AdmissionDate => {
                let date = if kind == PhiKind::BirthDate {
                    p.dob
                } else {
                    p.admitted
                };
                let us = match flavor {
                    Flavor::Text => r.chance(30),
                    Flavor::Field => r.chance(10),
                    Flavor::Url => false,
                };
                (if us { us_date(date) } else { iso(date) }, iso(date))
            }
            PhiKind::Mrn => {
                let v = match (flavor, r.below(4)) {
                    (Flavor::Text, 0) => format!("MRN{}", p.mrn),
                    (Flavor::Text, _) => format!("MRN-{}", p.mrn),
                    (_, 0 | 1) => p.mrn.clone(),
                    _ => format!("MRN-{}", p.mrn),
                };
                (v.clone(), v)
            }
            PhiKind::MemberId => (p.member_id.clone(), p.member_id.clone()),
            PhiKind::AccountNumber => (p.account.clone(), p.account.clone()),
            PhiKind::CardNumber => {
                let v = if flavor != Flavor::Url && r.chance(35) {
                    let sep = if r.chance(50) { " " } else { "-" };
                    let groups: &[usize] = if p.card.len() == 15 {
                        &[4, 6, 5]
                    } else {
                        &[4, 4, 4, 4]
                    };
                    let mut at = 0;
                    let parts: Vec<&str> = groups
                        .iter()
                        .map(|n| {
                            let part = &p.card[at..at + n];
                            at += n;
                            part
                        })
                        .collect();
                    parts.join(sep)
                } else {
                    p.card.clone()
                };
                (v.clone(), v)
            }
            PhiKind::Mbi => {
                let v = if r.chance(20) {
                    format!("{}-{}-{}", &p.mbi[..4], &p.mbi[4..7], &p.mbi[7..])
                } else {
                    p.mbi.clone()
                };
                (v.clone(), v)
            }
            PhiKind::LicenseNumber => (p.license.clone(), p.license.clone()),
            PhiKind::DeviceSerial => (p.device_serial.clone(), p.device_serial.clone()),
            PhiKind::Vin => (p.vin.clone(), p.vin.clone()),
            PhiKind::StreetAddress => (p.street.clone(), p.street.clone()),
            PhiKind::Zip => (p.zip.clone(), p.zip.clone()),
            PhiKind::ClientIp => (p.client_ip.clone(), p.client_ip.clone()),
        };
        self.plant(kind, planted);
        shown
    }

    pub(super) fn given(&mut self) -> String {
        let v = self.p().first.to_owned();
        self.plant(PhiKind::Name, v.clone());
        v
    }

    pub(super) fn family(&mut self) -> String {
        let v = self.p().last.to_owned();
        self.plant(PhiKind::Name, v.clone());
        v
    }

    // ---- dispatch ----

    pub(super) fn phi(&mut self, encoding: Encoding, kinds: &[PhiKind]) -> String {
        match encoding {
            Encoding::SpringText => self.spring_text(kinds),
            Encoding::Json => self.json_line(kinds),
            Encoding::JsonInString => self.json_in_string(kinds),
            Encoding::Logfmt => self.logfmt(kinds),
            Encoding::KeyValue => self.key_value(kinds),
            Encoding::AccessLog => self.access_log(kinds),
            Encoding::UrlQuery => self.url_line(kinds, false),
            Encoding::UrlPath => self.url_line(kinds, true),
            Encoding::Hl7 => self.hl7(kinds),
            Encoding::Fhir => self.fhir(kinds),
            Encoding::HttpHeader => self.http_headers(kinds),
        }
    }

    pub(super) fn clean(&mut self, encoding: Encoding) -> String {
        match encoding {
            Encoding::SpringText => self.clean_spring(),
            Encoding::Json => self.clean_json(),
            Encoding::JsonInString => self.clean_json_in_string(),
            Encoding::Logfmt => self.clean_logfmt(),
            Encoding::KeyValue => self.clean_key_value(),
            Encoding::AccessLog => self.clean_access_log(),
            Encoding::UrlQuery => self.clean_url_line(false),
            Encoding::UrlPath => self.clean_url_line(true),
            Encoding::Hl7 => self.clean_hl7(),
            Encoding::Fhir => self.clean_fhir(),
            Encoding::HttpHeader => self.clean_http_headers(),
        }
    }
}

/// `date_of_birth` → `dateOfBirth`.
pub(super) fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}
