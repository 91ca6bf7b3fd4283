//! Calendar days in the community's time zone (a fixed UTC offset: China has no daylight saving), without a
//! date-time dependency: `YYYY-MM-DD` ↔ the day's range in ms since the epoch.

/// The range `[start, end)` in ms of calendar day `day` (`YYYY-MM-DD`) at `utc_offset_minutes`; `None` if `day` is
/// not a valid date on or after 1970-01-01.
pub fn day_range(day: &str, utc_offset_minutes: i32) -> Option<(u64, u64)> {
    let b = day.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| day.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    let start = days_from_civil(y, m, d) * 86_400_000 - i64::from(utc_offset_minutes) * 60_000;
    let start = u64::try_from(start).ok()?;
    Some((start, start + 86_400_000))
}

/// The range `[start, end)` in ms of calendar month `month` (`YYYY-MM`) at `utc_offset_minutes`; `None` if
/// `month` is not a valid month.
pub fn month_range(month: &str, utc_offset_minutes: i32) -> Option<(u64, u64)> {
    let (y, m) = month.split_once('-')?;
    let (y, m): (i64, i64) = (y.parse().ok()?, m.parse().ok()?);
    if month.len() != 7 || !(1..=12).contains(&m) {
        return None;
    }
    let (start, _) = day_range(&format!("{y:04}-{m:02}-01"), utc_offset_minutes)?;
    let days = u64::try_from(days_in_month(y, m)).ok()?;
    Some((start, start + days * 86_400_000))
}

/// The calendar day (`YYYY-MM-DD`) of the instant `ms` at `utc_offset_minutes`.
pub fn date_of(ms: u64, utc_offset_minutes: i32) -> String {
    // Saturating: an open-ended range's end (`u64::MAX`) must name a (far) day, not overflow.
    let local = i64::try_from(ms)
        .unwrap_or(i64::MAX)
        .saturating_add(i64::from(utc_offset_minutes) * 60_000);
    let (y, m, d) = civil_from_days(local.div_euclid(86_400_000));
    format!("{y:04}-{m:02}-{d:02}")
}

/// The instant `ms` as a W3C (ISO 8601) date-time at `utc_offset_minutes`, to the second, with the offset:
/// `2026-12-03T14:20:05+08:00` (`Z` at offset 0), as GeoReport v2 writes times.
pub fn w3c_datetime(ms: u64, utc_offset_minutes: i32) -> String {
    let local = i64::try_from(ms).unwrap_or(i64::MAX) / 1000 + i64::from(utc_offset_minutes) * 60;
    let (y, m, d) = civil_from_days(local.div_euclid(86_400));
    let secs = local.rem_euclid(86_400);
    let offset = if utc_offset_minutes == 0 {
        "Z".to_string()
    } else {
        let sign = if utc_offset_minutes < 0 { '-' } else { '+' };
        let abs = utc_offset_minutes.unsigned_abs();
        format!("{sign}{:02}:{:02}", abs / 60, abs % 60)
    };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{offset}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Reads a W3C date-time (`YYYY-MM-DDTHH:MM:SS` with optional fraction of a second, then `Z` or `±HH:MM`; a
/// date alone, `YYYY-MM-DD`, is its midnight at `default_offset_minutes`) into ms since the epoch. `None` if it
/// is not one, or before 1970.
pub fn parse_w3c_datetime(s: &str, default_offset_minutes: i32) -> Option<u64> {
    if s.len() == 10 {
        return day_range(s, default_offset_minutes).map(|r| r.0);
    }
    let (date, rest) = (s.get(0..10)?, s.get(10..)?);
    let (day_start, _) = day_range(date, 0)?;
    let rest = rest.strip_prefix('T').or_else(|| rest.strip_prefix(' '))?;
    let b = rest.as_bytes();
    if b.len() < 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let t = rest.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let (h, mi, se) = (num(0..2)?, num(3..5)?, num(6..8)?);
    if h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut tail = &rest[8..];
    let mut millis = 0u64;
    if let Some(frac) = tail.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded = format!("{:0<3}", &frac[..digits.min(3)]);
        millis = padded.parse().ok()?;
        tail = &frac[digits..];
    }
    // A `+` typed into a query string by hand arrives as a space (form decoding): `…T00:00:00 08:00`.
    let spaced;
    if tail.len() == 6 && tail.is_ascii() && tail.starts_with(' ') {
        spaced = format!("+{}", &tail[1..]);
        tail = &spaced;
    }
    let offset_minutes: i64 = match tail {
        "Z" | "z" => 0,
        // ASCII first: a multi-byte character in the tail must not be sliced through (review of issue 13).
        t if t.len() == 6
            && t.is_ascii()
            && (t.starts_with('+') || t.starts_with('-'))
            && &t[3..4] == ":" =>
        {
            let oh: i64 = t.get(1..3)?.parse().ok()?;
            let om: i64 = t.get(4..6)?.parse().ok()?;
            if oh > 23 || om > 59 {
                return None;
            }
            let m = oh * 60 + om;
            if t.starts_with('-') { -m } else { m }
        }
        "" => i64::from(default_offset_minutes),
        _ => return None,
    };
    let local_ms = i64::try_from(day_start).ok()?
        + i64::try_from((h * 3600 + mi * 60 + se) * 1000 + millis).ok()?;
    u64::try_from(local_ms - offset_minutes * 60_000).ok()
}

fn days_in_month(y: i64, m: i64) -> i64 {
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ][(m - 1) as usize]
}

