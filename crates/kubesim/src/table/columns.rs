//! The `columnDefinitions` of a `Table` per served type (recorded for pods and nodes, kubectl's
//! printers for the others).

use serde_json::{Value, json};

use crate::resources::ResourceType;

const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const ADDRESSES_DESC: &str = "List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change during the lifetime of a Node. However, there are some exceptions where this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the downward API (status.hostIP).";

fn column(name: &str, format: &str, description: &str, priority: u8) -> Value {
    json!({"name": name, "type": "string", "format": format, "description": description, "priority": priority})
}

/// Description of an Event's Reason column.
const EVENT_REASON_DESC: &str = "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.";

/// Description of an Event's Subobject column (`involvedObject.fieldPath`).
const EVENT_SUBOBJECT_DESC: &str = "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object reference is to a container within a pod, this would take on a value like: \"spec.containers{name}\" (where \"name\" refers to the name of the container that triggered the event) or if no container name is specified \"spec.containers[2]\" (container with index 2 in this pod). This syntax is chosen only to have some well-defined way of referencing a part of an object.";

pub(crate) fn columns(rt: &ResourceType) -> Vec<Value> {
    match (rt.group, rt.plural) {
        ("", "pods") => vec![
            column("Name", "name", NAME_DESC, 0),
            column(
                "Ready",
                "",
                "The aggregate readiness state of this pod for accepting traffic.",
                0,
            ),
            column(
                "Status",
                "",
                "The aggregate status of the containers in this pod.",
                0,
            ),
            column(
                "Restarts",
                "",
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
                0,
            ),
            column("Age", "", AGE_DESC, 0),
            column(
                "IP",
                "",
                "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
                1,
            ),
            column(
                "Node",
                "",
                "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes responsible for the lifecycle of this pod. This field should not be used to express a desire for the pod to be scheduled on a specific node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename",
                1,
            ),
            column(
                "Nominated Node",
                "",
                "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled.",
                1,
            ),
            column(
                "Readiness Gates",
                "",
                "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates",
                1,
            ),
        ],
        ("", "nodes") => vec![
            column("Name", "name", NAME_DESC, 0),
            column("Status", "", "The status of the node", 0),
            column("Roles", "", "The roles of the node", 0),
            column("Age", "", AGE_DESC, 0),
            column("Version", "", "Kubelet Version reported by the node.", 0),
            column("Internal-IP", "", ADDRESSES_DESC, 1),
            column("External-IP", "", ADDRESSES_DESC, 1),
            column(
                "OS-Image",
                "",
                "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
                1,
            ),
            column(
                "Kernel-Version",
                "",
                "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
                1,
            ),
            column(
                "Container-Runtime",
                "",
                "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
                1,
            ),
        ],
        _ => workload_columns(rt),
    }
}

fn typed_column(name: &str, ty: &str, description: &str, priority: u8) -> Value {
    json!({"name": name, "type": ty, "format": "", "description": description, "priority": priority})
}

/// Columns of the other served types (kubectl's printers for them).
fn workload_columns(rt: &ResourceType) -> Vec<Value> {
    let name = column("Name", "name", NAME_DESC, 0);
    let age = column("Age", "", AGE_DESC, 0);
    match (rt.group, rt.plural) {
        ("", "namespaces") => vec![
            name,
            column("Status", "", "The status of the namespace", 0),
            age,
        ],
        ("apps", _) => apps_columns(rt, name, age),
        ("policy", "poddisruptionbudgets") => vec![
            name,
            column(
                "Min Available",
                "",
                "The minimum number of pods that must be available simultaneously.",
                0,
            ),
            column(
                "Max Unavailable",
                "",
                "The maximum number of pods that may be unavailable simultaneously.",
                0,
            ),
            typed_column(
                "Allowed Disruptions",
                "integer",
                "Calculated number of pods that may be disrupted at this time.",
                0,
            ),
            age,
        ],
        ("coordination.k8s.io", "leases") => vec![
            name,
            column("Holder", "", "The holder of the lease", 0),
            age,
        ],
        ("", "events") => vec![
            column(
                "Last Seen",
                "",
                "The time at which the most recent occurrence of this event was recorded.",
                0,
            ),
            column(
                "Type",
                "",
                "Type of this event (Normal, Warning), new types could be added in the future",
                0,
            ),
            column("Reason", "", EVENT_REASON_DESC, 0),
            column("Object", "", "The object that this event is about.", 0),
            column("Subobject", "", EVENT_SUBOBJECT_DESC, 1),
            column(
                "Source",
                "",
                "The component reporting this event. Should be a short machine understandable string.",
                1,
            ),
            column(
                "Message",
                "",
                "A human-readable description of the status of this operation.",
                0,
            ),
            column(
                "First Seen",
                "",
                "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
                1,
            ),
            column(
                "Count",
                "",
                "The number of times this event has occurred.",
                1,
            ),
            column("Name", "name", NAME_DESC, 1),
        ],
        _ => vec![name, age],
    }
}

/// (name, type, description) of the priority-0 columns between Name and Age of the apps/v1
/// workloads (a Node Selector column follows for daemonsets).
const DAEMONSET_COLUMNS: &[(&str, &str, &str)] = &[
    (
        "Desired",
        "integer",
        "The total number of nodes that should be running the daemon pod.",
    ),
    (
        "Current",
        "integer",
        "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.",
    ),
    (
        "Ready",
        "integer",
        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.",
    ),
    (
        "Up-to-date",
        "integer",
        "The total number of nodes that are running updated daemon pod",
    ),
    (
        "Available",
        "integer",
        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available.",
    ),
    (
        "Node Selector",
        "string",
        "NodeSelector is a selector which must be true for the pod to fit on a node.",
    ),
];
const DEPLOYMENT_COLUMNS: &[(&str, &str, &str)] = &[
    ("Ready", "string", "Number of the pod with ready state"),
    (
        "Up-to-date",
        "integer",
        "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
    ),
    (
        "Available",
        "integer",
        "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
    ),
];
const REPLICASET_COLUMNS: &[(&str, &str, &str)] = &[
    (
        "Desired",
        "integer",
        "Replicas is the number of desired replicas.",
    ),
    (
        "Current",
        "integer",
        "Replicas is the most recently observed number of replicas.",
    ),
    (
        "Ready",
        "integer",
        "The number of ready replicas for this replica set.",
    ),
];

/// Columns of the apps/v1 workloads: Name, the kind's own columns, Age, then (priority 1)
/// Containers, Images, Selector.
fn apps_columns(rt: &ResourceType, name: Value, age: Value) -> Vec<Value> {
    let own = match rt.plural {
        "daemonsets" => DAEMONSET_COLUMNS,
        "deployments" => DEPLOYMENT_COLUMNS,
        "replicasets" => REPLICASET_COLUMNS,
        _ => &[],
    };
    let mut cols = vec![name];
    cols.extend(own.iter().map(|(n, t, d)| typed_column(n, t, d, 0)));
    cols.push(age);
    cols.push(column(
        "Containers",
        "",
        "Names of each container in the template.",
        1,
    ));
    cols.push(column(
        "Images",
        "",
        "Images referenced by each container in the template.",
        1,
    ));
    cols.push(column("Selector", "", "Label selector for pods.", 1));
    cols
}
