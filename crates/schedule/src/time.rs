//! `--start-time` / `--end-time`: a time of day with second precision.

use std::fmt;
use std::str::FromStr;

use jiff::civil::Time;

use crate::TimeOfDayError;

mod syntax;

/// A wall-clock time of day, to the second, as given to kured's `--start-time`
/// and `--end-time`.
///
/// Accepted forms (the full rules, kured's and ours side by side, are in
/// `docs/kured-syntax.md`):
///
/// | form | examples | kured 1.23 |
/// |---|---|---|
/// | `H`, `HH` (24 h) | `15`, `9`, `09`, `0` | yes (layout `15`) |
/// | `H:MM`, `HH:MM` | `15:04`, `0:00`, `9:05` | yes (`15:04`) |
/// | `H:MM:SS`, `HH:MM:SS`, optional fraction | `15:04:05`, `23:59:59`, `23:59:59.5` | yes (`15:04:05`) |
/// | `H` or `HH` then `am`/`pm` | `3pm`, `03pm`, `0am`, `12pm` | yes (`3pm`, `03pm`) |
/// | `HH:MM` then `am`/`pm` | `03:04pm`, `00:01am`, `12:30am` | yes (`03:04pm`) |
/// | `AM`/`PM` in any case, a space before it | `9AM`, `9 am`, `5:00 PM` | no: extension |
/// | `H:MM` then `am`/`pm` | `5:00pm`, `0:30am` | no: extension |
/// | seconds then `am`/`pm` | `11:59:59 pm`, `12:00:01AM`, `11:59:59.5pm` | no: extension |
/// | surrounding whitespace | `" 15:04 "` | no: extension |
///
/// Hours are 0–23, or 0–12 with `am`/`pm`, read as Go reads them: `12am` is
/// 00:00, `12pm` 12:00, a `pm` hour below 12 gains 12 and any other hour
/// stays, so `0am`/`00:01am` are just after midnight and `0pm` is noon.
/// Minutes and seconds are exactly two digits 00–59. A fraction of a second
/// (`.` or `,` then digits, after the seconds) is accepted
/// and dropped, as kured keeps only the whole second. Everything kured 1.23
/// accepts is accepted with the same meaning.
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
        let syntax::Clock {
            hour,
            minute,
            second,
        } = syntax::parse(input).map_err(|reason| TimeOfDayError::new(input, reason))?;
        Ok(TimeOfDay {
            hour,
            minute,
            second,
        })
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
            // Go's time.Parse takes hour 0 with am/pm (range 0-12) and only
            // adds 12 to a pm hour below 12, and parses a fraction after the
            // seconds even when the layout has none: kured accepts these (this
            // test used to assert they were rejected, which broke drop-in use).
            ("0pm", hms(12, 0, 0)),
            ("0am", hms(0, 0, 0)),
            ("00am", hms(0, 0, 0)),
            ("00:01am", hms(0, 1, 0)),
            ("23:59:59.5", hms(23, 59, 59)),
            ("23:59:59,999999999999", hms(23, 59, 59)),
            // forms kured documents but rejects
            ("5:00pm", hms(17, 0, 0)),
            ("9AM", hms(9, 0, 0)),
            ("9 am", hms(9, 0, 0)),
            ("5:00 PM", hms(17, 0, 0)),
            ("9Am", hms(9, 0, 0)),
            ("11:59:59 pm", hms(23, 59, 59)),
            ("12:00:01AM", hms(0, 0, 1)),
            ("11:59:59.5pm", hms(23, 59, 59)),
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
            "23:59:59.",
            "23:59:59.x",
            "23:59.5",
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
