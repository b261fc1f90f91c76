//! The HTTP request model the services build (one [`HttpCall`] per request) and the small
//! helpers they share for URLs and JSON bodies. Sending is [`crate::HttpNotifier`]'s job.

use reqwest::Method;
use serde_json::{Map, Value};
use url::Url;

use crate::message::Message;

/// What a request's success looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// Any 2xx.
    Status,
    /// 2xx and a JSON body with `"ok": true` (Slack Web API).
    SlackOk,
}

/// A request body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    /// `application/json` (unless a content type header is given).
    Json(Value),
    /// Raw text.
    Text(String),
}

/// One HTTP request to make.
#[derive(Debug, Clone)]
pub(crate) struct HttpCall {
    pub method: Method,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub basic_auth: Option<(String, String)>,
    pub bearer: Option<String>,
    pub body: Body,
    pub check: Check,
}

impl HttpCall {
    /// A POST of a JSON body, successful on any 2xx.
    pub(crate) fn post_json(url: Url, body: Value) -> Self {
        Self {
            method: Method::POST,
            url,
            headers: Vec::new(),
            basic_auth: None,
            bearer: None,
            body: Body::Json(body),
            check: Check::Status,
        }
    }

    /// The same request with `Authorization: Bearer <token>`.
    pub(crate) fn with_bearer(mut self, token: &str) -> Self {
        self.bearer = Some(token.to_owned());
        self
    }
}

/// `base` (`scheme://host[/prefix]`, validated at parse time) plus path segments, each
/// percent-encoded, so a token can never change the host, query or fragment.
pub(crate) fn endpoint(base: &str, segments: &[&str]) -> Url {
    let mut u = fixed_url(base);
    if let Ok(mut path) = u.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    u
}

/// A URL formatted from parts that were validated as a URL at parse time.
pub(crate) fn fixed_url(s: &str) -> Url {
    Url::parse(s)
        .unwrap_or_else(|_| Url::parse("https://invalid.invalid/").expect("constant URL is valid"))
}

/// `http` when TLS is disabled, else `https`.
pub(crate) fn http_scheme(disable_tls: bool) -> &'static str {
    if disable_tls { "http" } else { "https" }
}

/// The title to show: the service's own (from its URL) or else the message's.
pub(crate) fn title<'a>(own: Option<&'a str>, msg: &'a Message) -> Option<&'a str> {
    own.or(msg.title.as_deref())
}

/// The text with a non-empty title on a line of its own before it, wrapped in `bold`.
pub(crate) fn titled(title: Option<&str>, text: &str, bold: &str) -> String {
    match title {
        Some(t) if !t.is_empty() => format!("{bold}{t}{bold}\n{text}"),
        _ => text.to_owned(),
    }
}

/// The first line of a text (empty for an empty text).
pub(crate) fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// A JSON object built field by field; optional fields are left out when absent.
#[derive(Debug, Default)]
pub(crate) struct JsonBody(Map<String, Value>);

impl JsonBody {
    /// An empty object.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Sets `key`.
    pub(crate) fn set(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.insert(key.to_owned(), value.into());
        self
    }

    /// Sets `key` when `value` is given.
    pub(crate) fn opt(self, key: &str, value: Option<impl Into<Value>>) -> Self {
        match value {
            Some(v) => self.set(key, v),
            None => self,
        }
    }

    /// Sets `key` when `condition` holds.
    pub(crate) fn set_if(self, condition: bool, key: &str, value: impl Into<Value>) -> Self {
        if condition {
            self.set(key, value)
        } else {
            self
        }
    }

    /// The object.
    pub(crate) fn build(self) -> Value {
        Value::Object(self.0)
    }
}
