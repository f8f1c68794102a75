//! Reads the [`Config`] from the Worker's vars. A missing or malformed
//! setting fails the request with a message naming it (DESIGN.md,
//! "Configuration"), rather than the Worker starting with a guess.

use polycache_core::config::Config;
use worker::Env;

use crate::error::ApiResult;

/// The value of a var or secret, `None` when unset.
pub fn var(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .map(|v| v.to_string())
        .or_else(|_| env.secret(name).map(|v| v.to_string()))
        .ok()
}

/// The configuration of this deployment.
pub fn load(env: &Env) -> ApiResult<Config> {
    Ok(Config::from_vars(|name| var(env, name))?)
}
