//! Generic webhooks: `generic://host/path?…` (https unless `disabletls=yes`),
//! `generic+https://…` and `generic+http://…`.

use std::fmt;

use reqwest::Method;
use reqwest::header::{HeaderName, HeaderValue};
use url::Url;

use crate::error::{UrlProblem, UrlResult};
use crate::message::Message;
use crate::request::{Body, Check, HttpCall, JsonBody, fixed_url, http_scheme, title};
use crate::secret::{REDACTED, Secret};
use crate::urls::{Query, decode, host_port, nonempty, shown_host, url_secrets};

use super::service::{RawUrl, Service};

/// `generic://host/path?…` (https unless `disabletls=yes`), `generic+https://…`, `generic+http://…`.
///
/// Without `template` the body is the raw message (shoutrrr's default); with `template=json` it is
/// `{"title": …, "message": …}` (keys renamable with `titlekey`/`messagekey`, extra fields with
/// `$key=value`). `@Name=value` adds a request header; other parameters are forwarded to the target
/// (prefix `_` to forward a reserved name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenericConfig {
    /// The target URL with the forwarded query, without userinfo.
    pub target: Secret,
    /// Basic-auth user from the URL.
    pub username: String,
    /// Basic-auth password from the URL.
    pub password: Secret,
    /// Content-Type header (default `application/json`).
    pub content_type: String,
    /// HTTP method (default POST).
    pub method: String,
    /// Send a JSON object instead of the raw message.
    pub json: bool,
    /// Key of the message in the JSON object.
    pub message_key: String,
    /// Key of the title in the JSON object.
    pub title_key: String,
    /// Fixed title.
    pub title: Option<String>,
    /// Extra JSON fields (`$key=value`).
    pub extra: Vec<(String, String)>,
    /// Extra headers (`@Name=value`); values are secrets (they are often tokens).
    pub headers: Vec<(String, Secret)>,
}

/// Query parameters the service reads itself; `_name` forwards one of them to the target.
const RESERVED: &[&str] = &[
    "contenttype",
    "disabletls",
    "template",
    "title",
    "messagekey",
    "titlekey",
    "method",
];

impl Service for GenericConfig {
    const NAME: &'static str = "generic";
    const SCHEMES: &'static [&'static str] = &["generic", "generic+http", "generic+https"];

    fn parse(raw: RawUrl<'_>) -> UrlResult<Self> {
        let rest = raw.rest;
        match raw.scheme {
            "generic+http" => parse_target(&format!("http://{rest}"), None),
            "generic+https" => parse_target(&format!("https://{rest}"), None),
            _ => {
                let mut q = Query::new(raw.url);
                let scheme = http_scheme(q.bool("disabletls", false)?);
                parse_target(&format!("{scheme}://{rest}"), Some(q.rest()))
            }
        }
    }

    fn fmt_redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = shown_host(self.target.expose(), true);
        write!(f, "generic://{host}/{REDACTED}")
    }

    fn secrets(&self) -> Vec<Secret> {
        let mut v = url_secrets(self.target.expose());
        v.extend(self.headers.iter().map(|(_, value)| value.clone()));
        v.push(self.password.clone());
        v
    }

    fn http_calls(&self, msg: &Message) -> Option<Vec<HttpCall>> {
        let body = if self.json {
            let mut map = JsonBody::new()
                .opt(&self.title_key, title(self.title.as_deref(), msg))
                .set(&self.message_key, msg.text.as_str());
            for (k, v) in &self.extra {
                map = map.set(k, v.as_str());
            }
            Body::Json(map.build())
        } else {
            Body::Text(msg.text.clone())
        };
        let mut headers = vec![("Content-Type".to_owned(), self.content_type.clone())];
        headers.extend(
            self.headers
                .iter()
                .map(|(k, v)| (k.clone(), v.expose().to_owned())),
        );
        let basic_auth = if self.username.is_empty() && self.password.is_empty() {
            None
        } else {
            Some((self.username.clone(), self.password.expose().to_owned()))
        };
        Some(vec![HttpCall {
            method: Method::from_bytes(self.method.as_bytes()).unwrap_or(Method::POST),
            url: fixed_url(self.target.expose()),
            headers,
            basic_auth,
            bearer: None,
            body,
            check: Check::Status,
        }])
    }
}

/// The parameters read so far while going through a generic URL's query.
struct Options {
    content_type: String,
    method: String,
    json: bool,
    message_key: String,
    title_key: String,
    title: Option<String>,
    extra: Vec<(String, String)>,
    headers: Vec<(String, Secret)>,
    forward: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            content_type: "application/json".to_owned(),
            method: "POST".to_owned(),
            json: false,
            message_key: "message".to_owned(),
            title_key: "title".to_owned(),
            title: None,
            extra: Vec::new(),
            headers: Vec::new(),
            forward: Vec::new(),
        }
    }
}

