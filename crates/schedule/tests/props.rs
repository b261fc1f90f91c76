//! Property tests for the `--reboot-days`, `--start-time`, `--end-time` and `--time-zone`
//! parsers, complementing `proptests.rs` (which checks the window arithmetic and arbitrary
//! strings): every spelling of a day set means the same set, every printed value parses back,
//! near-miss times never panic, and errors name the first bad flag in the order kured checks
//! them. The cargo-fuzz target `time_window` (in `fuzz/`) runs the parsers for longer.

use proptest::prelude::*;
use schedule::{Field, TimeOfDay, TimeWindow, Weekday, Weekdays, Zone};

/// Sunday-first, as the day numbers are.
const NAMES: [[&str; 3]; 7] = [
    ["su", "sun", "sunday"],
    ["mo", "mon", "monday"],
    ["tu", "tue", "tuesday"],
    ["we", "wed", "wednesday"],
    ["th", "thu", "thursday"],
    ["fr", "fri", "friday"],
    ["sa", "sat", "saturday"],
];

/// One spelling of day `i` (0 = Sunday): a name of any length, in random case, or its number,
/// with optional surrounding spaces.
fn spelling(i: usize) -> impl Strategy<Value = String> {
    (
        0usize..4,
        prop::collection::vec(any::<bool>(), 9),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(move |(form, upper, pad_left, pad_right)| {
            let word = if form == 3 {
                i.to_string()
            } else {
                NAMES[i][form]
                    .chars()
                    .zip(upper.iter().cycle())
                    .map(|(c, up)| if *up { c.to_ascii_uppercase() } else { c })
                    .collect()
            };
            format!(
                "{}{word}{}",
                if pad_left { " " } else { "" },
                if pad_right { "\t" } else { "" }
            )
        })
}

fn day_list() -> impl Strategy<Value = (Vec<usize>, Vec<String>)> {
    prop::collection::vec(0usize..7, 0..10).prop_flat_map(|days| {
        let spellings: Vec<_> = days.iter().map(|&i| spelling(i)).collect();
        (Just(days), spellings)
    })
}

fn weekday(i: usize) -> Weekday {
    let offset = i8::try_from(i).expect("0..7");
    Weekday::from_sunday_zero_offset(offset).expect("0..7 is a weekday")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_spelling_of_a_day_set_is_that_set(
        (days, spellings) in day_list(),
        split_at in 0usize..10,
    ) {
        let want: Weekdays = days.iter().map(|&i| weekday(i)).collect();
        // As one comma list, with empty items, and split over two flag occurrences.
        let joined = spellings.join(",");
        prop_assert_eq!(joined.parse::<Weekdays>().ok(), Some(want), "{:?}", joined);
        let with_empty = format!(",{},,", spellings.join(",,"));
        prop_assert_eq!(Weekdays::parse(&[&with_empty]).ok(), Some(want));
        let cut = split_at.min(spellings.len());
        let parts = [spellings[..cut].join(","), spellings[cut..].join(",")];
        prop_assert_eq!(Weekdays::parse(&parts).ok(), Some(want));
        // The printed form parses back (an empty set prints as nothing and parses as empty).
        prop_assert_eq!(want.to_string().parse::<Weekdays>().ok(), Some(want));
        prop_assert_eq!(want.len(), want.iter().count());
    }

    #[test]
    fn near_miss_times_never_panic_and_round_trip(
        s in "[0-9]{0,3}(:[0-9]{0,3}){0,3}( ?([aApP][mM]?|[aApP]\\.[mM]\\.))?[ :]?",
    ) {
        if let Ok(t) = TimeOfDay::parse(&s) {
            prop_assert_eq!(TimeOfDay::parse(&t.to_string()), Ok(t));
            prop_assert_eq!(s.parse::<TimeOfDay>(), Ok(t));
        }
    }

    #[test]
    fn errors_name_the_first_bad_flag(
        bad in prop::collection::vec(any::<bool>(), 4),
        junk in "[a-z]{3,8}[!?]",
    ) {
        let days = if bad[0] { junk.clone() } else { "mon,fri".to_owned() };
        let start = if bad[1] { format!("{junk}1") } else { "1am".to_owned() };
        let end = if bad[2] { "24:00".to_owned() } else { "23:59:59".to_owned() };
        let zone = if bad[3] { format!("Nowhere/{junk}") } else { "Europe/Berlin".to_owned() };
        let fields = [Field::RebootDays, Field::StartTime, Field::EndTime, Field::TimeZone];
        match (TimeWindow::parse_str(&days, &start, &end, &zone), bad.iter().position(|b| *b)) {
            (Ok(w), None) => prop_assert_eq!(w.zone().name(), "Europe/Berlin"),
            (Err(e), Some(i)) => {
                prop_assert_eq!(e.field(), fields[i]);
                let inputs = [&days, &start, &end, &zone];
                prop_assert!(inputs[i].contains(e.token()), "{}", e);
                prop_assert!(e.to_string().starts_with(fields[i].flag()), "{}", e);
            }
            (got, first_bad) => prop_assert!(false, "got {:?}, first bad {:?}", got, first_bad),
        }
    }

    #[test]
    fn zone_names_round_trip(name in prop::sample::select(&[
        "UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Asia/Kathmandu",
        "Pacific/Chatham", "Etc/GMT+12", "Australia/Lord_Howe",
    ][..])) {
        let zone = Zone::parse(name).expect("listed zones exist");
        prop_assert_eq!(zone.name(), name);
        let again = Zone::parse(&zone.to_string()).map(|z| z.name().to_owned()).ok();
        prop_assert_eq!(again.as_deref(), Some(name));
    }
}
