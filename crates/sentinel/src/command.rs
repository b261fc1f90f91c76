//! Host commands: shell-like word splitting, the optional `nsenter` wrapper, and running a
//! command (with an optional time limit) while capturing its output.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rustix_libc_wrappers::rustix::process::{Pid, Signal, kill_process_group};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::task::JoinHandle;

use crate::error::CommandError;
use crate::termination::Termination;

/// At most this many bytes of each of stdout and stderr are kept; the rest is read and dropped
/// so that a chatty command never blocks on a full pipe.
const OUTPUT_LIMIT: usize = 64 * 1024;

/// After the command has ended, how long to wait for its stdout/stderr to reach end of file.
/// A background process started by the command may keep the pipes open forever.
const OUTPUT_GRACE: Duration = Duration::from_secs(2);

/// The `nsenter` wrapper that runs a command in another process's mount namespace, the way
/// kured runs commands from its pod on the host: `/usr/bin/nsenter -m/proc/1/ns/mnt -- argv…`.
///
/// This needs a privileged pod with `hostPID: true`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nsenter {
    program: PathBuf,
    mount_namespace: PathBuf,
}

impl Nsenter {
    /// Where kured expects the `nsenter` binary.
    pub const DEFAULT_PROGRAM: &'static str = "/usr/bin/nsenter";

    /// Enter the mount namespace of PID 1 (the host's init), as kured does.
    pub fn host() -> Self {
        Self::for_pid(1)
    }

    /// Enter the mount namespace of process `pid` (`/proc/<pid>/ns/mnt`).
    pub fn for_pid(pid: u32) -> Self {
        Self {
            program: PathBuf::from(Self::DEFAULT_PROGRAM),
            mount_namespace: PathBuf::from(format!("/proc/{pid}/ns/mnt")),
        }
    }

    /// Use another `nsenter` binary.
    pub fn with_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = program.into();
        self
    }

    /// Enter the mount namespace given by this path (any `ns/mnt` file or bind mount of one).
    pub fn with_mount_namespace(mut self, path: impl Into<PathBuf>) -> Self {
        self.mount_namespace = path.into();
        self
    }

    /// The `nsenter` binary.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The mount namespace file that is entered.
    pub fn mount_namespace(&self) -> &Path {
        &self.mount_namespace
    }

    /// The words placed before the wrapped command.
    fn prefix(&self) -> [OsString; 3] {
        let mut mount = OsString::from("-m");
        mount.push(&self.mount_namespace);
        [
            self.program.clone().into_os_string(),
            mount,
            OsString::from("--"),
        ]
    }

    /// How nsenter prefixes its own error messages (`nsenter: …`).
    fn message_prefix(&self) -> String {
        let name = self
            .program
            .file_name()
            .map_or_else(|| self.program.to_string_lossy(), |n| n.to_string_lossy());
        format!("{name}: ")
    }
}

impl Default for Nsenter {
    fn default() -> Self {
        Self::host()
    }
}

/// What a finished command left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandOutput {
    /// How it ended.
    pub termination: Termination,
    /// Its standard output (lossy UTF-8, at most 64 KiB, marked when truncated).
    pub stdout: String,
    /// Its standard error (lossy UTF-8, at most 64 KiB, marked when truncated).
    pub stderr: String,
}

/// A command to run on the host: words split like a shell would, optionally wrapped in
/// [`Nsenter`], optionally with a time limit.
///
/// Without a time limit (the default, as Go's `exec.Command` in kured) the command runs until
/// it ends. When a time limit is set and exceeded, the command's whole process group is killed
/// (the command is started as the leader of a new process group), and so is it when the future
/// running it is dropped. Background processes that the command leaves behind after exiting normally are left
/// alone (as in kured); they do not delay the result by more than a short grace period for
/// collecting output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCommand {
    words: Vec<String>,
    nsenter: Option<Nsenter>,
    timeout: Option<Duration>,
}

