//! etcd v3 store through etcd's JSON gateway (`/v3/kv/range`, `/v3/kv/txn`): no gRPC stack.
//!
//! Each group is one key `PREFIX/groups/GROUP` holding the [`GroupState`] JSON; its
//! `mod_revision` is the CAS version (0 for a missing key, which etcd compares as zero).

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{GroupState, LockStore, StoreError, Version, Versioned};

/// Store backed by an etcd v3 cluster (`--store etcd://HOST:PORT[,HOST:PORT…][/PREFIX]`).
#[derive(Debug, Clone)]
pub struct EtcdStore {
    endpoints: Vec<url::Url>,
    prefix: String,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct RangeResponse {
    #[serde(default)]
    kvs: Vec<KeyValue>,
}

#[derive(Deserialize)]
struct KeyValue {
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: String,
    /// proto3 JSON encodes int64 as a string.
    #[serde(default)]
    mod_revision: String,
}

#[derive(Deserialize)]
struct TxnResponse {
    /// Omitted by the gateway when false (proto3 default).
    #[serde(default)]
    succeeded: bool,
}

impl EtcdStore {
    /// A store talking to `endpoints` (tried in order) under key `prefix`.
    pub fn new(endpoints: Vec<url::Url>, prefix: impl Into<String>) -> Result<Self, StoreError> {
        if endpoints.is_empty() {
            return Err(StoreError::Unavailable("no etcd endpoints".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| StoreError::Unavailable(format!("building HTTP client: {e}")))?;
        Ok(Self {
            endpoints,
            prefix: prefix.into(),
            http,
        })
    }

    fn key(&self, group: &str) -> String {
        format!("{}/groups/{group}", self.prefix)
    }

    async fn call<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<T, StoreError> {
        let mut last = String::new();
        for endpoint in &self.endpoints {
            let url = endpoint
                .join(path)
                .map_err(|e| StoreError::Unavailable(format!("etcd URL: {e}")))?;
            match self.http.post(url).json(body).send().await {
                Ok(resp) if resp.status().is_success() => {
                    return resp.json::<T>().await.map_err(|e| {
                        StoreError::Unavailable(format!("etcd {path}: undecodable answer: {e}"))
                    });
                }
                Ok(resp) => {
                    let status = resp.status();
                    let text = resp.text().await.unwrap_or_default();
                    last = format!("{endpoint}{path}: HTTP {status}: {text}");
                }
                Err(e) => last = format!("{endpoint}{path}: {e}"),
            }
        }
        Err(StoreError::Unavailable(last))
    }
}

fn revision(kv: &KeyValue) -> Result<Version, StoreError> {
    kv.mod_revision
        .parse::<u64>()
        .map(Version)
        .map_err(|e| StoreError::Corrupt(format!("etcd mod_revision {:?}: {e}", kv.mod_revision)))
}

#[async_trait]
impl LockStore for EtcdStore {
    async fn get(&self, group: &str) -> Result<Versioned, StoreError> {
        let resp: RangeResponse = self
            .call(
                "v3/kv/range",
                &json!({ "key": B64.encode(self.key(group)) }),
            )
            .await?;
        let Some(kv) = resp.kvs.first() else {
            return Ok(Versioned::default());
        };
        let bytes = B64
            .decode(&kv.value)
            .map_err(|e| StoreError::Corrupt(format!("etcd value of {group}: {e}")))?;
        let state = if bytes.is_empty() {
            GroupState::default()
        } else {
            serde_json::from_slice(&bytes)
                .map_err(|e| StoreError::Corrupt(format!("etcd value of {group}: {e}")))?
        };
        Ok(Versioned {
            version: revision(kv)?,
            state,
        })
    }

    async fn compare_and_swap(
        &self,
        group: &str,
        expected: Version,
        new: &GroupState,
    ) -> Result<bool, StoreError> {
        let key = B64.encode(self.key(group));
        let value = serde_json::to_vec(new)
            .map_err(|e| StoreError::Corrupt(format!("encoding state: {e}")))?;
        let body = json!({
            "compare": [{
                "key": key,
                "result": "EQUAL",
                "target": "MOD",
                "mod_revision": expected.0.to_string(),
            }],
            "success": [{ "request_put": { "key": key, "value": B64.encode(value) } }],
        });
        let resp: TxnResponse = self.call("v3/kv/txn", &body).await?;
        Ok(resp.succeeded)
    }

    async fn groups(&self) -> Result<Vec<String>, StoreError> {
        let start = format!("{}/groups/", self.prefix);
        let end = format!("{}/groups0", self.prefix); // '0' is '/' + 1: the prefix range end
        let resp: RangeResponse = self
            .call(
                "v3/kv/range",
                &json!({
                    "key": B64.encode(&start),
                    "range_end": B64.encode(end),
                    "keys_only": true,
                }),
            )
            .await?;
        let mut out = Vec::new();
        for kv in resp.kvs {
            let key = B64
                .decode(&kv.key)
                .map_err(|e| StoreError::Corrupt(format!("etcd key: {e}")))?;
            let key = String::from_utf8_lossy(&key);
            if let Some(name) = key.strip_prefix(&start) {
                out.push(name.to_owned());
            }
        }
        Ok(out)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let _: RangeResponse = self
            .call(
                "v3/kv/range",
                &json!({ "key": B64.encode(format!("{}/ping", self.prefix)), "count_only": true }),
            )
            .await?;
        Ok(())
    }
}
