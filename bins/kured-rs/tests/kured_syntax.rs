//! kured 1.23's duration, integer, label-selector and label-list syntax, row by row, through
//! the real `kured-rs` binary (docs/kured-syntax.md).
//!
//! Each row gives a flag value and what kured does with it, worked out from kured's source
//! and the Go and Kubernetes code it runs (never from kured-rs' parser), then runs
//! `kured-rs --node-id=n1 --<flag>=<value>` without a cluster: a value that passes
//! validation gets as far as the Kubernetes configuration and fails there (any exit but 2),
//! a rejected one exits 2 naming the flag. Sources, cited in the rows by the tag in brackets:
//!
//! * \[dur\] kured `cmd/kured/main.go` declares `--drain-delay`, `--drain-timeout`,
//!   `--reboot-delay`, `--period`, `--lock-ttl`, `--lock-release-delay` with pflag's
//!   `DurationVar`, read by Go's `time.ParseDuration` (`src/time/format.go`): an optional sign,
//!   then one or more `[0-9]*(\.[0-9]*)?unit` with units `ns us µs μs ms s m h`, or a bare `0`;
//!   at most 2^63-1 ns. Its test vectors: `src/time/time_test.go`, `parseDurationTests`.
//! * \[gt0\] kured uses those durations only through `> 0` checks (`if drainDelay > 0`,
//!   `if rebootDelay > 0`, daemonsetlock's `ttl > 0 && …` and `releaseDelay > 0`): a negative
//!   value means the same as 0.
//! * \[tick\] `--period` goes to `delaytick.New`, whose `time.Tick(d)` is nil for `d <= 0`:
//!   kured would check once at start-up and never again. kured-rs refuses it.
//! * \[kubectl\] `--drain-timeout` is kubectl drain's `Helper.Timeout`: 0 is no timeout, any
//!   other value a context deadline, so a negative one fails every eviction at once. kured-rs
//!   refuses it.
//! * \[int\] `--drain-grace-period`, `--skip-wait-for-delete-timeout`, `--metrics-port`,
//!   `--reboot-signal` are pflag `IntVar`s: `strconv.ParseInt(s, 0, 64)` (sign, `0x`, `0o`,
//!   `0b`, leading-`0` octal, `_` between digits). kubectl acts on
//!   `SkipWaitForDeleteTimeoutSeconds` only when `> 0`.
//! * \[sel\] `--blocking-pod-selector` (pflag `StringArray`) goes to the API server as
//!   `ListOptions.LabelSelector`, `--drain-pod-selector` to kubectl drain's `labels.Parse`:
//!   both apimachinery `pkg/labels/selector.go`, whose lexer separates tokens at ` \t\r\n` and
//!   `= ! ( ) , > <` and whose requirements' keys and values follow `IsQualifiedName` /
//!   `IsValidLabelValue` (`>`/`<` take integers).
//! * \[labels\] `--pre-reboot-node-labels`, `--post-reboot-node-labels` are pflag
//!   `StringSlice`s (CSV: comma-separated, `"` quotes a field, empty value = no items); kured's
//!   `updateNodeLabels` takes `strings.Split(label, "=")[0]` and `[1]` (no `=` panics, kured
//!   #1281; `a=b=c` sets `a=b`) and the API server refuses keys and values its label rules do
//!   not allow, so kured's label update fails at reboot time.

use std::process::Command;

/// What kured 1.23 does with a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kured {
    /// Starts with it.
    Accepts,
    /// Exits at start-up (flag parsing) or the API server refuses it at use.
    Rejects,
}
use Kured::{Accepts, Rejects};

/// What kured-rs does, relative to kured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ours {
    /// The same as kured.
    Same,
    /// kured accepts it; kured-rs refuses it at start-up, for the documented reason.
    Refused,
    /// kured rejects it; kured-rs accepts it (a documented extension).
    Extension,
}
use Ours::{Extension, Refused, Same};

