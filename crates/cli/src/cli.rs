//! The command line: every subcommand, option and help text, as clap
//! derive types. Nothing here does any work; [`crate::commands`] does.
//!
//! Values that have a fixed vocabulary (entity types, actions, roles) are
//! checked here, so that a typo is a usage error (exit 2) that lists the
//! valid names, before anything is sent anywhere.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use polycache_core::event::Action;
use polycache_core::jwt::Role;
use polycache_core::password::MAX_ITERATIONS;
use polycache_core::types::EntityType;

/// The URL of `make dev`.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8787";

const ENVIRONMENT: &str = "\
Environment:
  POLYCACHE_URL       the Worker's base URL, instead of --url
  POLYCACHE_TOKEN     a bearer token to use instead of the stored one
  POLYCACHE_EMAIL     the account, instead of --email
  POLYCACHE_PASSWORD  the password, instead of a prompt (login, hash-password);
                      with POLYCACHE_EMAIL, commands log in by themselves
  XDG_CONFIG_HOME     where tokens are kept: $XDG_CONFIG_HOME/polycache/tokens.json

Exit codes: 0 done, 1 failed (unreachable, refused, invalid file), 2 usage error.";

const EXAMPLES: &str = "\
Examples:
  polycache login --email admin@example.com
  polycache invalidate post --id 7
  polycache tail --types posts,pages
  polycache logs --follow --out logs/cache.json
  polycache mirrors --url https://example.com
  polycache graph --check deps.json --dot | dot -Tsvg > deps.svg
  polycache hash-password --email admin@example.com --role admin
  JWT_SECRET=... polycache token mint --name shop-admin --instance production";

