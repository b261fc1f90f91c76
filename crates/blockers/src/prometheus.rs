//! [`PrometheusBlocker`]: blocks while Prometheus has active alerts, with kured's semantics.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use regex::Regex;
use reqwest::StatusCode;
use serde::Deserialize;
use url::Url;

use crate::{BlockReason, BlockerError, RebootBlocker};

/// The blocker name / metric label (kured's).
pub(crate) const LABEL: &str = "prometheus_alert";

/// The instant query kured runs.
const QUERY: &str = "ALERTS";

/// Default per-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How much of a non-Prometheus error body an error message keeps.
const BODY_SNIPPET: usize = 200;

/// Blocks while Prometheus reports active alerts.
///
/// Each check runs the instant query `ALERTS` against `<url>/api/v1/query` as a form `POST`,
/// and repeats it as a `GET` when the server answers 405 or 501 (as Prometheus' Go client,
/// which kured uses, does). The query carries no `time`, so Prometheus evaluates it at its own
/// "now" and clock skew between node and server does not matter. The semantics are kured
/// 1.23's:
///
/// - a sample counts when it has an `alertname` label and a non-zero value;
/// - with a [filter](Self::filter), an alert whose name the regular expression matches
///   (unanchored, anywhere in the name) is **ignored**; with
///   [`filter_match_only`](Self::filter_match_only) this inverts: only matching alerts count;
/// - with [`firing_only`](Self::firing_only), only samples with `alertstate="firing"` count
///   (pending alerts are ignored);
/// - the reason lists the alert names, sorted and de-duplicated;
/// - any failure (unreachable, timeout, error status, unexpected answer) is an error, which
///   blocks (fail safe).
///
/// Credentials in the URL (`http://user:pass@host:9090`) are sent as basic authentication and
/// never appear in errors or logs.
#[derive(Clone)]
pub struct PrometheusBlocker {
    query_url: Url,
    shown_url: String,
    client: reqwest::Client,
    timeout: Duration,
    filter: Option<Regex>,
    filter_match_only: bool,
    firing_only: bool,
}

impl std::fmt::Debug for PrometheusBlocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The query URL may carry a password: show the redacted form only.
        f.debug_struct("PrometheusBlocker")
            .field("query_url", &self.shown_url)
            .field("timeout", &self.timeout)
            .field("filter", &self.filter.as_ref().map(Regex::as_str))
            .field("filter_match_only", &self.filter_match_only)
            .field("firing_only", &self.firing_only)
            .finish_non_exhaustive()
    }
}

/// Installs rustls' `ring` provider as the process default unless one is installed already
/// (reqwest is built without a provider of its own and needs one).
fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race against another installer is fine: some provider is then installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// `url` with its password replaced by `***`.
fn redact(url: &Url) -> String {
    if url.password().is_some() {
        let mut shown = url.clone();
        // Only fails for URLs that cannot have credentials, and this one has them.
        let _ = shown.set_password(Some("***"));
        shown.to_string()
    } else {
        url.to_string()
    }
}

