//! Command line, environment and configuration file → [`ServerConfig`].

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use fleetlock::config::parse_group_flag;
use fleetlock::{ConfigError, FileConfig, ServerConfig, StoreSpec, TlsFiles};

mod rollout;
use rollout::{rollout_flag, rollout_settings};

pub use daemon::LogFormat;

/// FleetLock server for Zincati (Fedora CoreOS, Flatcar): grants reboot slots per group.
///
/// Precedence: flags and environment variables, then the configuration file, then defaults.
#[derive(Debug, Parser)]
#[command(name = "fleetlock-rs", version)]
pub struct Args {
    /// TOML configuration file (see the README for its keys).
    #[arg(long, env = "FLEETLOCK_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 0.0.0.0:8080].
    #[arg(long, env = "FLEETLOCK_LISTEN")]
    pub listen: Option<String>,
    /// Lock store: `file:PATH` (embedded, default `file:fleetlock.db`), `memory` (NOT
    /// persistent: tests only), `kubernetes[:NAMESPACE]` (one Lease per group; the namespace
    /// defaults to the client's, as in the deploy base) or
    /// `etcd://HOST:PORT[,HOST:PORT…][/PREFIX]`.
    #[arg(long, env = "FLEETLOCK_STORE")]
    pub store: Option<String>,
    /// A group and its slot count, `NAME=SLOTS`; repeat for more groups. Without any group
    /// (here or in the file) the server has one group, `default`, with 1 slot.
    #[arg(long = "group", env = "FLEETLOCK_GROUPS", value_delimiter = ',')]
    pub groups: Vec<String>,
    /// Accept requests for unconfigured groups, giving them `--default-slots` slots.
    #[arg(long, env = "FLEETLOCK_AUTO_CREATE_GROUPS")]
    pub auto_create_groups: Option<bool>,
    /// Slots of auto-created groups [default: 1].
    #[arg(long, env = "FLEETLOCK_DEFAULT_SLOTS")]
    pub default_slots: Option<String>,
    /// File holding the bearer token for `POST /v1/admin/release`. The token may also come from
    /// the environment variable `FLEETLOCK_ADMIN_TOKEN`. Without a token, admin is disabled.
    #[arg(long, env = "FLEETLOCK_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// File holding a bearer token that `POST /v1/pre-reboot` and `/v1/steady-state` must
    /// present (`Authorization: Bearer …`); the token may also come from the environment
    /// variable `FLEETLOCK_PROTOCOL_TOKEN`. Zincati sends no token (nor a client
    /// certificate): use this only for other clients or behind a proxy that adds it.
    #[arg(long, env = "FLEETLOCK_PROTOCOL_TOKEN_FILE")]
    pub protocol_token_file: Option<PathBuf>,
    /// PEM certificate chain (leaf first): serve HTTPS instead of HTTP. Needs --tls-key.
    #[arg(long, env = "FLEETLOCK_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "FLEETLOCK_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificate(s): clients must present a certificate chaining to one of them, or
    /// the TLS handshake is refused (Zincati presents none: for a proxy in front of the server
    /// or other clients). Needs --tls-cert and --tls-key.
    #[arg(long, env = "FLEETLOCK_CLIENT_CA")]
    pub client_ca: Option<PathBuf>,
    /// Request body cap in bytes [default: 65536].
    #[arg(long, env = "FLEETLOCK_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<String>,
    /// Upper bound on the store work of one lock/unlock request [default: 10s].
    #[arg(long, env = "FLEETLOCK_REQUEST_TIMEOUT")]
    pub request_timeout: Option<String>,
    /// Kubernetes node handling: map ids (Zincati's app-specific machine id, node name, machine
    /// id) to Nodes; cordon and drain a node before granting its reboot, uncordon it after
    /// (only if it was not cordoned before). Credentials: kubeconfig or in-cluster.
    #[arg(long, env = "FLEETLOCK_KUBERNETES_NODES")]
    pub kubernetes_nodes: Option<bool>,
    /// With --kubernetes-nodes: also maintain the original reboot manager's
    /// `rebootmanager/status` node annotation (`Rebooting` while prepared, `Ready` after).
    #[arg(long, env = "FLEETLOCK_SEED_ANNOTATIONS")]
    pub seed_annotations: Option<bool>,
    /// With --kubernetes-nodes: keep a node's slot after its steady-state (answered at once,
    /// the node uncordoned) until it is healthy: Ready with a new boot ID, its DaemonSet pods
    /// Ready, the PodDisruptionBudgets and workloads its drain disturbed whole again, and the
    /// optional Prometheus query and pod selector below. A gate that does not pass within
    /// --health-gate-timeout is a failure [default: false].
    #[arg(long, env = "FLEETLOCK_HEALTH_GATE")]
    pub health_gate: Option<bool>,
    /// How long the health gate may take after the steady-state [default: 30m].
    #[arg(long, env = "FLEETLOCK_HEALTH_GATE_TIMEOUT")]
    pub health_gate_timeout: Option<String>,
    /// Prometheus server for --health-gate-prometheus-query (`http(s)://host:port[/prefix]`).
    #[arg(long, env = "FLEETLOCK_HEALTH_GATE_PROMETHEUS_URL")]
    pub health_gate_prometheus_url: Option<String>,
    /// PromQL query that must return no series for the gate to pass, e.g.
    /// `ALERTS{alertstate="firing",severity="critical"}`.
    #[arg(long, env = "FLEETLOCK_HEALTH_GATE_PROMETHEUS_QUERY")]
    pub health_gate_prometheus_query: Option<String>,
    /// Label selector (all namespaces) whose pods must all be Ready for the gate to pass.
    #[arg(long, env = "FLEETLOCK_HEALTH_GATE_POD_SELECTOR")]
    pub health_gate_pod_selector: Option<String>,
    /// With --kubernetes-nodes: a node not Ready with a new boot ID this long after its reboot
    /// was granted is a failure; 0 turns the check off [default: 0].
    #[arg(long, env = "FLEETLOCK_REBOOT_NOT_BACK_TIMEOUT")]
    pub reboot_not_back_timeout: Option<String>,
    /// Failed reboots (distinct machines) that halt a group's rollout: no new slot is granted
    /// (`rollout_halted`) until an operator clears it with `POST /v1/admin/clear-halt`
    /// [default: 1].
    #[arg(long, env = "FLEETLOCK_MAX_FAILED_NODES")]
    pub max_failed_nodes: Option<String>,
    /// With --kubernetes-nodes: publish events.k8s.io/v1 Events about the Nodes (lock taken,
    /// draining, rebooting, back, uncordoned, health gate passed or failed, rollout halted,
    /// lock released), reporting controller `fleetlock-rs`, namespace `default`, so
    /// `kubectl describe node` shows them [default: true].
    #[arg(long, env = "FLEETLOCK_EVENTS")]
    pub events: Option<bool>,
    /// Log format.
    #[arg(long, env = "FLEETLOCK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

fn parse_number<T: std::str::FromStr>(field: &str, text: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    text.trim()
        .parse()
        .map_err(|e| ConfigError::new(field, format!("{text:?}: {e}")))
}

fn parse_duration(field: &str, text: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(text.trim())
        .map_err(|e| ConfigError::new(field, format!("{text:?}: {e}")))
}

fn read_token(field: &str, path: &std::path::Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(field, format!("{}: {e}", path.display())))?;
    let token = text.trim().to_owned();
    if token.is_empty() {
        return Err(ConfigError::new(
            field,
            format!("{} is empty", path.display()),
        ));
    }
    Ok(token)
}

