//! Discord webhooks: `discord://token@webhookid`.

use std::fmt;

use crate::error::{UrlProblem, UrlResult};
use crate::message::Message;
use crate::request::{HttpCall, JsonBody, endpoint, title, titled};
use crate::secret::{REDACTED, Secret};
use crate::urls::{Query, decode};

use super::service::{RawUrl, Service};

/// `discord://token@webhookid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscordConfig {
    /// Webhook token.
    pub token: Secret,
    /// Webhook id.
    pub webhook_id: String,
    /// Override of the webhook's user name.
    pub username: Option<String>,
    /// Override of the avatar.
    pub avatar_url: Option<String>,
    /// Title prepended in bold.
    pub title: Option<String>,
}

/// shoutrrr's parameters accepted for compatibility, without effect on the plain-content
/// message.
const IGNORED: &[&str] = &[
    "color",
    "colordebug",
    "colorerror",
    "colorinfo",
    "colorwarn",
    "json",
    "splitlines",
];

impl Service for DiscordConfig {
    const NAME: &'static str = "discord";
    const SCHEMES: &'static [&'static str] = &["discord"];

    fn parse(raw: RawUrl<'_>) -> UrlResult<Self> {
        let url = raw.url;
        let mut q = Query::new(url);
        let token = decode(url.username());
        let webhook_id = url.host_str().map(decode).unwrap_or_default();
        if token.is_empty() {
            return Err(UrlProblem::Missing("token"));
        }
        if webhook_id.is_empty() {
            return Err(UrlProblem::Missing("webhook id"));
        }
        if !webhook_id.chars().all(|c| c.is_ascii_digit()) {
            return Err(UrlProblem::Malformed("webhook id (expected digits)"));
        }
        let config = DiscordConfig {
            token: Secret::new(token),
            webhook_id,
            username: q.string(&["username"])?,
            avatar_url: q.string(&["avatar", "avatarurl"])?,
            title: q.string(&["title"])?,
        };
        for ignored in IGNORED {
            q.take(&[*ignored])?;
        }
        q.finish()?;
        Ok(config)
    }

    fn fmt_redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "discord://{REDACTED}@{}", self.webhook_id)
    }

    fn secrets(&self) -> Vec<Secret> {
        vec![self.token.clone()]
    }

    fn http_calls(&self, msg: &Message) -> Option<Vec<HttpCall>> {
        let body = JsonBody::new()
            .set(
                "content",
                titled(title(self.title.as_deref(), msg), &msg.text, "**"),
            )
            .opt("username", self.username.as_deref())
            .opt("avatar_url", self.avatar_url.as_deref())
            .build();
        let target = endpoint(
            "https://discord.com/api/webhooks",
            &[&self.webhook_id, self.token.expose()],
        );
        Some(vec![HttpCall::post_json(target, body)])
    }
}

#[cfg(test)]
mod tests {
    use crate::message::Notifier;
    use crate::test_support::{Expected, assert_requests, msg, notifier, server};
    use serde_json::json;
    use wiremock::ResponseTemplate;

    #[tokio::test]
    async fn discord_webhook() {
        let s = server(ResponseTemplate::new(204)).await;
        let n = notifier(
            "discord://TOKS3CRET@123456789?username=kured&title=Kured",
            Some(&s),
        );
        n.send(&msg("Draining node n1")).await.unwrap();
        let body = json!({ "content": "**Kured**\nDraining node n1", "username": "kured" });
        assert_requests(
            &s,
            &[Expected::json("/api/webhooks/123456789/TOKS3CRET", body)],
        )
        .await;
    }
}
