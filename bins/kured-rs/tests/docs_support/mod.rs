//! Shared by the docs tests of kured-rs and fleetlock-rs: the fenced blocks of a Markdown file
//! with their `<!-- test: … -->` markers, and a runner for shell blocks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A file of the repository.
pub fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

/// A fenced block and the `<!-- test: … -->` marker right before it, if any.
#[derive(Debug)]
pub struct Block {
    /// 1-based line of the opening fence.
    pub line: usize,
    pub info: String,
    pub marker: Option<String>,
    pub body: String,
}

pub fn blocks(doc: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    let mut lines = doc.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        let t = line.trim();
        if let Some(m) = t
            .strip_prefix("<!-- test:")
            .and_then(|m| m.strip_suffix("-->"))
        {
            marker = Some(m.trim().to_string());
            continue;
        }
        if let Some(info) = t.strip_prefix("```") {
            let mut body = String::new();
            for (_, l) in lines.by_ref() {
                if l.trim() == "```" {
                    break;
                }
                body.push_str(l);
                body.push('\n');
            }
            out.push(Block {
                line: i + 1,
                info: info.trim().to_string(),
                marker: marker.take(),
                body,
            });
            continue;
        }
        if !t.is_empty() {
            marker = None;
        }
    }
    out
}

pub fn is_shell(info: &str) -> bool {
    matches!(info, "sh" | "bash" | "console" | "shell")
}

/// The first word of a marker: `kubesim`, `skip`, `fleetlock`, `fleetlock-server`.
pub fn mode(marker: &str) -> &str {
    marker.split_whitespace().next().unwrap_or("")
}

/// `kubesim stop-after=5 expect="text"` → `{"kubesim": "", "stop-after": "5", "expect": "text"}`.
pub fn marker_options(marker: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = marker.trim();
    while !rest.is_empty() {
        let key_end = rest.find(['=', ' ']).unwrap_or(rest.len());
        let key = rest[..key_end].to_string();
        rest = &rest[key_end..];
        let value = if let Some(v) = rest.strip_prefix("=\"") {
            let end = v.find('"').expect("closing quote in marker");
            rest = &v[end + 1..];
            v[..end].to_string()
        } else if let Some(v) = rest.strip_prefix('=') {
            let end = v.find(' ').unwrap_or(v.len());
            rest = &v[end..];
            v[..end].to_string()
        } else {
            String::new()
        };
        out.insert(key, value);
        rest = rest.trim_start();
    }
    out
}

/// Runs one block with bash (`set -euo pipefail`) in `dir` with `env`, its output in a file;
/// asserts that it succeeds (or, with `stop-after=SECS`, that it runs until stopped) and that
/// its output contains `expect=…`.
pub async fn run_block(
    rel: &str,
    block: &Block,
    options: &BTreeMap<String, String>,
    dir: &Path,
    env: &[(&str, String)],
) -> String {
    let limit: u64 = options
        .get("stop-after")
        .map_or(60, |t| t.parse().expect("stop-after=SECS"));
    let stops_itself = options.contains_key("stop-after");
    let log_path = dir.join(format!("block-{}.log", block.line));
    let log = std::fs::File::create(&log_path).expect("block log");
    let mut cmd = tokio::process::Command::new("bash");
    cmd.arg("-c")
        .arg(format!("set -euo pipefail\n{}", block.body))
        .current_dir(dir)
        .env("HOME", dir)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone log"))
        .stderr(log)
        .kill_on_drop(true)
        .process_group(0);
    for (k, _) in std::env::vars() {
        if k.starts_with("KURED_") || k.starts_with("FLEETLOCK_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("bash");
    let pid = child.id().expect("pid");
    let status = if let Ok(s) = tokio::time::timeout(Duration::from_secs(limit), child.wait()).await
    {
        Some(s.expect("wait"))
    } else {
        // The block runs a daemon until stopped: SIGTERM its process group, as a Ctrl-C or a
        // pod deletion would, and let it exit.
        let _ = std::process::Command::new("kill")
            .args(["-TERM", "--", &format!("-{pid}")])
            .status();
        let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        None
    };
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    match status {
        Some(s) => assert!(
            s.success(),
            "{rel}:{}: block failed ({s}):\n{}\n{text}",
            block.line,
            block.body
        ),
        None => assert!(
            stops_itself,
            "{rel}:{}: block did not finish in {limit}s:\n{text}",
            block.line
        ),
    }
    if let Some(expect) = options.get("expect") {
        assert!(
            text.contains(expect.as_str()),
            "{rel}:{}: output lacks {expect:?}:\n{text}",
            block.line
        );
    }
    text
}
