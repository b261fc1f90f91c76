//! kured 1.23's `--start-time` / `--end-time` / `--reboot-days` syntax, row by row.
//!
//! Each row gives an input and what kured does with it, worked out from kured's
//! source and Go's standard library (never from this crate's parser), then
//! checks that kured-rs does the same, or, only where kured rejects the value,
//! applies one of its documented extensions (`docs/kured-syntax.md`).
//!
//! Sources, cited in the rows by the tag in brackets:
//!
//! * \[layouts\] kured `pkg/timewindow/timewindow.go`, `parseTime`: tries
//!   `time.ParseInLocation` with `"15:04"`, `"15:04:05"`, `"03:04pm"`, `"15"`,
//!   `"03pm"`, `"3pm"` in that order; the first success wins, none is an error.
//!   The window then uses only `Hour()`, `Minute()`, `Second()`.
//! * \[getnum\] Go `src/time/format.go`, `getnum`: the layout elements `15` and
//!   `3` read one digit, or two when a second digit follows; `03`, `04`, `05`
//!   read exactly two.
//! * \[range\] `parse`: `15` must be 0–23; `3`/`03` 0–12; minutes and seconds
//!   0–59. Out of range is an error.
//! * \[pm\] `parse`, element `pm`: the next two bytes must be exactly `am` or
//!   `pm` (lower case; `AM`/`PM` belong to the layout element `PM`). After the
//!   loop: `pm` with hour < 12 adds 12, `am` with hour 12 makes it 0; nothing
//!   else changes (so `0am` is 0 and `0pm` is 12).
//! * \[frac\] `parse`, elements `5`/`05`: a `.` or `,` followed by a digit right
//!   after the seconds is a fraction of a second even when the layout has none;
//!   it takes every following digit.
//! * \[exact\] `parse`: layout text between elements must match byte for byte
//!   (`skip`), nothing is trimmed, and text left over after the layout is an
//!   "extra text" error.
//! * \[days\] kured `pkg/timewindow/days.go`: `parseWeekdays` skips empty items;
//!   `parseWeekday` first tries `strconv.Atoi` (optional sign, ASCII digits)
//!   and accepts 0–6, else looks up `strings.ToLower(item)` among
//!   `su sun sunday mo mon monday tu tue tuesday we wed wednesday th thu
//!   thursday fr fri friday sa sat saturday`; anything else is an error.
//!   Tests: `days_test.go` (`0,4`, `su,mo,tu`, `sunday,tu,thu`, `THURSDAY`,
//!   `we,WED,WeDnEsDaY`, empty, `,,,`; errors `15`, `-8`, `8`,
//!   `mon,tue,wed,fridayyyy`).
//! * \[csv\] the flag is a pflag string slice: each value is read as one CSV
//!   record (`encoding/csv`, comma-separated, `"` quotes a field, no trimming),
//!   and repeated flags append.

use schedule::{TimeOfDay, Weekday, Weekdays};

/// An hour, minute and second.
type Hms = (u8, u8, u8);

/// What kured 1.23 does with a time: the (hour, minute, second) it keeps, or `None`.
type Kured = Option<Hms>;

/// (input, kured's result, ours, why).
type TimeRow = (&'static str, Kured, Ours<Hms>, &'static str);

/// What kured-rs does with a value, relative to kured.
#[derive(Debug, Clone, Copy)]
enum Ours<T> {
    /// The same as kured (accepts with the same meaning, or rejects).
    Same,
    /// kured rejects it; kured-rs accepts it as a documented extension, meaning this.
    Extension(T),
}
use Ours::{Extension, Same};

/// kured accepts the value, meaning this time of day (a row helper, hence the `Option`).
#[allow(clippy::unnecessary_wraps)]
const fn at(hour: u8, minute: u8, second: u8) -> Kured {
    Some((hour, minute, second))
}
const REJECTS: Kured = None;

