//! Who may log in: the accounts of `AUTH_USERS` and the service account.
//!
//! There is no user database. `AUTH_USERS` is a secret holding a JSON list of
//! `{email, role, password}` where `password` is a Django-format hash string
//! ([`crate::password`]); people (editors, admins) live there. Another
//! application that calls the mirror endpoint logs in with the
//! `SERVICE_EMAIL`/`SERVICE_PASSWORD` pair, kept as plain text because it is
//! itself a secret of the deployment, and always has the `service` role.
//!
//! Emails are compared without regard to case, as people type them. A login
//! answers the same way, and takes about as long, whether the email is
//! unknown or the password wrong, so that the endpoint does not tell which
//! emails have accounts.

use std::fmt;

use serde_json::Value;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::jwt::Role;
use crate::password::{PasswordHash, DEFAULT_ITERATIONS};
use crate::{Error, Result};

/// The secret that lists the hashed accounts.
const AUTH_USERS: &str = "AUTH_USERS";

/// An account of `AUTH_USERS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The email as configured, which is also the token's `sub`.
    pub email: String,
    /// What the account may do.
    pub role: Role,
    /// The hash of its password.
    pub password: PasswordHash,
}

/// Reads `AUTH_USERS`: a JSON list of `{"email", "role", "password"}`.
///
/// Fails with [`Error::Config`] naming `AUTH_USERS`, the entry's index and
/// the field, and never quoting a password hash: when the JSON is not a list
/// of objects, when a field is missing or not a string, when an email is
/// empty or appears twice (ignoring case), when a role is unknown or a hash
/// string is unusable. Other fields of an entry are ignored.
pub fn parse_auth_users(json: &str) -> Result<Vec<Account>> {
    // Parsed to a `Value` first rather than straight into a struct: serde's
    // messages quote the offending value, which could be a hash, and the
    // message here must say which entry and field is wrong.
    let entries: Value = serde_json::from_str(json).map_err(|error| {
        config(format!(
            "not valid JSON (line {}, column {})",
            error.line(),
            error.column()
        ))
    })?;
    let Value::Array(entries) = entries else {
        return Err(config(
            "must be a JSON list of {email, role, password}".to_owned(),
        ));
    };

    let mut accounts: Vec<Account> = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let Value::Object(entry) = entry else {
            return Err(config(format!(
                "entry {index} must be an object {{email, role, password}}"
            )));
        };
        let field = |name: &str| -> Result<&str> {
            match entry.get(name) {
                Some(Value::String(value)) => Ok(value),
                Some(_) => Err(config(format!(
                    "entry {index}: field \"{name}\" must be a string"
                ))),
                None => Err(config(format!(
                    "entry {index}: field \"{name}\" is missing"
                ))),
            }
        };

        let email = field("email")?.trim();
        if email.is_empty() {
            return Err(config(format!("entry {index}: field \"email\" is empty")));
        }
        if let Some(first) = accounts.iter().position(|a| same_email(&a.email, email)) {
            return Err(config(format!(
                "entry {index}: field \"email\" repeats the email of entry {first}"
            )));
        }
        // The role is not a secret, so the message may quote it.
        let role = Role::parse(field("role")?).map_err(|error| match error {
            Error::Invalid(message) => config(format!("entry {index}: field \"role\": {message}")),
            other => other,
        })?;
        // `PasswordHash::parse` describes the problem without quoting the
        // string, so its message may be passed on.
        let password = PasswordHash::parse(field("password")?).map_err(|error| match error {
            Error::PasswordHash(message) => {
                config(format!("entry {index}: field \"password\": {message}"))
            }
            other => other,
        })?;
        accounts.push(Account {
            email: email.to_owned(),
            role,
            password,
        });
    }
    Ok(accounts)
}

/// The account of `SERVICE_EMAIL`/`SERVICE_PASSWORD`, whose role is always
/// `service`.
#[derive(Clone)]
pub struct ServiceAccount {
    /// `SERVICE_EMAIL`.
    pub email: String,
    /// `SERVICE_PASSWORD`, in plain text: it is a secret of the deployment,
    /// set by whoever also configures the calling application.
    pub password: String,
}

