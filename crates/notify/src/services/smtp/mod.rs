//! E-mail over SMTP: `smtp://[user[:password]@]host[:port]/?fromAddress=…&toAddresses=a,b`.

mod config;
mod notifier;

pub use config::{SmtpAuth, SmtpConfig, SmtpEncryption};
pub use notifier::SmtpNotifier;