const TIMES: &[TimeRow] = &[
    // Layout "15:04".
    ("15:04", at(15, 4, 0), Same, "[layouts] 15:04"),
    ("9:05", at(9, 5, 0), Same, "[getnum] 15 reads one digit"),
    ("09:05", at(9, 5, 0), Same, "[getnum] 15 reads two digits"),
    ("0:00", at(0, 0, 0), Same, "kured's default --start-time"),
    ("00:00", at(0, 0, 0), Same, "kured timewindow_test.go"),
    ("10:01", at(10, 1, 0), Same, "kured timewindow_test.go"),
    ("23:59", at(23, 59, 0), Same, "[range]"),
    ("24:00", REJECTS, Same, "[range] 15 is 0-23"),
    ("25:00", REJECTS, Same, "[range]"),
    ("12:60", REJECTS, Same, "[range] minute 0-59"),
    ("9:5", REJECTS, Same, "[getnum] 04 needs two digits"),
    ("9:005", REJECTS, Same, "[exact] extra text 5"),
    (
        "123:00",
        REJECTS,
        Same,
        "[getnum] 15 reads 12, then ':' != '3'",
    ),
    (":30", REJECTS, Same, "[getnum] no hour digit"),
    ("9:", REJECTS, Same, "[getnum] no minute digits"),
    // Layout "15:04:05".
    ("15:04:05", at(15, 4, 5), Same, "[layouts] 15:04:05"),
    (
        "23:59:59",
        at(23, 59, 59),
        Same,
        "kured's default --end-time",
    ),
    ("0:00:00", at(0, 0, 0), Same, "[getnum]"),
    ("9:05:07", at(9, 5, 7), Same, "[getnum]"),
    ("23:59:60", REJECTS, Same, "[range] second 0-59"),
    ("15:04:5", REJECTS, Same, "[getnum] 05 needs two digits"),
    ("15:04:05:00", REJECTS, Same, "[exact] extra text"),
    (
        "23:59:59.5",
        at(23, 59, 59),
        Same,
        "[frac] fraction dropped by Second()",
    ),
    ("23:59:59,5", at(23, 59, 59), Same, "[frac] comma too"),
    (
        "00:00:00.123456789012",
        at(0, 0, 0),
        Same,
        "[frac] any number of digits",
    ),
    ("23:59:59.", REJECTS, Same, "[frac] needs a digit; [exact]"),
    ("23:59:59.x", REJECTS, Same, "[frac] needs a digit; [exact]"),
    ("23:59:59.5.5", REJECTS, Same, "[exact] extra text .5"),
    (
        "23:59.5",
        REJECTS,
        Same,
        "[frac] only after seconds; [exact]",
    ),
    ("15.5", REJECTS, Same, "[exact]"),
    // Layout "03:04pm".
    ("03:04pm", at(15, 4, 0), Same, "[layouts] 03:04pm"),
    ("03:04am", at(3, 4, 0), Same, "[pm]"),
    ("11:30am", at(11, 30, 0), Same, "kured timewindow_test.go"),
    ("12:00am", at(0, 0, 0), Same, "[pm] 12am is 0"),
    ("12:30pm", at(12, 30, 0), Same, "[pm] 12pm stays"),
    (
        "00:01am",
        at(0, 1, 0),
        Same,
        "[range] 03 takes 0; [pm] am leaves 0",
    ),
    ("00:30pm", at(12, 30, 0), Same, "[pm] pm adds 12 to 0"),
    ("13:00pm", REJECTS, Same, "[range] 03 is 0-12"),
    ("12:60pm", REJECTS, Same, "[range]"),
    (
        "3:04pm",
        REJECTS,
        Extension((15, 4, 0)),
        "[getnum] 03 needs two digits",
    ),
    (
        "5:00pm",
        REJECTS,
        Extension((17, 0, 0)),
        "[getnum] 03 needs two digits",
    ),
    (
        "0:01am",
        REJECTS,
        Extension((0, 1, 0)),
        "[getnum] 03 needs two digits",
    ),
    (
        "03:04PM",
        REJECTS,
        Extension((15, 4, 0)),
        "[pm] lower case only",
    ),
    (
        "03:04 pm",
        REJECTS,
        Extension((15, 4, 0)),
        "[exact] no space in layout",
    ),
    (
        "5:00 PM",
        REJECTS,
        Extension((17, 0, 0)),
        "[getnum] [pm] [exact]",
    ),
    // Layout "15".
    ("15", at(15, 0, 0), Same, "[layouts] 15"),
    ("0", at(0, 0, 0), Same, "[getnum] one digit"),
    ("9", at(9, 0, 0), Same, "[getnum] one digit"),
    ("09", at(9, 0, 0), Same, "[getnum] two digits"),
    ("23", at(23, 0, 0), Same, "[range]"),
    ("24", REJECTS, Same, "[range]"),
    ("123", REJECTS, Same, "[getnum] reads 12; [exact] extra 3"),
    ("015", REJECTS, Same, "[getnum] reads 01; [exact] extra 5"),
    ("-1", REJECTS, Same, "[getnum] digits only"),
    ("+1", REJECTS, Same, "[getnum] digits only"),
    // Layouts "03pm" and "3pm".
    ("03pm", at(15, 0, 0), Same, "[layouts] 03pm"),
    ("3pm", at(15, 0, 0), Same, "[layouts] 3pm"),
    ("9am", at(9, 0, 0), Same, "kured timewindow_test.go"),
    ("5pm", at(17, 0, 0), Same, "kured timewindow_test.go"),
    ("3am", at(3, 0, 0), Same, "[pm]"),
    ("11pm", at(23, 0, 0), Same, "[pm]"),
    ("12am", at(0, 0, 0), Same, "[pm] 12am is 0"),
    ("12pm", at(12, 0, 0), Same, "[pm] 12pm stays"),
    ("0am", at(0, 0, 0), Same, "[range] 3 takes 0; [pm]"),
    ("0pm", at(12, 0, 0), Same, "[pm] pm adds 12 to 0: noon"),
    ("00am", at(0, 0, 0), Same, "[range] 03 takes 00"),
    ("00pm", at(12, 0, 0), Same, "[pm]"),
    ("13pm", REJECTS, Same, "[range] 3 is 0-12"),
    ("24pm", REJECTS, Same, "[range]"),
    (
        "123pm",
        REJECTS,
        Same,
        "[getnum] reads 12; [pm] '3p' is not am/pm",
    ),
    ("9AM", REJECTS, Extension((9, 0, 0)), "[pm] lower case only"),
    ("9Am", REJECTS, Extension((9, 0, 0)), "[pm] lower case only"),
    (
        "9pM",
        REJECTS,
        Extension((21, 0, 0)),
        "[pm] lower case only",
    ),
    ("9 am", REJECTS, Extension((9, 0, 0)), "[exact] no space"),
    (
        "11:59:59 pm",
        REJECTS,
        Extension((23, 59, 59)),
        "no layout with seconds and pm",
    ),
    (
        "12:00:01AM",
        REJECTS,
        Extension((0, 0, 1)),
        "no layout with seconds and pm",
    ),
    (
        "12:00:00am",
        REJECTS,
        Extension((0, 0, 0)),
        "no layout with seconds and pm",
    ),
    (
        "11:59:59.5pm",
        REJECTS,
        Extension((23, 59, 59)),
        "no layout with seconds and pm",
    ),
    (
        "15:04 pm",
        REJECTS,
        Same,
        "[range] 15 > 12 with pm, in ours too",
    ),
    (
        "9:30:00.5 pm",
        REJECTS,
        Extension((21, 30, 0)),
        "no layout with seconds and pm",
    ),
    // Spaces and junk.
    ("", REJECTS, Same, "[getnum] no digit"),
    (" ", REJECTS, Same, "[getnum] no digit"),
    (
        " 15:04",
        REJECTS,
        Extension((15, 4, 0)),
        "[exact] nothing trimmed",
    ),
    (
        "15:04 ",
        REJECTS,
        Extension((15, 4, 0)),
        "[exact] extra text",
    ),
    ("\t9 am\n", REJECTS, Extension((9, 0, 0)), "[exact]"),
    ("noon", REJECTS, Same, "[getnum]"),
    ("midnight", REJECTS, Same, "[getnum]"),
    ("am", REJECTS, Same, "[getnum] no hour"),
    ("pm", REJECTS, Same, "[getnum] no hour"),
    ("9a", REJECTS, Same, "[pm] needs two bytes"),
    ("9p", REJECTS, Same, "[pm] needs two bytes"),
    ("9 amm", REJECTS, Same, "[exact] extra text"),
    ("9 a.m.", REJECTS, Same, "[pm]"),
    ("9pm pm", REJECTS, Same, "[exact]"),
    ("1e1", REJECTS, Same, "[exact]"),
    ("9-30", REJECTS, Same, "[exact]"),
    ("\u{FF19}am", REJECTS, Same, "[getnum] ASCII digits only"),
    (
        "9\u{A0}am",
        REJECTS,
        Same,
        "[exact]; ours trims ASCII whitespace only",
    ),
];

