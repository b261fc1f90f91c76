//! The `pods/eviction` subresource: `PodDisruptionBudget` checks, then a pod delete.
//!
//! Follows kube-apiserver's `pkg/registry/core/pod/storage/eviction.go` (v1.36) and the
//! recorded fixtures:
//!
//! 1. The body is a `policy/v1` or `policy/v1beta1` `Eviction`. Unknown fields are dropped with
//!    a `Warning: 299 - "unknown field \"X\""` (default `fieldValidation=Warn`) or rejected with
//!    400 under `fieldValidation=Strict`. A `metadata.name` different from the URL → 400.
//! 2. The pod must exist (404). Pods that are Pending, Succeeded, Failed or already terminating
//!    are deleted without looking at PDBs.
//! 3. Every PDB in the namespace whose `spec.selector` matches the pod's labels applies (an
//!    empty or missing selector matches nothing here, as in the real handler). Two or more →
//!    500. None → delete.
//! 4. One PDB: a pod that is not Ready is deleted without using up the budget when the PDB's
//!    `spec.unhealthyPodEvictionPolicy` is `AlwaysAllow`, or when
//!    `currentHealthy >= desiredHealthy > 0`. Otherwise, atomically in one store update of the
//!    PDB: `status.observedGeneration < metadata.generation` → 429 "still being processed"
//!    (Retry-After 10); `disruptionsAllowed < 0` or an oversized `disruptedPods` → 403;
//!    `disruptionsAllowed == 0` → 429 (cause message chosen as the real server does); else
//!    `disruptionsAllowed` is decremented (the `DisruptionAllowed` condition turns False /
//!    `InsufficientPods` when it reaches 0) and the pod is recorded in `status.disruptedPods`.
//! 5. The pod gains the `DisruptionTarget` condition (status `True`, reason
//!    `EvictionByEvictionAPI`; one status update, `disruption_target`) and is then deleted with
//!    the Eviction's `deleteOptions` through [`crate::deletion::delete_object`]. With `deleteOptions.dryRun` (e.g. `["All"]`) every
//!    check runs but nothing is written (the `?dryRun=` query parameter is the server's to map).
//!
//! The PDB status itself (`currentHealthy`, `desiredHealthy`, `expectedPods`,
//! `disruptionsAllowed`, conditions, pruning `disruptedPods`) is the PDB controller's job.

// `ApiError` (owned by errors.rs) is larger than clippy's `result_large_err` threshold; the
// agreed interfaces return it by value (as do the store's), so the lint is allowed here until it
// is boxed or allowed crate-wide.
#![allow(clippy::result_large_err)]

use serde_json::{Map, Value, json};

use crate::deletion::DeleteOptions;
use crate::errors::ApiError;
use crate::resources::OBJECT_META_FIELDS;
use crate::resources::well_known::{PDBS, PODS};
use crate::selector::LabelSelector;
use crate::store::{Store, now_rfc3339};
use disruption_target::mark_and_delete;

mod disruption_target;

/// The eviction handler refuses to use a PDB whose `status.disruptedPods` has more entries.
pub const MAX_DISRUPTED_POD_SIZE: usize = 2000;

/// Message of every PDB-related 429.
pub const VIOLATES_BUDGET: &str =
    "Cannot evict pod as it would violate the pod's disruption budget.";

/// Message of the 500 for a pod covered by several PDBs.
pub const MULTIPLE_PDBS: &str = "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.";

/// Fields of `metav1.DeleteOptions`.
const DELETE_OPTIONS_FIELDS: &[&str] = &[
    "kind",
    "apiVersion",
    "gracePeriodSeconds",
    "preconditions",
    "orphanDependents",
    "propagationPolicy",
    "dryRun",
    "ignoreStoreReadErrorWithClusterBreakingPotential",
];

/// A 429 `TooManyRequests` for a PDB, with one `DisruptionBudget` cause.
pub fn too_many_requests(cause: &str, retry_after: Option<u32>) -> ApiError {
    let mut details = Map::new();
    details.insert(
        "causes".into(),
        json!([{"reason": "DisruptionBudget", "message": cause}]),
    );
    let mut err = ApiError::new(429, Some("TooManyRequests"), VIOLATES_BUDGET);
    if let Some(secs) = retry_after {
        details.insert("retryAfterSeconds".into(), json!(secs));
        err = err.with_header("Retry-After", secs.to_string());
    }
    err.with_details(Value::Object(details))
}

