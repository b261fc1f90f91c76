//! Unit tests of label and field selectors (texts checked against the real server's).

use serde_json::{Map, Value, json};

use super::*;
use crate::resources::ResourceType;
use crate::resources::well_known::{DAEMONSETS, EVENTS, EVENTS_V1, NAMESPACES, NODES, PODS};
use proptest::prelude::*;

fn fixture_message(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/k8s-reference")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read fixture {}: {e}", path.display()));
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["response"]["body"]["reason"], "BadRequest", "{name}");
    v["response"]["body"]["message"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The query parameter of a fixture's request path, percent-decoded (`+` = space).
fn fixture_query(name: &str, param: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/k8s-reference")
        .join(name);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let req_path = v["request"]["path"].as_str().unwrap();
    let query = req_path.split_once('?').unwrap().1;
    for pair in query.split('&') {
        if let Some((k, val)) = pair.split_once('=')
            && k == param
        {
            let val = val.replace('+', " ");
            return percent_encoding::percent_decode_str(&val)
                .decode_utf8()
                .unwrap()
                .into_owned();
        }
    }
    panic!("no {param} in {req_path}");
}

fn labels(pairs: &[(&str, &str)]) -> Value {
    let m: Map<String, Value> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), json!(v)))
        .collect();
    json!({"metadata": {"name": "x", "labels": m}})
}

fn parse_err(s: &str) -> String {
    let e = LabelSelector::parse(s).unwrap_err();
    assert_eq!(e.code, 400);
    assert_eq!(e.reason, Some("BadRequest"));
    assert!(e.details.is_none());
    e.message
}

#[test]
fn label_selector_fixture_errors_are_exact() {
    for name in [
        "error-400-bad-label-selector.json",
        "error-400-bad-label-selector-value.json",
    ] {
        let selector = fixture_query(name, "labelSelector");
        assert_eq!(parse_err(&selector), fixture_message(name), "{selector}");
    }
    assert_eq!(
        parse_err("app in (web"),
        "unable to parse requirement: found '', expected: ',' or ')'"
    );
    assert_eq!(
        parse_err("a===b"),
        "unable to parse requirement: found '=', expected: identifier"
    );
}

#[test]
fn label_selector_general_error_texts() {
    assert_eq!(
        parse_err(",a"),
        "found ',', expected: !, identifier, or 'end of string'"
    );
    assert_eq!(parse_err("a,"), "found '', expected: identifier after ','");
    assert_eq!(
        parse_err("a=b c"),
        "found 'c', expected: ',' or 'end of string'"
    );
    assert_eq!(
        parse_err("a in b"),
        "unable to parse requirement: found 'b' expected: '('"
    );
    assert_eq!(
        parse_err("a in (=)"),
        "unable to parse requirement: found '=', expected: ',', ')' or identifier"
    );
    assert_eq!(
        parse_err("a in (b,=)"),
        "unable to parse requirement: found '=', expected: ',', or identifier"
    );
    assert_eq!(
        parse_err("a b"),
        "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
    );
    assert_eq!(
        parse_err("!"),
        "unable to parse requirement: found '', expected: identifier"
    );
    assert_eq!(
        parse_err("a>x"),
        "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer"
    );
}

