//! Validators: checks that cut false positives. A candidate matched by a
//! rule's pattern is only replaced if its layout and check digits say it can
//! be what the rule is about (an SSN's area, a card's Luhn digit, …).
//!
//! # Design notes
//!
//! **Separators are the format's, not the pattern's.** A candidate arrives as
//! written (`4111-1111-1111-1111`, `GB82 WEST 1234 …`); each check drops the
//! separators its format is written with and rejects any other character, so a
//! loose pattern cannot smuggle `4111x1111…` past a Luhn check. Letters are
//! compared ignoring ASCII case: logs lowercase identifiers as often as not, and
//! a validator exists to reject what cannot be an identifier, not to miss one
//! that was typed in lower case.
//!
//! **No allocation.** Checks run for every candidate a pattern finds, on the
//! hot path, so a candidate's significant characters are copied into a
//! fixed-size buffer on the stack ([`Compact`]); the longest format (an IBAN)
//! has 34, and anything longer is rejected before it is read further.
//!
//! **What check digits catch.** Every check-digit scheme here detects any
//! single changed digit, with one exception: DEA weighs digits 2, 4 and 6 by 2
//! modulo 10, so changing one of them by 5 leaves the check digit right. The
//! property tests state this per scheme.

use serde::Deserialize;

/// The checks a `pattern` or `context` rule may name with `validator:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Validator {
    /// US Social Security number: nine digits; area (first three) not 000,
    /// 666 or 900–999; group (next two) not 00; serial (last four) not 0000.
    /// Separators: spaces, `-`, `.`. Example: `123-45-6789`.
    Ssn,
    /// Payment card number: 12 to 19 digits whose last is the Luhn check digit.
    /// Separators: spaces, `-`, `.`. Example: `4111 1111 1111 1111`.
    Luhn,
    /// National Provider Identifier: ten digits, the Luhn check digit computed
    /// over `80840` followed by them. Separators: spaces, `-`, `.`.
    /// Example: `1234567893`.
    Npi,
    /// DEA registration number: a registrant-type letter (A–H, J–M, P, R–U,
    /// X), a letter or `9`, six digits and a check digit: the last digit of
    /// d1 + d3 + d5 + 2 × (d2 + d4 + d6). Letters in either case; separators:
    /// spaces, `-`. Example: `AB1234563`.
    Dea,
    /// ABA routing number: nine digits, not all zero, whose sum weighted
    /// 3, 7, 1, 3, 7, 1, 3, 7, 1 is a multiple of 10. Separators: spaces, `-`,
    /// `.`. Example: `011000015`.
    Aba,
    /// Medicare Beneficiary Identifier: eleven characters in the CMS layout
    /// (a digit 1–9; letters without S, L, O, I, B, Z in positions 2, 5, 8, 9;
    /// such a letter or a digit in 3 and 6; digits in 4, 7, 10, 11). Either
    /// case; separators: `-`. Example: `1EG4-TE5-MK73`.
    Mbi,
    /// Vehicle identification number: seventeen letters and digits without I,
    /// O, Q, whose ninth is the check digit (`X` for 10). Either case; no
    /// separators. Vehicles built for markets outside North America may carry
    /// no check digit, and this check rejects those. Example: `1M8GDM9AXKP042788`.
    Vin,
    /// International bank account number: 15 to 34 letters and digits, a
    /// country code, two check digits (not 00, 01 or 99) and an account part,
    /// the whole being 1 modulo 97 (ISO 13616). Either case; separators: spaces.
    /// Example: `GB82 WEST 1234 5698 7654 32`.
    Iban,
}

impl Validator {
    /// Whether `candidate`, the matched text with its separators (dashes,
    /// spaces, dots, as the format allows), passes this check.
    pub fn check(self, candidate: &str) -> bool {
        match self {
            Validator::Ssn => ssn(candidate),
            Validator::Luhn => luhn(candidate),
            Validator::Npi => npi(candidate),
            Validator::Dea => dea(candidate),
            Validator::Aba => aba(candidate),
            Validator::Mbi => mbi(candidate),
            Validator::Vin => vin(candidate),
            Validator::Iban => iban(candidate),
        }
    }
}

