//! Table-driven cases per validator (published test values and their near
//! misses), and property tests: random valid numbers, made by reference
//! implementations written independently of the checks, pass, and changing
//! any one of their digits makes them fail wherever the scheme guarantees it.

use proptest::prelude::*;

use super::Validator::{self, *};

fn check_table(validator: Validator, cases: &[(&str, bool)]) {
    for &(candidate, expected) in cases {
        assert_eq!(
            validator.check(candidate),
            expected,
            "{validator:?} on {candidate:?}"
        );
    }
}

#[test]
fn ssn() {
    check_table(
        Ssn,
        &[
            ("123-45-6789", true),
            ("123456789", true),
            ("123 45 6789", true),
            ("123.45.6789", true),
            ("001-01-0001", true),
            ("665-12-3456", true),
            ("667-12-3456", true),
            ("899-99-9999", true),
            // Reserved areas, group and serial.
            ("000-12-3456", false),
            ("666-12-3456", false),
            ("900-12-3456", false),
            ("987-65-4321", false),
            ("999-99-9999", false),
            ("123-00-4567", false),
            ("123-45-0000", false),
            // Length and characters.
            ("123-45-678", false),
            ("123-45-67890", false),
            ("123/45/6789", false),
            ("123-45-678O", false),
            ("１２３-45-6789", false),
            ("", false),
        ],
    );
}

#[test]
fn luhn() {
    check_table(
        Luhn,
        &[
            // Published card-network test numbers.
            ("4111111111111111", true),
            ("4111-1111-1111-1111", true),
            ("4111 1111 1111 1111", true),
            ("4111.1111.1111.1111", true),
            ("5555555555554444", true),
            ("378282246310005", true),
            ("6011111111111117", true),
            ("4222222222222", true),
            ("3530111333300000", true),
            // One digit changed.
            ("4111111111111112", false),
            ("4111111111111121", false),
            ("5555555555554445", false),
            // Valid Luhn, wrong length: 11 and 20 digits.
            ("79927398713", false),
            ("41111111111111111115", false),
            // Other characters.
            ("4111_1111_1111_1111", false),
            ("4111-1111-1111-111x", false),
            ("", false),
        ],
    );
}

#[test]
fn npi() {
    check_table(
        Npi,
        &[
            // The CMS example NPI.
            ("1234567893", true),
            ("123-456-7893", true),
            ("1234567890", false),
            ("1234567839", false),
            ("123456789", false),
            ("12345678930", false),
            // Luhn over the bare ten digits is a different check.
            ("1234567897", false),
            ("123456789A", false),
        ],
    );
}

#[test]
fn dea() {
    check_table(
        Dea,
        &[
            // 1+3+5 + 2*(2+4+6) = 33: check digit 3.
            ("AB1234563", true),
            ("ab1234563", true),
            ("AB-1234563", true),
            ("AB 1234563", true),
            ("MB1234563", true),
            ("X91234563", true),
            ("F91234563", true),
            ("AB1234564", false),
            ("AB1234553", false),
            // Registrant type: I, N, O, Q, V, W, Y, Z and digits are not types.
            ("IB1234563", false),
            ("NB1234563", false),
            ("ZB1234563", false),
            ("1B1234563", false),
            // Second character: a letter or 9 only.
            ("A81234563", false),
            // Length and layout.
            ("AB123456", false),
            ("AB12345630", false),
            ("ABC234563", false),
            ("AB.1234563", false),
        ],
    );
}

#[test]
fn aba() {
    check_table(
        Aba,
        &[
            ("011000015", true),
            ("021000021", true),
            ("0210-0002-1", true),
            ("021 000 021", true),
            ("021000022", false),
            ("012000021", false),
            ("000000000", false),
            ("02100002", false),
            ("0210000210", false),
            ("02100002A", false),
        ],
    );
}

