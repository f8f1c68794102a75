//! Reads the [`Config`] from the Worker's vars. A missing or malformed
//! setting fails the request with a message naming it (docs/architecture.md,
//! "Configuration"), rather than the Worker starting with a guess.

use polycache_core::config::Config;
use worker::Env;

use crate::error::ApiResult;
use crate::platform;

/// The configuration of this deployment.
pub fn load(env: &Env) -> ApiResult<Config> {
    Ok(Config::from_vars(|name| platform::var(env, name))?)
}
