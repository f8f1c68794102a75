//! `polycache`, the command-line tool of polycache: log in to a Worker,
//! invalidate, follow its events and its cache log, check its mirrors, and,
//! offline, check a dependency graph, list the entity types, hash a
//! password for `AUTH_USERS`, or mint and revoke an app's long-lived token.
//!
//! Map of the crate:
//! - [`cli`]: the command line (clap), with every help text.
//! - [`commands`]: one module per subcommand, each a `run` function.
//! - [`api`]: the Worker's HTTP API as blocking calls, and the one place
//!   where failures become messages that say what to do.
//! - [`tokens`]: the per-URL token file (mode 0600) and which token to use.
//! - [`secret`]: where passwords come from (env, prompt, stdin).
//! - [`stream`]: following the SSE stream with `Last-Event-ID` resume.
//! - [`logfile`]: the pino-format `logs/cache.json`: append, find the last record.
//! - [`output`], [`progress`], [`table`], [`time`]: how results, waits,
//!   tables and times are shown.
//! - [`error`]: the one error type and its exit codes.
//!
//! Everything about the domain (entity types, the dependency graph, SSE
//! parsing, pino records, password hashes) is the core crate's, so the CLI
//! and the Worker cannot disagree on it.

mod api;
mod cli;
mod commands;
mod error;
mod logfile;
mod output;
mod progress;
mod secret;
mod stream;
mod table;
mod time;
mod tokens;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    // clap prints help and version (exit 0) and usage errors (exit 2) itself.
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::from(error::EXIT_OK),
        Err(e) => {
            if !matches!(e, error::CliError::StdoutClosed) {
                eprintln!("polycache: {e}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}
