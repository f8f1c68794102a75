//! Tokens kept between runs: one per Worker URL, in the user's config
//! directory.
//!
//! The file is `$XDG_CONFIG_HOME/polycache/tokens.json` (else the platform's
//! config directory, `~/.config` on Linux), a JSON object keyed by the
//! normalized base URL, so that a developer can be logged in to a local
//! instance and to production at once. A token is a credential, so the
//! directory is created `0700` and the file written `0600` through a
//! temporary file and a rename: it is never readable by others, not even for
//! the moment between create and chmod, and a crash never leaves half a file.
//! Tokens are never printed; `login` reports where it put one.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::api::{Api, Token, TokenSource};
use crate::error::{CliError, Result};
use crate::secret::env_nonempty;
use crate::time;

/// The name of the file inside the config directory.
const FILE_NAME: &str = "tokens.json";

/// A token is not used when it expires within this margin: a request sent
/// with it could arrive after its `exp`.
const EXPIRY_MARGIN_MS: u64 = 30_000;

/// One stored login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredToken {
    /// The JWT.
    pub token: String,
    /// When it expires, in milliseconds since the epoch.
    pub expires_at: u64,
    /// Who logged in.
    pub email: String,
    /// The account's role, when the Worker said it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TokenFile {
    tokens: BTreeMap<String, StoredToken>,
}

/// The token file.
#[derive(Debug, Clone)]
pub struct TokenStore {
    path: PathBuf,
}

impl TokenStore {
    /// The store at its usual place: `$XDG_CONFIG_HOME/polycache/tokens.json`,
    /// else the platform's config directory.
    pub fn open() -> Result<TokenStore> {
        let dir = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(dirs::config_dir)
            .ok_or_else(|| {
                CliError::Failed(
                    "no config directory to keep tokens in: set XDG_CONFIG_HOME, or use POLYCACHE_TOKEN"
                        .into(),
                )
            })?;
        Ok(TokenStore::at(dir.join("polycache").join(FILE_NAME)))
    }

