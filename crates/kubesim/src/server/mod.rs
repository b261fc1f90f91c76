//! The HTTP API over the [`Store`](crate::store::Store): routing, discovery, CRUD, patch, watch,
//! and the glue to the crate's `eviction` and `deletion` modules.
//!
//! Every request goes through one handler ([`router`]) that classifies the path (as
//! kube-apiserver's `RequestInfoFactory` does, [`request_info`]), parses a resource request once
//! into an `ApiRequest` (verb, type, namespace, name, subresource, query, headers, body) and
//! dispatches it on verb and subresource to one handler module per verb. Behaviour follows the
//! recorded kube-apiserver v1.36.2 responses in `shared/k8s-reference/` (see the README's "Facts"):
//!
//! - errors are `Status` objects (`response::api_error_response`);
//! - lists carry `metadata.resourceVersion`, items without kind/apiVersion, `limit`/`continue`
//!   (an opaque base64url token holding the list resourceVersion and the last key, as the real
//!   server's), `remainingItemCount` only without selectors; `resourceVersionMatch=Exact` and
//!   continue tokens are served from a snapshot rebuilt from the store's event log (410 Expired
//!   once the log no longer reaches back);
//! - `Accept: …;as=Table;v=v1;g=meta.k8s.io` answers a `Table` (`crate::table`);
//!   `as=PartialObjectMetadata[List]` answers metadata only (kube-rs `get_metadata` /
//!   `list_metadata`; watches are always full objects);
//! - writes: the main resource ignores `.status`, `/status` ignores the spec; a pod's spec is
//!   immutable but for images, added tolerations and a few more fields (422, as the real
//!   server); a
//!   `metadata.resourceVersion` in a PUT body or in the result of a patch is a precondition
//!   (409 Conflict); after every write a normalisation step drops the empty/false values the
//!   real server omits (`spec.unschedulable: false`, empty `annotations`, …);
//! - `application/apply-patch+yaml` is accepted in its JSON form and applied as a JSON merge
//!   patch (no field ownership); a missing object is created by it;
//! - PUT without `metadata.resourceVersion` is an unconditional update, except for Leases and
//!   `PodDisruptionBudgets` (422 `must be specified for an update`, as their registry strategies
//!   say); a PUT to a missing Lease or Event creates it (201), other kinds answer 404;
//! - `dryRun` (query, or `dryRun` in a `DeleteOptions` body) runs every check and stores nothing,
//!   on create, update, patch, delete and eviction;
//! - unknown fields of create/update bodies and patch results, at any depth (`spec.bogus`),
//!   are dropped with a `Warning: 299 - "unknown field \"x\""` header (`fieldValidation=Warn`, the
//!   default), silently (`Ignore`), or rejected with 400 `strict decoding error` (`Strict`);
//! - Events are served through `core/v1` and `events.k8s.io/v1`: one stored object (core/v1
//!   shape, [`ResourceType::storage`](crate::resources::ResourceType::storage)), converted at
//!   this layer's edges ([`crate::event_conversion`]): bodies on the way in, objects, list
//!   items, watch events and Table objects on the way out; patches apply to the request's
//!   shape; field selectors use each API's own labels;
//! - request bodies are JSON; `application/yaml` is accepted only when the body is JSON (a YAML
//!   subset) — kubesim has no YAML parser.
//!
//! Modules: `routing` (paths and dispatch), `discovery` (version and API discovery documents),
//! `request_info` and `request` (what a request is), `query` (query strings), `body`, `unknown_fields` and `typed_fields` (decoding writes), `normalize`, `write`
//! (the shared update path), one module per verb (`get`, `list`, `create`, `update`,
//! `patch_object`, `delete`, `evict`, `watch`), the list machinery (`list_source`, `snapshot`,
//! `continue_token`, `list_options`, `selectors`, `list_item`) and `response`.

mod body;
mod continue_token;
mod create;
mod delete;
mod discovery;
mod evict;
mod get;
mod list;
mod list_item;
mod list_options;
mod list_source;
mod normalize;
mod patch_object;
mod query;
mod request;
mod request_info;
mod response;
mod routing;
mod selectors;
mod snapshot;
mod state;
mod typed_fields;
mod unknown_fields;
mod update;
mod watch;
mod write;

#[cfg(test)]
mod event_tests;
#[cfg(test)]
mod tests;

pub use request_info::{RequestInfo, request_info};
pub(crate) use response::api_error_response;
pub use routing::router;
pub use state::{ServerOptions, ServerState};
pub use watch::active_watches;
