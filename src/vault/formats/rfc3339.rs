//! Whether an object's `created_at` / `updated_at` text is an RFC 3339
//! timestamp, as chrono's `DateTime::parse_from_rfc3339` decides.
//!
//! Every object of a cold index has both fields checked (benchmark B1), and
//! chrono's general parser was 4% of the reading thread (callgrind). The
//! usual form, `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, is checked here
//! field by field; any other text (a lower-case `t`, a space, a leap
//! second, a long fraction) is left to chrono, so the answer is chrono's.

/// Whether `text` is a timestamp chrono reads as RFC 3339.
pub fn is_valid(text: &str) -> bool {
    match usual_form(text.as_bytes()) {
        Some(valid) => valid,
        None => chrono::DateTime::parse_from_rfc3339(text).is_ok(),
    }
}

/// `Some(valid)` for text of the usual form, `None` for any other.
fn usual_form(b: &[u8]) -> Option<bool> {
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if b.len() < 20 || separators.iter().any(|&(at, c)| b[at] != c) {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    // The fraction: a dot and one to nine digits.
    let mut at = 19;
    if b[at] == b'.' {
        let digits_end = b[at + 1..]
            .iter()
            .position(|c| !c.is_ascii_digit())
            .map_or(b.len(), |n| at + 1 + n);
        if !(1..=9).contains(&(digits_end - at - 1)) {
            return None;
        }
        at = digits_end;
    }
    let offset_valid = match &b[at..] {
        [b'Z'] => true,
        [sign, h1, h2, b':', m1, m2] if *sign == b'+' || *sign == b'-' => {
            let hours = digits(&[*h1, *h2])?;
            let minutes = digits(&[*m1, *m2])?;
            hours < 24 && minutes < 60
        }
        _ => return None,
    };
    if second == 60 {
        return None; // a leap second: chrono's rules
    }
    Some(
        offset_valid
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month)
            && hour < 24
            && minute < 60
            && second < 60,
    )
}

/// The ASCII digits `d` as a number, or `None` if one is not a digit.
fn digits(d: &[u8]) -> Option<u32> {
    d.iter().try_fold(0u32, |n, c| {
        c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
    })
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chrono_says(text: &str) -> bool {
        chrono::DateTime::parse_from_rfc3339(text).is_ok()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// Text of the usual shape, with any digits in every field (so
        /// months, days, hours and offsets out of range, and 29 February
        /// of every kind of year): the same answer as chrono.
        #[test]
        fn agrees_with_chrono_on_the_usual_form(
            year in 0u32..10_000,
            month in 0u32..14,
            day in 0u32..33,
            hour in 0u32..26,
            minute in 0u32..62,
            second in 0u32..62,
            fraction in proptest::option::of("[0-9]{0,11}"),
            offset in prop_oneof![
                Just("Z".to_string()),
                Just("z".to_string()),
                (prop_oneof![Just('+'), Just('-')], 0u32..26, 0u32..62)
                    .prop_map(|(s, h, m)| format!("{s}{h:02}:{m:02}")),
            ],
            separator in prop_oneof![Just('T'), Just('t'), Just(' ')],
        ) {
            let fraction = fraction.map(|f| format!(".{f}")).unwrap_or_default();
            let text = format!(
                "{year:04}-{month:02}-{day:02}{separator}{hour:02}:{minute:02}:{second:02}{fraction}{offset}"
            );
            prop_assert_eq!(is_valid(&text), chrono_says(&text), "{}", text);
        }

        /// Any other text: the same answer as chrono.
        #[test]
        fn agrees_with_chrono_on_any_text(text in "\\PC{0,30}|[0-9T:.Z+-]{18,32}") {
            prop_assert_eq!(is_valid(&text), chrono_says(&text), "{}", text);
        }
    }

    #[test]
    fn usual_timestamps() {
        for (text, valid) in [
            ("2025-01-16T08:00:00Z", true),
            ("2024-02-29T23:59:59.123+05:30", true),
            ("2023-02-29T00:00:00Z", false),
            ("2025-13-01T00:00:00Z", false),
            ("2025-01-16 08:00:00Z", true),
            ("2025-01-16", false),
            ("tomorrow", false),
        ] {
            assert_eq!(is_valid(text), valid, "{text}");
            assert_eq!(valid, chrono_says(text), "{text}");
        }
    }
}
