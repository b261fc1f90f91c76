//! Server configuration: what the binary builds from flags, environment and a TOML file.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::protocol::is_valid_group;
use crate::rollout_config::RolloutConfig;
use crate::store::StoreSpec;

/// Default request body cap (64 KiB); larger bodies get 413.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;
/// Default listen address.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8080";

/// Everything the server needs.
///
/// Its `Debug` output redacts the tokens, so the configuration can be logged.
#[derive(Clone, PartialEq, Eq)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "independent switches, each one flag"
)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Lock store.
    pub store: StoreSpec,
    /// Configured groups and their slot counts (these win over anything stored).
    pub groups: BTreeMap<String, u32>,
    /// Whether requests for an unconfigured group create it with `default_slots`.
    pub auto_create_groups: bool,
    /// Slots of auto-created groups.
    pub default_slots: u32,
    /// Bearer token for `/v1/admin/*`; the admin endpoints are disabled without one.
    pub admin_token: Option<String>,
    /// Bearer token required on `/v1/pre-reboot` and `/v1/steady-state` when set. Zincati
    /// sends no token: this is for other clients or for a proxy in front of the server (with
    /// Zincati itself, use TLS client certificates at the proxy or [`TlsFiles::client_ca`]).
    pub protocol_token: Option<String>,
    /// Serve HTTPS with these PEM files instead of plain HTTP.
    pub tls: Option<TlsFiles>,
    /// Request body cap in bytes.
    pub max_body_bytes: usize,
    /// Upper bound on the time a lock/unlock request spends on the store.
    pub request_timeout: Duration,
    /// Kubernetes node handling: map ids to Nodes, cordon + drain before granting, uncordon
    /// after (kubeconfig or in-cluster credentials are inferred as kubectl does).
    pub kubernetes_nodes: bool,
    /// With `kubernetes_nodes`: also maintain the original reboot manager's
    /// `rebootmanager/status` node annotation (`Rebooting` / `Ready`).
    pub seed_annotations: bool,
    /// With `kubernetes_nodes`: the post-reboot health gate and stop-the-line.
    pub rollout: RolloutConfig,
    /// With `kubernetes_nodes`: publish events.k8s.io/v1 Events about the Nodes (reporting
    /// controller `fleetlock-rs`, namespace `default`). Default on; without Kubernetes mode
    /// there is no Node to report about and it is ignored.
    pub events: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            store: StoreSpec::File("fleetlock.db".into()),
            groups: BTreeMap::from([("default".to_owned(), 1)]),
            auto_create_groups: false,
            default_slots: 1,
            admin_token: None,
            protocol_token: None,
            tls: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            request_timeout: Duration::from_secs(10),
            kubernetes_nodes: false,
            seed_annotations: false,
            rollout: RolloutConfig::default(),
            events: true,
        }
    }
}

fn redacted(token: Option<&String>) -> Option<&'static str> {
    token.map(|_| "<redacted>")
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("store", &self.store)
            .field("groups", &self.groups)
            .field("auto_create_groups", &self.auto_create_groups)
            .field("default_slots", &self.default_slots)
            .field("admin_token", &redacted(self.admin_token.as_ref()))
            .field("protocol_token", &redacted(self.protocol_token.as_ref()))
            .field("tls", &self.tls)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("request_timeout", &self.request_timeout)
            .field("kubernetes_nodes", &self.kubernetes_nodes)
            .field("seed_annotations", &self.seed_annotations)
            .field("rollout", &self.rollout)
            .field("events", &self.events)
            .finish()
    }
}

/// PEM files of the HTTPS listener (`--tls-cert`, `--tls-key`, `--client-ca`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key of the leaf certificate (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// When set, clients must present a certificate chaining to one of these CA
    /// certificates; connections without one are refused during the TLS handshake.
    pub client_ca: Option<PathBuf>,
}

/// A configuration error naming the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {message}")]
pub struct ConfigError {
    /// The field (flag or TOML key), e.g. `groups.workers.slots`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl ServerConfig {
    /// Slots for `group`: configured count, else `default_slots` if auto-creation is on.
    pub fn slots_for(&self, group: &str) -> Option<u32> {
        self.groups
            .get(group)
            .copied()
            .or(self.auto_create_groups.then_some(self.default_slots))
    }

