//! What every handler and service may need besides the request.

use polycache_core::config::Config;
use polycache_core::region::Region;
use worker::{Context, Env};

/// The bindings, the configuration and the execution context of one request.
pub struct Ctx {
    /// The Worker's bindings and vars.
    pub env: Env,
    /// The configuration read from the vars.
    pub config: Config,
    /// The execution context of this request (for `wait_until`).
    pub exec: Context,
    /// The region whose Edges serve this request.
    pub region: Region,
}
