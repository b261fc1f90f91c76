//! Parsing of shoutrrr-style notification URLs into service configurations.
//!
//! Every check happens here, at startup: a URL that parses is one the backend can send to.

use std::fmt;

use percent_encoding::percent_decode_str;
use url::Url;

use crate::error::{ParseError, UrlProblem};
use crate::secret::{REDACTED, Secret};

/// Schemes accepted by [`parse_url`].
pub const SUPPORTED_SCHEMES: &[&str] = &[
    "slack",
    "teams",
    "teams+https",
    "rocketchat",
    "smtp",
    "discord",
    "mattermost",
    "telegram",
    "googlechat",
    "gotify",
    "ntfy",
    "pushover",
    "generic",
    "generic+http",
    "generic+https",
];

type Res<T> = Result<T, UrlProblem>;

/// One parsed notification URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceConfig {
    /// Slack webhook or bot API.
    Slack(SlackConfig),
    /// Microsoft Teams incoming webhook (`MessageCard`) or workflow webhook (Adaptive Card).
    Teams(TeamsConfig),
    /// Rocket.Chat incoming webhook.
    RocketChat(RocketChatConfig),
    /// E-mail over SMTP.
    Smtp(SmtpConfig),
    /// Discord webhook.
    Discord(DiscordConfig),
    /// Mattermost incoming webhook.
    Mattermost(MattermostConfig),
    /// Telegram bot API.
    Telegram(TelegramConfig),
    /// Google Chat space webhook.
    GoogleChat(GoogleChatConfig),
    /// Gotify server.
    Gotify(GotifyConfig),
    /// ntfy server.
    Ntfy(NtfyConfig),
    /// Pushover API.
    Pushover(PushoverConfig),
    /// POST to any URL.
    Generic(GenericConfig),
}

impl ServiceConfig {
    /// The service name used in logs and errors.
    pub fn service(&self) -> &'static str {
        match self {
            Self::Slack(_) => "slack",
            Self::Teams(_) => "teams",
            Self::RocketChat(_) => "rocketchat",
            Self::Smtp(_) => "smtp",
            Self::Discord(_) => "discord",
            Self::Mattermost(_) => "mattermost",
            Self::Telegram(_) => "telegram",
            Self::GoogleChat(_) => "googlechat",
            Self::Gotify(_) => "gotify",
            Self::Ntfy(_) => "ntfy",
            Self::Pushover(_) => "pushover",
            Self::Generic(_) => "generic",
        }
    }

    /// Every secret of this configuration (used to scrub third-party error texts).
    pub(crate) fn secrets(&self) -> Vec<Secret> {
        match self {
            Self::Slack(c) => match &c.auth {
                SlackAuth::Webhook { a, b, c } => vec![a.clone(), b.clone(), c.clone()],
                SlackAuth::Bot { token } => vec![token.clone()],
            },
            Self::Teams(c) => match &c.target {
                TeamsTarget::Connector { path, .. } => {
                    let mut v = path.clone();
                    v.push(Secret::new(
                        path.iter()
                            .map(Secret::expose)
                            .collect::<Vec<_>>()
                            .join("/"),
                    ));
                    v
                }
                TeamsTarget::Workflow { url } | TeamsTarget::ConnectorUrl { url } => {
                    url_secrets(url.expose())
                }
            },
            Self::RocketChat(c) => vec![c.token_a.clone(), c.token_b.clone()],
            Self::Smtp(c) => vec![c.password.clone()],
            Self::Discord(c) => vec![c.token.clone()],
            Self::Mattermost(c) => vec![c.token.clone()],
            Self::Telegram(c) => {
                let mut v = vec![c.token.clone()];
                if let Some((_, after)) = c.token.expose().split_once(':') {
                    v.push(Secret::new(after));
                }
                v
            }
            Self::GoogleChat(c) => vec![c.key.clone(), c.token.clone()],
            Self::Gotify(c) => vec![c.token.clone()],
            Self::Ntfy(c) => vec![c.password.clone()],
            Self::Pushover(c) => vec![c.token.clone(), c.user.clone()],
            Self::Generic(c) => {
                let mut v = url_secrets(c.target.expose());
                v.extend(c.headers.iter().map(|(_, value)| value.clone()));
                v.push(c.password.clone());
                v
            }
        }
    }
}

/// Path segments, query values and password of a secret URL, each as a secret.
fn url_secrets(raw: &str) -> Vec<Secret> {
    let mut v = vec![Secret::new(raw)];
    if let Ok(u) = Url::parse(raw) {
        if let Some(segments) = u.path_segments() {
            v.extend(segments.filter(|s| s.len() > 3).map(Secret::new));
        }
        v.extend(
            u.query_pairs()
                .map(|(_, value)| Secret::new(value.into_owned())),
        );
        if let Some(p) = u.password() {
            v.push(Secret::new(p));
        }
    }
    v
}

