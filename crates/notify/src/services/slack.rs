//! Slack: incoming webhooks (`slack://hook:A-B-C@channel`, legacy `slack://[botname@]A/B/C`) and
//! the bot API (`slack://xoxb:TOKEN@channel`, `chat.postMessage`).

use std::fmt;

use crate::error::{UrlProblem, UrlResult};
use crate::message::Message;
use crate::request::{Check, HttpCall, JsonBody, endpoint, fixed_url, title, titled};
use crate::secret::{REDACTED, Secret};
use crate::urls::{Query, decode, path_parts};

use super::service::{RawUrl, Service};

/// How a Slack message is delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlackAuth {
    /// Incoming webhook `https://hooks.slack.com/services/A/B/C`.
    Webhook {
        /// First path part (team id).
        a: Secret,
        /// Second path part.
        b: Secret,
        /// Third path part (the actual secret).
        c: Secret,
    },
    /// Bot API token (`xoxb-…`), posting with `chat.postMessage`.
    Bot {
        /// The full token, e.g. `xoxb-123-456-abc`.
        token: Secret,
    },
}

/// `slack://hook:A-B-C@channel`, `slack://xoxb:TOKEN@channel` or the legacy
/// `slack://[botname@]A/B/C`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackConfig {
    /// Webhook or bot token.
    pub auth: SlackAuth,
    /// Channel (`webhook` means the webhook's own channel).
    pub channel: String,
    /// Bot name (`botname`/`username`).
    pub botname: Option<String>,
    /// Attachment colour.
    pub color: Option<String>,
    /// Emoji or icon URL.
    pub icon: Option<String>,
    /// Parent message ts (reply in thread).
    pub thread_ts: Option<String>,
    /// Title shown above the message.
    pub title: Option<String>,
}

impl Service for SlackConfig {
    const NAME: &'static str = "slack";
    const SCHEMES: &'static [&'static str] = &["slack"];

    fn parse(raw: RawUrl<'_>) -> UrlResult<Self> {
        let url = raw.url;
        let mut q = Query::new(url);
        let user = decode(url.username());
        let password = url.password().map(decode);
        let host = url.host_str().map(decode).unwrap_or_default();
        let parts = path_parts(url);
        let mut botname = None;
        let new_format = password.is_some() || user == "hook" || user.starts_with("xox");
        let (auth, channel) = if new_format {
            // New format: slack://hook:A-B-C@channel or slack://xoxb:rest@channel.
            let token = password.unwrap_or_default();
            (new_format_auth(&user, &token, &host, &parts)?, host)
        } else {
            // Legacy format: slack://[botname@]A/B/C.
            if !user.is_empty() {
                botname = Some(user);
            }
            let auth = legacy_auth(host, &parts)?;
            let channel = q
                .string(&["channel"])?
                .unwrap_or_else(|| "webhook".to_owned());
            (auth, channel)
        };
        let config = SlackConfig {
            auth,
            channel,
            botname: q.string(&["botname", "username"])?.or(botname),
            color: q.string(&["color"])?,
            icon: q.string(&["icon", "icon_emoji", "icon_url"])?,
            thread_ts: q.string(&["thread_ts", "threadts"])?,
            title: q.string(&["title"])?,
        };
        q.finish()?;
        Ok(config)
    }

    fn fmt_redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let user = match self.auth {
            SlackAuth::Webhook { .. } => "hook",
            SlackAuth::Bot { .. } => "xoxb",
        };
        write!(f, "slack://{user}:{REDACTED}@{}", self.channel)
    }

    fn secrets(&self) -> Vec<Secret> {
        match &self.auth {
            SlackAuth::Webhook { a, b, c } => vec![a.clone(), b.clone(), c.clone()],
            SlackAuth::Bot { token } => vec![token.clone()],
        }
    }

    fn http_calls(&self, msg: &Message) -> Option<Vec<HttpCall>> {
        let title = title(self.title.as_deref(), msg);
        let body = match &self.color {
            Some(color) => JsonBody::new().set("text", title.unwrap_or_default()).set(
                "attachments",
                serde_json::json!([{ "text": msg.text, "color": color }]),
            ),
            None => JsonBody::new().set("text", titled(title, &msg.text, "*")),
        };
        let mut body = body.opt("username", self.botname.as_deref()).set_if(
            self.channel != "webhook",
            "channel",
            self.channel.as_str(),
        );
        if let Some(icon) = self.icon.as_deref() {
            body = body.set(icon_key(icon), icon);
        }
        let body = body.opt("thread_ts", self.thread_ts.as_deref()).build();
        Some(vec![match &self.auth {
            SlackAuth::Webhook { a, b, c } => HttpCall::post_json(
                endpoint(
                    "https://hooks.slack.com/services",
                    &[a.expose(), b.expose(), c.expose()],
                ),
                body,
            ),
            SlackAuth::Bot { token } => {
                let mut call =
                    HttpCall::post_json(fixed_url("https://slack.com/api/chat.postMessage"), body)
                        .with_bearer(token.expose());
                call.check = Check::SlackOk;
                call
            }
        }])
    }
}

/// `icon_url` for an icon given as a URL, else `icon_emoji`.
fn icon_key(icon: &str) -> &'static str {
    if icon.starts_with("http://") || icon.starts_with("https://") {
        "icon_url"
    } else {
        "icon_emoji"
    }
}

