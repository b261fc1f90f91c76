//! HTTP backends: each configuration turns a message into one or more requests; one notifier
//! sends them with a shared `reqwest` client (rustls + ring).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;
use serde_json::{Map, Value, json};
use url::Url;

use crate::config::{
    DiscordConfig, GenericConfig, GoogleChatConfig, GotifyConfig, MattermostConfig, NtfyConfig,
    PushoverConfig, RocketChatConfig, ServiceConfig, SlackAuth, SlackConfig, TeamsConfig,
    TeamsTarget, TelegramConfig,
};
use crate::error::{BuildError, NotifyError, SendError, SendFailure};
use crate::secret::{Secret, scrub};
use crate::{Message, Notifier};

/// What a request's success looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// Any 2xx.
    Status,
    /// 2xx and a JSON body with `"ok": true` (Slack Web API).
    SlackOk,
}

/// A request body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    /// `application/json` (unless a content type header is given).
    Json(Value),
    /// Raw text.
    Text(String),
}

/// One HTTP request to make.
#[derive(Debug, Clone)]
pub(crate) struct HttpCall {
    pub method: Method,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub basic_auth: Option<(String, String)>,
    pub bearer: Option<String>,
    pub body: Body,
    pub check: Check,
}

impl HttpCall {
    fn post_json(url: Url, body: Value) -> Self {
        Self {
            method: Method::POST,
            url,
            headers: Vec::new(),
            basic_auth: None,
            bearer: None,
            body: Body::Json(body),
            check: Check::Status,
        }
    }
}

/// `base` (`scheme://host[/prefix]`, validated at parse time) plus path segments, each
/// percent-encoded, so a token can never change the host, query or fragment.
fn endpoint(base: &str, segments: &[&str]) -> Url {
    let mut u = url(base);
    if let Ok(mut path) = u.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    u
}

fn url(s: &str) -> Url {
    // Every caller formats a URL from parts that were validated as a URL at parse time.
    Url::parse(s)
        .unwrap_or_else(|_| Url::parse("https://invalid.invalid/").expect("constant URL is valid"))
}

fn with_title(title: Option<&str>, text: &str, bold: &str) -> String {
    match title {
        Some(t) if !t.is_empty() => format!("{bold}{t}{bold}\n{text}"),
        _ => text.to_owned(),
    }
}

fn insert_opt(map: &mut Map<String, Value>, key: &str, value: Option<&String>) {
    if let Some(v) = value {
        map.insert(key.to_owned(), Value::String(v.clone()));
    }
}

fn slack_calls(c: &SlackConfig, msg: &Message) -> Vec<HttpCall> {
    let title = c.title.as_deref().or(msg.title.as_deref());
    let mut body = Map::new();
    match &c.color {
        Some(color) => {
            body.insert("text".into(), json!(title.unwrap_or_default()));
            body.insert(
                "attachments".into(),
                json!([{ "text": msg.text, "color": color }]),
            );
        }
        None => {
            body.insert("text".into(), json!(with_title(title, &msg.text, "*")));
        }
    }
    insert_opt(&mut body, "username", c.botname.as_ref());
    if c.channel != "webhook" {
        body.insert("channel".into(), json!(c.channel));
    }
    if let Some(icon) = &c.icon {
        let key = if icon.starts_with("http://") || icon.starts_with("https://") {
            "icon_url"
        } else {
            "icon_emoji"
        };
        body.insert(key.into(), json!(icon));
    }
    insert_opt(&mut body, "thread_ts", c.thread_ts.as_ref());
    match &c.auth {
        SlackAuth::Webhook { a, b, c } => vec![HttpCall::post_json(
            endpoint(
                "https://hooks.slack.com/services",
                &[a.expose(), b.expose(), c.expose()],
            ),
            Value::Object(body),
        )],
        SlackAuth::Bot { token } => {
            let mut call = HttpCall::post_json(
                url("https://slack.com/api/chat.postMessage"),
                Value::Object(body),
            );
            call.bearer = Some(token.expose().to_owned());
            call.check = Check::SlackOk;
            vec![call]
        }
    }
}

