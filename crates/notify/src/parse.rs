//! From text to [`ServiceConfig`]s: one URL, or a `--notify-url` list of them.

use url::Url;

use crate::error::{ParseError, UrlProblem};
use crate::services::{RawUrl, ServiceConfig};
use crate::urls::{split_urls, strip_quotes};

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
    let rest = &raw[raw.find("://").map_or(0, |p| p + 3)..];
    let (service, parsed) = ServiceConfig::parse(RawUrl {
        scheme: &scheme,
        url: &url,
        rest,
    })
    .ok_or_else(|| err("unknown", UrlProblem::UnknownScheme(scheme.clone())))?;
    parsed.map_err(|p| err(service, p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::REDACTED;

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
}
