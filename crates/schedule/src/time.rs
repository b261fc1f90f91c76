//! `--start-time` / `--end-time`: a time of day with second precision.

use std::fmt;
use std::str::FromStr;

use jiff::civil::Time;

use crate::TimeOfDayError;

/// A wall-clock time of day, to the second, as given to kured's `--start-time`
/// and `--end-time`.
///
/// Accepted forms (surrounding whitespace ignored, `am`/`pm` case-insensitive):
///
/// | form | examples |
/// |---|---|
/// | `H`, `HH` (24 h) | `15`, `9`, `09`, `0` |
/// | `H:MM`, `HH:MM` | `15:04`, `0:00`, `9:05` |
/// | `H:MM:SS`, `HH:MM:SS` | `15:04:05`, `23:59:59` |
/// | 12 h with `am`/`pm`, optional space | `3pm`, `03pm`, `9AM`, `9 am`, `03:04pm`, `5:00pm`, `5:00 PM`, `11:59:59 pm` |
///
/// Hours are 0–23 (or 1–12 with `am`/`pm`: `12am` is 00:00, `12pm` is 12:00),
/// minutes and seconds are exactly two digits 00–59. Everything kured 1.23
/// accepts is accepted with the same meaning, except Go's oddities `0pm`/`0am`
/// and fractional seconds (`23:59:59.5`), which are rejected with an error.
///
/// `Display` prints `HH:MM`, or `HH:MM:SS` when the seconds are not zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TimeOfDay {
    hour: u8,
    minute: u8,
    second: u8,
}

impl TimeOfDay {
    /// 00:00:00, kured's default `--start-time`.
    pub const MIDNIGHT: TimeOfDay = TimeOfDay {
        hour: 0,
        minute: 0,
        second: 0,
    };
    /// 23:59:59, kured's default `--end-time`.
    pub const LAST_SECOND: TimeOfDay = TimeOfDay {
        hour: 23,
        minute: 59,
        second: 59,
    };

    /// A time of day from its parts; `None` unless hour < 24, minute < 60 and second < 60.
    pub const fn new(hour: u8, minute: u8, second: u8) -> Option<TimeOfDay> {
        if hour < 24 && minute < 60 && second < 60 {
            Some(TimeOfDay {
                hour,
                minute,
                second,
            })
        } else {
            None
        }
    }

    /// Parses one of the forms listed on [`TimeOfDay`].
    pub fn parse(input: &str) -> Result<TimeOfDay, TimeOfDayError> {
        parse_time(input).map_err(|reason| TimeOfDayError::new(input, reason))
    }

    /// The hour, 0–23.
    pub const fn hour(self) -> u8 {
        self.hour
    }

    /// The minute, 0–59.
    pub const fn minute(self) -> u8 {
        self.minute
    }

    /// The second, 0–59.
    pub const fn second(self) -> u8 {
        self.second
    }

    /// The first instant of this second, as a civil time (`HH:MM:SS.000000000`).
    pub fn to_civil(self) -> Time {
        // Fields are range-checked on construction, so the cast and the civil
        // constructor cannot fail.
        #[allow(clippy::cast_possible_wrap)]
        Time::constant(self.hour as i8, self.minute as i8, self.second as i8, 0)
    }

    /// The last instant of this second, as a civil time (`HH:MM:SS.999999999`):
    /// window ends are inclusive through the end of their second.
    pub fn end_of_second(self) -> Time {
        #[allow(clippy::cast_possible_wrap)]
        Time::constant(
            self.hour as i8,
            self.minute as i8,
            self.second as i8,
            999_999_999,
        )
    }

    /// Seconds since midnight.
    pub const fn seconds_since_midnight(self) -> u32 {
        self.hour as u32 * 3600 + self.minute as u32 * 60 + self.second as u32
    }
}

/// Parses the forms documented on [`TimeOfDay`], returning the reason on failure.
fn parse_time(input: &str) -> Result<TimeOfDay, &'static str> {
    let s = input.trim_matches(|c: char| c.is_ascii_whitespace());
    if s.is_empty() {
        return Err("empty (expected e.g. 15:04, 15:04:05, 3pm, 03:04pm, 5:00 PM or 15)");
    }
    let lower = s.to_ascii_lowercase();
    let (body, meridiem) = if let Some(b) = lower.strip_suffix("am") {
        (
            b.trim_end_matches(|c: char| c.is_ascii_whitespace()),
            Some(false),
        )
    } else if let Some(b) = lower.strip_suffix("pm") {
        (
            b.trim_end_matches(|c: char| c.is_ascii_whitespace()),
            Some(true),
        )
    } else {
        (lower.as_str(), None)
    };
    if body.is_empty() {
        return Err("missing hour before am/pm");
    }
    let mut parts = body.split(':');
    let hour = parts.next().unwrap_or_default();
    let minute = parts.next();
    let second = parts.next();
    if parts.next().is_some() {
        return Err("too many ':' separated fields (expected H, H:MM or H:MM:SS)");
    }
    let hour = digits(hour, 1..=2).ok_or(
        "expected a one- or two-digit hour (e.g. 15:04, 15:04:05, 3pm, 03:04pm, 5:00 PM or 15)",
    )?;
    let minute = match minute {
        None => 0,
        Some(m) => digits(m, 2..=2).ok_or("minutes must be exactly two digits")?,
    };
    let second = match second {
        None => 0,
        Some(sec) => digits(sec, 2..=2).ok_or("seconds must be exactly two digits")?,
    };
    if minute > 59 {
        return Err("minute must be 00-59");
    }
    if second > 59 {
        return Err("second must be 00-59");
    }
    let hour = match meridiem {
        None if hour > 23 => return Err("hour must be 0-23"),
        None => hour,
        Some(_) if !(1..=12).contains(&hour) => return Err("hour must be 1-12 with am/pm"),
        Some(false) => hour % 12,
        Some(true) => hour % 12 + 12,
    };
    TimeOfDay::new(hour, minute, second).ok_or("time out of range")
}

