//! `polycache login` and `polycache logout`: a token per URL in the token
//! file ([`crate::tokens`]).

use serde_json::json;

use crate::api::Api;
use crate::cli::{Global, LoginArgs};
use crate::error::Result;
use crate::tokens::{StoredToken, TokenStore};
use crate::{output, progress, secret, time};

/// Logs in and stores the token.
pub fn login(g: &Global, args: LoginArgs) -> Result<()> {
    let api = Api::for_options(g)?;
    let store = TokenStore::open()?;
    let email = secret::email(args.email)?;
    let password = secret::password(&format!("Password for {email} at {}: ", api.url()), false)?;
    let login = progress::with(format!("logging in to {}", api.url()), || {
        api.login(&email, &password)
    })?;
    store.put(
        api.url(),
        StoredToken {
            token: login.token,
            expires_at: login.expires_at,
            email: email.clone(),
            role: login.role.clone(),
        },
    )?;
    if g.json {
        return output::json(&json!({
            "url": api.url(),
            "email": email,
            "role": login.role,
            "expiresAt": login.expires_at,
            "tokenFile": store.path(),
        }));
    }
    let role = login.role.map(|r| format!(" ({r})")).unwrap_or_default();
    output::line(&format!(
        "logged in to {} as {email}{role}; token kept in {} until {} ({})",
        api.url(),
        store.path().display(),
        time::utc(login.expires_at),
        time::relative(login.expires_at, time::now_ms())
    ))
}

/// Forgets the token for the URL.
pub fn logout(g: &Global) -> Result<()> {
    let url = crate::api::normalize_url(&g.url)?;
    let store = TokenStore::open()?;
    let had = store.remove(&url)?;
    if g.json {
        return output::json(&json!({ "url": url, "removed": had }));
    }
    output::line(&if had {
        format!("forgot the token for {url}")
    } else {
        format!("no token was kept for {url}")
    })
}
