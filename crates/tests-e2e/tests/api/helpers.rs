//! The harness: a [`World`] of the three real binaries on free ports in a temporary
//! directory, stopped when dropped (the servers are [`demo::process::Server`]s).

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

use demo::journey::Client;
use demo::ports::pick_free;
use demo::process::Server;

/// Where the workspace binaries are: `target/debug`, two levels above this test binary
/// (`target/debug/deps/api-…`).
pub(crate) fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().to_owned();
    for name in ["auth-server", "resource-server", "mcp-client"] {
        assert!(
            dir.join(name).exists(),
            "{} is missing: run the e2e tests with the workspace (`cargo nextest run --workspace`) or `cargo build --workspace` first",
            dir.join(name).display()
        );
    }
    dir
}

/// How the world is set up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    /// `dev.auto_approve` on the auth server.
    pub(crate) auto_approve: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self { auto_approve: true }
    }
}

/// The three servers (the auth server may be stopped and started again).
#[derive(Debug)]
pub(crate) struct World {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) bin: PathBuf,
    pub(crate) options: Options,
    pub(crate) as_port: u16,
    pub(crate) issuer: String,
    pub(crate) resource: String,
    pub(crate) cimd_url: String,
    pub(crate) auth: Option<Server>,
    pub(crate) rs: Server,
    pub(crate) cimd: Server,
}

impl World {
    /// Starts everything; ports are picked free and the start retried if one was taken
    /// meanwhile.
    pub(crate) fn start(options: Options) -> Self {
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start(options) {
                Ok(world) => return world,
                Err(e) => last = format!("{e:#}"),
            }
        }
        panic!("could not start the servers: {last}");
    }

    fn try_start(options: Options) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        std::fs::create_dir_all(dir.path().join("logs"))?;
        let bin = bin_dir();
        let (as_port, rs_port, cimd_port) = (pick_free()?, pick_free()?, pick_free()?);
        let issuer = format!("http://localhost:{as_port}");
        let resource = format!("http://localhost:{rs_port}/mcp");
        let cimd_url = format!("http://localhost:{cimd_port}/client-metadata.json");
        std::fs::write(
            dir.path().join("auth-server.toml"),
            format!(
                "[[resources]]\nuri = \"{resource}\"\nscopes = [\"mcp:tools\", \"weather:read\", \"mcp:admin\"]\ndefault_scopes = [\"mcp:tools\"]\n"
            ),
        )?;
        let mut world_auth = None;
        let partial = Partial {
            dir: dir.path().to_owned(),
            bin: bin.clone(),
            options,
            as_port,
            issuer: issuer.clone(),
        };
        world_auth.replace(partial.start_auth()?);
        let mut rs = Command::new(bin.join("resource-server"));
        rs.env("RESOURCE_SERVER_HTTP__HOST", "127.0.0.1")
            .env("RESOURCE_SERVER_HTTP__PORT", rs_port.to_string())
            .env("RESOURCE_SERVER_RESOURCE__URI", &resource)
            .env("RESOURCE_SERVER_AUTHORIZATION_SERVER__ISSUER", &issuer)
            // Pick up a rotated key at its first token, however soon after the last fetch.
            .env(
                "RESOURCE_SERVER_AUTHORIZATION_SERVER__JWKS_REFRESH_MIN_INTERVAL_SECS",
                "0",
            );
        let rs = Server::start(
            "resource-server",
            rs,
            &dir.path().join("logs/resource-server.log"),
        )?;
        let mut cimd = Command::new(bin.join("mcp-client"));
        cimd.args(["serve-metadata", "--url", &cimd_url, "--listen"])
            .arg(format!("127.0.0.1:{cimd_port}"));
        let cimd = Server::start("CIMD host", cimd, &dir.path().join("logs/cimd-host.log"))?;
        Ok(Self {
            dir,
            bin,
            options,
            as_port,
            issuer,
            resource,
            cimd_url,
            auth: world_auth,
            rs,
            cimd,
        })
    }

    fn partial(&self) -> Partial {
        Partial {
            dir: self.dir.path().to_owned(),
            bin: self.bin.clone(),
            options: self.options,
            as_port: self.as_port,
            issuer: self.issuer.clone(),
        }
    }

    /// Starts the auth server again (same port, issuer and data directory).
    pub(crate) fn start_auth(&mut self) {
        assert!(self.auth.is_none(), "the auth server is running");
        self.auth = Some(self.partial().start_auth().unwrap());
    }

    /// Stops the auth server (SIGTERM).
    pub(crate) fn stop_auth(&mut self) {
        if let Some(mut auth) = self.auth.take() {
            auth.stop();
        }
    }

    /// An admin command of the auth server on its data (e.g. `key rotate`).
    pub(crate) fn auth_admin(&self, args: &[&str]) -> Output {
        let mut command = self.partial().auth_command();
        command.args(args).output().unwrap()
    }

    /// A client with a fresh credential file.
    pub(crate) fn client(&self, name: &str) -> Client {
        let log_dir = self.dir.path().join(format!("client-{name}"));
        std::fs::create_dir_all(&log_dir).unwrap();
        Client {
            bin: self.bin.join("mcp-client"),
            store: self.dir.path().join(format!("credentials-{name}.json")),
            log_dir,
            children: None,
        }
    }

    /// The access token in a client's credential file (for JWT header checks).
    pub(crate) fn stored_access_token(&self, client: &Client) -> String {
        let file: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&client.store).unwrap()).unwrap();
        file["tokens"][0]["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// What starting the auth server needs.
struct Partial {
    dir: PathBuf,
    bin: PathBuf,
    options: Options,
    as_port: u16,
    issuer: String,
}

impl Partial {
    fn auth_command(&self) -> Command {
        let mut auth = Command::new(self.bin.join("auth-server"));
        auth.arg("--config")
            .arg(self.dir.join("auth-server.toml"))
            .env("AUTH_SERVER_ISSUER", &self.issuer)
            .env("AUTH_SERVER_HTTP__HOST", "127.0.0.1")
            .env("AUTH_SERVER_HTTP__PORT", self.as_port.to_string())
            .env(
                "AUTH_SERVER_DATABASE__DATA_DIR",
                self.dir.join("auth-server"),
            )
            .env("AUTH_SERVER_DATABASE__URL", "")
            .env(
                "AUTH_SERVER_DEV__AUTO_APPROVE",
                self.options.auto_approve.to_string(),
            )
            .env("AUTH_SERVER_CIMD__ALLOW_INSECURE_LOOPBACK", "true");
        auth
    }

    fn start_auth(&self) -> anyhow::Result<Server> {
        let n = std::fs::read_dir(self.dir.join("logs")).map_or(0, Iterator::count);
        Server::start(
            "auth-server",
            self.auth_command(),
            &self.dir.join(format!("logs/auth-server-{n}.log")),
        )
    }
}

/// The `kid` in a JWT's header.
pub(crate) fn kid_of(jwt: &str) -> String {
    use base64::Engine as _;
    let header = jwt.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let header: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

/// The `--headless` and registration arguments of an authorizing command.
pub(crate) fn call(server: &str, tool: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["call".to_owned(), server.to_owned(), tool.to_owned()];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args.push("--headless".into());
    args
}