    /// Checks cross-field rules.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, slots) in &self.groups {
            if !is_valid_group(name) {
                return Err(ConfigError::new(
                    format!("groups.{name}"),
                    "group names must match ^[a-zA-Z0-9.-]+$",
                ));
            }
            if *slots == 0 {
                return Err(ConfigError::new(
                    format!("groups.{name}.slots"),
                    "must be at least 1",
                ));
            }
        }
        if self.default_slots == 0 {
            return Err(ConfigError::new("default_slots", "must be at least 1"));
        }
        if self.seed_annotations && !self.kubernetes_nodes {
            return Err(ConfigError::new(
                "seed_annotations",
                "needs kubernetes_nodes (the annotation is set on Nodes)",
            ));
        }
        self.rollout.validate(self.kubernetes_nodes)?;
        if self.max_body_bytes == 0 {
            return Err(ConfigError::new("max_body_bytes", "must be at least 1"));
        }
        if self.request_timeout.is_zero() {
            return Err(ConfigError::new("request_timeout", "must be positive"));
        }
        if self.admin_token.as_deref().is_some_and(str::is_empty) {
            return Err(ConfigError::new("admin_token", "must not be empty"));
        }
        if self.protocol_token.as_deref().is_some_and(str::is_empty) {
            return Err(ConfigError::new("protocol_token", "must not be empty"));
        }
        #[cfg(not(feature = "kubernetes"))]
        if self.kubernetes_nodes {
            return Err(ConfigError::new(
                "kubernetes_nodes",
                "this build of fleetlock has no Kubernetes support (cargo feature `kubernetes`)",
            ));
        }
        let missing = match self.store {
            StoreSpec::Etcd { .. } if cfg!(not(feature = "etcd")) => Some("etcd"),
            StoreSpec::Kubernetes { .. } if cfg!(not(feature = "kubernetes")) => Some("kubernetes"),
            _ => None,
        };
        if let Some(feature) = missing {
            return Err(ConfigError::new(
                "store",
                format!(
                    "this build of fleetlock has no {feature} store (cargo feature `{feature}`)"
                ),
            ));
        }
        Ok(())
    }
}

/// The TOML configuration file. Every key is optional; flags override it.
///
/// ```toml
/// listen = "0.0.0.0:8080"
/// store = "file:/var/lib/fleetlock/fleetlock.db"
/// auto_create_groups = false
/// default_slots = 1
/// admin_token_file = "/etc/fleetlock/admin-token"
/// protocol_token_file = "/etc/fleetlock/protocol-token"
/// tls_cert = "/etc/fleetlock/tls/tls.crt"
/// tls_key = "/etc/fleetlock/tls/tls.key"
/// client_ca = "/etc/fleetlock/tls/ca.crt"
/// max_body_bytes = 65536
/// request_timeout = "10s"
/// kubernetes_nodes = false
/// seed_annotations = false
/// health_gate = false
/// health_gate_timeout = "30m"
/// health_gate_prometheus_url = "http://prometheus.monitoring:9090"
/// health_gate_prometheus_query = 'ALERTS{alertstate="firing",severity="critical"}'
/// health_gate_pod_selector = "tier=critical"
/// reboot_not_back_timeout = "0s"
/// max_failed_nodes = 1
/// events = true
///
/// [groups.default]
/// slots = 1
/// [groups.workers]
/// slots = 2
/// ```
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// See [`ServerConfig::listen`].
    pub listen: Option<String>,
    /// See [`ServerConfig::store`].
    pub store: Option<String>,
    /// See [`ServerConfig::auto_create_groups`].
    pub auto_create_groups: Option<bool>,
    /// See [`ServerConfig::default_slots`].
    pub default_slots: Option<u32>,
    /// File holding the admin bearer token.
    pub admin_token_file: Option<String>,
    /// File holding the bearer token of the lock endpoints.
    pub protocol_token_file: Option<String>,
    /// PEM certificate chain of the HTTPS listener (with `tls_key`).
    pub tls_cert: Option<String>,
    /// PEM private key of the HTTPS listener (with `tls_cert`).
    pub tls_key: Option<String>,
    /// PEM CA certificates that client certificates must chain to.
    pub client_ca: Option<String>,
    /// See [`ServerConfig::max_body_bytes`].
    pub max_body_bytes: Option<usize>,
    /// See [`ServerConfig::request_timeout`], as a humantime string (`10s`).
    pub request_timeout: Option<String>,
    /// See [`ServerConfig::kubernetes_nodes`].
    pub kubernetes_nodes: Option<bool>,
    /// See [`ServerConfig::seed_annotations`].
    pub seed_annotations: Option<bool>,
    /// See [`RolloutConfig::health_gate`].
    pub health_gate: Option<bool>,
    /// See [`RolloutConfig::health_gate_timeout`], as a humantime string (`30m`).
    pub health_gate_timeout: Option<String>,
    /// See [`RolloutConfig::health_gate_prometheus_url`].
    pub health_gate_prometheus_url: Option<String>,
    /// See [`RolloutConfig::health_gate_prometheus_query`].
    pub health_gate_prometheus_query: Option<String>,
    /// See [`RolloutConfig::health_gate_pod_selector`].
    pub health_gate_pod_selector: Option<String>,
    /// See [`RolloutConfig::reboot_not_back_timeout`], as a humantime string (`0s` = off).
    pub reboot_not_back_timeout: Option<String>,
    /// See [`RolloutConfig::max_failed_nodes`].
    pub max_failed_nodes: Option<u32>,
    /// See [`ServerConfig::events`].
    pub events: Option<bool>,
    /// Groups.
    #[serde(default)]
    pub groups: BTreeMap<String, GroupConfig>,
}

