//! `--time-zone`: the zone the window's days and times are read in.

use std::fmt;
use std::str::FromStr;

use jiff::tz::TimeZone;

use crate::ScheduleError;

/// A named time zone, as given to kured's `--time-zone`.
///
/// `UTC`, `Local` (the system zone: `TZ`, else `/etc/localtime`, else UTC,
/// like Go's `time.Local`) or an IANA name such as `America/Los_Angeles`,
/// looked up in the system tz database or, where there is none (a scratch
/// container), in the copy bundled into the binary. The empty string means
/// UTC, as with Go's `time.LoadLocation("")`. Names are matched
/// case-insensitively; `Display` shows the canonical name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

impl Zone {
    /// Coordinated Universal Time, kured's default.
    pub fn utc() -> Zone {
        Zone {
            name: "UTC".to_owned(),
            tz: TimeZone::UTC,
        }
    }

    /// The system's zone, displayed as `Local`.
    pub fn local() -> Zone {
        Zone {
            name: "Local".to_owned(),
            tz: TimeZone::system(),
        }
    }

    /// Looks a zone name up; see [`Zone`] for the accepted names.
    pub fn parse(name: &str) -> Result<Zone, ScheduleError> {
        let trimmed = name.trim_matches(|c: char| c.is_ascii_whitespace());
        if trimmed.is_empty() || trimmed.eq_ignore_ascii_case("utc") {
            return Ok(Zone::utc());
        }
        if trimmed.eq_ignore_ascii_case("local") {
            return Ok(Zone::local());
        }
        match TimeZone::get(trimmed) {
            Ok(tz) => Ok(Zone {
                name: tz.iana_name().unwrap_or(trimmed).to_owned(),
                tz,
            }),
            Err(source) => Err(ScheduleError::TimeZone {
                token: name.to_owned(),
                source,
            }),
        }
    }

    /// A zone from an already-built jiff time zone and the name to display for it.
    pub fn from_time_zone(name: impl Into<String>, tz: TimeZone) -> Zone {
        Zone {
            name: name.into(),
            tz,
        }
    }

    /// The name, as `Display` shows it (`UTC`, `Local`, `Europe/Berlin`, …).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The jiff time zone.
    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }
}

impl Default for Zone {
    fn default() -> Self {
        Zone::utc()
    }
}

impl FromStr for Zone {
    type Err = ScheduleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Zone::parse(s)
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Field;
    use jiff::Timestamp;

    #[test]
    fn known_zones() {
        assert_eq!(Zone::parse("UTC").unwrap(), Zone::utc());
        assert_eq!(Zone::parse("utc").unwrap(), Zone::utc());
        assert_eq!(Zone::parse("").unwrap(), Zone::utc());
        let la = Zone::parse("America/Los_Angeles").unwrap();
        assert_eq!(la.name(), "America/Los_Angeles");
        assert_eq!(la.to_string(), "America/Los_Angeles");
        // 2026-01-01T00:00Z is 16:00 the day before in Los Angeles (PST, -08).
        let t: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(
            la.time_zone().to_datetime(t).to_string(),
            "2025-12-31T16:00:00"
        );
        let berlin = Zone::parse("europe/berlin").unwrap();
        assert_eq!(berlin.name(), "Europe/Berlin");
        let local = Zone::parse("Local").unwrap();
        assert_eq!(local.name(), "Local");
        assert_eq!(local.time_zone(), &TimeZone::system());
    }

    #[test]
    fn unknown_zones_are_errors_naming_the_token() {
        for bad in [
            "Mars/Olympus_Mons",
            "Europe/Berlinn",
            "PST8PDT,M3.2.0,M11.1.0",
            "+01:00",
            "../../etc/passwd",
            "\u{0}",
        ] {
            let err = Zone::parse(bad).expect_err(bad);
            assert_eq!(err.field(), Field::TimeZone);
            assert_eq!(err.token(), bad);
            assert!(
                err.to_string()
                    .starts_with("--time-zone: unknown time zone"),
                "{err}"
            );
            assert!(std::error::Error::source(&err).is_some());
        }
    }
}
