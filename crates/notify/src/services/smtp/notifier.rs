//! Sending e-mail (lettre, rustls + ring).

use std::time::Duration;

use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::error::{BuildError, NotifyError, SendError, SendFailure, with_sources};
use crate::message::{Message, Notifier};
use crate::request::first_line;
use crate::secret::{Secret, scrub};
use crate::services::service::{Redacted, Service};

use super::config::{SmtpAuth, SmtpConfig, SmtpEncryption};

/// Sends each message as one e-mail to all recipients.
pub struct SmtpNotifier {
    config: SmtpConfig,
    display: String,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    timeout: Duration,
    secrets: Vec<Secret>,
}

impl std::fmt::Debug for SmtpNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpNotifier")
            .field("target", &self.display)
            .field("config", &self.config)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl SmtpNotifier {
    /// Builds the transport (TLS parameters included) at startup.
    pub fn new(config: SmtpConfig, timeout: Duration) -> Result<Self, BuildError> {
        let display = Redacted(&config).to_string();
        let secrets = config.secrets();
        let build_err = |e: lettre::transport::smtp::Error| BuildError::Smtp {
            target: display.clone(),
            reason: scrub(&e.to_string(), &secrets),
        };
        let tls_params = || TlsParameters::builder(config.host.clone()).build_rustls();
        let tls = match config.encryption {
            SmtpEncryption::ImplicitTls => Tls::Wrapper(tls_params().map_err(build_err)?),
            SmtpEncryption::Auto if config.port == 465 => {
                Tls::Wrapper(tls_params().map_err(build_err)?)
            }
            SmtpEncryption::ExplicitTls => Tls::Required(tls_params().map_err(build_err)?),
            SmtpEncryption::Auto | SmtpEncryption::None if config.use_starttls => {
                Tls::Opportunistic(tls_params().map_err(build_err)?)
            }
            SmtpEncryption::Auto | SmtpEncryption::None => Tls::None,
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.clone())
                .port(config.port)
                .tls(tls)
                .timeout(Some(timeout));
        if let Some(name) = &config.client_host {
            builder = builder.hello_name(ClientId::Domain(name.clone()));
        }
        let has_credentials = !config.username.is_empty() || !config.password.is_empty();
        if has_credentials && config.auth != SmtpAuth::None {
            builder = builder.credentials(Credentials::new(
                config.username.clone(),
                config.password.expose().to_owned(),
            ));
            match config.auth {
                SmtpAuth::Plain => {
                    builder = builder.authentication(vec![Mechanism::Plain, Mechanism::Login]);
                }
                SmtpAuth::OAuth2 => builder = builder.authentication(vec![Mechanism::Xoauth2]),
                SmtpAuth::Unknown | SmtpAuth::None => {}
            }
        }
        let transport = builder.build();
        Ok(Self {
            config,
            display,
            transport,
            timeout,
            secrets,
        })
    }

    fn fail(&self, failure: SendFailure) -> SendError {
        let err = SendError {
            service: SmtpConfig::NAME,
            target: self.display.clone(),
            failure,
        };
        tracing::warn!(service = err.service, target = %err.target, error = %err.failure, "notification failed");
        err
    }

    fn build_mail(&self, message: &Message) -> Result<lettre::Message, SendFailure> {
        let bad =
            |e: &dyn std::fmt::Display| SendFailure::Smtp(scrub(&e.to_string(), &self.secrets));
        let from_addr = self.config.from_address.parse().map_err(|e| bad(&e))?;
        let mut builder =
            lettre::Message::builder().from(Mailbox::new(self.config.from_name.clone(), from_addr));
        for to in &self.config.to_addresses {
            builder = builder.to(Mailbox::new(None, to.parse().map_err(|e| bad(&e))?));
        }
        let subject = self
            .config
            .subject
            .clone()
            .or_else(|| message.title.clone())
            .unwrap_or_else(|| first_line(&message.text).chars().take(120).collect());
        let content_type = if self.config.use_html {
            ContentType::TEXT_HTML
        } else {
            ContentType::TEXT_PLAIN
        };
        builder
            .subject(subject)
            .header(content_type)
            .body(message.text.clone())
            .map_err(|e| bad(&e))
    }
}

#[async_trait]
impl Notifier for SmtpNotifier {
    fn service(&self) -> &'static str {
        SmtpConfig::NAME
    }

    fn target(&self) -> String {
        self.display.clone()
    }

    async fn send(&self, message: &Message) -> Result<(), NotifyError> {
        let mail = self
            .build_mail(message)
            .map_err(|f| NotifyError::from(self.fail(f)))?;
        match tokio::time::timeout(self.timeout, self.transport.send(mail)).await {
            Ok(Ok(_)) => {
                tracing::debug!(service = SmtpConfig::NAME, target = %self.display, "notification sent");
                Ok(())
            }
            Ok(Err(e)) => {
                let failure = if e.is_timeout() {
                    SendFailure::Timeout(self.timeout)
                } else {
                    SendFailure::Smtp(scrub(&with_sources(&e), &self.secrets))
                };
                Err(self.fail(failure).into())
            }
            Err(_) => Err(self.fail(SendFailure::Timeout(self.timeout)).into()),
        }
    }
}
