//! The strategic-merge-patch schema: how each field of the served kinds merges (the
//! `patchStrategy` / `patchMergeKey` tags of k8s.io/api).

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