#[test]
fn label_selector_validation_messages() {
    assert_eq!(
        parse_err("-a=b"),
        "unable to parse requirement: <nil>: Invalid value: \"-a\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
    );
    assert_eq!(
        parse_err("Example.com/a=b"),
        "unable to parse requirement: <nil>: Invalid value: \"Example.com/a\": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    );
    assert_eq!(
        parse_err("a/b/c"),
        "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
    );
    let long = "k".repeat(64);
    assert_eq!(
        parse_err(&long),
        format!(
            "unable to parse requirement: <nil>: Invalid value: \"{long}\": name part must be no more than 63 bytes"
        )
    );
    assert_eq!(
        parse_err("/a"),
        "unable to parse requirement: <nil>: Invalid value: \"/a\": prefix part must be non-empty"
    );
    assert_eq!(
        parse_err("a=-b"),
        "unable to parse requirement: values[0][a]: Invalid value: \"-b\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
    );
    let long_value = "v".repeat(64);
    assert_eq!(
        parse_err(&format!("a={long_value}")),
        format!(
            "unable to parse requirement: values[0][a]: Invalid value: \"{long_value}\": must be no more than 63 bytes"
        )
    );
    // Two bad values: sorted, aggregated in brackets.
    assert_eq!(
        parse_err("a in (z-,-b)"),
        "unable to parse requirement: [values[0][a]: Invalid value: \"-b\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?'), values[1][a]: Invalid value: \"z-\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')]"
    );
    assert!(parse_err("a=\u{e9}").contains("Invalid value: \"\u{e9}\""));
}

#[test]
fn label_selector_operators_match() {
    let web = labels(&[("app", "web"), ("tier", "fe")]);
    let db = labels(&[("app", "db")]);
    let none = json!({"metadata": {"name": "n"}});
    let check = |s: &str, obj: &Value| LabelSelector::parse(s).unwrap().matches(obj);

    assert!(check("app=web", &web));
    assert!(check("app==web", &web));
    assert!(!check("app=web", &db));
    assert!(check("app!=web", &db));
    assert!(
        check("app!=web", &none),
        "!= matches objects without the key"
    );
    assert!(check("app in (web,api)", &web));
    assert!(!check("app in (web,api)", &db));
    assert!(!check("app in (web,api)", &none));
    assert!(check("app notin (web)", &db));
    assert!(
        check("app notin (web)", &none),
        "notin matches objects without the key"
    );
    assert!(check("tier", &web));
    assert!(!check("tier", &db));
    assert!(check("!tier", &db));
    assert!(!check("!tier", &web));
    assert!(check("app=web,tier=fe", &web));
    assert!(!check("app=web,tier=be", &web));
    assert!(
        check("  app = web ,  tier  ", &web),
        "whitespace is tolerated"
    );
    assert!(check("app\tin\t(web)", &web));
    assert!(check("", &none));
    assert!(check("app=", &labels(&[("app", "")])));
    assert!(!check("app=", &web));
    assert!(
        check("in in (in)", &labels(&[("in", "in")])),
        "keywords as key and value"
    );
    assert!(check("n>3", &labels(&[("n", "5")])));
    assert!(!check("n>3", &labels(&[("n", "2")])));
    assert!(check("n<3", &labels(&[("n", "2")])));
    assert!(!check("n<3", &labels(&[("n", "x")])));
    assert!(check("app in (,web)", &labels(&[("app", "")])));
    assert!(check("app in ()", &labels(&[("app", "")])));
    assert!(check(
        "example.com/app=web",
        &labels(&[("example.com/app", "web")])
    ));
}

#[test]
fn label_selector_parsed_structure() {
    let sel = LabelSelector::parse("z=1,a in (c,b,c),!m").unwrap();
    let keys: Vec<&str> = sel.requirements().iter().map(Requirement::key).collect();
    assert_eq!(keys, ["a", "m", "z"], "sorted by key");
    assert_eq!(sel.requirements()[0].values(), ["b", "c"]);
    assert_eq!(sel.requirements()[0].operator(), Operator::In);
    assert_eq!(sel.requirements()[1].operator(), Operator::DoesNotExist);
    assert!(!sel.is_empty());
    assert!(LabelSelector::parse("").unwrap().is_empty());
    assert!(LabelSelector::parse("   ").unwrap().is_empty());
}

#[test]
fn label_selector_from_object() {
    let sel = LabelSelector::from_object(&json!({
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["fe", "be"]},
            {"key": "legacy", "operator": "DoesNotExist"},
            {"key": "zone", "operator": "Exists"},
            {"key": "track", "operator": "NotIn", "values": ["canary"]}
        ]
    }))
    .unwrap();
    let good = labels(&[("app", "web"), ("tier", "fe"), ("zone", "a")]);
    assert!(sel.matches(&good));
    assert!(!sel.matches(&labels(&[("app", "web"), ("tier", "fe")])));
    assert!(!sel.matches(&labels(&[
        ("app", "web"),
        ("tier", "fe"),
        ("zone", "a"),
        ("legacy", "y")
    ])));
    assert!(!sel.matches(&labels(&[
        ("app", "web"),
        ("tier", "fe"),
        ("zone", "a"),
        ("track", "canary")
    ])));

    let everything = LabelSelector::from_object(&json!({})).unwrap();
    assert!(everything.is_empty());
    assert!(everything.matches(&json!({"metadata": {"name": "x"}})));
    let nothing = LabelSelector::from_object(&Value::Null).unwrap();
    assert!(nothing.matches_nothing());
    assert!(!nothing.is_empty());
    assert!(!nothing.matches(&good));

    assert_eq!(
        LabelSelector::from_object(&json!({"matchExpressions": [{"key": "a", "operator": "Foo"}]}))
            .unwrap_err(),
        "\"Foo\" is not a valid label selector operator"
    );
    assert_eq!(
        LabelSelector::from_object(
            &json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]})
        )
        .unwrap_err(),
        "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty"
    );
    assert_eq!(
        LabelSelector::from_object(
            &json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]})
        )
        .unwrap_err(),
        "values: Invalid value: []string{\"x\"}: values set must be empty for exists and does not exist"
    );
    assert!(
        LabelSelector::from_object(&json!({"matchLabels": {"-bad": "x"}}))
            .unwrap_err()
            .starts_with("key: Invalid value: \"-bad\": name part must consist")
    );
    assert!(LabelSelector::from_object(&json!({"matchLabels": {"a": 1}})).is_err());
    assert!(LabelSelector::from_object(&json!("a=b")).is_err());
}