/// Separators of identifiers written as digit groups.
const DIGIT_GROUP_SEPARATORS: &[u8] = b" -.";

/// The most significant characters any format has: an IBAN's 34.
const MAX_SIGNIFICANT: usize = 34;

/// A candidate's significant characters: separators dropped, letters upper
/// case, on the stack.
struct Compact {
    chars: [u8; MAX_SIGNIFICANT],
    len: usize,
}

impl Compact {
    /// `None` when `candidate` holds a character that is neither an ASCII
    /// letter or digit nor one of `separators`, or more than
    /// [`MAX_SIGNIFICANT`] significant characters.
    fn new(candidate: &str, separators: &[u8]) -> Option<Compact> {
        let mut compact = Compact {
            chars: [0; MAX_SIGNIFICANT],
            len: 0,
        };
        for &byte in candidate.as_bytes() {
            if separators.contains(&byte) {
                continue;
            }
            if !byte.is_ascii_alphanumeric() || compact.len == MAX_SIGNIFICANT {
                return None;
            }
            compact.chars[compact.len] = byte.to_ascii_uppercase();
            compact.len += 1;
        }
        Some(compact)
    }

    fn as_bytes(&self) -> &[u8] {
        &self.chars[..self.len]
    }
}

/// The digit values of a candidate that is exactly `N` digits once its
/// separators are dropped.
fn digits<const N: usize>(candidate: &str, separators: &[u8]) -> Option<[u8; N]> {
    let compact = Compact::new(candidate, separators)?;
    let chars: [u8; N] = compact.as_bytes().try_into().ok()?;
    if !chars.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(chars.map(|c| c - b'0'))
}

fn number(digits: &[u8]) -> u16 {
    digits.iter().fold(0, |n, &d| n * 10 + u16::from(d))
}

