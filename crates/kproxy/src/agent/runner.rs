//! Running external commands (`iptables-restore`, `nft`, `conntrack`, `ipvsadm`) behind a
//! small trait, so that tests can capture them or run them inside a network namespace.

use std::fmt;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};

/// Errors of command runners.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RunnerError {
    /// The program could not be started (missing binary, permissions).
    #[error("cannot run {program}: {message}")]
    Spawn {
        /// The program.
        program: String,
        /// The operating system's message.
        message: String,
    },
    /// The program ran and exited unsuccessfully.
    #[error("{command} exited with {status:?}: {stderr}")]
    Failed {
        /// The command line.
        command: String,
        /// The exit code (`None`: killed by a signal).
        status: Option<i32>,
        /// Its standard error, trimmed.
        stderr: String,
    },
}

/// What a finished command produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandOutput {
    /// The exit code (`None`: killed by a signal).
    pub status: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl CommandOutput {
    /// Whether the command exited with 0.
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }
}

/// Runs one external command to completion, blocking. Implementations must be cheap to share
/// between threads; the agent calls them from a blocking task.
pub trait CommandRunner: Send + Sync + fmt::Debug {
    /// Runs `program args…` with `stdin` as its standard input (empty when `None`). A non-zero
    /// exit is reported in the output, not as an error; only a failure to start is an error.
    fn run(&self, program: &str, args: &[&str], stdin: Option<&str>) -> Result<CommandOutput, RunnerError>;
}

/// Joins a command line for messages.
pub fn command_line(program: &str, args: &[&str]) -> String {
    let mut s = program.to_string();
    for a in args {
        s.push(' ');
        s.push_str(a);
    }
    s
}

/// Runs `program args…` and fails unless it exits with 0.
pub fn run_checked(
    runner: &dyn CommandRunner,
    program: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<CommandOutput, RunnerError> {
    let out = runner.run(program, args, stdin)?;
    if out.success() {
        Ok(out)
    } else {
        Err(RunnerError::Failed {
            command: command_line(program, args),
            status: out.status,
            stderr: out.stderr.trim().to_string(),
        })
    }
}

/// Runs programs on this machine with [`std::process::Command`]; `prefix` (e.g.
/// `["ip", "netns", "exec", "ns1"]`) is put in front of every command line.
#[derive(Debug, Clone, Default)]
pub struct SystemRunner {
    prefix: Vec<String>,
}

impl SystemRunner {
    /// Runs programs directly.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs every program as `prefix… program args…`.
    pub fn with_prefix(prefix: impl IntoIterator<Item = impl Into<String>>) -> Self {
        SystemRunner { prefix: prefix.into_iter().map(Into::into).collect() }
    }

    /// Runs every program inside network namespace `name` (`ip netns exec <name> …`).
    pub fn in_netns(name: &str) -> Self {
        Self::with_prefix(["ip", "netns", "exec", name])
    }
}

impl CommandRunner for SystemRunner {
    fn run(&self, program: &str, args: &[&str], stdin: Option<&str>) -> Result<CommandOutput, RunnerError> {
        let mut cmd = match self.prefix.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(program);
                c
            }
            None => Command::new(program),
        };
        cmd.args(args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let spawn_err = |e: std::io::Error| RunnerError::Spawn { program: program.to_string(), message: e.to_string() };
        let mut child = cmd.spawn().map_err(spawn_err)?;
        // Feed stdin from another thread so a large document cannot deadlock against a
        // full stdout pipe.
        let writer = match (stdin, child.stdin.take()) {
            (Some(text), Some(mut pipe)) => {
                let data = text.as_bytes().to_vec();
                Some(std::thread::spawn(move || pipe.write_all(&data)))
            }
            _ => None,
        };
        let out = child.wait_with_output().map_err(spawn_err)?;
        if let Some(w) = writer {
            // A program that exits without reading its input reports that itself.
            let _ = w.join();
        }
        Ok(CommandOutput {
            status: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// One command seen by a [`RecordingRunner`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedCommand {
    /// The program.
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// What was written to its standard input.
    pub stdin: Option<String>,
}

impl RecordedCommand {
    /// `program args…` joined with spaces.
    pub fn line(&self) -> String {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        command_line(&self.program, &args)
    }
}

type Responder = dyn Fn(&RecordedCommand) -> CommandOutput + Send + Sync;

/// A runner that records commands instead of running them (for tests). By default every
/// command succeeds with empty output; [`RecordingRunner::respond_with`] changes that.
#[derive(Clone, Default)]
pub struct RecordingRunner {
    commands: Arc<Mutex<Vec<RecordedCommand>>>,
    responder: Option<Arc<Responder>>,
}

impl fmt::Debug for RecordingRunner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordingRunner").field("commands", &self.lock().len()).finish()
    }
}

impl RecordingRunner {
    /// A runner where every command succeeds.
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers each command with `f`'s output (e.g. failing `iptables-restore` once).
    pub fn respond_with(mut self, f: impl Fn(&RecordedCommand) -> CommandOutput + Send + Sync + 'static) -> Self {
        self.responder = Some(Arc::new(f));
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<RecordedCommand>> {
        self.commands.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The commands run so far.
    pub fn commands(&self) -> Vec<RecordedCommand> {
        self.lock().clone()
    }

    /// Takes the commands run so far, leaving the record empty.
    pub fn take(&self) -> Vec<RecordedCommand> {
        std::mem::take(&mut *self.lock())
    }
}

impl CommandRunner for RecordingRunner {
    fn run(&self, program: &str, args: &[&str], stdin: Option<&str>) -> Result<CommandOutput, RunnerError> {
        let cmd = RecordedCommand {
            program: program.to_string(),
            args: args.iter().map(|a| a.to_string()).collect(),
            stdin: stdin.map(str::to_string),
        };
        let out = match &self.responder {
            Some(f) => f(&cmd),
            None => CommandOutput { status: Some(0), ..CommandOutput::default() },
        };
        self.lock().push(cmd);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_runner_records_and_answers() {
        let r = RecordingRunner::new().respond_with(|c| CommandOutput {
            status: Some(if c.program == "false" { 1 } else { 0 }),
            ..CommandOutput::default()
        });
        assert!(r.run("true", &["a"], Some("doc")).is_ok_and(|o| o.success()));
        assert!(run_checked(&r, "false", &[], None).is_err());
        let cmds = r.take();
        assert_eq!(cmds.len(), 2);
        assert_eq!(cmds[0].line(), "true a");
        assert_eq!(cmds[0].stdin.as_deref(), Some("doc"));
        assert!(r.commands().is_empty());
    }

    #[test]
    fn system_runner_feeds_stdin_and_reports_exit_codes() {
        let r = SystemRunner::new();
        let out = r.run("sh", &["-c", "cat; exit 3"], Some("hello")).map_err(|e| e.to_string());
        assert_eq!(out, Ok(CommandOutput { status: Some(3), stdout: "hello".into(), stderr: String::new() }));
        assert!(matches!(r.run("/nonexistent/program", &[], None), Err(RunnerError::Spawn { .. })));
        let prefixed = SystemRunner::with_prefix(["env"]);
        assert!(prefixed.run("true", &[], None).is_ok_and(|o| o.success()));
    }
}
