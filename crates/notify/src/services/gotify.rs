//! Gotify servers: `gotify://host[:port][/path]/token`.

use std::fmt;

use crate::error::{UrlProblem, UrlResult};
use crate::message::Message;
use crate::request::{HttpCall, JsonBody, fixed_url, http_scheme, title};
use crate::secret::{REDACTED, Secret};
use crate::urls::{Query, host_port, path_parts, path_prefix};

use super::service::{RawUrl, Service};

/// `gotify://host[:port][/path]/token[?priority=N&title=…&disabletls=yes]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GotifyConfig {
    /// Host and optional port.
    pub host: String,
    /// Path prefix ("" or "/sub").
    pub path: String,
    /// Application token.
    pub token: Secret,
    /// Priority.
    pub priority: i64,
    /// Title.
    pub title: Option<String>,
    /// Use http instead of https.
    pub disable_tls: bool,
}

impl Service for GotifyConfig {
    const NAME: &'static str = "gotify";
    const SCHEMES: &'static [&'static str] = &["gotify"];

    fn parse(raw: RawUrl<'_>) -> UrlResult<Self> {
        let url = raw.url;
        let mut q = Query::new(url);
        let host = host_port(url)?;
        let mut parts = path_parts(url);
        let token = parts.pop().ok_or(UrlProblem::Missing("token"))?;
        let priority = q.value(&["priority"], "an integer", |v| v.trim().parse().ok())?;
        let config = GotifyConfig {
            host,
            path: path_prefix(&parts),
            token: Secret::new(token),
            priority: priority.unwrap_or(0),
            title: q.string(&["title"])?,
            disable_tls: q.bool("disabletls", false)?,
        };
        q.finish()?;
        Ok(config)
    }

    fn fmt_redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "gotify://{}{}/{REDACTED}", self.host, self.path)
    }

    fn secrets(&self) -> Vec<Secret> {
        vec![self.token.clone()]
    }

    fn http_calls(&self, msg: &Message) -> Option<Vec<HttpCall>> {
        let body = JsonBody::new()
            .set("message", msg.text.as_str())
            .opt("title", title(self.title.as_deref(), msg))
            .set("priority", self.priority)
            .build();
        let target = format!(
            "{}://{}{}/message",
            http_scheme(self.disable_tls),
            self.host,
            self.path
        );
        let mut call = HttpCall::post_json(fixed_url(&target), body);
        call.headers
            .push(("X-Gotify-Key".into(), self.token.expose().to_owned()));
        Some(vec![call])
    }
}

#[cfg(test)]
mod tests {
    use crate::message::Notifier;
    use crate::test_support::{Body, Expected, assert_requests, msg, notifier_at, server};
    use serde_json::json;
    use wiremock::ResponseTemplate;

    #[tokio::test]
    async fn gotify_message_with_key_header() {
        let s = server(ResponseTemplate::new(200)).await;
        let n = notifier_at(
            &s,
            "gotify://{addr}/sub/AS3CRETTOKEN?priority=5&title=kured&disabletls=yes",
        );
        n.send(&msg("Draining node n1")).await.unwrap();
        assert_requests(
            &s,
            &[Expected {
                path: "/sub/message",
                query: None,
                headers: &[("x-gotify-key", "AS3CRETTOKEN")],
                body: Body::Json(
                    json!({ "message": "Draining node n1", "title": "kured", "priority": 5 }),
                ),
            }],
        )
        .await;
    }
}
