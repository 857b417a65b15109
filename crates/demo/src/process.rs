//! Child processes that never outlive their owner: each [`Server`] is started, awaited on
//! the `listening on http://…` line it prints on stdout, and stopped when dropped (SIGTERM,
//! then SIGKILL after a grace period). [`Children`] holds them for the demo, so a signal
//! handler can stop them all while the journey runs.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How long a server may take to print its `listening on` line.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running server.
#[derive(Debug)]
pub struct Server {
    /// A short name for messages (`auth-server`).
    pub name: String,
    /// The address from its `listening on` line, e.g. `http://127.0.0.1:9000`.
    pub listening: String,
    /// Where its stderr (logs) goes.
    pub log: PathBuf,
    child: Option<Child>,
}

impl Server {
    /// Starts `command` (stdout piped, stderr to `log`) and waits for its `listening on`
    /// line. If it exits first, the error quotes the end of its log.
    pub fn start(name: &str, mut command: Command, log: &Path) -> Result<Self> {
        let log_file = File::create(log)
            .with_context(|| format!("creating the log file {}", log.display()))?;
        command
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file);
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {name} ({:?})", command.get_program()))?;
        let stdout = child.stdout.take().context("no stdout pipe")?;
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let mut server = Self {
            name: name.to_owned(),
            listening: String::new(),
            log: log.to_owned(),
            child: Some(child),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(addr) => {
                    server.listening = addr;
                    return Ok(server);
                }
                Err(e) if Instant::now() < deadline => {
                    let exited = server.child.as_mut().and_then(|child| {
                        if e == mpsc::RecvTimeoutError::Disconnected {
                            child.wait().ok()
                        } else {
                            child.try_wait().ok().flatten()
                        }
                    });
                    if let Some(status) = exited {
                        server.child = None;
                        bail!(
                            "{name} exited ({status}) before it was ready; its log:\n{}",
                            tail(log, 15)
                        );
                    }
                }
                Err(_) => bail!(
                    "{name} did not print `listening on` within {} s; the end of its log:\n{}",
                    START_TIMEOUT.as_secs(),
                    tail(log, 15)
                ),
            }
        }
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops it: SIGTERM, then SIGKILL after two seconds; waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            terminate(child);
        }
    }

    /// Kills it at once (SIGKILL), like a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// SIGTERM (through `kill`, as the workspace forbids `unsafe`), then SIGKILL after a grace
/// period; reaps the child either way.
pub fn terminate(mut child: Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if sent {
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A process's anonymous resident memory (`RssAnon` in `/proc/PID/status`), in KiB: what
/// its heap holds, without the mapped binary and libraries. Linux only.
pub fn rss_anon_kib(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("RssAnon:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no RssAnon in {path}"))
}

/// The last `lines` lines of a log file (for error messages).
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Every process the demo started, shared with its signal handler. Once
/// [`Children::stop_all`] has run, nothing new is started and a server that finishes
/// starting is stopped at once.
#[derive(Debug, Clone, Default)]
pub struct Children {
    servers: Arc<Mutex<Vec<Server>>>,
    clients: Arc<Mutex<Vec<Child>>>,
    stopped: Arc<AtomicBool>,
}

impl Children {
    /// Keeps a server until [`Children::stop_all`] (stops it now if that already ran).
    pub fn add(&self, server: Server) -> Result<()> {
        let mut servers = self.servers.lock().unwrap_or_else(|e| e.into_inner());
        if self.stopped.load(Ordering::SeqCst) {
            drop(servers);
            drop(server);
            bail!("stopped");
        }
        servers.push(server);
        Ok(())
    }

    /// Runs a short-lived command to its end, killable by [`Children::stop_all`] meanwhile;
    /// returns its stdout. Its stderr goes to `stderr_log`.
    pub fn run(&self, command: Command, stderr_log: &Path) -> Result<(bool, Vec<u8>)> {
        let out_path = stderr_log.with_extension("stdout");
        let stdout = File::create(&out_path)?;
        let stderr = File::create(stderr_log)?;
        let success = self.run_with(command, stdout.into(), stderr.into())?;
        Ok((success, std::fs::read(&out_path)?))
    }

    /// Runs a command to its end with the given stdout and stderr (e.g. inherited),
    /// killable by [`Children::stop_all`] meanwhile; returns whether it succeeded.
    pub fn run_with(&self, mut command: Command, stdout: Stdio, stderr: Stdio) -> Result<bool> {
        let child = {
            let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
            if self.stopped.load(Ordering::SeqCst) {
                bail!("stopped");
            }
            let child = command
                .stdin(Stdio::null())
                .stdout(stdout)
                .stderr(stderr)
                .spawn()
                .with_context(|| format!("starting {:?}", command.get_program()))?;
            let pid = child.id();
            clients.push(child);
            pid
        };
        loop {
            {
                let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
                let Some(index) = clients.iter().position(|c| c.id() == child) else {
                    bail!("stopped");
                };
                if let Some(status) = clients[index].try_wait()? {
                    // Already reaped by try_wait; wait() returns the same status at once.
                    let _ = clients.remove(index).wait();
                    return Ok(status.success());
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops every process, commands first, servers in reverse start order; nothing starts
    /// afterwards.
    pub fn stop_all(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        let clients: Vec<Child> = self
            .clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        for client in clients {
            terminate(client);
        }
        let servers: Vec<Server> = self
            .servers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        for server in servers.into_iter().rev() {
            drop(server);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sleeper() -> Command {
        let mut command = Command::new("sleep");
        command.arg("30");
        command
    }

    #[test]
    fn stop_all_ends_a_running_command_and_refuses_new_ones() {
        let children = Children::default();
        let runner = children.clone();
        let handle =
            std::thread::spawn(move || runner.run_with(sleeper(), Stdio::null(), Stdio::null()));
        while children
            .clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
        {
            std::thread::yield_now();
        }
        let started = Instant::now();
        children.stop_all();
        assert!(handle.join().unwrap().is_err(), "the command was stopped");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(
            children
                .run_with(sleeper(), Stdio::null(), Stdio::null())
                .is_err()
        );
    }

    #[test]
    fn a_server_that_never_announces_itself_is_reported_with_its_log() {
        let dir = std::env::temp_dir().join(format!("demo-process-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut command = Command::new("sh");
        command.args(["-c", "echo broken config >&2; exit 3"]);
        let err = Server::start("fake", command, &dir.join("fake.log"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("fake exited"), "{err}");
        assert!(err.contains("broken config"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
