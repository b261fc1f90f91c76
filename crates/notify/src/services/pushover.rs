//! Pushover API: `pushover://shoutrrr:apiToken@userKey/?devices=a,b`.

use std::fmt;

use crate::error::{UrlProblem, UrlResult};
use crate::message::Message;
use crate::request::{HttpCall, JsonBody, fixed_url, title};
use crate::secret::{REDACTED, Secret};
use crate::urls::{Query, decode};

use super::service::{RawUrl, Service};

/// `pushover://shoutrrr:apiToken@userKey/?devices=a,b[&priority=N&title=…]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushoverConfig {
    /// Application API token.
    pub token: Secret,
    /// User key.
    pub user: Secret,
    /// Devices (all when empty).
    pub devices: Vec<String>,
    /// Priority -2..=2.
    pub priority: Option<i8>,
    /// Title.
    pub title: Option<String>,
}

impl Service for PushoverConfig {
    const NAME: &'static str = "pushover";
    const SCHEMES: &'static [&'static str] = &["pushover"];

    fn parse(raw: RawUrl<'_>) -> UrlResult<Self> {
        let url = raw.url;
        let mut q = Query::new(url);
        let token = url.password().map(decode).unwrap_or_default();
        if token.is_empty() {
            return Err(UrlProblem::Missing(
                "API token (expected pushover://shoutrrr:token@userkey)",
            ));
        }
        let user = url.host_str().map(decode).unwrap_or_default();
        if user.is_empty() {
            return Err(UrlProblem::Missing("user key"));
        }
        let priority = q.value(&["priority"], "an integer from -2 to 2", |v| {
            v.trim().parse::<i8>().ok().filter(|p| (-2..=2).contains(p))
        })?;
        let config = PushoverConfig {
            token: Secret::new(token),
            user: Secret::new(user),
            devices: q.list(&["devices"])?,
            priority,
            title: q.string(&["title"])?,
        };
        q.finish()?;
        Ok(config)
    }

    fn fmt_redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let devices = if self.devices.is_empty() {
            String::new()
        } else {
            format!("?devices={}", self.devices.join(","))
        };
        write!(f, "pushover://shoutrrr:{REDACTED}@{REDACTED}/{devices}")
    }

    fn secrets(&self) -> Vec<Secret> {
        vec![self.token.clone(), self.user.clone()]
    }

    fn http_calls(&self, msg: &Message) -> Option<Vec<HttpCall>> {
        let body = JsonBody::new()
            .set("token", self.token.expose())
            .set("user", self.user.expose())
            .set("message", msg.text.as_str())
            .opt("title", title(self.title.as_deref(), msg))
            .opt("priority", self.priority)
            .set_if(!self.devices.is_empty(), "device", self.devices.join(","))
            .build();
        Some(vec![HttpCall::post_json(
            fixed_url("https://api.pushover.net/1/messages.json"),
            body,
        )])
    }
}

#[cfg(test)]
mod tests {
    use crate::message::Notifier;
    use crate::test_support::{Expected, assert_requests, msg, notifier, server};
    use serde_json::json;
    use wiremock::ResponseTemplate;

    #[tokio::test]
    async fn pushover_message() {
        let s = server(ResponseTemplate::new(200).set_body_json(json!({ "status": 1 }))).await;
        let n = notifier(
            "pushover://shoutrrr:APIS3CRET@USERS3CRET/?devices=phone,tablet&priority=1&title=kured",
            Some(&s),
        );
        n.send(&msg("Draining node n1")).await.unwrap();
        assert_requests(
            &s,
            &[Expected::json(
                "/1/messages.json",
                json!({
                    "token": "APIS3CRET",
                    "user": "USERS3CRET",
                    "message": "Draining node n1",
                    "title": "kured",
                    "priority": 1,
                    "device": "phone,tablet",
                }),
            )],
        )
        .await;
    }
}
