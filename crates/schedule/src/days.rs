//! `--reboot-days`: a set of weekdays.

use std::fmt;
use std::str::FromStr;

use jiff::civil::Weekday;

use crate::ScheduleError;

/// Every weekday, Sunday first (offset 0 = Sunday, as kured and Go number them).
const SUNDAY_FIRST: [Weekday; 7] = [
    Weekday::Sunday,
    Weekday::Monday,
    Weekday::Tuesday,
    Weekday::Wednesday,
    Weekday::Thursday,
    Weekday::Friday,
    Weekday::Saturday,
];

/// Short lowercase names used by `Display`; each is also accepted by [`parse_weekday`].
const SHORT_NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// A set of weekdays, as given to kured's `--reboot-days`.
///
/// `Display` lists the days Sunday first as a comma list of short names
/// (`mon,tue`), which [`Weekdays::from_str`] parses back. The empty set
/// displays as the empty string.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Weekdays(u8);

impl Weekdays {
    /// No day at all: a window with no days never opens.
    pub const EMPTY: Weekdays = Weekdays(0);
    /// All seven days: kured's default.
    pub const ALL: Weekdays = Weekdays(0b111_1111);

    /// Parses kured's `--reboot-days` values.
    ///
    /// Each element may itself be a comma list (`["mon,tue", "fri"]` and
    /// `["mon", "tue", "fri"]` are the same), as kured's string-slice flag
    /// reads it; an item wholly in double quotes (`"mon"`) is unquoted, as
    /// that flag's CSV reader does. Items are trimmed and empty items skipped;
    /// every other item goes to [`parse_weekday`]. Repeats are allowed. The
    /// first bad item is an error naming it.
    ///
    /// An input with no items at all gives [`Weekdays::EMPTY`], as in kured (a
    /// window that never opens); callers apply the default ([`Weekdays::ALL`])
    /// when the flag is absent.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Weekdays, ScheduleError> {
        let mut set = Weekdays::EMPTY;
        for item in items {
            for token in item.as_ref().split(',') {
                let token = token.trim_matches(|c: char| c.is_ascii_whitespace());
                let token = csv_unquote(token);
                if token.is_empty() {
                    continue;
                }
                set.insert(parse_weekday(token)?);
            }
        }
        Ok(set)
    }

    /// A set holding exactly the given days.
    pub fn from_days<I: IntoIterator<Item = Weekday>>(days: I) -> Weekdays {
        let mut set = Weekdays::EMPTY;
        for day in days {
            set.insert(day);
        }
        set
    }

    /// Whether `day` is in the set.
    pub fn contains(self, day: Weekday) -> bool {
        self.0 & bit(day) != 0
    }

    /// Adds `day` to the set.
    pub fn insert(&mut self, day: Weekday) {
        self.0 |= bit(day);
    }

    /// Whether the set holds no day.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// How many days the set holds.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The days in the set, Sunday first.
    pub fn iter(self) -> impl Iterator<Item = Weekday> {
        SUNDAY_FIRST.into_iter().filter(move |d| self.contains(*d))
    }
}

fn bit(day: Weekday) -> u8 {
    // to_sunday_zero_offset is 0..=6, so the shift cannot overflow.
    1u8 << day.to_sunday_zero_offset().unsigned_abs()
}

/// Parses one `--reboot-days` item as kured does: a day name, or a day
/// number 0–6 (0 = Sunday).
///
/// Names are `su|sun|sunday`, `mo|mon|monday`, `tu|tue|tuesday`,
/// `we|wed|wednesday`, `th|thu|thursday`, `fr|fri|friday`,
/// `sa|sat|saturday`, in any case (Go's `strings.ToLower`, which also folds
/// `İ` to `i`). A number is read as Go's `strconv.Atoi` reads it: an optional
/// `+` or `-`, then ASCII digits, leading zeros allowed (`+1` and `01` are
/// Monday, `-0` Sunday). Surrounding whitespace is ignored (a kured-rs
/// extension). The error names the token.
pub fn parse_weekday(token: &str) -> Result<Weekday, ScheduleError> {
    let trimmed = token.trim_matches(|c: char| c.is_ascii_whitespace());
    let err = |reason| ScheduleError::Day {
        token: token.to_owned(),
        reason,
    };
    if let Ok(number) = trimmed.parse::<i64>() {
        return usize::try_from(number)
            .ok()
            .and_then(|i| SUNDAY_FIRST.get(i).copied())
            .ok_or_else(|| err("day number out of range 0-6 (0 = Sunday)"));
    }
    let day = match lower_like_go(trimmed).as_str() {
        "su" | "sun" | "sunday" => Weekday::Sunday,
        "mo" | "mon" | "monday" => Weekday::Monday,
        "tu" | "tue" | "tuesday" => Weekday::Tuesday,
        "we" | "wed" | "wednesday" => Weekday::Wednesday,
        "th" | "thu" | "thursday" => Weekday::Thursday,
        "fr" | "fri" | "friday" => Weekday::Friday,
        "sa" | "sat" | "saturday" => Weekday::Saturday,
        _ => {
            return Err(err(
                "expected su|sun|sunday ... sa|sat|saturday or a number 0-6 (0 = Sunday)",
            ));
        }
    };
    Ok(day)
}

