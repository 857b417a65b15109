//! `cargo demo` / `just demo`: builds the workspace, starts the auth server (auto-approve,
//! a fresh data directory), the resource server and the client's Client ID Metadata Document
//! host, runs the client through the whole journey, prints it as six numbered steps, and
//! stops everything it started, on success, on failure and on Ctrl-C or SIGTERM.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use clap::Parser;
use demo::journey::{self, Client, DemoStep, Registration};
use demo::ports::ensure_free;
use demo::process::{Children, Server};

/// Runs the whole MCP authorization journey against the real servers.
#[derive(Debug, Clone, Parser)]
#[command(name = "demo", about, long_about = None)]
struct Args {
    /// Authorization server port (issuer http://localhost:<port>).
    #[arg(long, env = "DEMO_AS_PORT", default_value_t = 9000)]
    as_port: u16,
    /// Resource server port (resource http://localhost:<port>/mcp).
    #[arg(long, env = "DEMO_RS_PORT", default_value_t = 8001)]
    rs_port: u16,
    /// Port of the client's Client ID Metadata Document host.
    #[arg(long, env = "DEMO_CIMD_PORT", default_value_t = 3000)]
    cimd_port: u16,
    /// Don't run `cargo build --workspace` first (use the binaries next to this one).
    #[arg(long)]
    no_build: bool,
    /// Keep the temporary directory (logs, database, credential file) afterwards.
    #[arg(long)]
    keep: bool,
}

fn main() {
    let args = Args::parse();
    let children = Children::default();
    let dir = std::env::temp_dir().join(format!("mcp-auth-demo-{}", std::process::id()));
    let code = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(supervise(args.clone(), children.clone(), dir.clone())),
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    };
    children.stop_all();
    if args.keep {
        eprintln!("logs and data kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    std::process::exit(code);
}

/// Runs the demo on a blocking thread and stops everything on Ctrl-C or SIGTERM.
async fn supervise(args: Args, children: Children, dir: PathBuf) -> i32 {
    let mut work = {
        let children = children.clone();
        tokio::task::spawn_blocking(move || run(&args, &children, &dir))
    };
    let terminate = async {
        #[cfg(unix)]
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
            return;
        }
        std::future::pending::<()>().await;
    };
    let code = tokio::select! {
        result = &mut work => return match result {
            Ok(Ok(())) => 0,
            Ok(Err(e)) => {
                eprintln!("\nerror: {e:#}");
                1
            }
            Err(e) => {
                eprintln!("\nerror: {e}");
                1
            }
        },
        _ = tokio::signal::ctrl_c() => {
            eprintln!("\ninterrupted: stopping the servers");
            130
        }
        () = terminate => {
            eprintln!("\nterminated: stopping the servers");
            143
        }
    };
    // Nothing starts after this, and what runs is stopped; the worker then ends quickly.
    children.stop_all();
    let _ = work.await;
    code
}

fn say(line: &str) {
    let _ = writeln!(std::io::stdout(), "{line}");
}

fn run(args: &Args, children: &Children, dir: &Path) -> Result<()> {
    ensure_free(args.as_port, "auth server", "--as-port or DEMO_AS_PORT")?;
    ensure_free(args.rs_port, "resource server", "--rs-port or DEMO_RS_PORT")?;
    ensure_free(
        args.cimd_port,
        "client metadata host",
        "--cimd-port or DEMO_CIMD_PORT",
    )?;
    let bin_dir = std::env::current_exe()?
        .parent()
        .context("no directory for this executable")?
        .to_owned();
    if !args.no_build {
        say("Building the workspace (cargo build --workspace) …");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .args(["build", "--workspace", "--quiet"])
            .current_dir(workspace_root());
        if !children.run_with(build, Stdio::inherit(), Stdio::inherit())? {
            bail!("cargo build --workspace failed");
        }
    }
    std::fs::create_dir_all(dir.join("logs"))?;
    let issuer = format!("http://localhost:{}", args.as_port);
    let resource = format!("http://localhost:{}/mcp", args.rs_port);
    let cimd_url = format!("http://localhost:{}/client-metadata.json", args.cimd_port);

    // The auth server knows the resource (a list, so it goes in a file).
    let as_config = dir.join("auth-server.toml");
    std::fs::write(
        &as_config,
        format!(
            "[[resources]]\nuri = \"{resource}\"\nscopes = [\"mcp:tools\", \"weather:read\", \"mcp:admin\"]\ndefault_scopes = [\"mcp:tools\"]\n"
        ),
    )?;
    let mut auth = Command::new(bin_dir.join("auth-server"));
    auth.arg("--config")
        .arg(&as_config)
        .env("AUTH_SERVER_ISSUER", &issuer)
        .env("AUTH_SERVER_HTTP__HOST", "127.0.0.1")
        .env("AUTH_SERVER_HTTP__PORT", args.as_port.to_string())
        .env("AUTH_SERVER_DATABASE__DATA_DIR", dir.join("auth-server"))
        .env("AUTH_SERVER_DATABASE__URL", "")
        .env("AUTH_SERVER_DEV__AUTO_APPROVE", "true")
        .env("AUTH_SERVER_CIMD__ALLOW_INSECURE_LOOPBACK", "true");
    let server = Server::start("auth-server", auth, &dir.join("logs/auth-server.log"))?;
    say(&format!(
        "  auth server      {issuer}  (auto-approve as `demo`, fresh data in {})",
        dir.join("auth-server").display()
    ));
    children.add(server)?;

    let mut rs = Command::new(bin_dir.join("resource-server"));
    rs.env("RESOURCE_SERVER_HTTP__HOST", "127.0.0.1")
        .env("RESOURCE_SERVER_HTTP__PORT", args.rs_port.to_string())
        .env("RESOURCE_SERVER_RESOURCE__URI", &resource)
        .env("RESOURCE_SERVER_AUTHORIZATION_SERVER__ISSUER", &issuer)
        .env("RESOURCE_SERVER_AUTHORIZATION_SERVER__INTERNAL_URL", "");
    let server = Server::start("resource-server", rs, &dir.join("logs/resource-server.log"))?;
    say(&format!("  resource server  {resource}"));
    children.add(server)?;

    let mut cimd = Command::new(bin_dir.join("mcp-client"));
    cimd.args(["serve-metadata", "--url", &cimd_url, "--listen"])
        .arg(format!("127.0.0.1:{}", args.cimd_port));
    let server = Server::start("CIMD host", cimd, &dir.join("logs/cimd-host.log"))?;
    say(&format!("  CIMD host        {cimd_url}"));
    children.add(server)?;

    let client = Client {
        bin: bin_dir.join("mcp-client"),
        store: dir.join("credentials.json"),
        log_dir: dir.join("logs"),
        children: Some(children.clone()),
    };
    say("");
    journey::run(
        &client,
        &resource,
        &Registration::Cimd(cimd_url),
        &mut |step: &DemoStep| {
            say(&format!("{}. {}", step.n, step.title));
            for line in &step.lines {
                say(&format!("     {line}"));
            }
        },
    )?;
    say("");
    say(
        "✔ Demo complete: discovery, CIMD registration, PKCE, scoped tools, step-up, refresh and revocation all worked.",
    );
    Ok(())
}

/// The workspace root: two levels above this crate's manifest.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map_or_else(|| PathBuf::from("."), Path::to_owned)
}
