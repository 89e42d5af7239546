//! Dates between the engine (chrono, RFC 3339) and egui_extras's date
//! picker (jiff). Conversions live only here, in the UI layer.

use chrono::{DateTime, Datelike, FixedOffset, Local, NaiveDate, TimeZone};

/// A calendar date for the picker.
pub fn to_jiff(date: NaiveDate) -> Option<jiff::civil::Date> {
    let month = i8::try_from(date.month()).ok()?;
    let day = i8::try_from(date.day()).ok()?;
    let year = i16::try_from(date.year()).ok()?;
    jiff::civil::Date::new(year, month, day).ok()
}

/// A date from the picker.
pub fn from_jiff(date: jiff::civil::Date) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(
        i32::from(date.year()),
        u32::try_from(date.month()).ok()?,
        u32::try_from(date.day()).ok()?,
    )
}

/// Today in local time.
pub fn today() -> NaiveDate {
    Local::now().date_naive()
}

/// The local calendar date of an RFC 3339 time.
pub fn local_date_of(rfc3339: &str) -> Option<NaiveDate> {
    let t = DateTime::parse_from_rfc3339(rfc3339).ok()?;
    Some(t.with_timezone(&Local).date_naive())
}

/// The end of `date` in local time (23:59:59), as RFC 3339 with the local
/// offset: what a chosen expiry date means.
pub fn end_of_day_local(date: NaiveDate) -> Option<String> {
    let naive = date.and_hms_opt(23, 59, 59)?;
    let local = Local.from_local_datetime(&naive).earliest()?;
    let fixed: DateTime<FixedOffset> = local.fixed_offset();
    Some(fixed.to_rfc3339_opts(chrono::SecondsFormat::Secs, false))
}

/// Replaces the date of an RFC 3339 time, keeping its time of day and
/// offset; without a time, the date at 09:00 local.
pub fn with_date(original: Option<&str>, date: NaiveDate) -> Option<String> {
    if let Some(t) = original.and_then(|s| DateTime::parse_from_rfc3339(s).ok()) {
        let naive = date.and_time(t.time());
        let moved = t.offset().from_local_datetime(&naive).earliest()?;
        return Some(moved.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }
    let naive = date.and_hms_opt(9, 0, 0)?;
    let local = Local.from_local_datetime(&naive).earliest()?;
    Some(
        local
            .fixed_offset()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
    )
}

/// A short local form of an RFC 3339 time for lists.
pub fn short(rfc3339: &str) -> String {
    DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|_| rfc3339.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_of_day_is_local_with_offset() {
        let date = NaiveDate::from_ymd_opt(2030, 6, 15).unwrap();
        let text = end_of_day_local(date).unwrap();
        let parsed = DateTime::parse_from_rfc3339(&text).unwrap();
        assert_eq!(parsed.with_timezone(&Local).date_naive(), date);
        assert_eq!(
            parsed.with_timezone(&Local).format("%H:%M:%S").to_string(),
            "23:59:59"
        );
        assert_eq!(local_date_of(&text), Some(date));
    }

    #[test]
    fn jiff_round_trip() {
        let date = NaiveDate::from_ymd_opt(2026, 2, 28).unwrap();
        assert_eq!(from_jiff(to_jiff(date).unwrap()), Some(date));
    }

    #[test]
    fn with_date_keeps_time_and_offset() {
        let date = NaiveDate::from_ymd_opt(2025, 3, 9).unwrap();
        assert_eq!(
            with_date(Some("2025-01-20T09:15:00+01:00"), date).as_deref(),
            Some("2025-03-09T09:15:00+01:00")
        );
    }
}