#[test]
fn field_selector_fixture_errors_are_exact() {
    let cases: [(&str, &ResourceType); 7] = [
        (
            "error-400-fieldselector-daemonsets-unsupported.json",
            DAEMONSETS,
        ),
        (
            "error-400-fieldselector-namespaced-list-unsupported.json",
            PODS,
        ),
        ("error-400-fieldselector-no-operator.json", PODS),
        (
            "error-400-fieldselector-nodes-metadata-namespace.json",
            NODES,
        ),
        (
            "error-400-fieldselector-pods-unsupported-label-path.json",
            PODS,
        ),
        (
            "error-400-fieldselector-pods-unsupported-priorityclassname.json",
            PODS,
        ),
        (
            "error-400-fieldselector-pods-unsupported-status-hostip.json",
            PODS,
        ),
    ];
    for (name, rt) in cases {
        let selector = fixture_query(name, "fieldSelector");
        let err = FieldSelector::parse(rt, &selector).unwrap_err();
        assert_eq!(err.code, 400);
        assert_eq!(err.reason, Some("BadRequest"));
        assert!(err.details.is_none());
        assert_eq!(err.message, fixture_message(name), "{name}");
    }
}

#[test]
fn field_selector_error_texts() {
    let msg = |rt, s| FieldSelector::parse(rt, s).unwrap_err().message;
    assert_eq!(
        msg(PODS, "status.phase=Running,foo"),
        "invalid selector: 'status.phase=Running,foo'; can't understand 'foo'"
    );
    assert_eq!(
        msg(PODS, "spec.nodeName=a=b"),
        "invalid field selector: unescaped character in value: 61"
    );
    assert_eq!(
        msg(PODS, "spec.nodeName=a\\x"),
        "invalid field selector: invalid escape sequence: \\x"
    );
    assert_eq!(
        msg(NAMESPACES, "metadata.namespace=x"),
        "field label not supported: metadata.namespace"
    );
    assert_eq!(msg(EVENTS, "spec.x=y"), "field label not supported: spec.x");
    assert_eq!(
        msg(
            crate::resources::well_known::LEASES,
            "spec.holderIdentity=a"
        ),
        "\"spec.holderIdentity\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
    );
    // Unsupported terms are reported in sorted order, after every term parsed.
    assert_eq!(msg(PODS, "z.y=1,a.b=2"), "field label not supported: a.b");
}

