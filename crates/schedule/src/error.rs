//! Errors for the schedule crate.

use std::fmt;

/// The kured flag a value belongs to, used to point users at the bad input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// `--reboot-days`
    RebootDays,
    /// `--start-time`
    StartTime,
    /// `--end-time`
    EndTime,
    /// `--time-zone`
    TimeZone,
}

impl Field {
    /// The command-line flag, e.g. `--start-time`.
    pub const fn flag(self) -> &'static str {
        match self {
            Field::RebootDays => "--reboot-days",
            Field::StartTime => "--start-time",
            Field::EndTime => "--end-time",
            Field::TimeZone => "--time-zone",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.flag())
    }
}

/// A time of day that could not be parsed; see [`crate::TimeOfDay`].
///
/// It does not know which flag it came from: [`ScheduleError::StartTime`] and
/// [`ScheduleError::EndTime`] add that.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid time {token:?}: {reason}")]
pub struct TimeOfDayError {
    pub(crate) token: String,
    pub(crate) reason: &'static str,
}

impl TimeOfDayError {
    pub(crate) fn new(token: &str, reason: &'static str) -> Self {
        TimeOfDayError {
            token: token.to_owned(),
            reason,
        }
    }

    /// The offending input, as given.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Why it was rejected.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

/// Why a maintenance window specification was rejected.
///
/// Every variant names the flag ([`ScheduleError::field`]) and the offending
/// token ([`ScheduleError::token`]); the `Display` form starts with the flag,
/// e.g. `--start-time: invalid time "25:00": hour must be 0-23`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// An item of `--reboot-days` is not a weekday.
    #[error("--reboot-days: invalid day {token:?}: {reason}")]
    Day {
        /// The offending item (one element of the comma list), as given.
        token: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// `--start-time` is not a time of day.
    #[error("--start-time: {0}")]
    StartTime(TimeOfDayError),
    /// `--end-time` is not a time of day.
    #[error("--end-time: {0}")]
    EndTime(TimeOfDayError),
    /// `--time-zone` names no known time zone.
    #[error(
        "--time-zone: unknown time zone {token:?} (expected an IANA name such as Europe/Berlin, UTC or Local)"
    )]
    TimeZone {
        /// The zone name, as given.
        token: String,
        /// The lookup failure reported by the time zone database.
        #[source]
        source: jiff::Error,
    },
}

impl ScheduleError {
    /// The flag the bad value belongs to.
    pub fn field(&self) -> Field {
        match self {
            ScheduleError::Day { .. } => Field::RebootDays,
            ScheduleError::StartTime(_) => Field::StartTime,
            ScheduleError::EndTime(_) => Field::EndTime,
            ScheduleError::TimeZone { .. } => Field::TimeZone,
        }
    }

    /// The offending token, as given.
    pub fn token(&self) -> &str {
        match self {
            ScheduleError::Day { token, .. } | ScheduleError::TimeZone { token, .. } => token,
            ScheduleError::StartTime(e) | ScheduleError::EndTime(e) => e.token(),
        }
    }
}
