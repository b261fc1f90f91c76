//! `GET` of a collection: selection, pagination, and the list body in the representation the
//! `Accept` header asks for; `watch=true` hands over to [`super::watch`].

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::continue_token::ContinueToken;
use super::get::{partial_metadata, wants_partial_metadata};
use super::list_item::Item;
use super::list_options::validate_list_options;
use super::list_source::list_source;
use super::request::ApiRequest;
use super::response::{json_bytes_response, json_response};
use super::selectors::Selectors;
use super::snapshot::list_key;
use super::state::ServerState;
use super::watch;
use crate::errors::ApiError;
use crate::event_conversion;
use crate::table::{self, IncludeObject};

/// Answers a list (or, with `watch=true`, a watch): JSON, a `Table`, or
/// `PartialObjectMetadataList`, paginated by `limit`/`continue`.
pub(crate) fn list(state: &ServerState, req: &ApiRequest<'_>) -> Result<Response, ApiError> {
    let q = req.list_query()?;
    if q.watch {
        return Ok(watch::watch_response(
            state.clone(),
            req.rt,
            req.ns.clone(),
            q,
        ));
    }
    validate_list_options(&q)?;
    let selectors = Selectors::parse(req.rt, &q)?;
    let has_selectors = selectors.label.is_some() || selectors.field.is_some();
    let (items, list_rv, start) = match list_source(&state.store, req, &q, &selectors)? {
        Ok(source) => source,
        Err(expired) => return Ok(expired),
    };
    let mut selected: Vec<Arc<Value>> =
        items.into_iter().filter(|o| selectors.matches(o)).collect();
    if let Some(start) = start {
        let after = start.trim_end_matches('\u{0}').to_string();
        selected.retain(|o| list_key(req, o) > after);
    }
    let mut metadata = Map::new();
    metadata.insert("resourceVersion".into(), json!(list_rv.to_string()));
    if let Some(limit) = q.limit
        && selected.len() > limit
    {
        {
            let remaining = selected.len() - limit;
            selected.truncate(limit);
            let last = selected
                .last()
                .map(|o| list_key(req, o))
                .unwrap_or_default();
            let token = ContinueToken {
                rv: i64::try_from(list_rv).unwrap_or(i64::MAX),
                start: format!("{last}\u{0}"),
            };
            metadata.insert("continue".into(), json!(token.encode()));
            if !has_selectors {
                metadata.insert("remainingItemCount".into(), json!(remaining));
            }
        }
    }
    if table::wants_table(req.headers) {
        let include = IncludeObject::parse(req.param("includeObject"));
        let t = table::table(
            req.rt,
            selected.iter().map(AsRef::as_ref),
            Value::Object(metadata),
            include,
        );
        return Ok(json_response(StatusCode::OK, &t));
    }
    if wants_partial_metadata(req.headers) {
        let items: Vec<Value> = selected.iter().map(|o| partial_metadata(o)).collect();
        let list = json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": metadata,
            "items": items
        });
        return Ok(json_response(StatusCode::OK, &list));
    }
    // A view type (events.k8s.io events) lists its storage type's objects converted.
    let converted: Vec<Value> = if req.rt.is_view() {
        selected
            .iter()
            .map(|o| event_conversion::for_api(req.rt, o).into_owned())
            .collect()
    } else {
        Vec::new()
    };
    let items: Vec<Item<'_>> = if req.rt.is_view() {
        converted.iter().map(Item).collect()
    } else {
        selected.iter().map(|o| Item(o.as_ref())).collect()
    };
    let mut body = Vec::with_capacity(256 + selected.len() * 1024);
    let internal = |e: serde_json::Error| ApiError::internal(e.to_string());
    body.extend_from_slice(b"{\"kind\":");
    serde_json::to_writer(&mut body, &req.rt.list_kind()).map_err(internal)?;
    body.extend_from_slice(b",\"apiVersion\":");
    serde_json::to_writer(&mut body, &req.rt.api_version()).map_err(internal)?;
    body.extend_from_slice(b",\"metadata\":");
    serde_json::to_writer(&mut body, &metadata).map_err(internal)?;
    body.extend_from_slice(b",\"items\":");
    serde_json::to_writer(&mut body, &items).map_err(internal)?;
    body.push(b'}');
    Ok(json_bytes_response(StatusCode::OK, body))
}