fn pod(name: &str, ns: &str, node: Option<&str>, phase: &str) -> Value {
    let mut p = json!({
        "metadata": {"name": name, "namespace": ns},
        "spec": {"containers": []},
        "status": {"phase": phase}
    });
    if let Some(node) = node {
        p["spec"]["nodeName"] = json!(node);
    }
    p
}

#[test]
fn field_selector_matches_pods() {
    let a = pod("a", "default", Some("node-a"), "Running");
    let b = pod("b", "kube-system", Some("node-b"), "Succeeded");
    let unbound = pod("c", "default", None, "Pending");
    let check = |s: &str, p: &Value| FieldSelector::parse(PODS, s).unwrap().matches(p);

    assert!(check("spec.nodeName=node-a", &a));
    assert!(!check("spec.nodeName=node-a", &b));
    assert!(check("spec.nodeName==node-a", &a));
    assert!(check("spec.host=node-a", &a), "legacy spec.host");
    assert!(check("spec.nodeName=", &unbound), "unbound pods");
    assert!(!check("spec.nodeName=", &a));
    assert!(check("spec.nodeName!=", &a));
    assert!(check("status.phase!=Succeeded", &a));
    assert!(!check("status.phase!=Succeeded", &b));
    assert!(check(
        "spec.nodeName=node-a,status.phase!=Succeeded,status.phase!=Failed",
        &a
    ));
    assert!(!check("spec.nodeName=node-a,status.phase=Pending", &a));
    assert!(check("metadata.name=b", &b));
    assert!(check("metadata.namespace=kube-system", &b));
    assert!(
        check("spec.hostNetwork=false", &a),
        "missing bool reads false"
    );
    assert!(!check("spec.hostNetwork=true", &a));
    let mut host = a.clone();
    host["spec"]["hostNetwork"] = json!(true);
    assert!(check("spec.hostNetwork=true", &host));
    assert!(check("spec.schedulerName=", &a));
    assert!(check("", &a));
    let mut ips = a.clone();
    ips["status"]["podIP"] = json!("10.0.0.1");
    ips["status"]["podIPs"] = json!([{"ip": "10.0.0.1"}, {"ip": "fd00::1"}]);
    assert!(check("status.podIP=10.0.0.1", &ips));
    assert!(check("status.podIPs=fd00::1", &ips));
    let mut escaped = a.clone();
    escaped["spec"]["nodeName"] = json!("x,y=z");
    assert!(check("spec.nodeName=x\\,y\\=z", &escaped));

    let sel = FieldSelector::parse(PODS, "spec.nodeName=node-a,status.phase!=Failed").unwrap();
    assert_eq!(sel.exact_match("spec.nodeName"), Some("node-a"));
    assert_eq!(sel.exact_match("status.phase"), None);
    assert_eq!(sel.terms().len(), 2);
    assert!(FieldSelector::parse(PODS, "").unwrap().is_empty());
}

#[test]
fn field_selector_matches_nodes_and_others() {
    let cordoned = json!({"metadata": {"name": "n1"}, "spec": {"unschedulable": true}});
    let open = json!({"metadata": {"name": "n2"}, "spec": {}});
    let node = |s: &str, n: &Value| FieldSelector::parse(NODES, s).unwrap().matches(n);
    assert!(
        node("spec.unschedulable=false", &open),
        "missing bool reads false"
    );
    assert!(!node("spec.unschedulable=false", &cordoned));
    assert!(node("spec.unschedulable=true", &cordoned));
    assert!(node("metadata.name=n2", &open));

    let ds = json!({"metadata": {"name": "kured", "namespace": "kube-system"}});
    let sel = FieldSelector::parse(DAEMONSETS, "metadata.name=kured").unwrap();
    assert!(sel.matches(&ds));
    let sel = FieldSelector::parse(DAEMONSETS, "metadata.namespace!=kube-system").unwrap();
    assert!(!sel.matches(&ds));

    let ev = json!({
        "metadata": {"name": "e", "namespace": "default"},
        "involvedObject": {"kind": "Node", "name": "n1"},
        "reason": "Rebooted",
        "source": {"component": "kured"},
        "type": "Normal"
    });
    let sel = FieldSelector::parse(
        EVENTS,
        "involvedObject.kind=Node,involvedObject.name=n1,reason=Rebooted,source=kured,type=Normal",
    )
    .unwrap();
    assert!(sel.matches(&ev));

    let ns = json!({"metadata": {"name": "default"}, "status": {"phase": "Active"}});
    assert!(
        FieldSelector::parse(NAMESPACES, "status.phase=Active")
            .unwrap()
            .matches(&ns)
    );
}

