//! The maintenance window itself: days + start/end time + zone.

use std::fmt;
use std::time::Duration;

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::Offset;
use jiff::{SignedDuration, Timestamp, ToSpan};

use crate::{ScheduleError, TimeOfDay, Weekdays, Zone};

/// How far ahead [`TimeWindow::next_open`] and [`TimeWindow::next_close`]
/// look before giving up: three weeks and a day. A window with at least one
/// day opens within a week in any real zone, and within two weeks even when a
/// DST gap or a skipped calendar day swallows one occurrence, so `None` means
/// "never" in practice.
pub const SEARCH_HORIZON: SignedDuration = SignedDuration::from_hours(22 * 24);

/// A recurring maintenance window, as kured 1.23's `--reboot-days`,
/// `--start-time`, `--end-time` and `--time-zone` describe it.
///
/// An instant is inside when, read as a wall-clock date and time in the zone,
/// its date falls on one of the days, and its time of day is
///
/// * between start and end, both inclusive, the end through the last
///   nanosecond of its second, when start ≤ end (start == end is a one-second
///   window);
/// * at or after start, or at or before the end of end's second, when
///   start > end (the window wraps midnight).
///
/// The day test always uses the local date of the instant itself, as kured
/// does: with days `fri` and 23:59–00:01, Thursday 23:59 is outside and
/// Friday 00:00 inside (and so is Friday 23:59). Because the test reads the
/// wall clock, DST changes are handled exactly: a wrapped window 23:30–01:30
/// contains 00:15 on the day clocks go back (kured, adding a fixed 24 h,
/// misses it); a wall-clock time that repeats in a fold is inside both times;
/// a wall-clock time skipped by a DST gap does not occur, so a window lying
/// entirely inside the gap (02:00–02:30 where 02:00 jumps to 03:00) does not
/// open that day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeWindow {
    days: Weekdays,
    start: TimeOfDay,
    end: TimeOfDay,
    zone: Zone,
}

impl Default for TimeWindow {
    /// kured's defaults: every day, 00:00 to 23:59:59, UTC — always open.
    fn default() -> Self {
        TimeWindow::new(
            Weekdays::ALL,
            TimeOfDay::MIDNIGHT,
            TimeOfDay::LAST_SECOND,
            Zone::utc(),
        )
    }
}

impl TimeWindow {
    /// kured's default `--reboot-days`.
    pub const DEFAULT_DAYS: &'static str = "su,mo,tu,we,th,fr,sa";
    /// kured's default `--start-time`.
    pub const DEFAULT_START: &'static str = "0:00";
    /// kured's default `--end-time`.
    pub const DEFAULT_END: &'static str = "23:59:59";
    /// kured's default `--time-zone`.
    pub const DEFAULT_ZONE: &'static str = "UTC";

    /// A window from already-parsed parts.
    pub fn new(days: Weekdays, start: TimeOfDay, end: TimeOfDay, zone: Zone) -> TimeWindow {
        TimeWindow {
            days,
            start,
            end,
            zone,
        }
    }

    /// Parses the four kured flags.
    ///
    /// `days` is what kured's string-slice flag yields: one element per flag
    /// occurrence or per environment value, each of which may itself be a
    /// comma list; see [`Weekdays::parse`] (no items at all → a window that
    /// never opens, as in kured). `start` and `end` take any form of
    /// [`TimeOfDay`], `zone` any form of [`Zone`]. The error names the flag
    /// and the offending token.
    pub fn parse<S: AsRef<str>>(
        days: &[S],
        start: &str,
        end: &str,
        zone: &str,
    ) -> Result<TimeWindow, ScheduleError> {
        let days = Weekdays::parse(days)?;
        let start = TimeOfDay::parse(start).map_err(ScheduleError::StartTime)?;
        let end = TimeOfDay::parse(end).map_err(ScheduleError::EndTime)?;
        let zone = Zone::parse(zone)?;
        Ok(TimeWindow::new(days, start, end, zone))
    }

    /// [`TimeWindow::parse`] with the days as one comma-separated string.
    pub fn parse_str(
        days: &str,
        start: &str,
        end: &str,
        zone: &str,
    ) -> Result<TimeWindow, ScheduleError> {
        TimeWindow::parse(&[days], start, end, zone)
    }

    /// The days the window opens on.
    pub fn days(&self) -> Weekdays {
        self.days
    }

    /// The first second of the window.
    pub fn start(&self) -> TimeOfDay {
        self.start
    }

    /// The last second of the window (inclusive).
    pub fn end(&self) -> TimeOfDay {
        self.end
    }

    /// The zone the days and times are read in.
    pub fn zone(&self) -> &Zone {
        &self.zone
    }

    /// Whether start > end, i.e. the daily window runs past midnight.
    pub fn wraps_midnight(&self) -> bool {
        self.start > self.end
    }

    /// Whether the window can never open (it has no days).
    pub fn is_never_open(&self) -> bool {
        self.days.is_empty()
    }