impl fmt::Display for ServiceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Slack(c) => match &c.auth {
                SlackAuth::Webhook { .. } => write!(f, "slack://hook:{REDACTED}@{}", c.channel),
                SlackAuth::Bot { .. } => write!(f, "slack://xoxb:{REDACTED}@{}", c.channel),
            },
            Self::Teams(c) => match &c.target {
                TeamsTarget::Connector { host, .. } => {
                    write!(f, "teams://{REDACTED}?host={host}")
                }
                TeamsTarget::Workflow { url } | TeamsTarget::ConnectorUrl { url } => {
                    let host = Url::parse(url.expose())
                        .ok()
                        .and_then(|u| u.host_str().map(str::to_owned))
                        .unwrap_or_default();
                    write!(f, "teams+https://{host}/{REDACTED}")
                }
            },
            Self::RocketChat(c) => write!(f, "rocketchat://{}/{REDACTED}", c.host),
            Self::Smtp(c) => {
                let user = if c.username.is_empty() {
                    String::new()
                } else if c.password.is_empty() {
                    format!("{}@", c.username)
                } else {
                    format!("{}:{REDACTED}@", c.username)
                };
                write!(f, "smtp://{user}{}:{}", c.host, c.port)
            }
            Self::Discord(c) => write!(f, "discord://{REDACTED}@{}", c.webhook_id),
            Self::Mattermost(c) => write!(f, "mattermost://{}/{REDACTED}", c.host),
            Self::Telegram(c) => write!(
                f,
                "telegram://{REDACTED}@telegram?chats={}",
                c.chats.join(",")
            ),
            Self::GoogleChat(c) => write!(
                f,
                "googlechat://{}{}?key={REDACTED}&token={REDACTED}",
                c.host, c.path
            ),
            Self::Gotify(c) => write!(f, "gotify://{}{}/{REDACTED}", c.host, c.path),
            Self::Ntfy(c) => write!(f, "ntfy://{}/{}", c.host, c.topic),
            Self::Pushover(c) => {
                let devices = if c.devices.is_empty() {
                    String::new()
                } else {
                    format!("?devices={}", c.devices.join(","))
                };
                write!(f, "pushover://shoutrrr:{REDACTED}@{REDACTED}/{devices}")
            }
            Self::Generic(c) => {
                let host = Url::parse(c.target.expose())
                    .ok()
                    .and_then(|u| {
                        u.host_str().map(|h| {
                            u.port()
                                .map_or_else(|| h.to_owned(), |p| format!("{h}:{p}"))
                        })
                    })
                    .unwrap_or_default();
                write!(f, "generic://{host}/{REDACTED}")
            }
        }
    }
}

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

/// Where a Teams message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TeamsTarget {
    /// Office 365 connector: `https://{host}/webhookb2/{group}@{tenant}/IncomingWebhook/{altId}/{groupOwner}[/{extraId}]`.
    Connector {
        /// Organisation webhook host, e.g. `contoso.webhook.office.com`.
        host: String,
        /// `group@tenant`, `altId`, `groupOwner` and optionally `extraId`.
        path: Vec<Secret>,
    },
    /// A full Office 365 connector URL given as `teams+https://…/IncomingWebhook/…`.
    ConnectorUrl {
        /// The full URL.
        url: Secret,
    },
    /// Power Automate / Teams workflow webhook: the full https URL (its `sig` is the secret).
    Workflow {
        /// The full URL.
        url: Secret,
    },
}

/// `teams://group@tenant/altId/groupOwner[/extraId]?host=org.webhook.office.com` or
/// `teams+https://<workflow or connector URL>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamsConfig {
    /// The target.
    pub target: TeamsTarget,
    /// Card title.
    pub title: Option<String>,
    /// Theme colour (connector cards).
    pub color: Option<String>,
}

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

/// SMTP encryption mode (shoutrrr's `encryption`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpEncryption {
    /// Implicit TLS on port 465, else like `None`.
    Auto,
    /// No implicit TLS; STARTTLS when offered and `usestarttls` is on.
    None,
    /// STARTTLS required.
    ExplicitTls,
    /// TLS from the first byte (SMTPS).
    ImplicitTls,
}

/// SMTP authentication (shoutrrr's `auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpAuth {
    /// Let the client pick among what the server offers.
    Unknown,
    /// No authentication even if credentials are given.
    None,
    /// PLAIN / LOGIN.
    Plain,
    /// XOAUTH2 (the password is the token).
    OAuth2,
}

/// `smtp://[user[:password]@]host[:port]/?fromAddress=…&toAddresses=a,b[&subject=…]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// Server host.
    pub host: String,
    /// Server port (default 25).
    pub port: u16,
    /// Login name (may be empty).
    pub username: String,
    /// Password.
    pub password: Secret,
    /// Sender address.
    pub from_address: String,
    /// Sender display name.
    pub from_name: Option<String>,
    /// Recipients.
    pub to_addresses: Vec<String>,
    /// Fixed subject (default: the message title or its first line).
    pub subject: Option<String>,
    /// Encryption mode.
    pub encryption: SmtpEncryption,
    /// Use STARTTLS when offered.
    pub use_starttls: bool,
    /// Name sent in EHLO.
    pub client_host: Option<String>,
    /// Authentication mode.
    pub auth: SmtpAuth,
    /// Send the body as text/html.
    pub use_html: bool,
}

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

/// `generic://host/path?…` (https unless `disabletls=yes`), `generic+https://…`, `generic+http://…`.
///
/// Without `template` the body is the raw message (shoutrrr's default); with `template=json` it is
/// `{"title": …, "message": …}` (keys renamable with `titlekey`/`messagekey`, extra fields with
/// `$key=value`). `@Name=value` adds a request header; other parameters are forwarded to the target
/// (prefix `_` to forward a reserved name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenericConfig {
    /// The target URL with the forwarded query, without userinfo.
    pub target: Secret,
    /// Basic-auth user from the URL.
    pub username: String,
    /// Basic-auth password from the URL.
    pub password: Secret,
    /// Content-Type header (default `application/json`).
    pub content_type: String,
    /// HTTP method (default POST).
    pub method: String,
    /// Send a JSON object instead of the raw message.
    pub json: bool,
    /// Key of the message in the JSON object.
    pub message_key: String,
    /// Key of the title in the JSON object.
    pub title_key: String,
    /// Fixed title.
    pub title: Option<String>,
    /// Extra JSON fields (`$key=value`).
    pub extra: Vec<(String, String)>,
    /// Extra headers (`@Name=value`); values are secrets (they are often tokens).
    pub headers: Vec<(String, Secret)>,
}

