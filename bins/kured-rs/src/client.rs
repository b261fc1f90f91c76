//! The one Kubernetes client of kured-rs: the configuration inferred as kube does it (a
//! kubeconfig, else the pod's service account), with a one-line error naming what was tried
//! when neither works, and kube's hidden request retries off.

use anyhow::Context as _;

/// The client every part of the agent shares.
pub async fn client() -> anyhow::Result<kube::Client> {
    let mut kube_config = kube_config().await?;
    // kube's default client retries 429/503/504 inside a request for up to minutes, invisibly:
    // a PDB refusal of an eviction would never reach the drain engine, and a lock request
    // could hang that long. Every part retries by itself (lock: bounded rounds; drain: its
    // own backoff and PDB watch; the loop: every period), so one client with it off serves all.
    kube_config.default_retry = false;
    kube::Client::try_from(kube_config).context("cannot create the Kubernetes client")
}

/// The in-cluster service account's files, as kube reads them.
const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The variables that point a pod at its API server.
const IN_CLUSTER_VARIABLES: [&str; 2] = ["KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"];

/// kube's `Config::infer` (a kubeconfig from `KUBECONFIG` or `~/.kube/config`, else the pod's
/// service account), except that when neither works the error is one line naming what was
/// tried and why each failed (kube's own error repeats the kubeconfig's reason three times).
async fn kube_config() -> anyhow::Result<kube::Config> {
    let options = kube::config::KubeConfigOptions::default();
    let kubeconfig = match kube::Config::from_kubeconfig(&options).await {
        Ok(mut config) => {
            config.apply_debug_overrides();
            return Ok(config);
        }
        Err(e) => e,
    };
    let in_cluster = match kube::Config::incluster() {
        Ok(mut config) => {
            config.apply_debug_overrides();
            return Ok(config);
        }
        Err(e) => e,
    };
    anyhow::bail!(
        "cannot load the Kubernetes configuration: tried a kubeconfig file ({}) and the in-cluster service account ({})",
        kubeconfig_failure(&kubeconfig),
        in_cluster_failure(&in_cluster)
    )
}

/// Where the kubeconfig was looked for and why it could not be used.
fn kubeconfig_failure(error: &kube::config::KubeconfigError) -> String {
    use kube::config::KubeconfigError;
    let source = match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        Some(value) => format!("KUBECONFIG={}", value.to_string_lossy()),
        None => "KUBECONFIG is not set, so ~/.kube/config".to_owned(),
    };
    match error {
        KubeconfigError::ReadConfig(io, path) => {
            format!("{source}: cannot read {}: {io}", path.display())
        }
        KubeconfigError::FindPath => format!("{source}: there is no home directory"),
        other => format!("{source}: {}", first_line(&other.to_string())),
    }
}

/// The first line of a message: a YAML error goes on with a multi-line excerpt of the file.
fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or_default()
}

/// Why the pod's service account could not be used.
fn in_cluster_failure(error: &kube::config::InClusterError) -> String {
    use kube::config::InClusterError;
    let unset: Vec<&str> = IN_CLUSTER_VARIABLES
        .into_iter()
        .filter(|name| std::env::var_os(name).is_none())
        .collect();
    match error {
        InClusterError::ReadEnvironmentVariable(_) if !unset.is_empty() => {
            let verb = if unset.len() == 1 { "is" } else { "are" };
            format!("{} {verb} not set", unset.join(" and "))
        }
        InClusterError::ReadDefaultNamespace(io) => {
            format!("cannot read {SERVICE_ACCOUNT_DIR}/namespace: {io}")
        }
        InClusterError::ReadCertificateBundle(io) => {
            format!("cannot read {SERVICE_ACCOUNT_DIR}/ca.crt: {io}")
        }
        other => {
            let values: Vec<String> = IN_CLUSTER_VARIABLES
                .into_iter()
                .map(|name| {
                    let value = std::env::var_os(name).unwrap_or_default();
                    format!("{name}={}", value.to_string_lossy())
                })
                .collect();
            format!("{}: {}", values.join(" "), first_line(&other.to_string()))
        }
    }
}