/// polycache: cache invalidation and mirroring for a Cloudflare Worker, from
/// the terminal.
#[derive(Debug, Parser)]
#[command(
    name = "polycache",
    version,
    about = "Operate a polycache Worker: log in, invalidate, follow its events and cache log, check mirrors and the dependency graph.",
    long_about = "Operate a polycache Worker from the terminal.\n\n\
        Talks to the Worker's HTTP API at --url (default: `make dev`'s http://127.0.0.1:8787). \
        `login` keeps a token per URL, so that `invalidate`, `mirrors` and `logs` can be run \
        against a local instance and production side by side. `graph`, `types`, `hash-password` \
        and `token` work offline. Human-readable output by default; --json prints JSON on stdout for scripts. \
        Errors are one line on stderr that says what to do.",
    after_help = EXAMPLES,
    after_long_help = format!("{EXAMPLES}\n\n{ENVIRONMENT}"),
    propagate_version = true
)]
pub struct Cli {
    /// Options every subcommand takes.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// Base URL of the Worker (`wrangler dev` or a deployment)
    #[arg(
        long,
        global = true,
        env = "POLYCACHE_URL",
        default_value = DEFAULT_URL,
        value_name = "URL"
    )]
    pub url: String,

    /// Print JSON on stdout instead of text (one object, or one per line for streams)
    #[arg(long, global = true)]
    pub json: bool,

    /// Seconds a request may take before it fails
    #[arg(long, global = true, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub timeout: u64,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in and keep the token for --url (mode 0600, in the config directory)
    #[command(
        long_about = "Log in to the Worker at --url and keep the token for later commands.\n\n\
        The password comes from POLYCACHE_PASSWORD, else a prompt on the terminal, else the first \
        line of stdin. The token is stored per URL in $XDG_CONFIG_HOME/polycache/tokens.json \
        (file mode 0600) and never printed; it is valid until the time shown. Roles: `service` may \
        invalidate, `admin` may also read mirrors and logs."
    )]
    Login(LoginArgs),

    /// Forget the token kept for --url
    Logout,

    /// Invalidate a type and everything that depends on it, and notify every stream
    #[command(
        long_about = "Invalidate TYPE on the Worker: its cache generation and those of \
        every type that depends on it are bumped, every SSE stream gets an `app-update`, and the \
        invalidation is mirrored to the Worker's CACHE_MIRRORS unless --no-mirror.\n\n\
        Prints the event id and the types invalidated. Needs the `service` or `admin` role."
    )]
    Invalidate(InvalidateArgs),

    /// Follow the event stream and print each app-update
    #[command(
        long_about = "Follow GET /api/stream and print each `app-update` as a line \
        (or, with --json, its data as one JSON object per line, with an \"event\" key).\n\n\
        When the connection drops (the Worker restarts, the network blinks), tail waits the \
        stream's retry time and reconnects with Last-Event-ID, so the events in between are \
        replayed, in order and once. A `reset` (the gap is older than the Worker's event log) \
        is printed too: refetch everything. Status lines go to stderr. Stops on Ctrl-C, or \
        after --count events or --max-seconds."
    )]
    Tail(TailArgs),

    /// Fetch the cache log and append it, pino's format, to a file (logs/cache.json)
    #[command(
        long_about = "Fetch the Worker's cache log (GET /api/cache/logs) and append \
        each record as one JSON line in pino's format ({\"level\",\"time\",\"name\":\"cache\",\"msg\", \
        \"seq\", ...fields}) to --out, the file the original pino logger wrote, so that \
        `pino-pretty < logs/cache.json` reads it.\n\n\
        When the file exists, logs resumes after the last record in it. If the Worker's log \
        restarted since (its Hub was restarted: the log lives in memory), it says so and appends \
        from the new log's start. With --follow it polls every --interval seconds until Ctrl-C \
        (or --max-seconds); every line written is a whole record. Needs the `admin` role."
    )]
    Logs(LogsArgs),

    /// Show the mirror outboxes: pending, delivered, parked, last error
    #[command(
        long_about = "Show GET /api/cache/mirrors as a table: per mirror of the Worker, \
        the entries waiting (and the oldest one's age), when the next attempt is due, how many \
        were delivered, the last success, how many entries are parked (those that failed every \
        attempt) and the last error; then the first page of parked entries (the 100 oldest of \
        all mirrors) and how many more there are.\n\n\
        --all lists every parked entry, reading the Worker's pages of 1,000 one after the other \
        (up to 100 pages per mirror, all that a mirror can have parked; past that it stops \
        and says so). With --json, the answer as \
        the Worker gives it: `parkedCount` per mirror, and `nextCursor` for the next page (with \
        --all, every page's entries and `nextCursor` null).\n\n\
        --retry first puts every parked entry back in its queue (POST /api/cache/mirrors/retry), \
        for when the cause is fixed. Needs the `admin` role."
    )]
    Mirrors(MirrorsArgs),

    /// Show the dependency graph with each type's closure, check a file, or print DOT
    #[command(
        long_about = "Show a dependency graph: for each type, what it depends on and \
        what invalidating it invalidates (its closure). Without --check, the default graph (the \
        one a Worker uses when CACHE_DEPENDENCIES is unset).\n\n\
        --check FILE reads a CACHE_DEPENDENCIES value from FILE (- for stdin), a JSON object such \
        as {\"posts\":[\"categories\",\"pictures\"]} meaning \"posts depends on categories and \
        pictures\", and fails (exit 1) with a message naming the problem: a cycle, an unknown \
        type, a type given twice, malformed JSON. --dot prints the graph in Graphviz DOT, edges \
        pointing from a type to what it depends on. Works offline."
    )]
    Graph(GraphArgs),

    /// List the entity types: alias, D1 table, what invalidating each invalidates
    #[command(
        long_about = "List every entity type this polycache knows, in order: its singular \
        alias (accepted wherever a type is named), whether it has a D1 table (and so routes \
        under /api/), and what invalidating it invalidates in the default graph. The list is \
        the one the Worker is built with. Works offline."
    )]
    Types,

    /// Make a password hash for AUTH_USERS (pbkdf2_sha256, Django's format)
    #[command(long_about = "Hash a password for the AUTH_USERS secret: prints \
        pbkdf2_sha256$<iterations>$<salt>$<key>, Django's format, with a random salt.\n\n\
        The password comes from POLYCACHE_PASSWORD, else a prompt on the terminal (asked twice), \
        else the first line of stdin. With --email and --role it prints the whole AUTH_USERS \
        entry, {\"email\",\"role\",\"password\"}, to put in the secret's JSON list. Works offline.")]
    HashPassword(HashPasswordArgs),

    /// Mint a long-lived token for an app to call POST /api/cache/invalidate with, or revoke one
    #[command(
        long_about = "Tokens an app keeps in its settings to tell polycache about changes \
        made outside it (an admin panel, a cron job) through POST /api/cache/invalidate, without \
        logging in. Works offline, with the Worker's JWT_SECRET.\n\n\
        `mint` prints the token alone on stdout and, on stderr, its id (jti), label and expiry. \
        `revoke` prints the value REVOKED_TOKENS must have to refuse it: the REVOKED_TOKENS of the \
        environment plus its id; set it in the Worker's settings and deploy."
    )]
    Token(TokenArgs),
}

