//! Talk FleetLock as a client, the way Zincati does.
//!
//! ```text
//! cargo run -p fleetlock --example client -- URL pre-reboot|steady-state ID [GROUP]
//! cargo run -p fleetlock --example client        # a demo against an in-process server
//! ```
//!
//! `URL` is the server's base URL as in Zincati's `base_url`; keep its trailing slash
//! (`http://fleetlock:8080/`): the endpoints are joined to it the way Zincati joins them, so
//! without the slash the last path segment is replaced. `GROUP` defaults to `default`.
//! Exit status: 0 the server said yes, 1 it said no (or could not be reached), 2 bad usage.
//!
//! Without arguments the example starts a one-slot server on 127.0.0.1 (memory store, a free
//! port) and shows two nodes taking turns.

// FleetLock and Zincati are product names in prose, not code identifiers.
#![allow(clippy::doc_markdown)]

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;

use fleetlock::store::MemoryStore;
use fleetlock::{Client, ClientError, FleetLock, ServerConfig, StoreSpec};

const USAGE: &str = "usage: client [URL pre-reboot|steady-state ID [GROUP]]";

type BoxError = Box<dyn std::error::Error>;

/// One request against a server given on the command line.
async fn one_request(
    http: reqwest::Client,
    args: &[String],
) -> Result<Result<(), ClientError>, String> {
    let [url, action, id, rest @ ..] = args else {
        return Err("expected URL, action and ID".into());
    };
    let group = match rest {
        [] => "default",
        [group] => group.as_str(),
        _ => return Err("too many arguments".into()),
    };
    let base = url::Url::parse(url).map_err(|e| format!("bad URL {url:?}: {e}"))?;
    let client = Client::new(base, id, group, http).map_err(|e| e.to_string())?;
    Ok(match action.as_str() {
        "pre-reboot" => client.pre_reboot().await,
        "steady-state" => client.steady_state().await,
        other => return Err(format!("unknown action {other:?}")),
    })
}

/// Prints what a FleetLock answer means for the node.
fn explain(what: &str, answer: &Result<(), ClientError>) {
    match answer {
        Ok(()) => println!("{what}: yes"),
        Err(ClientError::Rejected { status, body, .. }) => println!(
            "{what}: not now ({} {}: {})",
            status.as_u16(),
            body.kind,
            body.value
        ),
        Err(e) => println!("{what}: failed: {e}"),
    }
}

/// Two nodes share a one-slot group on an in-process server.
async fn demo(http: reqwest::Client) -> Result<(), BoxError> {
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse()?,
        store: StoreSpec::Memory,
        groups: BTreeMap::from([("workers".to_owned(), 1)]),
        ..ServerConfig::default()
    };
    let app = Arc::new(FleetLock::new(config, Arc::new(MemoryStore::new()))?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = url::Url::parse(&format!("http://{}/", listener.local_addr()?))?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(fleetlock::serve_on(listener, app, async {
        let _ = stopped.await;
    }));
    println!("FleetLock server on {base} (group workers, 1 slot)");

    let a = Client::new(base.clone(), "node-a", "workers", http.clone())?;
    let b = Client::new(base, "node-b", "workers", http)?;
    explain("node-a pre-reboot", &a.pre_reboot().await);
    explain("node-b pre-reboot", &b.pre_reboot().await);
    explain("node-a steady-state", &a.steady_state().await);
    explain("node-b pre-reboot", &b.pre_reboot().await);
    explain("node-b steady-state", &b.steady_state().await);

    let _ = stop.send(());
    server.await??;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    // reqwest is built with rustls and no provider of its own: install ring, as a binary would.
    // An error only means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = match reqwest::Client::builder().build() {
        Ok(http) => http,
        Err(e) => {
            eprintln!("error: HTTP client: {e}");
            return ExitCode::FAILURE;
        }
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        return match demo(http).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match one_request(http, &args).await {
        Ok(answer) => {
            explain(&args[1], &answer);
            if answer.is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(message) => {
            eprintln!("{message}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
