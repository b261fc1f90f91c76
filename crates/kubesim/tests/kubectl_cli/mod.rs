//! The real `kubectl` (from the PATH; `.ci/run` installs Debian's `kubernetes-client`) run
//! against a kubesim cluster with a generated kubeconfig, shared by the kubectl test files.
//!
//! Each [`Kubectl`] has its own `HOME` and `KUBECACHEDIR` in a temporary directory, so kubectl's
//! discovery cache never leaks between tests or from the developer's machine.

use std::path::PathBuf;
use std::process::Output;

use kubesim::cluster::RunningCluster;

/// kubectl configured for one cluster.
pub struct Kubectl {
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Kubectl {
    /// kubectl for `cluster` (a kubeconfig and a cache directory of its own).
    pub fn new(cluster: &RunningCluster) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig.json");
        cluster.kubeconfig(&kubeconfig).unwrap();
        Self { dir, kubeconfig }
    }

    /// kubectl with an existing kubeconfig; `dir` is its `HOME` (and is removed on drop).
    #[allow(dead_code)] // used by one of the test crates that include this module
    pub fn with_kubeconfig(dir: tempfile::TempDir, kubeconfig: PathBuf) -> Self {
        Self { dir, kubeconfig }
    }

    /// Runs kubectl with `args`.
    pub async fn run(&self, args: &[&str]) -> Output {
        tokio::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .env_remove("KUBECONFIG")
            .env("HOME", self.dir.path())
            .env("KUBECACHEDIR", self.dir.path().join("cache"))
            .kill_on_drop(true)
            .output()
            .await
            .expect("kubectl must be on the PATH (.ci/run installs Debian's kubernetes-client)")
    }

    /// Runs kubectl and fails the test unless it exits 0; returns stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.status.success(),
            "kubectl {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}
