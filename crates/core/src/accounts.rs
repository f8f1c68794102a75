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
use crate::password::PasswordHash;
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

/// Every account that may log in.
#[derive(Debug, Clone)]
pub struct Accounts {
    users: Vec<Account>,
    service: Option<ServiceAccount>,
    /// The iterations of the decoy derivation done for an unknown email:
    /// the most any account uses, so that an unknown email costs at least
    /// as long as a known one. `None` when there are no hashed accounts, as
    /// then there is no timing to match.
    decoy_iterations: Option<u32>,
}

impl Accounts {
    /// Gathers the accounts of `AUTH_USERS` and, when set, the service
    /// account.
    ///
    /// Should an `AUTH_USERS` email also be `SERVICE_EMAIL`, the
    /// `AUTH_USERS` account is the one that logs in.
    pub fn new(users: Vec<Account>, service: Option<ServiceAccount>) -> Accounts {
        let decoy_iterations = users.iter().map(|user| user.password.iterations).max();
        Accounts {
            users,
            service,
            decoy_iterations,
        }
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

    /// Checks a login; returns the account's canonical email (as
    /// configured) and its role on success.
    ///
    /// Compares the service password in constant time. An unknown email
    /// costs a decoy PBKDF2 derivation, so that its answer is not faster
    /// than that of a wrong password.
    pub fn authenticate(&self, email: &str, password: &str) -> Option<(String, Role)> {
        match self.find(email) {
            Some(Credential::Hashed(user)) => user
                .password
                .verify(password)
                .then(|| (user.email.clone(), user.role)),
            Some(Credential::Service(service)) => {
                // Hashing both sides first makes the comparison independent
                // of the lengths too, which `ct_eq` on the raw bytes is not.
                let given = Sha256::digest(password.as_bytes());
                let expected = Sha256::digest(service.password.as_bytes());
                let equal: bool = given.as_slice().ct_eq(expected.as_slice()).into();
                equal.then(|| (service.email.trim().to_owned(), Role::Service))
            }
            None => {
                if let Some(iterations) = self.decoy_iterations {
                    std::hint::black_box(PasswordHash::derive(password, "decoy", iterations));
                }
                None
            }
        }
    }
}

/// Whether two emails are the same address as far as logging in goes.
fn same_email(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
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
                password: "s3rvice-pass".to_owned(),
            }),
        )
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
            accounts.authenticate("mirror@example.com", "s3rvice-pass"),
            Some(("mirror@example.com".to_owned(), Role::Service))
        );
        assert_eq!(
            accounts.authenticate("mirror@example.com", "s3rvice-pas"),
            None
        );
        assert_eq!(
            accounts.authenticate("mirror@example.com", "s3rvice-pass "),
            None
        );
        assert_eq!(accounts.authenticate("mirror@example.com", ""), None);
        // A service password is not a password of the other accounts.
        assert_eq!(
            accounts.authenticate("ada@example.com", "s3rvice-pass"),
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
                password: "s3rvice-pass".to_owned(),
            }),
        );
        assert_eq!(
            accounts.authenticate("ada@example.com", "s3rvice-pass"),
            None
        );
        assert!(accounts
            .authenticate("ada@example.com", "correct horse")
            .is_some());
    }

    #[test]
    fn works_without_any_account() {
        let accounts = Accounts::new(vec![], None);
        assert!(accounts.find("ada@example.com").is_none());
        assert_eq!(accounts.authenticate("ada@example.com", "x"), None);
    }

    #[test]
    fn service_account_debug_hides_the_password() {
        let service = ServiceAccount {
            email: "mirror@example.com".to_owned(),
            password: "s3rvice-pass".to_owned(),
        };
        let debug = format!("{service:?}");
        assert!(debug.contains("mirror@example.com"));
        assert!(!debug.contains("s3rvice-pass"));
        let debug = format!("{:?}", accounts());
        assert!(!debug.contains("s3rvice-pass"), "{debug}");
        assert!(!debug.contains("mQnue"), "{debug}");
    }
}