impl PrometheusBlocker {
    /// A blocker querying the Prometheus server at `url` (`http://prometheus:9090`, or with a
    /// path prefix such as `https://host/prometheus`), with no filter, pending alerts counted,
    /// and a [`DEFAULT_TIMEOUT`] per request.
    ///
    /// Installs rustls' `ring` crypto provider as the process default if none is installed.
    pub fn new(url: &str) -> Result<Self, BlockerError> {
        ensure_crypto_provider();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| BlockerError::Config(format!("building the HTTP client: {e}")))?;
        Self::with_client(url, client)
    }

    /// Like [`Self::new`], with a caller-built HTTP client (custom roots, proxies, headers).
    pub fn with_client(url: &str, client: reqwest::Client) -> Result<Self, BlockerError> {
        let mut query_url = Url::parse(url.trim()).map_err(|e| {
            BlockerError::Config(format!("prometheus URL {url:?} is not a URL: {e}"))
        })?;
        if !matches!(query_url.scheme(), "http" | "https") || query_url.cannot_be_a_base() {
            return Err(BlockerError::Config(format!(
                "prometheus URL {} must be an http:// or https:// URL",
                redact(&query_url)
            )));
        }
        let path = format!("{}/api/v1/query", query_url.path().trim_end_matches('/'));
        query_url.set_path(&path);
        query_url.set_fragment(None);
        Ok(Self {
            shown_url: redact(&query_url),
            query_url,
            client,
            timeout: DEFAULT_TIMEOUT,
            filter: None,
            filter_match_only: false,
            firing_only: false,
        })
    }

    /// `--alert-filter-regexp`: alerts whose name matches are ignored (or, with
    /// [`Self::filter_match_only`], the only ones that count). `None` counts every alert.
    pub fn filter(mut self, filter: Option<Regex>) -> Self {
        self.filter = filter;
        self
    }

    /// `--alert-filter-match-only`: only alerts matching the filter block. Without a filter
    /// every alert counts, as in kured.
    pub fn filter_match_only(mut self, on: bool) -> Self {
        self.filter_match_only = on;
        self
    }

    /// `--alert-firing-only`: pending alerts (`alertstate="pending"`) do not block.
    pub fn firing_only(mut self, on: bool) -> Self {
        self.firing_only = on;
        self
    }

    /// Per-request timeout (default [`DEFAULT_TIMEOUT`]); a timeout is an error and blocks.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The query endpoint (`…/api/v1/query`), password redacted.
    pub fn query_url(&self) -> &str {
        &self.shown_url
    }

    /// Whether an alert named `name` counts under the filter settings.
    fn name_counts(&self, name: &str) -> bool {
        match &self.filter {
            None => true,
            Some(re) => re.is_match(name) == self.filter_match_only,
        }
    }

    /// The names of the alerts that count, sorted and de-duplicated (empty: nothing blocks).
    pub async fn active_alerts(&self) -> Result<Vec<String>, BlockerError> {
        let (status, body) = self.query().await?;
        let samples = self.parse(status, &body)?;
        let mut names = BTreeSet::new();
        for sample in samples {
            let Some(name) = sample.metric.get("alertname") else {
                continue;
            };
            if sample.value == 0.0 {
                continue;
            }
            let firing = sample.metric.get("alertstate").map(String::as_str) == Some("firing");
            if (!self.firing_only || firing) && self.name_counts(name) {
                names.insert(name.clone());
            }
        }
        Ok(names.into_iter().collect())
    }

    fn transport_error(&self, e: reqwest::Error) -> BlockerError {
        BlockerError::PrometheusTransport {
            url: self.shown_url.clone(),
            source: e.without_url(),
        }
    }

    /// Runs the query: `POST` form, then `GET` on 405/501. Returns the final status and body.
    async fn query(&self) -> Result<(StatusCode, Vec<u8>), BlockerError> {
        let form: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("query", QUERY)
            .finish();
        let response = self
            .client
            .post(self.query_url.clone())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        let response = if matches!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_IMPLEMENTED
        ) {
            tracing::debug!(
                url = %self.shown_url,
                status = response.status().as_u16(),
                "prometheus refused POST, retrying the query as GET"
            );
            let mut get_url = self.query_url.clone();
            get_url.query_pairs_mut().append_pair("query", QUERY);
            self.client
                .get(get_url)
                .timeout(self.timeout)
                .send()
                .await
                .map_err(|e| self.transport_error(e))?
        } else {
            response
        };
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(e))?;
        Ok((status, body.to_vec()))
    }

    fn bad_response(&self, detail: impl Into<String>) -> BlockerError {
        BlockerError::PrometheusBadResponse {
            url: self.shown_url.clone(),
            detail: detail.into(),
        }
    }

    /// Decodes Prometheus' response envelope into the samples of an instant vector.
    fn parse(&self, status: StatusCode, body: &[u8]) -> Result<Vec<Sample>, BlockerError> {
        let envelope = match serde_json::from_slice::<Envelope>(body) {
            Ok(envelope) => envelope,
            Err(e) if status.is_success() => {
                return Err(self.bad_response(format!("not a Prometheus API response: {e}")));
            }
            Err(_) => {
                let text = String::from_utf8_lossy(body);
                let mut snippet: String = text.trim().chars().take(BODY_SNIPPET).collect();
                if text.trim().chars().count() > BODY_SNIPPET {
                    snippet.push('…');
                }
                return Err(BlockerError::PrometheusStatus {
                    url: self.shown_url.clone(),
                    status: status.as_u16(),
                    body: snippet,
                });
            }
        };
        for warning in &envelope.warnings {
            tracing::warn!(url = %self.shown_url, warning = %warning, "prometheus query warning");
        }
        if envelope.status == "success" && !status.is_success() {
            return Err(
                self.bad_response(format!("HTTP {} with a \"success\" body", status.as_u16()))
            );
        }
        if envelope.status != "success" {
            return Err(BlockerError::PrometheusApi {
                url: self.shown_url.clone(),
                status: status.as_u16(),
                error_type: envelope
                    .error_type
                    .unwrap_or_else(|| format!("status {:?}", envelope.status)),
                error: envelope.error.unwrap_or_default(),
            });
        }
        let data = envelope
            .data
            .ok_or_else(|| self.bad_response("success without \"data\""))?;
        if data.result_type != "vector" {
            return Err(self.bad_response(format!(
                "result type {:?}, expected \"vector\"",
                data.result_type
            )));
        }
        let raw: Vec<RawSample> = serde_json::from_value(data.result)
            .map_err(|e| self.bad_response(format!("malformed vector: {e}")))?;
        raw.into_iter()
            .map(|s| {
                let (_, text) = s
                    .value
                    .ok_or_else(|| self.bad_response("a sample without a float value"))?;
                let value = parse_sample_value(&text)
                    .ok_or_else(|| self.bad_response(format!("sample value {text:?}")))?;
                Ok(Sample {
                    metric: s.metric,
                    value,
                })
            })
            .collect()
    }
}

