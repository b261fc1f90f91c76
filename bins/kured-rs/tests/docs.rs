//! The operator documentation cannot drift from the code:
//!
//! - the flag table of `docs/migrating-from-kured.md` is the program's own
//!   `--print-flags-markdown` output (`UPDATE_DOCS=1` rewrites it);
//! - `deploy/prometheus/prometheusrule.yaml` passes the real `promtool check rules` and a
//!   `promtool test rules` unit test, and the documented `--alert-filter-regexp` matches every
//!   alert in it (alerts about the reboots must not block them);
//! - every log line quoted in a ```` ```text message ```` block (docs/troubleshooting.md) names
//!   an existing module, and its message and `error=`/`reason=` text are produced by format
//!   strings of the source;
//! - the metrics table of `docs/operations.md` lists exactly what the agent exposes (names and
//!   types);
//! - every `FleetLock` answer quoted in a ```` ```json message ```` block has a `kind` of the
//!   protocol and a `value` produced by a format string of the source;
//! - relative links (and their `#anchors`) of the README, docs/ and deploy/ READMEs resolve;
//! - every shell block of the operator docs is marked: `<!-- test: kubesim … -->` blocks run,
//!   in order, with the real `kubectl` against a kubesim cluster started here (the kured
//!   `DaemonSet` created first; `stop-after=SECS`: a daemon stopped with SIGTERM after SECS;
//!   `expect="TEXT"`: the output must contain TEXT); `<!-- test: skip REASON -->` blocks say
//!   why they cannot run here; `fleetlock` blocks run in bins/fleetlock-rs/tests/docs.rs.

mod docs_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use docs_support::{Block, blocks, is_shell, marker_options, mode, read, root, run_block};

use serde_json::Value;

/// The operator docs whose shell blocks must all be marked.
const OPERATOR_DOCS: &[&str] = &[
    "docs/install.md",
    "docs/migrating-from-kured.md",
    "docs/operations.md",
    "docs/fleetlock.md",
    "docs/troubleshooting.md",
];

const BEGIN_FLAGS: &str = "<!-- BEGIN GENERATED: kured-rs --print-flags-markdown -->\n";
const END_FLAGS: &str = "<!-- END GENERATED -->";

// ---------------------------------------------------------------------------------------------
// The generated flag table

