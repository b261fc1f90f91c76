//! Reboot notifications for kured-rs.
//!
//! kured users configure notifications with [shoutrrr](https://containrrr.dev/shoutrrr/) URLs
//! (`--notify-url`, or the deprecated `--slack-hook-url`) and message templates
//! (`--message-template-drain|reboot|uncordon`). This crate:
//!
//! - parses those URLs at startup ([`parse_urls`], [`FanOut::from_urls`]): `slack://`,
//!   `teams://` / `teams+https://`, `rocketchat://`, `smtp://`, `discord://`, `mattermost://`,
//!   `telegram://`, `googlechat://`, `gotify://`, `ntfy://`, `pushover://`, `generic://` and
//!   `generic+http(s)://`; a bad URL is a [`ParseError`] naming the problem, never a secret;
//! - converts kured's `--slack-hook-url` ([`notify_urls_from_kured_flags`]);
//! - renders kured's `%s` templates and named `{node}`, `{cluster}`, `{reason}`, `{duration}`
//!   placeholders ([`MessageTemplates`]), including a "reboot blocked for longer than X" message;
//! - sends to every URL concurrently ([`FanOut`]) with a per-send timeout, over rustls with the
//!   `ring` provider (HTTP: reqwest; SMTP: lettre);
//! - redacts secrets (tokens, passwords, webhook path parts) from every `Debug`/`Display`, log
//!   line and error ([`Secret`]).
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use notify::{Event, FanOut, MessageTemplates, Notifications, Notifier};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let urls = "slack://hook:T000-B000-XXXX@webhook?botname=kured, ntfy://ntfy.example/reboots";
//! let fanout = FanOut::from_urls(urls, Duration::from_secs(10))?;
//! assert_eq!(fanout.backends(), 2);
//! // Secrets never show up when printing the configuration.
//! assert!(!fanout.target().contains("XXXX"));
//!
//! let templates = MessageTemplates::new("Draining node %s", "Rebooting node %s",
//!     "Node %s rebooted & uncordoned successfully!",
//!     "[{cluster}] {node} blocked for more than {duration}: {reason}")?;
//! let notifications = Notifications::new(Arc::new(fanout), templates).with_cluster("prod");
//! assert_eq!(notifications.render("node-1", Event::Drain), "Draining node node-1");
//! assert_eq!(
//!     notifications.render("node-1", Event::Blocked { blocked_for: Duration::from_secs(7200), reason: "alert HighLoad" }),
//!     "[prod] node-1 blocked for more than 2h: alert HighLoad",
//! );
//!
//! // Bad URLs fail at startup and say why.
//! let err = FanOut::from_urls("slack://hook:@webhook", Duration::from_secs(1)).unwrap_err();
//! assert_eq!(err.to_string(), "notification URL #1 (slack): missing token");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod error;
mod fanout;
mod http_client;
mod http_notifier;
mod kured_flags;
mod message;
mod notifications;
mod parse;
mod request;
mod schemes;
mod secret;
mod services;
mod template;
mod urls;

#[cfg(test)]
mod test_support;

pub use error::{
    BuildError, NotifyError, ParseError, SendError, SendFailure, TemplateError, UrlProblem,
};
pub use fanout::{DEFAULT_TIMEOUT, FanOut};
pub use http_client::http_client;
pub use http_notifier::HttpNotifier;
pub use kured_flags::{notify_urls_from_kured_flags, slack_hook_to_notify_url};
pub use message::{Message, Notifier};
pub use notifications::{Event, Notifications};
pub use parse::{parse_url, parse_urls};
pub use schemes::SUPPORTED_SCHEMES;
pub use secret::{REDACTED, Secret};
pub use services::{
    DiscordConfig, GenericConfig, GoogleChatConfig, GotifyConfig, MattermostConfig, NtfyConfig,
    PushoverConfig, RocketChatConfig, ServiceConfig, SlackAuth, SlackConfig, SmtpAuth, SmtpConfig,
    SmtpEncryption, SmtpNotifier, TeamsConfig, TeamsTarget, TelegramConfig,
};
pub use template::{
    DEFAULT_BLOCKED, DEFAULT_DRAIN, DEFAULT_HALTED, DEFAULT_REBOOT, DEFAULT_UNCORDON,
    MessageTemplates, Template, TemplateContext,
};
pub use urls::{split_urls, strip_quotes};

/// The README's example, compiled as a doctest so it cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