/// `polycache login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The account's email (asked on the terminal when missing)
    #[arg(long, env = "POLYCACHE_EMAIL", value_name = "EMAIL")]
    pub email: Option<String>,
}

/// `polycache invalidate`.
#[derive(Debug, Args)]
pub struct InvalidateArgs {
    /// The entity type, by its name or singular alias (clap's help for it,
    /// which lists them, is built from the declared types)
    #[arg(value_name = "TYPE", value_parser = parse_type_name, help = type_help())]
    pub entity_type: String,

    /// The entity's id, when one entity changed
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,

    /// What happened to the entity
    #[arg(long, value_name = "ACTION", default_value = "update", value_parser = parse_action)]
    pub action: String,

    /// Do not mirror this invalidation to the Worker's CACHE_MIRRORS
    #[arg(long)]
    pub no_mirror: bool,
}

/// `polycache tail`.
#[derive(Debug, Args)]
pub struct TailArgs {
    /// Only events that invalidate one of these types (comma-separated)
    #[arg(long, value_name = "TYPES", value_delimiter = ',', value_parser = parse_type_name)]
    pub types: Vec<String>,

    /// Start after this event id: events after it are replayed first
    #[arg(long, value_name = "ID")]
    pub last_event_id: Option<u64>,

    /// Exit after this many app-update events
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// Exit (with success) after this many seconds
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_seconds: Option<u64>,
}

/// `polycache logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The file to append to (- for stdout); its directory is created
    #[arg(long, value_name = "FILE", default_value = "logs/cache.json")]
    pub out: PathBuf,

    /// Keep polling for new records until Ctrl-C
    #[arg(long, short = 'f')]
    pub follow: bool,

    /// Seconds between polls with --follow (0.1 to 60)
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = parse_interval)]
    pub interval: f64,

    /// Start after this seq instead of after the file's last record
    #[arg(long, value_name = "SEQ")]
    pub since: Option<u64>,

    /// With --follow, stop (with success) after this many seconds
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_seconds: Option<u64>,
}

/// `polycache mirrors`.
#[derive(Debug, Args)]
pub struct MirrorsArgs {
    /// First requeue every parked entry (when the cause is fixed)
    #[arg(long)]
    pub retry: bool,

    /// List every parked entry, not only the first page's 100
    #[arg(long)]
    pub all: bool,
}

/// `polycache graph`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Check this CACHE_DEPENDENCIES file (JSON; - for stdin) and show it
    #[arg(long, value_name = "FILE")]
    pub check: Option<PathBuf>,

    /// Print Graphviz DOT instead of a table
    #[arg(long, conflicts_with = "json")]
    pub dot: bool,
}

/// `polycache hash-password`.
#[derive(Debug, Args)]
pub struct HashPasswordArgs {
    /// PBKDF2 iterations (at most 100000, the Workers WebCrypto limit)
    #[arg(long, value_name = "N", default_value_t = MAX_ITERATIONS, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_ITERATIONS)))]
    pub iterations: u32,

    /// The salt (default: 22 random characters); must be unique per account
    #[arg(long, value_name = "SALT")]
    pub salt: Option<String>,

    /// Print the whole AUTH_USERS entry for this email (needs --role)
    #[arg(long, value_name = "EMAIL", requires = "role")]
    pub email: Option<String>,

