//! The recorded fixtures and the library of objects they show.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kubesim::store::object_key;
use kubesim::{event_conversion, resources};
use serde_json::Value;

// Fixtures and the object library

#[derive(Debug, Clone)]
pub(crate) struct Fixture {
    pub(crate) name: String,
    pub(crate) request: Value,
    pub(crate) response: Value,
}

pub(crate) fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/k8s-reference")
}

pub(crate) fn load_fixtures() -> Vec<Fixture> {
    let dir = fixtures_dir();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("fixtures directory {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| Path::new(n).extension().is_some_and(|e| e == "json"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let text = std::fs::read_to_string(dir.join(&name)).unwrap();
            let v: Value = serde_json::from_str(&text).unwrap();
            Fixture {
                name: name.trim_end_matches(".json").to_string(),
                request: v["request"].clone(),
                response: v["response"].clone(),
            }
        })
        .collect()
}

pub(crate) type Key = (String, String, String);

pub(crate) fn key_of(kind: &str, obj: &Value) -> Key {
    let (ns, name) = object_key(obj);
    (kind.to_string(), ns, name)
}

/// A stored-shape copy of a recorded object: no managedFields, no resourceVersion.
pub(crate) fn seedable(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o["metadata"].as_object_mut() {
        m.remove("managedFields");
        m.remove("resourceVersion");
    }
    o
}

/// Every object shown by any fixture, by (kind, namespace, name); Events in the core/v1 shape. GET fixtures win over
/// lists, which win over other responses.
pub(crate) struct Library {
    pub(crate) objects: BTreeMap<Key, Value>,
    pub(crate) fixtures: BTreeMap<String, Fixture>,
}

impl Library {
    pub(crate) fn build(fixtures: &[Fixture]) -> Self {
        let mut objects = BTreeMap::new();
        let passes: [&dyn Fn(&Fixture) -> bool; 3] = [
            &|f| f.request["method"] == "GET" && f.response["body"]["kind"] != "Status",
            &|f| f.response["body"]["items"].is_array(),
            &|_| true,
        ];
        for pass in passes {
            for f in fixtures.iter().filter(|f| pass(f)) {
                let body = &f.response["body"];
                let mut found = Vec::new();
                if let Some(kind) = body["kind"].as_str() {
                    if resources::by_kind(kind).is_some() {
                        found.push((kind.to_string(), body.clone()));
                    } else if let Some(item_kind) = kind.strip_suffix("List")
                        && resources::by_kind(item_kind).is_some()
                    {
                        for item in body["items"].as_array().into_iter().flatten() {
                            found.push((item_kind.to_string(), item.clone()));
                        }
                    }
                }
                // Events are kept in their storage (core/v1) shape whichever API showed them,
                // so a seed of either API gets the same object.
                let from_events_v1 = body["apiVersion"] == "events.k8s.io/v1";
                for (kind, obj) in found {
                    let obj = if kind == "Event" && from_events_v1 {
                        event_conversion::to_core(&obj)
                    } else {
                        obj
                    };
                    objects
                        .entry(key_of(&kind, &obj))
                        .or_insert_with(|| seedable(&obj));
                }
            }
        }
        Self {
            objects,
            fixtures: fixtures
                .iter()
                .map(|f| (f.name.clone(), f.clone()))
                .collect(),
        }
    }

    pub(crate) fn get(&self, kind: &str, ns: &str, name: &str) -> Option<Value> {
        self.objects
            .get(&(kind.to_string(), ns.to_string(), name.to_string()))
            .cloned()
    }

    pub(crate) fn must(&self, kind: &str, ns: &str, name: &str) -> Value {
        self.get(kind, ns, name)
            .unwrap_or_else(|| panic!("no fixture shows {kind} {ns}/{name}"))
    }

    /// The response body object of another fixture, seedable.
    pub(crate) fn body_of(&self, fixture: &str) -> Value {
        seedable(&self.fixtures[fixture].response["body"])
    }

    /// The items of another fixture's list response, seedable.
    pub(crate) fn items_of(&self, fixture: &str) -> Vec<Value> {
        self.fixtures[fixture].response["body"]["items"]
            .as_array()
            .map(|a| a.iter().map(seedable).collect())
            .unwrap_or_default()
    }
}
