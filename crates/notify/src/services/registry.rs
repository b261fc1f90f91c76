//! The list of services. `services!` turns it into [`ServiceConfig`] and the dispatch of its
//! methods to each service's [`Service`] implementation.

use std::fmt;

use crate::error::UrlResult;
use crate::message::Message;
use crate::request::HttpCall;
use crate::secret::Secret;

use super::service::{RawUrl, Service};

macro_rules! services {
    ($($(#[doc = $doc:literal])* $variant:ident($config:ty),)*) => {
        /// One parsed notification URL.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum ServiceConfig {
            $($(#[doc = $doc])* $variant($config),)*
        }

        impl ServiceConfig {
            /// The service name used in logs and errors.
            pub fn service(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => <$config as Service>::NAME,)*
                }
            }

            /// Every secret of this configuration (used to scrub third-party error texts).
            pub(crate) fn secrets(&self) -> Vec<Secret> {
                match self {
                    $(Self::$variant(c) => c.secrets(),)*
                }
            }

            /// The HTTP requests for one message (`None` for SMTP).
            pub(crate) fn http_calls(&self, msg: &Message) -> Option<Vec<HttpCall>> {
                match self {
                    $(Self::$variant(c) => c.http_calls(msg),)*
                }
            }

            /// Parses a URL with the service its scheme names: that service's name and what
            /// its parser said; `None` when no service has the scheme.
            pub(crate) fn parse(raw: RawUrl<'_>) -> Option<(&'static str, UrlResult<Self>)> {
                $(if <$config as Service>::SCHEMES.contains(&raw.scheme) {
                    let parsed = <$config as Service>::parse(raw).map(Self::$variant);
                    return Some((<$config as Service>::NAME, parsed));
                })*
                None
            }

            /// Every service's schemes, in registry order.
            #[cfg(test)]
            pub(crate) fn schemes() -> Vec<&'static str> {
                let mut all = Vec::new();
                $(all.extend_from_slice(<$config as Service>::SCHEMES);)*
                all
            }
        }

        impl fmt::Display for ServiceConfig {
            /// The URL with every secret replaced by `***`.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $(Self::$variant(c) => c.fmt_redacted(f),)*
                }
            }
        }
    };
}

services! {
    /// Slack webhook or bot API.
    Slack(super::slack::SlackConfig),
    /// Microsoft Teams incoming webhook (`MessageCard`) or workflow webhook (Adaptive Card).
    Teams(super::teams::TeamsConfig),
    /// Rocket.Chat incoming webhook.
    RocketChat(super::rocketchat::RocketChatConfig),
    /// E-mail over SMTP.
    Smtp(super::smtp::SmtpConfig),
    /// Discord webhook.
    Discord(super::discord::DiscordConfig),
    /// Mattermost incoming webhook.
    Mattermost(super::mattermost::MattermostConfig),
    /// Telegram bot API.
    Telegram(super::telegram::TelegramConfig),
    /// Google Chat space webhook.
    GoogleChat(super::googlechat::GoogleChatConfig),
    /// Gotify server.
    Gotify(super::gotify::GotifyConfig),
    /// ntfy server.
    Ntfy(super::ntfy::NtfyConfig),
    /// Pushover API.
    Pushover(super::pushover::PushoverConfig),
    /// POST to any URL.
    Generic(super::generic::GenericConfig),
}

#[cfg(test)]
mod tests {
    use super::ServiceConfig;
    use crate::schemes::SUPPORTED_SCHEMES;

    #[test]
    fn the_registry_implements_exactly_the_supported_schemes_in_order() {
        assert_eq!(ServiceConfig::schemes(), SUPPORTED_SCHEMES);
    }
}
