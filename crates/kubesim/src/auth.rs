//! Optional bearer-token authentication with per-token allow lists, so a test can prove that a
//! shipped RBAC role is sufficient.
//!
//! - A missing or unknown `Authorization: Bearer` token → `401 Unauthorized` exactly as the
//!   fixture `error-401-unauthorized-bad-token.json`.
//! - Every known token maps to a user and either "everything" or a list of allowed
//!   `(verb, resource[/subresource])` rules (`*` is a wildcard for either part, `pods/*` for
//!   every subresource of pods); a resource qualified with its API group
//!   (`events.events.k8s.io`) names that group only, an unqualified one every group. A request outside the list → `403 Forbidden` with the real
//!   server's message and details (fixtures `error-403-*.json`).
//! - Discovery and other non-resource URLs (`/version`, `/api`, `/apis/…`, `/healthz`) are
//!   allowed for every authenticated user (fixture `discovery-allowed-for-limited-user.json`).
//!
//! kubesim serves plain HTTP, and `kubectl` (client-go's clientcmd) sends no credentials to a
//! non-TLS server: with authentication on, use kube-rs clients
//! (`RunningCluster::client_with_token`).
//!
//! ```
//! use kubesim::auth::AuthConfig;
//! let auth = AuthConfig::new()
//!     .admin("admin-token", "admin")
//!     .user("kured-token", "system:serviceaccount:kube-system:kured", &[
//!         ("get", "nodes"), ("patch", "nodes"), ("list", "pods"), ("create", "pods/eviction"),
//!     ]);
//! assert_eq!(auth.user_of("kured-token"), Some("system:serviceaccount:kube-system:kured"));
//! ```

// Kubernetes kind names (DaemonSet, PodDisruptionBudget, …) read better unquoted in prose.
#![allow(clippy::doc_markdown)]
// `ApiError` (the crate-wide error type, ~144 bytes) is returned unboxed everywhere.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Map, Value, json};

use crate::errors::ApiError;
use crate::server::{RequestInfo, api_error_response, request_info};

/// One allow rule: a verb and a resource (`pods`, `pods/eviction`, `pods/*`, `*`), optionally
/// qualified with its API group (`events.events.k8s.io`, `daemonsets.apps/status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`, `*`.
    pub verb: String,
    /// Plural resource name, optionally `.group`-qualified, optionally with `/subresource`;
    /// `*` for all.
    pub resource: String,
}

impl Rule {
    /// Whether the rule allows `verb` on `resource` (`plural[/sub]`) of API group `group`. A
    /// rule resource qualified with a group (`events.events.k8s.io`, `daemonsets.apps/status`,
    /// as `kubectl create role --resource` writes them) names that group only; an unqualified
    /// one names the resource in every group.
    fn allows(&self, verb: &str, resource: &str, group: &str) -> bool {
        let verb_ok = self.verb == "*" || self.verb == verb;
        let (base, sub) = match self.resource.split_once('/') {
            Some((b, s)) => (b, Some(s)),
            None => (self.resource.as_str(), None),
        };
        let (plural, group_ok) = match base.split_once('.') {
            Some((p, g)) => (p, g == group),
            None => (base, true),
        };
        let rule = match sub {
            Some(s) => format!("{plural}/{s}"),
            None => plural.to_string(),
        };
        let res_ok = rule == "*"
            || rule == resource
            || rule
                .strip_suffix("/*")
                .is_some_and(|b| resource.split_once('/').is_some_and(|(r, _)| r == b));
        verb_ok && group_ok && res_ok
    }
}

#[derive(Debug, Clone)]
struct User {
    name: String,
    /// `None`: everything is allowed.
    rules: Option<Vec<Rule>>,
}

/// Tokens, users and their rules.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    tokens: HashMap<String, User>,
}

impl AuthConfig {
    /// No tokens yet (every request would be 401).
    pub fn new() -> Self {
        Self::default()
    }

    /// A token for `user` that may do everything.
    pub fn admin(mut self, token: impl Into<String>, user: impl Into<String>) -> Self {
        self.tokens.insert(
            token.into(),
            User {
                name: user.into(),
                rules: None,
            },
        );
        self
    }

