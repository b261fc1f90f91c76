//! Property tests for `schedule`: `next_open`/`next_close` are exact, and no
//! input string makes the parsers panic.

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use schedule::{TimeOfDay, TimeWindow, Weekday, Weekdays, Zone};

/// Zones with ordinary and unusual transitions: 1 h DST both hemispheres,
/// 30 min DST (Lord Howe), 2 h DST (Troll), negative DST (Dublin), a skipped
/// day (Apia), no DST (Kolkata, UTC).
const ZONES: &[&str] = &[
    "UTC",
    "America/Los_Angeles",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "Antarctica/Troll",
    "Europe/Dublin",
    "Pacific/Apia",
    "America/Sao_Paulo",
    "Asia/Kolkata",
];

fn time_of_day() -> impl Strategy<Value = TimeOfDay> {
    // Favour round times and the hours DST transitions happen in.
    let hour = prop_oneof![0u8..24, 0u8..4];
    let minute = prop_oneof![0u8..60, Just(0u8), Just(30u8), Just(59u8)];
    let second = prop_oneof![0u8..60, Just(0u8), Just(59u8)];
    (hour, minute, second)
        .prop_map(|(h, m, s)| TimeOfDay::new(h, m, s).expect("strategy ranges are valid"))
}

fn weekdays() -> impl Strategy<Value = Weekdays> {
    (0u8..128).prop_map(|mask| {
        (0i8..7)
            .filter(|i| mask & (1 << i) != 0)
            .map(|i| Weekday::from_sunday_zero_offset(i).expect("0..7 is a weekday"))
            .collect()
    })
}

fn window() -> impl Strategy<Value = TimeWindow> {
    (
        weekdays(),
        time_of_day(),
        time_of_day(),
        prop::sample::select(ZONES),
    )
        .prop_map(|(days, start, end, zone)| {
            let zone = Zone::parse(zone).expect("listed zones exist");
            TimeWindow::new(days, start, end, zone)
        })
}

/// An instant between 1990 and 2040, optionally moved to within three days of
/// the zone's next transition so DST changes are hit often.
fn instant(w: &TimeWindow, secs: i64, nanos: i32, near_transition: bool, shift: i64) -> Timestamp {
    let t = Timestamp::new(secs, nanos).expect("strategy range is valid");
    if !near_transition {
        return t;
    }
    match w.zone().time_zone().following(t).next() {
        Some(tr) => tr.timestamp() + SignedDuration::new(shift, nanos),
        None => t,
    }
}

/// A window, an instant to search from (see [`instant`]) and 24 probe
/// fractions for [`probes`]: the inputs of the `next_open`/`next_close` properties.
fn search() -> impl Strategy<Value = (TimeWindow, Timestamp, Vec<u32>)> {
    (
        window(),
        631_152_000i64..2_208_988_800,
        prop_oneof![Just(0i32), 0i32..1_000_000_000],
        any::<bool>(),
        -3 * 86_400i64..3 * 86_400,
        prop::collection::vec(any::<u32>(), 24),
    )
        .prop_map(|(w, secs, nanos, near_transition, shift, fractions)| {
            let t = instant(&w, secs, nanos, near_transition, shift);
            (w, t, fractions)
        })
}

