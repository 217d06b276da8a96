//! HTTP header values as clients and filters log them.

use super::*;

impl Scene<'_> {
    // ---- HTTP headers ----

    /// A header carrying `kind`, planted: (name, value).
    fn phi_header(&mut self, kind: PhiKind) -> (String, String) {
        let cookie = |name: &str, value: &str| {
            (
                "Cookie".to_owned(),
                format!(
                    "JSESSIONID={}; {name}={}",
                    "0A1B2C3D4E5F60718293A4B5C6D7E8F9",
                    pct_encode(value, PctStyle::Component, true)
                ),
            )
        };
        match kind {
            PhiKind::Name => {
                let v = self.value(kind, Flavor::Field);
                if self.rng.chance(30) {
                    cookie("patient_name", &v)
                } else {
                    ("X-Patient-Name".into(), v)
                }
            }
            PhiKind::Ssn => ("X-Patient-SSN".into(), self.value(kind, Flavor::Field)),
            PhiKind::Phone => ("X-Callback-Phone".into(), self.value(kind, Flavor::Field)),
            PhiKind::Email => {
                let v = self.value(kind, Flavor::Field);
                match self.rng.below(3) {
                    0 => ("From".into(), v),
                    1 => ("X-User-Email".into(), v),
                    _ => cookie("last_login_email", &v),
                }
            }
            PhiKind::BirthDate => ("X-Patient-DOB".into(), self.value(kind, Flavor::Url)),
            PhiKind::Mrn => {
                let v = self.value(kind, Flavor::Text);
                if self.rng.chance(25) {
                    cookie("current_patient", &v)
                } else {
                    ("X-Patient-Id".into(), v)
                }
            }
            PhiKind::MemberId => ("X-Member-Id".into(), self.value(kind, Flavor::Field)),
            PhiKind::AccountNumber => ("X-Account-Number".into(), self.value(kind, Flavor::Field)),
            PhiKind::Mbi => ("X-Medicare-Id".into(), self.value(kind, Flavor::Field)),
            PhiKind::DeviceSerial => ("X-Device-Serial".into(), self.value(kind, Flavor::Field)),
            PhiKind::ClientIp => {
                let v = self.value(kind, Flavor::Field);
                let name = self
                    .rng
                    .pick(&["X-Forwarded-For", "X-Real-IP", "True-Client-IP"]);
                (name.into(), v)
            }
            other => unreachable!("{other:?} is not sent as a header"),
        }
    }

    fn bearer(&mut self) -> String {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        format!(
            "Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.{}.{}",
            self.rng.chars(alphabet, 48),
            self.rng.chars(alphabet, 43)
        )
    }

    /// Operational headers: all canaries or harmless.
    fn ops_headers(&mut self) -> Vec<(String, String)> {
        let traceparent = format!("00-{}-{}-01", self.trace(), self.span());
        vec![
            (
                "Host".into(),
                format!("{}:{}", self.ops.service.name, self.port()),
            ),
            ("Accept".into(), "application/fhir+json".into()),
            ("traceparent".into(), traceparent),
            ("X-Request-Id".into(), self.request_id()),
        ]
    }

    fn headers_line(&mut self, headers: Vec<(String, String)>, single: bool) -> String {
        let style = if single { 0 } else { 1 + self.rng.below(3) };
        match style {
            0 => {
                let head = self.spring_head("DEBUG", "org.apache.http.headers");
                let (name, value) = headers.last().unwrap();
                format!(
                    "{head}http-outgoing-{} >> {name}: {value}",
                    self.rng.below(40)
                )
            }
            1 => {
                let head = self.spring_head("DEBUG", "o.s.w.f.CommonsRequestLoggingFilter");
                let list: Vec<String> = headers
                    .iter()
                    .map(|(n, v)| format!("{}:\"{v}\"", n.to_lowercase()))
                    .collect();
                let path = self.clean_path();
                format!(
                    "{head}Before request [GET {path}, headers=[{}]]",
                    list.join(", ")
                )
            }
            2 => {
                let ecs = self.rng.chance(70);
                let mut head = self.json_head(ecs, "request headers".into());
                let map = headers
                    .into_iter()
                    .map(|(n, v)| (n.to_lowercase(), J::A(vec![J::S(v)])))
                    .collect();
                head.push(("http.request.headers".into(), J::O(map)));
                write_json(&J::O(head), JsonStyle::Min)
            }
            _ => {
                let ts = self.ts();
                let list: Vec<String> = headers.iter().map(|(n, v)| format!("{n}:[{v}]")).collect();
                format!(
                    "time={ts} level=DEBUG msg=\"inbound request\" pod={} headers=\"map[{}]\"",
                    self.pod(),
                    list.join(" ").replace('"', "\\\"")
                )
            }
        }
    }

    pub(super) fn http_headers(&mut self, kinds: &[PhiKind]) -> String {
        let single = kinds.len() == 1 && self.rng.chance(40);
        let mut headers = if single {
            Vec::new()
        } else {
            self.ops_headers()
        };
        if !single && self.rng.chance(60) {
            let bearer = self.bearer();
            headers.push(("Authorization".into(), bearer));
        }
        for &kind in kinds {
            headers.push(self.phi_header(kind));
        }
        self.headers_line(headers, single)
    }

    pub(super) fn clean_http_headers(&mut self) -> String {
        let mut headers = self.ops_headers();
        headers.push(("User-Agent".into(), self.rng.pick(INTERNAL_AGENTS).into()));
        if self.rng.chance(50) {
            headers.push((
                "Content-Length".into(),
                self.rng.between(0, 9000).to_string(),
            ));
        }
        self.headers_line(headers, false)
    }
}
