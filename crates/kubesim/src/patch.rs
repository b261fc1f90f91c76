//! Patch application: JSON merge patch (RFC 7386), strategic merge patch with the per-field
//! strategies of the types kubesim serves, and JSON patch (RFC 6902).
//!
//! All functions are pure: they work on `serde_json::Value` trees and never touch the store.
//! The error values are the `Status` errors the real kube-apiserver answers with (see the
//! `patch-*` and `error-422-*` fixtures in `shared/k8s-reference/`).
//!
//! ```
//! use kubesim::patch::{json_patch, merge_patch, strategic_merge_patch};
//! use kubesim::resources::well_known::NODES;
//! use serde_json::json;
//!
//! let mut node = json!({"metadata": {"name": "n", "annotations": {"a": "1"}},
//!                       "spec": {"taints": [{"key": "x", "effect": "NoSchedule"}]}});
//! merge_patch(&mut node, &json!({"metadata": {"annotations": {"a": null}}}));
//! assert_eq!(node["metadata"]["annotations"], json!({}));
//!
//! // spec.taints is atomic under strategic merge patch: the list is replaced.
//! strategic_merge_patch(NODES, &mut node,
//!     &json!({"spec": {"taints": [{"key": "y", "effect": "NoExecute"}]}})).unwrap();
//! assert_eq!(node["spec"]["taints"], json!([{"key": "y", "effect": "NoExecute"}]));
//!
//! json_patch(&mut node, &json!([{"op": "add", "path": "/spec/taints/-",
//!                                "value": {"key": "z", "effect": "NoSchedule"}}])).unwrap();
//! assert_eq!(node["spec"]["taints"][1]["key"], "z");
//! ```

// `ApiError` (owned by errors.rs) is larger than clippy's `result_large_err` threshold; the
// agreed interfaces return it by value, so the lint is allowed here until it is boxed or
// allowed workspace-wide.
#![allow(clippy::result_large_err)]

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use crate::errors::ApiError;
use crate::resources::ResourceType;
use crate::selector::{go_quote, label_key_errors, label_value_errors};