/// Parses a sample value as Prometheus writes it (`"1"`, `"0.5"`, `"NaN"`, `"+Inf"`, `"-Inf"`).
fn parse_sample_value(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        other => other.parse().ok(),
    }
}

/// The response envelope of the Prometheus HTTP API.
#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<QueryData>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

/// `data` of a query response.
#[derive(Deserialize)]
struct QueryData {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

/// One element of an instant vector: `{"metric": {...}, "value": [time, "value"]}` (native
/// histogram samples carry `histogram` instead of `value`).
#[derive(Deserialize)]
struct RawSample {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    value: Option<(serde_json::Value, String)>,
}

struct Sample {
    metric: BTreeMap<String, String>,
    value: f64,
}

#[async_trait]
impl RebootBlocker for PrometheusBlocker {
    fn name(&self) -> &'static str {
        LABEL
    }

    /// The node is irrelevant: alerts block every node, as in kured.
    async fn check(&self, _node: &str) -> Result<Option<BlockReason>, BlockerError> {
        let names = self.active_alerts().await?;
        if names.is_empty() {
            Ok(None)
        } else {
            let reason = BlockReason::Alerts(names);
            tracing::info!(blocker = LABEL, reason = %reason, "reboot blocked");
            Ok(Some(reason))
        }
    }
}

#[cfg(test)]
mod tests {
    //! The HTTP corner cases a real Prometheus does not produce on demand, against a scripted
    //! local server. The alert semantics are tested against a real Prometheus in
    //! `tests/prometheus.rs`.

    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::{RawQuery, State};
    use axum::http::{HeaderMap, Method, StatusCode as AxStatus};
    use axum::response::{IntoResponse, Response};
    use axum::routing::any;
    use serde_json::{Value, json};

    use super::*;
    use crate::check_or_block;

    /// What the scripted server saw: method, path, query, content type, body.
    type Seen = Arc<Mutex<Vec<(String, String, Option<String>, Option<String>, String)>>>;

    #[derive(Clone)]
    struct Script {
        seen: Seen,
        /// Status to answer a POST with when it is not 200 (405, 501, …).
        post_status: Option<u16>,
        status: u16,
        body: String,
    }

