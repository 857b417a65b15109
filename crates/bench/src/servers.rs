//! The real release binaries, started for a scenario: each gets free loopback ports, a
//! fresh temporary data directory and its configuration through environment variables (and,
//! for the auth server's `[[resources]]`, which only a file can set, a generated config file,
//! as `tests-e2e` does). Start-up is timed from spawn to the first 200 on `/healthz`, polled
//! about every millisecond; idle memory is read after a short settle.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use demo::ports::pick_free;
use demo::process::{tail, terminate};

use crate::procfs::{self, Memory, Pid};

/// How long a server may take to answer `/healthz`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// The pause between ready and the idle memory reading.
pub const SETTLE: Duration = Duration::from_millis(500);
/// The pre-registered public client of the default auth-server configuration.
pub const CLIENT_ID: &str = "demo-client";
/// One of its redirect URIs (loopback: any port matches).
pub const REDIRECT_URI: &str = "http://127.0.0.1/callback";
/// Registrations per minute allowed during the benchmark (the default, 20, is an abuse
/// limit; the DCR scenarios measure the endpoint, not the limit).
const DCR_RATE_LIMIT: &str = "1000000000";

/// Where the binaries are.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// The directory holding `auth-server` and `resource-server`.
    pub dir: PathBuf,
}

impl Binaries {
    /// Checks that both binaries exist in `dir`.
    pub fn in_dir(dir: PathBuf) -> Result<Self> {
        for name in ["auth-server", "resource-server"] {
            let path = dir.join(name);
            if !path.is_file() {
                bail!(
                    "{} is missing: build it (`cargo build --release -p auth-server -p resource-server`) or drop --no-build",
                    path.display()
                );
            }
        }
        Ok(Self { dir })
    }

    fn auth_server(&self) -> PathBuf {
        self.dir.join("auth-server")
    }

    fn resource_server(&self) -> PathBuf {
        self.dir.join("resource-server")
    }
}

/// A running server, stopped (SIGTERM, then SIGKILL) when dropped.
#[derive(Debug)]
pub struct Service {
    /// `auth-server` or `resource-server`.
    pub name: &'static str,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The `Host` header to send (`localhost:PORT`, the host of its URLs).
    pub host: String,
    /// Spawn to the first 200 on `/healthz`.
    pub startup: Duration,
    /// Memory after ready and [`SETTLE`].
    pub idle: Memory,
    /// Its stderr.
    pub log: PathBuf,
    child: Option<Child>,
    pid: u32,
}

impl Service {
    /// Spawns `command` (stdin and stdout closed, stderr to `log`), then waits for `/healthz`.
    fn start(name: &'static str, mut command: Command, port: u16, log: &Path) -> Result<Self> {
        let log_file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        command
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let host = format!("localhost:{port}");
        let spawned = Instant::now();
        let child = command
            .spawn()
            .with_context(|| format!("starting {name} ({:?})", command.get_program()))?;
        let pid = child.id();
        let mut service = Self {
            name,
            addr,
            host,
            startup: Duration::ZERO,
            idle: Memory { rss: 0, peak: 0 },
            log: log.to_owned(),
            child: Some(child),
            pid,
        };
        loop {
            if healthz_ok(addr, &service.host) {
                service.startup = spawned.elapsed();
                break;
            }
            if let Some(child) = service.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                service.child = None;
                bail!(
                    "{name} exited ({status}) before it was ready; its log:\n{}",
                    tail(log, 15)
                );
            }
            if spawned.elapsed() > READY_TIMEOUT {
                bail!(
                    "{name} did not answer /healthz within {} s; the end of its log:\n{}",
                    READY_TIMEOUT.as_secs(),
                    tail(log, 15)
                );
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(SETTLE);
        service.idle = procfs::memory(Pid::Other(pid))?;
        Ok(service)
    }

    /// Its process id.
    pub fn pid(&self) -> Pid {
        Pid::Other(self.pid)
    }

    /// `http://localhost:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.host)
    }