/// The patch flavours the API server accepts (by request `Content-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchKind {
    /// The patch kind of a `Content-Type` header value (parameters such as `; charset=utf-8`
    /// are ignored, the media type is case-insensitive); `None` for any other media type (the
    /// server answers 415).
    pub fn from_content_type(content_type: &str) -> Option<PatchKind> {
        let media = content_type.split(';').next().unwrap_or("").trim();
        match media.to_ascii_lowercase().as_str() {
            "application/json-patch+json" => Some(PatchKind::Json),
            "application/merge-patch+json" => Some(PatchKind::Merge),
            "application/strategic-merge-patch+json" => Some(PatchKind::Strategic),
            "application/apply-patch+yaml" => Some(PatchKind::Apply),
            _ => None,
        }
    }

    /// The canonical media type of this patch kind.
    pub fn content_type(self) -> &'static str {
        match self {
            PatchKind::Json => "application/json-patch+json",
            PatchKind::Merge => "application/merge-patch+json",
            PatchKind::Strategic => "application/strategic-merge-patch+json",
            PatchKind::Apply => "application/apply-patch+yaml",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// JSON merge patch (RFC 7386)
// ---------------------------------------------------------------------------------------------

/// Applies a JSON merge patch (RFC 7386) to `target` in place: `null` deletes a key, objects
/// merge recursively, anything else (arrays included) replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target_map) = target {
        for (key, value) in patch_map {
            if value.is_null() {
                target_map.shift_remove(key);
            } else {
                let entry = target_map.entry(key.clone()).or_insert(Value::Null);
                merge_patch(entry, value);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Strategic merge patch: the schema
// ---------------------------------------------------------------------------------------------

/// How strategic merge patch treats one field (the `patchStrategy` / `patchMergeKey` tags of
/// k8s.io/api).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchStrategy {
    /// No tag: maps merge recursively, lists are atomic (replaced as a whole).
    Default,
    /// `patchStrategy:"replace"`: the value (even a map) is replaced as a whole.
    Replace,
    /// `patchStrategy:"merge"` with `patchMergeKey`: a list of objects merged element-wise by
    /// the value of the key.
    MergeByKey(&'static str),
    /// `patchStrategy:"merge"` without merge key: a list of primitives merged as a set.
    MergeSet,
}

/// Kinds whose `spec.template` is a `PodTemplateSpec`.
const POD_TEMPLATE_KINDS: &[&str] = &["Deployment", "ReplicaSet", "DaemonSet"];

/// The strategy of the field at `path` (object keys from the root, list indices left out, e.g.
/// `["spec", "containers", "ports"]` for a pod) of an object of `kind`, for the kinds kubesim
/// serves (`Node`, `Pod`, `Namespace`, `Event`, `DaemonSet`, `Deployment`, `ReplicaSet`,
/// `Lease`, `PodDisruptionBudget`). Fields not listed have the default strategy: maps merge, lists are
/// atomic.
///
/// The table follows the tags in k8s.io/api `core/v1`, `apps/v1`, `policy/v1`,
/// `coordination/v1` and apimachinery `ObjectMeta`:
/// - every object (and pod templates): `metadata.finalizers` merge as a set,
///   `metadata.ownerReferences` by `uid`;
/// - Pod (and the pod template of Deployment/ReplicaSet/DaemonSet at `spec.template`):
///   `spec.containers`/`initContainers`/`ephemeralContainers` by `name`, and in them `ports` by
///   `containerPort`, `env` by `name`, `volumeMounts` by `mountPath`, `volumeDevices` by
///   `devicePath`; `spec.volumes`, `spec.imagePullSecrets`, `spec.resourceClaims`,
///   `spec.schedulingGates` by `name`; `spec.hostAliases` by `ip`;
///   `spec.topologySpreadConstraints` by `topologyKey`; `status.conditions` by `type`;
///   `status.podIPs`/`status.hostIPs` by `ip`; `status.resourceClaimStatuses` by `name`;
///   `spec.tolerations`, `spec.readinessGates`, container statuses are atomic;
/// - Node: `spec.taints` is ATOMIC; `spec.podCIDRs` merge as a set; `status.conditions` and
///   `status.addresses` by `type`;
/// - `Namespace`, `Deployment`, `ReplicaSet`, `DaemonSet`: `status.conditions` by `type`;
/// - `PodDisruptionBudget`: `spec.selector` is replaced as a whole; `status.conditions` by
///   `type`;
/// - Lease, Event: no tagged fields.
pub fn field_strategy(kind: &str, path: &[&str]) -> PatchStrategy {
    if POD_TEMPLATE_KINDS.contains(&kind)
        && let ["spec", "template", rest @ ..] = path
    {
        return pod_strategy(rest);
    }
    if let Some(s) = meta_strategy(path) {
        return s;
    }
    match (kind, path) {
        ("Pod", _) => pod_strategy(path),
        ("Node", ["spec", "podCIDRs"]) => PatchStrategy::MergeSet,
        ("Node", ["status", "conditions" | "addresses"])
        | (
            "Namespace" | "Deployment" | "ReplicaSet" | "DaemonSet" | "PodDisruptionBudget",
            ["status", "conditions"],
        ) => PatchStrategy::MergeByKey("type"),
        ("PodDisruptionBudget", ["spec", "selector"]) => PatchStrategy::Replace,
        _ => PatchStrategy::Default,
    }
}

fn meta_strategy(path: &[&str]) -> Option<PatchStrategy> {
    match path {
        ["metadata", "finalizers"] => Some(PatchStrategy::MergeSet),
        ["metadata", "ownerReferences"] => Some(PatchStrategy::MergeByKey("uid")),
        _ => None,
    }
}

/// Strategies inside a pod (or a pod template), `path` relative to the pod's root.
fn pod_strategy(path: &[&str]) -> PatchStrategy {
    if let Some(s) = meta_strategy(path) {
        return s;
    }
    match path {
        [
            "spec",
            "containers"
            | "initContainers"
            | "ephemeralContainers"
            | "volumes"
            | "imagePullSecrets"
            | "resourceClaims"
            | "schedulingGates",
        ]
        | [
            "spec",
            "containers" | "initContainers" | "ephemeralContainers",
            "env",
        ]
        | ["status", "resourceClaimStatuses"] => PatchStrategy::MergeByKey("name"),
        [
            "spec",
            "containers" | "initContainers" | "ephemeralContainers",
            field,
        ] => match *field {
            "ports" => PatchStrategy::MergeByKey("containerPort"),
            "volumeMounts" => PatchStrategy::MergeByKey("mountPath"),
            "volumeDevices" => PatchStrategy::MergeByKey("devicePath"),
            _ => PatchStrategy::Default,
        },
        ["spec", "hostAliases"] | ["status", "podIPs" | "hostIPs"] => {
            PatchStrategy::MergeByKey("ip")
        }
        ["spec", "topologySpreadConstraints"] => PatchStrategy::MergeByKey("topologyKey"),
        ["status", "conditions"] => PatchStrategy::MergeByKey("type"),
        _ => PatchStrategy::Default,
    }
}

// ---------------------------------------------------------------------------------------------
// Strategic merge patch: the algorithm
// ---------------------------------------------------------------------------------------------

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";

/// A malformed strategic merge patch: the real server answers most of these with a 500 whose
/// `Status` has no reason (the error is not an API status), some with 400.
fn smp_internal(message: String) -> ApiError {
    ApiError::new(500, None, message)
}

/// Applies a strategic merge patch to `target` in place, using the per-field strategies of
/// `rt`'s kind (see [`field_strategy`]). Any error leaves `target` unchanged.
///
/// Semantics (as `k8s.io/apimachinery/pkg/util/strategicpatch` with the options the apiserver
/// uses): `null` deletes a key; maps merge recursively; lists without a strategy are replaced
/// whole (so `node.spec.taints` is replaced, and a `$patch: delete` element inside it is not
/// interpreted: the element stays without the `$patch` field, which then fails taint
/// validation with the recorded 422); merge-keyed lists merge element-wise, support
/// `{"$patch": "delete", <key>: …}` and `{"$patch": "replace"}` elements, and put patched
/// elements first unless the original order says otherwise; primitive merge lists are unions.
/// `$patch: replace|delete` in a map, `$retainKeys`, `$deleteFromPrimitiveList/<field>` and
/// `$setElementOrder/<field>` are honoured (the ordering follows the Go algorithm but ignores
/// its consistency checks). Fields starting with `$` left over in the result are dropped, as
/// the typed decoding of the real server does.
///
/// For a Node whose patch touches `spec.taints`, the resulting taints are validated like the
/// apiserver's Node update validation (see [`validate_node_taints`]).
pub fn strategic_merge_patch(
    rt: &ResourceType,
    target: &mut Value,
    patch: &Value,
) -> Result<(), ApiError> {
    strategic_merge_patch_with_warnings(rt, target, patch).map(|_| ())
}

/// [`strategic_merge_patch`], returning the texts of the warnings the real server sends for
/// the fields it dropped (e.g. `unknown field "spec.taints[0].$patch"`) under the default
/// `fieldValidation=Warn`; format them with [`warning_header_value`]. Under
/// `fieldValidation=Strict` the real server rejects such a patch with 400 `strict decoding
/// error: <texts joined by ", ">` instead.
pub fn strategic_merge_patch_with_warnings(
    rt: &ResourceType,
    target: &mut Value,
    patch: &Value,
) -> Result<Vec<String>, ApiError> {
    let Value::Object(patch_map) = patch else {
        return Err(ApiError::bad_request(format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            go_json_type(patch)
        )));
    };
    let Value::Object(original) = target else {
        return Err(smp_internal("original object is not a JSON object".into()));
    };
    let mut result = original.clone();
    let mut fields = Vec::new();
    merge_map(rt.kind, &mut fields, &mut result, patch_map.clone())?;
    let mut warnings = Vec::new();
    let mut result = Value::Object(result);
    drop_directive_fields(&mut result, &mut String::new(), &mut warnings);
    if rt.kind == "Node" && patch.pointer("/spec/taints").is_some() {
        validate_node_taints(&result).map_err(|mut e| {
            for w in &warnings {
                e = e.with_header("Warning", warning_header_value(w));
            }
            e
        })?;
    }
    std::mem::swap(target, &mut result);
    Ok(warnings)
}

/// The `Warning` response header value for a warning text: `299 - "<text, quoted>"`.
pub fn warning_header_value(text: &str) -> String {
    format!("299 - {}", go_quote(text))
}

/// Go's name of a JSON value type in `json: cannot unmarshal X into …` errors.
fn go_json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Removes fields whose name starts with `$` (directives that were not interpreted), recording
/// `unknown field "<path>"` for each, as the typed decoding of the apiserver does. `loc` is the
/// field path of `v` (a buffer restored before returning).
fn drop_directive_fields(v: &mut Value, loc: &mut String, warnings: &mut Vec<String>) {
    let base = loc.len();
    match v {
        Value::Object(m) => {
            if m.keys().any(|k| k.starts_with('$')) {
                let dropped: Vec<String> =
                    m.keys().filter(|k| k.starts_with('$')).cloned().collect();
                for k in dropped {
                    m.shift_remove(&k);
                    push_field(loc, &k);
                    warnings.push(format!("unknown field {}", go_quote(loc)));
                    loc.truncate(base);
                }
            }
            for (k, child) in m.iter_mut() {
                if child.is_object() || child.is_array() {
                    push_field(loc, k);
                    drop_directive_fields(child, loc, warnings);
                    loc.truncate(base);
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                if child.is_object() || child.is_array() {
                    let _ = write!(loc, "[{i}]");
                    drop_directive_fields(child, loc, warnings);
                    loc.truncate(base);
                }
            }
        }
        _ => {}
    }
}

fn push_field(loc: &mut String, key: &str) {
    if !loc.is_empty() {
        loc.push('.');
    }
    loc.push_str(key);
}

/// `discardNullValuesFromPatch`: removes null-valued keys of maps, recursively (also inside
/// lists).
fn discard_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, child| !child.is_null());
            for child in m.values_mut() {
                discard_nulls(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}

/// The map-level directives `$patch` and `$retainKeys`; `true` when `$patch` decided the
/// result (replace/delete) and nothing else is to be merged.
fn apply_map_directives(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<bool, ApiError> {
    if let Some(directive) = patch.shift_remove(DIRECTIVE) {
        match directive.as_str() {
            Some("replace") => {
                *original = std::mem::take(patch);
                return Ok(true);
            }
            Some("delete") => {
                original.clear();
                return Ok(true);
            }
            _ => {
                patch.insert(DIRECTIVE.into(), directive.clone());
                return Err(smp_internal(format!(
                    "unknown patch type: {} in map: {}",
                    display_go(&directive),
                    Value::Object(std::mem::take(patch))
                )));
            }
        }
    }

    if let Some(retain) = patch.shift_remove(RETAIN_KEYS) {
        let Value::Array(keep) = retain else {
            return Err(ApiError::bad_request("invalid patch format of retainKeys"));
        };
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        original.retain(|k, _| keep.contains(&k.as_str()));
    }

    Ok(false)
}

/// `mergeMap`: merges `patch` into `original`; `fields` is the schema path of `original`.
fn merge_map(
    kind: &str,
    fields: &mut Vec<String>,
    original: &mut Map<String, Value>,
    mut patch: Map<String, Value>,
) -> Result<(), ApiError> {
    if apply_map_directives(original, &mut patch)? {
        return Ok(());
    }

    // `$setElementOrder/<field>`: merge that field now and order it as listed.
    let order_keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for key in order_keys {
        let order = patch.shift_remove(&key).unwrap_or(Value::Null);
        let Value::Array(order) = order else {
            return Err(ApiError::bad_request(
                "invalid patch format of setElementOrder list",
            ));
        };
        let field = key[SET_ELEMENT_ORDER.len()..].to_string();
        fields.push(field.clone());
        let res = merge_with_element_order(kind, fields, original, &mut patch, &field, &order);
        fields.pop();
        res?;
    }

    for (key, patch_value) in patch {
        if let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            let Value::Array(to_delete) = patch_value else {
                return Err(ApiError::bad_request(
                    "invalid patch format of primitive list",
                ));
            };
            if let Some(Value::Array(items)) = original.get_mut(field) {
                items.retain(|item| !to_delete.contains(item));
            }
            continue;
        }
        if key.starts_with(SET_ELEMENT_ORDER) {
            continue;
        }
        if patch_value.is_null() {
            original.shift_remove(&key);
            continue;
        }
        let Some(current) = original.get_mut(&key) else {
            let mut v = patch_value;
            discard_nulls(&mut v);
            original.insert(key, v);
            continue;
        };
        fields.push(key.clone());
        let strategy = field_strategy(kind, &path_strs(fields));
        let res = match (current, patch_value) {
            (Value::Object(cur), Value::Object(p)) => {
                if strategy == PatchStrategy::Replace {
                    *cur = p;
                    Ok(())
                } else {
                    merge_map(kind, fields, cur, p)
                }
            }
            (Value::Array(cur), Value::Array(p)) => match strategy {
                PatchStrategy::MergeByKey(merge_key) => {
                    merge_list(kind, fields, cur, p, Some(merge_key))
                }
                PatchStrategy::MergeSet => merge_list(kind, fields, cur, p, None),
                PatchStrategy::Default | PatchStrategy::Replace => {
                    *cur = p;
                    Ok(())
                }
            },
            (cur, mut p) => {
                if std::mem::discriminant(cur) != std::mem::discriminant(&p) {
                    discard_nulls(&mut p);
                }
                *cur = p;
                Ok(())
            }
        };
        fields.pop();
        res?;
    }
    Ok(())
}

fn path_strs(path: &[String]) -> Vec<&str> {
    path.iter().map(String::as_str).collect()
}

/// A Go-ish rendering of a directive value for error messages.
fn display_go(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The element type of a list for merging purposes.
#[derive(PartialEq, Eq)]
enum ElementKind {
    Empty,
    Maps,
    Primitives,
    Mixed,
}

fn element_kind<'a>(items: impl Iterator<Item = &'a Value>) -> ElementKind {
    let mut kind = ElementKind::Empty;
    for item in items {
        let this = if item.is_object() {
            ElementKind::Maps
        } else {
            ElementKind::Primitives
        };
        if kind == ElementKind::Empty {
            kind = this;
        } else if kind != this {
            return ElementKind::Mixed;
        }
    }
    kind
}

/// `mergeSlice` for a list with a merge strategy (`merge_key` `None`: a set of primitives).
fn merge_list(
    kind: &str,
    fields: &mut Vec<String>,
    original: &mut Vec<Value>,
    patch: Vec<Value>,
    merge_key: Option<&'static str>,
) -> Result<(), ApiError> {
    if original.is_empty() && patch.is_empty() {
        return Ok(());
    }
    match element_kind(original.iter().chain(patch.iter())) {
        ElementKind::Empty => Ok(()),
        ElementKind::Mixed => Err(smp_internal(format!(
            "unable to merge list {}: elements of mixed types",
            fields.join(".")
        ))),
        ElementKind::Primitives => {
            // `deduplicateScalars(append(original, patch...))`: first occurrences, in order.
            let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
            for item in original.iter().chain(patch.iter()) {
                if !merged.contains(item) {
                    merged.push(item.clone());
                }
            }
            let (patch_items, server_only): (Vec<Value>, Vec<Value>) =
                merged.into_iter().partition(|item| patch.contains(item));
            *original = normalize_element_order(patch_items, server_only, &patch, original, None);
            Ok(())
        }
        ElementKind::Maps => {
            let Some(merge_key) = merge_key else {
                return Err(smp_internal(format!(
                    "cannot merge lists without merge key for {}",
                    fields.last().map_or("", String::as_str)
                )));
            };
            let (mut base, patch) = apply_special_elements(original.clone(), patch, merge_key)?;
            // The server order is the original list after the special elements were applied.
            let server_order = base.clone();
            for item in &patch {
                let Value::Object(item_map) = item else {
                    continue;
                };
                let Some(key_value) = item_map.get(merge_key) else {
                    return Err(no_merge_key(item, merge_key));
                };
                let found = base
                    .iter_mut()
                    .find(|cur| cur.get(merge_key) == Some(key_value));
                match found {
                    Some(Value::Object(cur)) => merge_map(kind, fields, cur, item_map.clone())?,
                    _ => base.push(item.clone()),
                }
            }
            let (patch_items, server_only): (Vec<Value>, Vec<Value>) = base
                .into_iter()
                .partition(|item| index_in(&patch, item, Some(merge_key)).is_some());
            *original = normalize_element_order(
                patch_items,
                server_only,
                &patch,
                &server_order,
                Some(merge_key),
            );
            Ok(())
        }
    }
}

fn no_merge_key(item: &Value, merge_key: &str) -> ApiError {
    smp_internal(format!(
        "map: {item} does not contain declared merge key: {merge_key}"
    ))
}

/// `mergeSliceWithSpecialElements`: applies `$patch: delete` elements to the original and
/// handles `$patch: replace`; returns the new original and the patch without special elements.
fn apply_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>), ApiError> {
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let Some(directive) = item.get(DIRECTIVE) else {
            plain.push(item);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let Some(key_value) = item.get(merge_key) else {
                    return Err(no_merge_key(&item, merge_key));
                };
                original.retain(|o| o.get(merge_key) != Some(key_value));
            }
            Some("replace") => replace = true,
            Some("merge") => {
                return Err(smp_internal(
                    "merging lists cannot yet be specified in the patch".into(),
                ));
            }
            _ => {
                return Err(smp_internal(format!(
                    "unknown patch type: {} in map: {item}",
                    display_go(directive)
                )));
            }
        }
    }
    if replace {
        Ok((plain, Vec::new()))
    } else {
        Ok((original, plain))
    }
}

