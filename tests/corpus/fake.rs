//! The fake values: a seeded random source, structurally valid identifiers
//! (SSA-valid SSNs, Luhn-valid cards, CMS-layout MBIs, check-digit VINs,
//! NPIs), fictional names and addresses, and the validators the self-tests
//! use to check them.

use super::*;

/// The Luhn check digit for `payload` (digits only).
fn luhn_digit(payload: &str) -> u32 {
    let mut sum = 0;
    for (i, b) in payload.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 0 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    (10 - sum % 10) % 10
}

/// Whether the digits of `number` (separators ignored) pass Luhn.
pub fn luhn_valid(number: &str) -> bool {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 2 {
        return false;
    }
    let (payload, check) = digits.split_at(digits.len() - 1);
    luhn_digit(payload) == u32::from(check.as_bytes()[0] - b'0')
}

/// Whether `npi` is ten digits passing the NPI check (Luhn over `80840` + NPI).
pub fn npi_valid(npi: &str) -> bool {
    npi.len() == 10 && npi.bytes().all(|b| b.is_ascii_digit()) && luhn_valid(&format!("80840{npi}"))
}

/// Whether `ssn` (`123-45-6789` or nine digits) follows the SSA's rule.
pub fn ssn_valid(ssn: &str) -> bool {
    let digits: String = ssn.chars().filter(char::is_ascii_digit).collect();
    let shaped = ssn.len() == 9 || (ssn.len() == 11 && &ssn[3..4] == "-" && &ssn[6..7] == "-");
    if digits.len() != 9 || !shaped {
        return false;
    }
    let area: u32 = digits[..3].parse().unwrap();
    let group: u32 = digits[3..5].parse().unwrap();
    let serial: u32 = digits[5..].parse().unwrap();
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// Letters an MBI may use: A–Z without S, L, O, I, B, Z.
const MBI_ALPHA: &[u8] = b"ACDEFGHJKMNPQRTUVWXY";

/// Whether `mbi` (dashes allowed) follows the CMS MBI layout.
pub fn mbi_valid(mbi: &str) -> bool {
    let chars: Vec<u8> = mbi.bytes().filter(|b| *b != b'-').collect();
    if chars.len() != 11 {
        return false;
    }
    let alpha = |b: u8| MBI_ALPHA.contains(&b);
    let digit = |b: u8| b.is_ascii_digit();
    (b'1'..=b'9').contains(&chars[0])
        && alpha(chars[1])
        && (alpha(chars[2]) || digit(chars[2]))
        && digit(chars[3])
        && alpha(chars[4])
        && (alpha(chars[5]) || digit(chars[5]))
        && digit(chars[6])
        && alpha(chars[7])
        && alpha(chars[8])
        && digit(chars[9])
        && digit(chars[10])
}

const VIN_WEIGHTS: [u32; 17] = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];

fn vin_value(c: u8) -> Option<u32> {
    Some(match c {
        b'0'..=b'9' => u32::from(c - b'0'),
        b'A' | b'J' => 1,
        b'B' | b'K' | b'S' => 2,
        b'C' | b'L' | b'T' => 3,
        b'D' | b'M' | b'U' => 4,
        b'E' | b'N' | b'V' => 5,
        b'F' | b'W' => 6,
        b'G' | b'P' | b'X' => 7,
        b'H' | b'Y' => 8,
        b'R' | b'Z' => 9,
        _ => return None,
    })
}

fn vin_check_char(vin: &[u8]) -> Option<u8> {
    let mut sum = 0;
    for (i, &c) in vin.iter().enumerate() {
        sum += vin_value(c)? * VIN_WEIGHTS[i];
    }
    Some(match sum % 11 {
        10 => b'X',
        d => b'0' + d as u8,
    })
}

/// Whether `vin` is 17 VIN characters with a correct check digit.
pub fn vin_valid(vin: &str) -> bool {
    let bytes = vin.as_bytes();
    bytes.len() == 17 && vin_check_char(bytes) == Some(bytes[8])
}