    /// The entry's role: editor, service or admin (needs --email)
    #[arg(long, value_name = "ROLE", requires = "email", value_parser = parse_role)]
    pub role: Option<String>,
}

/// `polycache token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: TokenCommand,
}

/// The subcommands of `polycache token`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a new token for one deployment (JWT_SECRET from the environment or --secret-file)
    #[command(
        long_about = "Print a new HS256 token for the deployment whose INSTANCE_ID is \
        --instance, signed with its JWT_SECRET (from the environment, or --secret-file): role \
        `service` (it may call POST /api/cache/invalidate and nothing else) unless --role admin, \
        subject `token:<LABEL>`, a random id (jti) by which it can be revoked, valid for --days \
        (ten years by default). The token alone goes to stdout, so that \
        `TOKEN=$(polycache token mint ...)` works; its id, label and expiry go to stderr."
    )]
    Mint(MintArgs),

    /// Print REVOKED_TOKENS with this token's id added
    #[command(
        long_about = "Print the value of REVOKED_TOKENS that refuses this token: the \
        REVOKED_TOKENS of the environment (the list in force, if you set it) plus the token's id \
        (jti), read from the token without checking it, so no secret is needed. Set the printed \
        value in the Worker's settings and deploy; from then on the token answers 401 \
        token_revoked. Only minted tokens have an id: a login's token expires within the hour."
    )]
    Revoke(RevokeArgs),
}

/// `polycache token mint`.
#[derive(Debug, Args)]
pub struct MintArgs {
    /// Who keeps the token, e.g. shop-admin (printable, at most 64 characters)
    #[arg(long, value_name = "LABEL", value_parser = parse_label)]
    pub name: String,

    /// The INSTANCE_ID of the deployment that is to accept it
    #[arg(long, value_name = "INSTANCE_ID", value_parser = parse_instance_id)]
    pub instance: String,

    /// service (invalidate only) or admin (also mirrors and logs); editor is refused
    #[arg(long, value_name = "ROLE", default_value = "service", value_parser = parse_token_role)]
    pub role: Role,

    /// Days until it expires
    #[arg(long, value_name = "N", default_value_t = DEFAULT_TOKEN_DAYS, value_parser = clap::value_parser!(u64).range(1..=MAX_TOKEN_DAYS))]
    pub days: u64,

    /// Read JWT_SECRET from this file (its first line) instead of the environment
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<PathBuf>,
}

/// `polycache token revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The token, or its id (jti) as `mint` printed it; - reads it from stdin
    #[arg(value_name = "TOKEN|JTI")]
    pub token: String,
}

/// Default `--days` of a minted token: ten years. It is revoked by
/// `REVOKED_TOKENS` or by changing `JWT_SECRET`, not by expiring; an app's
/// webhook that stopped working one day would be a worse surprise.
pub const DEFAULT_TOKEN_DAYS: u64 = 3_650;
/// Largest `--days`: a hundred years, far inside what a JWT's `exp` holds.
const MAX_TOKEN_DAYS: u64 = 36_500;
/// Longest token label, in characters: it is the token's `sub`, shown in
/// logs beside the event it caused.
const MAX_LABEL_CHARS: usize = 64;

/// A token label: trimmed, 1 to 64 characters, none a control character
/// (it ends up in logs and terminals).
fn parse_label(s: &str) -> Result<String, String> {
    let label = s.trim();
    let chars = label.chars().count();
    if chars == 0 || chars > MAX_LABEL_CHARS {
        return Err(format!(
            "a label is 1 to {MAX_LABEL_CHARS} characters, got {chars}"
        ));
    }
    if label.chars().any(char::is_control) {
        return Err("a label is printable: no control characters (tabs, newlines, escapes)".into());
    }
    Ok(label.to_owned())
}

/// An `INSTANCE_ID` as the Worker accepts it, so that no token is minted
/// for a deployment that cannot exist.
fn parse_instance_id(s: &str) -> Result<String, String> {
    polycache_core::config::check_instance_id(s)
        .map(|()| s.to_owned())
        .map_err(|e| match e {
            polycache_core::Error::Invalid(message) => format!("INSTANCE_ID {message}"),
            other => other.to_string(),
        })
}