#[test]
fn flag_table_is_the_programs_output() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kured-rs"))
        .arg("--print-flags-markdown")
        .output()
        .expect("run kured-rs --print-flags-markdown");
    assert!(out.status.success());
    let generated = String::from_utf8(out.stdout).expect("UTF-8 table");
    assert!(generated.contains("| `--node-id` | `KURED_NODE_ID` |"));

    let rel = "docs/migrating-from-kured.md";
    let doc = read(rel);
    let start = doc.find(BEGIN_FLAGS).expect("BEGIN marker") + BEGIN_FLAGS.len();
    let end = start + doc[start..].find(END_FLAGS).expect("END marker");
    if std::env::var_os("UPDATE_DOCS").is_some() {
        let updated = format!("{}{generated}{}", &doc[..start], &doc[end..]);
        std::fs::write(root().join(rel), updated).expect("rewrite the doc");
        return;
    }
    let committed = &doc[start..end];
    if committed != generated {
        let diff: Vec<String> = generated
            .lines()
            .filter(|l| !committed.lines().any(|c| c == *l))
            .map(|l| format!("+ {l}"))
            .chain(
                committed
                    .lines()
                    .filter(|l| !generated.lines().any(|g| g == *l))
                    .map(|l| format!("- {l}")),
            )
            .collect();
        panic!(
            "{rel}: the flag table differs from `kured-rs --print-flags-markdown` \
             (regenerate: UPDATE_DOCS=1 cargo nextest run -p kured-rs --test docs):\n{}",
            diff.join("\n")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The PrometheusRule

fn yaml_file(rel: &str) -> Value {
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&read(rel)).expect("valid YAML");
    serde_json::to_value(v).expect("YAML as JSON")
}

fn promtool(args: &[&str], dir: &Path) -> String {
    let out = std::process::Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool is installed (Debian package prometheus; .ci/run installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}:\n{text}");
    text
}

/// The rule test: `RebootRequired` fires after 24 h of a required reboot, not before; the other
/// alerts fire on their own conditions.
const RULE_TESTS: &str = r#"
rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'kured_reboot_required{instance="a:8080",node="node-1"}'
        values: '1x1600'
      - series: 'kured_reboot_required{instance="b:8080",node="node-2"}'
        values: '0x1600'
      - series: 'kured_reboot_blocked{instance="a:8080",reason="prometheus_alert"}'
        values: '1x1600'
      - series: 'kured_sentinel_errors_total{instance="b:8080"}'
        values: '0+1x300'
      - series: 'kured_lock_held{instance="a:8080"}'
        values: '0x5 1x200'
    alert_rule_test:
      - eval_time: 23h
        alertname: RebootRequired
        exp_alerts: []
      - eval_time: 25h
        alertname: RebootRequired
        exp_alerts:
          - exp_labels: {severity: warning}
            exp_annotations:
              summary: Node(s) require a reboot and kured-rs has not done it for 24 hours
              description: >-
                kured_reboot_required is 1 on at least one node. Check kured_reboot_blocked,
                kured_window_open and the lock (docs/operations.md, docs/troubleshooting.md).
      - eval_time: 11h
        alertname: KuredRebootBlocked
        exp_alerts: []
      - eval_time: 13h
        alertname: KuredRebootBlocked
        exp_alerts:
          - exp_labels: {severity: info, reason: prometheus_alert}
            exp_annotations:
              summary: "A required reboot has been blocked for 12 hours (reason prometheus_alert)"
              description: >-
                kured-rs finds a reboot required but "prometheus_alert" blocks it. The agent
                log line "reboot required, but blocked at this time" names the alerts or pods.
      - eval_time: 3h
        alertname: KuredSentinelErrors
        exp_alerts:
          - exp_labels: {severity: warning, instance: "b:8080"}
            exp_annotations:
              summary: "kured-rs cannot tell whether b:8080 needs a reboot"
              description: >-
                Sentinel checks fail on b:8080 (log: "cannot tell whether a
                reboot is required"). Fix --reboot-sentinel-command or the sentinel mount.
      - eval_time: 50m
        alertname: KuredLockHeldTooLong
        exp_alerts: []
      - eval_time: 70m
        alertname: KuredLockHeldTooLong
        exp_alerts:
          - exp_labels: {severity: warning, instance: "a:8080"}
            exp_annotations:
              summary: "a:8080 has held the reboot lock for over an hour"
              description: >-
                While one node holds the lock (concurrency 1) no other node reboots. See
                "manual unlock" in docs/operations.md.
"#;

#[test]
fn prometheus_rule_passes_promtool() {
    let rule = yaml_file("deploy/prometheus/prometheusrule.yaml");
    assert_eq!(rule["kind"], "PrometheusRule");
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = serde_yaml_ng::to_string(&rule["spec"]).expect("spec as YAML");
    std::fs::write(dir.path().join("rules.yaml"), spec).expect("write rules");
    let checked = promtool(&["check", "rules", "rules.yaml"], dir.path());
    assert!(checked.contains("SUCCESS"), "{checked}");
    std::fs::write(dir.path().join("tests.yaml"), RULE_TESTS).expect("write tests");
    promtool(&["test", "rules", "tests.yaml"], dir.path());
}

/// The filter documented in the rule file and in docs/operations.md.
fn documented_filter() -> String {
    let rule = read("deploy/prometheus/prometheusrule.yaml");
    let filter = rule
        .lines()
        .find_map(|l| {
            l.trim_start_matches('#')
                .trim()
                .strip_prefix("--alert-filter-regexp=")
        })
        .expect("the rule file documents --alert-filter-regexp=")
        .to_string();
    let ops = read("docs/operations.md");
    assert!(
        ops.contains(&format!("--alert-filter-regexp={filter}")),
        "docs/operations.md does not show the filter {filter}"
    );
    filter
}

#[test]
fn alert_filter_covers_every_alert_about_reboots() {
    let filter = blockers::regex::Regex::new(&documented_filter()).expect("valid regexp");
    let rule = yaml_file("deploy/prometheus/prometheusrule.yaml");
    let mut names = Vec::new();
    for group in rule["spec"]["groups"].as_array().expect("groups") {
        for r in group["rules"].as_array().expect("rules") {
            if let Some(name) = r["alert"].as_str() {
                names.push(name.to_string());
            }
        }
    }
    assert!(names.iter().any(|n| n == "RebootRequired"), "{names:?}");
    for name in &names {
        assert!(
            filter.is_match(name),
            "alert {name} would block the reboots it is about"
        );
    }
    // …and it does not swallow unrelated alerts.
    for other in [
        "KubeNodeNotReady",
        "TargetDown",
        "NotRebootRequiredButSimilar",
    ] {
        assert!(!filter.is_match(other), "the filter also ignores {other}");
    }
}

// ---------------------------------------------------------------------------------------------
// Quoted log lines

/// Source files of the workspace (crates and binaries), path → text.
fn sources() -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root().join("crates"), root().join("bins")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "target") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs")
                && path.components().any(|c| c.as_os_str() == "src")
            {
                let text = std::fs::read_to_string(&path).expect("read source");
                out.insert(path, text);
            }
        }
    }
    out
}

