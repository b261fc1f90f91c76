//! The notification services, one module each (configuration type, URL parsing, requests), and
//! the registry that makes them one [`ServiceConfig`].
//!
//! Adding a service: a new module here whose configuration type implements `service::Service`
//! (its `mod` and `pub use` lines below, and the `pub use` in `lib.rs`), one line in the
//! `services!` list of `registry.rs`, and its schemes in `crate::schemes` (kept apart so that
//! error messages can list them without depending on the services; a unit test checks both
//! agree).

mod discord;
mod generic;
mod googlechat;
mod gotify;
mod mattermost;
mod ntfy;
mod pushover;
mod registry;
mod rocketchat;
mod service;
mod slack;
mod smtp;
mod teams;
mod telegram;

pub use discord::DiscordConfig;
pub use generic::GenericConfig;
pub use googlechat::GoogleChatConfig;
pub use gotify::GotifyConfig;
pub use mattermost::MattermostConfig;
pub use ntfy::NtfyConfig;
pub use pushover::PushoverConfig;
pub use registry::ServiceConfig;
pub use rocketchat::RocketChatConfig;
pub(crate) use service::RawUrl;
pub use slack::{SlackAuth, SlackConfig};
pub use smtp::{SmtpAuth, SmtpConfig, SmtpEncryption, SmtpNotifier};
pub use teams::{TeamsConfig, TeamsTarget};
pub use telegram::TelegramConfig;
