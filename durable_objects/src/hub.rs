//! The `Hub` Durable Object.

use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

/// The Hub: one per deployment (see the crate docs).
#[durable_object]
pub struct Hub {
    #[allow(dead_code)]
    state: State,
    #[allow(dead_code)]
    env: Env,
}

impl DurableObject for Hub {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    async fn fetch(&self, _req: Request) -> Result<Response> {
        Response::error("not found", 404)
    }
}
