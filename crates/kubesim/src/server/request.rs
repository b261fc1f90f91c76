//! One resource request, parsed once by the router and handed to every handler.

use axum::http::{HeaderMap, HeaderValue, header};

use super::query::{ListQuery, query_get};
use crate::errors::ApiError;
use crate::resources::ResourceType;

/// A request for a served resource type: what the path, query, headers and body say.
#[derive(Debug, Clone)]
pub(crate) struct ApiRequest<'a> {
    /// The RBAC verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`; else the lowercase HTTP method).
    pub verb: String,
    /// The resource type the path names.
    pub rt: &'static ResourceType,
    /// Namespace for namespaced types (`None` = all namespaces); always `""` for cluster ones.
    pub ns: Option<String>,
    /// The object name in the path.
    pub name: Option<String>,
    /// The subresource in the path (`status`, `eviction`).
    pub subresource: Option<String>,
    /// The decoded query parameters.
    pub query: Vec<(String, String)>,
    /// The request headers (`Content-Type`, `Accept`).
    pub headers: &'a HeaderMap,
    /// The request body.
    pub body: &'a [u8],
}

impl<'a> ApiRequest<'a> {
    /// The namespace, `""` for an all-namespaces request.
    pub fn ns(&self) -> &str {
        self.ns.as_deref().unwrap_or_default()
    }

    /// The object name, `""` for a collection request.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    /// The value of query parameter `key`.
    pub fn param(&self, key: &str) -> Option<&str> {
        query_get(&self.query, key)
    }

    /// The list/watch parameters of the query.
    pub fn list_query(&self) -> Result<ListQuery, ApiError> {
        ListQuery::from_pairs(&self.query)
    }

    /// Whether the request asks for a dry run (`?dryRun=All`).
    pub fn is_dry_run(&self) -> bool {
        self.param("dryRun").is_some_and(|v| !v.is_empty())
    }

    /// The `Content-Type` header, when it is readable text.
    pub fn content_type(&self) -> Option<&str> {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
    }

    /// The same request with a JSON `body` (the create that a PUT or an apply patch of a
    /// missing object turns into).
    pub fn with_json_body<'b>(&self, headers: &'b mut HeaderMap, body: &'b [u8]) -> ApiRequest<'b>
    where
        'a: 'b,
    {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        ApiRequest {
            headers,
            body,
            ..self.clone()
        }
    }
}