/// Index of `item` in `list`: by merge key value for maps, by equality for primitives.
fn index_in(list: &[Value], item: &Value, merge_key: Option<&str>) -> Option<usize> {
    match merge_key {
        Some(k) => {
            let want = item.get(k)?;
            list.iter().position(|x| x.get(k) == Some(want))
        }
        None => list.iter().position(|x| x == item),
    }
}

/// `normalizeSliceOrder`: a stable sort of `items` by their index in `order`; items not in
/// `order` go last (the Go comparator is not a strict order for them; this is the documented
/// approximation).
fn sort_by_order(items: &mut [Value], order: &[Value], merge_key: Option<&str>) {
    items.sort_by_key(|item| index_in(order, item, merge_key).unwrap_or(usize::MAX));
}

/// `normalizeElementOrder` + `mergeSortedSlice`: patch items ordered as in `patch_order`,
/// server-only items as in `server_order`, interleaved so that a server-only item comes first
/// only when both it and the next patch item are in the server order and it precedes it.
fn normalize_element_order(
    mut patch_items: Vec<Value>,
    mut server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: Option<&str>,
) -> Vec<Value> {
    sort_by_order(&mut patch_items, patch_order, merge_key);
    sort_by_order(&mut server_only, server_order, merge_key);
    let mut out = Vec::with_capacity(patch_items.len() + server_only.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = patch_items.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => {
                match (
                    index_in(server_order, l, merge_key),
                    index_in(server_order, r, merge_key),
                ) {
                    (Some(li), Some(ri)) => li < ri,
                    _ => false,
                }
            }
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

/// `mergePatchIntoOriginal` for one `$setElementOrder/<field>` directive: merges the field (if
/// the patch has it) and orders the result as the directive lists.
fn merge_with_element_order(
    kind: &str,
    fields: &mut Vec<String>,
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    field: &str,
    order: &[Value],
) -> Result<(), ApiError> {
    let strategy = field_strategy(kind, &path_strs(fields));
    let merge_key = match strategy {
        PatchStrategy::MergeByKey(k) => Some(k),
        _ => None,
    };
    let mut merged = match original.get(field) {
        Some(Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    };
    let server_order = merged.clone();
    match patch.shift_remove(field) {
        Some(Value::Array(p)) => match strategy {
            PatchStrategy::MergeByKey(_) | PatchStrategy::MergeSet => {
                merge_list(kind, fields, &mut merged, p, merge_key)?;
            }
            _ => merged = p,
        },
        Some(Value::Null) => {
            original.shift_remove(field);
            return Ok(());
        }
        Some(other) => {
            // Not a list: let the regular merge handle (and replace) it.
            patch.insert(field.to_string(), other);
            return Ok(());
        }
        None => {}
    }
    if merged.is_empty() && !original.contains_key(field) {
        return Ok(());
    }
    let (patch_items, server_only): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|item| index_in(order, item, merge_key).is_some());
    let ordered =
        normalize_element_order(patch_items, server_only, order, &server_order, merge_key);
    original.insert(field.to_string(), Value::Array(ordered));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Node taint validation (the part of ValidateNode/ValidateNodeUpdate a patch can break)
// ---------------------------------------------------------------------------------------------

/// One `field.Error`.
struct FieldError {
    reason: &'static str,
    field: String,
    body: String,
}

/// Validates `spec.taints` of a Node the way the apiserver's Node update validation does and
/// returns its 422 `Invalid` error: the field path is reported as `metadata.taints[i]…` and
/// every cause appears twice (both quirks are recorded in the fixtures
/// `error-422-invalid-node-taint-effect.json` and
/// `error-422-smp-delete-directive-on-atomic-taints.json`). Checks: key is a qualified name,
/// value a label value, effect present and one of `NoSchedule`/`PreferNoSchedule`/`NoExecute`,
/// key/effect pairs unique.
pub fn validate_node_taints(node: &Value) -> Result<(), ApiError> {
    let Some(taints) = node.pointer("/spec/taints").and_then(Value::as_array) else {
        return Ok(());
    };
    let mut errs = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, taint) in taints.iter().enumerate() {
        let base = format!("metadata.taints[{i}]");
        let key = taint.get("key").and_then(Value::as_str).unwrap_or("");
        for msg in label_key_errors(key) {
            errs.push(FieldError {
                reason: "FieldValueInvalid",
                field: format!("{base}.key"),
                body: format!("Invalid value: {}: {msg}", go_quote(key)),
            });
        }
        let value = taint.get("value").and_then(Value::as_str).unwrap_or("");
        let value_errs = label_value_errors(value);
        if !value_errs.is_empty() {
            errs.push(FieldError {
                reason: "FieldValueInvalid",
                field: format!("{base}.value"),
                body: format!(
                    "Invalid value: {}: {}",
                    go_quote(value),
                    value_errs.join(";")
                ),
            });
        }
        let effect = taint.get("effect").and_then(Value::as_str).unwrap_or("");
        if effect.is_empty() {
            errs.push(FieldError {
                reason: "FieldValueRequired",
                field: format!("{base}.effect"),
                body: "Required value".into(),
            });
        } else if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
            errs.push(FieldError {
                reason: "FieldValueNotSupported",
                field: format!("{base}.effect"),
                body: format!(
                    "Unsupported value: {}: supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"",
                    go_quote(effect)
                ),
            });
        }
        if !seen.insert((effect, key)) {
            // `field.Duplicate(idxPath, taint)` prints the internal Taint with `%#v`; a set
            // `timeAdded` is a pointer whose address cannot be reproduced.
            let time_added = if taint.get("timeAdded").is_some_and(|t| !t.is_null()) {
                "(*v1.Time)(0xc000000000)"
            } else {
                "(*v1.Time)(nil)"
            };
            errs.push(FieldError {
                reason: "FieldValueDuplicate",
                field: base,
                body: format!(
                    "Duplicate value: core.Taint{{Key:{}, Value:{}, Effect:{}, TimeAdded:{time_added}}}: taints must be unique by key and effect pair",
                    go_quote(key),
                    go_quote(value),
                    go_quote(effect)
                ),
            });
        }
    }
    if errs.is_empty() {
        return Ok(());
    }
    let name = node
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    Err(invalid_error("Node", name, &errs))
}

/// `errors.NewInvalid` for validation run twice (`ValidateNode` + `ValidateNodeUpdate`).
fn invalid_error(kind: &str, name: &str, errs: &[FieldError]) -> ApiError {
    let mut messages: Vec<String> = Vec::new();
    for e in errs {
        let m = format!("{}: {}", e.field, e.body);
        if !messages.contains(&m) {
            messages.push(m);
        }
    }
    let aggregated = if messages.len() == 1 {
        messages.remove(0)
    } else {
        format!("[{}]", messages.join(", "))
    };
    let cause = |e: &FieldError| json!({"reason": e.reason, "message": e.body, "field": e.field});
    let causes: Vec<Value> = errs.iter().chain(errs.iter()).map(cause).collect();
    ApiError::new(
        422,
        Some("Invalid"),
        format!("{kind} {} is invalid: {aggregated}", go_quote(name)),
    )
    .with_details(json!({"name": name, "kind": kind, "causes": causes}))
}

// ---------------------------------------------------------------------------------------------
// JSON patch (RFC 6902)
// ---------------------------------------------------------------------------------------------

/// Applies a JSON patch (RFC 6902: add, remove, replace, move, copy, test; JSON pointers with
/// `~1` = `/` and `~0` = `~`) to `target`. Atomic: on any failure `target` is unchanged.
///
/// As the apiserver (evanphx/json-patch v4): `add` replaces an existing object key, needs an
/// existing parent (`add /metadata/annotations/x` without an annotations map fails, and so does
/// `/spec/taints/-` without a taints list), `remove`/`replace` need an existing target, `test`
/// of a missing key against `null` succeeds. A failing operation is the generic 422
/// ([`ApiError::json_patch_failed`]).
///
/// A body that does not decode as a list of operations (not an array, an element that is not
/// an object, an `op`/`path`/`from` that is not a string) is a 400 `BadRequest` with the
/// message the apiserver gives under its default `fieldValidation=Warn`, e.g. `error decoding
/// patch: json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp`; a `null`
/// body is an empty patch.
pub fn json_patch(target: &mut Value, ops: &Value) -> Result<(), ApiError> {
    let decode_error =
        |detail: String| ApiError::bad_request(format!("error decoding patch: {detail}"));
    let ops = match ops {
        Value::Null => return Ok(()),
        Value::Array(ops) => ops,
        other => {
            return Err(decode_error(format!(
                "json: cannot unmarshal {} into Go value of type []handlers.jsonPatchOp",
                go_json_type(other)
            )));
        }
    };
    for op in ops {
        match op {
            Value::Null => {}
            Value::Object(fields) => {
                for field in ["op", "path", "from"] {
                    if let Some(v) = fields.get(field)
                        && !v.is_string()
                        && !v.is_null()
                    {
                        return Err(decode_error(format!(
                            "json: cannot unmarshal {} into Go struct field jsonPatchOp.{field} of type string",
                            go_json_type(v)
                        )));
                    }
                }
            }
            other => {
                return Err(decode_error(format!(
                    "json: cannot unmarshal {} into Go value of type handlers.jsonPatchOp",
                    go_json_type(other)
                )));
            }
        }
    }
    let mut doc = target.clone();
    for op in ops {
        apply_op(&mut doc, op).map_err(|()| ApiError::json_patch_failed())?;
    }
    *target = doc;
    Ok(())
}

/// Parses a JSON pointer into unescaped reference tokens (`None` if malformed).
fn parse_pointer(path: &str) -> Option<Vec<String>> {
    if path.is_empty() {
        return Some(Vec::new());
    }
    let rest = path.strip_prefix('/')?;
    Some(
        rest.split('/')
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect(),
    )
}

fn array_index(token: &str, len: usize, allow_end: bool) -> Option<usize> {
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let idx: usize = token.parse().ok()?;
    if idx < len || (allow_end && idx == len) {
        Some(idx)
    } else {
        None
    }
}

fn get_mut<'a>(doc: &'a mut Value, tokens: &[String]) -> Option<&'a mut Value> {
    let mut cur = doc;
    for t in tokens {
        cur = match cur {
            Value::Object(m) => m.get_mut(t)?,
            Value::Array(a) => {
                let len = a.len();
                a.get_mut(array_index(t, len, false)?)?
            }
            _ => return None,
        };
    }
    Some(cur)
}

