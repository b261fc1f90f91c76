//! Shows a kured maintenance window: is it open now, and when does it next open?
//!
//! ```text
//! cargo run -p kured-schedule --example window -- \
//!     --reboot-days mon,tue,wed,thu,fri --start-time 11pm --end-time 1:00 --time-zone Europe/Berlin
//! ```
//!
//! Flags take `--flag value` or `--flag=value`; `--reboot-days` may be repeated
//! (the lists are joined, as kured's string-slice flag does). Defaults are
//! kured's: every day, 0:00 to 23:59:59, UTC. `--at <RFC 3339 instant>`
//! evaluates at that instant instead of now. Bad input prints a message naming
//! the flag and exits with status 2.

use std::process::ExitCode;

use jiff::{SignedDuration, Timestamp};
use schedule::TimeWindow;

const USAGE: &str = "usage: window [--reboot-days LIST]... [--start-time TIME] [--end-time TIME] \
                     [--time-zone ZONE] [--at RFC3339-INSTANT]";

struct Args {
    days: Vec<String>,
    start: String,
    end: String,
    zone: String,
    at: Option<String>,
}

/// A usage problem: the message to print.
type UsageError = String;

fn parse_args(mut argv: impl Iterator<Item = String>) -> Result<Option<Args>, UsageError> {
    let mut days = Vec::new();
    let mut start = TimeWindow::DEFAULT_START.to_owned();
    let mut end = TimeWindow::DEFAULT_END.to_owned();
    let mut zone = TimeWindow::DEFAULT_ZONE.to_owned();
    let mut at = None;
    while let Some(arg) = argv.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(None);
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        let target = match flag.as_str() {
            "--reboot-days" => None,
            "--start-time" => Some(&mut start),
            "--end-time" => Some(&mut end),
            "--time-zone" => Some(&mut zone),
            "--at" => {
                let value = inline
                    .or_else(|| argv.next())
                    .ok_or("--at: missing value")?;
                at = Some(value);
                continue;
            }
            _ => return Err(format!("unknown argument {arg:?}")),
        };
        let value = inline
            .or_else(|| argv.next())
            .ok_or_else(|| format!("{flag}: missing value"))?;
        match target {
            Some(slot) => *slot = value,
            None => days.push(value),
        }
    }
    if days.is_empty() {
        days.push(TimeWindow::DEFAULT_DAYS.to_owned());
    }
    Ok(Some(Args {
        days,
        start,
        end,
        zone,
        at,
    }))
}

/// `1d 2h 3m 4s`-style rendering of a non-negative duration, to the second.
fn human(d: SignedDuration) -> String {
    let secs = d.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (hours, rest) = (rest / 3600, rest % 3600);
    let (minutes, seconds) = (rest / 60, rest % 60);
    let parts: Vec<String> = [(days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")]
        .into_iter()
        .filter(|&(n, _)| n != 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if parts.is_empty() {
        "0s".to_owned()
    } else {
        parts.join(" ")
    }
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("error: {msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let window = match TimeWindow::parse(&args.days, &args.start, &args.end, &args.zone) {
        Ok(window) => window,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let now = match args.at.as_deref().map(str::parse::<Timestamp>) {
        None => Timestamp::now(),
        Some(Ok(t)) => t,
        Some(Err(err)) => {
            eprintln!("error: --at: invalid instant: {err}");
            return ExitCode::from(2);
        }
    };
    let tz = window.zone().time_zone().clone();
    println!("window:  {window}");
    println!("now:     {}", now.to_zoned(tz.clone()));
    if window.contains(now) {
        print!("inside:  yes");
        match window.next_close(now) {
            Some(close) => println!(
                ", closes at {} (in {})",
                close.to_zoned(tz.clone()),
                human(close.duration_since(now))
            ),
            None => println!(", never closes"),
        }
    } else {
        println!("inside:  no");
    }
    match window.next_open(now) {
        Some(open) if open == now => println!("opens:   now"),
        Some(open) => println!(
            "opens:   {} (in {}; {} UTC)",
            open.to_zoned(tz),
            human(open.duration_since(now)),
            open
        ),
        None if window.is_never_open() => println!("opens:   never (no reboot days)"),
        None => println!("opens:   not within {}", human(schedule::SEARCH_HORIZON)),
    }
    ExitCode::SUCCESS
}