// Howard Hinnant's algorithms (public domain), days since 1970-01-01 in the proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_day_for_decades() {
        let (mut start, _) = day_range("1999-12-25", 480).expect("valid");
        for _ in 0..20_000 {
            let day = date_of(start, 480);
            assert_eq!(day_range(&day, 480).map(|r| r.0), Some(start), "{day}");
            assert_eq!(date_of(start + 86_399_999, 480), day);
            start += 86_400_000;
        }
    }

    #[test]
    fn local_midnight_in_china_is_16_00_utc() {
        assert_eq!(
            day_range("2026-11-27", 480),
            Some((1_795_708_800_000, 1_795_795_200_000))
        );
        assert_eq!(date_of(1_795_708_799_999, 480), "2026-11-26");
        assert_eq!(date_of(1_795_708_800_000, 480), "2026-11-27");
        assert_eq!(day_range("2026-02-29", 480), None);
        assert_eq!(
            day_range("2024-02-29", 0).map(|r| r.0),
            Some(1_709_164_800_000)
        );
    }

    #[test]
    fn months_end_where_the_next_begins() {
        assert_eq!(
            month_range("2026-11", 480),
            Some((1_793_462_400_000, 1_796_054_400_000))
        );
        assert_eq!(
            month_range("2026-12", 480).map(|r| r.1),
            day_range("2027-01-01", 480).map(|r| r.0)
        );
        assert_eq!(
            month_range("2024-02", 0).map(|(s, e)| (e - s) / 86_400_000),
            Some(29)
        );
        assert_eq!(month_range("2026-13", 480), None);
        assert_eq!(month_range("2026-1", 480), None);
    }

    #[test]
    fn w3c_times_round_trip_with_their_offset() {
        let t = 1_795_708_800_000 + 14 * 3_600_000 + 20 * 60_000 + 5_000;
        assert_eq!(w3c_datetime(t, 480), "2026-11-27T14:20:05+08:00");
        assert_eq!(w3c_datetime(t, 0), "2026-11-27T06:20:05Z");
        assert_eq!(w3c_datetime(t, -330), "2026-11-27T00:50:05-05:30");
        for s in [
            "2026-11-27T14:20:05+08:00",
            "2026-11-27T06:20:05Z",
            "2026-11-27T00:50:05-05:30",
        ] {
            assert_eq!(parse_w3c_datetime(s, 480), Some(t), "{s}");
        }
        assert_eq!(
            parse_w3c_datetime("2026-11-27T06:20:05.25Z", 0),
            Some(t + 250)
        );
        assert_eq!(parse_w3c_datetime("2026-11-27T14:20:05", 480), Some(t));
        assert_eq!(
            parse_w3c_datetime("2026-11-27T14:20:05 08:00", 0),
            Some(t),
            "a decoded +"
        );
        for multibyte in [
            "2026-11-27T14:20:05+0é:0",
            "2026-11-27T14:20:05 0é:0",
            "2026-11-27T14:20:05é",
        ] {
            assert_eq!(parse_w3c_datetime(multibyte, 480), None, "{multibyte}");
        }
        assert_eq!(
            parse_w3c_datetime("2026-11-27", 480),
            Some(1_795_708_800_000)
        );
        for bad in [
            "",
            "2026-11-27T25:00:00Z",
            "2026-11-27T14:20Z",
            "2026-11-27T14:20:05+8",
            "yesterday",
            "2026-02-30T00:00:00Z",
        ] {
            assert_eq!(parse_w3c_datetime(bad, 480), None, "{bad}");
        }
    }

    /// Found by the reports' delivery property test: the councils report of an open-ended range (`to` =
    /// `u64::MAX`) asked for the day of the range's end, and the offset overflowed.
    #[test]
    fn the_end_of_time_has_a_day_after_every_real_one() {
        for (ms, offset) in [(u64::MAX, 480), (u64::MAX - 1, -720)] {
            let end = date_of(ms, offset);
            let year: u64 = end
                .split('-')
                .next()
                .and_then(|y| y.parse().ok())
                .expect("a year");
            assert!(year > 9999, "{end}");
        }
    }
}