/// The Social Security Administration's rules for numbers it can issue.
fn ssn(candidate: &str) -> bool {
    let Some(d) = digits::<9>(candidate, DIGIT_GROUP_SEPARATORS) else {
        return false;
    };
    let (area, group, serial) = (number(&d[..3]), number(&d[3..5]), number(&d[5..]));
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// Whether the digit values, the check digit last, pass the Luhn check.
fn luhn_valid(digits: impl DoubleEndedIterator<Item = u8>) -> bool {
    let sum: u32 = digits
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d);
            // Every second digit from the right, the check digit being the
            // first, is doubled and its two digits summed (d * 2 - 9).
            if i % 2 == 1 {
                if d > 4 {
                    d * 2 - 9
                } else {
                    d * 2
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn luhn(candidate: &str) -> bool {
    let Some(compact) = Compact::new(candidate, DIGIT_GROUP_SEPARATORS) else {
        return false;
    };
    let chars = compact.as_bytes();
    (12..=19).contains(&chars.len())
        && chars.iter().all(u8::is_ascii_digit)
        && luhn_valid(chars.iter().map(|c| c - b'0'))
}

/// The NPI check digit is a card-style Luhn digit: an NPI is a card number
/// under the health-industry issuer prefix 80840 (ISO 7812), written without it.
fn npi(candidate: &str) -> bool {
    const HEALTH_INDUSTRY_PREFIX: [u8; 5] = [8, 0, 8, 4, 0];
    let Some(d) = digits::<10>(candidate, DIGIT_GROUP_SEPARATORS) else {
        return false;
    };
    luhn_valid(HEALTH_INDUSTRY_PREFIX.into_iter().chain(d))
}

/// First letters of DEA numbers: the registrant types (practitioners,
/// hospitals, mid-level practitioners, distributors, narcotic treatment
/// programs, …).
const DEA_REGISTRANT_TYPES: &[u8] = b"ABCDEFGHJKLMPRSTUX";

fn dea(candidate: &str) -> bool {
    let Some(compact) = Compact::new(candidate, b" -") else {
        return false;
    };
    let Ok([kind, second, rest @ ..]) = <[u8; 9]>::try_from(compact.as_bytes()) else {
        return false;
    };
    if !DEA_REGISTRANT_TYPES.contains(&kind)
        || !(second.is_ascii_uppercase() || second == b'9')
        || !rest.iter().all(u8::is_ascii_digit)
    {
        return false;
    }
    let d = rest.map(|c| u32::from(c - b'0'));
    (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10 == d[6]
}

fn aba(candidate: &str) -> bool {
    let Some(d) = digits::<9>(candidate, DIGIT_GROUP_SEPARATORS) else {
        return false;
    };
    let sum: u32 = d
        .iter()
        .zip([3, 7, 1].iter().cycle())
        .map(|(&d, &w)| u32::from(d) * w)
        .sum();
    sum.is_multiple_of(10) && d.iter().any(|&d| d != 0)
}

/// Letters an MBI may hold: CMS leaves out S, L, O, I, B and Z, which read
/// as 5, 1, 0, 1, 8 and 2.
fn is_mbi_letter(c: u8) -> bool {
    c.is_ascii_uppercase() && !b"SLOIBZ".contains(&c)
}

fn mbi(candidate: &str) -> bool {
    let Some(compact) = Compact::new(candidate, b"-") else {
        return false;
    };
    let chars = compact.as_bytes();
    chars.len() == 11
        && chars.iter().enumerate().all(|(i, &c)| match i + 1 {
            1 => matches!(c, b'1'..=b'9'),
            2 | 5 | 8 | 9 => is_mbi_letter(c),
            3 | 6 => is_mbi_letter(c) || c.is_ascii_digit(),
            _ => c.is_ascii_digit(),
        })
}

/// A VIN character's value in the check-digit sum (ISO 3779 / 49 CFR 565):
/// digits are themselves, letters follow the transliteration table. `None`
/// for I, O and Q, which a VIN never holds.
fn vin_value(c: u8) -> Option<u32> {
    let value = match c {
        b'0'..=b'9' => c - b'0',
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
    };
    Some(u32::from(value))
}

const VIN_WEIGHTS: [u32; 17] = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];

fn vin(candidate: &str) -> bool {
    let Some(compact) = Compact::new(candidate, b"") else {
        return false;
    };
    let Ok(chars) = <[u8; 17]>::try_from(compact.as_bytes()) else {
        return false;
    };
    let mut sum = 0;
    for (&c, weight) in chars.iter().zip(VIN_WEIGHTS) {
        let Some(value) = vin_value(c) else {
            return false;
        };
        sum += value * weight;
    }
    let expected = match sum % 11 {
        10 => b'X',
        digit => b'0' + digit as u8,
    };
    chars[8] == expected
}

fn iban(candidate: &str) -> bool {
    let Some(compact) = Compact::new(candidate, b" ") else {
        return false;
    };
    let chars = compact.as_bytes();
    if !(15..=34).contains(&chars.len())
        || !chars[..2].iter().all(u8::is_ascii_uppercase)
        || !chars[2..4].iter().all(u8::is_ascii_digit)
    {
        return false;
    }
    // 00, 01 and 99 pass the modulus (they alias 97, 98 and 02) but ISO 13616
    // never assigns them.
    if matches!(&chars[2..4], b"00" | b"01" | b"99") {
        return false;
    }
    // The country code and check digits move to the end and each letter
    // becomes two digits (A = 10 … Z = 35); the remainder is carried digit by
    // digit, so the 60-odd-digit number is never built.
    let remainder = chars[4..]
        .iter()
        .chain(&chars[..4])
        .fold(0u32, |r, &c| match c {
            b'0'..=b'9' => (r * 10 + u32::from(c - b'0')) % 97,
            _ => (r * 100 + u32::from(c - b'A') + 10) % 97,
        });
    remainder == 1
}

#[cfg(test)]
mod tests;