/// `agent::agent` → `crates/agent/src/agent.rs`; `kured_rs` → `bins/kured-rs/src/main.rs`.
fn module_file(target: &str) -> PathBuf {
    let parts: Vec<&str> = target.split("::").collect();
    let krate = parts[0].replace('_', "-");
    let base = if root().join("crates").join(&krate).exists() {
        root().join("crates").join(&krate).join("src")
    } else {
        root().join("bins").join(&krate).join("src")
    };
    if parts.len() == 1 {
        let main = base.join("main.rs");
        return if main.exists() {
            main
        } else {
            base.join("lib.rs")
        };
    }
    let rel = parts[1..].join("/");
    let file = base.join(format!("{rel}.rs"));
    if file.exists() {
        file
    } else {
        base.join(rel).join("mod.rs")
    }
}

/// A string literal of the source as a format: its literal parts between `{…}` placeholders.
#[derive(Debug)]
struct Format {
    parts: Vec<String>,
}

impl Format {
    /// `"drain of node {node} timed out after {}: {}"` → `["drain of node ", " timed out after ",
    /// ": "]` (`{{` and `}}` are literal braces).
    fn parse(literal: &str) -> Self {
        let mut parts = vec![String::new()];
        let mut chars = literal.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    parts.last_mut().expect("non-empty").push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    parts.last_mut().expect("non-empty").push('}');
                }
                '{' => {
                    for c in chars.by_ref() {
                        if c == '}' {
                            break;
                        }
                    }
                    parts.push(String::new());
                }
                c => parts.last_mut().expect("non-empty").push(c),
            }
        }
        Self { parts }
    }

    fn literal_len(&self) -> usize {
        self.parts.iter().map(|p| p.trim().len()).sum()
    }

    /// Whether `text` starts with an expansion of this format (placeholders match any text).
    fn starts(&self, text: &str) -> bool {
        let Some(rest) = text.strip_prefix(self.parts[0].as_str()) else {
            return false;
        };
        let mut rest = rest;
        for part in &self.parts[1..] {
            if part.is_empty() {
                continue;
            }
            match rest.find(part.as_str()) {
                Some(i) => rest = &rest[i + part.len()..],
                None => return false,
            }
        }
        true
    }
}

