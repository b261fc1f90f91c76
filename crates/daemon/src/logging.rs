//! The process-wide `tracing` subscriber: text or JSON lines on stderr, filtered like
//! `RUST_LOG`, coloured only on a terminal.

use std::io::IsTerminal as _;

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::log_format::LogFormat;

/// Log to stderr in `format`, filtered by `RUST_LOG` (default `info`).
///
/// ANSI colours are used only when stderr is a terminal, so a log redirected to a file or a
/// pipe stays plain text. Returns whether this call installed the subscriber: a second call
/// (or one after another subscriber was installed) changes nothing and returns `false`.
pub fn init_logging(format: LogFormat) -> bool {
    init_logging_with_default(format, "info")
}

/// Like [`init_logging`], with `default_filter` (directives such as `warn,kubesim=debug`)
/// instead of `info` when `RUST_LOG` is unset or cannot be parsed.
pub fn init_logging_with_default(format: LogFormat, default_filter: &str) -> bool {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    install(format, filter)
}

/// Like [`init_logging`], filtered by `directives` (for example a `--log` flag) instead of
/// `RUST_LOG`; by `fallback` when `directives` cannot be parsed.
pub fn init_logging_with_filter(format: LogFormat, directives: &str, fallback: &str) -> bool {
    let filter = EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new(fallback));
    install(format, filter)
}

fn install(format: LogFormat, filter: EnvFilter) -> bool {
    let ansi = std::io::stderr().is_terminal();
    subscriber(format, filter, std::io::stderr, ansi)
        .try_init()
        .is_ok()
}

/// The subscriber that [`install`] makes the global default, writing to any writer.
fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    ansi: bool,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    match format {
        LogFormat::Text => Box::new(builder.finish()),
        LogFormat::Json => Box::new(builder.json().finish()),
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex, PoisonError};

    use super::*;

    /// Everything written, kept in memory.
    #[derive(Clone, Default)]
    struct Written(Arc<Mutex<Vec<u8>>>);

    impl Written {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner))
                .into_owned()
        }
    }

    impl io::Write for Written {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Written {
        type Writer = Self;

        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    /// Log one INFO and one DEBUG event through [`subscriber`]; what was written.
    fn log_with(format: LogFormat, filter: &str, ansi: bool) -> String {
        let written = Written::default();
        let subscriber = subscriber(format, EnvFilter::new(filter), written.clone(), ansi);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(node = "n1", "hello");
            tracing::debug!("hidden at info");
        });
        written.text()
    }

    #[test]
    fn text_has_colours_only_when_asked() {
        let plain = log_with(LogFormat::Text, "info", false);
        assert!(plain.contains("hello"), "{plain}");
        assert!(!plain.contains("\x1b["), "{plain:?}");
        let coloured = log_with(LogFormat::Text, "info", true);
        assert!(coloured.contains("\x1b["), "{coloured:?}");
    }

    #[test]
    fn json_writes_one_object_per_line() {
        let text = log_with(LogFormat::Json, "info", false);
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines.len(), 1, "{text}");
        assert_eq!(lines[0]["level"], "INFO");
        assert_eq!(lines[0]["fields"]["message"], "hello");
        assert_eq!(lines[0]["fields"]["node"], "n1");
    }

    #[test]
    fn the_filter_decides_what_is_written() {
        let info = log_with(LogFormat::Text, "info", false);
        assert!(!info.contains("hidden at info"), "{info}");
        let debug = log_with(LogFormat::Text, "debug", false);
        assert!(debug.contains("hidden at info"), "{debug}");
        let warn = log_with(LogFormat::Text, "warn", false);
        assert!(warn.is_empty(), "{warn}");
    }
}