/// `s` as a number if it is all ASCII digits and its length is in `len`.
fn digits(s: &str, len: std::ops::RangeInclusive<usize>) -> Option<u8> {
    if !len.contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl FromStr for TimeOfDay {
    type Err = TimeOfDayError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TimeOfDay::parse(s)
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)?;
        if self.second != 0 {
            write!(f, ":{:02}", self.second)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hms(h: u8, m: u8, s: u8) -> TimeOfDay {
        TimeOfDay::new(h, m, s).unwrap()
    }

    #[test]
    fn accepted_forms() {
        let table = [
            // kured's own layouts: 15:04, 15:04:05, 03:04pm, 15, 03pm, 3pm
            ("15:04", hms(15, 4, 0)),
            ("09:30", hms(9, 30, 0)),
            ("9:30", hms(9, 30, 0)),
            ("0:00", hms(0, 0, 0)),
            ("00:00", hms(0, 0, 0)),
            ("23:59", hms(23, 59, 0)),
            ("15:04:05", hms(15, 4, 5)),
            ("23:59:59", hms(23, 59, 59)),
            ("0:00:00", hms(0, 0, 0)),
            ("03:04pm", hms(15, 4, 0)),
            ("03:04am", hms(3, 4, 0)),
            ("11:30am", hms(11, 30, 0)),
            ("15", hms(15, 0, 0)),
            ("0", hms(0, 0, 0)),
            ("9", hms(9, 0, 0)),
            ("09", hms(9, 0, 0)),
            ("23", hms(23, 0, 0)),
            ("03pm", hms(15, 0, 0)),
            ("3pm", hms(15, 0, 0)),
            ("3am", hms(3, 0, 0)),
            ("11pm", hms(23, 0, 0)),
            ("12am", hms(0, 0, 0)),
            ("12pm", hms(12, 0, 0)),
            ("12:30am", hms(0, 30, 0)),
            ("12:30pm", hms(12, 30, 0)),
            // forms kured documents but rejects
            ("5:00pm", hms(17, 0, 0)),
            ("9AM", hms(9, 0, 0)),
            ("9 am", hms(9, 0, 0)),
            ("5:00 PM", hms(17, 0, 0)),
            ("9Am", hms(9, 0, 0)),
            ("11:59:59 pm", hms(23, 59, 59)),
            ("12:00:01AM", hms(0, 0, 1)),
            // surrounding whitespace
            (" 15:04 ", hms(15, 4, 0)),
            ("\t9 am\n", hms(9, 0, 0)),
        ];
        for (input, want) in table {
            let got = TimeOfDay::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(got, want, "{input:?}");
        }
    }

    #[test]
    fn rejected_forms() {
        for bad in [
            "",
            " ",
            "24",
            "24:00",
            "25:00",
            "13pm",
            "13:00pm",
            "0pm",
            "0am",
            "00am",
            "9:5",
            "9:5pm",
            "9:005",
            "15:04:5",
            "15:60",
            "15:04:60",
            "15:04:05:00",
            "123",
            "015",
            "9:",
            ":30",
            "am",
            "pm",
            " pm",
            "9 a.m.",
            "9a",
            "9p",
            "9 amm",
            "15:04 pm",
            "noon",
            "midnight",
            "23:59:59.5",
            "1e1",
            "-1",
            "+1",
            "9pm pm",
            "9-30",
            "\u{FF19}am",
            "9\u{A0}am",
            "٣pm",
        ] {
            let err = TimeOfDay::parse(bad).expect_err(bad);
            assert_eq!(err.token(), bad);
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn display_and_roundtrip() {
        assert_eq!(hms(9, 5, 0).to_string(), "09:05");
        assert_eq!(hms(23, 59, 59).to_string(), "23:59:59");
        assert_eq!(TimeOfDay::MIDNIGHT.to_string(), "00:00");
        for h in 0..24 {
            for (m, s) in [(0, 0), (1, 0), (59, 59), (30, 1)] {
                let t = hms(h, m, s);
                assert_eq!(t.to_string().parse::<TimeOfDay>().unwrap(), t);
            }
        }
    }

    #[test]
    fn parts_and_civil_bounds() {
        let t = hms(1, 2, 3);
        assert_eq!((t.hour(), t.minute(), t.second()), (1, 2, 3));
        assert_eq!(t.seconds_since_midnight(), 3723);
        assert_eq!(t.to_civil(), Time::constant(1, 2, 3, 0));
        assert_eq!(t.end_of_second(), Time::constant(1, 2, 3, 999_999_999));
        assert!(TimeOfDay::new(24, 0, 0).is_none());
        assert!(TimeOfDay::new(0, 60, 0).is_none());
        assert!(TimeOfDay::new(0, 0, 60).is_none());
        assert_eq!(TimeOfDay::LAST_SECOND, hms(23, 59, 59));
        assert!(hms(0, 0, 1) > TimeOfDay::MIDNIGHT);
    }
}