    /// Stops it and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            terminate(child);
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One `GET /healthz` on a fresh connection: true on a 200.
fn healthz_ok(addr: SocketAddr, host: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(100)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_nodelay(true);
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// A temporary directory with the data, logs and configuration of one set of servers.
#[derive(Debug)]
pub struct Site {
    dir: tempfile::TempDir,
    /// The auth server's port (chosen before it starts: the issuer contains it).
    pub as_port: u16,
    /// The resource server's port.
    pub rs_port: u16,
    /// `http://localhost:AS_PORT`.
    pub issuer: String,
    /// `http://localhost:RS_PORT/mcp`: the RS's canonical URI and the tokens' `aud`.
    pub resource: String,
    starts: usize,
}

impl Site {
    /// A fresh directory and free ports.
    pub fn new() -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("mcp-bench-")
            .tempdir()
            .context("creating a temporary directory")?;
        std::fs::create_dir_all(dir.path().join("logs"))?;
        let (as_port, rs_port) = (pick_free()?, pick_free()?);
        let issuer = format!("http://localhost:{as_port}");
        let resource = format!("http://localhost:{rs_port}/mcp");
        std::fs::write(
            dir.path().join("auth-server.toml"),
            format!(
                "[[resources]]\nuri = \"{resource}\"\nscopes = [\"mcp:tools\", \"weather:read\", \"mcp:admin\"]\ndefault_scopes = [\"mcp:tools\"]\n"
            ),
        )?;
        Ok(Self {
            dir,
            as_port,
            rs_port,
            issuer,
            resource,
            starts: 0,
        })
    }

    fn log(&mut self, name: &str) -> PathBuf {
        self.starts += 1;
        self.dir
            .path()
            .join(format!("logs/{name}-{}.log", self.starts))
    }

    /// Starts the auth server on this site's port and data directory (kept across starts),
    /// in auto-approve mode, with the registration rate limit lifted.
    pub fn start_auth_server(&mut self, bins: &Binaries) -> Result<Service> {
        let mut command = Command::new(bins.auth_server());
        clean_env(&mut command);
        command
            .arg("--config")
            .arg(self.dir.path().join("auth-server.toml"))
            .env("AUTH_SERVER_ISSUER", &self.issuer)
            .env("AUTH_SERVER_HTTP__HOST", "127.0.0.1")
            .env("AUTH_SERVER_HTTP__PORT", self.as_port.to_string())
            .env(
                "AUTH_SERVER_DATABASE__DATA_DIR",
                self.dir.path().join("auth-server"),
            )
            .env("AUTH_SERVER_DATABASE__URL", "")
            .env("AUTH_SERVER_DEV__AUTO_APPROVE", "true")
            .env("AUTH_SERVER_DCR__RATE_LIMIT_PER_MINUTE", DCR_RATE_LIMIT);
        let log = self.log("auth-server");
        Service::start("auth-server", command, self.as_port, &log)
    }

    /// Starts the resource server, trusting this site's auth server, with `extra`
    /// `RESOURCE_SERVER_*` settings.
    pub fn start_resource_server(
        &mut self,
        bins: &Binaries,
        extra: &[(&str, &str)],
    ) -> Result<Service> {
        self.start_resource_server_on(bins, self.rs_port, extra)
    }

    /// Starts another resource server, on `port` (its resource URI is
    /// `http://localhost:PORT/mcp`: tokens for this site's resource are not for it).
    pub fn start_resource_server_on(
        &mut self,
        bins: &Binaries,
        port: u16,
        extra: &[(&str, &str)],
    ) -> Result<Service> {
        let resource = format!("http://localhost:{port}/mcp");
        let mut command = Command::new(bins.resource_server());
        clean_env(&mut command);
        command
            .env("RESOURCE_SERVER_HTTP__HOST", "127.0.0.1")
            .env("RESOURCE_SERVER_HTTP__PORT", port.to_string())
            .env("RESOURCE_SERVER_RESOURCE__URI", &resource)
            .env("RESOURCE_SERVER_AUTHORIZATION_SERVER__ISSUER", &self.issuer);
        for (key, value) in extra {
            command.env(key, value);
        }
        let log = self.log("resource-server");
        Service::start("resource-server", command, port, &log)
    }
}

/// The servers run with their compiled defaults plus what the benchmark sets: settings and
/// log filters inherited from the caller's environment are removed.
fn clean_env(command: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if key.starts_with("AUTH_SERVER_")
            || key.starts_with("RESOURCE_SERVER_")
            || key == "RUST_LOG"
        {
            command.env_remove(key);
        }
    }
}
