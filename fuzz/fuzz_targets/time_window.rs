//! `schedule`: `TimeWindow::parse`, `TimeOfDay::parse`, `Weekdays::parse`, `Zone::parse`.
//!
//! Input: up to four fields separated by `\n` (days, start, end, zone). Properties: no panic;
//! a parsed `TimeOfDay` / `Weekdays` re-parses from its `Display` to the same value; a parsed
//! window answers `contains` / `next_open` / `next_close` without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use schedule::{TimeOfDay, TimeWindow, Weekdays, Zone};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut fields = text.splitn(4, '\n');
    let days = fields.next().unwrap_or("");
    let start = fields.next().unwrap_or("");
    let end = fields.next().unwrap_or("");
    let zone = fields.next().unwrap_or("");

    if let Ok(t) = TimeOfDay::parse(start) {
        assert_eq!(TimeOfDay::parse(&t.to_string()).ok(), Some(t), "{start:?}");
    }
    if let Ok(d) = Weekdays::parse(&[days]) {
        let shown = d.to_string();
        if !d.is_empty() {
            assert_eq!(
                Weekdays::parse(&[&shown]).ok(),
                Some(d),
                "{days:?} -> {shown:?}"
            );
        }
    }
    let _ = Zone::parse(zone);
    let days_list: Vec<&str> = days.split(';').collect();
    if let Ok(w) = TimeWindow::parse(&days_list, start, end, zone) {
        let _ = w.to_string();
        // A fixed instant plus one derived from the input, so the search code paths vary.
        let seed = data.iter().fold(0i64, |acc, b| {
            acc.wrapping_mul(31).wrapping_add(i64::from(*b))
        });
        for secs in [0i64, 1_800_000_000, seed.rem_euclid(4_000_000_000)] {
            if let Ok(t) = jiff::Timestamp::from_second(secs) {
                let _ = w.contains(t);
                let _ = w.next_open(t);
                let _ = w.next_close(t);
            }
        }
    }
});