/// Splits a `--notify-url` value into single URLs: whitespace separates; a comma separates only
/// when what follows it starts a new `scheme://` (commas inside a URL's query, such as
/// `toAddresses=a,b`, stay). Surrounding quotes (kured's `stripQuotes`) are removed.
pub fn split_urls(list: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in list.split_whitespace() {
        let word = strip_quotes(word);
        let mut start = 0;
        let bytes = word.as_bytes();
        for (i, b) in bytes.iter().enumerate() {
            if *b == b',' && starts_with_scheme(&word[i + 1..]) {
                push_nonempty(&mut out, &word[start..i]);
                start = i + 1;
            }
        }
        push_nonempty(&mut out, &word[start..]);
    }
    out
}

fn push_nonempty(out: &mut Vec<String>, s: &str) {
    let s = strip_quotes(s.trim_matches(','));
    if !s.is_empty() {
        out.push(s.to_owned());
    }
}

fn starts_with_scheme(s: &str) -> bool {
    let Some(pos) = s.find("://") else {
        return false;
    };
    let scheme = &s[..pos];
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Removes one pair of matching surrounding `"` or `'` (kured's `stripQuotes`).
pub fn strip_quotes(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() >= 2 && b[0] == b[b.len() - 1] && (b[0] == b'"' || b[0] == b'\'') {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

/// Parses a list of URLs (see [`split_urls`]); any bad URL fails the whole list.
pub fn parse_urls(list: &str) -> Result<Vec<ServiceConfig>, ParseError> {
    split_urls(list)
        .iter()
        .enumerate()
        .map(|(i, u)| parse_url_at(u, i + 1))
        .collect()
}

/// Parses one shoutrrr-style URL.
pub fn parse_url(raw: &str) -> Result<ServiceConfig, ParseError> {
    parse_url_at(raw, 1)
}

fn parse_url_at(raw: &str, position: usize) -> Result<ServiceConfig, ParseError> {
    let raw = strip_quotes(raw.trim());
    let err = |service: &'static str, problem| ParseError {
        position,
        service,
        problem,
    };
    let url = Url::parse(raw).map_err(|e| err("unknown", UrlProblem::Syntax(e)))?;
    let scheme = url.scheme().to_ascii_lowercase();
    // The service is the scheme without its `+transport` suffix; both come from the static
    // table, so the name is `'static`.
    let service: &'static str = SUPPORTED_SCHEMES
        .iter()
        .find(|s| **s == scheme)
        .map(|s| s.split_once('+').map_or(*s, |(base, _)| base))
        .ok_or_else(|| err("unknown", UrlProblem::UnknownScheme(scheme.clone())))?;
    let after_scheme = &raw[raw.find("://").map_or(0, |p| p + 3)..];
    let result = match scheme.as_str() {
        "slack" => parse_slack(&url).map(ServiceConfig::Slack),
        "teams" => parse_teams(&url).map(ServiceConfig::Teams),
        "teams+https" => {
            parse_teams_https(&format!("https://{after_scheme}")).map(ServiceConfig::Teams)
        }
        "rocketchat" => parse_rocketchat(&url).map(ServiceConfig::RocketChat),
        "smtp" => parse_smtp(&url).map(ServiceConfig::Smtp),
        "discord" => parse_discord(&url).map(ServiceConfig::Discord),
        "mattermost" => parse_mattermost(&url).map(ServiceConfig::Mattermost),
        "telegram" => parse_telegram(&url).map(ServiceConfig::Telegram),
        "googlechat" => parse_googlechat(&url).map(ServiceConfig::GoogleChat),
        "gotify" => parse_gotify(&url).map(ServiceConfig::Gotify),
        "ntfy" => parse_ntfy(&url).map(ServiceConfig::Ntfy),
        "pushover" => parse_pushover(&url).map(ServiceConfig::Pushover),
        "generic" => {
            let mut q = Query::new(&url);
            q.bool("disabletls", false).and_then(|disable_tls| {
                let target_scheme = if disable_tls { "http" } else { "https" };
                parse_generic(&format!("{target_scheme}://{after_scheme}"), Some(q.rest()))
                    .map(ServiceConfig::Generic)
            })
        }
        "generic+http" => {
            parse_generic(&format!("http://{after_scheme}"), None).map(ServiceConfig::Generic)
        }
        "generic+https" => {
            parse_generic(&format!("https://{after_scheme}"), None).map(ServiceConfig::Generic)
        }
        _ => Err(UrlProblem::UnknownScheme(scheme.clone())),
    };
    result.map_err(|p| err(service, p))
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

fn host_port(url: &Url) -> Res<String> {
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or(UrlProblem::Missing("host"))?;
    let host = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    // The host is later used in an http(s) URL: check that it is a valid one now.
    if Url::parse(&format!("https://{host}/")).is_err() {
        return Err(UrlProblem::Malformed("host"));
    }
    Ok(host)
}

fn path_parts(url: &Url) -> Vec<String> {
    url.path_segments()
        .map(|s| s.filter(|p| !p.is_empty()).map(decode).collect())
        .unwrap_or_default()
}

fn nonempty(s: Option<String>) -> Option<String> {
    s.filter(|v| !v.is_empty())
}

/// Query parameters, matched case-insensitively; every parameter must be consumed.
struct Query {
    pairs: Vec<(String, String, String)>, // (lowercase key, original key, value)
}

impl Query {
    fn new(url: &Url) -> Self {
        Self {
            pairs: url
                .query_pairs()
                .map(|(k, v)| (k.to_ascii_lowercase(), k.into_owned(), v.into_owned()))
                .collect(),
        }
    }

    /// Removes and returns the value of the first of `names` present.
    fn take(&mut self, names: &[&str]) -> Res<Option<String>> {
        let found: Vec<usize> = (0..self.pairs.len())
            .filter(|i| names.contains(&self.pairs[*i].0.as_str()))
            .collect();
        if found.len() > 1 {
            return Err(UrlProblem::DuplicateQueryParameter(
                self.pairs[found[1]].1.clone(),
            ));
        }
        Ok(found.first().map(|i| self.pairs.remove(*i).2))
    }

    fn string(&mut self, names: &[&str]) -> Res<Option<String>> {
        Ok(nonempty(self.take(names)?))
    }

    fn bool(&mut self, name: &str, default: bool) -> Res<bool> {
        match self.take(&[name])? {
            None => Ok(default),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "yes" | "true" | "1" | "on" => Ok(true),
                "no" | "false" | "0" | "off" => Ok(false),
                _ => Err(UrlProblem::InvalidQueryValue {
                    key: name.to_owned(),
                    expected: "yes or no",
                }),
            },
        }
    }

    fn list(&mut self, names: &[&str]) -> Res<Vec<String>> {
        Ok(self
            .take(names)?
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Fails on the first parameter nobody consumed.
    fn finish(self) -> Res<()> {
        match self.pairs.into_iter().next() {
            Some((_, key, _)) => Err(UrlProblem::UnknownQueryParameter(key)),
            None => Ok(()),
        }
    }

    /// The parameters nobody consumed, in order, with their original keys.
    fn rest(self) -> Vec<(String, String)> {
        self.pairs.into_iter().map(|(_, k, v)| (k, v)).collect()
    }
}

fn parse_slack(url: &Url) -> Res<SlackConfig> {
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
        (slack_new_auth(&user, &token, &host, &parts)?, host)
    } else {
        // Legacy format: slack://[botname@]A/B/C.
        if !user.is_empty() {
            botname = Some(user);
        }
        if host.is_empty() && parts.is_empty() {
            return Err(UrlProblem::Missing("token"));
        }
        if parts.len() != 2 || host.is_empty() {
            return Err(UrlProblem::Malformed(
                "webhook token (expected slack://A/B/C)",
            ));
        }
        let auth = SlackAuth::Webhook {
            a: Secret::new(host),
            b: Secret::new(parts[0].clone()),
            c: Secret::new(parts[1].clone()),
        };
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

fn slack_new_auth(user: &str, token: &str, host: &str, parts: &[String]) -> Res<SlackAuth> {
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

fn parse_teams(url: &Url) -> Res<TeamsConfig> {
    let mut q = Query::new(url);
    let group = decode(url.username());
    let tenant = url.host_str().map(decode).unwrap_or_default();
    if group.is_empty() || tenant.is_empty() {
        return Err(UrlProblem::Missing("group@tenant"));
    }
    let parts = path_parts(url);
    if parts.len() < 2 {
        return Err(UrlProblem::Missing("altId/groupOwner"));
    }
    if parts.len() > 3 {
        return Err(UrlProblem::Malformed(
            "path (expected altId/groupOwner[/extraId])",
        ));
    }
    let host = q.string(&["host"])?.ok_or(UrlProblem::Missing(
        "`host` query parameter (e.g. host=example.webhook.office.com)",
    ))?;
    if host.contains('/') {
        return Err(UrlProblem::InvalidQueryValue {
            key: "host".into(),
            expected: "a host name",
        });
    }
    let mut path = vec![Secret::new(format!("{group}@{tenant}"))];
    path.extend(parts.into_iter().map(Secret::new));
    let config = TeamsConfig {
        target: TeamsTarget::Connector { host, path },
        title: q.string(&["title"])?,
        color: q.string(&["color"])?,
    };
    q.finish()?;
    Ok(config)
}

fn parse_teams_https(raw: &str) -> Res<TeamsConfig> {
    let url = Url::parse(raw).map_err(UrlProblem::Syntax)?;
    host_port(&url)?;
    if url.path().trim_matches('/').is_empty() {
        return Err(UrlProblem::Missing("webhook path"));
    }
    // An Office 365 connector URL (…/IncomingWebhook/…) gets a MessageCard, anything else
    // (Power Automate / Teams workflows) an Adaptive Card.
    if path_parts(&url).iter().any(|s| s == "IncomingWebhook") {
        return Ok(TeamsConfig {
            target: TeamsTarget::ConnectorUrl {
                url: Secret::new(url.as_str()),
            },
            title: None,
            color: None,
        });
    }
    Ok(TeamsConfig {
        target: TeamsTarget::Workflow {
            url: Secret::new(url.as_str()),
        },
        title: None,
        color: None,
    })
}

fn parse_rocketchat(url: &Url) -> Res<RocketChatConfig> {
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

fn parse_smtp(url: &Url) -> Res<SmtpConfig> {
    let mut q = Query::new(url);
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or(UrlProblem::Missing("host"))?
        .to_owned();
    let from_address = q
        .string(&["fromaddress", "from"])?
        .ok_or(UrlProblem::Missing("fromAddress"))?;
    check_address(&from_address, "fromAddress")?;
    let to_addresses = q.list(&["toaddresses", "to"])?;
    if to_addresses.is_empty() {
        return Err(UrlProblem::Missing("toAddresses"));
    }
    for a in &to_addresses {
        check_address(a, "toAddresses")?;
    }
    let encryption = match q
        .take(&["encryption"])?
        .map(|v| v.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("auto" | "") => SmtpEncryption::Auto,
        Some("none") => SmtpEncryption::None,
        Some("explicittls" | "starttls") => SmtpEncryption::ExplicitTls,
        Some("implicittls" | "tls" | "ssl") => SmtpEncryption::ImplicitTls,
        Some(_) => {
            return Err(UrlProblem::InvalidQueryValue {
                key: "encryption".into(),
                expected: "one of None, ExplicitTLS, ImplicitTLS, Auto",
            });
        }
    };
    let auth = match q
        .take(&["auth"])?
        .map(|v| v.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("unknown" | "") => SmtpAuth::Unknown,
        Some("none") => SmtpAuth::None,
        Some("plain" | "login") => SmtpAuth::Plain,
        Some("oauth2") => SmtpAuth::OAuth2,
        Some(_) => {
            return Err(UrlProblem::InvalidQueryValue {
                key: "auth".into(),
                expected: "one of None, Plain, OAuth2, Unknown (CRAMMD5 is not supported)",
            });
        }
    };
    let port = url
        .port()
        .unwrap_or(if encryption == SmtpEncryption::ImplicitTls {
            465
        } else {
            25
        });
    let config = SmtpConfig {
        host,
        port,
        username: decode(url.username()),
        password: Secret::new(url.password().map(decode).unwrap_or_default()),
        from_address,
        from_name: q.string(&["fromname"])?,
        to_addresses,
        subject: q.string(&["subject", "title"])?,
        encryption,
        use_starttls: q.bool("usestarttls", true)?,
        client_host: q.string(&["clienthost"])?,
        auth,
        use_html: q.bool("usehtml", false)?,
    };
    if !url.path().trim_matches('/').is_empty() {
        return Err(UrlProblem::Malformed("path (parameters go in the query)"));
    }
    q.finish()?;
    Ok(config)
}

fn check_address(a: &str, what: &'static str) -> Res<()> {
    a.parse::<lettre::Address>()
        .map(|_| ())
        .map_err(|_| UrlProblem::Malformed(what))
}

fn parse_discord(url: &Url) -> Res<DiscordConfig> {
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
    // Accepted for compatibility, no effect on the plain-content message.
    for ignored in [
        "color",
        "colordebug",
        "colorerror",
        "colorinfo",
        "colorwarn",
        "json",
        "splitlines",
    ] {
        q.take(&[ignored])?;
    }
    q.finish()?;
    Ok(config)
}

fn parse_mattermost(url: &Url) -> Res<MattermostConfig> {
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

fn parse_telegram(url: &Url) -> Res<TelegramConfig> {
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
    let parse_mode = match q
        .take(&["parsemode"])?
        .map(|v| v.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("none" | "") => None,
        Some("markdown") => Some("Markdown".to_owned()),
        Some("markdownv2") => Some("MarkdownV2".to_owned()),
        Some("html") => Some("HTML".to_owned()),
        Some(_) => {
            return Err(UrlProblem::InvalidQueryValue {
                key: "parsemode".into(),
                expected: "one of None, Markdown, MarkdownV2, HTML",
            });
        }
    };
    let config = TelegramConfig {
        token: Secret::new(format!("{id}:{secret}")),
        chats,
        parse_mode,
        notification: q.bool("notification", true)?,
        preview: q.bool("preview", true)?,
        title: q.string(&["title"])?,
    };
    q.finish()?;
    Ok(config)
}

fn parse_googlechat(url: &Url) -> Res<GoogleChatConfig> {
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

fn parse_gotify(url: &Url) -> Res<GotifyConfig> {
    let mut q = Query::new(url);
    let host = host_port(url)?;
    let mut parts = path_parts(url);
    let token = parts.pop().ok_or(UrlProblem::Missing("token"))?;
    let path: String = parts.iter().flat_map(|p| ["/", p.as_str()]).collect();
    let priority = match q.take(&["priority"])? {
        None => 0,
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| UrlProblem::InvalidQueryValue {
                key: "priority".into(),
                expected: "an integer",
            })?,
    };
    let config = GotifyConfig {
        host,
        path,
        token: Secret::new(token),
        priority,
        title: q.string(&["title"])?,
        disable_tls: q.bool("disabletls", false)?,
    };
    q.finish()?;
    Ok(config)
}

fn parse_ntfy(url: &Url) -> Res<NtfyConfig> {
    let mut q = Query::new(url);
    // shoutrrr's default host.
    let host = if url.host_str().unwrap_or_default().is_empty() {
        "ntfy.sh".to_owned()
    } else {
        host_port(url)?
    };
    let mut parts = path_parts(url);
    let topic = parts.pop().ok_or(UrlProblem::Missing("topic"))?;
    let path: String = parts.iter().flat_map(|p| ["/", p.as_str()]).collect();
    let scheme = match q
        .take(&["scheme"])?
        .map(|v| v.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("https" | "") => "https".to_owned(),
        Some("http") => "http".to_owned(),
        Some(_) => {
            return Err(UrlProblem::InvalidQueryValue {
                key: "scheme".into(),
                expected: "http or https",
            });
        }
    };
    let priority = match q
        .take(&["priority", "prio", "p"])?
        .map(|v| v.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("") => None,
        Some("1" | "min") => Some(1),
        Some("2" | "low") => Some(2),
        Some("3" | "default") => Some(3),
        Some("4" | "high") => Some(4),
        Some("5" | "max" | "urgent") => Some(5),
        Some(_) => {
            return Err(UrlProblem::InvalidQueryValue {
                key: "priority".into(),
                expected: "1-5 or min, low, default, high, max, urgent",
            });
        }
    };
    let config = NtfyConfig {
        host,
        path,
        topic,
        username: decode(url.username()),
        password: Secret::new(url.password().map(decode).unwrap_or_default()),
        scheme,
        title: q.string(&["title"])?,
        priority,
        tags: q.list(&["tags", "tag", "ta"])?,
        click: q.string(&["click"])?,
        icon: q.string(&["icon"])?,
    };
    q.finish()?;
    Ok(config)
}

fn parse_pushover(url: &Url) -> Res<PushoverConfig> {
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
    let priority = match q.take(&["priority"])? {
        None => None,
        Some(v) => Some(
            v.trim()
                .parse::<i8>()
                .ok()
                .filter(|p| (-2..=2).contains(p))
                .ok_or(UrlProblem::InvalidQueryValue {
                    key: "priority".into(),
                    expected: "an integer from -2 to 2",
                })?,
        ),
    };
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

const GENERIC_RESERVED: &[&str] = &[
    "contenttype",
    "disabletls",
    "template",
    "title",
    "messagekey",
    "titlekey",
    "method",
];

#[allow(clippy::too_many_lines)] // one flat match over shoutrrr's reserved keys reads best
fn parse_generic(raw: &str, pre_consumed: Option<Vec<(String, String)>>) -> Res<GenericConfig> {
    let url = Url::parse(raw).map_err(UrlProblem::Syntax)?;
    host_port(&url)?;
    let pairs: Vec<(String, String)> = match pre_consumed {
        Some(p) => p,
        None => url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
    };
    let mut content_type = "application/json".to_owned();
    let mut method = "POST".to_owned();
    let mut json = false;
    let mut message_key = "message".to_owned();
    let mut title_key = "title".to_owned();
    let mut title = None;
    let mut extra = Vec::new();
    let mut headers = Vec::new();
    let mut forward: Vec<(String, String)> = Vec::new();
    for (key, value) in pairs {
        if let Some(name) = key.strip_prefix('@') {
            if name.is_empty() || reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
            {
                return Err(UrlProblem::Malformed("header name in `@` parameter"));
            }
            if reqwest::header::HeaderValue::from_str(&value).is_err() {
                return Err(UrlProblem::InvalidQueryValue {
                    key: key.clone(),
                    expected: "a valid header value",
                });
            }
            headers.push((name.to_owned(), Secret::new(value)));
            continue;
        }
        if let Some(name) = key.strip_prefix('$') {
            if name.is_empty() {
                return Err(UrlProblem::Malformed("field name in `$` parameter"));
            }
            extra.push((name.to_owned(), value));
            continue;
        }
        match key.to_ascii_lowercase().as_str() {
            "contenttype" => content_type = value,
            "disabletls" => {
                return Err(UrlProblem::InvalidQueryValue {
                    key,
                    expected: "absent with generic+http(s):// (the scheme decides)",
                });
            }
            "template" => match value.to_ascii_lowercase().as_str() {
                "" => json = false,
                "json" => json = true,
                _ => {
                    return Err(UrlProblem::InvalidQueryValue {
                        key,
                        expected: "json (named templates are not supported)",
                    });
                }
            },
            "title" => title = nonempty(Some(value)),
            "messagekey" => message_key = value,
            "titlekey" => title_key = value,
            "method" => {
                let m = value.to_ascii_uppercase();
                if !matches!(m.as_str(), "POST" | "PUT" | "PATCH" | "GET" | "DELETE") {
                    return Err(UrlProblem::InvalidQueryValue {
                        key,
                        expected: "POST, PUT, PATCH, GET or DELETE",
                    });
                }
                method = m;
            }
            _ => {
                let forwarded_key = match key.strip_prefix('_') {
                    Some(k) if GENERIC_RESERVED.contains(&k.to_ascii_lowercase().as_str()) => {
                        k.to_owned()
                    }
                    _ => key,
                };
                forward.push((forwarded_key, value));
            }
        }
    }
    if reqwest::header::HeaderValue::from_str(&content_type).is_err() {
        return Err(UrlProblem::InvalidQueryValue {
            key: "contenttype".into(),
            expected: "a valid header value",
        });
    }
    let mut target = url.clone();
    let username = decode(url.username());
    let password = url.password().map(decode).unwrap_or_default();
    // Infallible for http(s) URLs, which this always is.
    let _ = target.set_username("");
    let _ = target.set_password(None);
    target.set_query(None);
    if !forward.is_empty() {
        target.query_pairs_mut().extend_pairs(forward);
    }
    Ok(GenericConfig {
        target: Secret::new(target.as_str()),
        username,
        password: Secret::new(password),
        content_type,
        method,
        json,
        message_key,
        title_key,
        title,
        extra,
        headers,
    })
}

/// Converts kured's deprecated `--slack-hook-url` (`https://hooks.slack.com/services/A/B/C`) into
/// a notify URL the way kured 1.23 does (`slack://A/B/C`), and, unlike kured (whose shoutrrr
/// sender ignored them), keeps `--slack-username` and `--slack-channel` as `botname`/`channel`.
///
/// kured trims the path with Go's `strings.Trim(path, "/services/")`, which removes any of those
/// *characters* from both ends (so a token ending in `s` or `e` was mangled); this strips the
/// `/services/` prefix instead.
pub fn slack_hook_to_notify_url(
    hook_url: &str,
    username: Option<&str>,
    channel: Option<&str>,
) -> Result<String, ParseError> {
    let err = |problem| ParseError {
        position: 1,
        service: "slack",
        problem,
    };
    let url = Url::parse(strip_quotes(hook_url.trim())).map_err(|e| err(UrlProblem::Syntax(e)))?;
    let path = url.path().trim_end_matches('/');
    let rest = path
        .strip_prefix("/services/")
        .ok_or(err(UrlProblem::Malformed(
            "slack-hook-url (expected https://hooks.slack.com/services/A/B/C)",
        )))?;
    let parts: Vec<&str> = rest.split('/').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(err(UrlProblem::Malformed(
            "slack-hook-url (unexpected number of / in URL)",
        )));
    }
    let mut out = Url::parse(&format!("slack://{}", parts.join("/")))
        .map_err(|e| err(UrlProblem::Syntax(e)))?;
    {
        let mut q = out.query_pairs_mut();
        if let Some(u) = username.filter(|u| !u.is_empty()) {
            q.append_pair("botname", u);
        }
        if let Some(c) = channel.filter(|c| !c.is_empty()) {
            q.append_pair("channel", c);
        }
    }
    let s = out.as_str().trim_end_matches('?').to_owned();
    Ok(s)
}

/// Chooses the notify URL list from kured's flags: `--notify-url` wins (a warning is logged when
/// both are set); otherwise the deprecated `--slack-hook-url` is converted. Empty means no
/// notifications.
pub fn notify_urls_from_kured_flags(
    notify_url: &str,
    slack_hook_url: &str,
    slack_username: &str,
    slack_channel: &str,
) -> Result<String, ParseError> {
    let notify_url = strip_quotes(notify_url.trim());
    let slack_hook_url = strip_quotes(slack_hook_url.trim());
    if !notify_url.is_empty() {
        if !slack_hook_url.is_empty() {
            tracing::warn!(
                "cannot use both --notify-url and --slack-hook-url; using --notify-url only"
            );
        }
        return Ok(notify_url.to_owned());
    }
    if slack_hook_url.is_empty() {
        return Ok(String::new());
    }
    tracing::warn!("--slack-hook-url is deprecated; use --notify-url instead");
    slack_hook_to_notify_url(slack_hook_url, Some(slack_username), Some(slack_channel))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(url: &str) -> (String, UrlProblem) {
        let e = parse_url(url).unwrap_err();
        (e.service.to_owned(), e.problem)
    }

    #[test]
    fn every_scheme_parses() {
        let urls = [
            ("slack://hook:T0-B0-S3CRET@webhook", "slack"),
            ("slack://xoxb:1-2-S3CRET@C0123", "slack"),
            ("slack://bot@T0/B0/S3CRET", "slack"),
            (
                "teams://g@t/S3CRET/owner?host=x.webhook.office.com",
                "teams",
            ),
            (
                "teams://g@t/alt/owner/S3CRET?host=x.webhook.office.com",
                "teams",
            ),
            (
                "teams+https://x.logic.azure.com/workflows/1/invoke?sig=S3CRET",
                "teams",
            ),
            (
                "teams+https://x.webhook.office.com/webhookb2/g@t/IncomingWebhook/a/S3CRET",
                "teams",
            ),
            ("rocketchat://host.example/A/S3CRET", "rocketchat"),
            (
                "smtp://u:S3CRET@mail.example:587/?fromAddress=a@b.c&toAddresses=d@e.f,g@h.i",
                "smtp",
            ),
            ("discord://S3CRET@12345", "discord"),
            ("mattermost://mm.example/S3CRET", "mattermost"),
            ("telegram://1:S3CRET@telegram?chats=@c", "telegram"),
            (
                "googlechat://chat.googleapis.com/v1/spaces/F/messages?key=S3CRET&token=S3CRET",
                "googlechat",
            ),
            ("gotify://g.example/S3CRET", "gotify"),
            ("ntfy://u:S3CRET@ntfy.sh/topic", "ntfy"),
            ("ntfy:///topic", "ntfy"),
            ("pushover://shoutrrr:S3CRET@S3CRET/", "pushover"),
            ("generic://example.com/S3CRET?template=json", "generic"),
            ("generic+https://example.com/S3CRET?token=S3CRET", "generic"),
            ("generic+http://u:S3CRET@example.com/hook", "generic"),
        ];
        for (url, service) in urls {
            let c = parse_url(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(c.service(), service, "{url}");
            // Redaction of Display and Debug.
            let shown = format!("{c} {c:?}");
            assert!(!shown.contains("S3CRET"), "{url} shows a secret: {shown}");
            assert!(shown.contains(REDACTED) || service == "ntfy", "{shown}");
        }
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

    #[test]
    fn smtp_defaults_and_options() {
        let ServiceConfig::Smtp(c) = parse_url("smtp://mail.example/?from=a@b.c&to=d@e.f").unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (c.port, c.encryption, c.use_starttls, c.auth),
            (25, SmtpEncryption::Auto, true, SmtpAuth::Unknown)
        );
        let ServiceConfig::Smtp(c) = parse_url(
            "smtp://u:p@mail.example/?fromAddress=a@b.c&toAddresses=d@e.f,g@h.i&encryption=ImplicitTLS&subject=Hi&fromName=Kured&useStartTLS=no",
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(c.port, 465);
        assert_eq!(c.encryption, SmtpEncryption::ImplicitTls);
        assert_eq!(c.to_addresses, ["d@e.f", "g@h.i"]);
        assert_eq!(
            (c.subject.as_deref(), c.from_name.as_deref(), c.use_starttls),
            (Some("Hi"), Some("Kured"), false)
        );
    }

    #[test]
    #[allow(clippy::too_many_lines)] // a flat table of cases
    fn bad_urls_name_the_problem_without_secrets() {
        let cases: &[(&str, &str, UrlProblem)] = &[
            (
                "xmpp://S3CRET@host",
                "unknown",
                UrlProblem::UnknownScheme("xmpp".into()),
            ),
            (
                "S3CRET",
                "unknown",
                UrlProblem::Syntax(url::ParseError::RelativeUrlWithoutBase),
            ),
            (
                "slack://hook:@webhook",
                "slack",
                UrlProblem::Missing("token"),
            ),
            ("slack://", "slack", UrlProblem::Missing("token")),
            (
                "slack://hook:A-S3CRET@webhook",
                "slack",
                UrlProblem::Malformed("webhook token (expected hook:A-B-C)"),
            ),
            (
                "slack://T0/S3CRET",
                "slack",
                UrlProblem::Malformed("webhook token (expected slack://A/B/C)"),
            ),
            (
                "slack://xoxb:S3CRET@webhook",
                "slack",
                UrlProblem::Missing("channel (a bot token needs a channel id)"),
            ),
            (
                "slack://T0/B0/S3CRET?colour=red",
                "slack",
                UrlProblem::UnknownQueryParameter("colour".into()),
            ),
            (
                "slack://T0/B0/S3CRET?color=a&color=b",
                "slack",
                UrlProblem::DuplicateQueryParameter("color".into()),
            ),
            (
                "teams://g@t/a/S3CRET",
                "teams",
                UrlProblem::Missing(
                    "`host` query parameter (e.g. host=example.webhook.office.com)",
                ),
            ),
            (
                "teams://g@t/S3CRET?host=h",
                "teams",
                UrlProblem::Missing("altId/groupOwner"),
            ),
            (
                "rocketchat://h/S3CRET",
                "rocketchat",
                UrlProblem::Missing("token (expected host/tokenA/tokenB)"),
            ),
            (
                "smtp://u:S3CRET@h/?toAddresses=a@b.c",
                "smtp",
                UrlProblem::Missing("fromAddress"),
            ),
            (
                "smtp://u:S3CRET@h/?fromAddress=a@b.c",
                "smtp",
                UrlProblem::Missing("toAddresses"),
            ),
            (
                "smtp://u:S3CRET@h/?fromAddress=nope&toAddresses=a@b.c",
                "smtp",
                UrlProblem::Malformed("fromAddress"),
            ),
            (
                "smtp://u:S3CRET@h/?fromAddress=a@b.c&toAddresses=a@b.c&encryption=S3CRET",
                "smtp",
                UrlProblem::InvalidQueryValue {
                    key: "encryption".into(),
                    expected: "one of None, ExplicitTLS, ImplicitTLS, Auto",
                },
            ),
            (
                "smtp://h/?fromAddress=a@b.c&toAddresses=a@b.c&usestarttls=S3CRET",
                "smtp",
                UrlProblem::InvalidQueryValue {
                    key: "usestarttls".into(),
                    expected: "yes or no",
                },
            ),
            ("discord://12345", "discord", UrlProblem::Missing("token")),
            (
                "discord://S3CRET@abc",
                "discord",
                UrlProblem::Malformed("webhook id (expected digits)"),
            ),
            ("mattermost://h", "mattermost", UrlProblem::Missing("token")),
            (
                "telegram://S3CRET@telegram?chats=1",
                "telegram",
                UrlProblem::Missing("token (expected telegram://botid:secret@telegram)"),
            ),
            (
                "telegram://1:S3CRET@telegram",
                "telegram",
                UrlProblem::Missing("`chats` query parameter"),
            ),
            (
                "googlechat://chat.googleapis.com/v1/x?key=S3CRET",
                "googlechat",
                UrlProblem::Missing("`token` query parameter"),
            ),
            ("gotify://h", "gotify", UrlProblem::Missing("token")),
            (
                "gotify://h/S3CRET?priority=high",
                "gotify",
                UrlProblem::InvalidQueryValue {
                    key: "priority".into(),
                    expected: "an integer",
                },
            ),
            ("ntfy://h", "ntfy", UrlProblem::Missing("topic")),
            ("ntfy:///", "ntfy", UrlProblem::Missing("topic")),
            (
                "pushover://S3CRET",
                "pushover",
                UrlProblem::Missing("API token (expected pushover://shoutrrr:token@userkey)"),
            ),
            (
                "generic://h/S3CRET?template=S3CRET",
                "generic",
                UrlProblem::InvalidQueryValue {
                    key: "template".into(),
                    expected: "json (named templates are not supported)",
                },
            ),
        ];
        for (url, service, expected) in cases {
            let (s, p) = problem(url);
            assert_eq!((s.as_str(), &p), (*service, expected), "{url}");
            let text = parse_url(url).unwrap_err().to_string();
            assert!(!text.contains("S3CRET"), "{url}: {text}");
            assert!(text.starts_with("notification URL #1 ("), "{text}");
        }
    }

    #[test]
    fn lists_split_on_commas_and_spaces_but_not_inside_queries() {
        let list = "'slack://T0/B0/C0', smtp://h/?from=a@b.c&to=d@e.f,g@h.i\n telegram://1:x@telegram?chats=a,b,ntfy://h/t";
        assert_eq!(
            split_urls(list),
            [
                "slack://T0/B0/C0",
                "smtp://h/?from=a@b.c&to=d@e.f,g@h.i",
                "telegram://1:x@telegram?chats=a,b",
                "ntfy://h/t",
            ]
        );
        assert_eq!(parse_urls(list).unwrap().len(), 4);
        assert!(parse_urls("").unwrap().is_empty());
        assert!(parse_urls("\"\"").unwrap().is_empty());
        let e = parse_urls("ntfy://h/t bogus://x").unwrap_err();
        assert_eq!(e.position, 2);
        assert!(
            e.to_string()
                .starts_with("notification URL #2 (unknown): unknown scheme `bogus`"),
            "{e}"
        );
    }

    #[test]
    fn slack_hook_url_is_converted_like_kured() {
        assert_eq!(
            slack_hook_to_notify_url("https://hooks.slack.com/services/T0/B0/Cs", None, None)
                .unwrap(),
            "slack://T0/B0/Cs"
        );
        assert_eq!(
            slack_hook_to_notify_url(
                "\"https://hooks.slack.com/services/T0/B0/C0/\"",
                Some("kured"),
                Some("#ops")
            )
            .unwrap(),
            "slack://T0/B0/C0?botname=kured&channel=%23ops"
        );
        let e = slack_hook_to_notify_url("https://hooks.slack.com/services/T0/S3CRET", None, None)
            .unwrap_err();
        assert_eq!(
            e.problem,
            UrlProblem::Malformed("slack-hook-url (unexpected number of / in URL)")
        );
        let ServiceConfig::Slack(c) =
            parse_url("slack://T0/B0/C0?botname=kured&channel=%23ops").unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (c.botname.as_deref(), c.channel.as_str()),
            (Some("kured"), "#ops")
        );

        assert_eq!(
            notify_urls_from_kured_flags(
                "'ntfy://h/t'",
                "https://hooks.slack.com/services/A/B/C",
                "kured",
                ""
            )
            .unwrap(),
            "ntfy://h/t"
        );
        assert_eq!(
            notify_urls_from_kured_flags("", "https://hooks.slack.com/services/A/B/C", "kured", "")
                .unwrap(),
            "slack://A/B/C?botname=kured"
        );
        assert_eq!(
            notify_urls_from_kured_flags("", "", "kured", "").unwrap(),
            ""
        );
    }
}