impl fmt::Debug for ServiceAccount {
    /// Shows the email only, so that the account can be logged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// How an account proves who it is.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    /// An account of `AUTH_USERS`, with a password hash.
    Hashed(&'a Account),
    /// The service account, with a plain-text password.
    Service(&'a ServiceAccount),
}

/// The shortest `SERVICE_PASSWORD` accepted, in characters: 32 random
/// bytes written in base64 without padding (`openssl rand -base64 32` gives
/// 44 with its `=`).
///
/// The service account's right credentials are never refused by the login
/// limiter (mirrors log in from addresses every Worker on Cloudflare
/// shares), so its password has to hold against guessing on its own.
pub const MIN_SERVICE_PASSWORD_LEN: usize = 43;

/// The fewest different characters a `SERVICE_PASSWORD` must have. A server
/// cannot tell random text from chosen text; length and variety are what it
/// can check, and this catches a long repetition (`aaaa…`, a word over and
/// over). Random base64 of 43 characters has about 31 different ones, and
/// random hex of 64 fewer than 12 about once in six million.
pub const MIN_SERVICE_PASSWORD_CHARS: usize = 12;

/// The salt of the decoy derivation (an unknown email, the service
/// account). Any salt costs the same.
const DECOY_SALT: &str = "polycache-decoy";

/// Every account that may log in.
#[derive(Debug, Clone)]
pub struct Accounts {
    users: Vec<Account>,
    service: Option<ServiceAccount>,
    /// The iterations of the decoy derivation done for an unknown email and
    /// the service account: the most any account uses, so that no login is
    /// faster than a real account's, or the production count
    /// ([`DEFAULT_ITERATIONS`]) when there is no hashed account.
    decoy_iterations: u32,
}

/// What one login attempt derives: one PBKDF2-SHA256 of the password tried,
/// with this salt and count, whichever account the email names (or none),
/// so that the time of the answer tells nothing. The Worker derives it with
/// WebCrypto, [`PasswordHash::derive`] natively; [`Accounts::finish`] then
/// decides.
#[derive(Debug, Clone)]
pub struct LoginCheck<'a> {
    /// The salt, as its UTF-8 bytes.
    pub salt: &'a str,
    /// PBKDF2 iterations.
    pub iterations: u32,
    target: Option<Credential<'a>>,
}

impl Accounts {
    /// Gathers the accounts of `AUTH_USERS` and, when set, the service
    /// account.
    ///
    /// Should an `AUTH_USERS` email also be `SERVICE_EMAIL`, the
    /// `AUTH_USERS` account is the one that logs in (the pair is then only
    /// what this deployment sends to its mirrors).
    ///
    /// Fails with [`Error::Config`] naming `SERVICE_PASSWORD`, never quoting
    /// it, when the service account can log in and its password is shorter
    /// than [`MIN_SERVICE_PASSWORD_LEN`] or has fewer than
    /// [`MIN_SERVICE_PASSWORD_CHARS`] different characters.
    pub fn new(users: Vec<Account>, service: Option<ServiceAccount>) -> Result<Accounts> {
        let decoy_iterations = users
            .iter()
            .map(|user| user.password.iterations)
            .max()
            .unwrap_or(DEFAULT_ITERATIONS);
        let accounts = Accounts {
            users,
            service,
            decoy_iterations,
        };
        if let Some(Credential::Service(service)) = accounts
            .service
            .as_ref()
            .and_then(|service| accounts.find(&service.email))
        {
            check_service_password(&service.password)?;
        }
        Ok(accounts)
    }

    /// The account with this email, ignoring case and surrounding spaces.
    pub fn find(&self, email: &str) -> Option<Credential<'_>> {
        let email = email.trim();
        if let Some(user) = self.users.iter().find(|u| same_email(&u.email, email)) {
            return Some(Credential::Hashed(user));
        }
        self.service
            .as_ref()
            .filter(|service| same_email(service.email.trim(), email))
            .map(Credential::Service)
    }