impl HostCommand {
    /// Split `command` into words like a POSIX shell (quotes and backslashes; no expansion).
    ///
    /// The result is not wrapped in nsenter (see [`HostCommand::with_nsenter`]) and has no time
    /// limit (see [`HostCommand::with_timeout`]).
    pub fn parse(command: &str) -> Result<Self, CommandError> {
        let words = shlex::split(command).ok_or_else(|| CommandError::Parse {
            command: command.to_owned(),
        })?;
        Self::from_words(words)
    }

    /// A command from words that are already split (the first one is the program).
    pub fn from_words<I, S>(words: I) -> Result<Self, CommandError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let words: Vec<String> = words.into_iter().map(Into::into).collect();
        if words.is_empty() {
            return Err(CommandError::Empty);
        }
        Ok(Self {
            words,
            nsenter: None,
            timeout: None,
        })
    }

    /// Run through this nsenter wrapper, or directly with `None`.
    pub fn with_nsenter(mut self, nsenter: Option<Nsenter>) -> Self {
        self.nsenter = nsenter;
        self
    }

    /// Kill the command and report [`CommandError::Timeout`] after this long.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Let the command run until it ends, however long that takes (the default).
    pub fn without_timeout(mut self) -> Self {
        self.timeout = None;
        self
    }

    /// The command's own words (without the wrapper).
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// The command's own program (its first word).
    pub fn program(&self) -> &str {
        // `from_words` rejects an empty list and nothing removes words afterwards.
        self.words.first().map_or("", String::as_str)
    }

    /// The nsenter wrapper, if any.
    pub fn nsenter(&self) -> Option<&Nsenter> {
        self.nsenter.as_ref()
    }

    /// The time limit (`None`: none).
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The full argument vector that is executed, wrapper included.
    pub fn argv(&self) -> Vec<OsString> {
        let mut argv = Vec::with_capacity(self.words.len() + 3);
        if let Some(nsenter) = &self.nsenter {
            argv.extend(nsenter.prefix());
        }
        argv.extend(self.words.iter().map(OsString::from));
        argv
    }

    /// Run the command to completion (or until the time limit, if any), capturing its output.
    ///
    /// A non-zero exit is not an error here: callers decide what exit codes mean. Errors are:
    /// the program cannot be started, nsenter cannot enter the namespace or execute the program
    /// there, the time limit, or a failure while waiting.
    pub async fn run(&self) -> Result<CommandOutput, CommandError> {
        let full_argv = self.argv();
        let shown = self.to_string();
        let Some((program, args)) = full_argv.split_first() else {
            return Err(CommandError::Empty);
        };
        tracing::debug!(command = %shown, timeout = ?self.timeout, "running host command");

        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        let mut child = command.spawn().map_err(|source| CommandError::Spawn {
            program: program.to_string_lossy().into_owned(),
            command: shown.clone(),
            source,
        })?;
        let stdout = Capture::start(child.stdout.take());
        let stderr = Capture::start(child.stderr.take());
        // Declared after `child` so that it is dropped first: the group is killed while the
        // child is still unreaped, so its pid (= the group id) cannot have been reused.
        let mut group = ProcessGroup::of(child.id());

        let waited = match self.timeout {
            None => child.wait().await,
            Some(limit) => match tokio::time::timeout(limit, child.wait()).await {
                Ok(waited) => waited,
                Err(_elapsed) => {
                    group.kill();
                    if let Err(error) = child.kill().await {
                        tracing::warn!(command = %shown, %error, "cannot kill timed-out host command");
                    }
                    let (stdout, stderr) = tokio::join!(stdout.finish(), stderr.finish());
                    tracing::debug!(command = %shown, %stdout, %stderr, "host command timed out");
                    return Err(CommandError::Timeout {
                        command: shown,
                        timeout: limit,
                    });
                }
            },
        };
        let termination = match waited {
            Ok(status) => {
                // The child is reaped now: its pid may be reused, never signal the group again.
                group.forget();
                Termination::from(status)
            }
            Err(source) => {
                group.kill();
                if let Err(error) = child.start_kill() {
                    tracing::warn!(command = %shown, %error, "cannot kill host command");
                }
                return Err(CommandError::Wait {
                    command: shown,
                    source,
                });
            }
        };

        let (stdout, stderr) = tokio::join!(stdout.finish(), stderr.finish());
        let output = CommandOutput {
            termination,
            stdout,
            stderr,
        };
        tracing::debug!(
            command = %shown,
            %termination,
            stdout = %output.stdout,
            stderr = %output.stderr,
            "host command finished"
        );
        if let Some(nsenter) = &self.nsenter
            && let Some(message) = nsenter_failure(nsenter, &output)
        {
            return Err(CommandError::HostNamespace {
                nsenter: nsenter.program.to_string_lossy().into_owned(),
                program: self.program().to_owned(),
                termination,
                message,
            });
        }
        Ok(output)
    }
}