/// The legacy `slack://A/B/C` webhook token: the host and two path parts.
fn legacy_auth(host: String, parts: &[String]) -> UrlResult<SlackAuth> {
    if host.is_empty() && parts.is_empty() {
        return Err(UrlProblem::Missing("token"));
    }
    if parts.len() != 2 || host.is_empty() {
        return Err(UrlProblem::Malformed(
            "webhook token (expected slack://A/B/C)",
        ));
    }
    Ok(SlackAuth::Webhook {
        a: Secret::new(host),
        b: Secret::new(parts[0].clone()),
        c: Secret::new(parts[1].clone()),
    })
}

/// `hook:A-B-C@channel` or `xoxb:rest@channel`.
fn new_format_auth(user: &str, token: &str, host: &str, parts: &[String]) -> UrlResult<SlackAuth> {
    if token.is_empty() {
        return Err(UrlProblem::Missing("token"));
    }
    let auth = if user == "hook" {
        let pieces: Vec<&str> = token.split('-').collect();
        if pieces.len() != 3 || pieces.iter().any(|p| p.is_empty()) {
            return Err(UrlProblem::Malformed("webhook token (expected hook:A-B-C)"));
        }
        SlackAuth::Webhook {
            a: Secret::new(pieces[0]),
            b: Secret::new(pieces[1]),
            c: Secret::new(pieces[2]),
        }
    } else if user.starts_with("xox") {
        SlackAuth::Bot {
            token: Secret::new(format!("{user}-{token}")),
        }
    } else {
        return Err(UrlProblem::Malformed(
            "token type (expected hook or xoxb/xoxp)",
        ));
    };
    if host.is_empty() {
        return Err(UrlProblem::Missing("channel"));
    }
    if !parts.is_empty() {
        return Err(UrlProblem::Malformed(
            "path (nothing may follow the channel)",
        ));
    }
    if matches!(auth, SlackAuth::Bot { .. }) && host == "webhook" {
        return Err(UrlProblem::Missing(
            "channel (a bot token needs a channel id)",
        ));
    }
    Ok(auth)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::SendFailure;
    use crate::message::Notifier;
    use crate::parse::parse_url;
    use crate::services::ServiceConfig;
    use crate::test_support::{Body, Expected, assert_requests, msg, notifier, server};
    use serde_json::json;
    use wiremock::ResponseTemplate;

    #[tokio::test]
    async fn slack_webhook_new_format() {
        let s = server(ResponseTemplate::new(200)).await;
        let n = notifier(
            "slack://hook:T0001-B0002-S3CRETC@webhook?botname=kured&icon=:ghost:",
            Some(&s),
        );
        n.send(&msg("Draining node n1")).await.unwrap();
        let body =
            json!({ "text": "Draining node n1", "username": "kured", "icon_emoji": ":ghost:" });
        assert_requests(&s, &[Expected::json("/services/T0001/B0002/S3CRETC", body)]).await;
    }

    #[tokio::test]
    async fn slack_legacy_format_with_channel_and_color() {
        let s = server(ResponseTemplate::new(200)).await;
        let n = notifier(
            "slack://kured@T0001/B0002/S3CRETC?channel=%23ops&color=good&title=Kured",
            Some(&s),
        );
        n.send(&msg("Rebooting node n1")).await.unwrap();
        let body = json!({
            "text": "Kured",
            "attachments": [{ "text": "Rebooting node n1", "color": "good" }],
            "username": "kured",
            "channel": "#ops",
        });
        assert_requests(&s, &[Expected::json("/services/T0001/B0002/S3CRETC", body)]).await;
    }

    #[tokio::test]
    async fn slack_bot_token_uses_chat_post_message_and_checks_ok() {
        let s = server(ResponseTemplate::new(200).set_body_json(json!({ "ok": true }))).await;
        let n = notifier("slack://xoxb:123-456-S3CRET@C0123?title=Kured", Some(&s));
        n.send(&msg("Node n1 rebooted")).await.unwrap();
        let body = json!({ "text": "*Kured*\nNode n1 rebooted", "channel": "C0123" });
        assert_requests(
            &s,
            &[Expected {
                path: "/api/chat.postMessage",
                query: None,
                headers: &[("authorization", "Bearer xoxb-123-456-S3CRET")],
                body: Body::Json(body),
            }],
        )
        .await;

        let bad = server(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "ok": false, "error": "invalid_auth" })),
        )
        .await;
        let n = notifier("slack://xoxb:123-456-S3CRET@C0123", Some(&bad));
        let err = n.send(&msg("x")).await.unwrap_err();
        assert_eq!(
            err.failures[0].failure,
            SendFailure::Rejected("invalid_auth".into())
        );
        assert!(!err.to_string().contains("S3CRET"), "{err}");
    }

    #[test]
    fn slack_forms_map_to_the_same_webhook() {
        let new = parse_url("slack://hook:T0-B0-C0@webhook").unwrap();
        let old = parse_url("slack://T0/B0/C0").unwrap();
        let (ServiceConfig::Slack(a), ServiceConfig::Slack(b)) = (new, old) else {
            panic!()
        };
        assert_eq!(a.auth, b.auth);
        assert_eq!(a.channel, "webhook");
        let ServiceConfig::Slack(bot) = parse_url("slack://xoxb:1-2-abc@C0123?username=k").unwrap()
        else {
            panic!()
        };
        assert_eq!(
            bot.auth,
            SlackAuth::Bot {
                token: Secret::new("xoxb-1-2-abc")
            }
        );
        assert_eq!(bot.botname.as_deref(), Some("k"));
    }
}