// ---------------------------------------------------------------------------
// Randomness and fake values
// ---------------------------------------------------------------------------

/// SplitMix64: small, fast, and ours, so a seed keeps naming the same lines.
#[derive(Clone, Debug)]
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub(super) fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    pub(super) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub(super) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    pub(super) fn weighted<T: Copy>(&mut self, items: &[(T, u32)]) -> T {
        let total: u64 = items.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut roll = self.below(total);
        for &(item, weight) in items {
            if roll < u64::from(weight) {
                return item;
            }
            roll -= u64::from(weight);
        }
        unreachable!("weights sum to {total}")
    }

    pub(super) fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }

    pub(super) fn chars(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n).map(|_| char::from(self.pick(alphabet))).collect()
    }

    pub(super) fn hex(&mut self, n: usize) -> String {
        self.chars(b"0123456789abcdef", n)
    }
}

/// Kubernetes' alphabet for generated name suffixes.
pub(super) const POD_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

pub(super) fn uuid(rng: &mut Rng) -> String {
    let hex = rng.hex(32);
    let variant = rng.pick(b"89ab") as char;
    format!(
        "{}-{}-4{}-{variant}{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

pub(super) fn fake_npi(rng: &mut Rng) -> String {
    let body = format!("{}{}", rng.between(1, 2), rng.digits(8));
    let check = luhn_digit(&format!("80840{body}"));
    format!("{body}{check}")
}

fn fake_ssn(rng: &mut Rng) -> String {
    let area = loop {
        let area = rng.between(1, 899);
        if area != 666 {
            break area;
        }
    };
    format!(
        "{area:03}-{:02}-{:04}",
        rng.between(1, 99),
        rng.between(1, 9999)
    )
}

fn fake_card(rng: &mut Rng) -> String {
    let (prefix, len) = rng.weighted(
        &[
            ("4", 16usize, 45),
            ("51", 16, 5),
            ("52", 16, 5),
            ("53", 16, 5),
            ("54", 16, 5),
            ("55", 16, 5),
            ("34", 15, 5),
            ("37", 15, 10),
            ("6011", 16, 15),
        ]
        .map(|(p, l, w)| ((p, l), w)),
    );
    let body = format!("{prefix}{}", rng.digits(len - 1 - prefix.len()));
    let check = luhn_digit(&body);
    format!("{body}{check}")
}

fn fake_mbi(rng: &mut Rng) -> String {
    let alnum: Vec<u8> = MBI_ALPHA.iter().chain(b"0123456789").copied().collect();
    let mut s = String::with_capacity(11);
    s.push(char::from(b'0' + rng.between(1, 9) as u8));
    s.push(char::from(rng.pick(MBI_ALPHA)));
    s.push(char::from(rng.pick(&alnum)));
    s.push_str(&rng.digits(1));
    s.push(char::from(rng.pick(MBI_ALPHA)));
    s.push(char::from(rng.pick(&alnum)));
    s.push_str(&rng.digits(1));
    s.push(char::from(rng.pick(MBI_ALPHA)));
    s.push(char::from(rng.pick(MBI_ALPHA)));
    s.push_str(&rng.digits(2));
    s
}

fn fake_vin(rng: &mut Rng) -> String {
    const WMI: &[&str] = &[
        "1HG", "1FT", "2T1", "3VW", "JHM", "WBA", "5YJ", "1G1", "KMH",
    ];
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPRSTUVWXYZ0123456789";
    const YEARS: &[u8] = b"ABCDEFGHJKLMNPRSTVWXY123456789";
    let mut vin = rng.pick(WMI).as_bytes().to_vec();
    for _ in 0..5 {
        vin.push(rng.pick(CHARS));
    }
    vin.push(b'0');
    vin.push(rng.pick(YEARS));
    vin.push(rng.pick(CHARS));
    vin.extend(rng.digits(6).bytes());
    vin[8] = vin_check_char(&vin).expect("VIN characters");
    String::from_utf8(vin).unwrap()
}

fn fake_client_ip(rng: &mut Rng) -> String {
    match rng.below(20) {
        0..=5 => format!("203.0.113.{}", rng.between(1, 254)),
        6..=11 => format!("198.51.100.{}", rng.between(1, 254)),
        12..=16 => format!("192.0.2.{}", rng.between(1, 254)),
        _ => format!(
            "2001:db8:{:x}:{:x}::{:x}",
            rng.below(0x10000),
            rng.below(0x10000),
            rng.between(1, 0xffff)
        ),
    }
}

/// `Zoë` → `zoe`, `O'Brennan` → `obrennan`: the local part of an e-mail.
fn mailbox(word: &str) -> String {
    word.chars()
        .filter_map(|c| match c {
            'á' | 'à' | 'ä' => Some('a'),
            'é' | 'è' | 'ë' => Some('e'),
            'í' | 'ï' => Some('i'),
            'ó' | 'ö' => Some('o'),
            'ú' | 'ü' => Some('u'),
            'ñ' => Some('n'),
            '\'' => None,
            c => Some(c.to_ascii_lowercase()),
        })
        .collect()
}

pub(super) fn iso(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

pub(super) fn us_date(date: NaiveDate) -> String {
    date.format("%m/%d/%Y").to_string()
}

pub(super) fn compact_date(date: NaiveDate) -> String {
    date.format("%Y%m%d").to_string()
}

const AREA_CODES: &[u16] = &[
    617, 312, 415, 206, 503, 614, 919, 512, 303, 404, 808, 907, 414, 615,
];

#[derive(Clone, Copy, Debug)]
pub(super) struct Phone {
    pub(super) area: u16,
    pub(super) line: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PhoneStyle {
    /// `617-555-0142`
    Dashed,
    /// `(617) 555-0142`
    Parens,
    /// `(617)555-0142`, HL7's XTN
    Tight,
    /// `617.555.0142`
    Dotted,
    /// `+16175550142`
    E164,
    /// `+1-617-555-0142`
    Plus,
}

impl Phone {
    pub(super) fn new(rng: &mut Rng) -> Phone {
        Phone {
            area: rng.pick(AREA_CODES),
            line: rng.between(100, 199) as u16,
        }
    }

    pub(super) fn format(self, style: PhoneStyle) -> String {
        let (a, l) = (self.area, self.line);
        match style {
            PhoneStyle::Dashed => format!("{a}-555-{l:04}"),
            PhoneStyle::Parens => format!("({a}) 555-{l:04}"),
            PhoneStyle::Tight => format!("({a})555-{l:04}"),
            PhoneStyle::Dotted => format!("{a}.555.{l:04}"),
            PhoneStyle::E164 => format!("+1{a}555{l:04}"),
            PhoneStyle::Plus => format!("+1-{a}-555-{l:04}"),
        }
    }
}

const STREETS: &[&str] = &[
    "Larkspur Ln",
    "Quarry Rd",
    "Willowmere Ave",
    "Tanager Ct",
    "Old Mill Rd",
    "Harbor View Dr",
    "Cobblestone Way",
    "Juniper St",
    "Foxglove Ln",
    "Kestrel Ave",
    "Millbrook Rd",
    "Saltmarsh Dr",
];

const CITIES: &[(&str, &str)] = &[
    ("Springfield", "MA"),
    ("Riverton", "WY"),
    ("Fairview", "OR"),
    ("Lakewood", "CO"),
    ("Greenville", "SC"),
    ("Franklin", "TN"),
    ("Clinton", "IA"),
    ("Georgetown", "TX"),
    ("Salem", "OR"),
    ("Madison", "WI"),
];

const DEVICE_MODELS: &[(&str, &str)] = &[
    ("PX4410", "Infusion pump"),
    ("CGM-G7", "Continuous glucose monitor"),
    ("ICD-4729", "Implantable cardioverter-defibrillator"),
    ("INS-8700", "Insulin pump"),
    ("VNT-320", "Home ventilator"),
    ("SPO2-M9", "Pulse oximeter"),
];

/// One fictional patient: every value a PHI line may need, consistent with
/// each other (the e-mail is made from the name).
#[derive(Clone, Debug)]
pub(super) struct Patient {
    pub(super) first: &'static str,
    pub(super) last: &'static str,
    pub(super) middle: char,
    pub(super) sex: &'static str,
    pub(super) dob: NaiveDate,
    pub(super) ssn: String,
    pub(super) phone: Phone,
    pub(super) fax: Phone,
    pub(super) email: String,
    pub(super) mrn: String,
    pub(super) member_id: String,
    pub(super) account: String,
    pub(super) card: String,
    pub(super) mbi: String,
    pub(super) license: String,
    pub(super) license_state: &'static str,
    pub(super) device_serial: String,
    pub(super) device_kind: &'static str,
    pub(super) vin: String,
    pub(super) street: String,
    pub(super) city: &'static str,
    pub(super) state: &'static str,
    pub(super) zip: String,
    pub(super) client_ip: String,
    pub(super) admitted: NaiveDate,
}

impl Patient {
    pub(super) fn new(rng: &mut Rng, now_ms: i64) -> Patient {
        let first = rng.pick(FIRST_NAMES);
        let last = rng.pick(LAST_NAMES);
        let (f, l) = (mailbox(first), mailbox(last));
        let local = match rng.below(5) {
            0 => format!("{f}.{l}"),
            1 => format!("{}{l}", &f[..1]),
            2 => format!("{f}.{l}{}", rng.between(1, 99)),
            3 => format!("{f}_{l}{}", rng.between(1950, 2010)),
            _ => format!("{f}.{l}+portal"),
        };
        let email = format!(
            "{local}@{}",
            rng.pick(&["example.org", "example.com", "example.net"])
        );
        let epoch = NaiveDate::from_ymd_opt(1930, 1, 1).unwrap();
        let dob = epoch + chrono::Days::new(rng.below(33_238)); // to 2020-12-31
        let today = utc(now_ms).date_naive();
        let admitted = today - chrono::Days::new(rng.between(1, 45));
        let (city, state) = rng.pick(CITIES);
        let zip = if rng.chance(12) {
            format!(
                "{:05}-{:04}",
                rng.between(1001, 99950),
                rng.between(1, 9999)
            )
        } else {
            format!("{:05}", rng.between(1001, 99950))
        };
        let license_state = rng.pick(&["CA", "MA", "NY", "TX", "WA"]);
        let license = match license_state {
            "CA" => format!("{}{}", rng.pick(&['D', 'E', 'F', 'N', 'Y']), rng.digits(7)),
            "MA" => format!("S{}", rng.digits(8)),
            "WA" => format!("WDL{}", rng.chars(b"ABCDEFGHJKLMNPRSTUVWXYZ0123456789", 9)),
            _ => format!("{}{}", rng.pick(&['A', 'B', 'K', 'M']), rng.digits(8)),
        };
        let (model, device_kind) = rng.pick(DEVICE_MODELS);
        let member_id = if rng.chance(70) {
            format!(
                "{}{}",
                rng.chars(b"ABCDEFGHJKLMNPRSTUVWXYZ", 3),
                rng.digits(9)
            )
        } else {
            format!("W{}", rng.digits(10))
        };
        Patient {
            first,
            last,
            middle: char::from(b'A' + rng.below(26) as u8),
            sex: rng.pick(&["F", "M", "U"]),
            dob,
            ssn: fake_ssn(rng),
            phone: Phone::new(rng),
            fax: Phone::new(rng),
            email,
            mrn: rng.digits(7),
            member_id,
            account: format!("A{}", rng.digits(10)),
            card: fake_card(rng),
            mbi: fake_mbi(rng),
            license,
            license_state,
            device_serial: format!("{model}-{}", rng.digits(7)),
            device_kind,
            vin: fake_vin(rng),
            street: format!("{} {}", rng.between(1, 9999), rng.pick(STREETS)),
            city,
            state,
            zip,
            client_ip: fake_client_ip(rng),
            admitted,
        }
    }

    pub(super) fn full_name(&self) -> String {
        format!("{} {}", self.first, self.last)
    }
}