/// The 429 for a PDB whose status has not caught up with its spec (Retry-After 10).
pub fn still_being_processed(pdb_name: &str) -> ApiError {
    too_many_requests(
        &format!("The disruption budget {pdb_name} is still being processed by the server."),
        Some(10),
    )
}

/// A 403 from the PDB checks (`poddisruptionbudget.policy "NAME" is forbidden: …`).
fn pdb_forbidden(pdb_name: &str, reason: &str, cause: &str) -> ApiError {
    ApiError::new(
        403,
        Some("Forbidden"),
        format!("poddisruptionbudget.policy \"{pdb_name}\" is forbidden: {reason}"),
    )
    .with_details(json!({
        "name": pdb_name,
        "group": "policy",
        "kind": "poddisruptionbudget",
        "causes": [{
            "reason": "DisruptionBudget",
            "message": format!("The disruption budget {pdb_name} does not allow evicting pods currently: {cause}"),
        }],
    }))
}

/// The cause message of a 429 for a PDB with `disruptionsAllowed == 0`.
fn denied_message(pdb_name: &str, status: &Value) -> String {
    let condition = status["conditions"].as_array().and_then(|cs| {
        cs.iter()
            .find(|c| c["type"].as_str() == Some("DisruptionAllowed"))
    });
    let failed = condition.filter(|c| {
        c["status"].as_str() == Some("False")
            && c["message"].as_str().is_some_and(|m| !m.is_empty())
    });
    let current = status["currentHealthy"].as_i64().unwrap_or(0);
    let desired = status["desiredHealthy"].as_i64().unwrap_or(0);
    let text = |c: &Value, k: &str| c[k].as_str().unwrap_or_default().to_string();
    match failed {
        Some(c) if c["reason"].as_str() == Some("SyncFailed") => format!(
            "The disruption budget {pdb_name} does not allow evicting pods currently because it failed sync: {}",
            text(c, "message")
        ),
        _ if current <= desired => format!(
            "The disruption budget {pdb_name} needs {desired} healthy pods and has {current} currently"
        ),
        Some(c) => format!(
            "The disruption budget {pdb_name} does not allow evicting pods currently ({}): {}",
            text(c, "reason"),
            text(c, "message")
        ),
        None => format!("The disruption budget {pdb_name} does not allow evicting pods currently"),
    }
}

/// The PDB after one approved eviction of `pod`, or the error that refuses it
/// (`checkAndDecrement`).
fn check_and_decrement(pdb: &Value, pod: &str) -> Result<Value, ApiError> {
    let name = pdb["metadata"]["name"].as_str().unwrap_or_default();
    let status = &pdb["status"];
    let generation = pdb["metadata"]["generation"].as_i64().unwrap_or(0);
    if status["observedGeneration"].as_i64().unwrap_or(0) < generation {
        return Err(still_being_processed(name));
    }
    let allowed = status["disruptionsAllowed"].as_i64().unwrap_or(0);
    if allowed < 0 {
        return Err(pdb_forbidden(
            name,
            "pdb disruptions allowed is negative",
            "pdb disruptions allowed is negative",
        ));
    }
    if status["disruptedPods"]
        .as_object()
        .is_some_and(|m| m.len() > MAX_DISRUPTED_POD_SIZE)
    {
        return Err(pdb_forbidden(
            name,
            "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
            "too many pending evictions not confirmed by PDB controller",
        ));
    }
    if allowed == 0 {
        return Err(too_many_requests(&denied_message(name, status), None));
    }
    let mut out = pdb.clone();
    if !out["status"].is_object() {
        out["status"] = json!({});
    }
    let st = &mut out["status"];
    st["disruptionsAllowed"] = json!(allowed - 1);
    if allowed - 1 == 0 {
        set_disruption_allowed_false(st);
    }
    if !st["disruptedPods"].is_object() {
        st["disruptedPods"] = json!({});
    }
    st["disruptedPods"][pod] = json!(now_rfc3339());
    Ok(out)
}

/// `UpdateDisruptionAllowedCondition` for 0 allowed disruptions (apimeta `SetStatusCondition`
/// semantics: `lastTransitionTime` changes only when `status` does).
fn set_disruption_allowed_false(status: &mut Value) {
    let observed = status["observedGeneration"].clone();
    if !status["conditions"].is_array() {
        status["conditions"] = json!([]);
    }
    let Some(conds) = status["conditions"].as_array_mut() else {
        return;
    };
    let now = now_rfc3339();
    if let Some(c) = conds
        .iter_mut()
        .find(|c| c["type"].as_str() == Some("DisruptionAllowed"))
    {
        if c["status"].as_str() != Some("False") {
            c["status"] = json!("False");
            c["lastTransitionTime"] = json!(now);
        }
        c["reason"] = json!("InsufficientPods");
        c["message"] = json!("");
        if !observed.is_null() {
            c["observedGeneration"] = observed;
        }
    } else {
        let mut c = Map::new();
        c.insert("type".into(), json!("DisruptionAllowed"));
        c.insert("status".into(), json!("False"));
        if !observed.is_null() {
            c.insert("observedGeneration".into(), observed);
        }
        c.insert("lastTransitionTime".into(), json!(now));
        c.insert("reason".into(), json!("InsufficientPods"));
        c.insert("message".into(), json!(""));
        conds.push(Value::Object(c));
    }
}

