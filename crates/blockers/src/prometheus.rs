//! [`PrometheusBlocker`]: blocks while Prometheus has active alerts, with kured's semantics;
//! [`PrometheusQuery`]: the instant-query client under it, for any `PromQL` expression.

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
    alerts: PrometheusQuery,
    filter: Option<Regex>,
    filter_match_only: bool,
    firing_only: bool,
}

impl std::fmt::Debug for PrometheusBlocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The query URL may carry a password: show the redacted form only.
        f.debug_struct("PrometheusBlocker")
            .field("query_url", &self.alerts.shown_url)
            .field("timeout", &self.alerts.timeout)
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
        Ok(Self::from_query(PrometheusQuery::new(url, QUERY)?))
    }

    /// Like [`Self::new`], with a caller-built HTTP client (custom roots, proxies, headers).
    pub fn with_client(url: &str, client: reqwest::Client) -> Result<Self, BlockerError> {
        Ok(Self::from_query(PrometheusQuery::with_client(
            url, QUERY, client,
        )?))
    }

    fn from_query(alerts: PrometheusQuery) -> Self {
        Self {
            alerts,
            filter: None,
            filter_match_only: false,
            firing_only: false,
        }
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
        self.alerts = self.alerts.timeout(timeout);
        self
    }

    /// The query endpoint (`…/api/v1/query`), password redacted.
    pub fn query_url(&self) -> &str {
        self.alerts.query_url()
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
        let samples = self.alerts.samples().await?;
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
}

/// One series of an instant-vector answer: its labels and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct QuerySample {
    /// The series' labels (`__name__` included when the query keeps it).
    pub metric: BTreeMap<String, String>,
    /// The sample value (`NaN` and the infinities as Prometheus writes them).
    pub value: f64,
}

/// One instant `PromQL` query against one Prometheus server: the transport of
/// [`PrometheusBlocker`] (which runs `ALERTS` through it), usable for any query — e.g. a
/// post-reboot health check whose query must return no series at all.
///
/// Each run is a form `POST` to `<url>/api/v1/query`, repeated as a `GET` on 405/501, without
/// a `time` (Prometheus evaluates at its own "now"). Any failure — unreachable, timeout, error
/// status, an answer that is not an instant vector — is an error. Credentials in the URL are
/// sent as basic authentication and never appear in errors, logs or `Debug`.
#[derive(Clone)]
pub struct PrometheusQuery {
    query: String,
    query_url: Url,
    shown_url: String,
    client: reqwest::Client,
    timeout: Duration,
}

impl std::fmt::Debug for PrometheusQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusQuery")
            .field("query", &self.query)
            .field("query_url", &self.shown_url)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl PrometheusQuery {
    /// `query` against the Prometheus server at `url` (`http://prometheus:9090`, or with a
    /// path prefix), with a [`DEFAULT_TIMEOUT`] per request. An empty query or a URL that is
    /// not `http(s)://` is a [`BlockerError::Config`].
    ///
    /// Installs rustls' `ring` crypto provider as the process default if none is installed.
    pub fn new(url: &str, query: &str) -> Result<Self, BlockerError> {
        ensure_crypto_provider();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| BlockerError::Config(format!("building the HTTP client: {e}")))?;
        Self::with_client(url, query, client)
    }

    /// Like [`Self::new`], with a caller-built HTTP client (custom roots, proxies, headers).
    pub fn with_client(
        url: &str,
        query: &str,
        client: reqwest::Client,
    ) -> Result<Self, BlockerError> {
        if query.trim().is_empty() {
            return Err(BlockerError::Config("prometheus query is empty".into()));
        }
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
            query: query.to_string(),
            shown_url: redact(&query_url),
            query_url,
            client,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Per-request timeout (default [`DEFAULT_TIMEOUT`]); a timeout is an error.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The query endpoint (`…/api/v1/query`), password redacted.
    pub fn query_url(&self) -> &str {
        &self.shown_url
    }

    /// The `PromQL` expression.
    pub fn query(&self) -> &str {
        &self.query
    }

    /// Runs the query and returns every series of the instant vector, whatever its value
    /// (`up == 0` answers series whose value is 0): an empty result is an empty `Vec`.
    pub async fn samples(&self) -> Result<Vec<QuerySample>, BlockerError> {
        let (status, body) = self.run().await?;
        self.parse(status, &body)
    }

    fn transport_error(&self, e: reqwest::Error) -> BlockerError {
        BlockerError::PrometheusTransport {
            url: self.shown_url.clone(),
            source: e.without_url(),
        }
    }

    /// Runs the query: `POST` form, then `GET` on 405/501. Returns the final status and body.
    async fn run(&self) -> Result<(StatusCode, Vec<u8>), BlockerError> {
        let form: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("query", &self.query)
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
            get_url.query_pairs_mut().append_pair("query", &self.query);
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
    fn parse(&self, status: StatusCode, body: &[u8]) -> Result<Vec<QuerySample>, BlockerError> {
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
                Ok(QuerySample {
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
mod tests;