fn teams_calls(c: &TeamsConfig, msg: &Message) -> Vec<HttpCall> {
    let title = c.title.as_deref().or(msg.title.as_deref());
    match &c.target {
        TeamsTarget::Connector { host, path } => {
            let mut segments = vec![path[0].expose().to_owned(), "IncomingWebhook".to_owned()];
            segments.extend(path[1..].iter().map(|s| s.expose().to_owned()));
            let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
            let target = endpoint(&format!("https://{host}/webhookb2"), &segments);
            vec![HttpCall::post_json(target, message_card(c, title, msg))]
        }
        TeamsTarget::ConnectorUrl { url: target } => {
            vec![HttpCall::post_json(
                url(target.expose()),
                message_card(c, title, msg),
            )]
        }
        TeamsTarget::Workflow { url: target } => {
            let mut blocks = Vec::new();
            if let Some(t) = title {
                blocks.push(json!({ "type": "TextBlock", "text": t, "weight": "Bolder", "size": "Medium", "wrap": true }));
            }
            blocks.push(json!({ "type": "TextBlock", "text": msg.text, "wrap": true }));
            let body = json!({
                "type": "message",
                "attachments": [{
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": null,
                    "content": {
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard",
                        "version": "1.4",
                        "body": blocks,
                    }
                }]
            });
            vec![HttpCall::post_json(url(target.expose()), body)]
        }
    }
}