/// `unknown field "path"` for every key of `obj` not in `known` (recursing into nothing).
fn unknown_fields(obj: &Value, prefix: &str, known: &[&str], out: &mut Vec<String>) {
    if let Some(m) = obj.as_object() {
        for k in m.keys() {
            if !known.contains(&k.as_str()) {
                out.push(format!("{prefix}{k}"));
            }
        }
    }
}

/// The decoded Eviction: its name and delete options, plus the unknown fields found.
struct Decoded {
    name: String,
    namespace: String,
    options: DeleteOptions,
    unknown: Vec<String>,
    version: String,
    /// `deleteOptions.dryRun` is non-empty: check everything, write nothing.
    dry_run: bool,
}

/// Decodes the Eviction body (400 for anything that is not one).
fn decode(body: &[u8]) -> Result<Decoded, ApiError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        let text = String::from_utf8_lossy(body);
        let prefix: String = text.chars().take(30).collect();
        ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type Eviction): couldn't get \
             version/kind; json parse error: {e} ({prefix} ...)"
        ))
    })?;
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "the object provided is unrecognized (must be of type Eviction): couldn't get \
             version/kind; json parse error: not a JSON object",
        ));
    }
    // As the real decoder (gvkWithDefaults), a missing kind or apiVersion is filled from the
    // endpoint's own type, policy/v1 Eviction: kube-rs' `Api::evict` sends neither.
    let api_version = v["apiVersion"]
        .as_str()
        .filter(|s| !s.is_empty())
        .unwrap_or("policy/v1");
    let kind = v["kind"]
        .as_str()
        .filter(|s| !s.is_empty())
        .unwrap_or("Eviction");
    let version = match api_version {
        "policy/v1" => "v1",
        "policy/v1beta1" => "v1beta1",
        other => other,
    }
    .to_string();
    if kind != "Eviction" || !matches!(api_version, "policy/v1" | "policy/v1beta1") {
        let shown_kind = kind;
        return Err(ApiError::bad_request(format!(
            "{shown_kind} in version \"{version}\" cannot be handled as a Eviction: no kind \
             \"{shown_kind}\" is registered for version \"{api_version}\""
        )));
    }
    let mut unknown = Vec::new();
    unknown_fields(
        &v,
        "",
        &["apiVersion", "kind", "metadata", "deleteOptions"],
        &mut unknown,
    );
    unknown_fields(
        &v["metadata"],
        "metadata.",
        OBJECT_META_FIELDS,
        &mut unknown,
    );
    unknown_fields(
        &v["deleteOptions"],
        "deleteOptions.",
        DELETE_OPTIONS_FIELDS,
        &mut unknown,
    );
    Ok(Decoded {
        name: v["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        namespace: v["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        options: DeleteOptions::from_json(&v["deleteOptions"]),
        unknown,
        version,
        dry_run: v["deleteOptions"]["dryRun"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
    })
}

fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c["type"].as_str() == Some("Ready") && c["status"].as_str() == Some("True")
            })
        })
}

/// Pods the PDB check does not apply to (`canIgnorePDB`).
fn can_ignore_pdb(pod: &Value) -> bool {
    matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Pending" | "Succeeded" | "Failed")
    ) || !pod["metadata"]["deletionTimestamp"].is_null()
}

/// Whether the pod delete must carry the pod's resourceVersion as a precondition
/// (`shouldEnforceResourceVersion`): everything but terminal or terminating pods.
fn should_enforce_rv(pod: &Value) -> bool {
    !matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    ) && pod["metadata"]["deletionTimestamp"].is_null()
}

fn with_rv_precondition(opts: &DeleteOptions, pod: &Value) -> DeleteOptions {
    let mut o = opts.clone();
    o.precondition_resource_version = pod["metadata"]["resourceVersion"]
        .as_str()
        .map(str::to_string);
    o
}