    /// A token for `user` allowed exactly the `(verb, resource)` pairs in `rules`.
    pub fn user(
        mut self,
        token: impl Into<String>,
        user: impl Into<String>,
        rules: &[(&str, &str)],
    ) -> Self {
        let rules = rules
            .iter()
            .map(|(v, r)| Rule {
                verb: (*v).to_string(),
                resource: (*r).to_string(),
            })
            .collect();
        self.tokens.insert(
            token.into(),
            User {
                name: user.into(),
                rules: Some(rules),
            },
        );
        self
    }

    /// The user a token authenticates as.
    pub fn user_of(&self, token: &str) -> Option<&str> {
        self.tokens.get(token).map(|u| u.name.as_str())
    }

    /// Any one token (the first admin token if there is one), for building clients.
    pub fn any_admin_token(&self) -> Option<&str> {
        self.tokens
            .iter()
            .filter(|(_, u)| u.rules.is_none())
            .map(|(t, _)| t.as_str())
            .min()
    }

    /// Authenticates and authorizes one request.
    pub fn check(&self, bearer: Option<&str>, info: &RequestInfo) -> Result<(), ApiError> {
        let user = bearer
            .and_then(|t| self.tokens.get(t))
            .ok_or_else(unauthorized)?;
        let Some(rules) = &user.rules else {
            return Ok(());
        };
        let Some(plural) = info.resource_name.as_deref() else {
            // Non-resource URL (discovery, /version, /healthz).
            return Ok(());
        };
        let resource = match &info.subresource {
            Some(sub) => format!("{plural}/{sub}"),
            None => plural.to_string(),
        };
        let group = info.group.as_deref().unwrap_or_default();
        if rules.iter().any(|r| r.allows(&info.verb, &resource, group)) {
            return Ok(());
        }
        Err(forbidden(&user.name, info, plural, &resource))
    }
}

/// 401 as the real server sends it: no details.
pub fn unauthorized() -> ApiError {
    ApiError::new(401, Some("Unauthorized"), "Unauthorized")
}

/// 403 with the real server's message and details.
fn forbidden(user: &str, info: &RequestInfo, plural: &str, resource: &str) -> ApiError {
    let group = info.group.clone().unwrap_or_default();
    let qualified = if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    };
    let subject = match &info.name {
        Some(name) => format!("{qualified} \"{name}\""),
        None => qualified,
    };
    let scope = match &info.namespace {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".to_string(),
    };
    let message = format!(
        "{subject} is forbidden: User \"{user}\" cannot {} resource \"{resource}\" in API group \"{group}\" {scope}",
        info.verb
    );
    let mut details = Map::new();
    if let Some(name) = &info.name {
        details.insert("name".into(), json!(name));
    }
    if !group.is_empty() {
        details.insert("group".into(), json!(group));
    }
    details.insert("kind".into(), json!(plural));
    ApiError::new(403, Some("Forbidden"), message).with_details(Value::Object(details))
}

