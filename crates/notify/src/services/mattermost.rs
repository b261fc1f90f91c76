//! Mattermost incoming webhooks: `mattermost://[username@]host[:port]/token[/channel]`.

use std::fmt;

use crate::error::{UrlProblem, UrlResult};
use crate::message::Message;
use crate::request::{HttpCall, JsonBody, endpoint, http_scheme, title, titled};
use crate::secret::{REDACTED, Secret};
use crate::urls::{Query, decode, host_port, nonempty, path_parts};

use super::service::{RawUrl, Service};

/// `mattermost://[username@]host[:port]/token[/channel][?icon=…&disabletls=yes]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MattermostConfig {
    /// Host and optional port.
    pub host: String,
    /// Webhook token.
    pub token: Secret,
    /// Sender name.
    pub username: Option<String>,
    /// Channel override.
    pub channel: Option<String>,
    /// Icon URL.
    pub icon_url: Option<String>,
    /// Title prepended.
    pub title: Option<String>,
    /// Use http instead of https.
    pub disable_tls: bool,
}

impl Service for MattermostConfig {
    const NAME: &'static str = "mattermost";
    const SCHEMES: &'static [&'static str] = &["mattermost"];

    fn parse(raw: RawUrl<'_>) -> UrlResult<Self> {
        let url = raw.url;
        let mut q = Query::new(url);
        let host = host_port(url)?;
        let parts = path_parts(url);
        let (token, channel) = match parts.as_slice() {
            [] => return Err(UrlProblem::Missing("token")),
            [t] => (t.clone(), None),
            [t, c] => (t.clone(), Some(c.clone())),
            _ => return Err(UrlProblem::Malformed("path (expected token[/channel])")),
        };
        let config = MattermostConfig {
            host,
            token: Secret::new(token),
            username: nonempty(Some(decode(url.username()))),
            channel: q.string(&["channel"])?.or(channel),
            icon_url: q.string(&["icon"])?,
            title: q.string(&["title"])?,
            disable_tls: q.bool("disabletls", false)?,
        };
        q.finish()?;
        Ok(config)
    }

    fn fmt_redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mattermost://{}/{REDACTED}", self.host)
    }

    fn secrets(&self) -> Vec<Secret> {
        vec![self.token.clone()]
    }

    fn http_calls(&self, msg: &Message) -> Option<Vec<HttpCall>> {
        let body = JsonBody::new()
            .set(
                "text",
                titled(title(self.title.as_deref(), msg), &msg.text, "**"),
            )
            .opt("username", self.username.as_deref())
            .opt("channel", self.channel.as_deref())
            .opt("icon_url", self.icon_url.as_deref())
            .build();
        let base = format!("{}://{}/hooks", http_scheme(self.disable_tls), self.host);
        Some(vec![HttpCall::post_json(
            endpoint(&base, &[self.token.expose()]),
            body,
        )])
    }
}

#[cfg(test)]
mod tests {
    use crate::message::Notifier;
    use crate::test_support::{Expected, assert_requests, msg, notifier_at, server};
    use serde_json::json;
    use wiremock::ResponseTemplate;

    #[tokio::test]
    async fn mattermost_webhook_over_plain_http() {
        let s = server(ResponseTemplate::new(200)).await;
        let n = notifier_at(
            &s,
            "mattermost://kured@{addr}/TOKS3CRET/town-square?disabletls=yes&icon=https://x.example/i.png",
        );
        n.send(&msg("Draining node n1")).await.unwrap();
        let body = json!({
            "text": "Draining node n1",
            "username": "kured",
            "channel": "town-square",
            "icon_url": "https://x.example/i.png",
        });
        assert_requests(&s, &[Expected::json("/hooks/TOKS3CRET", body)]).await;
    }
}
