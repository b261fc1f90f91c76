//! What every notification service provides: its schemes, a parser for its URLs, a redacted
//! display, its secrets and the HTTP requests that deliver a message.

use std::fmt;

use url::Url;

use crate::error::UrlResult;
use crate::message::Message;
use crate::request::HttpCall;
use crate::secret::Secret;

/// A notification URL on its way to a service's parser.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawUrl<'a> {
    /// The scheme, lowercase (one of the service's [`Service::SCHEMES`]).
    pub scheme: &'a str,
    /// The whole URL, parsed.
    pub url: &'a Url,
    /// The text after `scheme://`, for services that read it again as an http(s) URL.
    pub rest: &'a str,
}

/// One notification service. Implemented by each service's configuration type; the registry
/// (`services::registry`) turns the list of services into [`crate::ServiceConfig`].
pub(crate) trait Service: Sized {
    /// Name in logs and errors (`slack`, `teams`, …).
    const NAME: &'static str;
    /// The URL schemes the service accepts (`teams`, `teams+https`).
    const SCHEMES: &'static [&'static str];

    /// Reads a URL with one of [`Service::SCHEMES`]; every check happens here, at startup.
    fn parse(raw: RawUrl<'_>) -> UrlResult<Self>;

    /// The URL with every secret replaced by `***`.
    fn fmt_redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;

    /// Every secret (used to scrub third-party error texts).
    fn secrets(&self) -> Vec<Secret>;

    /// The HTTP requests that deliver `msg`, in order; `None` for a service that does not
    /// speak HTTP (SMTP has its own notifier).
    fn http_calls(&self, msg: &Message) -> Option<Vec<HttpCall>>;
}

/// Shows a service's configuration with its secrets redacted.
pub(crate) struct Redacted<'a, S>(pub &'a S);

impl<S: Service> fmt::Display for Redacted<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt_redacted(f)
    }
}
