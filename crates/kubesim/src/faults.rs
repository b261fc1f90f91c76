//! Fault injection for reliability tests: an axum middleware that adds latency, answers a
//! fraction of requests with 500 / 429 (with `Retry-After`) / 409 (writes only), and cuts watch
//! streams after a number of events.
//!
//! Decisions come from one seeded RNG ([`fastrand::Rng::with_seed`]), so a single-threaded
//! request sequence sees the same faults on every run. Discovery (`/version`, `/api`, `/apis`,
//! `/api/v1`, `/apis/{group}[/{version}]`) and any path starting with one of
//! [`FaultConfig::exclude_prefixes`] pass untouched.
//!
//! Watch streams are cut in the middleware itself: the response body of a `watch=true|1`
//! request is ended (cleanly, as a server closing the stream) right after its N-th event line.
//!
//! ```
//! use kubesim::faults::FaultConfig;
//! let faults = FaultConfig {
//!     error_500_fraction: 0.1,
//!     cut_watch_after: Some(5),
//!     seed: 7,
//!     ..FaultConfig::default()
//! };
//! assert!(faults.is_active());
//! ```

// Kubernetes kind names (DaemonSet, PodDisruptionBudget, …) read better unquoted in prose.
#![allow(clippy::doc_markdown)]
// `ApiError` (the crate-wide error type, ~144 bytes) is returned unboxed everywhere.
#![allow(clippy::result_large_err)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::json;

use crate::errors::ApiError;
use crate::server::{api_error_response, request_info};

/// What to inject.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultConfig {
    /// Fixed latency added to every affected request.
    pub latency: Duration,
    /// Extra random latency, uniform in `0..=jitter`.
    pub jitter: Duration,
    /// Fraction (0.0–1.0) of requests answered `500 InternalError`.
    pub error_500_fraction: f64,
    /// Fraction of requests answered `429 TooManyRequests` with a `Retry-After` header.
    pub error_429_fraction: f64,
    /// Fraction of writes (POST, PUT, PATCH, DELETE) answered `409 Conflict`.
    pub conflict_409_fraction: f64,
    /// The `Retry-After` seconds of injected 429s.
    pub retry_after_seconds: u32,
    /// End every watch stream after this many events.
    pub cut_watch_after: Option<usize>,
    /// Leave discovery requests alone.
    pub exclude_discovery: bool,
    /// Leave requests whose path starts with one of these alone.
    pub exclude_prefixes: Vec<String>,
    /// RNG seed.
    pub seed: u64,
}

impl Default for FaultConfig {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            error_500_fraction: 0.0,
            error_429_fraction: 0.0,
            conflict_409_fraction: 0.0,
            retry_after_seconds: 1,
            cut_watch_after: None,
            exclude_discovery: true,
            exclude_prefixes: Vec::new(),
            seed: 0,
        }
    }
}

impl FaultConfig {
    /// Whether any fault is configured.
    pub fn is_active(&self) -> bool {
        !self.latency.is_zero()
            || !self.jitter.is_zero()
            || self.error_500_fraction > 0.0
            || self.error_429_fraction > 0.0
            || self.conflict_409_fraction > 0.0
            || self.cut_watch_after.is_some()
    }
}

/// Injected-fault counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Requests answered 500.
    pub errors_500: u64,
    /// Requests answered 429.
    pub errors_429: u64,
    /// Writes answered 409.
    pub conflicts_409: u64,
    /// Watch streams cut.
    pub watches_cut: u64,
}

/// Shared state of the fault middleware.
#[derive(Debug)]
pub struct Faults {
    config: FaultConfig,
    rng: Mutex<fastrand::Rng>,
    stats: Arc<Mutex<FaultStats>>,
}