/// The string literals of a Rust source (raw strings, char literals and comment lines left out).
fn literals(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in source.lines() {
        let t = line.trim_start();
        if t.starts_with("//") {
            continue;
        }
        // Char literals holding a quote would start a bogus string.
        let line = line.replace("'\"'", "").replace("'\\\"'", "");
        let mut chars = line.chars();
        let mut raw = false;
        let mut prev = ' ';
        while let Some(c) = chars.next() {
            if c == '"' {
                let mut lit = String::new();
                let mut escaped = false;
                for c in chars.by_ref() {
                    if escaped {
                        lit.push(match c {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        });
                        escaped = false;
                    } else if c == '\\' && !raw {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    } else {
                        lit.push(c);
                    }
                }
                out.push(lit);
                raw = false;
            } else {
                raw = c == '#' || (c == 'r' && !prev.is_alphanumeric());
            }
            prev = c;
        }
    }
    out
}

/// Formats of every string literal of the workspace with at least 10 literal characters.
fn formats() -> Vec<Format> {
    sources()
        .values()
        .flat_map(|s| literals(s))
        .map(|l| Format::parse(&l))
        .filter(|f| f.literal_len() >= 10)
        .collect()
}

/// A quoted log line: `LEVEL target: message key=value …`.
struct LogLine<'a> {
    target: &'a str,
    message: &'a str,
    /// Values of the `error=` and `reason=` fields (messages themselves; they end the line).
    texts: Vec<&'a str>,
}

/// Where the first ` key=` field of a log line's text starts.
fn first_field(text: &str) -> Option<usize> {
    text.match_indices(' ').map(|(i, _)| i).find(|&i| {
        let word: String = text[i + 1..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        !word.is_empty() && text[i + 1 + word.len()..].starts_with('=')
    })
}

fn parse_log_line(line: &str) -> LogLine<'_> {
    let (level, rest) = line.split_once(' ').expect("LEVEL target: message");
    assert!(
        ["ERROR", "WARN", "INFO", "DEBUG"].contains(&level),
        "{line}: no level"
    );
    let (target, rest) = rest.trim_start().split_once(": ").expect("target: message");
    // The message ends where the first ` key=` field starts.
    let field = first_field(rest).unwrap_or(rest.len());
    // `error=` and `reason=` carry messages; checked when they are the last field (a Debug
    // value such as `reason=Stale` followed by more fields is data).
    let texts = [" error=", " reason="]
        .iter()
        .filter_map(|key| rest.find(key).map(|i| rest[i + key.len()..].trim()))
        .filter(|value| first_field(value).is_none())
        .collect();
    LogLine {
        target,
        message: rest[..field].trim(),
        texts,
    }
}

