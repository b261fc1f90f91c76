//! The text of a `--start-time` / `--end-time` value: what kured 1.23 accepts,
//! plus the kured-rs extensions, reduced to an hour, a minute and a second.
//!
//! kured tries Go's `time.ParseInLocation` with the layouts `15:04`,
//! `15:04:05`, `03:04pm`, `15`, `03pm`, `3pm` in turn. Read with Go's rules,
//! those accept exactly:
//!
//! * `H`, `HH`, `H:MM`, `HH:MM` with the hour 0–23 (`15` reads one or two
//!   digits, `04` exactly two);
//! * `H:MM:SS`, `HH:MM:SS`, optionally followed by a fraction of a second,
//!   `.` or `,` then one or more digits (Go parses it even though the layout
//!   has none; kured then uses only the whole second);
//! * `H` or `HH` then `am`/`pm` (`3pm`; `03pm` is a subset), and `HH:MM`
//!   then `am`/`pm` (`03:04pm`, the hour exactly two digits), with the hour
//!   0–12 and `am`/`pm` in lower case only. Go maps `12am` to 0, adds 12 to a
//!   `pm` hour below 12, and leaves every other hour alone, so `0am` and
//!   `00:01am` are after midnight and `0pm` is noon.
//!
//! Nothing else: no surrounding space, no trailing text, no sign.
//!
//! The kured-rs extensions, on top: surrounding ASCII whitespace is ignored;
//! `am`/`pm` may be in any case and follow a space; with `am`/`pm` the hour
//! may have one digit before minutes (`5:00pm`) and seconds may follow
//! (`11:59:59 pm`, `11:59:59.5pm`). Put another way, kured-rs reads a value as
//! kured would if it also tried the layouts `3:04pm` and `3:04:05pm`, after
//! trimming the value, lower-casing `AM`/`PM` and dropping the space before it.

/// A parsed time of day: hour 0–23, minute and second 0–59.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Clock {
    pub(super) hour: u8,
    pub(super) minute: u8,
    pub(super) second: u8,
}

/// Morning or afternoon, from an `am`/`pm` suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meridiem {
    Am,
    Pm,
}

/// Parses a time of day; the error is the reason, for [`crate::TimeOfDayError`].
pub(super) fn parse(input: &str) -> Result<Clock, &'static str> {
    let text = input.trim_matches(|c: char| c.is_ascii_whitespace());
    if text.is_empty() {
        return Err("empty (expected e.g. 15:04, 15:04:05, 3pm, 03:04pm, 5:00 PM or 15)");
    }
    let (body, meridiem) = split_meridiem(text);
    if body.is_empty() {
        return Err("missing hour before am/pm");
    }
    let (body, fraction) = split_fraction(body)?;
    let mut fields = body.split(':');
    let hour = fields.next().unwrap_or_default();
    let minute = fields.next();
    let second = fields.next();
    if fields.next().is_some() {
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
        None if fraction => return Err("a fraction of a second needs the seconds (H:MM:SS.f)"),
        None => 0,
        Some(s) => digits(s, 2..=2).ok_or("seconds must be exactly two digits")?,
    };
    if minute > 59 {
        return Err("minute must be 00-59");
    }
    if second > 59 {
        return Err("second must be 00-59");
    }
    let hour = match meridiem {
        None if hour > 23 => return Err("hour must be 0-23"),
        Some(_) if hour > 12 => return Err("hour must be 0-12 with am/pm"),
        _ => hour_of_day(hour, meridiem),
    };
    Ok(Clock {
        hour,
        minute,
        second,
    })
}

/// The hour of the day, as Go's `time.Parse` reads an hour with an optional
/// `am`/`pm`: `12am` is 0, a `pm` hour below 12 gains 12, any other hour stays.
fn hour_of_day(hour: u8, meridiem: Option<Meridiem>) -> u8 {
    match meridiem {
        Some(Meridiem::Am) if hour == 12 => 0,
        Some(Meridiem::Pm) if hour < 12 => hour + 12,
        _ => hour,
    }
}

/// Splits a trailing `am`/`pm` (any case, optionally after whitespace) off `text`.
fn split_meridiem(text: &str) -> (&str, Option<Meridiem>) {
    let Some(cut) = text.len().checked_sub(2) else {
        return (text, None);
    };
    let meridiem = match text.get(cut..) {
        Some(s) if s.eq_ignore_ascii_case("am") => Meridiem::Am,
        Some(s) if s.eq_ignore_ascii_case("pm") => Meridiem::Pm,
        _ => return (text, None),
    };
    let body = text[..cut].trim_end_matches(|c: char| c.is_ascii_whitespace());
    (body, Some(meridiem))
}

/// Splits a fraction of a second (`.5`, `,250`) off `body`, checking it is digits.
///
/// Returns the rest and whether there was a fraction; the fraction's value is
/// dropped, as kured keeps only the whole second.
fn split_fraction(body: &str) -> Result<(&str, bool), &'static str> {
    match body.find(['.', ',']) {
        None => Ok((body, false)),
        Some(at) if digits_only(&body[at + 1..]) => Ok((&body[..at], true)),
        Some(_) => Err("a fraction of a second must be one or more digits after '.' or ','"),
    }
}

/// Whether `s` is one or more ASCII digits.
fn digits_only(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `s` as a number if it is all ASCII digits and its length is in `len`.
fn digits(s: &str, len: std::ops::RangeInclusive<usize>) -> Option<u8> {
    if !len.contains(&s.len()) || !digits_only(s) {
        return None;
    }
    s.parse().ok()
}
