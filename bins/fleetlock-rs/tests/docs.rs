//! docs/fleetlock.md cannot drift from the code:
//!
//! - its shell blocks marked `fleetlock-server` (started in the background) and `fleetlock` run
//!   in document order against the real `fleetlock-rs` binary, on a free port that replaces the
//!   doc's `127.0.0.1:8080` (the markers are parsed by the shared `docs_support` module of
//!   bins/kured-rs/tests, which also checks that every shell block of the docs is marked);
//! - its table of error kinds lists exactly the kinds and HTTP statuses of
//!   `crates/fleetlock/src/protocol.rs`.

#[path = "../../kured-rs/tests/docs_support/mod.rs"]
mod docs_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use docs_support::{Block, blocks, is_shell, marker_options, mode, read, run_block};

const DOC: &str = "docs/fleetlock.md";
const DOC_ADDR: &str = "127.0.0.1:8080";

fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let addr = listener.local_addr().expect("local addr");
    drop(listener);
    addr.to_string()
}

/// Waits until something accepts connections on `addr`.
async fn wait_listening(addr: &str, log: &Path) {
    let start = Instant::now();
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "fleetlock-rs did not listen on {addr}:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleetlock_doc_commands_run_against_the_binary() {
    let doc = read(DOC);
    let addr = free_addr();
    let dir = tempfile::tempdir().expect("temp dir");
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_fleetlock-rs"))
        .parent()
        .expect("binary dir")
        .to_path_buf();
    let env = [(
        "PATH",
        format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        ),
    )];
    let mut server: Option<tokio::process::Child> = None;
    let mut ran = 0;
    for b in blocks(&doc).into_iter().filter(|b| is_shell(&b.info)) {
        let Some(marker) = b.marker.clone() else {
            continue;
        };
        let block = Block {
            body: b.body.replace(DOC_ADDR, &addr),
            ..b
        };
        match mode(&marker) {
            "fleetlock-server" => {
                assert!(server.is_none(), "{DOC}:{}: a second server", block.line);
                let log_path = dir.path().join("server.log");
                let log = std::fs::File::create(&log_path).expect("server log");
                let mut cmd = tokio::process::Command::new("bash");
                cmd.arg("-c")
                    .arg(format!("set -euo pipefail\n{}", block.body))
                    .current_dir(dir.path())
                    .env("PATH", &env[0].1)
                    .env_remove("KUBERNETES_SERVICE_HOST")
                    .stdin(Stdio::null())
                    .stdout(log.try_clone().expect("clone log"))
                    .stderr(log)
                    .kill_on_drop(true)
                    .process_group(0);
                for (k, _) in std::env::vars() {
                    if k.starts_with("FLEETLOCK_") {
                        cmd.env_remove(k);
                    }
                }
                server = Some(cmd.spawn().expect("start the server block"));
                wait_listening(&addr, &log_path).await;
                ran += 1;
            }
            "fleetlock" => {
                assert!(
                    server.is_some(),
                    "{DOC}:{}: runs before the server",
                    block.line
                );
                let options: BTreeMap<String, String> = marker_options(&marker);
                run_block(DOC, &block, &options, dir.path(), &env).await;
                ran += 1;
            }
            _ => {}
        }
    }
    if let Some(mut child) = server {
        if let Some(pid) = child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", "--", &format!("-{pid}")])
                .status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    }
    assert!(ran >= 6, "only {ran} fleetlock blocks ran");
}

/// The `Self::Variant => "kind"` arms of `ErrorKind::as_str` and the `Self::A | Self::B =>
/// StatusCode::NAME` arms of `ErrorKind::status`, joined: kind → HTTP status code.
fn kinds_in_code() -> BTreeMap<String, u16> {
    let source = read("crates/fleetlock/src/protocol.rs");
    let section = |start: &str| -> &str {
        let i = source
            .find(start)
            .unwrap_or_else(|| panic!("{start} in protocol.rs"));
        let rest = &source[i..];
        let end = rest[1..]
            .find("\n    pub fn ")
            .map_or(rest.len(), |e| e + 1);
        &rest[..end]
    };
    let mut kind_of = BTreeMap::new();
    for line in section("pub fn as_str").lines() {
        if let Some((lhs, rhs)) = line.trim().split_once(" => \"") {
            let variant = lhs.trim_start_matches("Self::").to_string();
            kind_of.insert(variant, rhs.trim_end_matches(['"', ',']).to_string());
        }
    }
    let codes: BTreeMap<&str, u16> = [
        ("BAD_REQUEST", 400),
        ("UNAUTHORIZED", 401),
        ("NOT_FOUND", 404),
        ("METHOD_NOT_ALLOWED", 405),
        ("CONFLICT", 409),
        ("PAYLOAD_TOO_LARGE", 413),
        ("LOCKED", 423),
        ("SERVICE_UNAVAILABLE", 503),
    ]
    .into_iter()
    .collect();
    let mut out = BTreeMap::new();
    let mut pending: Vec<String> = Vec::new();
    for line in section("pub fn status").lines() {
        for part in line.split("Self::").skip(1) {
            let variant: String = part
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect();
            pending.push(variant);
        }
        if let Some((_, status)) = line.split_once("StatusCode::") {
            let name: String = status
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                .collect();
            let code = *codes
                .get(name.as_str())
                .unwrap_or_else(|| panic!("add StatusCode::{name} to this test's table"));
            for variant in pending.drain(..) {
                let kind = kind_of
                    .get(&variant)
                    .unwrap_or_else(|| panic!("ErrorKind::{variant} has no as_str arm"));
                out.insert(kind.clone(), code);
            }
        }
    }
    assert_eq!(out.len(), kind_of.len(), "every kind has a status: {out:?}");
    out
}

/// The rows `` | `kind` | CODE | … `` of the doc's error-kind table.
fn kinds_in_doc() -> BTreeMap<String, u16> {
    let doc = read(DOC);
    let table = &doc[doc.find("## Answers and error kinds").expect("the section")..];
    table
        .lines()
        .skip_while(|l| !l.starts_with("| `kind` |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let kind = cells[1].trim_matches('`').to_string();
            let code = cells[2]
                .parse()
                .unwrap_or_else(|_| panic!("HTTP code in {row}"));
            (kind, code)
        })
        .collect()
}

#[test]
fn error_kind_table_matches_the_code() {
    let code = kinds_in_code();
    assert!(code.len() >= 12, "parsed {code:?}");
    assert_eq!(
        kinds_in_doc(),
        code,
        "{DOC}: the table of error kinds differs from crates/fleetlock/src/protocol.rs"
    );
}
