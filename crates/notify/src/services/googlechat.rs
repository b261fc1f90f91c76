//! Google Chat space webhooks: `googlechat://chat.googleapis.com/v1/spaces/FOO/messages?key=K&token=T`.

use std::fmt;

use crate::error::{UrlProblem, UrlResult};
use crate::message::Message;
use crate::request::{HttpCall, JsonBody, fixed_url, titled};
use crate::secret::{REDACTED, Secret};
use crate::urls::{Query, host_port};

use super::service::{RawUrl, Service};

/// `googlechat://chat.googleapis.com/v1/spaces/FOO/messages?key=K&token=T`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoogleChatConfig {
    /// Host (normally `chat.googleapis.com`).
    pub host: String,
    /// Path (`/v1/spaces/FOO/messages`).
    pub path: String,
    /// API key.
    pub key: Secret,
    /// Webhook token.
    pub token: Secret,
}

impl Service for GoogleChatConfig {
    const NAME: &'static str = "googlechat";
    const SCHEMES: &'static [&'static str] = &["googlechat"];

    fn parse(raw: RawUrl<'_>) -> UrlResult<Self> {
        let url = raw.url;
        let mut q = Query::new(url);
        let host = host_port(url)?;
        let path = url.path().to_owned();
        if path.trim_matches('/').is_empty() {
            return Err(UrlProblem::Missing("path (/v1/spaces/…/messages)"));
        }
        let key = q
            .string(&["key"])?
            .ok_or(UrlProblem::Missing("`key` query parameter"))?;
        let token = q
            .string(&["token"])?
            .ok_or(UrlProblem::Missing("`token` query parameter"))?;
        q.finish()?;
        Ok(GoogleChatConfig {
            host,
            path,
            key: Secret::new(key),
            token: Secret::new(token),
        })
    }

    fn fmt_redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "googlechat://{}{}?key={REDACTED}&token={REDACTED}",
            self.host, self.path
        )
    }

    fn secrets(&self) -> Vec<Secret> {
        vec![self.key.clone(), self.token.clone()]
    }

    fn http_calls(&self, msg: &Message) -> Option<Vec<HttpCall>> {
        let mut target = fixed_url(&format!("https://{}{}", self.host, self.path));
        target
            .query_pairs_mut()
            .append_pair("key", self.key.expose())
            .append_pair("token", self.token.expose());
        let body = JsonBody::new()
            .set("text", titled(msg.title.as_deref(), &msg.text, "*"))
            .build();
        Some(vec![HttpCall::post_json(target, body)])
    }
}

#[cfg(test)]
mod tests {
    use crate::message::Notifier;
    use crate::test_support::{Body, Expected, assert_requests, msg, notifier, server};
    use serde_json::json;
    use wiremock::ResponseTemplate;

    #[tokio::test]
    async fn googlechat_webhook() {
        let s = server(ResponseTemplate::new(200)).await;
        let n = notifier(
            "googlechat://chat.googleapis.com/v1/spaces/FOO/messages?key=KEYS3CRET&token=TOKS3CRET",
            Some(&s),
        );
        n.send(&msg("Draining node n1")).await.unwrap();
        assert_requests(
            &s,
            &[Expected {
                path: "/v1/spaces/FOO/messages",
                query: Some("key=KEYS3CRET&token=TOKS3CRET"),
                headers: &[],
                body: Body::Json(json!({ "text": "Draining node n1" })),
            }],
        )
        .await;
    }
}