#[test]
fn mbi() {
    check_table(
        Mbi,
        &[
            // The CMS example.
            ("1EG4-TE5-MK73", true),
            ("1EG4TE5MK73", true),
            ("1eg4-te5-mk73", true),
            // Positions 3 and 6 may be digits.
            ("1E04-T05-MK73", true),
            ("9AA9AA9AA99", true),
            // Position 1: a digit 1-9.
            ("0EG4-TE5-MK73", false),
            ("AEG4-TE5-MK73", false),
            // Letters CMS leaves out, in each letter position.
            ("1SG4-TE5-MK73", false),
            ("1EL4-TE5-MK73", false),
            ("1EG4-OE5-MK73", false),
            ("1EG4-TI5-MK73", false),
            ("1EG4-TE5-BK73", false),
            ("1EG4-TE5-MZ73", false),
            // Digits where letters go and letters where digits go.
            ("11G4-TE5-MK73", false),
            ("1EGA-TE5-MK73", false),
            ("1EG4-TEA-MK73", false),
            ("1EG4-TE5-MK7A", false),
            // Length and separators.
            ("1EG4-TE5-MK7", false),
            ("1EG4-TE5-MK733", false),
            ("1EG4 TE5 MK73", false),
        ],
    );
}

#[test]
fn vin() {
    check_table(
        Vin,
        &[
            ("1M8GDM9AXKP042788", true),
            ("1m8gdm9axkp042788", true),
            ("11111111111111111", true),
            ("1HGCM82633A004352", true),
            ("1M8GDM9AXKP042789", false),
            ("1M8GDM9A1KP042788", false),
            ("11111111211111111", false),
            // I, O and Q are never in a VIN.
            ("1M8GDM9AXKP0I2788", false),
            ("1M8GDM9AXKPO42788", false),
            ("1M8GDM9AXKPQ42788", false),
            // Length and separators.
            ("1M8GDM9AXKP04278", false),
            ("1M8GDM9AXKP0427888", false),
            ("1M8GDM9AX-KP042788", false),
            ("1M8GDM9AX KP042788", false),
        ],
    );
}

#[test]
fn iban() {
    check_table(
        Iban,
        &[
            ("GB82WEST12345698765432", true),
            ("GB82 WEST 1234 5698 7654 32", true),
            ("gb82 west 1234 5698 7654 32", true),
            ("DE89370400440532013000", true),
            ("FR1420041010050500013M02606", true),
            // Norway: the shortest, 15.
            ("NO9386011117947", true),
            ("GB82WEST12345698765433", false),
            ("GB28WEST12345698765432", false),
            ("DE89370400440532013001", false),
            // Layout: letters then digits up front; 15 to 34 long.
            ("1B82WEST12345698765432", false),
            ("GBX2WEST12345698765432", false),
            ("NO938601111794", false),
            ("GB82-WEST-1234-5698-7654-32", false),
            ("GB82WEST1234569876543200000000000000", false),
        ],
    );
}

/// Check digits 00, 01 and 99 pass the modulus wherever 97, 98 and 02 do
/// (they are equal modulo 97), but ISO 13616 never issues them.
#[test]
fn iban_alias_check_digits_fail() {
    for (issued, alias) in [("97", "00"), ("98", "01"), ("02", "99")] {
        let account = (0..)
            .map(|n| format!("{n:011}"))
            .find(|bban| iban_with_check_digits("NO", bban)[2..4] == *issued)
            .unwrap();
        let valid = format!("NO{issued}{account}");
        let aliased = format!("NO{alias}{account}");
        assert!(Iban.check(&valid), "{valid}");
        assert_eq!(iban_mod97(&format!("{account}NO{alias}")), 1);
        assert!(!Iban.check(&aliased), "{aliased}");
    }
}

const ALL: [Validator; 8] = [Ssn, Luhn, Npi, Dea, Aba, Mbi, Vin, Iban];

// ---- reference implementations, written for clarity, not speed ----

fn digit_string(digits: &[u8]) -> String {
    digits.iter().map(|d| char::from(b'0' + d)).collect()
}

/// The Luhn check digit for `payload`: doubled digits summed as decimal text.
fn luhn_check_digit(payload: &[u8]) -> u8 {
    let sum: u32 = payload
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = if i % 2 == 0 { d * 2 } else { d };
            d.to_string()
                .chars()
                .map(|c| c.to_digit(10).unwrap())
                .sum::<u32>()
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

fn vin_char_value(c: char) -> u32 {
    const TABLE: &[(&str, u32)] = &[
        ("AJ", 1),
        ("BKS", 2),
        ("CLT", 3),
        ("DMU", 4),
        ("ENV", 5),
        ("FW", 6),
        ("GPX", 7),
        ("HY", 8),
        ("RZ", 9),
    ];
    c.to_digit(10).unwrap_or_else(|| {
        TABLE
            .iter()
            .find(|(letters, _)| letters.contains(c))
            .map(|&(_, value)| value)
            .unwrap()
    })
}

fn vin_check_char(vin: &str) -> char {
    let weights = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];
    let sum: u32 = vin
        .chars()
        .zip(weights)
        .map(|(c, w)| vin_char_value(c) * w)
        .sum();
    match sum % 11 {
        10 => 'X',
        digit => char::from_digit(digit, 10).unwrap(),
    }
}

