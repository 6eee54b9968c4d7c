//! RFC 3339 timestamps that keep their text: an index is signed over its JSON, so a
//! timestamp must serialize exactly as it was read, whatever offset or precision it has.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An RFC 3339 date-time (`2025-01-31T12:00:00Z`), kept as written, with its instant.
/// Written by paks in UTC, to the second.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Timestamp {
    text: String,
    /// Seconds since the Unix epoch (fractions dropped).
    unix: i64,
}

impl Timestamp {
    /// `unix` seconds since the epoch, written `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn from_unix(unix: i64) -> Self {
        let days = unix.div_euclid(86_400);
        let secs = unix.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let text = format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        );
        Self { text, unix }
    }

    /// A system time, to the second (before the epoch counts as the epoch).
    pub fn from_system_time(time: SystemTime) -> Self {
        let secs = time
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        Self::from_unix(secs)
    }

    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }

    /// Seconds since the Unix epoch.
    pub fn unix(&self) -> i64 {
        self.unix
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// This instant plus `duration`, to the second.
    #[must_use]
    pub fn plus(&self, duration: Duration) -> Self {
        let secs = i64::try_from(duration.as_secs()).unwrap_or(i64::MAX);
        Self::from_unix(self.unix.saturating_add(secs))
    }
}

impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timestamp {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.unix, &self.text).cmp(&(other.unix, &other.text))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Why a timestamp did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid RFC 3339 timestamp `{0}`: expected `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`")]
pub struct TimestampError(String);

impl FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = || TimestampError(text.to_owned());
        let bytes = text.as_bytes();
        let num = |range: std::ops::Range<usize>| -> Result<i64, TimestampError> {
            let part = bytes.get(range).ok_or_else(err)?;
            if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
                return Err(err());
            }
            Ok(part.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
        };
        let sep = |at: usize, allowed: &[u8]| -> Result<(), TimestampError> {
            bytes
                .get(at)
                .filter(|c| allowed.contains(c))
                .map(|_| ())
                .ok_or_else(err)
        };
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        sep(4, b"-")?;
        sep(7, b"-")?;
        sep(10, b"Tt")?;
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        sep(13, b":")?;
        sep(16, b":")?;
        let mut end = 19;
        if bytes.get(end) == Some(&b'.') {
            end += 1;
            let start = end;
            while bytes.get(end).is_some_and(u8::is_ascii_digit) {
                end += 1;
            }
            if end == start {
                return Err(err());
            }
        }
        let offset = match bytes.get(end) {
            Some(b'Z' | b'z') if end + 1 == bytes.len() => 0,
            Some(sign @ (b'+' | b'-')) if end + 6 == bytes.len() => {
                sep(end + 3, b":")?;
                let (hours, minutes) = (num(end + 1..end + 3)?, num(end + 4..end + 6)?);
                if hours > 23 || minutes > 59 {
                    return Err(err());
                }
                let offset = hours * 3600 + minutes * 60;
                if *sign == b'+' { offset } else { -offset }
            }
            _ => return Err(err()),
        };
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let month_days = [
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
        ];
        if !(1..=12).contains(&month)
            || day < 1
            || day > month_days[usize::try_from(month - 1).map_err(|_| err())?]
            || hour > 23
            || minute > 59
            || second > 60
        {
            return Err(err());
        }
        // A leap second counts as the last second of its minute.
        let second = second.min(59);
        let unix = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
            - offset;
        Ok(Self {
            text: text.to_owned(),
            unix,
        })
    }
}

paks_types::serde_via_str!(Timestamp);

/// Howard Hinnant's `days_from_civil`: days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Howard Hinnant's `civil_from_days`: the date `days` after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_seconds() {
        for (secs, text) in [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_700_000_000, "2023-11-14T22:13:20Z"),
            (4_102_444_799, "2099-12-31T23:59:59Z"),
            (-1, "1969-12-31T23:59:59Z"),
        ] {
            let t = Timestamp::from_unix(secs);
            assert_eq!(t.as_str(), text);
            let back: Timestamp = text.parse().unwrap();
            assert_eq!(back, t);
            assert_eq!(back.unix(), secs);
        }
    }

    #[test]
    fn parses_offsets_and_fractions_and_keeps_the_text() {
        let t: Timestamp = "2023-11-14T23:13:20.123+01:00".parse().unwrap();
        assert_eq!(t.unix(), 1_700_000_000);
        assert_eq!(t.to_string(), "2023-11-14T23:13:20.123+01:00");
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, r#""2023-11-14T23:13:20.123+01:00""#);
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
        let t: Timestamp = "2023-11-14t21:13:20-01:00".parse().unwrap();
        assert_eq!(t.unix(), 1_700_000_000);
        assert!(Timestamp::from_unix(1) > Timestamp::from_unix(0));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "2023-11-14",
            "2023-11-14T22:13:20",
            "2023-11-14 22:13:20Z",
            "2023-13-14T22:13:20Z",
            "2023-02-29T22:13:20Z",
            "2023-11-14T24:13:20Z",
            "2023-11-14T22:13:20.Z",
            "2023-11-14T22:13:20+0100",
            "2023-11-14T22:13:20Zjunk",
            "+023-11-14T22:13:20Z",
        ] {
            assert!(bad.parse::<Timestamp>().is_err(), "{bad}");
        }
    }
}