/// `service` or `admin`. A webhook token tells polycache that data changed;
/// it never edits content, so `editor` is refused rather than minted.
fn parse_token_role(s: &str) -> Result<Role, String> {
    match Role::parse(s) {
        Ok(Role::Editor) => Err(
            "a token for an app's webhook invalidates, it does not edit: use service (or admin)"
                .into(),
        ),
        Ok(role) => Ok(role),
        Err(_) => Err(format!("unknown role {s:?}; one of service, admin")),
    }
}

/// The help of a TYPE argument, from the declared types, so that a type
/// added to the core crate shows up here too.
fn type_help() -> String {
    let names: Vec<&str> = EntityType::ALL.iter().map(|t| t.as_str()).collect();
    let aliases: Vec<&str> = EntityType::ALL.iter().filter_map(|t| t.alias()).collect();
    format!(
        "Entity type: {} (or a singular alias: {}, ...); in origin mode, a type of the deployment's CACHE_ROUTES",
        names.join(", "),
        aliases[..aliases.len().min(2)].join(", ")
    )
}

/// An entity type or alias, kept as given (the API echoes the given name in
/// an event's `type`). A deployment in origin mode has its own types (its
/// route table's), which this tool cannot know offline: any well-formed
/// name is passed on, and the deployment refuses one it does not have
/// (422). Only a name no deployment can have is refused here.
fn parse_type_name(s: &str) -> Result<String, String> {
    let name = s.trim();
    if EntityType::parse(name).is_ok() || polycache_core::types::is_type_name(name) {
        return Ok(name.to_owned());
    }
    let names: Vec<&str> = EntityType::ALL.iter().map(|t| t.as_str()).collect();
    Err(format!(
        "unknown type {s:?}; one of {} (or a singular alias, e.g. post), or in origin mode \
         a type of the deployment's CACHE_ROUTES (lower-case letters, digits and '_')",
        names.join(", ")
    ))
}

fn parse_action(s: &str) -> Result<String, String> {
    Action::parse(s)
        .map(|a| a.as_str().to_owned())
        .map_err(|e| e.to_string())
}

fn parse_role(s: &str) -> Result<String, String> {
    Role::parse(s)
        .map(|r| r.as_str().to_owned())
        .map_err(|_| format!("unknown role {s:?}; one of editor, service, admin"))
}