impl fmt::Display for HostCommand {
    /// The full command line, wrapper included, quoted like a shell would need it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let argv: Vec<String> = self
            .argv()
            .iter()
            .map(|w| w.to_string_lossy().into_owned())
            .collect();
        match shlex::try_join(argv.iter().map(String::as_str)) {
            Ok(joined) => f.write_str(&joined),
            Err(_) => write!(f, "{argv:?}"),
        }
    }
}

/// nsenter's own failures: it exits 1 when it cannot enter the namespace, 126 when the program
/// is not executable and 127 when it does not exist, and says why on stderr as `nsenter: …`.
/// Without this check "cannot enter the namespace" (exit 1) would read as "no reboot required".
fn nsenter_failure(nsenter: &Nsenter, output: &CommandOutput) -> Option<String> {
    if !matches!(output.termination, Termination::Exited(1 | 126 | 127)) {
        return None;
    }
    let first_line = output.stderr.lines().next()?;
    first_line
        .starts_with(&nsenter.message_prefix())
        .then(|| first_line.to_owned())
}

/// The process group of a started child, killed on demand or on drop unless forgotten.
struct ProcessGroup(Option<Pid>);

impl ProcessGroup {
    fn of(child_id: Option<u32>) -> Self {
        Self(
            child_id
                .and_then(|id| i32::try_from(id).ok())
                .and_then(Pid::from_raw),
        )
    }

    /// SIGKILL every process of the group (once).
    fn kill(&mut self) {
        if let Some(pgid) = self.0.take() {
            // ESRCH (group already gone) is the expected outcome when everything has exited.
            if let Err(error) = kill_process_group(pgid, Signal::KILL) {
                tracing::debug!(pgid = pgid.as_raw_pid(), %error, "kill process group");
            }
        }
    }

    fn forget(&mut self) {
        self.0 = None;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

#[derive(Default)]
struct Captured {
    bytes: Vec<u8>,
    truncated: bool,
}

/// Reads a pipe in the background into a bounded buffer.
struct Capture {
    buffer: Arc<Mutex<Captured>>,
    task: Option<JoinHandle<()>>,
}

impl Capture {
    fn start<R>(pipe: Option<R>) -> Self
    where
        R: AsyncRead + Unpin + Send + 'static,
    {
        let buffer = Arc::new(Mutex::new(Captured::default()));
        let task = pipe.map(|mut pipe| {
            let buffer = Arc::clone(&buffer);
            tokio::spawn(async move {
                let mut chunk = [0_u8; 8192];
                loop {
                    match pipe.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let mut captured =
                                buffer.lock().unwrap_or_else(PoisonError::into_inner);
                            let room = OUTPUT_LIMIT.saturating_sub(captured.bytes.len());
                            let keep = n.min(room);
                            captured.bytes.extend_from_slice(&chunk[..keep]);
                            captured.truncated |= keep < n;
                        }
                    }
                }
            })
        });
        Self { buffer, task }
    }

    /// Wait (briefly) for end of file and return what was read.
    async fn finish(mut self) -> String {
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(OUTPUT_GRACE, &mut task).await.is_err()
        {
            task.abort();
        }
        let captured =
            std::mem::take(&mut *self.buffer.lock().unwrap_or_else(PoisonError::into_inner));
        let mut text = String::from_utf8_lossy(&captured.bytes).into_owned();
        if captured.truncated {
            text.push_str("…[truncated]");
        }
        text
    }
}

impl Drop for Capture {
    /// A run that is cancelled or fails leaves no reader task behind.
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
