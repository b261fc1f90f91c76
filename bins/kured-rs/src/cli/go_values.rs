//! kured's flag values as Go's flag package reads them: durations (`time.ParseDuration`),
//! integers (`strconv.ParseInt(s, 0, 64)`, pflag's `int`), booleans (`strconv.ParseBool`),
//! and what each kured flag then does with a negative or zero value (docs/kured-syntax.md).

use std::time::Duration;

/// Go's `time.ParseDuration`, in signed nanoseconds (Go's `time.Duration`): `300ms`, `-1.5h`,
/// `2h45m`, `1h1h` (units add up, in any order), a bare `0` (signed or not); units `ns`, `us`,
/// `µs`, `μs`, `ms`, `s`, `m`, `h`; at most 2⁶³-1 ns either way.
pub fn go_duration_nanos(s: &str) -> Result<i64, String> {
    const LIMIT: u64 = 1 << 63;
    let invalid = || format!("invalid duration {s:?} (expected e.g. 90s, 5m, 1h30m)");
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        if !rest.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
            return Err(invalid());
        }
        // [0-9]*: Go's leadingInt, an error past 2^63.
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let mut whole: u64 = 0;
        for c in rest[..digits].bytes() {
            if whole > LIMIT / 10 {
                return Err(invalid());
            }
            whole = whole * 10 + u64::from(c - b'0');
            if whole > LIMIT {
                return Err(invalid());
            }
        }
        rest = &rest[digits..];
        // (\.[0-9]*)?: Go's leadingFraction, which drops the digits it cannot hold.
        let (mut fraction, mut scale, mut fraction_digits) = (0u64, 1f64, 0);
        if let Some(after_point) = rest.strip_prefix('.') {
            fraction_digits = after_point.bytes().take_while(u8::is_ascii_digit).count();
            let mut overflow = false;
            for c in after_point[..fraction_digits].bytes() {
                if overflow || fraction > (LIMIT - 1) / 10 {
                    overflow = true;
                    continue;
                }
                let next = fraction * 10 + u64::from(c - b'0');
                if next > LIMIT {
                    overflow = true;
                    continue;
                }
                fraction = next;
                scale *= 10.0;
            }
            rest = &after_point[fraction_digits..];
        }
        if digits == 0 && fraction_digits == 0 {
            return Err(invalid());
        }
        let unit_len = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => {
                return Err(format!(
                    "missing unit in duration {s:?} (units: ns, us, ms, s, m, h)"
                ));
            }
            other => {
                return Err(format!(
                    "unknown unit {other:?} in duration {s:?} (units: ns, us, ms, s, m, h)"
                ));
            }
        };
        rest = &rest[unit_len..];
        if whole > LIMIT / unit {
            return Err(invalid());
        }
        let mut value = whole * unit;
        if fraction > 0 {
            // As Go: float64 keeps fractions of an hour nanosecond-accurate, then truncates.
            #[allow(
                clippy::cast_precision_loss,
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss
            )]
            let part = (fraction as f64 * (unit as f64 / scale)) as u64;
            value += part;
            if value > LIMIT {
                return Err(invalid());
            }
        }
        total += value;
        if total > LIMIT {
            return Err(invalid());
        }
    }
    if negative {
        // total ≤ 2^63, so 0 - total fits in an i64.
        return 0i64.checked_sub_unsigned(total).ok_or_else(invalid);
    }
    i64::try_from(total).map_err(|_| invalid())
}

/// A Go duration flag whose negative values kured treats as zero (its checks are all `> 0`:
/// `--drain-delay`, `--reboot-delay`, `--lock-ttl`, `--lock-release-delay`). Surrounding
/// whitespace is ignored (an extension: Go rejects it).
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let nanos = go_duration_nanos(s.trim())?;
    Ok(Duration::from_nanos(u64::try_from(nanos).unwrap_or(0)))
}

/// `--period`: kured's ticker (Go's `time.Tick`) gives no tick for a period ≤ 0, so kured
/// would check once at start-up and never again; kured-rs refuses such a period.
pub fn parse_nonzero_go_duration(s: &str) -> Result<Duration, String> {
    let nanos = go_duration_nanos(s.trim())?;
    match u64::try_from(nanos) {
        Ok(n) if n > 0 => Ok(Duration::from_nanos(n)),
        _ => Err(format!(
            "{s:?} must be greater than zero (kured, given a period of 0 or less, checks once \
             at start-up and never again)"
        )),
    }
}

/// `--drain-timeout`: 0 means no timeout; kured's drain (kubectl's) runs a negative timeout as
/// one already expired, failing every drain that has a pod to evict, so kured-rs refuses it.
pub fn parse_drain_timeout(s: &str) -> Result<Duration, String> {
    let nanos = go_duration_nanos(s.trim())?;
    u64::try_from(nanos).map(Duration::from_nanos).map_err(|_| {
        format!(
            "{s:?} must not be negative (0 means no timeout; kured would fail every drain with \
             a pod to evict at once)"
        )
    })
}

