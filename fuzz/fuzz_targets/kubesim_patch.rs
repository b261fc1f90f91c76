//! kubesim patch functions on arbitrary JSON: `merge_patch`, `strategic_merge_patch` (for
//! Nodes, Pods and DaemonSets, whose schemas have merge-keyed lists and taint validation) and
//! `json_patch`.
//!
//! Input: two JSON documents separated by the first `\n` (target, patch). Properties: no panic;
//! `json_patch` is atomic (a failing patch leaves the target unchanged); a merge patch applied
//! twice gives the same result as once (RFC 7386 patches are idempotent).
#![no_main]

use kubesim::patch::{json_patch, merge_patch, strategic_merge_patch};
use kubesim::resources::well_known::{DAEMONSETS, NODES, PODS};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (a, b) = text.split_once('\n').unwrap_or((text, "null"));
    let Ok(target) = serde_json::from_str::<Value>(a) else {
        return;
    };
    let Ok(patch) = serde_json::from_str::<Value>(b) else {
        return;
    };

    let mut once = target.clone();
    merge_patch(&mut once, &patch);
    let mut twice = once.clone();
    merge_patch(&mut twice, &patch);
    assert_eq!(once, twice, "merge patch is not idempotent");

    for rt in [NODES, PODS, DAEMONSETS] {
        let mut t = target.clone();
        if strategic_merge_patch(rt, &mut t, &patch).is_err() {
            assert_eq!(
                t, target,
                "a failed strategic merge patch changed the target"
            );
        }
    }

    let mut t = target.clone();
    if json_patch(&mut t, &patch).is_err() {
        assert_eq!(t, target, "a failed JSON patch changed the target");
    }
});
