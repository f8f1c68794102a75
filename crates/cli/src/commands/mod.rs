//! One module per subcommand, each a `run` function taking its arguments
//! and the global options; [`run`] dispatches.

use crate::cli::{Cli, Command};
use crate::error::Result;

pub mod graph;
pub mod hash_password;
pub mod invalidate;
pub mod login;
pub mod logs;
pub mod mirrors;
pub mod tail;
pub mod token;
pub mod types;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let g = &cli.global;
    match cli.command {
        Command::Login(args) => login::login(g, args),
        Command::Logout => login::logout(g),
        Command::Invalidate(args) => invalidate::run(g, args),
        Command::Tail(args) => tail::run(g, args),
        Command::Logs(args) => logs::run(g, args),
        Command::Mirrors(args) => mirrors::run(g, args),
        Command::Graph(args) => graph::run(g, args),
        Command::Types => types::run(g),
        Command::HashPassword(args) => hash_password::run(g, args),
        Command::Token(args) => token::run(g, args),
    }
}
