//! Microsoft Teams: Office 365 connector webhooks (`teams://…?host=…`, a `MessageCard`) and
//! workflow webhooks (`teams+https://…`, an Adaptive Card).

use std::fmt;

use serde_json::{Value, json};
use url::Url;

use crate::error::{UrlProblem, UrlResult};
use crate::message::Message;
use crate::request::{HttpCall, JsonBody, endpoint, first_line, fixed_url, title};
use crate::secret::{REDACTED, Secret};
use crate::urls::{Query, decode, host_port, path_parts, shown_host, url_secrets};

use super::service::{RawUrl, Service};

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

impl Service for TeamsConfig {
    const NAME: &'static str = "teams";
    const SCHEMES: &'static [&'static str] = &["teams", "teams+https"];

    fn parse(raw: RawUrl<'_>) -> UrlResult<Self> {
        if raw.scheme == "teams+https" {
            parse_https(&format!("https://{}", raw.rest))
        } else {
            parse_connector(raw.url)
        }
    }

    fn fmt_redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            TeamsTarget::Connector { host, .. } => write!(f, "teams://{REDACTED}?host={host}"),
            TeamsTarget::Workflow { url } | TeamsTarget::ConnectorUrl { url } => {
                let host = shown_host(url.expose(), false);
                write!(f, "teams+https://{host}/{REDACTED}")
            }
        }
    }

    fn secrets(&self) -> Vec<Secret> {
        match &self.target {
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
        }
    }

    fn http_calls(&self, msg: &Message) -> Option<Vec<HttpCall>> {
        let title = title(self.title.as_deref(), msg);
        let call = match &self.target {
            TeamsTarget::Connector { host, path } => {
                let mut segments = vec![path[0].expose(), "IncomingWebhook"];
                segments.extend(path[1..].iter().map(Secret::expose));
                let target = endpoint(&format!("https://{host}/webhookb2"), &segments);
                HttpCall::post_json(target, self.message_card(title, msg))
            }
            TeamsTarget::ConnectorUrl { url } => {
                HttpCall::post_json(fixed_url(url.expose()), self.message_card(title, msg))
            }
            TeamsTarget::Workflow { url } => {
                HttpCall::post_json(fixed_url(url.expose()), adaptive_card(title, msg))
            }
        };
        Some(vec![call])
    }
}

impl TeamsConfig {
    /// The legacy connector card.
    fn message_card(&self, title: Option<&str>, msg: &Message) -> Value {
        JsonBody::new()
            .set("@type", "MessageCard")
            .set("@context", "https://schema.org/extensions")
            .set("summary", title.unwrap_or(first_line(&msg.text)))
            .opt("title", title)
            .set("text", msg.text.as_str())
            .opt("themeColor", self.color.as_deref())
            .build()
    }
}

/// The Adaptive Card a workflow webhook expects.
fn adaptive_card(title: Option<&str>, msg: &Message) -> Value {
    let mut blocks = Vec::new();
    if let Some(t) = title {
        blocks.push(json!({ "type": "TextBlock", "text": t, "weight": "Bolder", "size": "Medium", "wrap": true }));
    }
    blocks.push(json!({ "type": "TextBlock", "text": msg.text, "wrap": true }));
    json!({
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
    })
}

/// `teams://group@tenant/altId/groupOwner[/extraId]?host=…`.
fn parse_connector(url: &Url) -> UrlResult<TeamsConfig> {
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

/// `teams+https://…`: a connector URL (`…/IncomingWebhook/…`, which gets a `MessageCard`) or a
/// Power Automate / Teams workflow URL (anything else, which gets an Adaptive Card).
fn parse_https(raw: &str) -> UrlResult<TeamsConfig> {
    let url = Url::parse(raw).map_err(UrlProblem::Syntax)?;
    host_port(&url)?;
    if url.path().trim_matches('/').is_empty() {
        return Err(UrlProblem::Missing("webhook path"));
    }
    let full = Secret::new(url.as_str());
    let target = if path_parts(&url).iter().any(|s| s == "IncomingWebhook") {
        TeamsTarget::ConnectorUrl { url: full }
    } else {
        TeamsTarget::Workflow { url: full }
    };
    Ok(TeamsConfig {
        target,
        title: None,
        color: None,
    })
}

#[cfg(test)]
mod tests {
    use crate::message::{Message, Notifier};
    use crate::test_support::{Body, Expected, assert_requests, msg, notifier, server};
    use serde_json::json;
    use wiremock::ResponseTemplate;

    #[tokio::test]
    async fn teams_connector_message_card() {
        let s = server(ResponseTemplate::new(200)).await;
        let n = notifier(
            "teams://grp@tnt/ALTSECRET/owner/EXTRASECRET?host=example.webhook.office.com&color=FF0000",
            Some(&s),
        );
        n.send(&Message {
            title: Some("kured".into()),
            text: "Draining node n1".into(),
        })
        .await
        .unwrap();
        let body = json!({
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": "kured",
            "title": "kured",
            "text": "Draining node n1",
            "themeColor": "FF0000",
        });
        assert_requests(
            &s,
            &[Expected::json(
                "/webhookb2/grp@tnt/IncomingWebhook/ALTSECRET/owner/EXTRASECRET",
                body,
            )],
        )
        .await;
    }

    #[tokio::test]
    async fn teams_workflow_adaptive_card() {
        let s = server(ResponseTemplate::new(202)).await;
        let n = notifier(
            "teams+https://prod-01.westus.logic.azure.com:443/workflows/WFID/triggers/manual/paths/invoke?api-version=2016-06-01&sig=SIGS3CRET",
            Some(&s),
        );
        n.send(&msg("Rebooting node n1")).await.unwrap();
        let body = json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [{ "type": "TextBlock", "text": "Rebooting node n1", "wrap": true }],
                }
            }]
        });
        assert_requests(
            &s,
            &[Expected {
                path: "/workflows/WFID/triggers/manual/paths/invoke",
                query: Some("api-version=2016-06-01&sig=SIGS3CRET"),
                headers: &[],
                body: Body::Json(body),
            }],
        )
        .await;
        assert!(
            !n.target().contains("SIGS3CRET") && !n.target().contains("WFID"),
            "{}",
            n.target()
        );
    }
}
