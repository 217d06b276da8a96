//! HL7 v2 messages (ADT, ORU, ACK) as integration engines log them.

use super::*;

impl Scene<'_> {
    // ---- HL7 v2 ----

    pub(super) fn hl7(&mut self, kinds: &[PhiKind]) -> String {
        let (message, kind, control) = self.hl7_message(kinds);
        self.hl7_wrapper(&message, &kind, &control)
    }

    /// The log line around an HL7 message (segments separated by `\r`).
    fn hl7_wrapper(&mut self, message: &str, kind: &str, control: &str) -> String {
        match self.rng.below(20) {
            0..=6 => {
                // Mirth-style text: the segment separator written out as `\r`.
                let ts = self.canary(spaced_time(self.ops.ms, '.'));
                format!(
                    "{ts} INFO  [ADT Inbound Source Thread] {}: message control ID {control} ({kind}): {}",
                    self.ops.service.logger,
                    message.replace('\r', "\\r")
                )
            }
            7..=12 => {
                // A JSON line: the raw `\r` becomes `\r` in JSON.
                let style = self
                    .rng
                    .weighted(&[(JsonStyle::Min, 80), (JsonStyle::Gson, 20)]);
                let mut head = self.json_head(true, format!("HL7 {kind} received"));
                head.push(("hl7.control_id".into(), js(control)));
                head.push(("hl7.message".into(), js(message)));
                write_json(&J::O(head), style)
            }
            13..=16 => {
                // A JSON line around text that already had `\r` written out.
                let mut head = self.json_head(
                    false,
                    format!("HL7 {kind} received: {}", message.replace('\r', "\\r")),
                );
                head.push(("controlId".into(), js(control)));
                write_json(&J::O(head), JsonStyle::Min)
            }
            _ => {
                // Raw carriage returns inside one log line.
                let ts = self.canary(spaced_time(self.ops.ms, '.'));
                format!("{ts} INFO  [ADT Inbound Source Thread] received {kind}: {message}")
            }
        }
    }

    /// An ADT (or, for device data, ORU) message, its type and control id.
    fn hl7_message(&mut self, kinds: &[PhiKind]) -> (String, String, String) {
        let has = |k: PhiKind| kinds.contains(&k);
        let oru = has(PhiKind::DeviceSerial);
        let event = if oru {
            "ORU^R01^ORU_R01"
        } else {
            self.rng
                .pick(&["ADT^A01^ADT_A01", "ADT^A04^ADT_A01", "ADT^A08^ADT_A01"])
        };
        let ts = self.canary(utc(self.ops.ms).format("%Y%m%d%H%M%S").to_string());
        let control = format!("MSG{}", self.rng.digits(8));
        let mut segments = vec![format!(
            "MSH|^~\\&|EHRSYS|GENERAL_HOSP|HL7HUB|EXAMPLE_HIE|{ts}||{event}|{control}|P|2.5.1"
        )];
        if !oru {
            segments.push(format!("EVN|{}|{ts}", &event[4..7]));
        }

        let p = self.p().clone();
        let mut pid = vec![String::new(); 21];
        pid[0] = "PID".into();
        pid[1] = "1".into();
        let mrn = p.mrn.clone();
        self.plant(PhiKind::Mrn, mrn.clone());
        pid[3] = format!("{mrn}^^^GENERAL_HOSP^MR");
        if has(PhiKind::Mbi) {
            let mbi = p.mbi.clone();
            self.plant(PhiKind::Mbi, mbi.clone());
            pid[3].push_str(&format!("~{mbi}^^^CMS^MC"));
        }
        self.plant(PhiKind::Name, p.full_name());
        let (family, given) = if self.rng.chance(70) {
            (p.last.to_uppercase(), p.first.to_uppercase())
        } else {
            (p.last.to_owned(), p.first.to_owned())
        };
        pid[5] = format!(
            "{}^{}^{}^^^^L",
            hl7_escape(&family),
            hl7_escape(&given),
            p.middle
        );
        self.plant(PhiKind::BirthDate, iso(p.dob));
        pid[7] = compact_date(p.dob);
        pid[8] = p.sex.into();
        if has(PhiKind::StreetAddress) || has(PhiKind::Zip) {
            let street = if has(PhiKind::StreetAddress) {
                self.plant(PhiKind::StreetAddress, p.street.clone());
                hl7_escape(&p.street)
            } else {
                String::new()
            };
            let zip = if has(PhiKind::Zip) {
                self.plant(PhiKind::Zip, p.zip.clone());
                p.zip.clone()
            } else {
                String::new()
            };
            pid[11] = format!("{street}^^{}^{}^{zip}^USA^H", p.city, p.state);
        }
        let mut telecom = Vec::new();
        if has(PhiKind::Phone) {
            let phone = p.phone.format(PhoneStyle::Tight);
            self.plant(PhiKind::Phone, phone.clone());
            telecom.push(format!("{phone}^PRN^PH"));
        }
        if has(PhiKind::Email) {
            self.plant(PhiKind::Email, p.email.clone());
            telecom.push(format!("^NET^Internet^{}", hl7_escape(&p.email)));
        }
        if has(PhiKind::Fax) {
            let fax = p.fax.format(PhoneStyle::Tight);
            self.plant(PhiKind::Fax, fax.clone());
            telecom.push(format!("{fax}^PRN^FX"));
        }
        pid[13] = telecom.join("~");
        if has(PhiKind::AccountNumber) {
            self.plant(PhiKind::AccountNumber, p.account.clone());
            pid[18] = format!("{}^^^GENERAL_HOSP^AN", p.account);
        }
        if has(PhiKind::Ssn) {
            let ssn = if self.rng.chance(50) {
                p.ssn.clone()
            } else {
                p.ssn.replace('-', "")
            };
            self.plant(PhiKind::Ssn, ssn.clone());
            pid[19] = ssn;
        }
        if has(PhiKind::LicenseNumber) {
            self.plant(PhiKind::LicenseNumber, p.license.clone());
            pid[20] = format!("{}^{}", p.license, p.license_state);
        }
        segments.push(hl7_segment(pid));

        let npi = self.npi();
        let mut pv1 = vec![String::new(); 45];
        pv1[0] = "PV1".into();
        pv1[1] = "1".into();
        pv1[2] = self.rng.pick(&["I", "O", "E"]).into();
        pv1[3] = format!("{}^{}^1", self.rng.pick(WARDS), self.rng.between(100, 499));
        pv1[7] = format!("{npi}^^^^^^^^CMS^^^^NPI");
        pv1[19] = format!("V{}", self.rng.digits(8));
        if has(PhiKind::AdmissionDate) {
            self.plant(PhiKind::AdmissionDate, iso(p.admitted));
            pv1[44] = compact_date(p.admitted);
        }
        segments.push(hl7_segment(pv1));
        if oru {
            let order = self.order();
            segments.push(format!("OBR|1|{order}||8867-4^Heart rate^LN|||{ts}"));
            self.plant(PhiKind::DeviceSerial, p.device_serial.clone());
            let mut obx = vec![String::new(); 19];
            obx[0] = "OBX".into();
            obx[1] = "1".into();
            obx[2] = "NM".into();
            obx[3] = "8867-4^Heart rate^LN".into();
            obx[5] = self.rng.between(48, 130).to_string();
            obx[6] = "/min^beats per minute^UCUM".into();
            obx[11] = "F".into();
            obx[14] = ts.clone();
            obx[16] = format!("{npi}^^^^^^^^CMS^^^^NPI");
            obx[18] = format!("{}^^^EXAMPLE_DEVICES", hl7_escape(&p.device_serial));
            segments.push(hl7_segment(obx));
        }
        if has(PhiKind::MemberId) {
            self.plant(PhiKind::MemberId, p.member_id.clone());
            let mut in1 = vec![String::new(); 37];
            in1[0] = "IN1".into();
            in1[1] = "1".into();
            in1[2] = "NWH-GOLD^Northwind Gold PPO".into();
            in1[3] = "NWH01".into();
            in1[4] = "Northwind Health".into();
            in1[36] = p.member_id.clone();
            segments.push(hl7_segment(in1));
        }
        (segments.join("\r"), event[..7].to_owned(), control)
    }

    pub(super) fn clean_hl7(&mut self) -> String {
        let ts = self.canary(utc(self.ops.ms).format("%Y%m%d%H%M%S").to_string());
        let event = self.rng.pick(&["A01", "A04", "A08"]);
        let acked = format!("MSG{}", self.rng.digits(8));
        let control = format!("ACK{}", self.rng.digits(8));
        let message = format!(
            "MSH|^~\\&|HL7HUB|EXAMPLE_HIE|EHRSYS|GENERAL_HOSP|{ts}||ACK^{event}^ACK|{control}|P|2.5.1\rMSA|AA|{acked}"
        );
        self.hl7_wrapper(&message, "ACK", &acked)
    }
}