/// Checks each row: kured-rs must give kured's result, or, only where kured
/// rejects the value, the row's extension. `parse` is kured-rs' reading of an
/// input, `meaning` turns a row's expected value into the same type.
fn check_rows<T: Copy + std::fmt::Debug, U: PartialEq + std::fmt::Debug>(
    rows: &[(&str, Option<T>, Ours<T>, &str)],
    parse: impl Fn(&str) -> Option<U>,
    meaning: impl Fn(T) -> U,
) {
    let mut failures = Vec::new();
    for &(input, kured, ours, why) in rows {
        let want = match ours {
            Same => kured,
            Extension(meant) => {
                assert!(
                    kured.is_none(),
                    "{input:?}: an extension may only cover values kured rejects"
                );
                Some(meant)
            }
        };
        let want = want.map(&meaning);
        let got = parse(input);
        if got != want {
            failures.push(format!(
                "{input:?}: got {got:?}, want {want:?} (kured {kured:?}; {why})"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn times_are_read_as_kured_reads_them() {
    let parse = |input: &str| {
        TimeOfDay::parse(input)
            .ok()
            .map(|t| (t.hour(), t.minute(), t.second()))
    };
    check_rows(TIMES, parse, |hms| hms);
}

/// What kured 1.23 does with a `--reboot-days` value: the days, or `None`.
type KuredDays = Option<&'static [Weekday]>;

use Weekday::{Friday, Monday, Saturday, Sunday, Thursday, Tuesday, Wednesday};
const ALL: &[Weekday] = &[
    Sunday, Monday, Tuesday, Wednesday, Thursday, Friday, Saturday,
];

/// (one flag value, kured's result, ours, why).
type DayRow = (
    &'static str,
    KuredDays,
    Ours<&'static [Weekday]>,
    &'static str,
);

const DAYS: &[DayRow] = &[
    ("su,mo,tu,we,th,fr,sa", Some(ALL), Same, "kured's default"),
    ("sun,mon,tue,wed,thu,fri,sat", Some(ALL), Same, "[days]"),
    (
        "sunday,monday,tuesday,wednesday,thursday,friday,saturday",
        Some(ALL),
        Same,
        "[days]",
    ),
    ("0,1,2,3,4,5,6", Some(ALL), Same, "[days] Atoi"),
    ("0,4", Some(&[Sunday, Thursday]), Same, "kured days_test.go"),
    (
        "su,mo,tu",
        Some(&[Sunday, Monday, Tuesday]),
        Same,
        "kured days_test.go",
    ),
    (
        "sunday,tu,thu",
        Some(&[Sunday, Tuesday, Thursday]),
        Same,
        "kured days_test.go",
    ),
    ("THURSDAY", Some(&[Thursday]), Same, "kured days_test.go"),
    (
        "we,WED,WeDnEsDaY",
        Some(&[Wednesday]),
        Same,
        "kured days_test.go",
    ),
    ("", Some(&[]), Same, "kured days_test.go: no days"),
    (
        ",,,",
        Some(&[]),
        Same,
        "kured days_test.go: empty items skipped",
    ),
    (
        "mon,,tue,",
        Some(&[Monday, Tuesday]),
        Same,
        "[days] empty items skipped",
    ),
    (
        "mon,mon,1",
        Some(&[Monday]),
        Same,
        "[days] repeats are harmless",
    ),
    (
        "Mon,FRI,Sa",
        Some(&[Monday, Friday, Saturday]),
        Same,
        "[days] ToLower",
    ),
    (
        "FRİDAY",
        Some(&[Friday]),
        Same,
        "[days] Go's ToLower maps U+0130 to i",
    ),
    ("+1", Some(&[Monday]), Same, "[days] Atoi takes a sign"),
    ("-0", Some(&[Sunday]), Same, "[days] Atoi takes a sign"),
    (
        "01",
        Some(&[Monday]),
        Same,
        "[days] Atoi takes leading zeros",
    ),
    (
        "006",
        Some(&[Saturday]),
        Same,
        "[days] Atoi takes leading zeros",
    ),
    (
        r#""mon",tue"#,
        Some(&[Monday, Tuesday]),
        Same,
        "[csv] quoted field",
    ),
    (
        r#""""#,
        Some(&[]),
        Same,
        "[csv] empty quoted field, skipped",
    ),
    ("15", None, Same, "kured days_test.go"),
    ("-8", None, Same, "kured days_test.go"),
    ("8", None, Same, "kured days_test.go"),
    ("mon,tue,wed,fridayyyy", None, Same, "kured days_test.go"),
    ("7", None, Same, "[days] 0-6"),
    ("-1", None, Same, "[days] 0-6"),
    ("007", None, Same, "[days] 0-6"),
    ("+", None, Same, "[days] Atoi needs a digit"),
    ("1.0", None, Same, "[days]"),
    ("0x1", None, Same, "[days] Atoi is base 10"),
    ("1_0", None, Same, "[days] Atoi takes no underscores"),
    (
        "99999999999999999999",
        None,
        Same,
        "[days] Atoi overflows, not a name",
    ),
    ("tues", None, Same, "[days] not in the table"),
    ("thur", None, Same, "[days]"),
    ("thurs", None, Same, "[days]"),
    ("m", None, Same, "[days]"),
    ("mond", None, Same, "[days]"),
    ("sundays", None, Same, "[days]"),
    ("lundi", None, Same, "[days]"),
    ("mon tue", None, Same, "[csv] only commas separate"),
    ("mon;tue", None, Same, "[csv] only commas separate"),
    ("mon|tue", None, Same, "[csv] only commas separate"),
    ("mon-fri", None, Same, "[days] no ranges"),
    (
        r#""mon,tue""#,
        None,
        Same,
        "[csv] one field 'mon,tue'; ours splits it: bad either way",
    ),
    (
        " mon",
        None,
        Extension(&[Monday]),
        "[csv] no trimming; ' mon' is no name",
    ),
    (
        "mon , tue",
        None,
        Extension(&[Monday, Tuesday]),
        "[csv] no trimming",
    ),
    (
        " 1",
        None,
        Extension(&[Monday]),
        "[days] Atoi takes no space",
    ),
    (
        "mon, ,tue",
        None,
        Extension(&[Monday, Tuesday]),
        "[days] ' ' is not empty",
    ),
];

#[test]
fn days_are_read_as_kured_reads_them() {
    let parse = |input: &str| Weekdays::parse(&[input]).ok();
    check_rows(DAYS, parse, |days: &[Weekday]| {
        Weekdays::from_days(days.iter().copied())
    });
}

#[test]
fn repeated_flags_append_as_kured_does() {
    // [csv] pflag's string slice appends the values of repeated flags.
    let days = Weekdays::parse(&["mon", "fri,sa"]).unwrap();
    assert_eq!(days, Weekdays::from_days([Monday, Friday, Saturday]));
}
