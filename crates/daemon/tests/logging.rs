//! `init_logging` in a whole process: the global subscriber writing to a real stderr that is a
//! pipe, as under a container runtime or with `2> file`.

mod common;

use std::process::Output;

use daemon::{LogFormat, init_logging, init_logging_with_default, init_logging_with_filter};

/// The child side: set up logging as `CHILD_INIT` says, then log one line per level.
#[test]
fn child_process() {
    let Some(role) = common::role() else {
        return;
    };
    let format = if role.starts_with("json") {
        LogFormat::Json
    } else {
        LogFormat::Text
    };
    let init = std::env::var("CHILD_INIT").unwrap_or_default();
    let init_with = |format| match init.split_once('=') {
        Some(("default", default)) => init_logging_with_default(format, default),
        Some(("filter", spec)) => {
            let (directives, fallback) = spec.split_once('|').unwrap();
            init_logging_with_filter(format, directives, fallback)
        }
        _ => init_logging(format),
    };
    assert!(init_with(format), "the first call installs the subscriber");
    assert!(!init_with(LogFormat::Json), "a second call changes nothing");
    tracing::error!(node = "n1", "error-line");
    tracing::warn!("warn-line");
    tracing::info!("info-line");
    tracing::debug!("debug-line");
}

/// Run the child in `role` with these extra variables; its stderr.
fn logs_of(role: &str, env: &[(&str, &str)]) -> String {
    let Output { status, stderr, .. } = common::child("child_process", role)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stderr = String::from_utf8(stderr).unwrap();
    assert!(status.success(), "{status}: {stderr}");
    stderr
}

/// Which of the child's four lines are in `logs`.
fn levels_in(logs: &str) -> Vec<&'static str> {
    ["error", "warn", "info", "debug"]
        .into_iter()
        .filter(|level| logs.contains(&format!("{level}-line")))
        .collect()
}

#[test]
fn text_to_a_pipe_has_no_colour_codes() {
    let logs = logs_of("text", &[]);
    assert!(logs.contains("ERROR"), "{logs}");
    assert!(!logs.contains("\x1b["), "{logs:?}");
}

#[test]
fn default_filter_is_info_and_rust_log_overrides_it() {
    assert_eq!(levels_in(&logs_of("text", &[])), ["error", "warn", "info"]);
    let warn = logs_of("text", &[("RUST_LOG", "warn")]);
    assert_eq!(levels_in(&warn), ["error", "warn"]);
}

#[test]
fn json_format_writes_only_json_lines() {
    let logs = logs_of("json", &[]);
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}")))
        .collect();
    assert_eq!(lines.len(), 3, "{logs}");
    assert_eq!(lines[0]["level"], "ERROR");
    assert_eq!(lines[0]["fields"]["message"], "error-line");
    assert_eq!(lines[0]["fields"]["node"], "n1");
}

#[test]
fn another_default_applies_only_without_rust_log() {
    let debug = logs_of("text", &[("CHILD_INIT", "default=debug")]);
    assert_eq!(levels_in(&debug), ["error", "warn", "info", "debug"]);
    let error = logs_of(
        "text",
        &[("CHILD_INIT", "default=debug"), ("RUST_LOG", "error")],
    );
    assert_eq!(levels_in(&error), ["error"]);
}

#[test]
fn filter_directives_replace_rust_log_and_fall_back_when_invalid() {
    let warn = logs_of(
        "text",
        &[("CHILD_INIT", "filter=warn|off"), ("RUST_LOG", "debug")],
    );
    assert_eq!(levels_in(&warn), ["error", "warn"]);
    let fallback = logs_of("text", &[("CHILD_INIT", "filter=x=notalevel|error")]);
    assert_eq!(levels_in(&fallback), ["error"]);
}