fn bearer(req: &Request) -> Option<&str> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The axum middleware (use with `axum::middleware::from_fn_with_state(auth, auth_layer)`).
pub async fn auth_layer(State(auth): State<Arc<AuthConfig>>, req: Request, next: Next) -> Response {
    let info = request_info(req.method(), req.uri());
    match auth.check(bearer(&req), &info) {
        Ok(()) => next.run(req).await,
        Err(e) => api_error_response(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{Method, Uri};

    fn info(method: &Method, uri: &str) -> RequestInfo {
        request_info(method, &uri.parse::<Uri>().unwrap())
    }

    fn limited() -> AuthConfig {
        AuthConfig::new().admin("a", "admin").user(
            "l",
            "limited",
            &[("get", "nodes"), ("list", "pods")],
        )
    }

    #[test]
    fn unknown_or_missing_token_is_401_as_recorded() {
        let auth = limited();
        let err = auth
            .check(Some("nope"), &info(&Method::GET, "/api/v1/nodes"))
            .unwrap_err();
        assert_eq!(
            serde_json::to_string(&err.to_status()).unwrap(),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#
        );
        assert_eq!(
            auth.check(None, &info(&Method::GET, "/api"))
                .unwrap_err()
                .code,
            401
        );
        assert!(
            auth.check(Some("a"), &info(&Method::DELETE, "/api/v1/nodes/x"))
                .is_ok()
        );
    }

    #[test]
    fn forbidden_messages_match_the_fixtures() {
        let auth = AuthConfig::new().user("l", "limited", &[]);
        let cases = [
            (
                Method::GET,
                "/api/v1/nodes",
                r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"nodes is forbidden: User \"limited\" cannot list resource \"nodes\" in API group \"\" at the cluster scope","reason":"Forbidden","details":{"kind":"nodes"},"code":403}"#,
            ),
            (
                Method::GET,
                "/api/v1/namespaces/default/pods/solo-1",
                r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"solo-1\" is forbidden: User \"limited\" cannot get resource \"pods\" in API group \"\" in the namespace \"default\"","reason":"Forbidden","details":{"name":"solo-1","kind":"pods"},"code":403}"#,
            ),
            (
                Method::POST,
                "/api/v1/namespaces/default/pods/solo-1/eviction",
                r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"solo-1\" is forbidden: User \"limited\" cannot create resource \"pods/eviction\" in API group \"\" in the namespace \"default\"","reason":"Forbidden","details":{"name":"solo-1","kind":"pods"},"code":403}"#,
            ),
            (
                Method::PATCH,
                "/apis/apps/v1/namespaces/kube-system/daemonsets/kured",
                r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"daemonsets.apps \"kured\" is forbidden: User \"limited\" cannot patch resource \"daemonsets\" in API group \"apps\" in the namespace \"kube-system\"","reason":"Forbidden","details":{"name":"kured","group":"apps","kind":"daemonsets"},"code":403}"#,
            ),
        ];
        for (m, uri, want) in cases {
            let err = auth.check(Some("l"), &info(&m, uri)).unwrap_err();
            assert_eq!(
                serde_json::to_string(&err.to_status()).unwrap(),
                want,
                "{uri}"
            );
        }
        // Discovery is allowed for everyone authenticated.
        for uri in ["/api", "/api/v1", "/apis", "/apis/apps/v1", "/version"] {
            assert!(
                auth.check(Some("l"), &info(&Method::GET, uri)).is_ok(),
                "{uri}"
            );
        }
    }

    #[test]
    fn rules_allow_exactly_what_they_name() {
        let auth = AuthConfig::new().user(
            "l",
            "u",
            &[("get", "nodes"), ("create", "pods/*"), ("*", "leases")],
        );
        assert!(
            auth.check(Some("l"), &info(&Method::GET, "/api/v1/nodes/n"))
                .is_ok()
        );
        assert!(
            auth.check(Some("l"), &info(&Method::GET, "/api/v1/nodes"))
                .is_err()
        );
        assert!(
            auth.check(
                Some("l"),
                &info(&Method::POST, "/api/v1/namespaces/d/pods/p/eviction")
            )
            .is_ok()
        );
        assert!(
            auth.check(Some("l"), &info(&Method::POST, "/api/v1/namespaces/d/pods"))
                .is_err()
        );
        assert!(
            auth.check(
                Some("l"),
                &info(
                    &Method::DELETE,
                    "/apis/coordination.k8s.io/v1/namespaces/d/leases/x"
                )
            )
            .is_ok()
        );
        assert!(
            auth.check(Some("l"), &info(&Method::GET, "/api/v1/watch/nodes"))
                .is_err()
        );
    }

    #[test]
    fn group_qualified_rules_name_one_api_group() {
        let auth = AuthConfig::new().user(
            "l",
            "u",
            &[("create", "events.events.k8s.io"), ("patch", "events")],
        );
        let v1 = "/apis/events.k8s.io/v1/namespaces/default/events";
        let core = "/api/v1/namespaces/default/events";
        assert!(auth.check(Some("l"), &info(&Method::POST, v1)).is_ok());
        let e = auth
            .check(Some("l"), &info(&Method::POST, core))
            .unwrap_err();
        assert_eq!(e.code, 403);
        assert_eq!(
            e.message,
            "events is forbidden: User \"u\" cannot create resource \"events\" in API group \"\" in the namespace \"default\""
        );
        // Unqualified: every group.
        for path in [v1, core] {
            assert!(
                auth.check(Some("l"), &info(&Method::PATCH, &format!("{path}/e.1")))
                    .is_ok()
            );
        }
    }
}