    /// The canonical email of the service account when `email` and
    /// `password` are its right credentials: such a login is checked before
    /// the limiter and never refused by it. Compares in constant time.
    pub fn service_login(&self, email: &str, password: &str) -> Option<String> {
        match self.find(email) {
            Some(Credential::Service(service)) => {
                same_secret(password, &service.password).then(|| service.email.trim().to_owned())
            }
            _ => None,
        }
    }

    /// What a login with this email derives: its account's salt and
    /// iterations, or the decoy's for an unknown email and the service
    /// account.
    pub fn prepare(&self, email: &str) -> LoginCheck<'_> {
        let target = self.find(email);
        match target {
            Some(Credential::Hashed(user)) => LoginCheck {
                salt: &user.password.salt,
                iterations: user.password.iterations,
                target,
            },
            _ => LoginCheck {
                salt: DECOY_SALT,
                iterations: self.decoy_iterations,
                target,
            },
        }
    }

    /// Decides a login from `derived`, the key [`LoginCheck`] asked for:
    /// the account's canonical email (as configured) and its role, or
    /// `None`. Compares in constant time.
    pub fn finish(
        &self,
        check: &LoginCheck<'_>,
        password: &str,
        derived: &[u8],
    ) -> Option<(String, Role)> {
        match check.target? {
            Credential::Hashed(user) => user
                .password
                .matches_key(derived)
                .then(|| (user.email.clone(), user.role)),
            Credential::Service(service) => same_secret(password, &service.password)
                .then(|| (service.email.trim().to_owned(), Role::Service)),
        }
    }

    /// Checks a login with the derivation done here ([`PasswordHash::derive`],
    /// pure Rust): for native callers and tests. The Worker derives with
    /// WebCrypto between [`Accounts::prepare`] and [`Accounts::finish`].
    pub fn authenticate(&self, email: &str, password: &str) -> Option<(String, Role)> {
        let check = self.prepare(email);
        let derived = PasswordHash::derive(password, check.salt, check.iterations);
        self.finish(&check, password, &derived)
    }
}

/// The key an account's failed logins are counted under: its email as
/// people type it, trimmed and in lower case (as [`Accounts::find`]
/// compares), whether or not an account has it, so that the answers tell
/// no account from none.
pub fn account_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Whether two emails are the same address as far as logging in goes.
fn same_email(a: &str, b: &str) -> bool {
    account_key(a) == account_key(b)
}

/// Whether two secrets are equal, in constant time. Hashing both sides
/// first makes the comparison independent of the lengths too, which `ct_eq`
/// on the raw bytes is not.
fn same_secret(given: &str, expected: &str) -> bool {
    let given = Sha256::digest(given.as_bytes());
    let expected = Sha256::digest(expected.as_bytes());
    given.as_slice().ct_eq(expected.as_slice()).into()
}

/// Fails unless `password` is long and varied enough for the service
/// account ([`MIN_SERVICE_PASSWORD_LEN`], [`MIN_SERVICE_PASSWORD_CHARS`]).
fn check_service_password(password: &str) -> Result<()> {
    let chars: std::collections::BTreeSet<char> = password.chars().collect();
    if password.chars().count() >= MIN_SERVICE_PASSWORD_LEN
        && chars.len() >= MIN_SERVICE_PASSWORD_CHARS
    {
        return Ok(());
    }
    Err(Error::Config {
        name: "SERVICE_PASSWORD".to_owned(),
        message: format!(
            "must be at least {MIN_SERVICE_PASSWORD_LEN} characters with at least \
             {MIN_SERVICE_PASSWORD_CHARS} different ones: 32 random bytes, e.g. \
             `openssl rand -base64 32`, since the service account's right login is never \
             refused by the login limiter"
        ),
    })
}

