//! Validators: checks that cut false positives. A candidate matched by a
//! rule's pattern is only replaced if its layout and check digits say it can
//! be what the rule is about (an SSN's area, a card's Luhn digit, …).

use serde::Deserialize;

/// The checks a `pattern` or `context` rule may name with `validator:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Validator {
    /// US Social Security number: area not 000, 666 or 9xx; group not 00;
    /// serial not 0000.
    Ssn,
    /// Payment card number: Luhn check digit.
    Luhn,
    /// National Provider Identifier: Luhn over `80840` + the ten digits.
    Npi,
    /// DEA registration number: two letters, seven digits, check digit.
    Dea,
    /// ABA routing number: weights 3, 7, 1 sum to a multiple of 10.
    Aba,
    /// Medicare Beneficiary Identifier: the CMS character layout.
    Mbi,
    /// Vehicle identification number: the check digit in position 9.
    Vin,
    /// International bank account number: mod 97 equals 1.
    Iban,
}

impl Validator {
    /// Whether `candidate`, the matched text with its separators (dashes,
    /// spaces), passes this check.
    pub fn check(self, candidate: &str) -> bool {
        // Filled in by the validators change; until then nothing passes, so a
        // rule naming a validator replaces nothing it cannot prove.
        let _ = candidate;
        false
    }
}
