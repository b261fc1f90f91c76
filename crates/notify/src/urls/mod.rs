//! Shared helpers for reading shoutrrr-style URLs: splitting a `--notify-url` list, query
//! parameters, host/port and path parts, and the secrets inside a URL.

mod list;
mod parts;
mod query;
mod secrets;

pub use list::{split_urls, strip_quotes};
pub(crate) use parts::{decode, host_port, nonempty, path_parts, path_prefix, shown_host};
pub(crate) use query::Query;
pub(crate) use secrets::url_secrets;