fn parse_interval(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.1..=60.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds from 0.1 to 60")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn a_type_of_an_origin_mode_deployment_is_passed_on() {
        // `products` is no declared type: it may be a route table's.
        let cli = Cli::try_parse_from(["polycache", "invalidate", "products", "--id", "7"])
            .expect("a well-formed name");
        match cli.command {
            Command::Invalidate(a) => assert_eq!(a.entity_type, "products"),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn usage_errors_exit_2() {
        let e =
            Cli::try_parse_from(["polycache", "invalidate", "No pe"]).expect_err("malformed type");
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("one of posts, pages"), "{e}");
        let e = Cli::try_parse_from(["polycache", "frobnicate"]).expect_err("unknown command");
        assert_eq!(e.exit_code(), 2);
        let e = Cli::try_parse_from(["polycache", "hash-password", "--email", "a@b"])
            .expect_err("--email without --role");
        assert_eq!(e.exit_code(), 2);
    }

    /// The names a message or help text lists after `prefix`, up to `end`.
    fn listed<'a>(text: &'a str, prefix: &str, end: &str) -> Vec<&'a str> {
        let start = text.find(prefix).expect(prefix) + prefix.len();
        let len = text[start..].find(end).expect(end);
        text[start..start + len].split(", ").collect()
    }

    #[test]
    fn the_type_help_and_the_usage_error_list_every_declared_type() {
        let declared: Vec<&str> = EntityType::ALL.iter().map(|t| t.as_str()).collect();
        let cmd = Cli::command();
        let invalidate = cmd.find_subcommand("invalidate").expect("invalidate");
        let arg = invalidate
            .get_arguments()
            .find(|a| a.get_id() == "entity_type")
            .expect("TYPE");
        let help = arg.get_help().expect("TYPE has help").to_string();
        assert_eq!(listed(&help, "Entity type: ", " ("), declared, "{help}");
        assert!(
            help.ends_with(
                "(or a singular alias: post, page, ...); in origin mode, a type of the deployment's CACHE_ROUTES"
            ),
            "{help}"
        );

        let e = Cli::try_parse_from(["polycache", "tail", "--types", "posts,Kittens!"])
            .expect_err("malformed type");
        let message = e.to_string();
        assert_eq!(listed(&message, "; one of ", " ("), declared, "{message}");
    }

    /// The argument checks of `token mint` run natively: they never reach
    /// the Worker, whatever the runtime tier could send.
    #[test]
    fn token_mint_checks_its_arguments() {
        let mint = |extra: &[&str]| {
            let mut args = vec!["polycache", "token", "mint"];
            args.extend_from_slice(extra);
            Cli::try_parse_from(args)
        };
        let ok = mint(&["--name", " shop admin ", "--instance", "prod-1"]).expect("valid");
        match ok.command {
            Command::Token(TokenArgs {
                command: TokenCommand::Mint(m),
            }) => {
                assert_eq!(m.name, "shop admin", "trimmed");
                assert_eq!(m.role, Role::Service, "service by default");
                assert_eq!(m.days, 3_650, "ten years by default");
                assert_eq!(m.secret_file, None);
            }
            other => panic!("parsed as {other:?}"),
        }
        let admin = mint(&["--name", "a", "--instance", "p", "--role", "admin"]).expect("admin");
        assert!(matches!(
            admin.command,
            Command::Token(TokenArgs {
                command: TokenCommand::Mint(MintArgs {
                    role: Role::Admin,
                    ..
                })
            })
        ));

        let refused = |extra: &[&str], says: &str| {
            let e = mint(extra).expect_err(says);
            assert_eq!(e.exit_code(), 2, "{e}");
            assert!(e.to_string().contains(says), "{e}");
        };
        refused(
            &["--name", "a", "--instance", "p", "--role", "editor"],
            "invalidates, it does not edit",
        );
        refused(
            &["--name", "a", "--instance", "p", "--role", "root"],
            "unknown role",
        );
        refused(
            &["--name", &"x".repeat(65), "--instance", "p"],
            "1 to 64 characters, got 65",
        );
        assert!(
            mint(&["--name", &"é".repeat(64), "--instance", "p"]).is_ok(),
            "64 characters, not bytes"
        );
        refused(&["--name", "  ", "--instance", "p"], "got 0");
        refused(
            &["--name", "a\u{1b}[31m", "--instance", "p"],
            "no control characters",
        );
        refused(
            &["--name", "a", "--instance", "prod 1"],
            "INSTANCE_ID must be 1 to 64",
        );
        refused(&["--name", "a", "--instance", "p", "--days", "0"], "--days");
        refused(
            &["--name", "a", "--instance", "p", "--days", "36501"],
            "--days",
        );
        refused(&["--instance", "p"], "--name");
        refused(&["--name", "a"], "--instance");
    }

    #[test]
    fn aliases_are_kept_as_given() {
        let cli =
            Cli::try_parse_from(["polycache", "invalidate", "post", "--id", "7"]).expect("valid");
        match cli.command {
            Command::Invalidate(a) => {
                assert_eq!(a.entity_type, "post");
                assert_eq!(a.action, "update");
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn every_subcommand_has_help() {
        let cmd = Cli::command();
        // `token mint` and `token revoke` are a level down.
        let nested = cmd.get_subcommands().flat_map(|s| s.get_subcommands());
        for sub in cmd.get_subcommands().chain(nested) {
            assert!(sub.get_about().is_some(), "{} has no about", sub.get_name());
            for arg in sub.get_arguments() {
                assert!(
                    arg.get_help().is_some(),
                    "{} {} has no help",
                    sub.get_name(),
                    arg.get_id()
                );
            }
        }
    }
}
