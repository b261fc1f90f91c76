//! The URL schemes kured-rs understands, as data (so that error messages can list them without
//! depending on the services that implement them; a unit test in `services::registry` checks
//! that both agree).

/// Schemes accepted by [`crate::parse_url`].
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
