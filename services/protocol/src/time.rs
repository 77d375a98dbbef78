use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time with millisecond precision, as AWS timestamps carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    /// Milliseconds since the Unix epoch.
    pub epoch_millis: i64,
}

impl Timestamp {
    pub fn from_system_time(t: SystemTime) -> Self {
        let millis = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_millis() as i64,
            Err(e) => -(e.duration().as_millis() as i64),
        };
        Self { epoch_millis: millis }
    }

    pub fn to_system_time(self) -> SystemTime {
        if self.epoch_millis >= 0 {
            UNIX_EPOCH + Duration::from_millis(self.epoch_millis as u64)
        } else {
            UNIX_EPOCH - Duration::from_millis(self.epoch_millis.unsigned_abs())
        }
    }

    /// Parses ISO-8601 UTC as AWS accepts it: `2015-01-25T08:00:00Z`, with optional
    /// fractional seconds, or a `+00:00` offset; a bare date means midnight.
    pub fn parse_iso8601(s: &str) -> Option<Self> {
        let (date, time) = match s.split_once('T') {
            Some((d, t)) => (d, Some(t)),
            None => (s, None),
        };
        let mut d = date.splitn(3, '-');
        let year: i32 = d.next()?.parse().ok()?;
        let month: u8 = d.next()?.parse().ok()?;
        let day: u8 = d.next()?.parse().ok()?;
        // Four-digit years only, as ISO-8601 without extension; a day the month has.
        if !(0..=9999).contains(&year) {
            return None;
        }
        let date = time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()?;
        let mut millis_of_day: i64 = 0;
        if let Some(t) = time {
            let t = t.strip_suffix('Z').or_else(|| t.strip_suffix("+00:00")).unwrap_or(t);
            let (hms, frac) = match t.split_once('.') {
                Some((a, b)) => (a, b),
                None => (t, ""),
            };
            let mut parts = hms.splitn(3, ':');
            let h: i64 = parts.next()?.parse().ok()?;
            let m: i64 = parts.next()?.parse().ok()?;
            let sec: i64 = parts.next().unwrap_or("0").parse().ok()?;
            if h > 23 || m > 59 || sec > 60 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let frac_ms: i64 = format!("{frac:0<3}")[..3].parse().ok()?;
            millis_of_day = ((h * 60 + m) * 60 + sec) * 1000 + frac_ms;
        }
        let days = i64::from(date.to_julian_day() - UNIX_EPOCH_JULIAN_DAY);
        Some(Self { epoch_millis: days * 86_400_000 + millis_of_day })
    }
}

impl fmt::Display for Timestamp {
    /// `2020-11-30T10:39:56.000Z`, the form EC2 responses use.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.epoch_millis.div_euclid(86_400_000);
        let ms = self.epoch_millis.rem_euclid(86_400_000);
        // Beyond what a Julian day number holds (±5.8 million years) only hostile input goes.
        let date = i32::try_from(days)
            .ok()
            .and_then(|d| d.checked_add(UNIX_EPOCH_JULIAN_DAY))
            .and_then(|j| time::Date::from_julian_day(j).ok())
            .unwrap_or(time::Date::MIN);
        let (y, m, d) = (date.year(), date.month() as u8, date.day());
        let secs = ms / 1000;
        write!(f, "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", secs / 3600, (secs / 60) % 60, secs % 60, ms % 1000)
    }
}

/// The Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN_DAY: i32 = 2_440_588;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_ec2() {
        let t = Timestamp { epoch_millis: 1_606_732_796_000 };
        assert_eq!(t.to_string(), "2020-11-30T10:39:56.000Z");
        assert_eq!(Timestamp { epoch_millis: 0 }.to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(Timestamp { epoch_millis: 951_782_400_123 }.to_string(), "2000-02-29T00:00:00.123Z");
    }

    #[test]
    fn parses_what_it_formats_and_aws_input_forms() {
        for s in ["2020-11-30T10:39:56.000Z", "2000-02-29T00:00:00.123Z", "1969-12-31T23:59:59.999Z"] {
            assert_eq!(Timestamp::parse_iso8601(s).unwrap().to_string(), s);
        }
        assert_eq!(Timestamp::parse_iso8601("2015-01-25T08:00:00Z").unwrap().to_string(), "2015-01-25T08:00:00.000Z");
        assert_eq!(Timestamp::parse_iso8601("2015-01-25").unwrap().to_string(), "2015-01-25T00:00:00.000Z");
        assert!(Timestamp::parse_iso8601("2015-13-25").is_none());
        assert!(Timestamp::parse_iso8601("2015-02-31").is_none());
        assert!(Timestamp::parse_iso8601("2023-02-29T00:00:00Z").is_none());
        assert!(Timestamp::parse_iso8601("2024-02-29T00:00:00Z").is_some());
        assert!(Timestamp::parse_iso8601("yesterday").is_none());
        assert!(Timestamp::parse_iso8601("999999999999999-01-01").is_none());
    }
}
