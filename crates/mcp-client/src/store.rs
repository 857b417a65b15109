//! The credential file: client registrations per authorization server issuer, and tokens
//! per (issuer, resource), in one JSON document with mode `0600` (OAuth 2.1 §7.1,
//! checklist T4).
//!
//! Credentials are bound to the issuer (MCP 2026-07-28, checklist D13): a server that moves
//! to another authorization server finds no registration there and registers afresh, and a
//! client id is never sent to an issuer it was not issued by. Every read-modify-write holds
//! an exclusive lock on `<file>.lock`, so parallel `mcp-client` processes do not lose each
//! other's updates; writes go to a temporary file that is renamed over the old one.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use mcp_auth_core::ResourceUri;
use mcp_auth_core::metadata::TokenEndpointAuthMethod;
use mcp_auth_core::secret::{AccessToken, ClientSecret, RefreshToken};
use serde::{Deserialize, Serialize};

use crate::error::{ClientError, Result};

/// How a client id was obtained (MCP registration priority).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationMethod {
    /// Given by flag, config or environment.
    PreRegistered,
    /// A Client ID Metadata Document URL used as the client id.
    Cimd,
    /// RFC 7591 dynamic client registration.
    Dcr,
}

/// A client registration at one authorization server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    /// The issuer it belongs to.
    pub issuer: String,
    /// The client id.
    pub client_id: String,
    /// The secret of a confidential client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<ClientSecret>,
    /// How the client authenticates at the token endpoint.
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    /// How it was obtained.
    pub method: RegistrationMethod,
    /// Registered redirect URIs.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// When (Unix seconds).
    pub registered_at: i64,
}

/// Tokens for one (issuer, resource).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The authorization server.
    pub issuer: String,
    /// The `resource` the tokens were requested for.
    pub resource: String,
    /// The canonical MCP server URL they are used with.
    pub server: String,
    /// The client id that obtained them.
    pub client_id: String,
    /// Where to refresh them.
    pub token_endpoint: String,
    /// The access token.
    pub access_token: AccessToken,
    /// The refresh token, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    /// Expiry (Unix seconds), if the server said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Granted scopes (space-separated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// When obtained (Unix seconds).
    pub obtained_at: i64,
}

/// The whole file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StoreFile {
    /// Format version.
    #[serde(default)]
    pub version: u32,
    /// Registrations by issuer.
    #[serde(default)]
    pub registrations: BTreeMap<String, Registration>,
    /// Tokens.
    #[serde(default)]
    pub tokens: Vec<TokenRecord>,
}

/// The credential file at one path.
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
}

impl Store {
    /// The store at `path` (created on first write).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, reason: impl std::fmt::Display) -> ClientError {
        ClientError::Store {
            path: self.path.display().to_string(),
            reason: reason.to_string(),
        }
    }

    /// Reads the file (an absent file is an empty store).
    pub fn load(&self) -> Result<StoreFile> {
        let _lock = self.lock()?;
        self.read()
    }

    /// Reads, lets `f` change, and writes back, under the lock.
    pub fn update<T>(&self, f: impl FnOnce(&mut StoreFile) -> T) -> Result<T> {
        let _lock = self.lock()?;
        let mut file = self.read()?;
        let out = f(&mut file);
        file.version = 1;
        self.write(&file)?;
        Ok(out)
    }

    /// The registration for `issuer`, if any.
    pub fn registration(&self, issuer: &str) -> Result<Option<Registration>> {
        Ok(self.load()?.registrations.remove(issuer))
    }

    /// Saves a registration under its issuer.
    pub fn save_registration(&self, registration: Registration) -> Result<()> {
        self.update(|f| {
            f.registrations
                .insert(registration.issuer.clone(), registration);
        })
    }

    /// The most recent tokens for the MCP server `server`, from any issuer.
    pub fn tokens_for_server(&self, server: &str) -> Result<Option<TokenRecord>> {
        let server = canonical(server);
        Ok(self
            .load()?
            .tokens
            .into_iter()
            .filter(|t| canonical(&t.server) == server)
            .max_by_key(|t| t.obtained_at))
    }

    /// Saves tokens, replacing those for the same (issuer, resource).
    pub fn save_tokens(&self, record: TokenRecord) -> Result<()> {
        self.update(|f| {
            f.tokens
                .retain(|t| !(t.issuer == record.issuer && t.resource == record.resource));
            f.tokens.push(record);
        })
    }

    /// Removes the tokens of (issuer, resource).
    pub fn remove_tokens(&self, issuer: &str, resource: &str) -> Result<()> {
        self.update(|f| {
            f.tokens
                .retain(|t| !(t.issuer == issuer && t.resource == resource));
        })
    }

    /// Removes every token used with `server`; returns how many records went.
    pub fn remove_tokens_for_server(&self, server: &str) -> Result<Vec<TokenRecord>> {
        let server = canonical(server);
        self.update(|f| {
            let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut f.tokens)
                .into_iter()
                .partition(|t| canonical(&t.server) == server);
            f.tokens = kept;
            gone
        })
    }

    /// Removes the registration for `issuer`.
    pub fn remove_registration(&self, issuer: &str) -> Result<bool> {
        self.update(|f| f.registrations.remove(issuer).is_some())
    }

    fn lock(&self) -> Result<File> {
        let lock_path = self.path.with_extension("lock");
        if let Some(dir) = lock_path.parent() {
            create_private_dir(dir)
                .map_err(|e| self.err(format!("creating {}: {e}", dir.display())))?;
        }
        let file = private_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| self.err(format!("opening the lock file: {e}")))?;
        file.lock().map_err(|e| self.err(format!("locking: {e}")))?;
        Ok(file)
    }

    fn read(&self) -> Result<StoreFile> {
        match fs::read(&self.path) {
            Ok(bytes) => {
                tighten_permissions(&self.path).map_err(|e| self.err(e))?;
                serde_json::from_slice(&bytes)
                    .map_err(|e| self.err(format!("not a credential file: {e}")))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(StoreFile::default()),
            Err(e) => Err(self.err(e)),
        }
    }

    fn write(&self, file: &StoreFile) -> Result<()> {
        let json = serde_json::to_vec_pretty(file).map_err(|e| self.err(e))?;
        let tmp = self.path.with_extension("tmp");
        let _ = fs::remove_file(&tmp);
        let mut out = private_options()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| self.err(format!("writing {}: {e}", tmp.display())))?;
        out.write_all(&json)
            .and_then(|()| out.sync_all())
            .map_err(|e| self.err(e))?;
        fs::rename(&tmp, &self.path).map_err(|e| self.err(e))
    }
}