impl Faults {
    /// Fault state for `config`.
    pub fn new(config: FaultConfig) -> Arc<Self> {
        let rng = fastrand::Rng::with_seed(config.seed);
        Arc::new(Self {
            config,
            rng: Mutex::new(rng),
            stats: Arc::new(Mutex::new(FaultStats::default())),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    /// What has been injected so far.
    pub fn stats(&self) -> FaultStats {
        *self
            .stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn bump(&self, f: impl FnOnce(&mut FaultStats)) {
        f(&mut self
            .stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner));
    }

    /// One draw: `(latency, roll)`.
    fn draw(&self) -> (Duration, f64) {
        let mut rng = self
            .rng
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let jitter_ns = u64::try_from(self.config.jitter.as_nanos()).unwrap_or(u64::MAX);
        let extra = if jitter_ns == 0 {
            0
        } else {
            rng.u64(0..=jitter_ns)
        };
        (self.config.latency + Duration::from_nanos(extra), rng.f64())
    }

    fn excluded(&self, path: &str) -> bool {
        (self.config.exclude_discovery && is_discovery_path(path))
            || self
                .config
                .exclude_prefixes
                .iter()
                .any(|p| path.starts_with(p.as_str()))
    }
}

/// Whether `path` is a discovery document (`/version`, `/api`, `/api/v1`, `/apis`,
/// `/apis/{group}`, `/apis/{group}/{version}`, `/openapi/…`).
pub fn is_discovery_path(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        ["version" | "api" | "apis"] | ["api" | "apis", _] | ["apis", _, _] => true,
        [first, ..] => *first == "openapi",
        [] => false,
    }
}

fn is_write(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

fn is_watch(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split('&')
            .any(|kv| matches!(kv, "watch=true" | "watch=1" | "watch=True"))
    })
}

/// The 429 the apiserver's max-in-flight filter sends.
pub fn too_many_requests(retry_after: u32) -> ApiError {
    ApiError::new(
        429,
        Some("TooManyRequests"),
        "Too many requests, please try again later.",
    )
    .with_details(json!({"retryAfterSeconds": retry_after}))
    .with_header("Retry-After", retry_after.to_string())
}

/// The axum middleware (use with `axum::middleware::from_fn_with_state(faults, fault_layer)`).
pub async fn fault_layer(State(faults): State<Arc<Faults>>, req: Request, next: Next) -> Response {
    if faults.excluded(req.uri().path()) {
        return next.run(req).await;
    }
    let (delay, roll) = faults.draw();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let c = &faults.config;
    let mut threshold = c.error_500_fraction;
    if roll < threshold {
        faults.bump(|s| s.errors_500 += 1);
        return api_error_response(&ApiError::internal("kubesim: injected fault"));
    }
    threshold += c.error_429_fraction;
    if roll < threshold {
        faults.bump(|s| s.errors_429 += 1);
        return api_error_response(&too_many_requests(c.retry_after_seconds));
    }
    if is_write(req.method()) {
        threshold += c.conflict_409_fraction;
        if roll < threshold {
            faults.bump(|s| s.conflicts_409 += 1);
            let info = request_info(req.method(), req.uri());
            let name = info.name.unwrap_or_default();
            let err = match info.resource {
                Some(rt) => ApiError::conflict(rt, &name),
                None => ApiError::new(409, Some("Conflict"), "kubesim: injected conflict"),
            };
            return api_error_response(&err);
        }
    }
    let cut = c
        .cut_watch_after
        .filter(|_| *req.method() == Method::GET && is_watch(req.uri().query()));
    let resp = next.run(req).await;
    match cut {
        Some(n) if resp.status().is_success() => {
            let stats = faults.stats.clone();
            let (parts, body) = resp.into_parts();
            Response::from_parts(
                parts,
                cut_after_lines(body, n, move || {
                    stats
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .watches_cut += 1;
                }),
            )
        }
        _ => resp,
    }
}

/// A body that ends right after the `n`-th newline of `body`; `on_cut` runs when it does.
pub fn cut_after_lines(body: Body, n: usize, on_cut: impl FnOnce() + Send + 'static) -> Body {
    let mut left = n;
    let mut on_cut = Some(on_cut);
    let stream = body.into_data_stream().scan((), move |_state, chunk| {
        if left == 0 {
            return futures::future::ready(None);
        }
        let out = match chunk {
            Ok(bytes) => {
                let mut end = bytes.len();
                for (i, b) in bytes.iter().enumerate() {
                    if *b == b'\n' {
                        left -= 1;
                        if left == 0 {
                            end = i + 1;
                            break;
                        }
                    }
                }
                if left == 0
                    && let Some(f) = on_cut.take()
                {
                    f();
                }
                Ok::<Bytes, axum::Error>(bytes.slice(..end))
            }
            Err(e) => Err(e),
        };
        futures::future::ready(Some(out))
    });
    Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_paths() {
        for p in [
            "/version",
            "/api",
            "/api/v1",
            "/apis",
            "/apis/apps",
            "/apis/apps/v1",
            "/openapi/v2",
        ] {
            assert!(is_discovery_path(p), "{p}");
        }
        for p in ["/api/v1/nodes", "/apis/apps/v1/daemonsets", "/healthz", "/"] {
            assert!(!is_discovery_path(p), "{p}");
        }
    }

    #[tokio::test]
    async fn cut_ends_after_n_lines() {
        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::from("a\nb\n")),
            Ok(Bytes::from("c\nd\n")),
            Ok(Bytes::from("e\n")),
        ];
        let body = Body::from_stream(futures::stream::iter(chunks));
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = cut.clone();
        let b = cut_after_lines(body, 3, move || {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let bytes = axum::body::to_bytes(b, 1024).await.unwrap();
        assert_eq!(&bytes[..], b"a\nb\nc\n");
        assert!(cut.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[test]
    fn seeded_draws_repeat() {
        let cfg = FaultConfig {
            jitter: Duration::from_millis(10),
            seed: 42,
            ..FaultConfig::default()
        };
        let a = Faults::new(cfg.clone());
        let b = Faults::new(cfg);
        for _ in 0..10 {
            assert_eq!(a.draw(), b.draw());
        }
    }
}
