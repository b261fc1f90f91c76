//! Error types: URL/template problems found at startup, and send failures.

use std::time::Duration;

use thiserror::Error;

/// What is wrong with one notification URL. Never contains a secret: query values and URL parts
/// are not echoed, only parameter names and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UrlProblem {
    /// The text is not a URL at all.
    #[error("not a valid URL ({0})")]
    Syntax(url::ParseError),
    /// The scheme names no supported service.
    #[error("unknown scheme `{0}` (supported: {supported})", supported = crate::schemes::SUPPORTED_SCHEMES.join(", "))]
    UnknownScheme(String),
    /// A required part (token, host, channel, address …) is absent.
    #[error("missing {0}")]
    Missing(&'static str),
    /// A part is present but has the wrong shape.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// A query parameter the service does not know.
    #[error("unknown query parameter `{0}`")]
    UnknownQueryParameter(String),
    /// A query parameter with a value of the wrong shape.
    #[error("query parameter `{key}` must be {expected}")]
    InvalidQueryValue {
        /// The parameter name.
        key: String,
        /// What the value should look like.
        expected: &'static str,
    },
    /// A query parameter that must be given once was given several times.
    #[error("query parameter `{0}` given more than once")]
    DuplicateQueryParameter(String),
}

/// The result of reading one part of a notification URL.
pub(crate) type UrlResult<T> = Result<T, UrlProblem>;

/// A notification URL that cannot be used; reported at startup, never at send time.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("notification URL #{position} ({service}): {problem}")]
pub struct ParseError {
    /// 1-based position of the URL in the list that was given.
    pub position: usize,
    /// The service the URL was meant for (`"unknown"` when the scheme is not recognised).
    pub service: &'static str,
    /// What is wrong.
    pub problem: UrlProblem,
}

/// A message template that cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TemplateError {
    /// `{name}` where `name` is not a known placeholder.
    #[error(
        "{template} template: unknown placeholder `{{{name}}}` (known: {{node}}, {{cluster}}, {{reason}}, {{duration}})"
    )]
    UnknownPlaceholder {
        /// Which template (drain, reboot, uncordon, blocked).
        template: &'static str,
        /// The unknown name.
        name: String,
    },
}

/// Building the notifiers failed (e.g. the TLS trust store could not be loaded).
#[derive(Debug, Error)]
pub enum BuildError {
    /// A URL could not be parsed.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
    /// The SMTP transport could not be built.
    #[error("cannot build the SMTP transport for {target}: {reason}")]
    Smtp {
        /// The redacted target.
        target: String,
        /// Why (scrubbed of secrets).
        reason: String,
    },
}

/// Why one send failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SendFailure {
    /// The server answered with a non-success HTTP status.
    #[error("HTTP status {0}")]
    Status(u16),
    /// The server answered 2xx but reported an error in the body (Slack API `ok: false`).
    #[error("rejected by the service: {0}")]
    Rejected(String),
    /// The send did not finish within the timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// Connection, TLS or protocol error (text scrubbed of secrets).
    #[error("transport error: {0}")]
    Transport(String),
    /// The SMTP server refused the mail or the session failed (text scrubbed of secrets).
    #[error("SMTP error: {0}")]
    Smtp(String),
}

/// One notifier failed to deliver a message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{service} notification to {target} failed: {failure}")]
pub struct SendError {
    /// Service name (`slack`, `smtp`, …).
    pub service: &'static str,
    /// The target with secrets replaced by `***`.
    pub target: String,
    /// What went wrong.
    pub failure: SendFailure,
}

impl SendError {
    /// The HTTP status, if the failure was a non-success status.
    pub fn status(&self) -> Option<u16> {
        match self.failure {
            SendFailure::Status(s) => Some(s),
            _ => None,
        }
    }
}

/// Error of a fan-out send: each failed backend, in configuration order. The backends not listed
/// received the message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{} of {total} notifier(s) failed: {}", failures.len(), failures.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct NotifyError {
    /// How many backends were tried.
    pub total: usize,
    /// The failures.
    pub failures: Vec<SendError>,
}

impl From<SendError> for NotifyError {
    fn from(e: SendError) -> Self {
        Self {
            total: 1,
            failures: vec![e],
        }
    }
}

/// An error's text followed by the texts of its sources (`outer: inner: innermost`), for
/// third-party errors whose `Display` hides the cause. Not scrubbed: callers scrub secrets.
pub(crate) fn with_sources(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