/// Tokens given directly in the environment (read by `main`, not by clap, so `--help` never
/// shows them).
#[derive(Default)]
pub struct EnvTokens {
    /// `FLEETLOCK_ADMIN_TOKEN`.
    pub admin: Option<String>,
    /// `FLEETLOCK_PROTOCOL_TOKEN`.
    pub protocol: Option<String>,
}

impl EnvTokens {
    /// Reads both variables from the process environment.
    pub fn from_env() -> Self {
        Self {
            admin: std::env::var("FLEETLOCK_ADMIN_TOKEN").ok(),
            protocol: std::env::var("FLEETLOCK_PROTOCOL_TOKEN").ok(),
        }
    }
}

/// A token from (in order) its flag's file, its environment variable, the config file's key.
fn token(
    flag: (&str, Option<&PathBuf>),
    env: (&str, Option<&String>),
    file: (&str, Option<&String>),
) -> Result<Option<String>, ConfigError> {
    if let Some(path) = flag.1 {
        return read_token(flag.0, path).map(Some);
    }
    if let Some(token) = env.1 {
        if token.trim().is_empty() {
            return Err(ConfigError::new(env.0, "must not be empty"));
        }
        return Ok(Some(token.trim().to_owned()));
    }
    file.1
        .map(|path| read_token(file.0, std::path::Path::new(path)))
        .transpose()
}

