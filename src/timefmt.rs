//! Time helpers without a date crate: RFC 3339 formatting, human durations, HTTP dates. Pure: no clock is read except by [`now_unix`].
//!
//! Dates are proleptic Gregorian, UTC, with no leap seconds (Unix time). The calendar
//! conversions are Howard Hinnant's `days_from_civil` / `civil_from_days` algorithms.

/// Seconds since the Unix epoch, now.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

const SECS_PER_DAY: u64 = 86_400;

/// Days since 1970-01-01 of the civil date `y-m-d` (`m` in 1..=12, `d` in 1..=31).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400); // [0, 399]
    let m = i64::from(m);
    let d = i64::from(d);
    let mp = if m > 2 { m - 3 } else { m + 9 }; // March = 0
    let doy = (153 * mp + 2) / 5 + d - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of `days` since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let y = yoe + era * 400 + i64::from(m <= 2);
    // Both are in small ranges by construction.
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Seconds since the epoch (negative before it) of a civil time, validated; `None` when invalid.
fn civil_secs(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<i64> {
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60
    {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    days.checked_mul(86_400)?
        .checked_add(i64::from(h * 3600 + mi * 60 + s))
}

/// Seconds since the epoch of a UTC civil time; `None` when invalid or before the epoch.
fn to_unix(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<u64> {
    u64::try_from(civil_secs(y, mo, d, h, mi, s)?).ok()
}

/// The last second an RFC 3339 timestamp can hold: 9999-12-31T23:59:59Z. The app cannot parse
/// a later `authenticated_at` (a five-digit year), so none is ever written.
pub const MAX_RFC3339: u64 = 253_402_300_799;

/// Format seconds since the epoch as RFC 3339 UTC, e.g. `2026-02-01T10:00:00Z`.
///
/// Years after 9999 are printed with as many digits as they need.
pub fn rfc3339(secs: u64) -> String {
    rfc3339_signed(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// [`rfc3339`] for a signed count (a token's `exp` may be before 1970). Years before 0 or
/// after 9999 are printed with a sign or as many digits as they need; no panic at the extremes.
pub fn rfc3339_signed(secs: i64) -> String {
    const DAY: i64 = 86_400;
    let days = secs.div_euclid(DAY);
    let rem = secs.rem_euclid(DAY);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The decimal number in `b[at..at + n]`, all ASCII digits, or `None`.
fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let part = b.get(at..at.checked_add(n)?)?;
    let mut v: u32 = 0;
    for &c in part {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u32::from(c - b'0'))?;
    }
    Some(v)
}

/// A short human duration: `0s`, `45s`, `12m 5s`, `2h 5m`, `3d 4h`.
///
/// At most two units, the larger first; the smaller is always printed (`1h 0m`) and the rest
/// is truncated.
pub fn human_duration(secs: u64) -> String {
    const MIN: u64 = 60;
    const HOUR: u64 = 3600;
    if secs < MIN {
        format!("{secs}s")
    } else if secs < HOUR {
        format!("{}m {}s", secs / MIN, secs % MIN)
    } else if secs < SECS_PER_DAY {
        format!("{}h {}m", secs / HOUR, secs % HOUR / MIN)
    } else {
        format!("{}d {}h", secs / SECS_PER_DAY, secs % SECS_PER_DAY / HOUR)
    }
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];
const DAYS_SHORT: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const DAYS_LONG: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

fn month(b: &[u8]) -> Option<u32> {
    let pos = MONTHS.iter().position(|m| m.as_slice() == b)?;
    u32::try_from(pos + 1).ok()
}

/// `HH:MM:SS` at the start of `b`.
fn hms(b: &[u8]) -> Option<(u32, u32, u32)> {
    if b.len() != 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    Some((digits(b, 0, 2)?, digits(b, 3, 2)?, digits(b, 6, 2)?))
}

/// Parse an HTTP date (RFC 9110 §5.6.7) to seconds since the epoch.
///
/// Accepts the three formats HTTP recipients must accept, all in GMT:
/// - IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`
/// - RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT` (two-digit years `70`-`99` are 19xx, `00`-`69` are 20xx)
/// - asctime: `Sun Nov  6 08:49:37 1994` (the day may also be zero-padded)
///
/// Names are case-sensitive, as in the grammar. The day name must be a real day name but is
/// not checked against the date. Surrounding whitespace is ignored. Returns `None` for
/// anything else (never panics), including dates before the epoch.
pub fn parse_http_date(s: &str) -> Option<u64> {
    let s = s.trim();
    let (y, mo, d, (h, mi, sec)) = if let Some((day, rest)) = s.split_once(", ") {
        let rest = rest.as_bytes();
        if DAYS_SHORT.contains(&day) {
            // IMF-fixdate: "06 Nov 1994 08:49:37 GMT"
            if rest.len() != 24
                || rest[2] != b' '
                || rest[6] != b' '
                || rest[11] != b' '
                || rest.get(20..) != Some(b" GMT".as_slice())
            {
                return None;
            }
            let d = digits(rest, 0, 2)?;
            let mo = month(&rest[3..6])?;
            let y = i64::from(digits(rest, 7, 4)?);
            (y, mo, d, hms(&rest[12..20])?)
        } else if DAYS_LONG.contains(&day) {
            // RFC 850: "06-Nov-94 08:49:37 GMT"
            if rest.len() != 22
                || rest[2] != b'-'
                || rest[6] != b'-'
                || rest[9] != b' '
                || rest.get(18..) != Some(b" GMT".as_slice())
            {
                return None;
            }
            let d = digits(rest, 0, 2)?;
            let mo = month(&rest[3..6])?;
            let yy = i64::from(digits(rest, 7, 2)?);
            let y = if yy >= 70 { 1900 + yy } else { 2000 + yy };
            (y, mo, d, hms(&rest[10..18])?)
        } else {
            return None;
        }
    } else {
        // asctime: "Sun Nov  6 08:49:37 1994"
        let b = s.as_bytes();
        if b.len() != 24 || b[3] != b' ' || b[7] != b' ' || b[10] != b' ' || b[19] != b' ' {
            return None;
        }
        if !DAYS_SHORT.iter().any(|d| d.as_bytes() == &b[..3]) {
            return None;
        }
        let mo = month(&b[4..7])?;
        let d = match (b[8], b[9]) {
            (b' ', c) if c.is_ascii_digit() => u32::from(c - b'0'),
            _ => digits(b, 8, 2)?,
        };
        let y = i64::from(digits(b, 20, 4)?);
        (y, mo, d, hms(&b[11..19])?)
    };
    to_unix(y, mo, d, h, mi, sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(59), "1970-01-01T00:00:59Z");
        assert_eq!(rfc3339(86_399), "1970-01-01T23:59:59Z");
        assert_eq!(rfc3339(86_400), "1970-01-02T00:00:00Z");
        assert_eq!(rfc3339(784_111_777), "1994-11-06T08:49:37Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z"); // leap (div by 400)
        assert_eq!(rfc3339(951_868_800), "2000-03-01T00:00:00Z");
        assert_eq!(rfc3339(1_078_012_800), "2004-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_769_940_000), "2026-02-01T10:00:00Z");
        assert_eq!(rfc3339(2_147_483_647), "2038-01-19T03:14:07Z");
        assert_eq!(rfc3339(2_147_483_648), "2038-01-19T03:14:08Z");
        assert_eq!(rfc3339(4_107_542_400), "2100-03-01T00:00:00Z"); // 2100 is not a leap year
        assert_eq!(rfc3339(4_107_456_000), "2100-02-28T00:00:00Z");
        assert_eq!(rfc3339(253_402_300_799), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339(253_402_300_800), "10000-01-01T00:00:00Z");
    }

    #[test]
    fn rfc3339_never_panics_on_extremes() {
        let s = rfc3339(u64::MAX);
        assert!(s.ends_with('Z'));
        assert_eq!(rfc3339(u64::MAX - 1).len(), s.len());
        assert_eq!(rfc3339_signed(-1), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339_signed(-86_400), "1969-12-31T00:00:00Z");
        assert_eq!(rfc3339_signed(1_769_940_000), rfc3339(1_769_940_000));
        assert!(rfc3339_signed(i64::MIN).ends_with('Z'));
        assert!(rfc3339_signed(i64::MAX).ends_with('Z'));
    }

    #[test]
    fn civil_round_trip_every_day_over_centuries() {
        // 1970-01-01 .. about 2500: days_from_civil(civil_from_days(d)) == d.
        for days in 0..200_000 {
            let (y, m, d) = civil_from_days(days);
            assert!((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m));
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    /// Every 7,777,777 s from 1970 to the end of year 9999, and the known edges: what
    /// `rfc3339` writes, an independent RFC 3339 parser (the `time` crate) reads back as the
    /// same instant.
    #[test]
    fn rfc3339_is_read_back_by_an_independent_parser() {
        use time::OffsetDateTime;
        use time::format_description::well_known::Rfc3339;
        let read = |secs: u64| {
            let text = rfc3339(secs);
            let t = OffsetDateTime::parse(&text, &Rfc3339)
                .unwrap_or_else(|e| panic!("{text:?} is not RFC 3339: {e}"));
            assert_eq!(t.offset(), time::UtcOffset::UTC, "{text}");
            assert_eq!(u64::try_from(t.unix_timestamp()).ok(), Some(secs), "{text}");
        };
        for secs in [
            0,
            1,
            86_399,
            951_782_400,
            1_769_940_000,
            2_147_483_648,
            MAX_RFC3339,
        ] {
            read(secs);
        }
        let mut secs = 0u64;
        while secs <= MAX_RFC3339 {
            read(secs);
            secs += 7_777_777;
        }
        // One second later is year 10000: not RFC 3339 any more (the app refuses such a file).
        assert!(OffsetDateTime::parse(&rfc3339(MAX_RFC3339 + 1), &Rfc3339).is_err());
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration(45), "45s");
        assert_eq!(human_duration(59), "59s");
        assert_eq!(human_duration(60), "1m 0s");
        assert_eq!(human_duration(725), "12m 5s");
        assert_eq!(human_duration(3599), "59m 59s");
        assert_eq!(human_duration(3600), "1h 0m");
        assert_eq!(human_duration(7500), "2h 5m");
        assert_eq!(human_duration(7559), "2h 5m");
        assert_eq!(human_duration(86_399), "23h 59m");
        assert_eq!(human_duration(86_400), "1d 0h");
        assert_eq!(human_duration(273_600), "3d 4h");
        assert_eq!(human_duration(u64::MAX), "213503982334601d 7h");
    }

    const EXAMPLE: u64 = 784_111_777; // 1994-11-06T08:49:37Z

    #[test]
    fn http_date_three_formats() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(EXAMPLE)
        );
        assert_eq!(
            parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(EXAMPLE)
        );
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(EXAMPLE));
        assert_eq!(parse_http_date("Sun Nov 06 08:49:37 1994"), Some(EXAMPLE));
        assert_eq!(
            parse_http_date("  Sun, 06 Nov 1994 08:49:37 GMT\r\n"),
            Some(EXAMPLE)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Sun, 01 Feb 2026 10:00:00 GMT"),
            Some(1_769_940_000)
        );
        assert_eq!(
            parse_http_date("Thu, 29 Feb 2024 00:00:00 GMT"),
            Some(1_709_164_800)
        );
        assert_eq!(
            parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT"),
            Some(253_402_300_799)
        );
        assert_eq!(
            parse_http_date("Wed Feb 28 12:00:00 2024"),
            Some(1_709_121_600)
        );
        assert_eq!(
            parse_http_date("Sun Nov 16 08:49:37 1994"),
            Some(EXAMPLE + 10 * 86_400)
        );
    }

    #[test]
    fn http_date_rfc850_two_digit_years() {
        assert_eq!(parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Sunday, 01-Feb-26 10:00:00 GMT"),
            Some(1_769_940_000)
        );
        assert_eq!(
            parse_http_date("Friday, 31-Dec-99 23:59:59 GMT"),
            Some(946_684_799)
        );
        assert_eq!(
            parse_http_date("Saturday, 01-Jan-00 00:00:00 GMT"),
            Some(946_684_800)
        );
        assert_eq!(
            parse_http_date("Saturday, 31-Dec-69 23:59:59 GMT"),
            Some(3_155_759_999)
        );
    }

    #[test]
    fn http_date_rejects() {
        for s in [
            "",
            " ",
            "0",
            "120",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Nov 1994 08:49:37 gmt",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 nov 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 31 Nov 1994 08:49:37 GMT",
            "Sun, 00 Nov 1994 08:49:37 GMT",
            "Sun, 29 Feb 2026 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:49:37 GMT",
            "Sun, 06 Nov 1994 08:60:37 GMT",
            "Sun, 06 Nov 1994 08:49:61 GMT",
            "Sun, 06 Nov 1994 08-49-37 GMT",
            "Sun, 06 Nov 1969 08:49:37 GMT",
            "Sun, 06 Nov 94 08:49:37 GMT",
            "Sun, 06 Nov +994 08:49:37 GMT",
            "Xyz, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06-Nov-94 08:49:37 GMT",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37",
            "Sun Nov  6 08:49:37 94",
            "Sun Nov  6 08:49:37 1994 GMT",
            "Sun Nov 6 08:49:37 1994",
            "Sun Nov  x 08:49:37 1994",
            "Xyz Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 GMT\u{0}",
            "Sun, 06 Nov 1994 08:49:\u{e9} GMT",
            "Sun, \u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}",
            "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}",
        ] {
            assert_eq!(parse_http_date(s), None, "{s:?}");
        }
    }

    /// A cheap deterministic fuzz: mutations of valid dates and random bytes never panic.
    #[test]
    fn parsers_never_panic_on_mutations() {
        let seeds = [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ];
        let alphabet: Vec<char> = " ,-:.+0123456789ZTGMSunNové\u{0}\u{7f}€𝄞".chars().collect();
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for seed in seeds {
            for _ in 0..3000 {
                let mut chars: Vec<char> = seed.chars().collect();
                for _ in 0..=(next() % 3) {
                    let len = chars.len();
                    let c = alphabet[usize::try_from(next() % alphabet.len() as u64).unwrap_or(0)];
                    let at = usize::try_from(next() % (len as u64 + 1)).unwrap_or(0);
                    match next() % 3 {
                        0 if at < len => chars[at] = c,
                        1 => chars.insert(at, c),
                        _ if at < len => {
                            chars.remove(at);
                        }
                        _ => {}
                    }
                }
                let s: String = chars.into_iter().collect();
                let _ = parse_http_date(&s);
            }
        }
    }
}