#[test]
fn format_matching_is_not_vacuous() {
    let f = Format::parse("drain of node {node} timed out after {}: {}");
    assert!(f.starts("drain of node n1 timed out after 2s: 1 pod(s) left"));
    assert!(!f.starts("drain of node n1 finished"));
    assert!(!f.starts("the drain of node n1 timed out after 2s: x"));
    let lits = literals(r#"let x = format!("a \"quoted\" {x}", x); // "not this""#);
    assert_eq!(
        lits,
        vec!["a \"quoted\" {x}".to_string(), "not this".to_string()]
    );
}

#[test]
fn quoted_log_lines_come_from_the_code() {
    let formats = formats();
    let produced = |text: &str| formats.iter().any(|f| f.starts(text));
    let mut checked = 0;
    for rel in OPERATOR_DOCS {
        let doc = read(rel);
        for block in blocks(&doc)
            .into_iter()
            .filter(|b| b.info == "text message")
        {
            for line in block.body.lines().filter(|l| !l.trim().is_empty()) {
                let log = parse_log_line(line.trim());
                let file = module_file(log.target);
                assert!(
                    file.exists(),
                    "{rel}:{}: no module {} ({})",
                    block.line,
                    log.target,
                    file.display()
                );
                assert!(
                    produced(log.message),
                    "{rel}:{}: no format string of the source produces {:?}",
                    block.line,
                    log.message
                );
                for text in log.texts {
                    assert!(
                        produced(text),
                        "{rel}:{}: no format string of the source produces {text:?}",
                        block.line
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 10, "only {checked} quoted log lines found");
}

#[test]
fn quoted_fleetlock_answers_come_from_the_code() {
    let formats = formats();
    let produced = |text: &str| formats.iter().any(|f| f.starts(text));
    let kinds = read("crates/fleetlock/src/protocol.rs");
    let mut checked = 0;
    for rel in OPERATOR_DOCS {
        let doc = read(rel);
        for block in blocks(&doc)
            .into_iter()
            .filter(|b| b.info == "json message")
        {
            for line in block.body.lines().filter(|l| !l.trim().is_empty()) {
                let body: Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("{rel}:{}: {e}: {line}", block.line));
                let kind = body["kind"].as_str().expect("kind");
                let value = body["value"].as_str().expect("value");
                assert!(
                    kinds.contains(&format!("=> \"{kind}\"")),
                    "{rel}:{}: {kind} is not an ErrorKind of crates/fleetlock/src/protocol.rs",
                    block.line
                );
                assert!(
                    produced(value),
                    "{rel}:{}: no format string of the source produces {value:?}",
                    block.line
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 5,
        "only {checked} quoted FleetLock answers found"
    );
}

// ---------------------------------------------------------------------------------------------
// Shell blocks

#[test]
fn every_shell_block_is_marked() {
    let mut runnable = 0;
    for rel in OPERATOR_DOCS {
        for b in blocks(&read(rel)).into_iter().filter(|b| is_shell(&b.info)) {
            let marker = b.marker.as_deref().unwrap_or_else(|| {
                panic!(
                    "{rel}:{}: shell block without <!-- test: kubesim|skip REASON -->",
                    b.line
                )
            });
            match mode(marker) {
                "skip" => assert!(
                    marker.trim_start_matches("skip").trim().len() >= 10,
                    "{rel}:{}: a skipped block needs its reason",
                    b.line
                ),
                // Run by bins/fleetlock-rs/tests/docs.rs against the fleetlock-rs binary.
                "fleetlock" | "fleetlock-server" => {}
                "kubesim" => runnable += 1,
                other => panic!("{rel}:{}: unknown marker {other:?}", b.line),
            }
        }
    }
    assert!(runnable >= 8, "only {runnable} runnable shell blocks");
}

/// Runs the `kubesim` blocks of `rel`, in order, against a fresh kubesim cluster.
async fn run_doc_blocks(rel: &str) -> usize {
    let doc = read(rel);
    let runnable: Vec<(Block, BTreeMap<String, String>)> = blocks(&doc)
        .into_iter()
        .filter(|b| is_shell(&b.info))
        .filter_map(|b| {
            let options = b
                .marker
                .as_deref()
                .filter(|m| mode(m) == "kubesim")
                .map(marker_options)?;
            Some((b, options))
        })
        .collect();
    if runnable.is_empty() {
        return 0;
    }
    let cluster = kubesim::cluster::Cluster::builder()
        .nodes(3)
        .daemonset("kube-system", "kured")
        .pods_per_node(1)
        .kubelet_start_delay(Duration::from_millis(20))
        .shutdown_time(Duration::from_millis(20))
        .reschedule_delay(Duration::from_millis(20))
        .start()
        .await
        .expect("kubesim");
    let dir = tempfile::tempdir().expect("temp dir");
    // Blocks refer to the repository's manifests as `deploy/…`.
    std::os::unix::fs::symlink(root().join("deploy"), dir.path().join("deploy"))
        .expect("link deploy/");
    let kubeconfig = dir.path().join("kubeconfig");
    cluster.kubeconfig(&kubeconfig).expect("write kubeconfig");
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_kured-rs"))
        .parent()
        .expect("binary dir")
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env = [
        ("KUBECONFIG", kubeconfig.display().to_string()),
        ("PATH", path),
    ];
    for (block, options) in &runnable {
        run_block(rel, block, options, dir.path(), &env).await;
    }
    cluster.shutdown().await;
    runnable.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_commands_run_against_kubesim() {
    assert!(run_doc_blocks("docs/operations.md").await >= 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_commands_run_against_kubesim() {
    assert!(run_doc_blocks("docs/migrating-from-kured.md").await >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_commands_run_against_kubesim() {
    assert!(run_doc_blocks("docs/install.md").await >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn troubleshooting_commands_run_against_kubesim() {
    assert!(run_doc_blocks("docs/troubleshooting.md").await >= 1);
}

// ---------------------------------------------------------------------------------------------
// The metrics table

#[test]
fn metrics_table_matches_the_agent() {
    let metrics = agent::Metrics::new();
    // Families with labels only appear once a series exists.
    metrics.set_reboot_required("node-1", true);
    metrics.set_blocked(Some(&blockers::BlockReason::Other {
        blocker: "test".into(),
        message: "blocked".into(),
    }));
    metrics.set_pdb_blocked("shop/web-pdb", 2);
    let exposed: BTreeMap<String, String> = metrics
        .encode()
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| {
            let (name, kind) = l.split_once(' ').expect("# TYPE name type");
            let name = if kind == "counter" {
                format!("{name}_total")
            } else {
                name.to_string()
            };
            (name, kind.to_string())
        })
        .collect();
    assert!(exposed.len() >= 8, "{exposed:?}");

    let doc = read("docs/operations.md");
    let section = &doc[doc.find("## Metrics").expect("the Metrics section")..];
    let documented: BTreeMap<String, String> = section
        .lines()
        .skip_while(|l| !l.starts_with("| metric |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let name = cells[1].trim_matches('`');
            let name = name.split('{').next().unwrap_or(name).to_string();
            (name, cells[2].to_string())
        })
        .collect();
    assert_eq!(
        documented, exposed,
        "docs/operations.md: the metrics table differs from what the agent exposes"
    );
}

// ---------------------------------------------------------------------------------------------
// Links

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(doc: &str) -> Vec<String> {
    let mut in_fence = false;
    doc.lines()
        .filter(|l| {
            if l.trim_start().starts_with("```") {
                in_fence = !in_fence;
            }
            !in_fence && l.starts_with('#')
        })
        .map(|l| slug(l.trim_start_matches('#')))
        .collect()
}

#[test]
fn relative_links_and_anchors_resolve() {
    let mut files = vec!["README.md".to_string()];
    for dir in ["docs", "deploy/kured-rs", "deploy/fleetlock-rs"] {
        for entry in std::fs::read_dir(root().join(dir))
            .expect("read dir")
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if Path::new(&name).extension().is_some_and(|e| e == "md") {
                files.push(format!("{dir}/{name}"));
            }
        }
    }
    let mut checked = 0;
    for rel in &files {
        let doc = read(rel);
        let base = root().join(rel);
        let base = base.parent().expect("parent dir");
        for (i, _) in doc.match_indices("](") {
            let rest = &doc[i + 2..];
            let target = &rest[..rest.find(')').expect("closing parenthesis")];
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = target.split_once('#').unwrap_or((target, ""));
            let file = if path.is_empty() {
                root().join(rel)
            } else {
                base.join(path)
            };
            assert!(file.exists(), "{rel}: broken link {target}");
            if !anchor.is_empty() {
                let text = std::fs::read_to_string(&file).expect("linked file");
                assert!(
                    anchors(&text).iter().any(|a| a == anchor),
                    "{rel}: no heading for #{anchor} in {}",
                    file.display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} links checked");
}