/// PDBs in `ns` whose selector matches `pod` (empty or invalid selectors match nothing).
fn matching_pdbs(store: &Store, ns: &str, pod: &Value) -> Vec<std::sync::Arc<Value>> {
    let (pdbs, _) = store.list(PDBS, Some(ns), |pdb| {
        match LabelSelector::from_object(&pdb["spec"]["selector"]) {
            Ok(sel) => !pdb["spec"]["selector"].is_null() && !sel.is_empty() && sel.matches(pod),
            Err(_) => false,
        }
    });
    pdbs
}

/// How many times a conflicting concurrent write is retried (the real handler: 20).
const CONFLICT_RETRIES: usize = 20;

/// Evicts pod `ns/pod` with the Eviction JSON `body`. `strict` is `fieldValidation=Strict`.
/// On success returns the values for `Warning` response headers (e.g.
/// `299 - "unknown field \"delete_options\""`), and the server answers 201 with a Success
/// `Status`; on failure the `ApiError` is the response (including a `Retry-After` header
/// where the real server sends one).
pub fn evict(
    store: &Store,
    ns: &str,
    pod: &str,
    body: &[u8],
    strict: bool,
) -> Result<Vec<String>, ApiError> {
    let decoded = decode(body)?;
    if strict && !decoded.unknown.is_empty() {
        let list: Vec<String> = decoded
            .unknown
            .iter()
            .map(|f| format!("unknown field \"{f}\""))
            .collect();
        return Err(ApiError::bad_request(format!(
            "Eviction in version \"{}\" cannot be handled as a Eviction: strict decoding error: {}",
            decoded.version,
            list.join(", ")
        )));
    }
    let warnings: Vec<String> = if strict {
        Vec::new()
    } else {
        decoded
            .unknown
            .iter()
            .map(|f| format!("299 - \"unknown field \\\"{f}\\\"\""))
            .collect()
    };
    if !decoded.namespace.is_empty() && decoded.namespace != ns {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    if decoded.name != pod {
        return Err(ApiError::bad_request(
            "name in URL does not match name in Eviction object",
        ));
    }
    let opts = decoded.options;
    let user_rv = opts.precondition_resource_version.is_some();

    let mut attempts = 0;
    loop {
        attempts += 1;
        let current = store
            .get(PODS, ns, pod)
            .ok_or_else(|| ApiError::not_found(PODS, pod))?;

        if can_ignore_pdb(&current) {
            if decoded.dry_run {
                return Ok(warnings);
            }
            let del = if should_enforce_rv(&current) && !user_rv {
                with_rv_precondition(&opts, &current)
            } else {
                opts.clone()
            };
            match mark_and_delete(store, ns, pod, &del) {
                Ok(_) => return Ok(warnings),
                Err(e) if e.code == 409 && !user_rv && attempts < CONFLICT_RETRIES => continue,
                Err(e) => return Err(e),
            }
        }

        let pdbs = matching_pdbs(store, ns, &current);
        if pdbs.len() > 1 {
            return Err(ApiError::new(500, None, MULTIPLE_PDBS));
        }
        let mut rv_guard = false;
        if let Some(pdb) = pdbs.first() {
            let pdb_name = pdb["metadata"]["name"].as_str().unwrap_or_default();
            let status = &pdb["status"];
            let current_healthy = status["currentHealthy"].as_i64().unwrap_or(0);
            let desired_healthy = status["desiredHealthy"].as_i64().unwrap_or(0);
            let always_allow = pdb
                .pointer("/spec/unhealthyPodEvictionPolicy")
                .and_then(Value::as_str)
                == Some("AlwaysAllow");
            if !is_ready(&current)
                && (always_allow || (current_healthy >= desired_healthy && desired_healthy > 0))
            {
                rv_guard = true;
            } else if decoded.dry_run {
                check_and_decrement(pdb, pod)?;
            } else {
                store.update(PDBS, ns, pdb_name, |now| check_and_decrement(now, pod))?;
            }
            if decoded.dry_run {
                return Ok(warnings);
            }
            let del = if rv_guard && !user_rv {
                with_rv_precondition(&opts, &current)
            } else {
                opts.clone()
            };
            return match mark_and_delete(store, ns, pod, &del) {
                Ok(_) => Ok(warnings),
                Err(e) if e.code == 409 && rv_guard && !user_rv => {
                    Err(still_being_processed(pdb_name))
                }
                Err(e) => Err(e),
            };
        }
        if decoded.dry_run {
            return Ok(warnings);
        }
        return mark_and_delete(store, ns, pod, &opts).map(|_| warnings);
    }
}

#[cfg(test)]
mod tests;
