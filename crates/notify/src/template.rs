//! Message templates: kured's `%s` form and named `{node}`, `{cluster}`, `{reason}`,
//! `{duration}` placeholders.

use std::time::Duration;

use crate::error::TemplateError;

/// kured's default drain message.
pub const DEFAULT_DRAIN: &str = "Draining node %s";
/// kured's default reboot message.
pub const DEFAULT_REBOOT: &str = "Rebooting node %s";
/// kured's default uncordon message.
pub const DEFAULT_UNCORDON: &str = "Node %s rebooted & uncordoned successfully!";
/// Default message when a reboot has been blocked for too long (new in kured-rs).
pub const DEFAULT_BLOCKED: &str =
    "Reboot of node {node} blocked for longer than {duration}: {reason}";

/// Message when the rollout halts (new in kured-rs, issue 18: a failed node stops the line).
pub const DEFAULT_HALTED: &str = "Reboot rollout halted at node {node}: {reason}";

const PLACEHOLDERS: &[&str] = &["node", "cluster", "reason", "duration"];

/// Values substituted into a template.
#[derive(Debug, Clone, Copy, Default)]
pub struct TemplateContext<'a> {
    /// Node name (also what `%s` becomes).
    pub node: &'a str,
    /// Cluster name (empty when not configured).
    pub cluster: &'a str,
    /// Why (blocker reasons); empty for drain/reboot/uncordon.
    pub reason: &'a str,
    /// How long the reboot has been blocked; `None` renders as empty.
    pub duration: Option<Duration>,
}

/// One validated template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    text: String,
}

impl Template {
    /// Validates a template: `%s` (any number; `%%` is a literal `%`), `{node}`, `{cluster}`,
    /// `{reason}`, `{duration}`; `{{` and `}}` are literal braces.
    pub fn new(which: &'static str, text: &str) -> Result<Self, TemplateError> {
        let t = Self {
            text: text.to_owned(),
        };
        t.render_checked(which, &TemplateContext::default())?;
        Ok(t)
    }

    /// The template text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Renders the template.
    pub fn render(&self, ctx: &TemplateContext<'_>) -> String {
        // Validated in `new`, so rendering cannot fail; fall back to the raw text regardless.
        self.render_checked("message", ctx)
            .unwrap_or_else(|_| self.text.clone())
    }

    fn render_checked(
        &self,
        which: &'static str,
        ctx: &TemplateContext<'_>,
    ) -> Result<String, TemplateError> {
        let text = self.text.as_str();
        let mut out = String::with_capacity(text.len() + 32);
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            let after = &rest[c.len_utf8()..];
            match (c, after.chars().next()) {
                ('%', Some('s')) => {
                    out.push_str(ctx.node);
                    rest = &after[1..];
                }
                ('%', Some('%')) => {
                    out.push('%');
                    rest = &after[1..];
                }
                ('{', Some('{')) | ('}', Some('}')) => {
                    out.push(c);
                    rest = &after[1..];
                }
                ('{', _) => {
                    // `{identifier}` is a placeholder; anything else (`{"a": 1}`, a lone `{`)
                    // is literal text, so kured templates with braces keep working.
                    let name = after.find('}').map(|end| &after[..end]).filter(|n| {
                        !n.is_empty() && n.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
                    });
                    let Some(name) = name else {
                        out.push('{');
                        rest = after;
                        continue;
                    };
                    match name {
                        "node" => out.push_str(ctx.node),
                        "cluster" => out.push_str(ctx.cluster),
                        "reason" => out.push_str(ctx.reason),
                        "duration" => {
                            if let Some(d) = ctx.duration {
                                let d = Duration::from_secs(d.as_secs());
                                out.push_str(&humantime::format_duration(d).to_string());
                            }
                        }
                        other => {
                            debug_assert!(!PLACEHOLDERS.contains(&other));
                            return Err(TemplateError::UnknownPlaceholder {
                                template: which,
                                name: other.to_owned(),
                            });
                        }
                    }
                    rest = &after[name.len() + 1..];
                }
                _ => {
                    out.push(c);
                    rest = after;
                }
            }
        }
        Ok(out)
    }
}

