//! `Status` errors shaped exactly as kube-apiserver shapes them (see
//! `shared/k8s-reference/README.md`, "Errors and Status").

use serde_json::{Map, Value, json};

use crate::resources::ResourceType;

/// An API error: HTTP status plus the `Status` object the real server sends.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status code (equals `Status.code`).
    pub code: u16,
    /// `Status.reason`; `None` where the real server omits it (500 multiple PDBs).
    pub reason: Option<&'static str>,
    /// `Status.message`.
    pub message: String,
    /// `Status.details`; `None` where the real server omits the key.
    pub details: Option<Value>,
    /// Extra response headers (e.g. `Retry-After`).
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    /// A new error with no details.
    pub fn new(code: u16, reason: Option<&'static str>, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
            headers: Vec::new(),
        }
    }

    /// Sets `details`.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The `Status` body, keys in the real server's order.
    pub fn to_status(&self) -> Value {
        let mut m = Map::new();
        m.insert("kind".into(), json!("Status"));
        m.insert("apiVersion".into(), json!("v1"));
        m.insert("metadata".into(), json!({}));
        m.insert("status".into(), json!("Failure"));
        m.insert("message".into(), json!(self.message));
        if let Some(reason) = self.reason {
            m.insert("reason".into(), json!(reason));
        }
        if let Some(details) = &self.details {
            m.insert("details".into(), details.clone());
        }
        m.insert("code".into(), json!(self.code));
        Value::Object(m)
    }

    /// `details` for `NotFound` / `AlreadyExists` / `Conflict` / `Forbidden`: name, group (omitted for
    /// core), kind = plural resource.
    pub fn name_details(rt: &ResourceType, name: &str) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), json!(name));
        if !rt.group.is_empty() {
            m.insert("group".into(), json!(rt.group));
        }
        m.insert("kind".into(), json!(rt.plural));
        Value::Object(m)
    }

    /// 404 `<plural>[.group] "name" not found`.
    pub fn not_found(rt: &ResourceType, name: &str) -> Self {
        Self::new(
            404,
            Some("NotFound"),
            format!("{} \"{name}\" not found", rt.qualified_plural()),
        )
        .with_details(Self::name_details(rt, name))
    }

    /// 409 `<plural> "name" already exists`.
    pub fn already_exists(rt: &ResourceType, name: &str) -> Self {
        Self::new(
            409,
            Some("AlreadyExists"),
            format!("{} \"{name}\" already exists", rt.qualified_plural()),
        )
        .with_details(Self::name_details(rt, name))
    }

    /// 409 optimistic-concurrency conflict of an update or patch.
    pub fn conflict(rt: &ResourceType, name: &str) -> Self {
        Self::new(
            409,
            Some("Conflict"),
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                rt.qualified_plural()
            ),
        )
        .with_details(Self::name_details(rt, name))
    }

    /// 400 `BadRequest` without details.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, Some("BadRequest"), message)
    }

    /// 405 `MethodNotAllowed` with empty details.
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            Some("MethodNotAllowed"),
            "the server does not allow this method on the requested resource",
        )
        .with_details(json!({}))
    }

    /// 422 for any JSON-patch failure: generic message, empty details.
    pub fn json_patch_failed() -> Self {
        Self::new(
            422,
            Some("Invalid"),
            "the server rejected our request due to an error in our request",
        )
        .with_details(json!({}))
    }

    /// 500 `InternalError` (also used by fault injection).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, Some("InternalError"), message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::well_known::{DAEMONSETS, PODS};

    #[test]
    fn not_found_matches_the_recorded_shape() {
        let e = ApiError::not_found(DAEMONSETS, "x").to_status();
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"daemonsets.apps \"x\" not found","reason":"NotFound","details":{"name":"x","group":"apps","kind":"daemonsets"},"code":404}"#
        );
        let e = ApiError::not_found(PODS, "p").to_status();
        assert_eq!(e["details"], json!({"name":"p","kind":"pods"}));
    }
}
