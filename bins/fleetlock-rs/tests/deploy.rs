//! The kustomize base and its TLS component render with the real `kubectl kustomize`, and
//! every `FLEETLOCK_*` variable they set is one the binary reads (its `--help` lists them).

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_fleetlock-rs");

fn kubectl_available() -> bool {
    let ok = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok || std::env::var_os("CI").is_none(),
        "kubectl is required in CI (apt-get install -y kubernetes-client)"
    );
    ok
}

fn render(dir: &Path) -> String {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `../..` steps from `from` to the filesystem root, then `to` (kustomize wants relative
/// paths).
fn relative(from: &Path, to: &Path) -> String {
    let ups = from.components().count() - 1;
    format!(
        "{}{}",
        "../".repeat(ups),
        to.strip_prefix("/").unwrap().display()
    )
}

#[test]
fn base_and_tls_component_render_and_use_known_variables() {
    if !kubectl_available() {
        eprintln!("SKIPPED: no kubectl");
        return;
    }
    let base = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/fleetlock-rs")
        .canonicalize()
        .unwrap();
    let plain = render(&base);
    assert!(plain.contains("port: 80"), "{plain}");
    assert!(!plain.contains("FLEETLOCK_TLS_CERT"));

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let rel = relative(&root, &base);
    std::fs::write(
        root.join("kustomization.yaml"),
        format!("resources:\n  - {rel}\ncomponents:\n  - {rel}/tls\n"),
    )
    .unwrap();
    let tls = render(&root);
    for expected in [
        "name: FLEETLOCK_TLS_CERT",
        "value: /etc/fleetlock-tls/tls.crt",
        "name: FLEETLOCK_TLS_KEY",
        "value: /etc/fleetlock-tls/tls.key",
        "mountPath: /etc/fleetlock-tls",
        "secretName: fleetlock-tls",
        "scheme: HTTPS",
        "port: 443",
        "name: https",
    ] {
        assert!(tls.contains(expected), "{expected:?} missing:\n{tls}");
    }
    assert!(!tls.contains("port: 80\n"), "{tls}");

    // Every FLEETLOCK_* variable the manifests set (or suggest in comments) is read by the
    // binary: listed in --help, or one of the two token variables read directly.
    let help = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let component =
        std::fs::read_to_string(base.join("tls/deployment-tls.yaml")).unwrap() + &plain + &tls;
    let mut seen = 0;
    for word in component.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if let Some(name) = word.strip_prefix("FLEETLOCK_") {
            seen += 1;
            let var = format!("FLEETLOCK_{name}");
            assert!(
                help.contains(&var)
                    || var == "FLEETLOCK_ADMIN_TOKEN"
                    || var == "FLEETLOCK_PROTOCOL_TOKEN",
                "{var} is not read by fleetlock-rs"
            );
        }
    }
    assert!(seen >= 4, "{seen}");
    assert!(help.contains("FLEETLOCK_CLIENT_CA"), "{help}");
}