/// (flag, value, kured, ours, source).
type Row = (&'static str, &'static str, Kured, Ours, &'static str);

const DURATIONS: &[Row] = &[
    ("drain-delay", "1h30m", Accepts, Same, "[dur]"),
    ("drain-delay", "90s", Accepts, Same, "[dur]"),
    ("drain-delay", "1.5h", Accepts, Same, "[dur] fraction"),
    (
        "drain-delay",
        ".5s",
        Accepts,
        Same,
        "[dur] parseDurationTests",
    ),
    (
        "drain-delay",
        "5.s",
        Accepts,
        Same,
        "[dur] parseDurationTests",
    ),
    ("drain-delay", "0", Accepts, Same, "[dur] bare 0"),
    (
        "drain-delay",
        "+0",
        Accepts,
        Same,
        "[dur] parseDurationTests",
    ),
    (
        "drain-delay",
        "-0",
        Accepts,
        Same,
        "[dur] parseDurationTests",
    ),
    ("drain-delay", "0s", Accepts, Same, "[dur]"),
    ("drain-delay", "+5m", Accepts, Same, "[dur] sign"),
    ("drain-delay", "-1h", Accepts, Same, "[dur] [gt0] means 0"),
    (
        "drain-delay",
        "1h2m3s4ms5us6ns",
        Accepts,
        Same,
        "[dur] parseDurationTests",
    ),
    ("drain-delay", "12µs", Accepts, Same, "[dur] U+00B5"),
    ("drain-delay", "12μs", Accepts, Same, "[dur] U+03BC"),
    ("drain-delay", "10.5s4m", Accepts, Same, "[dur] any order"),
    ("drain-delay", "1h1h", Accepts, Same, "[dur] units add up"),
    (
        "drain-delay",
        "9223372036854775807ns",
        Accepts,
        Same,
        "[dur] max",
    ),
    (
        "drain-delay",
        "-9223372036854775808ns",
        Accepts,
        Same,
        "[dur] min",
    ),
    (
        "drain-delay",
        "9223372036854775808ns",
        Rejects,
        Same,
        "[dur] overflow",
    ),
    (
        "drain-delay",
        "3000000h",
        Rejects,
        Same,
        "[dur] parseDurationTests",
    ),
    ("drain-delay", "-1", Rejects, Same, "[dur] missing unit"),
    ("drain-delay", "1", Rejects, Same, "[dur] missing unit"),
    (
        "drain-delay",
        "00",
        Rejects,
        Same,
        "[dur] only a bare 0 has no unit",
    ),
    ("drain-delay", "1d", Rejects, Same, "[dur] unknown unit"),
    (
        "drain-delay",
        "1H",
        Rejects,
        Same,
        "[dur] units are lower case",
    ),
    ("drain-delay", "1sec", Rejects, Same, "[dur] unknown unit"),
    ("drain-delay", "1h 30m", Rejects, Same, "[dur] unit \"h \""),
    ("drain-delay", "", Rejects, Same, "[dur] empty"),
    (
        "drain-delay",
        "-",
        Rejects,
        Same,
        "[dur] parseDurationTests",
    ),
    (
        "drain-delay",
        ".",
        Rejects,
        Same,
        "[dur] parseDurationTests",
    ),
    (
        "drain-delay",
        ".s",
        Rejects,
        Same,
        "[dur] parseDurationTests",
    ),
    ("drain-delay", "1e3s", Rejects, Same, "[dur] unknown unit e"),
    (
        "drain-delay",
        " 90s",
        Rejects,
        Extension,
        "[dur] no trimming",
    ),
    ("reboot-delay", "-5m", Accepts, Same, "[gt0]"),
    (
        "lock-ttl",
        "-1h",
        Accepts,
        Same,
        "[gt0] ttlExpired: ttl > 0",
    ),
    ("lock-ttl", "30m", Accepts, Same, "[dur]"),
    ("lock-release-delay", "-1s", Accepts, Same, "[gt0]"),
    ("period", "10m", Accepts, Same, "[dur]"),
    ("period", "1h0m0s", Accepts, Same, "[dur] Go's own format"),
    ("period", "0", Accepts, Refused, "[tick]"),
    ("period", "-1h", Accepts, Refused, "[tick]"),
    ("drain-timeout", "0", Accepts, Same, "[kubectl] no timeout"),
    ("drain-timeout", "5m", Accepts, Same, "[kubectl]"),
    ("drain-timeout", "-1s", Accepts, Refused, "[kubectl]"),
];

const INTEGERS: &[Row] = &[
    (
        "drain-grace-period",
        "-1",
        Accepts,
        Same,
        "[int] kured's default",
    ),
    ("drain-grace-period", "30", Accepts, Same, "[int]"),
    ("drain-grace-period", "+30", Accepts, Same, "[int] sign"),
    ("drain-grace-period", "0x1e", Accepts, Same, "[int] hex"),
    (
        "drain-grace-period",
        "036",
        Accepts,
        Same,
        "[int] octal (30)",
    ),
    ("drain-grace-period", "0o36", Accepts, Same, "[int] octal"),
    (
        "drain-grace-period",
        "0b11110",
        Accepts,
        Same,
        "[int] binary",
    ),
    (
        "drain-grace-period",
        "1_000",
        Accepts,
        Same,
        "[int] underscores",
    ),
    (
        "drain-grace-period",
        "09",
        Rejects,
        Same,
        "[int] 9 is no octal digit",
    ),
    (
        "drain-grace-period",
        "1__0",
        Rejects,
        Same,
        "[int] underscoreOK",
    ),
    (
        "drain-grace-period",
        "_1",
        Rejects,
        Same,
        "[int] underscoreOK",
    ),
    ("drain-grace-period", "1.5", Rejects, Same, "[int]"),
    (
        "drain-grace-period",
        "30s",
        Rejects,
        Same,
        "[int] seconds, not a duration",
    ),
    (
        "drain-grace-period",
        "9223372036854775808",
        Rejects,
        Same,
        "[int] range",
    ),
    (
        "skip-wait-for-delete-timeout",
        "-5",
        Accepts,
        Same,
        "[int] [kubectl] > 0",
    ),
    (
        "skip-wait-for-delete-timeout",
        "0x3c",
        Accepts,
        Same,
        "[int]",
    ),
    ("skip-wait-for-delete-timeout", "1m", Rejects, Same, "[int]"),
    ("metrics-port", "0x1f90", Accepts, Same, "[int] 8080"),
    (
        "metrics-port",
        "70000",
        Rejects,
        Same,
        "[int] no such port: kured fails to listen",
    ),
    ("reboot-signal", "0x27", Accepts, Same, "[int] 39"),
];

const SELECTORS: &[Row] = &[
    ("blocking-pod-selector", "app=x", Accepts, Same, "[sel]"),
    ("blocking-pod-selector", "app==x", Accepts, Same, "[sel]"),
    ("blocking-pod-selector", "app!=x", Accepts, Same, "[sel]"),
    (
        "blocking-pod-selector",
        "app",
        Accepts,
        Same,
        "[sel] exists",
    ),
    (
        "blocking-pod-selector",
        "!app",
        Accepts,
        Same,
        "[sel] does not exist",
    ),
    (
        "blocking-pod-selector",
        "! app",
        Accepts,
        Same,
        "[sel] whitespace between tokens",
    ),
    (
        "blocking-pod-selector",
        "app in (a, b)",
        Accepts,
        Same,
        "[sel]",
    ),
    (
        "blocking-pod-selector",
        "app in(a,b)",
        Accepts,
        Same,
        "[sel] `(` ends a word",
    ),
    (
        "blocking-pod-selector",
        "app notin (a)",
        Accepts,
        Same,
        "[sel]",
    ),
    (
        "blocking-pod-selector",
        "app in ()",
        Accepts,
        Same,
        "[sel] the empty value",
    ),
    (
        "blocking-pod-selector",
        "app in (a,,b)",
        Accepts,
        Same,
        "[sel] empty items",
    ),
    (
        "blocking-pod-selector",
        "app=",
        Accepts,
        Same,
        "[sel] empty value",
    ),
    (
        "blocking-pod-selector",
        "app=,tier",
        Accepts,
        Same,
        "[sel] empty value then ,",
    ),
    (
        "blocking-pod-selector",
        "priority>5",
        Accepts,
        Same,
        "[sel] Gt",
    ),
    (
        "blocking-pod-selector",
        "priority < 05",
        Accepts,
        Same,
        "[sel] Lt",
    ),
    (
        "blocking-pod-selector",
        "a=b,\tc!=d\n",
        Accepts,
        Same,
        "[sel] \\t \\n",
    ),
    (
        "blocking-pod-selector",
        "example.com/a-b_c.d=X.y-z_1",
        Accepts,
        Same,
        "[sel] key/value rules",
    ),
    (
        "blocking-pod-selector",
        "in=notin",
        Accepts,
        Same,
        "[sel] keywords as key and value",
    ),
    (
        "blocking-pod-selector",
        "priority>-1",
        Rejects,
        Same,
        "[sel] -1 is no label value",
    ),
    (
        "blocking-pod-selector",
        "priority>x",
        Rejects,
        Same,
        "[sel] Gt needs an integer",
    ),
    (
        "blocking-pod-selector",
        "priority>=5",
        Rejects,
        Same,
        "[sel] no >= operator",
    ),
    (
        "blocking-pod-selector",
        "a===b",
        Rejects,
        Same,
        "[sel] lexer: == then =",
    ),
    ("blocking-pod-selector", "a=b=c", Rejects, Same, "[sel]"),
    (
        "blocking-pod-selector",
        "a in x",
        Rejects,
        Same,
        "[sel] ( expected",
    ),
    ("blocking-pod-selector", "a in (x", Rejects, Same, "[sel]"),
    (
        "blocking-pod-selector",
        "a=x,",
        Rejects,
        Same,
        "[sel] identifier after ,",
    ),
    ("blocking-pod-selector", "a b", Rejects, Same, "[sel]"),
    ("blocking-pod-selector", "!a=b", Rejects, Same, "[sel]"),
    (
        "blocking-pod-selector",
        "Example.com/a=b",
        Rejects,
        Same,
        "[sel] prefix is lower case",
    ),
    (
        "blocking-pod-selector",
        "a/b/c=d",
        Rejects,
        Same,
        "[sel] one /",
    ),
    (
        "blocking-pod-selector",
        "app=-x",
        Rejects,
        Same,
        "[sel] value starts alphanumeric",
    ),
    (
        "blocking-pod-selector",
        "app=x\u{a0}",
        Rejects,
        Same,
        "[sel] only ASCII blanks separate",
    ),
    (
        "blocking-pod-selector",
        "app=x\u{b}",
        Rejects,
        Same,
        "[sel] \\v is no blank in Go",
    ),
    (
        "blocking-pod-selector",
        "",
        Accepts,
        Refused,
        "[sel] matches every pod, kured's own too",
    ),
    (
        "drain-pod-selector",
        "app in (web),tier!=db",
        Accepts,
        Same,
        "[sel]",
    ),
    (
        "drain-pod-selector",
        "",
        Accepts,
        Same,
        "[sel] every pod (the default)",
    ),
    (
        "drain-pod-selector",
        " \t",
        Accepts,
        Same,
        "[sel] blank: every pod",
    ),
    ("drain-pod-selector", "a=(b", Rejects, Same, "[sel]"),
];

const LABEL_LISTS: &[Row] = &[
    (
        "pre-reboot-node-labels",
        "rebooting=true",
        Accepts,
        Same,
        "[labels]",
    ),
    (
        "pre-reboot-node-labels",
        "a=1,b=2",
        Accepts,
        Same,
        "[labels] CSV",
    ),
    (
        "pre-reboot-node-labels",
        "example.com/reboot=",
        Accepts,
        Same,
        "[labels] empty value",
    ),
    (
        "pre-reboot-node-labels",
        "",
        Accepts,
        Same,
        "[labels] pflag reads an empty value as an empty list",
    ),
    (
        "pre-reboot-node-labels",
        "a=1,a=2",
        Accepts,
        Same,
        "[labels] map: last wins",
    ),
    (
        "pre-reboot-node-labels",
        "\"a=1\",b=2",
        Accepts,
        Same,
        "[labels] CSV quotes",
    ),
    (
        "post-reboot-node-labels",
        "rebooting=false",
        Accepts,
        Same,
        "[labels]",
    ),
    (
        "pre-reboot-node-labels",
        "rebooting",
        Rejects,
        Same,
        "[labels] no = panics (#1281)",
    ),
    (
        "pre-reboot-node-labels",
        "=x",
        Rejects,
        Same,
        "[labels] empty key: API refuses",
    ),
    (
        "pre-reboot-node-labels",
        "a=b=c",
        Accepts,
        Refused,
        "[labels] kured sets a=b",
    ),
    (
        "pre-reboot-node-labels",
        "a=b c",
        Rejects,
        Same,
        "[labels] API refuses the value",
    ),
    (
        "pre-reboot-node-labels",
        "Example.com/a=b",
        Rejects,
        Same,
        "[labels] API refuses the key",
    ),
    (
        "pre-reboot-node-labels",
        "a=1, b=2",
        Rejects,
        Extension,
        "[labels] CSV keeps \" b\"",
    ),
];

/// Runs kured-rs with `args` and no cluster: (exit code, stderr).
fn run(args: &[String]) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kured-rs"));
    for (k, _) in std::env::vars() {
        if k.starts_with("KURED_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("RUST_LOG")
        .env("HOME", "/nonexistent")
        .arg("--node-id=n1")
        .args(args)
        .output()
        .expect("run kured-rs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Whether kured-rs passed validation with `args` (it then fails at the missing cluster);
/// a refusal must exit 2 and name `flag`.
fn accepted(args: &[String], flag: &str) -> bool {
    let (code, stderr) = run(args);
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    if code == Some(2) {
        assert!(
            stderr.contains(&format!("--{flag}")),
            "{args:?}: the error does not name --{flag}: {stderr}"
        );
        false
    } else {
        assert!(code.is_some_and(|c| c != 0), "{args:?}: {code:?} {stderr}");
        true
    }
}

fn check(rows: &[Row]) {
    let mut failures = Vec::new();
    for &(flag, value, kured, ours, why) in rows {
        let want = match (kured, ours) {
            (Accepts, Same) | (Rejects, Extension) => true,
            (Rejects, Same) | (Accepts, Refused) => false,
            (Accepts, Extension) | (Rejects, Refused) => {
                panic!("row --{flag}={value:?}: {ours:?} only applies when kured does the opposite")
            }
        };
        if accepted(&[format!("--{flag}={value}")], flag) != want {
            failures.push(format!(
                "--{flag}={value:?}: kured {kured:?}, kured-rs should {} ({why})",
                if want { "accept" } else { "refuse" }
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn durations_as_kured() {
    check(DURATIONS);
}

#[test]
fn integers_as_kured() {
    check(INTEGERS);
}

#[test]
fn label_selectors_as_the_api_server() {
    check(SELECTORS);
}

#[test]
fn label_lists_as_kured() {
    check(LABEL_LISTS);
}

/// The repeatable flags add up, as kured's `StringArray` and `StringSlice` do.
#[test]
fn repeated_list_flags() {
    for args in [
        [
            "--blocking-pod-selector=a=b",
            "--blocking-pod-selector=c in (d,e)",
        ],
        [
            "--pre-reboot-node-labels=a=1",
            "--pre-reboot-node-labels=b=2,c=3",
        ],
    ] {
        let args: Vec<String> = args.iter().map(ToString::to_string).collect();
        assert!(accepted(&args, "node-id"), "{args:?}");
    }
}

/// Every `--flag=value` quoted in the README and the migration guide, every value of a kured
/// flag they mention, and every default in the guide's flag table given explicitly, starts
/// kured-rs.
#[test]
fn documented_values_start_kured_rs() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let mut args: Vec<(String, String)> = Vec::new();
    for doc in ["README.md", "docs/migrating-from-kured.md"] {
        let text = std::fs::read_to_string(format!("{root}/{doc}")).expect(doc);
        for (i, span) in text.split('`').enumerate() {
            if i % 2 == 0 {
                continue;
            }
            for word in span.split_whitespace() {
                if let Some((flag, _)) = word.strip_prefix("--").and_then(|w| w.split_once('=')) {
                    args.push((flag.to_string(), word.to_string()));
                }
            }
        }
        // The generated flag table: | `--flag` | `ENV` | `default` | help |
        for line in text.lines() {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            if let [_, flag, _, default, ..] = cells.as_slice()
                && let (Some(flag), Some(default)) = (
                    flag.strip_prefix("`--").and_then(|f| f.strip_suffix('`')),
                    default.strip_prefix('`').and_then(|d| d.strip_suffix('`')),
                )
            {
                args.push((flag.to_string(), format!("--{flag}={default}")));
            }
        }
    }
    // Values the prose gives for a flag (README: "plus `5:00pm`-style times"; the guide's
    // window, duration and boolean examples).
    for (flag, value) in [
        ("start-time", "5:00pm"),
        ("end-time", "9AM"),
        ("end-time", "9 am"),
        ("start-time", "5:00 PM"),
        ("period", "90s"),
        ("period", "1h30m"),
        ("period", "1h0m0s"),
        ("force-reboot", "true"),
        ("force-reboot", "1"),
        ("force-reboot", "t"),
    ] {
        args.push((flag.to_string(), format!("--{flag}={value}")));
    }
    assert!(args.len() > 40, "too few documented values found: {args:?}");
    let mut failures = Vec::new();
    for (flag, arg) in &args {
        if flag == "node-id" {
            continue;
        }
        if !accepted(std::slice::from_ref(arg), flag) {
            failures.push(arg.clone());
        }
    }
    assert!(
        failures.is_empty(),
        "documented values refused: {failures:?}"
    );
}
