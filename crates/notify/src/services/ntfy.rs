//! ntfy servers: `ntfy://[user:password@]host[/path]/topic` (JSON publish).

use std::fmt;

use crate::error::{UrlProblem, UrlResult};
use crate::message::Message;
use crate::request::{HttpCall, JsonBody, fixed_url, title};
use crate::secret::Secret;
use crate::urls::{Query, decode, host_port, path_parts, path_prefix};

use super::service::{RawUrl, Service};

/// `ntfy://[user:password@]host[/path]/topic[?scheme=http&title=…&priority=…&tags=a,b]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NtfyConfig {
    /// Host and optional port (`ntfy.sh`).
    pub host: String,
    /// Path prefix before the topic ("" or "/sub").
    pub path: String,
    /// Topic.
    pub topic: String,
    /// Basic-auth user (empty with a password means an access token).
    pub username: String,
    /// Basic-auth password or access token.
    pub password: Secret,
    /// `https` (default) or `http`.
    pub scheme: String,
    /// Title.
    pub title: Option<String>,
    /// Priority 1..=5.
    pub priority: Option<u8>,
    /// Tags.
    pub tags: Vec<String>,
    /// Click URL.
    pub click: Option<String>,
    /// Icon URL.
    pub icon: Option<String>,
}

impl Service for NtfyConfig {
    const NAME: &'static str = "ntfy";
    const SCHEMES: &'static [&'static str] = &["ntfy"];

    fn parse(raw: RawUrl<'_>) -> UrlResult<Self> {
        let url = raw.url;
        let mut q = Query::new(url);
        // shoutrrr's default host.
        let host = if url.host_str().unwrap_or_default().is_empty() {
            "ntfy.sh".to_owned()
        } else {
            host_port(url)?
        };
        let mut parts = path_parts(url);
        let topic = parts.pop().ok_or(UrlProblem::Missing("topic"))?;
        let scheme = q.value(&["scheme"], "http or https", |v| match v {
            "https" | "" => Some("https"),
            "http" => Some("http"),
            _ => None,
        })?;
        let priority = q.value(
            &["priority", "prio", "p"],
            "1-5 or min, low, default, high, max, urgent",
            |v| {
                Some(match v {
                    "" => None,
                    "1" | "min" => Some(1),
                    "2" | "low" => Some(2),
                    "3" | "default" => Some(3),
                    "4" | "high" => Some(4),
                    "5" | "max" | "urgent" => Some(5),
                    _ => return None,
                })
            },
        )?;
        let config = NtfyConfig {
            host,
            path: path_prefix(&parts),
            topic,
            username: decode(url.username()),
            password: Secret::new(url.password().map(decode).unwrap_or_default()),
            scheme: scheme.unwrap_or("https").to_owned(),
            title: q.string(&["title"])?,
            priority: priority.flatten(),
            tags: q.list(&["tags", "tag", "ta"])?,
            click: q.string(&["click"])?,
            icon: q.string(&["icon"])?,
        };
        q.finish()?;
        Ok(config)
    }

    fn fmt_redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ntfy://{}/{}", self.host, self.topic)
    }

    fn secrets(&self) -> Vec<Secret> {
        vec![self.password.clone()]
    }

    fn http_calls(&self, msg: &Message) -> Option<Vec<HttpCall>> {
        let body = JsonBody::new()
            .set("topic", self.topic.as_str())
            .set("message", msg.text.as_str())
            .opt("title", title(self.title.as_deref(), msg))
            .opt("priority", self.priority)
            .set_if(!self.tags.is_empty(), "tags", self.tags.clone())
            .opt("click", self.click.as_deref())
            .opt("icon", self.icon.as_deref())
            .build();
        let target = format!("{}://{}{}/", self.scheme, self.host, self.path);
        let mut call = HttpCall::post_json(fixed_url(&target), body);
        if !self.password.is_empty() {
            if self.username.is_empty() {
                call = call.with_bearer(self.password.expose());
            } else {
                call.basic_auth = Some((self.username.clone(), self.password.expose().to_owned()));
            }
        }
        Some(vec![call])
    }
}

#[cfg(test)]
mod tests {
    use crate::message::Notifier;
    use crate::test_support::{Body, Expected, assert_requests, msg, notifier_at, server};
    use base64::Engine;
    use serde_json::json;
    use wiremock::ResponseTemplate;

    #[tokio::test]
    async fn ntfy_json_publish_with_basic_auth() {
        let s = server(ResponseTemplate::new(200)).await;
        let n = notifier_at(
            &s,
            "ntfy://alice:PASSS3CRET@{addr}/reboots?scheme=http&priority=high&tags=warning,skull&title=kured",
        );
        n.send(&msg("Draining node n1")).await.unwrap();
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("alice:PASSS3CRET")
        );
        assert_requests(
            &s,
            &[Expected {
                path: "/",
                query: None,
                headers: &[("authorization", &auth)],
                body: Body::Json(json!({
                    "topic": "reboots",
                    "message": "Draining node n1",
                    "title": "kured",
                    "priority": 4,
                    "tags": ["warning", "skull"],
                })),
            }],
        )
        .await;
    }
}