fn message_card(c: &TeamsConfig, title: Option<&str>, msg: &Message) -> Value {
    let mut body = Map::new();
    body.insert("@type".into(), json!("MessageCard"));
    body.insert("@context".into(), json!("https://schema.org/extensions"));
    body.insert(
        "summary".into(),
        json!(title.unwrap_or(first_line(&msg.text))),
    );
    if let Some(t) = title {
        body.insert("title".into(), json!(t));
    }
    body.insert("text".into(), json!(msg.text));
    insert_opt(&mut body, "themeColor", c.color.as_ref());
    Value::Object(body)
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

fn rocketchat_calls(c: &RocketChatConfig, msg: &Message) -> Vec<HttpCall> {
    let mut body = Map::new();
    body.insert(
        "text".into(),
        json!(with_title(
            c.title.as_deref().or(msg.title.as_deref()),
            &msg.text,
            "*"
        )),
    );
    insert_opt(&mut body, "username", c.username.as_ref());
    insert_opt(&mut body, "channel", c.channel.as_ref());
    vec![HttpCall::post_json(
        endpoint(
            &format!("https://{}/hooks", c.host),
            &[c.token_a.expose(), c.token_b.expose()],
        ),
        Value::Object(body),
    )]
}

fn discord_calls(c: &DiscordConfig, msg: &Message) -> Vec<HttpCall> {
    let mut body = Map::new();
    body.insert(
        "content".into(),
        json!(with_title(
            c.title.as_deref().or(msg.title.as_deref()),
            &msg.text,
            "**"
        )),
    );
    insert_opt(&mut body, "username", c.username.as_ref());
    insert_opt(&mut body, "avatar_url", c.avatar_url.as_ref());
    vec![HttpCall::post_json(
        endpoint(
            "https://discord.com/api/webhooks",
            &[&c.webhook_id, c.token.expose()],
        ),
        Value::Object(body),
    )]
}

fn mattermost_calls(c: &MattermostConfig, msg: &Message) -> Vec<HttpCall> {
    let scheme = if c.disable_tls { "http" } else { "https" };
    let mut body = Map::new();
    body.insert(
        "text".into(),
        json!(with_title(
            c.title.as_deref().or(msg.title.as_deref()),
            &msg.text,
            "**"
        )),
    );
    insert_opt(&mut body, "username", c.username.as_ref());
    insert_opt(&mut body, "channel", c.channel.as_ref());
    insert_opt(&mut body, "icon_url", c.icon_url.as_ref());
    vec![HttpCall::post_json(
        endpoint(&format!("{scheme}://{}/hooks", c.host), &[c.token.expose()]),
        Value::Object(body),
    )]
}

fn telegram_calls(c: &TelegramConfig, msg: &Message) -> Vec<HttpCall> {
    let text = with_title(c.title.as_deref().or(msg.title.as_deref()), &msg.text, "");
    c.chats
        .iter()
        .map(|chat| {
            let mut body = Map::new();
            body.insert("chat_id".into(), json!(chat));
            body.insert("text".into(), json!(text));
            insert_opt(&mut body, "parse_mode", c.parse_mode.as_ref());
            if !c.notification {
                body.insert("disable_notification".into(), json!(true));
            }
            if !c.preview {
                body.insert("disable_web_page_preview".into(), json!(true));
            }
            HttpCall::post_json(
                endpoint(
                    "https://api.telegram.org",
                    &[&format!("bot{}", c.token.expose()), "sendMessage"],
                ),
                Value::Object(body),
            )
        })
        .collect()
}

fn googlechat_calls(c: &GoogleChatConfig, msg: &Message) -> Vec<HttpCall> {
    let mut target = url(&format!("https://{}{}", c.host, c.path));
    target
        .query_pairs_mut()
        .append_pair("key", c.key.expose())
        .append_pair("token", c.token.expose());
    vec![HttpCall::post_json(
        target,
        json!({ "text": with_title(msg.title.as_deref(), &msg.text, "*") }),
    )]
}

fn gotify_calls(c: &GotifyConfig, msg: &Message) -> Vec<HttpCall> {
    let scheme = if c.disable_tls { "http" } else { "https" };
    let mut body = Map::new();
    body.insert("message".into(), json!(msg.text));
    if let Some(t) = c.title.as_ref().or(msg.title.as_ref()) {
        body.insert("title".into(), json!(t));
    }
    body.insert("priority".into(), json!(c.priority));
    let mut call = HttpCall::post_json(
        url(&format!("{scheme}://{}{}/message", c.host, c.path)),
        Value::Object(body),
    );
    call.headers
        .push(("X-Gotify-Key".into(), c.token.expose().to_owned()));
    vec![call]
}

fn ntfy_calls(c: &NtfyConfig, msg: &Message) -> Vec<HttpCall> {
    let mut body = Map::new();
    body.insert("topic".into(), json!(c.topic));
    body.insert("message".into(), json!(msg.text));
    if let Some(t) = c.title.as_ref().or(msg.title.as_ref()) {
        body.insert("title".into(), json!(t));
    }
    if let Some(p) = c.priority {
        body.insert("priority".into(), json!(p));
    }
    if !c.tags.is_empty() {
        body.insert("tags".into(), json!(c.tags));
    }
    insert_opt(&mut body, "click", c.click.as_ref());
    insert_opt(&mut body, "icon", c.icon.as_ref());
    let mut call = HttpCall::post_json(
        url(&format!("{}://{}{}/", c.scheme, c.host, c.path)),
        Value::Object(body),
    );
    if !c.password.is_empty() {
        if c.username.is_empty() {
            call.bearer = Some(c.password.expose().to_owned());
        } else {
            call.basic_auth = Some((c.username.clone(), c.password.expose().to_owned()));
        }
    }
    vec![call]
}

fn pushover_calls(c: &PushoverConfig, msg: &Message) -> Vec<HttpCall> {
    let mut body = Map::new();
    body.insert("token".into(), json!(c.token.expose()));
    body.insert("user".into(), json!(c.user.expose()));
    body.insert("message".into(), json!(msg.text));
    if let Some(t) = c.title.as_ref().or(msg.title.as_ref()) {
        body.insert("title".into(), json!(t));
    }
    if let Some(p) = c.priority {
        body.insert("priority".into(), json!(p));
    }
    if !c.devices.is_empty() {
        body.insert("device".into(), json!(c.devices.join(",")));
    }
    vec![HttpCall::post_json(
        url("https://api.pushover.net/1/messages.json"),
        Value::Object(body),
    )]
}

fn generic_calls(c: &GenericConfig, msg: &Message) -> Vec<HttpCall> {
    let body = if c.json {
        let mut map = Map::new();
        if let Some(t) = c.title.as_ref().or(msg.title.as_ref()) {
            map.insert(c.title_key.clone(), json!(t));
        }
        map.insert(c.message_key.clone(), json!(msg.text));
        for (k, v) in &c.extra {
            map.insert(k.clone(), json!(v));
        }
        Body::Json(Value::Object(map))
    } else {
        Body::Text(msg.text.clone())
    };
    let mut headers = vec![("Content-Type".to_owned(), c.content_type.clone())];
    headers.extend(
        c.headers
            .iter()
            .map(|(k, v)| (k.clone(), v.expose().to_owned())),
    );
    let basic_auth = if c.username.is_empty() && c.password.is_empty() {
        None
    } else {
        Some((c.username.clone(), c.password.expose().to_owned()))
    };
    vec![HttpCall {
        method: Method::from_bytes(c.method.as_bytes()).unwrap_or(Method::POST),
        url: url(c.target.expose()),
        headers,
        basic_auth,
        bearer: None,
        body,
        check: Check::Status,
    }]
}

/// The requests for one message (HTTP services only; `None` for SMTP).
pub(crate) fn calls(config: &ServiceConfig, msg: &Message) -> Option<Vec<HttpCall>> {
    Some(match config {
        ServiceConfig::Slack(c) => slack_calls(c, msg),
        ServiceConfig::Teams(c) => teams_calls(c, msg),
        ServiceConfig::RocketChat(c) => rocketchat_calls(c, msg),
        ServiceConfig::Discord(c) => discord_calls(c, msg),
        ServiceConfig::Mattermost(c) => mattermost_calls(c, msg),
        ServiceConfig::Telegram(c) => telegram_calls(c, msg),
        ServiceConfig::GoogleChat(c) => googlechat_calls(c, msg),
        ServiceConfig::Gotify(c) => gotify_calls(c, msg),
        ServiceConfig::Ntfy(c) => ntfy_calls(c, msg),
        ServiceConfig::Pushover(c) => pushover_calls(c, msg),
        ServiceConfig::Generic(c) => generic_calls(c, msg),
        ServiceConfig::Smtp(_) => return None,
    })
}

/// Builds the shared HTTP client: rustls with the `ring` provider and the OS trust store
/// (rustls-platform-verifier), independent of any process-wide default provider.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, BuildError> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| BuildError::Http(e.to_string()))?
        .with_platform_verifier()
        .map_err(|e| BuildError::Http(e.to_string()))?
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("kured-rs-notify/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| BuildError::Http(e.without_url().to_string()))
}

/// A notifier for one HTTP service URL.
#[derive(Debug)]
pub struct HttpNotifier {
    config: ServiceConfig,
    client: reqwest::Client,
    timeout: Duration,
    secrets: Vec<Secret>,
    base_url: Option<Url>,
}

impl HttpNotifier {
    /// Wraps a parsed configuration. `None` for SMTP (use [`crate::SmtpNotifier`]).
    pub fn new(config: ServiceConfig, client: reqwest::Client, timeout: Duration) -> Option<Self> {
        if matches!(config, ServiceConfig::Smtp(_)) {
            return None;
        }
        let secrets = config.secrets();
        Some(Self {
            config,
            client,
            timeout,
            secrets,
            base_url: None,
        })
    }

    /// Sends every request to `base` (scheme, host and port) instead of the service's host; the
    /// path and query stay. For tests against a local server.
    #[cfg(test)]
    pub(crate) fn with_base_url(mut self, base: Url) -> Self {
        self.base_url = Some(base);
        self
    }

    fn target(&self) -> String {
        self.config.to_string()
    }

    fn fail(&self, failure: SendFailure) -> SendError {
        let err = SendError {
            service: self.config.service(),
            target: self.target(),
            failure,
        };
        tracing::warn!(
            service = err.service,
            target = %err.target,
            status = err.status(),
            error = %err.failure,
            "notification failed"
        );
        err
    }

    async fn send_call(&self, mut call: HttpCall) -> Result<(), SendFailure> {
        if let Some(base) = &self.base_url {
            let _ = call.url.set_scheme(base.scheme());
            let _ = call.url.set_host(base.host_str());
            let _ = call.url.set_port(base.port());
        }
        let mut req = self.client.request(call.method, call.url);
        let mut has_content_type = false;
        for (k, v) in &call.headers {
            has_content_type |= k.eq_ignore_ascii_case("content-type");
            req = req.header(k.as_str(), v.as_str());
        }
        if let Some((user, password)) = &call.basic_auth {
            req = req.basic_auth(user, Some(password));
        }
        if let Some(token) = &call.bearer {
            req = req.bearer_auth(token);
        }
        req = match call.body {
            Body::Json(v) if has_content_type => req.body(v.to_string()),
            Body::Json(v) => req.json(&v),
            Body::Text(t) => req.body(t),
        };
        let resp = req.send().await.map_err(|e| self.transport(e))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(SendFailure::Status(status.as_u16()));
        }
        if call.check == Check::SlackOk {
            let body: Value = resp.json().await.map_err(|e| self.transport(e))?;
            if body.get("ok").and_then(Value::as_bool) != Some(true) {
                let reason = body
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown error");
                return Err(SendFailure::Rejected(scrub(reason, &self.secrets)));
            }
        }
        Ok(())
    }

    fn transport(&self, e: reqwest::Error) -> SendFailure {
        if e.is_timeout() {
            return SendFailure::Timeout(self.timeout);
        }
        let e = e.without_url();
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        SendFailure::Transport(scrub(&text, &self.secrets))
    }
}

#[async_trait]
impl Notifier for HttpNotifier {
    fn service(&self) -> &'static str {
        self.config.service()
    }

    fn target(&self) -> String {
        self.target()
    }

    async fn send(&self, message: &Message) -> Result<(), NotifyError> {
        let Some(calls) = calls(&self.config, message) else {
            return Ok(());
        };
        let all = async {
            for call in calls {
                self.send_call(call).await?;
            }
            Ok::<(), SendFailure>(())
        };
        match tokio::time::timeout(self.timeout, all).await {
            Ok(Ok(())) => {
                tracing::debug!(service = self.config.service(), target = %self.target(), "notification sent");
                Ok(())
            }
            Ok(Err(f)) => Err(self.fail(f).into()),
            Err(_) => Err(self.fail(SendFailure::Timeout(self.timeout)).into()),
        }
    }
}
