//! Query strings: form decoding into `key=value` pairs, and the list/watch parameters.

use crate::errors::ApiError;

/// The list/watch query parameters (`?labelSelector=…&watch=true…`), unparsed values.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// `labelSelector`
    pub label_selector: Option<String>,
    /// `fieldSelector`
    pub field_selector: Option<String>,
    /// `resourceVersion`
    pub resource_version: Option<String>,
    /// `resourceVersionMatch`
    pub resource_version_match: Option<String>,
    /// `limit`
    pub limit: Option<usize>,
    /// `continue`
    pub continue_token: Option<String>,
    /// `watch` (true for `watch=true` or `watch=1`)
    pub watch: bool,
    /// `timeoutSeconds`
    pub timeout_seconds: Option<u64>,
    /// `allowWatchBookmarks`
    pub allow_watch_bookmarks: bool,
    /// `sendInitialEvents`
    pub send_initial_events: Option<bool>,
}

/// Decoded `key=value` pairs of a query string (`+` is a space, `%XX` escapes decoded).
pub(crate) fn parse_query(query: Option<&str>) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        percent_encoding::percent_decode_str(&s)
            .decode_utf8_lossy()
            .into_owned()
    };
    query
        .unwrap_or_default()
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(kv), String::new()),
        })
        .collect()
}

/// The value of the first `key` pair.
pub(crate) fn query_get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Whether a query value is one of Go's `strconv.ParseBool` spellings of true.
pub(crate) fn is_true(v: Option<&str>) -> bool {
    matches!(v, Some("true" | "1" | "True" | "TRUE"))
}

impl ListQuery {
    /// Reads the list/watch parameters from decoded query pairs.
    pub(crate) fn from_pairs(pairs: &[(String, String)]) -> Result<Self, ApiError> {
        let get = |k: &str| query_get(pairs, k).map(str::to_string);
        let limit = match query_get(pairs, "limit") {
            None | Some("") => None,
            Some(v) => Some(
                v.parse::<usize>()
                    .map_err(|_| ApiError::bad_request(format!("invalid value for limit: {v}")))?,
            ),
        };
        let timeout_seconds = match query_get(pairs, "timeoutSeconds") {
            None | Some("") => None,
            Some(v) => Some(v.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!("invalid value for timeoutSeconds: {v}"))
            })?),
        };
        Ok(Self {
            label_selector: get("labelSelector"),
            field_selector: get("fieldSelector"),
            resource_version: get("resourceVersion").filter(|s| !s.is_empty()),
            resource_version_match: get("resourceVersionMatch").filter(|s| !s.is_empty()),
            limit: limit.filter(|l| *l > 0),
            continue_token: get("continue").filter(|s| !s.is_empty()),
            watch: is_true(query_get(pairs, "watch")),
            timeout_seconds,
            allow_watch_bookmarks: is_true(query_get(pairs, "allowWatchBookmarks")),
            send_initial_events: query_get(pairs, "sendInitialEvents").map(|v| is_true(Some(v))),
        })
    }
}