fn canonical(url: &str) -> String {
    ResourceUri::parse(url).map_or_else(|_| url.to_owned(), |r| r.as_str().to_owned())
}

#[cfg(unix)]
fn private_options() -> OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = OpenOptions::new();
    options.mode(0o600);
    options
}

#[cfg(not(unix))]
fn private_options() -> OpenOptions {
    OpenOptions::new()
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.as_os_str().is_empty() || dir.exists() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    fs::create_dir_all(dir)
}

/// A credential file readable by others is narrowed to `0600` when it is read.
#[cfg(unix)]
fn tighten_permissions(path: &Path) -> std::result::Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path)
        .map_err(|e| e.to_string())?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("narrowing permissions to 0600: {e}"))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn tighten_permissions(_path: &Path) -> std::result::Result<(), String> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration(issuer: &str) -> Registration {
        Registration {
            issuer: issuer.to_owned(),
            client_id: format!("client-of-{issuer}"),
            client_secret: None,
            token_endpoint_auth_method: TokenEndpointAuthMethod::None,
            method: RegistrationMethod::Dcr,
            redirect_uris: vec![],
            registered_at: 0,
        }
    }

    fn tokens(issuer: &str, obtained_at: i64) -> TokenRecord {
        TokenRecord {
            issuer: issuer.to_owned(),
            resource: "http://localhost:8001/mcp".to_owned(),
            server: "http://localhost:8001/mcp".to_owned(),
            client_id: format!("client-of-{issuer}"),
            token_endpoint: format!("{issuer}/token"),
            access_token: AccessToken::new("at"),
            refresh_token: None,
            expires_at: None,
            scope: None,
            obtained_at,
        }
    }

    #[test]
    fn parallel_writers_lose_no_update() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.json");
        let writers: Vec<_> = (0..4)
            .map(|t| {
                let store = Store::new(&path);
                std::thread::spawn(move || {
                    for i in 0..10 {
                        store
                            .save_registration(registration(&format!("https://as-{t}-{i}")))
                            .unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        assert_eq!(Store::new(&path).load().unwrap().registrations.len(), 40);
    }

    #[test]
    fn tokens_are_kept_per_issuer_and_resource_and_the_newest_is_used() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("c.json"));
        store.save_tokens(tokens("https://as1", 1)).unwrap();
        store.save_tokens(tokens("https://as2", 2)).unwrap();
        store.save_tokens(tokens("https://as1", 3)).unwrap();
        let file = store.load().unwrap();
        assert_eq!(file.tokens.len(), 2);
        let newest = store
            .tokens_for_server("http://localhost:8001/mcp/")
            .unwrap()
            .unwrap();
        assert_eq!(
            (newest.issuer.as_str(), newest.obtained_at),
            ("https://as1", 3)
        );
        store
            .remove_tokens("https://as1", "http://localhost:8001/mcp")
            .unwrap();
        let left = store
            .tokens_for_server("http://localhost:8001/mcp")
            .unwrap()
            .unwrap();
        assert_eq!(left.issuer, "https://as2");
    }

    #[test]
    fn an_absent_file_is_an_empty_store_and_garbage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        assert!(Store::new(&path).load().unwrap().tokens.is_empty());
        std::fs::write(&path, "not json").unwrap();
        assert!(Store::new(&path).load().is_err());
    }
}
