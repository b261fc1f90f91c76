//! Label and selector flags: `drain::parse_labels` (`--pre/post-reboot-node-labels`),
//! kubesim's `LabelSelector::parse` and `FieldSelector::parse` (what `--blocking-pod-selector`
//! and `--drain-pod-selector` end up as on the API server).
//!
//! Properties: no panic; `parse_labels` keeps exactly the arguments with an `=` and a
//! non-empty key; a parsed selector can be evaluated against an object without panicking.
#![no_main]

use kubesim::resources::well_known::{DAEMONSETS, NODES, PODS};
use kubesim::selector::{FieldSelector, LabelSelector};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let args: Vec<String> = text.split(',').map(str::to_owned).collect();
    match drain::parse_labels(&args) {
        Ok(map) => {
            for arg in &args {
                let (key, _) = arg.split_once('=').expect("accepted args have '='");
                assert!(!key.is_empty() && map.contains_key(key));
            }
        }
        Err(drain::LabelParseError::MissingEquals(arg)) => {
            assert!(args.contains(&arg) && !arg.contains('='));
        }
        Err(drain::LabelParseError::EmptyKey(arg)) => {
            assert!(args.contains(&arg) && arg.starts_with('='));
        }
    }
    let pod = json!({
        "metadata": {"name": "p", "namespace": "default", "labels": {"app": "x", "a": "b"}},
        "spec": {"nodeName": "n1"},
        "status": {"phase": "Running"},
    });
    if let Ok(sel) = LabelSelector::parse(text) {
        let _ = sel.matches(&pod);
        let _ = sel.is_empty();
    }
    for rt in [PODS, NODES, DAEMONSETS] {
        if let Ok(sel) = FieldSelector::parse(rt, text) {
            let _ = sel.matches(&pod);
            for term in sel.terms() {
                let _ = sel.exact_match(&format!("{term:?}"));
            }
        }
    }
});