impl Options {
    /// Reads one query parameter: `@Header`, `$field`, a reserved name, or one to forward.
    fn read(&mut self, key: String, value: String) -> UrlResult<()> {
        if let Some(name) = key.strip_prefix('@') {
            if name.is_empty() || HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(UrlProblem::Malformed("header name in `@` parameter"));
            }
            if HeaderValue::from_str(&value).is_err() {
                return Err(UrlProblem::InvalidQueryValue {
                    key: key.clone(),
                    expected: "a valid header value",
                });
            }
            self.headers.push((name.to_owned(), Secret::new(value)));
            return Ok(());
        }
        if let Some(name) = key.strip_prefix('$') {
            if name.is_empty() {
                return Err(UrlProblem::Malformed("field name in `$` parameter"));
            }
            self.extra.push((name.to_owned(), value));
            return Ok(());
        }
        match key.to_ascii_lowercase().as_str() {
            "contenttype" => self.content_type = value,
            "disabletls" => {
                return Err(UrlProblem::InvalidQueryValue {
                    key,
                    expected: "absent with generic+http(s):// (the scheme decides)",
                });
            }
            "template" => match value.to_ascii_lowercase().as_str() {
                "" => self.json = false,
                "json" => self.json = true,
                _ => {
                    return Err(UrlProblem::InvalidQueryValue {
                        key,
                        expected: "json (named templates are not supported)",
                    });
                }
            },
            "title" => self.title = nonempty(Some(value)),
            "messagekey" => self.message_key = value,
            "titlekey" => self.title_key = value,
            "method" => {
                let m = value.to_ascii_uppercase();
                if !matches!(m.as_str(), "POST" | "PUT" | "PATCH" | "GET" | "DELETE") {
                    return Err(UrlProblem::InvalidQueryValue {
                        key,
                        expected: "POST, PUT, PATCH, GET or DELETE",
                    });
                }
                self.method = m;
            }
            _ => {
                let forwarded_key = match key.strip_prefix('_') {
                    Some(k) if RESERVED.contains(&k.to_ascii_lowercase().as_str()) => k.to_owned(),
                    _ => key,
                };
                self.forward.push((forwarded_key, value));
            }
        }
        Ok(())
    }
}

/// Reads the http(s) target URL `raw`; `pre_consumed` is its query when some parameters were
/// already taken out (`disabletls` of `generic://`).
fn parse_target(
    raw: &str,
    pre_consumed: Option<Vec<(String, String)>>,
) -> UrlResult<GenericConfig> {
    let url = Url::parse(raw).map_err(UrlProblem::Syntax)?;
    host_port(&url)?;
    let pairs: Vec<(String, String)> = match pre_consumed {
        Some(p) => p,
        None => url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
    };
    let mut o = Options::default();
    for (key, value) in pairs {
        o.read(key, value)?;
    }
    if HeaderValue::from_str(&o.content_type).is_err() {
        return Err(UrlProblem::InvalidQueryValue {
            key: "contenttype".into(),
            expected: "a valid header value",
        });
    }
    let mut target = url.clone();
    let username = decode(url.username());
    let password = url.password().map(decode).unwrap_or_default();
    // Infallible for http(s) URLs, which this always is.
    let _ = target.set_username("");
    let _ = target.set_password(None);
    target.set_query(None);
    if !o.forward.is_empty() {
        target.query_pairs_mut().extend_pairs(o.forward);
    }
    Ok(GenericConfig {
        target: Secret::new(target.as_str()),
        username,
        password: Secret::new(password),
        content_type: o.content_type,
        method: o.method,
        json: o.json,
        message_key: o.message_key,
        title_key: o.title_key,
        title: o.title,
        extra: o.extra,
        headers: o.headers,
    })
}

#[cfg(test)]
mod tests {
    use crate::message::{Message, Notifier};
    use crate::test_support::{Body, Expected, assert_requests, msg, notifier_at, server};
    use serde_json::json;
    use wiremock::ResponseTemplate;

    #[tokio::test]
    async fn generic_raw_body_with_forwarded_query_and_header() {
        let s = server(ResponseTemplate::new(200)).await;
        let n = notifier_at(&s, "generic+http://{addr}/hook?x=1&@X-Api-Key=HDRS3CRET");
        n.send(&msg("Draining node n1")).await.unwrap();
        assert_requests(
            &s,
            &[Expected {
                path: "/hook",
                query: Some("x=1"),
                headers: &[
                    ("x-api-key", "HDRS3CRET"),
                    ("content-type", "application/json"),
                ],
                body: Body::Text("Draining node n1"),
            }],
        )
        .await;
    }

    #[tokio::test]
    async fn generic_json_template() {
        let s = server(ResponseTemplate::new(200)).await;
        let n = notifier_at(
            &s,
            "generic://{addr}/api/notify?template=json&disabletls=yes&$cluster=prod&titlekey=subject&_title=forwarded",
        );
        n.send(&Message {
            title: Some("kured".into()),
            text: "Draining node n1".into(),
        })
        .await
        .unwrap();
        assert_requests(
            &s,
            &[Expected {
                path: "/api/notify",
                query: Some("title=forwarded"),
                headers: &[],
                body: Body::Json(
                    json!({ "subject": "kured", "message": "Draining node n1", "cluster": "prod" }),
                ),
            }],
        )
        .await;
    }
}