/// A kured-rs-only duration where a negative value can only be a mistake
/// (`--reboot-command-timeout`; 0 means no limit).
pub fn parse_limit_go_duration(s: &str) -> Result<Duration, String> {
    let nanos = go_duration_nanos(s.trim())?;
    u64::try_from(nanos)
        .map(Duration::from_nanos)
        .map_err(|_| format!("{s:?} must not be negative (0 means no limit)"))
}

/// Go's `strconv.ParseInt(s, 0, 64)`, as pflag reads an `int` flag: an optional sign, then
/// decimal, `0x`/`0X` hex, `0o`/`0O` or a leading `0` octal, `0b`/`0B` binary, with `_`
/// between digits. Surrounding whitespace is ignored (an extension).
pub fn go_int(s: &str) -> Result<i64, String> {
    let invalid = || format!("invalid integer {s:?}");
    let text = s.trim();
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if unsigned.is_empty() {
        return Err(invalid());
    }
    let bytes = unsigned.as_bytes();
    let (base, digits) = match (bytes.first(), bytes.get(1).map(u8::to_ascii_lowercase)) {
        (Some(b'0'), Some(prefix @ (b'b' | b'o' | b'x'))) if bytes.len() >= 3 => {
            let base = match prefix {
                b'b' => 2,
                b'o' => 8,
                _ => 16,
            };
            (base, &unsigned[2..])
        }
        (Some(b'0'), _) => (8, &unsigned[1..]),
        _ => (10, unsigned),
    };
    let mut value: u64 = 0;
    let mut underscores = false;
    for c in digits.chars() {
        if c == '_' {
            underscores = true;
            continue;
        }
        let digit = c.to_digit(base).ok_or_else(invalid)?;
        value = value
            .checked_mul(u64::from(base))
            .and_then(|v| v.checked_add(u64::from(digit)))
            .ok_or_else(|| format!("integer {s:?} out of range"))?;
    }
    if underscores && !underscores_between_digits(unsigned) {
        return Err(invalid());
    }
    let out_of_range = || format!("integer {s:?} out of range");
    if negative {
        0i64.checked_sub_unsigned(value).ok_or_else(out_of_range)
    } else {
        i64::try_from(value).map_err(|_| out_of_range())
    }
}

/// Go's `underscoreOK`: each `_` sits between two digits, or between a base prefix and a digit.
fn underscores_between_digits(unsigned: &str) -> bool {
    let bytes = unsigned.as_bytes();
    let prefixed = bytes.len() >= 2
        && bytes[0] == b'0'
        && matches!(bytes[1].to_ascii_lowercase(), b'b' | b'o' | b'x');
    let hex = prefixed && bytes[1].eq_ignore_ascii_case(&b'x');
    // What came last: a digit (or the prefix), an underscore, or something else.
    let (mut last, start) = if prefixed { ('0', 2) } else { ('^', 0) };
    for &b in &bytes[start..] {
        if b.is_ascii_digit() || (hex && b.is_ascii_hexdigit()) {
            last = '0';
        } else if b == b'_' {
            if last != '0' {
                return false;
            }
            last = '_';
        } else if last == '_' {
            return false;
        } else {
            last = '!';
        }
    }
    last != '_'
}

/// An `int` flag (`--drain-grace-period`): Go's syntax ([`go_int`]).
pub fn parse_go_int(s: &str) -> Result<i64, String> {
    go_int(s)
}

/// `--skip-wait-for-delete-timeout`: kured's drain (kubectl's) only acts on a value above
/// zero, so a negative one means 0, as there.
pub fn parse_skip_wait_seconds(s: &str) -> Result<u64, String> {
    Ok(u64::try_from(go_int(s)?).unwrap_or(0))
}

/// `--metrics-port`: Go's integer syntax, then a TCP port (kured fails when it listens on
/// anything else; kured-rs says so at start-up).
pub fn parse_port(s: &str) -> Result<u16, String> {
    let n = go_int(s)?;
    u16::try_from(n).map_err(|_| format!("port {s:?} must be 0-65535"))
}

/// Go's `strconv.ParseBool`.
pub fn parse_go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

/// `d` as Go's `time.Duration.String` writes it (`1h0m0s`, `1m30s`, `1.5s`, `250ms`, `0s`): the
/// defaults shown in `--help` and the flag table come from the libraries' constants.
pub fn format_go_duration(d: Duration) -> String {
    fn trimmed(value: u128, scale: u128) -> String {
        let (whole, frac) = (value / scale, value % scale);
        if frac == 0 {
            return whole.to_string();
        }
        let digits = scale.to_string().len() - 1;
        let frac = format!("{frac:0digits$}");
        format!("{whole}.{}", frac.trim_end_matches('0'))
    }
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", trimmed(nanos, 1_000));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", trimmed(nanos, 1_000_000));
    }
    let secs = d.as_secs();
    let (hours, minutes) = (secs / 3600, secs % 3600 / 60);
    let seconds = trimmed(
        u128::from(secs % 60) * 1_000_000_000 + u128::from(d.subsec_nanos()),
        1_000_000_000,
    );
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, m) => format!("{m}m{seconds}s"),
        (h, m) => format!("{h}h{m}m{seconds}s"),
    }
}