proptest! {
    #[test]
    fn arbitrary_label_selectors_never_panic(s in ".{0,40}") {
        let obj = labels(&[("a", "b"), ("in", "notin")]);
        if let Ok(sel) = LabelSelector::parse(&s) {
            let _ = sel.matches(&obj);
        }
    }

    #[test]
    fn selector_like_strings_never_panic(s in "[a-c!=(), <>\\\\/.\t-]{0,30}") {
        let obj = labels(&[("a", "b")]);
        if let Ok(sel) = LabelSelector::parse(&s) {
            let _ = sel.matches(&obj);
        }
        if let Ok(sel) = FieldSelector::parse(PODS, &s) {
            let _ = sel.matches(&obj);
        }
    }

    #[test]
    fn arbitrary_field_selectors_never_panic(s in ".{0,40}") {
        let obj = pod("a", "b", Some("c"), "Running");
        if let Ok(sel) = FieldSelector::parse(PODS, &s) {
            let _ = sel.matches(&obj);
        }
        let _ = FieldSelector::parse(DAEMONSETS, &s);
    }

    #[test]
    fn valid_equality_selectors_round_trip(
        key in "[a-z][a-z0-9]{0,10}",
        value in "[a-z0-9]{0,10}",
    ) {
        let sel = LabelSelector::parse(&format!("{key}={value}")).unwrap();
        prop_assert!(sel.matches(&labels(&[(&key, &value)])));
        let neg = LabelSelector::parse(&format!("{key}!={value}")).unwrap();
        prop_assert!(!neg.matches(&labels(&[(&key, &value)])));
    }
}

#[test]
fn event_field_labels_are_per_api_and_select_the_stored_fields() {
    // A stored (core/v1-shaped) Event, as both APIs select it.
    let ev = json!({"metadata": {"name": "e", "namespace": "default"},
        "involvedObject": {"kind": "Node", "name": "node-a", "uid": "u-1"},
        "reason": "Rebooting", "type": "Normal", "reportingComponent": "kured-rs"});
    for (rt, s) in [
        (
            EVENTS,
            "involvedObject.name=node-a,involvedObject.namespace=",
        ),
        (EVENTS, "reportingComponent=kured-rs,type=Normal"),
        (EVENTS_V1, "regarding.name=node-a,regarding.namespace="),
        (
            EVENTS_V1,
            "regarding.uid==u-1,reportingController=kured-rs,reason=Rebooting",
        ),
    ] {
        let sel = FieldSelector::parse(rt, s).unwrap();
        assert!(sel.matches(&ev), "{} {s}", rt.api_version());
    }
    assert!(
        !FieldSelector::parse(EVENTS_V1, "regarding.name=node-b")
            .unwrap()
            .matches(&ev)
    );
    assert!(
        !FieldSelector::parse(EVENTS_V1, "type!=Normal")
            .unwrap()
            .matches(&ev)
    );
    for (rt, label) in [
        (EVENTS_V1, "involvedObject.name"),
        (EVENTS_V1, "source"),
        (EVENTS_V1, "note"),
        (EVENTS_V1, "reportingInstance"),
        (EVENTS, "regarding.name"),
        (EVENTS, "note"),
        (EVENTS, "reportingController"),
    ] {
        let err = FieldSelector::parse(rt, &format!("{label}=x")).unwrap_err();
        assert_eq!(err.code, 400);
        assert_eq!(err.message, format!("field label not supported: {label}"));
    }
}
