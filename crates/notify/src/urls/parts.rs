//! Host, port and path parts of a notification URL.

use percent_encoding::percent_decode_str;
use url::Url;

use crate::error::{UrlProblem, UrlResult};

/// Percent-decodes a URL part (invalid UTF-8 becomes U+FFFD).
pub(crate) fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// `host[:port]` of a URL, checked to be usable in an `https://` URL later.
pub(crate) fn host_port(url: &Url) -> UrlResult<String> {
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or(UrlProblem::Missing("host"))?;
    let host = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    // The host is later used in an http(s) URL: check that it is a valid one now.
    if Url::parse(&format!("https://{host}/")).is_err() {
        return Err(UrlProblem::Malformed("host"));
    }
    Ok(host)
}

/// The non-empty path segments, percent-decoded.
pub(crate) fn path_parts(url: &Url) -> Vec<String> {
    url.path_segments()
        .map(|s| s.filter(|p| !p.is_empty()).map(decode).collect())
        .unwrap_or_default()
}

/// Path segments joined back into a prefix: `["a", "b"]` → `/a/b`, none → the empty string.
pub(crate) fn path_prefix(parts: &[String]) -> String {
    parts.iter().flat_map(|p| ["/", p.as_str()]).collect()
}

/// `None` for an absent or empty value.
pub(crate) fn nonempty(s: Option<String>) -> Option<String> {
    s.filter(|v| !v.is_empty())
}

/// The host (with `:port` when `with_port` and one is given) of a secret URL, for a redacted
/// display; empty when the text is not a URL.
pub(crate) fn shown_host(raw: &str, with_port: bool) -> String {
    let Ok(u) = Url::parse(raw) else {
        return String::new();
    };
    match (u.host_str(), u.port()) {
        (None, _) => String::new(),
        (Some(h), Some(p)) if with_port => format!("{h}:{p}"),
        (Some(h), _) => h.to_owned(),
    }
}