fn config(message: String) -> Error {
    Error::Config {
        name: AUTH_USERS.to_owned(),
        message,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// `correct horse` with salt `seasalt`, 1000 iterations (see the
    /// known-answer test in `password`).
    const HASH: &str = "pbkdf2_sha256$1000$seasalt$mQnueSakb748zqBAC1tmWVZsZbi2zPGZarEzTGdfmso=";

    /// A service password as `openssl rand -base64 32` makes one.
    const SERVICE_PASSWORD: &str = "q0Zk3Yb8v1N+Xr2dLm7sTj4Wc9Pe6Ha5Uf0Ig3Kn8Bo=";

    fn users_json() -> String {
        serde_json::json!([
            { "email": "Ada@Example.com", "role": "editor", "password": HASH },
            { "email": "root@example.com", "role": "admin", "password": HASH, "name": "Root" },
        ])
        .to_string()
    }

    fn accounts() -> Accounts {
        Accounts::new(
            parse_auth_users(&users_json()).unwrap(),
            Some(ServiceAccount {
                email: "mirror@example.com".to_owned(),
                password: SERVICE_PASSWORD.to_owned(),
            }),
        )
        .unwrap()
    }

    fn config_message(json: &str) -> String {
        match parse_auth_users(json) {
            Err(Error::Config { name, message }) => {
                assert_eq!(name, "AUTH_USERS");
                assert!(!message.contains("mQnue"), "{message}");
                message
            }
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn parses_users() {
        let users = parse_auth_users(&users_json()).unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users[0].email, "Ada@Example.com");
        assert_eq!(users[0].role, Role::Editor);
        assert_eq!(users[1].role, Role::Admin);
        assert_eq!(users[1].password, PasswordHash::parse(HASH).unwrap());
        assert_eq!(parse_auth_users("[]").unwrap(), vec![]);
    }

    #[test]
    fn rejects_what_is_not_a_list_of_objects() {
        assert!(config_message("{").contains("not valid JSON"));
        assert!(config_message(r#"{"email": "a"}"#).contains("list"));
        assert!(
            config_message(r#"[{"email": "a@b", "role": "admin", "password": "x"}, 3]"#)
                .contains("entry 0")
        );
        assert!(config_message("[3]").contains("entry 0 must be an object"));
    }

    #[test]
    fn names_the_entry_and_field() {
        let cases = [
            (
                r#"[{"role": "admin", "password": "HASH"}]"#,
                r#"entry 0: field "email" is missing"#,
            ),
            (
                r#"[{"email": 1, "role": "admin", "password": "HASH"}]"#,
                r#"entry 0: field "email" must be a string"#,
            ),
            (
                r#"[{"email": "  ", "role": "admin", "password": "HASH"}]"#,
                r#"entry 0: field "email" is empty"#,
            ),
            (
                r#"[{"email": "a@b", "password": "HASH"}]"#,
                r#"entry 0: field "role" is missing"#,
            ),
            (
                r#"[{"email": "a@b", "role": "root", "password": "HASH"}]"#,
                r#"entry 0: field "role""#,
            ),
            (
                r#"[{"email": "a@b", "role": "admin"}]"#,
                r#"entry 0: field "password" is missing"#,
            ),
            (
                r#"[{"email": "a@b", "role": "admin", "password": null}]"#,
                r#"entry 0: field "password" must be a string"#,
            ),
        ];
        for (json, expected) in cases {
            let json = json.replace("HASH", HASH);
            let message = config_message(&json);
            assert!(message.starts_with(expected), "{json}: {message}");
        }
    }

    #[test]
    fn never_quotes_a_password() {
        let plain = r#"[{"email": "a@b", "role": "admin", "password": "hunter2-plain"}]"#;
        let message = config_message(plain);
        assert!(
            message.starts_with(r#"entry 0: field "password""#),
            "{message}"
        );
        assert!(!message.contains("hunter2"), "{message}");

        let slow = HASH.replace("$1000$", "$870000$");
        let json = serde_json::json!([{ "email": "a@b", "role": "admin", "password": slow }]);
        let message = config_message(&json.to_string());
        assert!(message.contains("maximum"), "{message}");
        assert!(!message.contains("seasalt"), "{message}");

        // A JSON syntax error right inside a hash is located, not quoted.
        let broken = format!(r#"[{{"email": "a@b", "role": "admin", "password": "{HASH}\q"}}]"#);
        let message = config_message(&broken);
        assert!(!message.contains("seasalt"), "{message}");
    }

    #[test]
    fn rejects_duplicate_emails_ignoring_case() {
        let json = serde_json::json!([
            { "email": "ada@example.com", "role": "editor", "password": HASH },
            { "email": "bob@example.com", "role": "editor", "password": HASH },
            { "email": " ADA@example.COM", "role": "admin", "password": HASH },
        ]);
        assert_eq!(
            config_message(&json.to_string()),
            r#"entry 2: field "email" repeats the email of entry 0"#
        );
    }

    #[test]
    fn finds_ignoring_case() {
        let accounts = accounts();
        match accounts.find("ada@example.COM") {
            Some(Credential::Hashed(user)) => assert_eq!(user.email, "Ada@Example.com"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            accounts.find(" MIRROR@example.com "),
            Some(Credential::Service(_))
        ));
        assert!(accounts.find("nobody@example.com").is_none());
        assert!(accounts.find("").is_none());
    }

    #[test]
    fn authenticates_hashed_accounts() {
        let accounts = accounts();
        assert_eq!(
            accounts.authenticate("ada@example.com", "correct horse"),
            Some(("Ada@Example.com".to_owned(), Role::Editor))
        );
        assert_eq!(
            accounts.authenticate("ROOT@example.com", "correct horse"),
            Some(("root@example.com".to_owned(), Role::Admin))
        );
        assert_eq!(
            accounts.authenticate("ada@example.com", "wrong horse"),
            None
        );
        assert_eq!(
            accounts.authenticate("nobody@example.com", "correct horse"),
            None
        );
    }

    #[test]
    fn authenticates_the_service_account() {
        let accounts = accounts();
        assert_eq!(
            accounts.authenticate("mirror@example.com", SERVICE_PASSWORD),
            Some(("mirror@example.com".to_owned(), Role::Service))
        );
        assert_eq!(
            accounts.authenticate(
                "mirror@example.com",
                &SERVICE_PASSWORD[..SERVICE_PASSWORD.len() - 1]
            ),
            None
        );
        assert_eq!(
            accounts.authenticate("mirror@example.com", &format!("{SERVICE_PASSWORD} ")),
            None
        );
        assert_eq!(accounts.authenticate("mirror@example.com", ""), None);
        // A service password is not a password of the other accounts.
        assert_eq!(
            accounts.authenticate("ada@example.com", SERVICE_PASSWORD),
            None
        );
    }

    #[test]
    fn auth_users_win_over_the_service_account() {
        let users = parse_auth_users(&users_json()).unwrap();
        let accounts = Accounts::new(
            users,
            Some(ServiceAccount {
                email: "ada@example.com".to_owned(),
                password: SERVICE_PASSWORD.to_owned(),
            }),
        )
        .unwrap();
        assert_eq!(
            accounts.authenticate("ada@example.com", SERVICE_PASSWORD),
            None
        );
        assert!(accounts
            .authenticate("ada@example.com", "correct horse")
            .is_some());
    }

    #[test]
    fn works_without_any_account() {
        let accounts = Accounts::new(vec![], None).unwrap();
        assert!(accounts.find("ada@example.com").is_none());
        assert_eq!(accounts.authenticate("ada@example.com", "x"), None);
    }

    #[test]
    fn service_account_debug_hides_the_password() {
        let service = ServiceAccount {
            email: "mirror@example.com".to_owned(),
            password: SERVICE_PASSWORD.to_owned(),
        };
        let debug = format!("{service:?}");
        assert!(debug.contains("mirror@example.com"));
        assert!(!debug.contains(SERVICE_PASSWORD));
        let debug = format!("{:?}", accounts());
        assert!(!debug.contains(SERVICE_PASSWORD), "{debug}");
        assert!(!debug.contains("mQnue"), "{debug}");
    }

    #[test]
    fn every_login_derives_once_at_the_accounts_cost() {
        let slow = PasswordHash::new("slow horse", "slowsalt", 5000).unwrap();
        let mut users = parse_auth_users(&users_json()).unwrap();
        users.push(Account {
            email: "slow@example.com".to_owned(),
            role: Role::Editor,
            password: slow,
        });
        let accounts = Accounts::new(
            users,
            Some(ServiceAccount {
                email: "mirror@example.com".to_owned(),
                password: SERVICE_PASSWORD.to_owned(),
            }),
        )
        .unwrap();
        assert_eq!(accounts.prepare("slow@example.com").iterations, 5000);
        assert_eq!(accounts.prepare("ada@example.com").iterations, 1000);
        assert_eq!(accounts.prepare("ada@example.com").salt, "seasalt");
        // An unknown email and the service account cost the dearest account.
        assert_eq!(accounts.prepare("nobody@example.com").iterations, 5000);
        assert_eq!(accounts.prepare("mirror@example.com").iterations, 5000);
        // Without hashed accounts, the production count.
        let only_service = Accounts::new(
            vec![],
            Some(ServiceAccount {
                email: "mirror@example.com".to_owned(),
                password: SERVICE_PASSWORD.to_owned(),
            }),
        )
        .unwrap();
        assert_eq!(
            only_service.prepare("mirror@example.com").iterations,
            DEFAULT_ITERATIONS
        );
    }

    #[test]
    fn finish_decides_from_a_key_derived_elsewhere() {
        let accounts = accounts();
        let check = accounts.prepare("ADA@example.com");
        let derived = PasswordHash::derive("correct horse", check.salt, check.iterations);
        assert_eq!(
            accounts.finish(&check, "correct horse", &derived),
            Some(("Ada@Example.com".to_owned(), Role::Editor))
        );
        assert_eq!(accounts.finish(&check, "correct horse", &[0; 32]), None);
        assert_eq!(accounts.finish(&check, "correct horse", &[]), None);
        let unknown = accounts.prepare("nobody@example.com");
        assert_eq!(accounts.finish(&unknown, "correct horse", &derived), None);
        let service = accounts.prepare("mirror@example.com");
        assert_eq!(
            accounts.finish(&service, SERVICE_PASSWORD, &[]),
            Some(("mirror@example.com".to_owned(), Role::Service))
        );
        assert_eq!(accounts.finish(&service, "wrong", &[]), None);
    }

    #[test]
    fn the_service_login_is_told_before_any_derivation() {
        let accounts = accounts();
        assert_eq!(
            accounts.service_login(" Mirror@example.com", SERVICE_PASSWORD),
            Some("mirror@example.com".to_owned())
        );
        assert_eq!(accounts.service_login("mirror@example.com", "wrong"), None);
        assert_eq!(
            accounts.service_login("ada@example.com", "correct horse"),
            None
        );
        assert_eq!(
            accounts.service_login("nobody@example.com", SERVICE_PASSWORD),
            None
        );
    }

    #[test]
    fn a_weak_service_password_is_a_configuration_error() {
        let with = |password: &str| {
            Accounts::new(
                parse_auth_users(&users_json()).unwrap(),
                Some(ServiceAccount {
                    email: "mirror@example.com".to_owned(),
                    password: password.to_owned(),
                }),
            )
        };
        let repeated = "ab".repeat(40);
        let short = &SERVICE_PASSWORD[..42];
        for weak in ["service-password", short, repeated.as_str()] {
            match with(weak) {
                Err(Error::Config { name, message }) => {
                    assert_eq!(name, "SERVICE_PASSWORD");
                    assert!(message.contains("at least 43 characters"), "{message}");
                    assert!(!message.contains(weak), "{message}");
                }
                other => panic!("{weak:?} accepted: {other:?}"),
            }
        }
        assert!(with(SERVICE_PASSWORD).is_ok());
        // 64 hex digits (`openssl rand -hex 32`) pass too.
        assert!(with(&"0123456789abcdef".repeat(4)).is_ok());
        // A pair shadowed by an AUTH_USERS account logs nobody in here: it
        // is only what this deployment sends to its mirrors.
        let shadowed = Accounts::new(
            parse_auth_users(&users_json()).unwrap(),
            Some(ServiceAccount {
                email: "ada@example.com".to_owned(),
                password: "weak".to_owned(),
            }),
        );
        assert!(shadowed.is_ok());
    }

    #[test]
    fn account_keys_are_emails_as_typed() {
        assert_eq!(account_key(" Ada@Example.COM "), "ada@example.com");
        assert_eq!(account_key("ada@example.com"), "ada@example.com");
        assert_eq!(account_key(""), "");
    }
}
