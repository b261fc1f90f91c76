//! Rocket.Chat incoming webhooks: `rocketchat://[username@]host[:port]/tokenA/tokenB[/channel]`.

use std::fmt;

use crate::error::{UrlProblem, UrlResult};
use crate::message::Message;
use crate::request::{HttpCall, JsonBody, endpoint, title, titled};
use crate::secret::{REDACTED, Secret};
use crate::urls::{Query, decode, host_port, nonempty, path_parts};

use super::service::{RawUrl, Service};

/// `rocketchat://[username@]host[:port]/tokenA/tokenB[/channel|/@user]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RocketChatConfig {
    /// Host and optional port.
    pub host: String,
    /// First token.
    pub token_a: Secret,
    /// Second token.
    pub token_b: Secret,
    /// Sender name.
    pub username: Option<String>,
    /// `#channel` or `@user`.
    pub channel: Option<String>,
    /// Title prepended to the text.
    pub title: Option<String>,
}

impl Service for RocketChatConfig {
    const NAME: &'static str = "rocketchat";
    const SCHEMES: &'static [&'static str] = &["rocketchat"];

    fn parse(raw: RawUrl<'_>) -> UrlResult<Self> {
        let url = raw.url;
        let mut q = Query::new(url);
        let host = host_port(url)?;
        let parts = path_parts(url);
        if parts.len() < 2 {
            return Err(UrlProblem::Missing("token (expected host/tokenA/tokenB)"));
        }
        if parts.len() > 3 {
            return Err(UrlProblem::Malformed(
                "path (expected tokenA/tokenB[/channel])",
            ));
        }
        let channel = match (url.fragment(), parts.get(2)) {
            (Some(f), _) if !f.is_empty() => Some(format!("#{}", decode(f))),
            (_, Some(c)) if c.starts_with('@') || c.starts_with('#') => Some(c.clone()),
            (_, Some(c)) => Some(format!("#{c}")),
            _ => None,
        };
        let config = RocketChatConfig {
            host,
            token_a: Secret::new(parts[0].clone()),
            token_b: Secret::new(parts[1].clone()),
            username: nonempty(Some(decode(url.username()))),
            channel,
            title: q.string(&["title"])?,
        };
        q.finish()?;
        Ok(config)
    }

    fn fmt_redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rocketchat://{}/{REDACTED}", self.host)
    }

    fn secrets(&self) -> Vec<Secret> {
        vec![self.token_a.clone(), self.token_b.clone()]
    }

    fn http_calls(&self, msg: &Message) -> Option<Vec<HttpCall>> {
        let body = JsonBody::new()
            .set(
                "text",
                titled(title(self.title.as_deref(), msg), &msg.text, "*"),
            )
            .opt("username", self.username.as_deref())
            .opt("channel", self.channel.as_deref())
            .build();
        let target = endpoint(
            &format!("https://{}/hooks", self.host),
            &[self.token_a.expose(), self.token_b.expose()],
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
    async fn rocketchat_webhook() {
        let s = server(ResponseTemplate::new(200)).await;
        let n = notifier(
            "rocketchat://kured@chat.example.com/TOKA/TOKBS3CRET/ops",
            Some(&s),
        );
        n.send(&msg("Draining node n1")).await.unwrap();
        let body = json!({ "text": "Draining node n1", "username": "kured", "channel": "#ops" });
        assert_requests(&s, &[Expected::json("/hooks/TOKA/TOKBS3CRET", body)]).await;
    }
}
