//! FHIR R4 resources (Patient, Coverage, Encounter, Device, AuditEvent, a
//! transaction Bundle; OperationOutcome, searchset and CapabilityStatement
//! when clean) as gateways log them.

use super::*;

impl Scene<'_> {
    // ---- FHIR ----

    fn coding(system: &str, code: &str) -> J {
        jo(vec![(
            "coding",
            J::A(vec![jo(vec![("system", js(system)), ("code", js(code))])]),
        )])
    }

    pub(super) fn identifier(type_code: Option<&str>, system: &str, value: String) -> J {
        let mut entries = Vec::new();
        if let Some(code) = type_code {
            entries.push((
                "type",
                Self::coding("http://terminology.hl7.org/CodeSystem/v2-0203", code),
            ));
        }
        entries.push(("system", js(system)));
        entries.push(("value", js(value)));
        jo(entries)
    }

    fn fhir_patient(&mut self, kinds: &[PhiKind]) -> J {
        let has = |k: PhiKind| kinds.contains(&k);
        let p = self.p().clone();
        let mut identifiers = Vec::new();
        if has(PhiKind::Mrn) {
            let mrn = self.value(PhiKind::Mrn, Flavor::Field);
            identifiers.push(Self::identifier(
                Some("MR"),
                "urn:oid:2.16.840.1.113883.19.5",
                mrn,
            ));
        }
        if has(PhiKind::Ssn) {
            let ssn = self.value(PhiKind::Ssn, Flavor::Field);
            identifiers.push(Self::identifier(
                None,
                "http://hl7.org/fhir/sid/us-ssn",
                ssn,
            ));
        }
        if has(PhiKind::Mbi) {
            let mbi = self.value(PhiKind::Mbi, Flavor::Field);
            identifiers.push(Self::identifier(
                None,
                "http://hl7.org/fhir/sid/us-mbi",
                mbi,
            ));
        }
        if has(PhiKind::MemberId) {
            let member = self.value(PhiKind::MemberId, Flavor::Field);
            identifiers.push(Self::identifier(
                Some("MB"),
                "https://northwind-health.example.com/member-id",
                member,
            ));
        }
        if has(PhiKind::AccountNumber) {
            let account = self.value(PhiKind::AccountNumber, Flavor::Field);
            identifiers.push(Self::identifier(
                Some("AN"),
                "urn:oid:2.16.840.1.113883.19.5.2",
                account,
            ));
        }
        if has(PhiKind::LicenseNumber) {
            let license = self.value(PhiKind::LicenseNumber, Flavor::Field);
            identifiers.push(Self::identifier(
                Some("DL"),
                "urn:oid:2.16.840.1.113883.4.3.6",
                license,
            ));
        }
        let mut name = vec![("use", js("official"))];
        if self.rng.chance(50) {
            self.plant(PhiKind::Name, p.full_name());
            name.push(("text", js(p.full_name())));
        }
        name.push(("family", js(self.family())));
        name.push(("given", J::A(vec![js(self.given())])));

        let mut telecom = Vec::new();
        for (kind, system, use_) in [
            (PhiKind::Phone, "phone", "home"),
            (PhiKind::Fax, "fax", "work"),
            (PhiKind::Email, "email", "home"),
        ] {
            if has(kind) {
                let value = self.value(kind, Flavor::Field);
                telecom.push(jo(vec![
                    ("system", js(system)),
                    ("value", js(value)),
                    ("use", js(use_)),
                ]));
            }
        }
        let id = self.fresh_uuid();
        let ts = self.ts();
        let mut resource = vec![
            ("resourceType", js("Patient")),
            ("id", js(id)),
            (
                "meta",
                jo(vec![
                    ("versionId", js(self.rng.between(1, 9).to_string())),
                    ("lastUpdated", js(ts)),
                ]),
            ),
        ];
        if !identifiers.is_empty() {
            resource.push(("identifier", J::A(identifiers)));
        }
        resource.push(("active", J::Raw("true".into())));
        resource.push(("name", J::A(vec![jo(name)])));
        if !telecom.is_empty() {
            resource.push(("telecom", J::A(telecom)));
        }
        resource.push((
            "gender",
            js(match p.sex {
                "F" => "female",
                "M" => "male",
                _ => "unknown",
            }),
        ));
        if has(PhiKind::BirthDate) {
            self.plant(PhiKind::BirthDate, iso(p.dob));
            resource.push(("birthDate", js(iso(p.dob))));
        }
        if has(PhiKind::StreetAddress) || has(PhiKind::Zip) {
            let mut address = vec![("use", js("home"))];
            if has(PhiKind::StreetAddress) {
                self.plant(PhiKind::StreetAddress, p.street.clone());
                address.push(("line", J::A(vec![js(p.street.clone())])));
            }
            address.push(("city", js(p.city)));
            address.push(("state", js(p.state)));
            if has(PhiKind::Zip) {
                self.plant(PhiKind::Zip, p.zip.clone());
                address.push(("postalCode", js(p.zip.clone())));
            }
            resource.push(("address", J::A(vec![jo(address)])));
        }
        jo(resource)
    }

    fn reference(&mut self, kind: &str) -> J {
        jo(vec![(
            "reference",
            js(format!("{kind}/{}", uuid(self.rng))),
        )])
    }

    fn fhir_coverage(&mut self, kinds: &[PhiKind]) -> J {
        let mut resource = vec![
            ("resourceType", js("Coverage")),
            ("id", js(self.fresh_uuid())),
            ("status", js("active")),
        ];
        if kinds.contains(&PhiKind::Mbi) {
            let mbi = self.value(PhiKind::Mbi, Flavor::Field);
            resource.push((
                "identifier",
                J::A(vec![Self::identifier(
                    None,
                    "http://hl7.org/fhir/sid/us-mbi",
                    mbi,
                )]),
            ));
        }
        if kinds.contains(&PhiKind::MemberId) {
            resource.push((
                "subscriberId",
                js(self.value(PhiKind::MemberId, Flavor::Field)),
            ));
        }
        resource.push(("beneficiary", self.reference("Patient")));
        resource.push((
            "payor",
            J::A(vec![jo(vec![("display", js("Northwind Health"))])]),
        ));
        jo(resource)
    }

    fn fhir_encounter(&mut self) -> J {
        let start = self.value(PhiKind::AdmissionDate, Flavor::Url);
        jo(vec![
            ("resourceType", js("Encounter")),
            ("id", js(self.fresh_uuid())),
            ("status", js("in-progress")),
            (
                "class",
                jo(vec![
                    (
                        "system",
                        js("http://terminology.hl7.org/CodeSystem/v3-ActCode"),
                    ),
                    ("code", js("IMP")),
                ]),
            ),
            ("subject", self.reference("Patient")),
            ("period", jo(vec![("start", js(start))])),
        ])
    }

    fn fhir_device(&mut self) -> J {
        let serial = self.value(PhiKind::DeviceSerial, Flavor::Field);
        let kind = self.p().device_kind;
        jo(vec![
            ("resourceType", js("Device")),
            ("id", js(self.fresh_uuid())),
            ("status", js("active")),
            ("serialNumber", js(serial)),
            ("type", jo(vec![("text", js(kind))])),
            ("patient", self.reference("Patient")),
        ])
    }

    fn fhir_audit_event(&mut self) -> J {
        let address = self.value(PhiKind::ClientIp, Flavor::Field);
        let ts = self.ts();
        jo(vec![
            ("resourceType", js("AuditEvent")),
            ("id", js(self.fresh_uuid())),
            (
                "type",
                jo(vec![
                    (
                        "system",
                        js("http://terminology.hl7.org/CodeSystem/audit-event-type"),
                    ),
                    ("code", js("rest")),
                ]),
            ),
            ("action", js("R")),
            ("recorded", js(ts)),
            ("outcome", js("0")),
            (
                "agent",
                J::A(vec![jo(vec![
                    ("requestor", J::Raw("true".into())),
                    (
                        "network",
                        jo(vec![("address", js(address)), ("type", js("2"))]),
                    ),
                ])]),
            ),
            (
                "source",
                jo(vec![(
                    "observer",
                    jo(vec![("display", js("fhir-gateway"))]),
                )]),
            ),
            (
                "entity",
                J::A(vec![jo(vec![("what", self.reference("Patient"))])]),
            ),
        ])
    }

    pub(super) fn fhir(&mut self, kinds: &[PhiKind]) -> String {
        use PhiKind::*;
        let coverage_kinds: Vec<PhiKind> = if self.rng.chance(50) {
            kinds
                .iter()
                .copied()
                .filter(|k| matches!(k, MemberId | Mbi))
                .collect()
        } else {
            Vec::new()
        };
        let patient_kinds: Vec<PhiKind> = kinds
            .iter()
            .copied()
            .filter(|k| {
                !matches!(k, AdmissionDate | DeviceSerial | ClientIp) && !coverage_kinds.contains(k)
            })
            .collect();
        let mut resources = Vec::new();
        if !patient_kinds.is_empty() {
            resources.push(("Patient", self.fhir_patient(&patient_kinds)));
        }
        if !coverage_kinds.is_empty() {
            resources.push(("Coverage", self.fhir_coverage(&coverage_kinds)));
        }
        if kinds.contains(&AdmissionDate) {
            resources.push(("Encounter", self.fhir_encounter()));
        }
        if kinds.contains(&DeviceSerial) {
            resources.push(("Device", self.fhir_device()));
        }
        if kinds.contains(&ClientIp) {
            resources.push(("AuditEvent", self.fhir_audit_event()));
        }
        let (type_name, resource) = if resources.len() == 1 {
            resources.pop().unwrap()
        } else {
            let entries = resources
                .into_iter()
                .map(|(name, resource)| {
                    jo(vec![
                        ("fullUrl", js(format!("urn:uuid:{}", uuid(self.rng)))),
                        ("resource", resource),
                        (
                            "request",
                            jo(vec![("method", js("POST")), ("url", js(name))]),
                        ),
                    ])
                })
                .collect();
            let bundle = jo(vec![
                ("resourceType", js("Bundle")),
                ("id", js(self.fresh_uuid())),
                ("type", js("transaction")),
                ("entry", J::A(entries)),
            ]);
            ("Bundle", bundle)
        };
        self.fhir_wrapper(type_name, &resource)
    }

    /// The log line around a FHIR resource: a JSON field, raw JSON in Spring
    /// text, or a JSON string.
    fn fhir_wrapper(&mut self, type_name: &str, resource: &J) -> String {
        let interaction = self.rng.pick(&["create", "update", "read", "transaction"]);
        match self.rng.below(20) {
            0..=8 => {
                let ecs = self.rng.chance(60);
                let mut head = self.json_head(ecs, format!("FHIR {interaction} {type_name}"));
                set(&mut head, "provider_npi", js(self.npi()));
                set(&mut head, "fhir.resource", resource.clone());
                let style = self
                    .rng
                    .weighted(&[(JsonStyle::Min, 80), (JsonStyle::Ascii, 20)]);
                write_json(&J::O(head), style)
            }
            9..=16 => {
                let head = self.spring_head("DEBUG", self.ops.service.logger);
                let npi = self.npi();
                format!(
                    "{head}FHIR {interaction} {type_name} (npi={npi}): {}",
                    write_json(resource, JsonStyle::Min)
                )
            }
            _ => {
                let mut head = self.json_head(false, format!("FHIR {interaction} {type_name}"));
                head.push(("body".into(), js(write_json(resource, JsonStyle::Min))));
                write_json(&J::O(head), JsonStyle::Min)
            }
        }
    }

    pub(super) fn clean_fhir(&mut self) -> String {
        let (type_name, resource) = match self.rng.below(3) {
            0 => {
                let diagnostics = format!("Transaction completed in {}", self.duration());
                (
                    "OperationOutcome",
                    jo(vec![
                        ("resourceType", js("OperationOutcome")),
                        ("id", js(self.fresh_uuid())),
                        (
                            "issue",
                            J::A(vec![jo(vec![
                                ("severity", js("information")),
                                ("code", js("informational")),
                                ("diagnostics", js(diagnostics)),
                            ])]),
                        ),
                    ]),
                )
            }
            1 => {
                let port = self.port();
                (
                    "Bundle",
                    jo(vec![
                        ("resourceType", js("Bundle")),
                        ("id", js(self.fresh_uuid())),
                        ("meta", jo(vec![("lastUpdated", js(self.ts()))])),
                        ("type", js("searchset")),
                        ("total", J::Raw("0".into())),
                        (
                            "link",
                            J::A(vec![jo(vec![
                                ("relation", js("self")),
                                (
                                    "url",
                                    js(format!(
                                        "https://fhir-server.ehr.svc.cluster.local:{port}/fhir/MedicationRequest?status=active&_count=50"
                                    )),
                                ),
                            ])]),
                        ),
                    ]),
                )
            }
            _ => (
                "CapabilityStatement",
                jo(vec![
                    ("resourceType", js("CapabilityStatement")),
                    ("status", js("active")),
                    ("date", js(self.ts())),
                    ("kind", js("instance")),
                    ("software", jo(vec![("version", js(self.version()))])),
                    ("fhirVersion", js("4.0.1")),
                    ("format", J::A(vec![js("json")])),
                ]),
            ),
        };
        self.fhir_wrapper(type_name, &resource)
    }
}