/// ISO 7064 MOD 97-10 over the decimal expansion, with u128 chunks.
fn iban_mod97(text: &str) -> u32 {
    let digits: String = text
        .chars()
        .map(|c| c.to_digit(36).unwrap().to_string())
        .collect();
    let mut remainder: u128 = 0;
    for chunk in digits.as_bytes().chunks(20) {
        let chunk = std::str::from_utf8(chunk).unwrap();
        let value: u128 = format!("{remainder}{chunk}").parse().unwrap();
        remainder = value % 97;
    }
    remainder as u32
}

fn iban_with_check_digits(country: &str, bban: &str) -> String {
    let check = 98 - iban_mod97(&format!("{bban}{country}00"));
    format!("{country}{check:02}{bban}")
}

/// Every text made from `valid` by changing one digit to another digit.
fn single_digit_changes(valid: &str) -> Vec<(usize, u8, String)> {
    let mut changed = Vec::new();
    for (i, c) in valid.bytes().enumerate() {
        if !c.is_ascii_digit() {
            continue;
        }
        for other in b'0'..=b'9' {
            if other != c {
                let mut bytes = valid.as_bytes().to_vec();
                bytes[i] = other;
                changed.push((i, other, String::from_utf8(bytes).unwrap()));
            }
        }
    }
    changed
}

fn assert_every_single_digit_change_fails(validator: Validator, valid: &str) {
    assert!(validator.check(valid), "{validator:?} on {valid:?}");
    for (_, _, changed) in single_digit_changes(valid) {
        assert!(!validator.check(&changed), "{validator:?} on {changed:?}");
    }
}

#[test]
fn published_check_digit_values_fail_with_any_digit_changed() {
    for (validator, valid) in [
        (Luhn, "4111111111111111"),
        (Luhn, "378282246310005"),
        (Npi, "1234567893"),
        (Aba, "011000015"),
        (Vin, "1M8GDM9AXKP042788"),
        (Iban, "GB82WEST12345698765432"),
    ] {
        assert_every_single_digit_change_fails(validator, valid);
    }
}

fn vin_strategy() -> impl Strategy<Value = String> {
    // Any character a VIN may hold, in every position but the check digit.
    let chars: Vec<char> = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ".chars().collect();
    proptest::collection::vec(proptest::sample::select(chars), 16).prop_map(|chars| {
        let mut vin: String = chars.iter().take(8).collect();
        vin.push('0');
        vin.extend(chars.iter().skip(8));
        let check = vin_check_char(&vin);
        vin.replace_range(8..9, &check.to_string());
        vin
    })
}