/// The four message templates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageTemplates {
    /// Before draining (`--message-template-drain`).
    pub drain: Template,
    /// Before rebooting (`--message-template-reboot`).
    pub reboot: Template,
    /// After uncordoning (`--message-template-uncordon`).
    pub uncordon: Template,
    /// When a required reboot has been blocked for longer than a threshold.
    pub blocked: Template,
    /// When a failed node halts the rollout (no flag: always [`DEFAULT_HALTED`]).
    pub halted: Template,
}

impl Default for MessageTemplates {
    fn default() -> Self {
        // The defaults are constants checked by the unit tests below.
        Self {
            drain: Template {
                text: DEFAULT_DRAIN.into(),
            },
            reboot: Template {
                text: DEFAULT_REBOOT.into(),
            },
            uncordon: Template {
                text: DEFAULT_UNCORDON.into(),
            },
            blocked: Template {
                text: DEFAULT_BLOCKED.into(),
            },
            halted: Template {
                text: DEFAULT_HALTED.into(),
            },
        }
    }
}

impl MessageTemplates {
    /// Validates the four configurable templates (at startup); the halt message is
    /// [`DEFAULT_HALTED`].
    pub fn new(
        drain: &str,
        reboot: &str,
        uncordon: &str,
        blocked: &str,
    ) -> Result<Self, TemplateError> {
        Ok(Self {
            drain: Template::new("drain", drain)?,
            reboot: Template::new("reboot", reboot)?,
            uncordon: Template::new("uncordon", uncordon)?,
            blocked: Template::new("blocked", blocked)?,
            halted: Template::new("halted", DEFAULT_HALTED)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>() -> TemplateContext<'a> {
        TemplateContext {
            node: "n1",
            cluster: "prod",
            reason: "alert X",
            duration: Some(Duration::from_secs(5400)),
        }
    }

    #[test]
    fn kured_defaults_render_like_go_sprintf() {
        let t = MessageTemplates::default();
        assert_eq!(t.drain.render(&ctx()), "Draining node n1");
        assert_eq!(t.reboot.render(&ctx()), "Rebooting node n1");
        assert_eq!(
            t.uncordon.render(&ctx()),
            "Node n1 rebooted & uncordoned successfully!"
        );
        assert_eq!(
            t.blocked.render(&ctx()),
            "Reboot of node n1 blocked for longer than 1h 30m: alert X"
        );
        assert_eq!(
            t.halted.render(&ctx()),
            "Reboot rollout halted at node n1: alert X"
        );
        assert_eq!(
            MessageTemplates::new(
                DEFAULT_DRAIN,
                DEFAULT_REBOOT,
                DEFAULT_UNCORDON,
                DEFAULT_BLOCKED
            )
            .ok(),
            Some(t)
        );
    }

    #[test]
    fn named_placeholders_and_escapes() {
        let t = Template::new("drain", "[{cluster}] {node}: {reason} 100%% {{x}} %d").unwrap();
        assert_eq!(t.render(&ctx()), "[prod] n1: alert X 100% {x} %d");
    }

    #[test]
    fn bad_templates_fail_at_startup() {
        assert_eq!(
            Template::new("reboot", "{nod}").unwrap_err(),
            TemplateError::UnknownPlaceholder {
                template: "reboot",
                name: "nod".into()
            }
        );
        // Braces that are not `{identifier}` stay literal (kured templates with braces work).
        let t = Template::new("drain", r#"x {node {"n": "%s"} { } {node}"#).unwrap();
        assert_eq!(t.render(&ctx()), r#"x {node {"n": "n1"} { } n1"#);
        let e = MessageTemplates::new("ok", "ok", "ok", "{who}").unwrap_err();
        assert!(e.to_string().contains("blocked template"), "{e}");
    }
}