    async fn handle(
        State(script): State<Script>,
        method: Method,
        uri: axum::http::Uri,
        RawQuery(query): RawQuery,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        script.seen.lock().unwrap().push((
            method.to_string(),
            uri.path().to_string(),
            query,
            headers
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string()),
            String::from_utf8(body.to_vec()).unwrap(),
        ));
        if method == Method::POST
            && let Some(code) = script.post_status
        {
            return (AxStatus::from_u16(code).unwrap(), "no POST here").into_response();
        }
        (
            AxStatus::from_u16(script.status).unwrap(),
            [("content-type", "application/json")],
            script.body.clone(),
        )
            .into_response()
    }

    struct Fake {
        url: String,
        seen: Seen,
        _shutdown: tokio::sync::oneshot::Sender<()>,
    }

    async fn fake(post_status: Option<u16>, status: u16, body: impl Into<String>) -> Fake {
        let seen: Seen = Arc::default();
        let script = Script {
            seen: seen.clone(),
            post_status,
            status,
            body: body.into(),
        };
        let app = Router::new().fallback(any(handle)).with_state(script);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Fake {
            url: format!("http://127.0.0.1:{}", addr.port()),
            seen,
            _shutdown: tx,
        }
    }

    fn vector(samples: &[(&[(&str, &str)], &str)]) -> String {
        let result: Vec<Value> = samples
            .iter()
            .map(|(labels, value)| {
                let metric: serde_json::Map<String, Value> = labels
                    .iter()
                    .map(|(k, v)| ((*k).to_string(), json!(v)))
                    .collect();
                json!({"metric": metric, "value": [1_700_000_000.123, value]})
            })
            .collect();
        json!({"status": "success", "data": {"resultType": "vector", "result": result}}).to_string()
    }

    fn alert(name: &'static str, state: &'static str) -> Vec<(&'static str, &'static str)> {
        vec![
            ("__name__", "ALERTS"),
            ("alertname", name),
            ("alertstate", state),
        ]
    }

    #[tokio::test]
    async fn posts_a_form_and_parses_alerts() {
        let b = alert("Beta", "firing");
        let a = alert("Alpha", "pending");
        let a2 = {
            let mut a2 = alert("Alpha", "firing");
            a2.push(("severity", "critical"));
            a2
        };
        let zero = alert("Zero", "firing");
        let nameless: Vec<(&str, &str)> = vec![("__name__", "ALERTS"), ("alertstate", "firing")];
        let body = vector(&[
            (&b, "1"),
            (&a, "1"),
            (&a2, "1"),
            (&zero, "0"),
            (&nameless, "1"),
        ]);
        let server = fake(None, 200, body).await;
        let blocker = PrometheusBlocker::new(&format!("{}/prom/", server.url)).unwrap();
        assert_eq!(
            blocker.query_url(),
            format!("{}/prom/api/v1/query", server.url)
        );
        let reason = blocker.check("node-0").await.unwrap();
        assert_eq!(
            reason,
            Some(BlockReason::Alerts(vec!["Alpha".into(), "Beta".into()]))
        );
        let seen = server.seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            vec![(
                "POST".to_string(),
                "/prom/api/v1/query".to_string(),
                None,
                Some("application/x-www-form-urlencoded".to_string()),
                "query=ALERTS".to_string(),
            )]
        );

        let firing = PrometheusBlocker::new(&server.url)
            .unwrap()
            .firing_only(true);
        assert_eq!(
            firing.active_alerts().await.unwrap(),
            vec!["Alpha".to_string(), "Beta".to_string()],
            "Alpha also fires (with another label set)"
        );
        let filtered = PrometheusBlocker::new(&server.url)
            .unwrap()
            .filter(Some(Regex::new("^Al").unwrap()));
        assert_eq!(filtered.active_alerts().await.unwrap(), vec!["Beta"]);
        let only = filtered.filter_match_only(true);
        assert_eq!(only.active_alerts().await.unwrap(), vec!["Alpha"]);
    }

    #[tokio::test]
    async fn falls_back_to_get_on_405_and_501() {
        for code in [405, 501] {
            let only = alert("OnlyViaGet", "firing");
            let server = fake(Some(code), 200, vector(&[(&only, "1")])).await;
            let blocker = PrometheusBlocker::new(&server.url).unwrap();
            assert_eq!(
                blocker.active_alerts().await.unwrap(),
                vec!["OnlyViaGet"],
                "after {code}"
            );
            let seen = server.seen.lock().unwrap().clone();
            assert_eq!(seen.len(), 2, "{seen:?}");
            assert_eq!(seen[0].0, "POST");
            assert_eq!(seen[1].0, "GET");
            assert_eq!(seen[1].1, "/api/v1/query");
            assert_eq!(seen[1].2.as_deref(), Some("query=ALERTS"));
        }
    }

    #[tokio::test]
    async fn other_refusals_do_not_fall_back() {
        let server = fake(Some(404), 200, vector(&[])).await;
        let err = PrometheusBlocker::new(&server.url)
            .unwrap()
            .active_alerts()
            .await
            .unwrap_err();
        assert!(
            matches!(&err, BlockerError::PrometheusStatus { status: 404, body, .. } if body == "no POST here"),
            "{err}"
        );
        assert_eq!(server.seen.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn api_error_envelope_blocks_with_its_message() {
        let body = json!({"status": "error", "errorType": "bad_data",
                          "error": "invalid parameter \"query\": 1:1: parse error"})
        .to_string();
        let server = fake(None, 400, body).await;
        let blocker = PrometheusBlocker::new(&server.url).unwrap();
        let err = blocker.check("n").await.unwrap_err();
        match &err {
            BlockerError::PrometheusApi {
                status,
                error_type,
                error,
                ..
            } => {
                assert_eq!(*status, 400);
                assert_eq!(error_type, "bad_data");
                assert!(error.contains("parse error"), "{error}");
            }
            other => panic!("unexpected error {other:?}"),
        }
        let reason = check_or_block(&blocker, "n").await.unwrap();
        assert_eq!(reason.label(), "prometheus_alert");
        assert!(reason.is_check_failure());
        assert!(reason.to_string().contains("bad_data"), "{reason}");
    }

    #[tokio::test]
    async fn unexpected_answers_are_errors() {
        let cases = [
            (200, "not json".to_string(), "not a Prometheus API response"),
            (
                200,
                json!({"status": "success", "data": {"resultType": "matrix", "result": []}})
                    .to_string(),
                "result type \"matrix\"",
            ),
            (
                200,
                json!({"status": "success"}).to_string(),
                "success without \"data\"",
            ),
            (
                200,
                json!({"status": "success", "data": {"resultType": "vector",
                       "result": [{"metric": {"alertname": "H"}, "histogram": [1, {}]}]}})
                .to_string(),
                "without a float value",
            ),
            (
                200,
                json!({"status": "success", "data": {"resultType": "vector",
                       "result": [{"metric": {"alertname": "H"}, "value": [1, "one"]}]}})
                .to_string(),
                "sample value \"one\"",
            ),
            (502, "<html>bad gateway</html>".to_string(), "HTTP 502"),
            (
                503,
                json!({"status": "success", "data": {"resultType": "vector", "result": []}})
                    .to_string(),
                "HTTP 503",
            ),
        ];
        for (status, body, expected) in cases {
            let server = fake(None, status, body.clone()).await;
            let err = PrometheusBlocker::new(&server.url)
                .unwrap()
                .check("n")
                .await
                .unwrap_err();
            assert!(err.to_string().contains(expected), "{status} {body}: {err}");
        }
    }

    #[tokio::test]
    async fn nan_and_inf_count_as_non_zero() {
        let nan = alert("NotANumber", "firing");
        let inf = alert("Infinite", "firing");
        let server = fake(None, 200, vector(&[(&nan, "NaN"), (&inf, "+Inf")])).await;
        let names = PrometheusBlocker::new(&server.url)
            .unwrap()
            .active_alerts()
            .await
            .unwrap();
        assert_eq!(names, vec!["Infinite", "NotANumber"]);
    }

    #[tokio::test]
    async fn empty_vector_does_not_block() {
        let server = fake(None, 200, vector(&[])).await;
        let blocker = PrometheusBlocker::new(&server.url).unwrap();
        assert_eq!(blocker.check("n").await.unwrap(), None);
        assert_eq!(check_or_block(&blocker, "n").await, None);
    }

    #[tokio::test]
    async fn slow_server_times_out_and_blocks() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Accepts connections and never answers.
        let holder = tokio::spawn(async move {
            let mut open = Vec::new();
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                open.push(socket);
            }
        });
        let blocker = PrometheusBlocker::new(&format!("http://{addr}"))
            .unwrap()
            .timeout(Duration::from_millis(300));
        let err = blocker.active_alerts().await.unwrap_err();
        match &err {
            BlockerError::PrometheusTransport { source, .. } => {
                assert!(source.is_timeout(), "{err:?}");
            }
            other => panic!("unexpected error {other:?}"),
        }
        holder.abort();
    }

    #[tokio::test]
    async fn passwords_never_show() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let blocker =
            PrometheusBlocker::new(&format!("http://kured:s3cr3t@127.0.0.1:{port}/")).unwrap();
        assert_eq!(
            blocker.query_url(),
            format!("http://kured:***@127.0.0.1:{port}/api/v1/query")
        );
        let err = blocker.active_alerts().await.unwrap_err();
        let text = format!("{err} {err:?} {blocker:?}");
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(text.contains("kured:***@"), "{text}");
    }

    #[test]
    fn bad_urls_fail_at_construction() {
        for url in [
            "",
            "prometheus:9090",
            "ftp://host/",
            "not a url",
            "mailto:x@y",
        ] {
            let err = PrometheusBlocker::new(url).unwrap_err();
            assert!(matches!(err, BlockerError::Config(_)), "{url}: {err}");
        }
        let err = PrometheusBlocker::new("ftp://u:pw@host/").unwrap_err();
        assert!(!err.to_string().contains("pw@"), "{err}");
    }

    #[test]
    fn sample_values() {
        assert_eq!(parse_sample_value("1"), Some(1.0));
        assert_eq!(parse_sample_value("0"), Some(0.0));
        assert_eq!(parse_sample_value("-Inf"), Some(f64::NEG_INFINITY));
        assert!(parse_sample_value("NaN").unwrap().is_nan());
        assert_eq!(parse_sample_value("x"), None);
    }
}
