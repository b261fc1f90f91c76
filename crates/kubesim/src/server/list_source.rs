//! Where a list's items come from: the current state (or the store's node index for pods by
//! `spec.nodeName`), a snapshot at an exact resourceVersion, or a continue token's snapshot.

use std::sync::Arc;

use axum::response::Response;
use serde_json::Value;

use super::continue_token::{ContinueToken, continue_expired_response};
use super::list_options::{parse_rv, too_large_rv};
use super::query::ListQuery;
use super::request::ApiRequest;
use super::selectors::Selectors;
use super::snapshot::snapshot;
use crate::errors::ApiError;
use crate::resources::well_known;
use crate::store::Store;

/// Items (unfiltered, in key order), the list resourceVersion and the continue start key of a
/// list request; the inner `Err` is a ready 410 response for an expired continue token.
pub(crate) type ListSource = (Vec<Arc<Value>>, u64, Option<String>);

/// The items, list resourceVersion and continue start key of a list request.
pub(crate) fn list_source(
    store: &Store,
    req: &ApiRequest<'_>,
    q: &ListQuery,
    selectors: &Selectors,
) -> Result<Result<ListSource, Response>, ApiError> {
    let current = store.current_rv();
    // The current state; pods selected by `spec.nodeName=X` come from the store's index
    // (kubelets and drains ask for them all the time, and a scan of 50,000 pods is slow).
    let current_items = || match selectors.pod_node() {
        Some(node) if req.rt == well_known::PODS => {
            store.list_pods_on_node(req.ns.as_deref(), node, |_| true)
        }
        _ => store.list(req.rt, req.ns.as_deref(), |_| true),
    };
    let source = if let Some(token) = &q.continue_token {
        let token = ContinueToken::decode(token)?;
        if token.rv < 0 {
            let (items, rv) = current_items();
            (items, rv, Some(token.start))
        } else {
            let at = u64::try_from(token.rv).unwrap_or_default();
            let snap = if at < store.oldest_watchable_rv() {
                None
            } else {
                snapshot(store, req, at)
            };
            let Some(items) = snap else {
                return Ok(Err(continue_expired_response(&token.start)));
            };
            (items, at, Some(token.start.clone()))
        }
    } else {
        match (
            q.resource_version.as_deref(),
            q.resource_version_match.as_deref(),
        ) {
            (Some(rv), Some("Exact")) => {
                let at = parse_rv(rv)?;
                if at > current {
                    return Err(too_large_rv(at, current));
                }
                let gone = || {
                    ApiError::new(
                        410,
                        Some("Expired"),
                        "The resourceVersion for the provided list is too old.",
                    )
                };
                if at < store.oldest_watchable_rv() {
                    return Err(gone());
                }
                let items = snapshot(store, req, at).ok_or_else(gone)?;
                (items, at, None)
            }
            (Some(rv), _) if rv != "0" => {
                let at = parse_rv(rv)?;
                if at > current {
                    return Err(too_large_rv(at, current));
                }
                let (items, rv) = current_items();
                (items, rv, None)
            }
            _ => {
                let (items, rv) = current_items();
                (items, rv, None)
            }
        }
    };
    Ok(Ok(source))
}
