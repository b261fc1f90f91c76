//! kured's notification flags: `--notify-url` and the deprecated `--slack-hook-url` (with
//! `--slack-username` and `--slack-channel`).

use url::Url;

use crate::error::{ParseError, UrlProblem};
use crate::urls::strip_quotes;

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
    use crate::error::UrlProblem;
    use crate::parse::parse_url;
    use crate::services::ServiceConfig;

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