/// `s` lowered as Go's `strings.ToLower` lowers the letters that can spell a
/// day name: ASCII letters, and `İ` (U+0130), whose lower case in Go's
/// Unicode tables is a plain `i`. (The only other non-ASCII letter Go lowers
/// to ASCII is the Kelvin sign, to `k`, which no day name contains.)
fn lower_like_go(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == '\u{130}' {
                'i'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// A CSV field wholly in double quotes without them (`"mon"` → `mon`), as the
/// CSV reader behind kured's string-slice flags reads it; any other text as is.
fn csv_unquote(field: &str) -> &str {
    field
        .strip_prefix('"')
        .and_then(|f| f.strip_suffix('"'))
        .unwrap_or(field)
}

impl FromStr for Weekdays {
    type Err = ScheduleError;

    /// Parses one comma list, as [`Weekdays::parse`] does.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Weekdays::parse(&[s])
    }
}

impl FromIterator<Weekday> for Weekdays {
    fn from_iter<I: IntoIterator<Item = Weekday>>(iter: I) -> Self {
        Weekdays::from_days(iter)
    }
}

impl fmt::Display for Weekdays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for day in self.iter() {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            f.write_str(short_name(day))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Weekdays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Weekdays({self})")
    }
}

/// The three-letter lowercase name of `day` (`sun` … `sat`).
pub(crate) fn short_name(day: Weekday) -> &'static str {
    SHORT_NAMES[usize::from(day.to_sunday_zero_offset().unsigned_abs())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_day_name_form_is_accepted_case_insensitively() {
        let table: [(&[&str], Weekday); 7] = [
            (&["su", "sun", "sunday", "0"], Weekday::Sunday),
            (&["mo", "mon", "monday", "1"], Weekday::Monday),
            (&["tu", "tue", "tuesday", "2"], Weekday::Tuesday),
            (&["we", "wed", "wednesday", "3"], Weekday::Wednesday),
            (&["th", "thu", "thursday", "4"], Weekday::Thursday),
            (&["fr", "fri", "friday", "5"], Weekday::Friday),
            (&["sa", "sat", "saturday", "6"], Weekday::Saturday),
        ];
        for (forms, want) in table {
            for form in forms {
                let upper = form.to_ascii_uppercase();
                let mut mixed = form.to_string();
                mixed[..1].make_ascii_uppercase();
                for input in [form.to_string(), upper, mixed] {
                    let got =
                        parse_weekday(&input).unwrap_or_else(|e| panic!("{input:?} rejected: {e}"));
                    assert_eq!(got, want, "{input:?}");
                    let set: Weekdays = input.parse().unwrap();
                    assert_eq!(set, Weekdays::from_days([want]), "{input:?}");
                }
            }
        }
    }

    #[test]
    fn bad_days_are_rejected_naming_the_token() {
        for bad in [
            "7",
            "8",
            "-1",
            "-7",
            "+7",
            "+",
            "-",
            "1+",
            "0x1",
            "1_0",
            "99999999999999999999",
            "mond",
            "tues",
            "thur",
            "thurs",
            "m",
            "s",
            "sundays",
            "1.0",
            "mon-fri",
            "mon tue",
            "lundi",
            "\u{1F600}",
        ] {
            let err = parse_weekday(bad).expect_err(bad);
            assert_eq!(err.token(), bad);
            assert_eq!(err.field(), crate::Field::RebootDays);
            let msg = err.to_string();
            assert!(msg.starts_with("--reboot-days: "), "{msg}");
            assert!(msg.contains(&format!("{bad:?}")), "{msg}");
        }
        // The error names the bad item of the list, not the whole list.
        let err = Weekdays::parse(&["mon,tus,fri"]).unwrap_err();
        assert_eq!(err.token(), "tus");
    }

    #[test]
    fn numbers_and_case_are_read_as_go_reads_them() {
        // kured's parseWeekday tries strconv.Atoi first: an optional sign and
        // leading zeros are fine. ("+1" used to be in the rejected list above;
        // kured accepts it as Monday.)
        for (input, want) in [
            ("+1", Weekday::Monday),
            ("01", Weekday::Monday),
            ("-0", Weekday::Sunday),
            ("+0", Weekday::Sunday),
            ("0006", Weekday::Saturday),
        ] {
            assert_eq!(parse_weekday(input).unwrap(), want, "{input:?}");
        }
        // strings.ToLower folds U+0130 (İ) to a plain i.
        assert_eq!(parse_weekday("FRİDAY").unwrap(), Weekday::Friday);
        assert_eq!(parse_weekday("frİ").unwrap(), Weekday::Friday);
    }

    #[test]
    fn quoted_items_are_unquoted_as_csv() {
        let want = Weekdays::from_days([Weekday::Monday, Weekday::Tuesday]);
        assert_eq!(Weekdays::parse(&[r#""mon",tue"#]).unwrap(), want);
        assert_eq!(Weekdays::parse(&[r#""mon","","tue""#]).unwrap(), want);
        assert_eq!(
            Weekdays::parse(&[r#""mon,tue""#]).unwrap_err().token(),
            r#""mon"#
        );
        assert_eq!(Weekdays::parse(&[r#"""#]).unwrap_err().token(), r#"""#);
    }

    #[test]
    fn lists_split_on_commas_and_skip_empty_items() {
        let want = Weekdays::from_days([Weekday::Monday, Weekday::Tuesday, Weekday::Friday]);
        assert_eq!(Weekdays::parse(&["mon,tue,fri"]).unwrap(), want);
        assert_eq!(Weekdays::parse(&["mon", "tue", "fri"]).unwrap(), want);
        assert_eq!(Weekdays::parse(&["mon,tue", "", "fri"]).unwrap(), want);
        assert_eq!(Weekdays::parse(&[",mon,, tue ,fri,"]).unwrap(), want);
        assert_eq!(Weekdays::parse(&["1,2,5"]).unwrap(), want);
        assert_eq!(Weekdays::parse(&["Monday,TU,5,mon"]).unwrap(), want);
        assert_eq!("".parse::<Weekdays>().unwrap(), Weekdays::EMPTY);
        assert_eq!(Weekdays::parse::<&str>(&[]).unwrap(), Weekdays::EMPTY);
        assert_eq!(Weekdays::parse(&[",", " "]).unwrap(), Weekdays::EMPTY);
        assert_eq!(
            Weekdays::parse(&["su,mo,tu,we,th,fr,sa"]).unwrap(),
            Weekdays::ALL
        );
        assert_eq!(Weekdays::parse(&["0,1,2,3,4,5,6"]).unwrap(), Weekdays::ALL);
    }

    #[test]
    fn set_operations_and_display() {
        let set = Weekdays::from_days([Weekday::Saturday, Weekday::Monday, Weekday::Sunday]);
        assert_eq!(set.len(), 3);
        assert!(set.contains(Weekday::Sunday));
        assert!(!set.contains(Weekday::Tuesday));
        assert_eq!(set.to_string(), "sun,mon,sat");
        assert_eq!(format!("{set:?}"), "Weekdays(sun,mon,sat)");
        assert_eq!(Weekdays::ALL.to_string(), "sun,mon,tue,wed,thu,fri,sat");
        assert_eq!(Weekdays::EMPTY.to_string(), "");
        assert!(Weekdays::EMPTY.is_empty());
        assert_eq!(Weekdays::ALL.len(), 7);
        assert_eq!(Weekdays::ALL.iter().collect::<Weekdays>(), Weekdays::ALL);
        for n in 0..7u8 {
            let single = Weekdays::parse(&[n.to_string()]).unwrap();
            assert_eq!(single.to_string().parse::<Weekdays>().unwrap(), single);
        }
    }
}