fn get<'a>(doc: &'a Value, tokens: &[String]) -> Option<&'a Value> {
    let mut cur = doc;
    for t in tokens {
        cur = match cur {
            Value::Object(m) => m.get(t)?,
            Value::Array(a) => a.get(array_index(t, a.len(), false)?)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn op_path(op: &Value, field: &str) -> Result<Vec<String>, ()> {
    let path = op.get(field).and_then(Value::as_str).ok_or(())?;
    parse_pointer(path).ok_or(())
}

fn apply_op(doc: &mut Value, op: &Value) -> Result<(), ()> {
    let kind = op.get("op").and_then(Value::as_str).unwrap_or("unknown");
    let path = op_path(op, "path")?;
    match kind {
        "add" => add(doc, &path, op.get("value").cloned().unwrap_or(Value::Null)),
        "remove" => remove(doc, &path).map(|_| ()),
        "replace" => replace(doc, &path, op.get("value").cloned().unwrap_or(Value::Null)),
        "move" => {
            let from = op_path(op, "from")?;
            if path.len() > from.len() && path[..from.len()] == from[..] {
                return Err(());
            }
            let value = remove(doc, &from)?;
            add(doc, &path, value)
        }
        "copy" => {
            let from = op_path(op, "from")?;
            let value = get(doc, &from).ok_or(())?.clone();
            add(doc, &path, value)
        }
        "test" => test(doc, &path, op.get("value")),
        _ => Err(()),
    }
}

fn split_last(path: &[String]) -> Option<(&[String], &String)> {
    let (last, parent) = path.split_last()?;
    Some((parent, last))
}

fn add(doc: &mut Value, path: &[String], value: Value) -> Result<(), ()> {
    let Some((parent, last)) = split_last(path) else {
        *doc = value;
        return Ok(());
    };
    match get_mut(doc, parent).ok_or(())? {
        Value::Object(m) => {
            if let Some(slot) = m.get_mut(last) {
                *slot = value;
            } else {
                m.insert(last.clone(), value);
            }
            Ok(())
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(value);
            } else {
                let idx = array_index(last, a.len(), true).ok_or(())?;
                a.insert(idx, value);
            }
            Ok(())
        }
        _ => Err(()),
    }
}

fn remove(doc: &mut Value, path: &[String]) -> Result<Value, ()> {
    let (parent, last) = split_last(path).ok_or(())?;
    match get_mut(doc, parent).ok_or(())? {
        Value::Object(m) => m.shift_remove(last).ok_or(()),
        Value::Array(a) => {
            let idx = array_index(last, a.len(), false).ok_or(())?;
            Ok(a.remove(idx))
        }
        _ => Err(()),
    }
}

fn replace(doc: &mut Value, path: &[String], value: Value) -> Result<(), ()> {
    let slot = get_mut(doc, path).ok_or(())?;
    *slot = value;
    Ok(())
}

fn test(doc: &Value, path: &[String], expected: Option<&Value>) -> Result<(), ()> {
    if let Some(actual) = get(doc, path) {
        return if expected == Some(actual) {
            Ok(())
        } else {
            Err(())
        };
    }
    // A missing key under an existing parent equals null.
    let (parent, _) = split_last(path).ok_or(())?;
    get(doc, parent).ok_or(())?;
    match expected {
        None | Some(Value::Null) => Ok(()),
        Some(_) => Err(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::well_known::{
        DAEMONSETS, DEPLOYMENTS, LEASES, NAMESPACES, NODES, PDBS, PODS,
    };

    fn fixture(name: &str) -> Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/k8s-reference")
            .join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read fixture {}: {e}", path.display()));
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn content_types() {
        assert_eq!(
            PatchKind::from_content_type("application/json-patch+json"),
            Some(PatchKind::Json)
        );
        assert_eq!(
            PatchKind::from_content_type("application/merge-patch+json; charset=utf-8"),
            Some(PatchKind::Merge)
        );
        assert_eq!(
            PatchKind::from_content_type("Application/Strategic-Merge-Patch+JSON"),
            Some(PatchKind::Strategic)
        );
        assert_eq!(
            PatchKind::from_content_type("application/apply-patch+yaml"),
            Some(PatchKind::Apply)
        );
        assert_eq!(PatchKind::from_content_type("application/json"), None);
        assert_eq!(PatchKind::from_content_type("text/plain"), None);
        assert_eq!(PatchKind::from_content_type(""), None);
        for k in [
            PatchKind::Json,
            PatchKind::Merge,
            PatchKind::Strategic,
            PatchKind::Apply,
        ] {
            assert_eq!(PatchKind::from_content_type(k.content_type()), Some(k));
        }
    }

    // --- merge patch -----------------------------------------------------------------------

    #[test]
    fn merge_patch_rfc7386_examples() {
        // The test cases of RFC 7386 appendix A.
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (
                json!({"a":"b","b":"c"}),
                json!({"a":null}),
                json!({"b":"c"}),
            ),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a":"b"}), json!(["c"]), json!(["c"])),
            (json!({"a":"foo"}), json!(null), json!(null)),
            (json!({"a":"foo"}), json!("bar"), json!("bar")),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
            (
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ];
        for (mut target, patch, want) in cases {
            merge_patch(&mut target, &patch);
            assert_eq!(target, want, "patch {patch}");
        }
    }

    #[test]
    fn merge_patch_fixtures() {
        // Applying the recorded patch to the recorded result changes nothing (the patch is
        // already reflected in it, including the removals).
        for name in [
            "patch-node-merge-patch-annotation-null-removes.json",
            "patch-node-merge-patch-annotation-slash-key.json",
            "patch-node-merge-patch-taints-null-removes.json",
            "patch-node-merge-patch-taints-replaces-list.json",
            "patch-node-merge-patch-unschedulable-true.json",
        ] {
            let f = fixture(name);
            let after = &f["response"]["body"];
            let mut target = after.clone();
            merge_patch(&mut target, &f["request"]["body"]);
            assert_eq!(&target, after, "{name}");
        }
        let mut node = json!({"spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]}});
        merge_patch(&mut node, &json!({"spec": {"taints": null}}));
        assert_eq!(node, json!({"spec": {}}));
        let mut node = json!({"metadata": {"annotations": {"x": "1"}}});
        merge_patch(
            &mut node,
            &json!({"metadata": {"annotations": {"weave.works/kured-node-lock": "v"}}}),
        );
        assert_eq!(
            node["metadata"]["annotations"],
            json!({"x": "1", "weave.works/kured-node-lock": "v"})
        );
    }

    #[test]
    fn merge_patch_keeps_key_order() {
        let mut v = json!({"a": 1, "b": 2, "c": 3});
        merge_patch(&mut v, &json!({"a": null, "d": 4}));
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"b":2,"c":3,"d":4}"#);
    }

    // --- strategic merge patch ---------------------------------------------------------------

    fn node_with_taints() -> Value {
        json!({
            "kind": "Node",
            "metadata": {"name": "node-a", "labels": {"a": "1"}},
            "spec": {"taints": [
                {"key": "example.com/reboot", "value": "pending", "effect": "NoSchedule"},
                {"key": "example.com/second", "effect": "PreferNoSchedule"}
            ]},
            "status": {"conditions": [
                {"type": "Ready", "status": "True", "reason": "KubeletReady"}
            ], "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]}
        })
    }

    #[test]
    fn smp_taints_are_atomic() {
        let mut node = node_with_taints();
        let patch = json!({"spec": {"taints": [{"key": "example.com/reboot", "value": "in-progress", "effect": "NoSchedule"}]}});
        strategic_merge_patch(NODES, &mut node, &patch).unwrap();
        assert_eq!(node["spec"]["taints"], patch["spec"]["taints"]);
        assert_eq!(node["metadata"]["labels"], json!({"a": "1"}));
    }

    #[test]
    fn smp_fixtures_taints_and_labels() {
        // add-taint-1 on a node without taints, then 2 and 3 replace the list.
        let mut node = json!({"metadata": {"name": "node-a"}, "spec": {}});
        for name in [
            "patch-node-smp-add-taint-1.json",
            "patch-node-smp-add-taint-2-replaces-list.json",
            "patch-node-smp-taint-3-replaces-list.json",
            "patch-node-smp-label.json",
        ] {
            let f = fixture(name);
            strategic_merge_patch(NODES, &mut node, &f["request"]["body"]).unwrap();
            if name.contains("taint") {
                let want = &f["response"]["body"]["spec"]["taints"];
                assert_eq!(&node["spec"]["taints"], want, "{name}");
            }
        }
        assert_eq!(
            node["metadata"]["labels"]["example.com/reboot-needed"],
            "true"
        );
    }

    #[test]
    fn smp_delete_directive_on_atomic_taints_is_the_recorded_422() {
        let f = fixture("error-422-smp-delete-directive-on-atomic-taints.json");
        let mut node = node_with_taints();
        let before = node.clone();
        let err = strategic_merge_patch(NODES, &mut node, &f["request"]["body"]).unwrap_err();
        assert_eq!(node, before, "nothing changed");
        assert_eq!(err.code, 422);
        assert_eq!(err.to_status(), f["response"]["body"]);
        assert_eq!(
            err.headers,
            vec![(
                "Warning",
                f["response"]["headers"]["warning"]
                    .as_str()
                    .unwrap()
                    .to_string()
            )]
        );
    }

    #[test]
    fn invalid_taint_effect_is_the_recorded_422() {
        let f = fixture("error-422-invalid-node-taint-effect.json");
        let mut node = node_with_taints();
        let err = strategic_merge_patch(NODES, &mut node, &f["request"]["body"]).unwrap_err();
        assert_eq!(err.to_status(), f["response"]["body"]);
        assert!(err.headers.is_empty());
        // Several errors: bracketed, de-duplicated message; causes twice.
        let bad =
            json!({"metadata": {"name": "n"}, "spec": {"taints": [{"key": "-x", "value": "-y"}]}});
        let err = validate_node_taints(&bad).unwrap_err();
        assert!(err.message.starts_with("Node \"n\" is invalid: [metadata.taints[0].key: Invalid value: \"-x\": name part must consist"), "{}", err.message);
        assert!(
            err.message
                .contains(", metadata.taints[0].value: Invalid value: \"-y\": a valid label must")
        );
        assert!(
            err.message
                .ends_with(", metadata.taints[0].effect: Required value]")
        );
        assert_eq!(
            err.details.as_ref().unwrap()["causes"]
                .as_array()
                .unwrap()
                .len(),
            6
        );
        assert!(validate_node_taints(&node_with_taints()).is_ok());

        let dup = json!({"metadata": {"name": "n"}, "spec": {"taints": [
            {"key": "k", "effect": "NoSchedule"},
            {"key": "k", "value": "other", "effect": "NoSchedule"},
            {"key": "k", "effect": "NoExecute"}
        ]}});
        let err = validate_node_taints(&dup).unwrap_err();
        assert_eq!(
            err.message,
            "Node \"n\" is invalid: metadata.taints[1]: Duplicate value: core.Taint{Key:\"k\", Value:\"other\", Effect:\"NoSchedule\", TimeAdded:(*v1.Time)(nil)}: taints must be unique by key and effect pair"
        );
        assert_eq!(
            err.details.as_ref().unwrap()["causes"][0]["reason"],
            "FieldValueDuplicate"
        );
    }

    #[test]
    fn smp_status_conditions_merge_by_type_patched_first() {
        let f = fixture("patch-node-status-smp-conditions-merge.json");
        let mut node = node_with_taints();
        strategic_merge_patch(NODES, &mut node, &f["request"]["body"]).unwrap();
        let types: Vec<&str> = node["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        let want: Vec<&str> = f["response"]["body"]["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, want);
        assert_eq!(types, ["MemoryPressure", "Ready"]);

        // Exactly the recorded list: start from the recorded result without the patched
        // condition, apply the recorded patch, get the recorded result back.
        let after = &f["response"]["body"];
        let mut before = after.clone();
        before["status"]["conditions"]
            .as_array_mut()
            .unwrap()
            .retain(|c| c["type"] != "MemoryPressure");
        strategic_merge_patch(NODES, &mut before, &f["request"]["body"]).unwrap();
        assert_eq!(before["status"], after["status"]);

        // Updating an existing condition merges its fields in place.
        strategic_merge_patch(
            NODES,
            &mut node,
            &json!({"status": {"conditions": [{"type": "Ready", "status": "False", "reason": null}]}}),
        )
        .unwrap();
        let ready = &node["status"]["conditions"][1];
        assert_eq!(ready, &json!({"type": "Ready", "status": "False"}));
        // Addresses merge by type too.
        strategic_merge_patch(
            NODES,
            &mut node,
            &json!({"status": {"addresses": [{"type": "Hostname", "address": "node-a"}]}}),
        )
        .unwrap();
        assert_eq!(node["status"]["addresses"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn smp_list_directives() {
        let mut node = node_with_taints();
        strategic_merge_patch(
            NODES,
            &mut node,
            &json!({"status": {"conditions": [{"type": "Ready", "$patch": "delete"}, {"type": "PIDPressure", "status": "False"}]}}),
        )
        .unwrap();
        assert_eq!(
            node["status"]["conditions"],
            json!([{"type": "PIDPressure", "status": "False"}])
        );
        strategic_merge_patch(
            NODES,
            &mut node,
            &json!({"status": {"conditions": [{"$patch": "replace"}, {"type": "Ready", "status": "True"}]}}),
        )
        .unwrap();
        assert_eq!(
            node["status"]["conditions"],
            json!([{"type": "Ready", "status": "True"}])
        );
        let err = strategic_merge_patch(
            NODES,
            &mut node,
            &json!({"status": {"conditions": [{"status": "True"}]}}),
        )
        .unwrap_err();
        assert_eq!(err.code, 500);
        assert!(
            err.message
                .contains("does not contain declared merge key: type")
        );
        let err = strategic_merge_patch(
            NODES,
            &mut node,
            &json!({"status": {"conditions": [{"type": "Ready", "$patch": "bogus"}]}}),
        )
        .unwrap_err();
        assert!(err.message.starts_with("unknown patch type: bogus"));
    }

    #[test]
    fn smp_map_directives_and_nulls() {
        let mut pod = json!({"metadata": {"name": "p", "labels": {"a": "1", "b": "2"}, "annotations": {"x": "y"}}});
        strategic_merge_patch(
            PODS,
            &mut pod,
            &json!({"metadata": {"labels": {"$patch": "replace", "c": "3"}, "annotations": {"x": null}}}),
        )
        .unwrap();
        assert_eq!(pod["metadata"]["labels"], json!({"c": "3"}));
        assert_eq!(pod["metadata"]["annotations"], json!({}));
        strategic_merge_patch(
            PODS,
            &mut pod,
            &json!({"metadata": {"labels": {"$patch": "delete"}}}),
        )
        .unwrap();
        assert_eq!(pod["metadata"]["labels"], json!({}));
        // A new key drops the nulls inside it.
        strategic_merge_patch(
            PODS,
            &mut pod,
            &json!({"spec": {"nodeName": "n", "x": null}}),
        )
        .unwrap();
        assert_eq!(pod["spec"], json!({"nodeName": "n"}));
        // $retainKeys keeps only the listed keys.
        let mut dep = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
        strategic_merge_patch(
            DEPLOYMENTS,
            &mut dep,
            &json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
        )
        .unwrap();
        assert_eq!(dep["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn smp_pod_lists_merge_by_their_keys() {
        let mut pod = json!({
            "metadata": {"name": "p", "finalizers": ["a"], "ownerReferences": [{"uid": "1", "name": "rs"}]},
            "spec": {
                "containers": [{"name": "app", "image": "v1", "env": [{"name": "A", "value": "1"}],
                                "ports": [{"containerPort": 80, "name": "http"}]}],
                "volumes": [{"name": "data", "emptyDir": {}}],
                "tolerations": [{"key": "t1", "operator": "Exists"}]
            },
            "status": {"podIPs": [{"ip": "10.0.0.1"}]}
        });
        strategic_merge_patch(
            PODS,
            &mut pod,
            &json!({
                "metadata": {"finalizers": ["b", "a"], "ownerReferences": [{"uid": "2", "name": "other"}]},
                "spec": {
                    "containers": [{"name": "app", "image": "v2", "env": [{"name": "B", "value": "2"}],
                                    "ports": [{"containerPort": 443}]},
                                   {"name": "sidecar", "image": "s"}],
                    "volumes": [{"name": "cache", "emptyDir": {}}],
                    "tolerations": [{"key": "t2", "operator": "Exists"}]
                },
                "status": {"podIPs": [{"ip": "fd00::1"}]}
            }),
        )
        .unwrap();
        assert_eq!(pod["metadata"]["finalizers"], json!(["b", "a"]));
        let owners: Vec<&str> = pod["metadata"]["ownerReferences"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["uid"].as_str().unwrap())
            .collect();
        assert_eq!(owners, ["2", "1"]);
        let containers = pod["spec"]["containers"].as_array().unwrap();
        assert_eq!(containers.len(), 2);
        assert_eq!(containers[0]["image"], "v2");
        assert_eq!(containers[0]["env"].as_array().unwrap().len(), 2);
        assert_eq!(containers[0]["ports"].as_array().unwrap().len(), 2);
        assert_eq!(containers[1]["name"], "sidecar");
        assert_eq!(pod["spec"]["volumes"].as_array().unwrap().len(), 2);
        assert_eq!(
            pod["spec"]["tolerations"],
            json!([{"key": "t2", "operator": "Exists"}]),
            "tolerations are atomic"
        );
        assert_eq!(pod["status"]["podIPs"].as_array().unwrap().len(), 2);

        strategic_merge_patch(
            PODS,
            &mut pod,
            &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}),
        )
        .unwrap();
        assert_eq!(pod["metadata"]["finalizers"], json!(["a"]));

        // Primitive merge lists are de-duplicated unions; an empty patch list is a no-op for a
        // merge list and a replacement for an atomic one.
        let mut pod = json!({"metadata": {"finalizers": ["x", "x", "y"]}, "spec": {
            "containers": [{"name": "c"}], "tolerations": [{"key": "t"}]}});
        strategic_merge_patch(
            PODS,
            &mut pod,
            &json!({"metadata": {"finalizers": ["z"]}, "spec": {"containers": [], "tolerations": []}}),
        )
        .unwrap();
        assert_eq!(pod["metadata"]["finalizers"], json!(["z", "x", "y"]));
        assert_eq!(pod["spec"]["containers"], json!([{"name": "c"}]));
        assert_eq!(pod["spec"]["tolerations"], json!([]));
    }

    #[test]
    fn smp_set_element_order() {
        let mut node = json!({"metadata": {"name": "n"}, "status": {"conditions": [
            {"type": "A"}, {"type": "B"}, {"type": "C"}
        ]}});
        strategic_merge_patch(
            NODES,
            &mut node,
            &json!({"status": {
                "$setElementOrder/conditions": [{"type": "C"}, {"type": "B"}, {"type": "A"}],
                "conditions": [{"type": "B", "status": "True"}]
            }}),
        )
        .unwrap();
        let types: Vec<&str> = node["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["C", "B", "A"]);
        assert_eq!(node["status"]["conditions"][1]["status"], "True");
    }

    #[test]
    fn smp_templates_pdb_selector_and_defaults() {
        let mut ds = json!({"spec": {"template": {"metadata": {"labels": {"a": "1"}},
            "spec": {"containers": [{"name": "kured", "image": "v1"}]}}}});
        strategic_merge_patch(
            DAEMONSETS,
            &mut ds,
            &json!({"spec": {"template": {"spec": {"containers": [{"name": "kured", "image": "v2"}]}}}}),
        )
        .unwrap();
        assert_eq!(
            ds["spec"]["template"]["spec"]["containers"],
            json!([{"name": "kured", "image": "v2"}])
        );

        let mut pdb = json!({"spec": {"selector": {"matchLabels": {"a": "1"}}, "minAvailable": 1}});
        strategic_merge_patch(
            PDBS,
            &mut pdb,
            &json!({"spec": {"selector": {"matchLabels": {"b": "2"}}}}),
        )
        .unwrap();
        assert_eq!(pdb["spec"]["selector"], json!({"matchLabels": {"b": "2"}}));

        assert_eq!(
            field_strategy("Node", &["spec", "taints"]),
            PatchStrategy::Default
        );
        assert_eq!(
            field_strategy("Pod", &["spec", "initContainers", "volumeMounts"]),
            PatchStrategy::MergeByKey("mountPath")
        );
        assert_eq!(
            field_strategy(
                "Deployment",
                &["spec", "template", "metadata", "finalizers"]
            ),
            PatchStrategy::MergeSet
        );
        assert_eq!(
            field_strategy("Namespace", &["status", "conditions"]),
            PatchStrategy::MergeByKey("type")
        );
        assert_eq!(
            field_strategy("Pod", &["spec", "tolerations"]),
            PatchStrategy::Default
        );
        assert_eq!(
            field_strategy(LEASES.kind, &["spec"]),
            PatchStrategy::Default
        );

        let mut ns = json!({"metadata": {"name": "x"}});
        strategic_merge_patch(
            NAMESPACES,
            &mut ns,
            &json!({"metadata": {"labels": {"a": "b"}}}),
        )
        .unwrap();
        assert_eq!(ns["metadata"]["labels"]["a"], "b");
    }

    #[test]
    fn smp_bad_bodies() {
        let mut node = node_with_taints();
        let err = strategic_merge_patch(NODES, &mut node, &json!([1])).unwrap_err();
        assert_eq!(err.code, 400);
        assert_eq!(
            err.message,
            "json: cannot unmarshal array into Go value of type map[string]interface {}"
        );
        let err = strategic_merge_patch(
            NODES,
            &mut node,
            &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "x"}}),
        )
        .unwrap_err();
        assert_eq!(err.code, 400);
        assert_eq!(node, node_with_taints());
    }

    #[test]
    fn smp_warnings_for_dropped_directives() {
        let mut node = json!({"metadata": {"name": "n"}});
        let warnings = strategic_merge_patch_with_warnings(
            NODES,
            &mut node,
            &json!({"status": {"conditions": [{"type": "Ready", "$patch": "delete"}]}}),
        )
        .unwrap();
        assert_eq!(warnings, ["unknown field \"status.conditions[0].$patch\""]);
        assert_eq!(node["status"]["conditions"], json!([{"type": "Ready"}]));
        assert_eq!(
            warning_header_value(&warnings[0]),
            "299 - \"unknown field \\\"status.conditions[0].$patch\\\"\""
        );
    }

    // --- JSON patch --------------------------------------------------------------------------

    fn assert_json_patch_failed(target: &Value, ops: &Value) {
        let mut t = target.clone();
        let err = json_patch(&mut t, ops).unwrap_err();
        assert_eq!(err, ApiError::json_patch_failed(), "{ops}");
        assert_eq!(&t, target, "unchanged after a failure: {ops}");
    }

    #[test]
    fn json_patch_error_fixtures() {
        let pod_without_annotations =
            json!({"metadata": {"name": "solo-1", "namespace": "default"}, "spec": {}});
        let node = json!({"metadata": {"name": "node-a", "resourceVersion": "300", "labels": {"bump": "1"},
                                        "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
                          "spec": {}});
        let cases = [
            (
                "error-422-json-patch-add-missing-parent.json",
                &pod_without_annotations,
            ),
            ("error-422-json-patch-append-to-missing-taints.json", &node),
            ("error-422-json-patch-remove-missing-key.json", &node),
            (
                "error-422-json-patch-test-op-failed-resourceversion.json",
                &node,
            ),
            ("error-422-json-patch-test-op-failed.json", &node),
        ];
        for (name, target) in cases {
            let f = fixture(name);
            let mut t = target.clone();
            let err = json_patch(&mut t, &f["request"]["body"]).unwrap_err();
            assert_eq!(err.to_status(), f["response"]["body"], "{name}");
            assert_eq!(&t, target, "{name}");
        }
    }

    #[test]
    fn json_patch_success_fixtures() {
        let mut node = json!({"metadata": {"name": "node-a", "resourceVersion": "315",
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"}}, "spec": {}});
        let f = fixture("patch-node-json-patch-add-annotations-map-replaces-existing.json");
        json_patch(&mut node, &f["request"]["body"]).unwrap();
        assert_eq!(
            node["metadata"]["annotations"],
            f["response"]["body"]["metadata"]["annotations"]
        );
        let f = fixture("patch-node-json-patch-test-and-replace-annotation.json");
        let mut n2 = node.clone();
        n2["metadata"]["annotations"]["weave.works/kured-reboot-in-progress"] =
            json!("2026-01-02T03:04:05Z");
        json_patch(&mut n2, &f["request"]["body"]).unwrap();
        assert_eq!(
            n2["metadata"]["annotations"]["weave.works/kured-reboot-in-progress"],
            "2026-01-02T04:05:06Z"
        );
        let f = fixture("patch-node-json-patch-remove-annotation.json");
        json_patch(&mut n2, &f["request"]["body"]).unwrap();
        assert_eq!(n2["metadata"]["annotations"], json!({}));

        let f = fixture("patch-node-json-patch-add-taints-array.json");
        json_patch(&mut node, &f["request"]["body"]).unwrap();
        let f2 = fixture("patch-node-json-patch-append-taint-existing.json");
        json_patch(&mut node, &f2["request"]["body"]).unwrap();
        assert_eq!(
            node["spec"]["taints"],
            f2["response"]["body"]["spec"]["taints"]
        );

        let f = fixture("patch-daemonset-json-patch-lock-annotation.json");
        let mut ds = json!({"metadata": {"name": "kured", "resourceVersion": "315",
            "annotations": {"weave.works/kured-node-lock": "{}"}}});
        json_patch(&mut ds, &f["request"]["body"]).unwrap();
        assert_eq!(
            ds["metadata"]["annotations"]["weave.works/kured-node-lock"],
            f["request"]["body"][1]["value"]
        );
        ds["metadata"]["resourceVersion"] = json!("316");
        assert_json_patch_failed(&ds, &f["request"]["body"]);
    }

    #[test]
    fn json_patch_rfc6902_operations() {
        let doc = json!({"a": {"b": [1, 2, 3]}, "c/d": 1, "e~f": 2});
        let apply = |ops: Value| {
            let mut d = doc.clone();
            json_patch(&mut d, &ops).unwrap();
            d
        };
        assert_eq!(
            apply(json!([{"op": "add", "path": "/a/b/1", "value": 9}]))["a"]["b"],
            json!([1, 9, 2, 3])
        );
        assert_eq!(
            apply(json!([{"op": "add", "path": "/a/b/3", "value": 9}]))["a"]["b"],
            json!([1, 2, 3, 9])
        );
        assert_eq!(
            apply(json!([{"op": "remove", "path": "/a/b/0"}]))["a"]["b"],
            json!([2, 3])
        );
        assert_eq!(
            apply(json!([{"op": "replace", "path": "/c~1d", "value": 5}]))["c/d"],
            5
        );
        assert_eq!(
            apply(json!([{"op": "remove", "path": "/e~0f"}])).get("e~f"),
            None
        );
        let moved = apply(json!([{"op": "move", "from": "/a/b", "path": "/x"}]));
        assert_eq!(moved["x"], json!([1, 2, 3]));
        assert_eq!(moved["a"], json!({}));
        let copied = apply(json!([{"op": "copy", "from": "/a/b/2", "path": "/a/b/0"}]));
        assert_eq!(copied["a"]["b"], json!([3, 1, 2, 3]));
        apply(json!([{"op": "test", "path": "/a/b", "value": [1, 2, 3]}]));
        apply(json!([{"op": "test", "path": "/a/missing", "value": null}]));
        assert_eq!(
            apply(json!([{"op": "add", "path": "", "value": {"z": 1}}])),
            json!({"z": 1})
        );
        assert_eq!(apply(json!(null)), doc);
        assert_eq!(apply(json!([])), doc);

        for ops in [
            json!([{"op": "add", "path": "/a/b/5", "value": 1}]),
            json!([{"op": "add", "path": "/a/b/x", "value": 1}]),
            json!([{"op": "add", "path": "/x/y", "value": 1}]),
            json!([{"op": "remove", "path": "/a/b/3"}]),
            json!([{"op": "remove", "path": "/zz"}]),
            json!([{"op": "replace", "path": "/zz", "value": 1}]),
            json!([{"op": "move", "from": "/a", "path": "/a/b/c"}]),
            json!([{"op": "move", "from": "/zz", "path": "/y"}]),
            json!([{"op": "copy", "from": "/zz", "path": "/y"}]),
            json!([{"op": "test", "path": "/a/b/0", "value": 2}]),
            json!([{"op": "test", "path": "/zz/y", "value": null}]),
            json!([{"op": "frobnicate", "path": "/a"}]),
            json!([{"path": "/a"}]),
            json!([{"op": "add", "value": 1}]),
            json!([{"op": "add", "path": "a", "value": 1}]),
            json!([null]),
            // Atomic: the first op succeeds, the second fails.
            json!([{"op": "add", "path": "/new", "value": 1}, {"op": "remove", "path": "/zz"}]),
        ] {
            assert_json_patch_failed(&doc, &ops);
        }
    }

    #[test]
    fn json_patch_bodies_that_do_not_decode_are_400() {
        let mut d = json!({});
        let err = json_patch(&mut d, &json!({"op": "add"})).unwrap_err();
        assert_eq!(err.code, 400);
        assert_eq!(
            err.message,
            "error decoding patch: json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp"
        );
        assert_eq!(err.reason, Some("BadRequest"));
        assert!(err.details.is_none());
        let err = json_patch(&mut d, &json!([1])).unwrap_err();
        assert_eq!(
            err.message,
            "error decoding patch: json: cannot unmarshal number into Go value of type handlers.jsonPatchOp"
        );
        let err = json_patch(&mut d, &json!([{"op": "add", "path": 1}])).unwrap_err();
        assert_eq!(
            err.message,
            "error decoding patch: json: cannot unmarshal number into Go struct field jsonPatchOp.path of type string"
        );
        assert_eq!(d, json!({}));
    }

    /// JSON trees of maps and scalars (no lists, no directive keys), keys from a small set so
    /// that patches and targets overlap.
    fn map_tree() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (0i64..5).prop_map(Value::from),
            "[xy]{0,2}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            proptest::collection::btree_map("[a-d]", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect()))
        })
    }

    proptest::proptest! {
        #[test]
        fn smp_without_lists_is_a_json_merge_patch(target in map_tree(), patch in map_tree()) {
            proptest::prop_assume!(target.is_object() && patch.is_object());
            let mut by_merge = target.clone();
            merge_patch(&mut by_merge, &patch);
            let mut by_smp = target.clone();
            strategic_merge_patch(LEASES, &mut by_smp, &patch).unwrap();
            proptest::prop_assert_eq!(by_smp, by_merge);
        }

        #[test]
        fn json_patch_never_panics(path in "(/[a-c0-9~-]{0,3}){0,3}", op in "(add|remove|replace|move|copy|test)") {
            let doc = json!({"a": {"b": [1, 2]}, "c": "d", "0": [[]]});
            let mut d = doc.clone();
            let ops = json!([{"op": op, "path": path, "from": path, "value": {"x": 1}}]);
            if json_patch(&mut d, &ops).is_err() {
                proptest::prop_assert_eq!(d, doc);
            }
        }
    }
}
