//! URLs carrying PHI: ingress-nginx and Envoy access logs, and application
//! lines about URLs (Feign, Spring MVC, ECS `url.full`, logfmt).

use super::*;

impl Scene<'_> {
    // ---- URLs ----

    /// A path whose segment is the value of `kind`, planted.
    fn phi_path(&mut self, kind: PhiKind, style: PctStyle, upper: bool) -> String {
        let value = self.value(kind, Flavor::Url);
        let v = pct_encode(&value, style, upper);
        match kind {
            PhiKind::Name => format!("/api/v1/patients/by-name/{v}"),
            PhiKind::Ssn => format!("/api/v1/patients/{v}/records"),
            PhiKind::Phone => format!("/api/v1/patients/lookup/phone/{v}"),
            PhiKind::Fax => format!("/api/v1/fax/outbound/{v}/status"),
            PhiKind::Email => format!("/portal/accounts/{v}/preferences"),
            PhiKind::BirthDate => format!("/api/v1/patients/search/dob/{v}"),
            PhiKind::AdmissionDate => format!("/api/v1/census/admissions/{v}"),
            PhiKind::Mrn => format!("/ehr/charts/{v}/encounters"),
            PhiKind::MemberId => format!("/api/v1/members/{v}/eligibility"),
            PhiKind::AccountNumber => format!("/billing/accounts/{v}/statements"),
            PhiKind::CardNumber => format!("/payments/cards/{v}/verify"),
            PhiKind::Mbi => format!("/medicare/beneficiaries/{v}/claims"),
            PhiKind::LicenseNumber => format!("/identity/licenses/{v}/verify"),
            PhiKind::DeviceSerial => format!("/devices/{v}/telemetry"),
            PhiKind::Vin => format!("/claims/auto/vehicles/{v}"),
            PhiKind::StreetAddress => format!("/geo/v1/geocode/{v}"),
            PhiKind::Zip => format!("/api/v1/eligibility/zip/{v}"),
            PhiKind::ClientIp => format!("/admin/sessions/by-ip/{v}"),
        }
    }

    /// Query parameters carrying `kind`, planted.
    fn phi_params(&mut self, kind: PhiKind, style: PctStyle, upper: bool) -> Vec<String> {
        let enc = |s: &str| pct_encode(s, style, upper);
        if kind == PhiKind::Name && self.rng.chance(35) {
            let (family, given) = (self.family(), self.given());
            return vec![
                format!("family={}", enc(&family)),
                format!("given={}", enc(&given)),
            ];
        }
        if kind == PhiKind::Mrn && self.rng.chance(30) {
            let mrn = self.p().mrn.clone();
            self.plant(PhiKind::Mrn, mrn.clone());
            let identifier = format!("urn:oid:2.16.840.1.113883.19.5|{mrn}");
            return vec![format!("identifier={}", enc(&identifier))];
        }
        let key = match kind {
            PhiKind::Name => self.rng.pick(&["name", "patient_name"]),
            PhiKind::BirthDate => self.rng.pick(&["dob", "birthdate"]),
            PhiKind::Zip => self.rng.pick(&["zip", "address-postalcode"]),
            PhiKind::ClientIp => self.rng.pick(&["ip", "client_ip"]),
            PhiKind::MemberId => self.rng.pick(&["member_id", "subscriber"]),
            other => self.field_key(other),
        };
        let value = self.value(kind, Flavor::Url);
        vec![format!("{key}={}", enc(&value))]
    }

    /// A path and query with the PHI of `kinds`: the first in the path when
    /// `in_path`, the rest in the query.
    fn phi_url(&mut self, kinds: &[PhiKind], in_path: bool) -> String {
        let path_style = if self.rng.chance(60) {
            PctStyle::Path
        } else {
            PctStyle::Component
        };
        let query_style = if self.rng.chance(55) {
            PctStyle::Form
        } else {
            PctStyle::Component
        };
        let upper = self.rng.chance(85);
        let (path, rest) = match kinds.split_first() {
            Some((first, rest)) if in_path => (self.phi_path(*first, path_style, upper), rest),
            _ => {
                let route = self.rng.pick(&[
                    "/fhir/Patient",
                    "/api/v1/patients/search",
                    "/api/v1/appointments",
                    "/portal/api/profile",
                ]);
                (route.to_owned(), kinds)
            }
        };
        let mut params = Vec::new();
        for &kind in rest {
            params.extend(self.phi_params(kind, query_style, upper));
        }
        match self.rng.below(4) {
            0 => params.push("_count=20".into()),
            1 => params.push(format!("order={}", self.order())),
            2 => params.insert(0, "_format=json".into()),
            _ => {}
        }
        if params.is_empty() {
            path
        } else {
            format!("{path}?{}", params.join("&"))
        }
    }

    pub(super) fn access_log(&mut self, kinds: &[PhiKind]) -> String {
        let nginx = self.rng.chance(65);
        let rest: Vec<PhiKind> = kinds
            .iter()
            .copied()
            .filter(|k| *k != PhiKind::ClientIp)
            .collect();
        let client = if nginx || kinds.contains(&PhiKind::ClientIp) {
            Some(self.value(PhiKind::ClientIp, Flavor::Field))
        } else {
            None
        };
        let in_path = self.rng.chance(60);
        let target = self.phi_url(&rest, in_path);
        let method = if self.rng.chance(80) { "GET" } else { "POST" };
        let agent = self.rng.pick(USER_AGENTS);
        self.access_line(nginx, client, method, &target, agent)
    }

    fn access_line(
        &mut self,
        nginx: bool,
        client: Option<String>,
        method: &str,
        target: &str,
        agent: &str,
    ) -> String {
        let bytes = self.rng.between(0, 48_000);
        let upstream = format!("{}:{}", self.server_ip(), self.port());
        let status = self.status();
        if nginx {
            let client = client.expect("nginx writes the client's address");
            let time = self.canary(
                utc(self.ops.ms)
                    .format("%d/%b/%Y:%H:%M:%S +0000")
                    .to_string(),
            );
            let seconds = self.seconds();
            let req_id = self.canary(self.ops.trace.clone());
            format!(
                "{client} - - [{time}] \"{method} {target} HTTP/1.1\" {status} {bytes} \"-\" \"{agent}\" {} {seconds} [ehr-{}-{}] [] {upstream} {bytes} {seconds} {status} {req_id}",
                self.rng.between(200, 1400),
                self.ops.service.name,
                self.ops.service.port,
            )
        } else {
            let ts = self.ts();
            let xff = client.unwrap_or_else(|| "-".into());
            let request_id = self.request_id();
            format!(
                "[{ts}] \"{method} {target} HTTP/1.1\" {status} - {} {bytes} {} {} \"{xff}\" \"{agent}\" \"{request_id}\" \"{}.ehr.svc.cluster.local\" \"{upstream}\"",
                self.rng.between(0, 2048),
                self.ops.dur_ms,
                self.ops.dur_ms.saturating_sub(1),
                self.ops.service.name,
            )
        }
    }

    pub(super) fn clean_access_log(&mut self) -> String {
        let target = match self.rng.below(4) {
            0 => "/actuator/health/readiness".to_owned(),
            1 => "/metrics".to_owned(),
            2 => format!("/api/v1/orders/{}/status", self.order()),
            _ => format!("/api/v1/formulary?version={}&_count=50", self.version()),
        };
        let agent = self.rng.pick(INTERNAL_AGENTS);
        self.access_line(false, None, "GET", &target, agent)
    }

    /// An application's line about a URL: Feign's or Spring MVC's text, an
    /// ECS field, or logfmt.
    pub(super) fn url_line(&mut self, kinds: &[PhiKind], in_path: bool) -> String {
        let target = self.phi_url(kinds, in_path);
        self.url_wrapper(&target)
    }

    pub(super) fn clean_url_line(&mut self, in_path: bool) -> String {
        let target = if in_path {
            match self.rng.below(3) {
                0 => format!("/api/v1/orders/{}/status", self.order()),
                1 => format!("/fhir/Patient/{}/$everything", self.fresh_uuid()),
                _ => format!("/api/v1/formulary/v{}/drugs", self.version()),
            }
        } else {
            format!(
                "/fhir/MedicationRequest?status=active&_count=50&_id={}",
                self.fresh_uuid()
            )
        };
        self.url_wrapper(&target)
    }

    fn url_wrapper(&mut self, target: &str) -> String {
        let host = self.rng.pick(&[
            "fhir-server.ehr.svc.cluster.local",
            "eligibility-api.payer.example.com",
            "registry.ehr.svc.cluster.local",
        ]);
        match self.rng.below(4) {
            0 => {
                let head = self.spring_head("DEBUG", "c.e.p.client.FhirClient");
                let port = self.port();
                format!("{head}[FhirClient#search] ---> GET https://{host}:{port}{target} HTTP/1.1")
            }
            1 => {
                let head = self.spring_head("DEBUG", "o.s.web.servlet.DispatcherServlet");
                format!("{head}GET \"{target}\", parameters={{masked}}")
            }
            2 => {
                let ecs = self.rng.chance(70);
                let style = self.rng.weighted(&[
                    (JsonStyle::Min, 80),
                    (JsonStyle::DotNet, 10),
                    (JsonStyle::Php, 10),
                ]);
                let mut head = self.json_head(ecs, "outgoing request".into());
                let status = self.status();
                set(&mut head, "http.request.method", js("GET"));
                set(&mut head, "url.full", js(format!("https://{host}{target}")));
                set(&mut head, "http.response.status_code", J::Raw(status));
                write_json(&J::O(head), style)
            }
            _ => {
                let ts = self.ts();
                let url = format!("https://{host}{target}");
                format!(
                    "time={ts} level=INFO msg=\"outgoing request\" method=GET url={} status={} duration={} trace_id={}",
                    Self::logfmt_value(&url, false),
                    self.status(),
                    self.duration(),
                    self.trace()
                )
            }
        }
    }
}
