//! Maintenance windows: when is a node allowed to reboot?
//!
//! This crate is a drop-in for kured 1.23's `--reboot-days`, `--start-time`,
//! `--end-time` and `--time-zone` flags: a [`TimeWindow`] is a set of
//! [`Weekdays`], a start and an end [`TimeOfDay`] and a [`Zone`]. It answers
//! "is this instant inside?" ([`TimeWindow::contains`]) and "when does it next
//! open?" ([`TimeWindow::next_open`], exact to the nanosecond, for logs and
//! for sleeping until then), and [`TimeWindow::next_close`].
//!
//! Every value kured accepts is accepted with the same meaning (Go's reading
//! of its time layouts included: `00:01am` is 00:01, `0pm` is noon); the
//! rules, kured's and ours, are tabled in `docs/kured-syntax.md` and checked
//! by `tests/kured_syntax.rs`. Days are read as the local
//! weekday of the instant, the end is inclusive through the end of its
//! second, start > end wraps midnight and start == end is a one-second window.
//! Where kured is wrong or strict this crate does better: wrapped windows are
//! exact across DST changes (kured adds a fixed 24 h), and the time forms that
//! kured documents but rejects (`5:00pm`, `9AM`, `9 am`, `5:00 PM`) are
//! accepted. Zones come from the system tz database or, in a scratch container
//! without one, from the copy of it bundled into the binary.
//!
//! ```
//! use jiff::Timestamp;
//! use schedule::TimeWindow;
//!
//! // Weeknights 23:00 to 01:00 (inclusive) in Berlin.
//! let window = TimeWindow::parse_str("mon,tue,wed,thu,fri", "11pm", "1:00", "Europe/Berlin")?;
//! assert_eq!(
//!     window.to_string(),
//!     "mon,tue,wed,thu,fri between 23:00 and 01:00 Europe/Berlin"
//! );
//!
//! // Friday 2026-11-20 12:00 UTC is 13:00 in Berlin: closed.
//! let noon: Timestamp = "2026-11-20T12:00:00Z".parse()?;
//! assert!(!window.contains(noon));
//! // It opens at 23:00 Berlin time, 22:00 UTC.
//! let open = window.next_open(noon).expect("the window has days");
//! assert_eq!(open, "2026-11-20T22:00:00Z".parse::<Timestamp>()?);
//! assert!(window.contains(open));
//!
//! // Bad input names the flag and the token.
//! let err = TimeWindow::parse_str("mon", "25:00", "1:00", "UTC").unwrap_err();
//! assert_eq!(err.to_string(), r#"--start-time: invalid time "25:00": hour must be 0-23"#);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod days;
mod error;
mod time;
mod window;
mod zone;

pub use days::{Weekdays, parse_weekday};
pub use error::{Field, ScheduleError, TimeOfDayError};
pub use jiff::civil::Weekday;
pub use time::TimeOfDay;
pub use window::{SEARCH_HORIZON, TimeWindow};
pub use zone::Zone;

/// The README's example, compiled as a doctest so it cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