proptest! {
    /// Luhn detects every single-digit change: a changed digit alters the sum
    /// by a non-zero amount below 10, doubled or not.
    #[test]
    fn luhn_single_digit_changes_fail(
        payload in proptest::collection::vec(0u8..10, 11..=18),
        grouped in any::<bool>(),
    ) {
        let mut digits = payload.clone();
        digits.push(luhn_check_digit(&payload));
        let mut valid = digit_string(&digits);
        if grouped {
            valid = valid
                .as_bytes()
                .chunks(4)
                .map(|chunk| std::str::from_utf8(chunk).unwrap())
                .collect::<Vec<_>>()
                .join(" ");
        }
        assert_every_single_digit_change_fails(Luhn, &valid);
    }

    /// NPI is Luhn under a fixed prefix, so the same holds.
    #[test]
    fn npi_single_digit_changes_fail(payload in proptest::collection::vec(0u8..10, 9)) {
        let mut prefixed = vec![8, 0, 8, 4, 0];
        prefixed.extend(&payload);
        let mut digits = payload.clone();
        digits.push(luhn_check_digit(&prefixed));
        assert_every_single_digit_change_fails(Npi, &digit_string(&digits));
    }

    /// ABA weights 3, 7 and 1 are all prime to 10, so any change to one digit
    /// changes the sum modulo 10.
    #[test]
    fn aba_single_digit_changes_fail(payload in proptest::collection::vec(0u8..10, 8)) {
        prop_assume!(payload.iter().any(|&d| d != 0));
        let weights = [3, 7, 1, 3, 7, 1, 3, 7];
        let sum: u32 = payload.iter().zip(weights).map(|(&d, w)| u32::from(d) * w).sum();
        let mut digits = payload.clone();
        digits.push(((10 - sum % 10) % 10) as u8);
        assert_every_single_digit_change_fails(Aba, &digit_string(&digits));
    }

    /// DEA weighs d2, d4, d6 by 2 modulo 10, so changing one of them by 5
    /// goes unnoticed (2 × 5 = 10); every other single-digit change fails.
    #[test]
    fn dea_single_digit_changes_fail_except_by_five_in_even_places(
        kind in proptest::sample::select(b"ABCDEFGHJKLMPRSTUX".to_vec()),
        second in proptest::sample::select(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ9".to_vec()),
        d in proptest::collection::vec(0u8..10, 6),
    ) {
        let check = (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10;
        let valid = format!(
            "{}{}{}{check}",
            char::from(kind),
            char::from(second),
            digit_string(&d)
        );
        prop_assert!(Dea.check(&valid), "{valid}");
        for (i, other, changed) in single_digit_changes(&valid) {
            let original = valid.as_bytes()[i];
            let undetectable = matches!(i, 3 | 5 | 7) && original.abs_diff(other) == 5;
            prop_assert_eq!(Dea.check(&changed), undetectable, "{}", changed);
        }
    }

    /// The VIN sum is taken modulo 11, a prime, with non-zero weights outside
    /// the check digit, so a changed digit always shows. (A letter swapped
    /// for one of the same value, A for J, does not: no check could see it.)
    #[test]
    fn vin_single_digit_changes_fail(vin in vin_strategy()) {
        assert_every_single_digit_change_fails(Vin, &vin);
    }

    /// Modulo 97, a prime, a changed digit changes the number by d × 10^k,
    /// never a multiple of 97.
    #[test]
    fn iban_single_digit_changes_fail(
        country in "[A-Z]{2}",
        bban in "[0-9A-Z]{11,30}",
    ) {
        let valid = iban_with_check_digits(&country, &bban);
        prop_assume!(!matches!(&valid[2..4], "00" | "01" | "99"));
        assert_every_single_digit_change_fails(Iban, &valid);
    }

    /// The SSN check agrees with the rules read as text ranges.
    #[test]
    fn ssn_agrees_with_the_ranges(d in proptest::collection::vec(0u8..10, 9)) {
        let text = digit_string(&d);
        let (area, group, serial) = (&text[..3], &text[3..5], &text[5..]);
        let issuable = area != "000" && area != "666" && area < "900" && group != "00"
            && serial != "0000";
        let dashed = format!("{area}-{group}-{serial}");
        prop_assert_eq!(Ssn.check(&text), issuable);
        prop_assert_eq!(Ssn.check(&dashed), issuable);
    }

    /// MBIs built from the CMS layout pass, in either case, with or without
    /// the dashes.
    #[test]
    fn mbi_layout_passes(
        first in proptest::sample::select(b"123456789".to_vec()),
        letters in proptest::collection::vec(
            proptest::sample::select(b"ACDEFGHJKMNPQRTUVWXY".to_vec()), 4),
        either in proptest::collection::vec(
            proptest::sample::select(b"ACDEFGHJKMNPQRTUVWXY0123456789".to_vec()), 2),
        digits in proptest::collection::vec(0u8..10, 4),
        lower in any::<bool>(),
    ) {
        let c = char::from;
        let d = |i: usize| char::from(b'0' + digits[i]);
        let mut mbi = format!(
            "{}{}{}{}-{}{}{}-{}{}{}{}",
            c(first), c(letters[0]), c(either[0]), d(0),
            c(letters[1]), c(either[1]), d(1),
            c(letters[2]), c(letters[3]), d(2), d(3),
        );
        if lower {
            mbi = mbi.to_ascii_lowercase();
        }
        prop_assert!(Mbi.check(&mbi), "{}", mbi);
        prop_assert!(Mbi.check(&mbi.replace('-', "")), "{}", mbi);
    }

    /// No input makes a check panic, however long or strange.
    #[test]
    fn checks_take_any_text(text in "\\PC{0,80}") {
        for validator in ALL {
            let _ = validator.check(&text);
        }
    }
}