    /// Whether `t` lies inside the window.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.contains_civil(self.zone.time_zone().to_datetime(t))
    }

    /// The first instant at or after `t` inside the window: `t` itself when
    /// `t` is inside, else the exact (nanosecond) instant the window next
    /// opens.
    ///
    /// `None` when the window does not open within [`SEARCH_HORIZON`] of `t`,
    /// which happens exactly when it has no days (barring a zone that skips
    /// more than two weeks of wall-clock time), or when the answer would lie
    /// beyond the range of [`Timestamp`].
    pub fn next_open(&self, t: Timestamp) -> Option<Timestamp> {
        self.next_where(t, true)
    }

    /// The first instant at or after `t` outside the window: `t` itself when
    /// `t` is outside, else the instant just after the window's current
    /// opening ends.
    ///
    /// `None` when the window does not close within [`SEARCH_HORIZON`] of
    /// `t`, e.g. the default window (every day, 00:00–23:59:59) never closes.
    pub fn next_close(&self, t: Timestamp) -> Option<Timestamp> {
        self.next_where(t, false)
    }

    /// How long from `t` until the window opens: zero when `t` is inside,
    /// `None` as for [`TimeWindow::next_open`]. Handy for sleeping until then.
    pub fn until_open(&self, t: Timestamp) -> Option<Duration> {
        let open = self.next_open(t)?;
        Duration::try_from(open.duration_since(t)).ok()
    }

    /// The wall-clock membership test.
    fn contains_civil(&self, dt: DateTime) -> bool {
        self.days.contains(dt.weekday()) && self.contains_time(dt.time())
    }

    /// The time-of-day part of the test.
    fn contains_time(&self, t: Time) -> bool {
        let after_start = t >= self.start.to_civil();
        let before_end = t <= self.end.end_of_second();
        if self.wraps_midnight() {
            after_start || before_end
        } else {
            after_start && before_end
        }
    }

    /// The earliest wall-clock datetime at or after `dt` whose membership is
    /// `want`, looking at most eight dates ahead.
    ///
    /// Membership is constant between consecutive "boundaries": midnight (the
    /// weekday changes), the start time (the start test flips) and the second
    /// after the end time (the end test flips). So the answer is `dt` itself
    /// or the first boundary after it with the wanted membership. The set is
    /// weekly, so eight dates always suffice when an answer exists.
    fn civil_next(&self, dt: DateTime, want: bool) -> Option<DateTime> {
        if self.contains_civil(dt) == want {
            return Some(dt);
        }
        let after_end = self
            .end
            .end_of_second()
            .checked_add(SignedDuration::from_nanos(1))
            .ok(); // None for 23:59:59: its successor is the next midnight.
        let first: Date = dt.date();
        for k in 0..=8 {
            let date = first.checked_add(k.days()).ok()?;
            let mut bounds = [
                Some(Time::midnight()),
                Some(self.start.to_civil()),
                after_end,
            ];
            bounds.sort_unstable();
            for bound in bounds.into_iter().flatten() {
                let candidate = date.to_datetime(bound);
                if candidate > dt && self.contains_civil(candidate) == want {
                    return Some(candidate);
                }
            }
        }
        None
    }

    /// The earliest instant at or after `t` whose membership is `want`.
    ///
    /// Walks the zone's offset spans: between two transitions the offset is
    /// fixed, so wall-clock time moves in step with real time and the
    /// wall-clock answer of [`TimeWindow::civil_next`] maps back to an instant
    /// exactly. If that instant falls after the span ends, the search restarts
    /// at the transition with the new offset (which covers DST gaps and folds:
    /// re-entering the window when the clock jumps into it or falls back into
    /// it).
    fn next_where(&self, t: Timestamp, want: bool) -> Option<Timestamp> {
        let tz = self.zone.time_zone();
        let horizon = t.checked_add(SEARCH_HORIZON).unwrap_or(Timestamp::MAX);
        let mut transitions = tz.following(t);
        let mut span_start = t;
        let mut offset: Offset = tz.to_offset(t);
        loop {
            let next = transitions.next();
            let span_end = next.as_ref().map(jiff::tz::TimeZoneTransition::timestamp);
            let found = self
                .civil_next(offset.to_datetime(span_start), want)
                .and_then(|dt| offset.to_timestamp(dt).ok());
            if let Some(found) = found
                && span_end.is_none_or(|end| found < end)
            {
                return (found <= horizon).then_some(found);
            }
            let (span_end, next) = (span_end?, next?);
            if span_end > horizon {
                return None;
            }
            span_start = span_end;
            offset = next.offset();
        }
    }
}

impl fmt::Display for TimeWindow {
    /// Reads like the flags: `mon,tue between 23:00 and 01:00 Europe/Berlin`;
    /// a window without days shows `no days` in place of the list.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.days.is_empty() {
            f.write_str("no days")?;
        } else {
            write!(f, "{}", self.days)?;
        }
        write!(f, " between {} and {} {}", self.start, self.end, self.zone)
    }
}

#[cfg(test)]
mod tests;
