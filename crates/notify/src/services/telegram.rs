//! Telegram bot API: `telegram://botid:secret@telegram?chats=@channel,12345` (one `sendMessage`
//! per chat).

use std::fmt;

use crate::error::{UrlProblem, UrlResult};
use crate::message::Message;
use crate::request::{HttpCall, JsonBody, endpoint, title, titled};
use crate::secret::{REDACTED, Secret};
use crate::urls::{Query, decode};

use super::service::{RawUrl, Service};

/// `telegram://botid:secret@telegram?chats=@channel,12345`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelegramConfig {
    /// Bot token `id:secret`.
    pub token: Secret,
    /// Chat ids or `@channel` names.
    pub chats: Vec<String>,
    /// `Markdown`, `MarkdownV2` or `HTML`.
    pub parse_mode: Option<String>,
    /// Notify with sound (false sends silently).
    pub notification: bool,
    /// Show link previews.
    pub preview: bool,
    /// Title prepended.
    pub title: Option<String>,
}

impl Service for TelegramConfig {
    const NAME: &'static str = "telegram";
    const SCHEMES: &'static [&'static str] = &["telegram"];

    fn parse(raw: RawUrl<'_>) -> UrlResult<Self> {
        let url = raw.url;
        let mut q = Query::new(url);
        let id = decode(url.username());
        let secret = url.password().map(decode).unwrap_or_default();
        if id.is_empty() || secret.is_empty() {
            return Err(UrlProblem::Missing(
                "token (expected telegram://botid:secret@telegram)",
            ));
        }
        if !id.chars().all(|c| c.is_ascii_digit()) {
            return Err(UrlProblem::Malformed(
                "token (the bot id before `:` must be digits)",
            ));
        }
        let chats = q.list(&["chats", "channels"])?;
        if chats.is_empty() {
            return Err(UrlProblem::Missing("`chats` query parameter"));
        }
        let parse_mode = q.value(
            &["parsemode"],
            "one of None, Markdown, MarkdownV2, HTML",
            |v| match v {
                "none" | "" => Some(None),
                "markdown" => Some(Some("Markdown")),
                "markdownv2" => Some(Some("MarkdownV2")),
                "html" => Some(Some("HTML")),
                _ => None,
            },
        )?;
        let config = TelegramConfig {
            token: Secret::new(format!("{id}:{secret}")),
            chats,
            parse_mode: parse_mode.flatten().map(str::to_owned),
            notification: q.bool("notification", true)?,
            preview: q.bool("preview", true)?,
            title: q.string(&["title"])?,
        };
        q.finish()?;
        Ok(config)
    }

    fn fmt_redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "telegram://{REDACTED}@telegram?chats={}",
            self.chats.join(",")
        )
    }

    fn secrets(&self) -> Vec<Secret> {
        let mut v = vec![self.token.clone()];
        if let Some((_, after)) = self.token.expose().split_once(':') {
            v.push(Secret::new(after));
        }
        v
    }

    fn http_calls(&self, msg: &Message) -> Option<Vec<HttpCall>> {
        let text = titled(title(self.title.as_deref(), msg), &msg.text, "");
        let bot = format!("bot{}", self.token.expose());
        let calls = self
            .chats
            .iter()
            .map(|chat| {
                let body = JsonBody::new()
                    .set("chat_id", chat.as_str())
                    .set("text", text.as_str())
                    .opt("parse_mode", self.parse_mode.as_deref())
                    .set_if(!self.notification, "disable_notification", true)
                    .set_if(!self.preview, "disable_web_page_preview", true)
                    .build();
                HttpCall::post_json(
                    endpoint("https://api.telegram.org", &[&bot, "sendMessage"]),
                    body,
                )
            })
            .collect();
        Some(calls)
    }
}

#[cfg(test)]
mod tests {
    use crate::message::Notifier;
    use crate::test_support::{Expected, assert_requests, msg, notifier, server};
    use serde_json::json;
    use wiremock::ResponseTemplate;

    #[tokio::test]
    async fn telegram_one_request_per_chat() {
        let s = server(ResponseTemplate::new(200).set_body_json(json!({ "ok": true }))).await;
        let n = notifier(
            "telegram://12345:AAS3CRET@telegram?chats=@kured,-100200&notification=no&parsemode=HTML",
            Some(&s),
        );
        n.send(&msg("Draining node n1")).await.unwrap();
        let body = |chat: &str| json!({ "chat_id": chat, "text": "Draining node n1", "parse_mode": "HTML", "disable_notification": true });
        assert_requests(
            &s,
            &[
                Expected::json("/bot12345:AAS3CRET/sendMessage", body("@kured")),
                Expected::json("/bot12345:AAS3CRET/sendMessage", body("-100200")),
            ],
        )
        .await;
    }
}