    /// The store in this file.
    pub fn at(path: PathBuf) -> TokenStore {
        TokenStore { path }
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> Result<TokenFile> {
        match fs::read_to_string(&self.path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                CliError::Failed(format!(
                    "{} is not a token file ({e}): delete it and log in again",
                    self.path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TokenFile::default()),
            Err(e) => Err(CliError::io(
                format!("cannot read {}", self.path.display()),
                e,
            )),
        }
    }

    fn write(&self, file: &TokenFile) -> Result<()> {
        let cannot = |e| CliError::io(format!("cannot write {}", self.path.display()), e);
        let dir = self.path.parent().unwrap_or(Path::new("."));
        create_private_dir(dir).map_err(cannot)?;
        let text = serde_json::to_string_pretty(file)
            .map_err(|e| CliError::Failed(format!("cannot encode the token file: {e}")))?;
        let tmp = dir.join(format!(".{FILE_NAME}.{}.tmp", std::process::id()));
        let result = (|| {
            let mut f = private_file(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map_err(cannot)
    }

    /// The token stored for `url` (normalized), if any.
    pub fn get(&self, url: &str) -> Result<Option<StoredToken>> {
        Ok(self.read()?.tokens.remove(url))
    }

    /// Stores the token for `url`, replacing any other.
    pub fn put(&self, url: &str, token: StoredToken) -> Result<()> {
        let mut file = self.read()?;
        file.tokens.insert(url.to_owned(), token);
        self.write(&file)
    }

    /// Forgets the token for `url`; whether there was one.
    pub fn remove(&self, url: &str) -> Result<bool> {
        let mut file = self.read()?;
        let had = file.tokens.remove(url).is_some();
        if had {
            self.write(&file)?;
        }
        Ok(had)
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // `mode` applies only when the file is created; a leftover temporary
    // file from a crashed run keeps its own mode unless set here.
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<fs::File> {
    fs::File::create(path)
}

/// The token to call `api` with, in this order: `POLYCACHE_TOKEN`; the
/// stored token for the URL while it is valid; a login with
/// `POLYCACHE_EMAIL` and `POLYCACHE_PASSWORD` when both are set (for
/// scripts and CI, nothing stored).
///
/// # Errors
/// [`CliError::NotLoggedIn`] saying how to log in when none of these gives
/// a token.
pub fn resolve(api: &Api) -> Result<Token> {
    if let Some(value) = env_nonempty("POLYCACHE_TOKEN") {
        return Ok(Token {
            value,
            source: TokenSource::Env,
        });
    }
    let store = TokenStore::open()?;
    let stored = store.get(api.url())?;
    let now = time::now_ms();
    if let Some(t) = &stored {
        if t.expires_at > now + EXPIRY_MARGIN_MS {
            return Ok(Token {
                value: t.token.clone(),
                source: TokenSource::Stored,
            });
        }
    }
    if let (Some(email), Some(password)) = (
        env_nonempty("POLYCACHE_EMAIL"),
        env_nonempty("POLYCACHE_PASSWORD"),
    ) {
        let login = crate::progress::with(format!("logging in to {}", api.url()), || {
            api.login(&email, &password)
        })?;
        return Ok(Token {
            value: login.token,
            source: TokenSource::Login,
        });
    }
    let url = api.url();
    Err(CliError::NotLoggedIn(match stored {
        Some(t) => format!(
            "the token for {url} ({}) expired {}: run `polycache login --url {url}`",
            t.email,
            time::relative(t.expires_at, now)
        ),
        None => format!(
            "not logged in to {url}: run `polycache login --url {url}` (or set POLYCACHE_TOKEN)"
        ),
    }))
}

/// A new token for `api` after `refused` was refused, when one can be had
/// without starting over: a new login with `POLYCACHE_EMAIL` and
/// `POLYCACHE_PASSWORD` when that is how `refused` was got, or, on a
/// terminal, a password prompt for the stored token's account (the new token
/// is stored). `None` when neither applies: the caller reports the refusal.
pub fn renew(api: &Api, refused: &Token) -> Result<Option<Token>> {
    let url = api.url();
    let (email, password, store) = match refused.source {
        TokenSource::Env => return Ok(None),
        TokenSource::Login => match (
            env_nonempty("POLYCACHE_EMAIL"),
            env_nonempty("POLYCACHE_PASSWORD"),
        ) {
            (Some(e), Some(p)) => (e, p, None),
            _ => return Ok(None),
        },
        TokenSource::Stored => {
            use std::io::IsTerminal as _;
            if !std::io::stdin().is_terminal() {
                return Ok(None);
            }
            let store = TokenStore::open()?;
            let Some(email) = store.get(url)?.map(|t| t.email) else {
                return Ok(None);
            };
            let prompt = format!("The token for {url} was refused; password for {email}: ");
            let password = crate::secret::password(&prompt, false)?;
            (email, password, Some(store))
        }
    };
    let login = crate::progress::with(format!("logging in to {url} again"), || {
        api.login(&email, &password)
    })?;
    if let Some(store) = store {
        store.put(
            url,
            StoredToken {
                token: login.token.clone(),
                expires_at: login.expires_at,
                email,
                role: login.role,
            },
        )?;
    }
    Ok(Some(Token {
        value: login.token,
        source: refused.source,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn token(t: &str) -> StoredToken {
        StoredToken {
            token: t.into(),
            expires_at: 1,
            email: "a@b".into(),
            role: Some("admin".into()),
        }
    }

    #[test]
    fn tokens_are_kept_per_url() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::at(dir.path().join("polycache").join(FILE_NAME));
        assert_eq!(store.get("http://a").unwrap(), None);
        store.put("http://a", token("A")).unwrap();
        store.put("http://b", token("B")).unwrap();
        assert_eq!(store.get("http://a").unwrap().unwrap().token, "A");
        assert_eq!(store.get("http://b").unwrap().unwrap().token, "B");
        assert!(store.remove("http://a").unwrap());
        assert!(!store.remove("http://a").unwrap());
        assert_eq!(store.get("http://b").unwrap().unwrap().token, "B");
    }

    #[cfg(unix)]
    #[test]
    fn the_file_is_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::at(dir.path().join("polycache").join(FILE_NAME));
        store.put("http://a", token("A")).unwrap();
        let mode = fs::metadata(store.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = fs::metadata(store.path().parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(store.path().parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(FILE_NAME)]);
    }

    #[test]
    fn a_corrupt_file_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        fs::write(&path, "not json").unwrap();
        let e = TokenStore::at(path)
            .get("http://a")
            .unwrap_err()
            .to_string();
        assert!(e.contains("delete it and log in again"), "{e}");
    }
}
