//! The `auth-server` binary: serve (default), or run an admin command against the database.

use std::io::BufRead as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use auth_server::settings::Settings;
use auth_server::state::{AppState, open_store};
use auth_server::store::UserRecord;
use clap::{Parser, Subcommand};
use mcp_auth_core::{Clock, SystemClock};
use tokio::net::TcpListener;

#[derive(Debug, Parser)]
#[command(
    name = "auth-server",
    version,
    about = "OAuth 2.1 authorization server for MCP"
)]
struct Cli {
    /// Configuration file (TOML), layered over the compiled defaults and under AUTH_SERVER_* env.
    #[arg(long, global = true, env = "AUTH_SERVER_CONFIG")]
    config: Option<PathBuf>,
    /// Log as JSON lines.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve HTTP (the default).
    Serve,
    /// Applies the database migrations and exits (a deploy step before new instances start;
    /// `serve` also applies them at start).
    Migrate,
    /// Manage local users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage signing keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Adds a user, or updates one with the same username. The password is read from stdin.
    Add {
        /// Login name.
        username: String,
        /// Role (admin, user, guest, or one defined under [roles]).
        #[arg(long, default_value = "user")]
        role: String,
        /// Explicit allowed scopes (space-separated), replacing the role's.
        #[arg(long)]
        scopes: Option<String>,
        /// Display name.
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Lists users (username, role, allowed scopes).
    List,
    /// Removes a user: their consents are deleted and their grants revoked.
    Remove {
        /// Login name.
        username: String,
    },
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Adds a new active signing key; old keys stay published until their tokens expire.
    Rotate {
        /// Sign with the new key at once instead of after two `tokens.key_reload_seconds`
        /// periods. Only safe when no other instance is running (a single server, or all
        /// stopped): an instance that has not re-read the keys yet would not publish it.
        #[arg(long)]
        now: bool,
    },
    /// Lists stored keys.
    List,
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let addr = format!("{}:{}", settings.http.host, settings.http.port);
    let listener = TcpListener::bind(&addr)
        .await
        .with_context(|| format!("could not bind {addr} (http.host / http.port)"))?;
    let local = listener.local_addr()?;
    let state = AppState::open(settings, Arc::new(SystemClock)).await?;
    tracing::info!(issuer = %state.settings.issuer, "auth-server ready");
    println!("listening on http://{local}");
    let store = state.store.clone();
    let served = auth_server::run(listener, state, mcp_auth_serve::shutdown_signal()).await;
    // SQLite: the writes already queued finish and the WAL is folded into the file.
    store.close().await;
    served
}

async fn user_add(
    settings: &Settings,
    username: String,
    role: String,
    scopes: Option<String>,
    display_name: Option<String>,
) -> anyhow::Result<()> {
    if scopes.is_none() && !settings.roles.contains_key(&role) {
        anyhow::bail!("unknown role {role:?}: define it under [roles] or pass --scopes");
    }
    if let Some(s) = &scopes {
        mcp_auth_core::ScopeSet::parse(s).context("--scopes")?;
    }
    eprintln!("password for {username} (read from stdin):");
    let mut password = String::new();
    std::io::stdin().lock().read_line(&mut password)?;
    let password = password.trim_end_matches(['\r', '\n']).to_owned();
    if password.len() < 8 {
        anyhow::bail!("the password must be at least 8 characters");
    }
    let store = open_store(settings).await?;
    let existing = auth_server::store::Users::get_user_by_name(store.as_ref(), &username).await?;
    let user = UserRecord {
        user_id: existing.map_or_else(|| format!("user-{}", uuid::Uuid::new_v4()), |u| u.user_id),
        username: username.clone(),
        password_hash: auth_server::security::hash_password(&password)?,
        role,
        scopes,
        display_name,
    };
    auth_server::store::Users::upsert_user(store.as_ref(), &user).await?;
    store.close().await;
    println!("user {username} saved");
    Ok(())
}

async fn key_command(settings: &Settings, command: KeyCommand) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    match command {
        KeyCommand::Rotate { now } => {
            // Publish first, sign later: every running instance re-reads the keys within
            // tokens.key_reload_seconds, so activation waits two of those periods.
            let delay = if now {
                0
            } else {
                i64::try_from(settings.tokens.key_reload_seconds.saturating_mul(2))
                    .unwrap_or(i64::MAX)
            };
            let activate_at = SystemClock.now().saturating_add(delay);
            let kid = auth_server::keys::rotate_at(
                store.as_ref(),
                settings.signing_algorithm,
                activate_at,
            )
            .await?;
            println!(
                "new active signing key {kid}; running servers publish it within {}s and sign with it from {activate_at} (in {delay}s)",
                settings.tokens.key_reload_seconds
            );
        }
        KeyCommand::List => {
            for key in auth_server::store::SigningKeys::list_keys(store.as_ref()).await? {
                // created_at is the activation time (ahead of now for a fresh rotation).
                let now = SystemClock.now();
                let status = match key.retired_at {
                    Some(at) if at <= now => format!("retired at {at}"),
                    Some(at) => format!("signing until {at}"),
                    None if key.created_at > now => format!(
                        "active from {} (published, not signing yet)",
                        key.created_at
                    ),
                    None => "active".to_owned(),
                };
                println!(
                    "{}\t{}\tcreated {}\t{status}",
                    key.kid, key.algorithm, key.created_at
                );
            }
        }
    }
    store.close().await;
    Ok(())
}

/// glibc serves a large allocation from `mmap` and unmaps it when freed, but after the first
/// such free it raises its mmap threshold to that size, so later argon2 runs (19 MiB per
/// password check: the seed users at start-up, every sign-in) come from the heap, which
/// glibc keeps. Measured: 32 MB idle RSS instead of 13 MB. Pinning the threshold at its
/// default keeps every large block on `mmap`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn give_large_allocations_back() {
    // SAFETY: mallopt takes two integers and only tunes the allocator; it is thread-safe, and
    // it runs here before the runtime starts any thread.
    let _ = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024) };
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn give_large_allocations_back() {}

fn main() -> anyhow::Result<()> {
    give_large_allocations_back();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(cli_main())
}

async fn cli_main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    auth_server::telemetry::init(cli.log_json);
    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            let store = open_store(&settings).await?;
            let backend = store.backend();
            store.close().await;
            println!("{backend} database is up to date");
            Ok(())
        }
        Command::User {
            command:
                UserCommand::Add {
                    username,
                    role,
                    scopes,
                    display_name,
                },
        } => user_add(&settings, username, role, scopes, display_name).await,
        Command::User {
            command: UserCommand::List,
        } => {
            let store = open_store(&settings).await?;
            for u in store.list_users().await? {
                let scopes = u.scopes.unwrap_or_else(|| format!("(role {})", u.role));
                println!("{}\t{}\t{}", u.username, u.role, scopes);
            }
            store.close().await;
            Ok(())
        }
        Command::User {
            command: UserCommand::Remove { username },
        } => {
            let store = open_store(&settings).await?;
            let removed = store.delete_user(&username, SystemClock.now()).await?;
            store.close().await;
            if !removed {
                anyhow::bail!("no user {username:?}");
            }
            println!("user {username} removed; their grants are revoked");
            Ok(())
        }
        Command::Key { command } => key_command(&settings, command).await,
    }
}