/// One `[groups.NAME]` table.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// How many members may reboot at once.
    pub slots: u32,
}

impl FileConfig {
    /// Parses TOML text; errors name the offending key.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| {
            let msg = e.message().to_owned();
            ConfigError::new(
                "config file",
                match e.span() {
                    Some(span) => format!("{msg} (at byte {})", span.start),
                    None => msg,
                },
            )
        })
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new("--config", format!("{}: {e}", path.display())))?;
        Self::parse(&text)
            .map_err(|e| ConfigError::new(e.field, format!("{}: {}", path.display(), e.message)))
    }
}

/// Parses `NAME=SLOTS` (the `--group` flag).
pub fn parse_group_flag(s: &str) -> Result<(String, u32), ConfigError> {
    let (name, slots) = s
        .split_once('=')
        .ok_or_else(|| ConfigError::new("--group", format!("{s:?} is not NAME=SLOTS")))?;
    let slots: u32 = slots
        .parse()
        .map_err(|e| ConfigError::new("--group", format!("{s:?}: slots: {e}")))?;
    Ok((name.to_owned(), slots))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_and_validation() {
        let f = FileConfig::parse(
            "store = \"memory\"\nrequest_timeout = \"3s\"\n[groups.default]\nslots = 1\n[groups.w-2]\nslots = 2\n",
        )
        .unwrap();
        assert_eq!(f.groups["w-2"].slots, 2);
        assert_eq!(f.request_timeout.as_deref(), Some("3s"));
        let e = FileConfig::parse("[groups.x]\nslot = 1\n").unwrap_err();
        assert!(e.message.contains("slot"), "{e}");
        assert!(FileConfig::parse("bogus = 1\n").is_err());

        let mut c = ServerConfig::default();
        c.validate().unwrap();
        c.groups.insert("w".into(), 0);
        assert_eq!(c.validate().unwrap_err().field, "groups.w.slots");
        c.groups.remove("w");
        c.groups.insert("a b".into(), 1);
        assert_eq!(c.validate().unwrap_err().field, "groups.a b");
    }

    #[test]
    fn slots_for() {
        let mut c = ServerConfig::default();
        assert_eq!(c.slots_for("default"), Some(1));
        assert_eq!(c.slots_for("other"), None);
        c.auto_create_groups = true;
        c.default_slots = 3;
        assert_eq!(c.slots_for("other"), Some(3));
        assert_eq!(c.slots_for("default"), Some(1));
        assert_eq!(parse_group_flag("w=2").unwrap(), ("w".into(), 2));
        assert!(parse_group_flag("w").is_err());
        assert!(parse_group_flag("w=x").is_err());
    }
}