/// Points strictly between `from` and `to` to probe: just after `from`, just
/// before `to`, the fractions given, and both sides of every zone transition.
fn probes(w: &TimeWindow, from: Timestamp, to: Timestamp, fractions: &[u32]) -> Vec<Timestamp> {
    let one = SignedDuration::from_nanos(1);
    let span = to.duration_since(from).as_nanos();
    let mut points = vec![from + one, to - one];
    for f in fractions {
        let offset = span * i128::from(*f) / i128::from(u32::MAX);
        let offset = i64::try_from(offset).expect("spans are at most a few weeks");
        points.push(from + SignedDuration::from_nanos(offset));
    }
    for tr in w.zone().time_zone().following(from) {
        if tr.timestamp() >= to {
            break;
        }
        points.push(tr.timestamp());
        points.push(tr.timestamp() - one);
    }
    points.retain(|p| *p > from && *p < to);
    points
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn next_open_is_the_first_instant_inside(
        (w, t, fractions) in search(),
    ) {
        let open = w.next_open(t);
        if w.days().is_empty() {
            prop_assert_eq!(open, None);
            return Ok(());
        }
        let Some(open) = open else {
            return Err(TestCaseError::fail(format!("{w}: never opens after {t}")));
        };
        prop_assert!(open >= t);
        prop_assert!(w.contains(open), "{}: next_open({}) = {} is not inside", w, t, open);
        if w.contains(t) {
            prop_assert_eq!(open, t);
        }
        for p in probes(&w, t, open, &fractions) {
            prop_assert!(!w.contains(p), "{}: {} inside, between {} and next_open {}", w, p, t, open);
        }
        // Idempotent: searching from the answer finds the answer.
        prop_assert_eq!(w.next_open(open), Some(open));
        let wait = w.until_open(t).expect("it opens");
        prop_assert_eq!(
            i128::try_from(wait.as_nanos()).expect("weeks fit"),
            open.duration_since(t).as_nanos()
        );
    }

    #[test]
    fn next_close_is_the_first_instant_outside(
        (w, t, fractions) in search(),
    ) {
        // Every window here has a closed second (only all days with a full
        // day of time never closes), except when the times cover the clock.
        let full_day = w.days() == Weekdays::ALL
            && (w.start() == TimeOfDay::MIDNIGHT && w.end() == TimeOfDay::LAST_SECOND
                || w.end().seconds_since_midnight() + 1 == w.start().seconds_since_midnight());
        let close = w.next_close(t);
        if full_day {
            prop_assert_eq!(close, None, "{} closes", w);
            prop_assert!(w.contains(t));
            return Ok(());
        }
        let Some(close) = close else {
            return Err(TestCaseError::fail(format!("{w}: never closes after {t}")));
        };
        prop_assert!(close >= t);
        prop_assert!(!w.contains(close));
        if !w.contains(t) {
            prop_assert_eq!(close, t);
        }
        for p in probes(&w, t, close, &fractions) {
            prop_assert!(w.contains(p), "{}: {} outside, between {} and next_close {}", w, p, t, close);
        }
        // After a close, the window reopens exactly when it next opens.
        if let Some(open) = w.next_open(close) {
            prop_assert!(open > close);
            prop_assert!(!w.contains(open - SignedDuration::from_nanos(1)));
        }
    }

    #[test]
    fn display_round_trips(w in window()) {
        prop_assume!(!w.days().is_empty());
        let again = TimeWindow::parse_str(
            &w.days().to_string(),
            &w.start().to_string(),
            &w.end().to_string(),
            w.zone().name(),
        )
        .expect("displayed parts parse");
        prop_assert_eq!(&again, &w);
        let text = w.to_string();
        let expected_prefix = format!("{} between ", w.days());
        prop_assert!(text.starts_with(&expected_prefix), "{}", text);
    }

    #[test]
    fn every_time_form_means_the_same_time(h in 0u8..24, m in 0u8..60, s in 0u8..60) {
        let want = TimeOfDay::new(h, m, s).expect("ranges are valid");
        let h12 = if h % 12 == 0 { 12 } else { h % 12 };
        let (am_pm, upper) = if h < 12 { ("am", "AM") } else { ("pm", "PM") };
        let forms = [
            format!("{h}:{m:02}:{s:02}"),
            format!("{h:02}:{m:02}:{s:02}"),
            format!("{h12}:{m:02}:{s:02}{am_pm}"),
            format!("{h12:02}:{m:02}:{s:02} {upper}"),
        ];
        for form in &forms {
            prop_assert_eq!(TimeOfDay::parse(form).ok(), Some(want), "{}", form);
        }
        let want_min = TimeOfDay::new(h, m, 0).expect("ranges are valid");
        for form in [
            format!("{h}:{m:02}"),
            format!("{h:02}:{m:02}"),
            format!("{h12}:{m:02}{am_pm}"),
            format!("{h12:02}:{m:02}{upper}"),
            format!("{h12}:{m:02} {am_pm}"),
        ] {
            prop_assert_eq!(TimeOfDay::parse(&form).ok(), Some(want_min), "{}", form);
        }
        let want_hour = TimeOfDay::new(h, 0, 0).expect("ranges are valid");
        for form in [format!("{h}"), format!("{h:02}"), format!("{h12}{am_pm}"), format!("{h12:02}{upper}"), format!("{h12} {am_pm}")] {
            prop_assert_eq!(TimeOfDay::parse(&form).ok(), Some(want_hour), "{}", form);
        }
        // One-digit minutes or seconds are never accepted.
        if m < 10 {
            let form = format!("{h}:{m}");
            prop_assert!(TimeOfDay::parse(&form).is_err());
        }
    }

    #[test]
    fn arbitrary_strings_never_panic(
        days in prop_oneof![any::<String>(), "[a-zA-Z0-9, ]{0,24}"],
        start in prop_oneof![any::<String>(), "[0-9: apmAPM]{0,10}"],
        end in prop_oneof![any::<String>(), "[0-9: apmAPM]{0,10}"],
        zone in prop_oneof![any::<String>(), "[A-Za-z/_]{0,20}", prop::sample::select(ZONES).prop_map(String::from)],
        secs in Timestamp::MIN.as_second()..Timestamp::MAX.as_second(),
    ) {
        let _ = days.parse::<Weekdays>();
        let _ = schedule::parse_weekday(&days);
        if let Ok(time) = TimeOfDay::parse(&start) {
            prop_assert_eq!(TimeOfDay::parse(&time.to_string()), Ok(time));
        }
        let _ = Zone::parse(&zone);
        match TimeWindow::parse(&[&days, &days], &start, &end, &zone) {
            Ok(w) => {
                let t = Timestamp::new(secs, 0).expect("strategy range is valid");
                let _ = w.contains(t);
                let _ = w.next_open(t);
                let _ = w.next_close(t);
                let _ = w.to_string();
            }
            Err(e) => {
                // The error names one of the four inputs.
                let token = e.token();
                prop_assert!([&days, &start, &end, &zone].iter().any(|i| i.contains(token)), "{}", e);
                prop_assert!(e.to_string().starts_with(e.field().flag()));
            }
        }
    }
}

#[test]
fn extreme_instants_do_not_panic() {
    let windows = [
        TimeWindow::default(),
        TimeWindow::parse_str("sat", "23:00", "01:00", "America/Los_Angeles").unwrap(),
        TimeWindow::parse_str("mon", "12:00", "12:00", "Pacific/Kiritimati").unwrap(),
        TimeWindow::parse_str("", "12:00", "12:00", "Europe/Berlin").unwrap(),
    ];
    for w in &windows {
        for t in [
            Timestamp::MIN,
            Timestamp::MAX,
            Timestamp::MIN + SignedDuration::from_hours(30),
            Timestamp::MAX - SignedDuration::from_hours(30),
        ] {
            let inside = w.contains(t);
            if let Some(open) = w.next_open(t) {
                assert!(w.contains(open));
                assert!(open >= t);
            }
            if let Some(close) = w.next_close(t) {
                assert!(!w.contains(close));
                assert!(close >= t);
            }
            if inside {
                assert_eq!(w.next_open(t), Some(t));
            }
        }
    }
}