/// A TLS path from its flag or the config file's key, with the name to report it under.
fn tls_path(
    flag: (&'static str, Option<&PathBuf>),
    file: (&'static str, Option<&String>),
) -> Option<(&'static str, PathBuf)> {
    flag.1
        .map(|p| (flag.0, p.clone()))
        .or_else(|| file.1.map(|p| (file.0, PathBuf::from(p))))
}

/// `--tls-cert`/`--tls-key`/`--client-ca` (or their file keys) → [`TlsFiles`], checked by
/// loading them once, so a bad file stops the program before it serves.
fn tls_files(args: &Args, file: &FileConfig) -> Result<Option<TlsFiles>, ConfigError> {
    let cert = tls_path(
        ("--tls-cert", args.tls_cert.as_ref()),
        ("tls_cert", file.tls_cert.as_ref()),
    );
    let key = tls_path(
        ("--tls-key", args.tls_key.as_ref()),
        ("tls_key", file.tls_key.as_ref()),
    );
    let ca = tls_path(
        ("--client-ca", args.client_ca.as_ref()),
        ("client_ca", file.client_ca.as_ref()),
    );
    let (cert, key) = match (cert, key) {
        (None, None) => {
            if let Some((name, _)) = ca {
                return Err(ConfigError::new(
                    name,
                    "client certificates need TLS: give --tls-cert and --tls-key too",
                ));
            }
            return Ok(None);
        }
        (Some((name, _)), None) => {
            return Err(ConfigError::new(name, "needs --tls-key (both or neither)"));
        }
        (None, Some((name, _))) => {
            return Err(ConfigError::new(name, "needs --tls-cert (both or neither)"));
        }
        (Some(cert), Some(key)) => (cert, key),
    };
    let files = TlsFiles {
        cert: cert.1,
        key: key.1,
        client_ca: ca.as_ref().map(|c| c.1.clone()),
    };
    fleetlock::tls::server_config(&files).map_err(|e| {
        let field = match e.field.as_str() {
            "tls_cert" => cert.0,
            "tls_key" => key.0,
            "client_ca" => ca.as_ref().map_or("client_ca", |c| c.0),
            _ => "TLS",
        };
        ConfigError::new(field, e.message)
    })?;
    Ok(Some(files))
}

/// Builds the server configuration; `env` holds the tokens given in the environment.
pub fn build_config(args: &Args, env: &EnvTokens) -> Result<ServerConfig, ConfigError> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let mut config = ServerConfig::default();

    if let Some(listen) = args.listen.as_deref().or(file.listen.as_deref()) {
        let field = if args.listen.is_some() {
            "--listen"
        } else {
            "listen"
        };
        config.listen = listen
            .parse()
            .map_err(|e| ConfigError::new(field, format!("{listen:?}: {e}")))?;
    }
    if let Some(store) = args.store.as_deref().or(file.store.as_deref()) {
        let field = if args.store.is_some() {
            "--store"
        } else {
            "store"
        };
        config.store = store
            .parse::<StoreSpec>()
            .map_err(|e| ConfigError::new(field, e))?;
    }

    let mut groups: std::collections::BTreeMap<String, u32> = file
        .groups
        .iter()
        .map(|(name, g)| (name.clone(), g.slots))
        .collect();
    for flag in &args.groups {
        let (name, slots) = parse_group_flag(flag)?;
        groups.insert(name, slots);
    }
    if !groups.is_empty() {
        config.groups = groups;
    }

    if let Some(auto) = args.auto_create_groups.or(file.auto_create_groups) {
        config.auto_create_groups = auto;
    }
    if let Some(text) = &args.default_slots {
        config.default_slots = parse_number("--default-slots", text)?;
    } else if let Some(n) = file.default_slots {
        config.default_slots = n;
    }
    if let Some(text) = &args.max_body_bytes {
        config.max_body_bytes = parse_number("--max-body-bytes", text)?;
    } else if let Some(n) = file.max_body_bytes {
        config.max_body_bytes = n;
    }
    if let Some(text) = &args.request_timeout {
        config.request_timeout = parse_duration("--request-timeout", text)?;
    } else if let Some(text) = &file.request_timeout {
        config.request_timeout = parse_duration("request_timeout", text)?;
    }

    if let Some(on) = args.kubernetes_nodes.or(file.kubernetes_nodes) {
        config.kubernetes_nodes = on;
    }
    if let Some(on) = args.seed_annotations.or(file.seed_annotations) {
        config.seed_annotations = on;
    }

    rollout_settings(args, &file, &mut config.rollout)?;
    if let Some(on) = args.events.or(file.events) {
        config.events = on;
    }

    config.admin_token = token(
        ("--admin-token-file", args.admin_token_file.as_ref()),
        ("FLEETLOCK_ADMIN_TOKEN", env.admin.as_ref()),
        ("admin_token_file", file.admin_token_file.as_ref()),
    )?;
    config.protocol_token = token(
        ("--protocol-token-file", args.protocol_token_file.as_ref()),
        ("FLEETLOCK_PROTOCOL_TOKEN", env.protocol.as_ref()),
        ("protocol_token_file", file.protocol_token_file.as_ref()),
    )?;
    config.tls = tls_files(args, &file)?;

    config.validate().map_err(|e| {
        // Name the flag when the value came from one.
        let field = match e.field.as_str() {
            "default_slots" if args.default_slots.is_some() => "--default-slots".to_owned(),
            "max_body_bytes" if args.max_body_bytes.is_some() => "--max-body-bytes".to_owned(),
            "request_timeout" if args.request_timeout.is_some() => "--request-timeout".to_owned(),
            "seed_annotations" if args.seed_annotations.is_some() => {
                "--seed-annotations".to_owned()
            }
            other if rollout_flag(args, other).is_some() => {
                rollout_flag(args, other).unwrap_or_default().to_owned()
            }
            other if other.starts_with("groups.") && !args.groups.is_empty() => {
                format!("--group ({other})")
            }
            other => other.to_owned(),
        };
        ConfigError::new(field, e.message)
    })?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(argv: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("fleetlock-rs").chain(argv.iter().copied())).unwrap()
    }

    /// The help of `--store` lists every form `StoreSpec` parses (issue 17: it lacked
    /// `kubernetes[:NAMESPACE]`, the deploy base's store).
    #[test]
    fn store_help_lists_every_store() {
        use clap::CommandFactory;
        let help = Args::command().render_long_help().to_string();
        let store = help
            .split("--store <STORE>")
            .nth(1)
            .and_then(|rest| rest.split("\n      --").next())
            .expect("--store in the help");
        for form in [
            "file:PATH",
            "memory",
            "kubernetes[:NAMESPACE]",
            "etcd://HOST:PORT",
        ] {
            assert!(store.contains(form), "--store help lacks {form}: {store}");
        }
        for spec in [
            "file:x.db",
            "memory",
            "kubernetes",
            "kubernetes:ops",
            "etcd://h:2379",
        ] {
            assert!(spec.parse::<StoreSpec>().is_ok(), "{spec}");
        }
    }

    #[test]
    fn defaults() {
        let c = build_config(&args(&[]), &EnvTokens::default()).unwrap();
        assert_eq!(c, ServerConfig::default());
        assert_eq!(c.store, StoreSpec::File("fleetlock.db".into()));
        assert_eq!(c.groups.get("default"), Some(&1));
    }

    #[test]
    fn flags_override_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let token = dir.path().join("token");
        std::fs::write(&token, "tok\n").unwrap();
        std::fs::write(
            &path,
            format!(
                "listen = \"127.0.0.1:9000\"\nstore = \"memory\"\ndefault_slots = 4\nauto_create_groups = true\nadmin_token_file = {:?}\nrequest_timeout = \"3s\"\nkubernetes_nodes = true\n[groups.a]\nslots = 1\n[groups.b]\nslots = 5\n",
                token.display().to_string()
            ),
        )
        .unwrap();
        let p = path.to_str().unwrap();
        let c = build_config(
            &args(&[
                "--config",
                p,
                "--group",
                "b=2,c=3",
                "--listen",
                "127.0.0.1:0",
            ]),
            &EnvTokens::default(),
        )
        .unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:0");
        assert_eq!(c.store, StoreSpec::Memory);
        assert_eq!(c.default_slots, 4);
        assert!(c.auto_create_groups);
        assert_eq!(c.admin_token.as_deref(), Some("tok"));
        assert_eq!(c.request_timeout, Duration::from_secs(3));
        assert!(c.kubernetes_nodes);
        assert_eq!(
            c.groups.into_iter().collect::<Vec<_>>(),
            [("a".into(), 1), ("b".into(), 2), ("c".into(), 3)]
        );
    }

    #[test]
    fn errors_name_the_field() {
        let cases: [(&[&str], &str); 9] = [
            (&["--listen", "nowhere"], "--listen"),
            (&["--store", "redis://x"], "--store"),
            (&["--group", "w"], "--group"),
            (&["--group", "w=0"], "--group (groups.w.slots)"),
            (&["--group", "a b=1"], "--group (groups.a b)"),
            (&["--default-slots", "x"], "--default-slots"),
            (&["--default-slots", "0"], "--default-slots"),
            (&["--request-timeout", "soon"], "--request-timeout"),
            (&["--seed-annotations", "true"], "--seed-annotations"),
        ];
        for (argv, field) in cases {
            let e = build_config(&args(argv), &EnvTokens::default()).unwrap_err();
            assert_eq!(e.field, field, "{argv:?}: {e}");
        }
        let e = build_config(
            &args(&["--config", "/nonexistent/x.toml"]),
            &EnvTokens::default(),
        )
        .unwrap_err();
        assert_eq!(e.field, "--config");
        let env = EnvTokens {
            admin: Some("  ".into()),
            protocol: None,
        };
        let e = build_config(&args(&[]), &env).unwrap_err();
        assert_eq!(e.field, "FLEETLOCK_ADMIN_TOKEN");
        let env = EnvTokens {
            admin: None,
            protocol: Some(String::new()),
        };
        let e = build_config(&args(&[]), &env).unwrap_err();
        assert_eq!(e.field, "FLEETLOCK_PROTOCOL_TOKEN");
        let e =
            build_config(&args(&["--protocol-token-file", "/nonexistent/t"]), &env).unwrap_err();
        assert_eq!(e.field, "--protocol-token-file");
        let c = build_config(
            &args(&["--kubernetes-nodes", "true", "--seed-annotations", "true"]),
            &EnvTokens::default(),
        )
        .unwrap();
        assert!(c.kubernetes_nodes && c.seed_annotations);
    }

    /// A self-signed certificate for 127.0.0.1 and its key, as PEM.
    fn self_signed() -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
    }

    #[test]
    fn tls_and_tokens_from_the_file_flags_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed();
        let (other_cert, _) = self_signed();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p.display().to_string()
        };
        let (cert, key, other) = (
            write("tls.crt", &cert),
            write("tls.key", &key),
            write("other.crt", &other_cert),
        );
        let token = write("protocol-token", "  from-file\n");
        let config = write(
            "c.toml",
            &format!(
                "tls_cert = {cert:?}\ntls_key = {key:?}\nclient_ca = {cert:?}\nprotocol_token_file = {token:?}\n"
            ),
        );
        let none = EnvTokens::default();
        let c = build_config(&args(&["--config", &config]), &none).unwrap();
        let tls = c.tls.unwrap();
        assert_eq!(tls.cert.display().to_string(), cert);
        assert_eq!(
            tls.client_ca.map(|p| p.display().to_string()),
            Some(cert.clone())
        );
        assert_eq!(c.protocol_token.as_deref(), Some("from-file"));

        // The environment token wins over the file's token file; flags win over file keys.
        let env = EnvTokens {
            admin: None,
            protocol: Some("from-env".into()),
        };
        let c = build_config(&args(&["--config", &config]), &env).unwrap();
        assert_eq!(c.protocol_token.as_deref(), Some("from-env"));
        let e =
            build_config(&args(&["--config", &config, "--tls-cert", &other]), &none).unwrap_err();
        // other.crt does not fit tls.key: reported on the key, which came from the file.
        assert_eq!(e.field, "tls_key", "{e}");
        let e = build_config(
            &args(&["--config", &config, "--client-ca", "/nonexistent/ca"]),
            &none,
        )
        .unwrap_err();
        assert_eq!(e.field, "--client-ca");

        // A bad file key is named as the key.
        let bad = write(
            "bad.toml",
            "tls_cert = \"/nonexistent/c\"\ntls_key = \"/nonexistent/k\"\n",
        );
        let e = build_config(&args(&["--config", &bad]), &none).unwrap_err();
        assert_eq!(e.field, "tls_cert");
        let only = write("only.toml", &format!("tls_key = {key:?}\n"));
        let e = build_config(&args(&["--config", &only]), &none).unwrap_err();
        assert_eq!(e.field, "tls_key");
        assert!(e.message.contains("--tls-cert"), "{e}");
    }
}
