//! The constructors and builder methods that [`CommandSentinel`](crate::CommandSentinel) and
//! [`CommandRebooter`](crate::CommandRebooter) share: each is a [`HostCommand`](crate::HostCommand)
//! given a meaning, and is built the same way.

/// Implements `parse`, `new`, `with_nsenter`, `without_nsenter`, `with_timeout`,
/// `without_timeout` and `command` for `$wrapper`, a struct with one field
/// `command: HostCommand` whose error type `$error` converts from
/// [`CommandError`](crate::CommandError). `$default_timeout` (an `Option<Duration>`) is the
/// time limit `parse` gives the command.
macro_rules! host_command_wrapper {
    ($wrapper:ident, $error:ty, $default_timeout:expr) => {
        impl $wrapper {
            /// Split `command` like a shell and run it through
            /// [`Nsenter::host`](crate::Nsenter::host), with this type's default time limit
            /// (see the type's documentation).
            ///
            /// An unclosed quote or a trailing backslash, or an empty command, is an error here.
            pub fn parse(command: &str) -> Result<Self, $error> {
                let command = $crate::HostCommand::parse(command)?
                    .with_nsenter(Some($crate::Nsenter::host()));
                let default_timeout: Option<::std::time::Duration> = $default_timeout;
                Ok(Self::new(match default_timeout {
                    Some(limit) => command.with_timeout(limit),
                    None => command.without_timeout(),
                }))
            }

            /// Use a command as built (its wrapper and time limit are kept).
            pub fn new(command: $crate::HostCommand) -> Self {
                Self { command }
            }

            /// Run through this nsenter wrapper, or directly with `None`.
            pub fn with_nsenter(mut self, nsenter: Option<$crate::Nsenter>) -> Self {
                self.command = self.command.with_nsenter(nsenter);
                self
            }

            /// Run the command directly, without nsenter.
            pub fn without_nsenter(self) -> Self {
                self.with_nsenter(None)
            }

            /// Kill the command (and its process group) and report an error after this long.
            pub fn with_timeout(mut self, timeout: ::std::time::Duration) -> Self {
                self.command = self.command.with_timeout(timeout);
                self
            }

            /// Let the command run until it ends, however long that takes.
            pub fn without_timeout(mut self) -> Self {
                self.command = self.command.without_timeout();
                self
            }

            /// The command that is run.
            pub fn command(&self) -> &$crate::HostCommand {
                &self.command
            }
        }
    };
}

pub(crate) use host_command_wrapper;
