//! The SMTP configuration and its URL.

use std::fmt;

use crate::error::{UrlProblem, UrlResult};
use crate::message::Message;
use crate::request::HttpCall;
use crate::secret::{REDACTED, Secret};
use crate::urls::{Query, decode};

use crate::services::service::{RawUrl, Service};

/// SMTP encryption mode (shoutrrr's `encryption`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpEncryption {
    /// Implicit TLS on port 465, else like `None`.
    Auto,
    /// No implicit TLS; STARTTLS when offered and `usestarttls` is on.
    None,
    /// STARTTLS required.
    ExplicitTls,
    /// TLS from the first byte (SMTPS).
    ImplicitTls,
}

/// SMTP authentication (shoutrrr's `auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpAuth {
    /// Let the client pick among what the server offers.
    Unknown,
    /// No authentication even if credentials are given.
    None,
    /// PLAIN / LOGIN.
    Plain,
    /// XOAUTH2 (the password is the token).
    OAuth2,
}

/// `smtp://[user[:password]@]host[:port]/?fromAddress=…&toAddresses=a,b[&subject=…]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// Server host.
    pub host: String,
    /// Server port (default 25).
    pub port: u16,
    /// Login name (may be empty).
    pub username: String,
    /// Password.
    pub password: Secret,
    /// Sender address.
    pub from_address: String,
    /// Sender display name.
    pub from_name: Option<String>,
    /// Recipients.
    pub to_addresses: Vec<String>,
    /// Fixed subject (default: the message title or its first line).
    pub subject: Option<String>,
    /// Encryption mode.
    pub encryption: SmtpEncryption,
    /// Use STARTTLS when offered.
    pub use_starttls: bool,
    /// Name sent in EHLO.
    pub client_host: Option<String>,
    /// Authentication mode.
    pub auth: SmtpAuth,
    /// Send the body as text/html.
    pub use_html: bool,
}

impl Service for SmtpConfig {
    const NAME: &'static str = "smtp";
    const SCHEMES: &'static [&'static str] = &["smtp"];

    fn parse(raw: RawUrl<'_>) -> UrlResult<Self> {
        let url = raw.url;
        let mut q = Query::new(url);
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or(UrlProblem::Missing("host"))?
            .to_owned();
        let from_address = q
            .string(&["fromaddress", "from"])?
            .ok_or(UrlProblem::Missing("fromAddress"))?;
        check_address(&from_address, "fromAddress")?;
        let to_addresses = q.list(&["toaddresses", "to"])?;
        if to_addresses.is_empty() {
            return Err(UrlProblem::Missing("toAddresses"));
        }
        for a in &to_addresses {
            check_address(a, "toAddresses")?;
        }
        let encryption = q
            .value(
                &["encryption"],
                "one of None, ExplicitTLS, ImplicitTLS, Auto",
                |v| match v {
                    "auto" | "" => Some(SmtpEncryption::Auto),
                    "none" => Some(SmtpEncryption::None),
                    "explicittls" | "starttls" => Some(SmtpEncryption::ExplicitTls),
                    "implicittls" | "tls" | "ssl" => Some(SmtpEncryption::ImplicitTls),
                    _ => None,
                },
            )?
            .unwrap_or(SmtpEncryption::Auto);
        let auth = q
            .value(
                &["auth"],
                "one of None, Plain, OAuth2, Unknown (CRAMMD5 is not supported)",
                |v| match v {
                    "unknown" | "" => Some(SmtpAuth::Unknown),
                    "none" => Some(SmtpAuth::None),
                    "plain" | "login" => Some(SmtpAuth::Plain),
                    "oauth2" => Some(SmtpAuth::OAuth2),
                    _ => None,
                },
            )?
            .unwrap_or(SmtpAuth::Unknown);
        let default_port = if encryption == SmtpEncryption::ImplicitTls {
            465
        } else {
            25
        };
        let config = SmtpConfig {
            host,
            port: url.port().unwrap_or(default_port),
            username: decode(url.username()),
            password: Secret::new(url.password().map(decode).unwrap_or_default()),
            from_address,
            from_name: q.string(&["fromname"])?,
            to_addresses,
            subject: q.string(&["subject", "title"])?,
            encryption,
            use_starttls: q.bool("usestarttls", true)?,
            client_host: q.string(&["clienthost"])?,
            auth,
            use_html: q.bool("usehtml", false)?,
        };
        if !url.path().trim_matches('/').is_empty() {
            return Err(UrlProblem::Malformed("path (parameters go in the query)"));
        }
        q.finish()?;
        Ok(config)
    }

    fn fmt_redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let user = if self.username.is_empty() {
            String::new()
        } else if self.password.is_empty() {
            format!("{}@", self.username)
        } else {
            format!("{}:{REDACTED}@", self.username)
        };
        write!(f, "smtp://{user}{}:{}", self.host, self.port)
    }

    fn secrets(&self) -> Vec<Secret> {
        vec![self.password.clone()]
    }

    /// Not HTTP: [`super::SmtpNotifier`] sends the e-mail.
    fn http_calls(&self, _msg: &Message) -> Option<Vec<HttpCall>> {
        None
    }
}

fn check_address(a: &str, what: &'static str) -> UrlResult<()> {
    a.parse::<lettre::Address>()
        .map(|_| ())
        .map_err(|_| UrlProblem::Malformed(what))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_url;
    use crate::services::ServiceConfig;

    #[test]
    fn smtp_defaults_and_options() {
        let ServiceConfig::Smtp(c) = parse_url("smtp://mail.example/?from=a@b.c&to=d@e.f").unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (c.port, c.encryption, c.use_starttls, c.auth),
            (25, SmtpEncryption::Auto, true, SmtpAuth::Unknown)
        );
        let ServiceConfig::Smtp(c) = parse_url(
            "smtp://u:p@mail.example/?fromAddress=a@b.c&toAddresses=d@e.f,g@h.i&encryption=ImplicitTLS&subject=Hi&fromName=Kured&useStartTLS=no",
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(c.port, 465);
        assert_eq!(c.encryption, SmtpEncryption::ImplicitTls);
        assert_eq!(c.to_addresses, ["d@e.f", "g@h.i"]);
        assert_eq!(
            (c.subject.as_deref(), c.from_name.as_deref(), c.use_starttls),
            (Some("Hi"), Some("Kured"), false)
        );
    }
}
