//! Password hash strings: PBKDF2-SHA256 in Django's format.
//!
//! `AUTH_USERS` stores no passwords, only hash strings of the form
//! `pbkdf2_sha256$<iterations>$<salt>$<key>`, where `<key>` is the standard,
//! padded base64 of the 32-byte PBKDF2-HMAC-SHA256 output and the salt is
//! used as its UTF-8 (in practice ASCII) bytes. This is exactly what Django
//! writes, so an existing Django user table can be pasted in, and what
//! `polycache hash-password` writes.
//!
//! Iterations are capped at [`MAX_ITERATIONS`] because the Worker may derive
//! the key with WebCrypto, which refuses more; it then only asks this module
//! to compare ([`PasswordHash::matches_key`]). Every comparison of a derived
//! key is constant-time, so that response timing does not reveal how many
//! leading bytes of a guess were right.

use std::fmt;

use base64::{engine::general_purpose::STANDARD, Engine as _};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use crate::{Error, Result};

/// The most iterations a hash string may ask for: Cloudflare Workers'
/// WebCrypto `deriveBits` refuses PBKDF2 with more than 100,000 iterations.
/// (Django's own default is higher; such hashes must be re-made with
/// `polycache hash-password`.)
pub const MAX_ITERATIONS: u32 = 100_000;

/// The iterations used for new hashes: as many as [`MAX_ITERATIONS`]
/// allows, since each one multiplies the cost of guessing.
pub const DEFAULT_ITERATIONS: u32 = 100_000;

/// The algorithm name at the front of the hash string, as Django spells it.
const ALGORITHM: &str = "pbkdf2_sha256";

/// Length of the derived key in bytes: the SHA-256 output, which is what
/// Django derives (it asks PBKDF2 for `digest().digest_size` bytes).
const KEY_LEN: usize = 32;

/// Length of a salt made by [`random_salt`]: Django's `salt_entropy` of 128
/// bits over a 62-character alphabet needs ⌈128 / log2(62)⌉ = 22 characters.
const SALT_LEN: usize = 22;

/// Django's `RANDOM_STRING_CHARS`, in Django's order.
const SALT_ALPHABET: &[u8; 62] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A parsed PBKDF2-SHA256 password hash.
///
/// `Debug` leaves the key out: with the salt and the iterations it is what
/// an offline guesser needs, so it has no business in a log. `Display` is
/// the full hash string, for `polycache hash-password` to print.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash {
    /// PBKDF2 iterations, from 1 to [`MAX_ITERATIONS`].
    pub iterations: u32,
    /// The salt, non-empty and without `$`, used as its UTF-8 bytes.
    pub salt: String,
    /// The derived key.
    pub key: [u8; KEY_LEN],
}

impl PasswordHash {
    /// Reads a hash string `pbkdf2_sha256$<iterations>$<salt>$<key>`.
    ///
    /// Fails with [`Error::PasswordHash`] naming what is wrong (the
    /// algorithm, the iterations, the salt or the key) without quoting the
    /// string: a plain password pasted by mistake must not reach a log.
    pub fn parse(s: &str) -> Result<PasswordHash> {
        let fields: Vec<&str> = s.split('$').collect();
        let [algorithm, iterations, salt, key] = fields[..] else {
            return Err(invalid(if fields[0] == ALGORITHM {
                // Django salts never contain `$`, so a fifth field means a
                // mangled string rather than an unusual salt.
                "expected pbkdf2_sha256$<iterations>$<salt>$<key> (4 fields separated by '$')"
                    .to_owned()
            } else {
                "not a pbkdf2_sha256 hash string".to_owned()
            }));
        };
        if algorithm != ALGORITHM {
            return Err(invalid(
                "algorithm must be pbkdf2_sha256 (Django's PBKDF2-SHA256)".to_owned(),
            ));
        }
        if iterations.is_empty() || !iterations.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("iterations must be a decimal number".to_owned()));
        }
        let iterations = iterations
            .parse::<u32>()
            .map_err(|_| invalid(format!("iterations exceed the maximum of {MAX_ITERATIONS}")))?;
        check_iterations(iterations)?;
        check_salt(salt)?;
        let key = STANDARD
            .decode(key)
            .ok()
            .and_then(|key| <[u8; KEY_LEN]>::try_from(key).ok())
            .ok_or_else(|| invalid(format!("key must be the base64 of {KEY_LEN} bytes")))?;
        Ok(PasswordHash {
            iterations,
            salt: salt.to_owned(),
            key,
        })
    }

    /// PBKDF2-HMAC-SHA256 of `password` with the UTF-8 bytes of `salt`,
    /// giving a 32-byte key.
    ///
    /// Takes any iteration count so that it cannot fail; PBKDF2 with 0
    /// iterations computes the same as with 1, and [`PasswordHash::parse`]
    /// and [`PasswordHash::new`] reject 0 anyway.
    pub fn derive(password: &str, salt: &str, iterations: u32) -> [u8; KEY_LEN] {
        pbkdf2::pbkdf2_hmac_array::<Sha256, KEY_LEN>(
            password.as_bytes(),
            salt.as_bytes(),
            iterations,
        )
    }

    /// Hashes `password`: what `polycache hash-password` prints.
    ///
    /// Fails with [`Error::PasswordHash`] when `iterations` is 0 or above
    /// [`MAX_ITERATIONS`], or when `salt` is empty or contains `$`.
    pub fn new(password: &str, salt: &str, iterations: u32) -> Result<PasswordHash> {
        check_iterations(iterations)?;
        check_salt(salt)?;
        Ok(PasswordHash {
            iterations,
            salt: salt.to_owned(),
            key: Self::derive(password, salt, iterations),
        })
    }

    /// Whether `password` is the one hashed here. Costs `iterations`
    /// PBKDF2 rounds; compares in constant time.
    pub fn verify(&self, password: &str) -> bool {
        self.matches_key(&Self::derive(password, &self.salt, self.iterations))
    }

    /// Whether `derived` is this hash's key, compared in constant time.
    ///
    /// For the Worker, which derives the key with WebCrypto (native speed,
    /// outside the Worker's CPU budget for Rust code) from `salt` and
    /// `iterations`, then asks here. A slice of the wrong length never
    /// matches.
    pub fn matches_key(&self, derived: &[u8]) -> bool {
        self.key.as_slice().ct_eq(derived).into()
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHash")
            .field("iterations", &self.iterations)
            .field("salt", &self.salt)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl fmt::Display for PasswordHash {
    /// The Django hash string, which [`PasswordHash::parse`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{ALGORITHM}${}${}${}",
            self.iterations,
            self.salt,
            STANDARD.encode(self.key)
        )
    }
}

/// Turns caller-supplied random bytes into a Django-style salt: 22
/// characters from `[a-zA-Z0-9]`.
///
/// The core crate has no random source (it runs on
/// `wasm32-unknown-unknown`), so the caller brings one, e.g.
/// `crypto.getRandomValues` or the operating system's. Pass at least 16
/// bytes: the bytes are read as one big-endian number and written in base 62,
/// and 62^22 > 2^128, so 16 bytes map to distinct salts with no bias. More
/// bytes are reduced modulo 62^22; fewer give a salt that is still 22
/// characters but only as unpredictable as the bytes were.
pub fn random_salt(bytes: &[u8]) -> String {
    let mut number = bytes.to_vec();
    let mut salt = Vec::with_capacity(SALT_LEN);
    for _ in 0..SALT_LEN {
        // Schoolbook long division of `number` by 62; the remainder is the
        // next base-62 digit, least significant first.
        let mut remainder: u32 = 0;
        for byte in number.iter_mut() {
            let value = (remainder << 8) | u32::from(*byte);
            // `value < 62 * 256`, so the quotient fits in a byte.
            *byte = (value / 62) as u8;
            remainder = value % 62;
        }
        salt.push(SALT_ALPHABET[remainder as usize]);
    }
    salt.into_iter().map(char::from).collect()
}

fn check_iterations(iterations: u32) -> Result<()> {
    if iterations == 0 {
        return Err(invalid("iterations must be at least 1".to_owned()));
    }
    if iterations > MAX_ITERATIONS {
        return Err(invalid(format!(
            "iterations {iterations} exceed the maximum of {MAX_ITERATIONS} \
             (the Workers WebCrypto PBKDF2 limit); re-hash with polycache hash-password"
        )));
    }
    Ok(())
}

fn check_salt(salt: &str) -> Result<()> {
    if salt.is_empty() {
        return Err(invalid("salt is empty".to_owned()));
    }
    if salt.contains('$') {
        return Err(invalid("salt contains '$'".to_owned()));
    }
    Ok(())
}

fn invalid(message: String) -> Error {
    Error::PasswordHash(message)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Computed independently with Python, which is what Django runs:
    /// `base64.b64encode(hashlib.pbkdf2_hmac('sha256', b'correct horse',
    /// b'seasalt', 1000)).decode()`.
    const KNOWN_1000: &str =
        "pbkdf2_sha256$1000$seasalt$mQnueSakb748zqBAC1tmWVZsZbi2zPGZarEzTGdfmso=";

    /// The same at 100,000 iterations.
    const KNOWN_100_000: &str =
        "pbkdf2_sha256$100000$seasalt$7D53paqVS3FbKCTYthRVmd2w/mSOmB8e0Q0eeuKmwOM=";

    fn message(result: Result<PasswordHash>) -> String {
        match result {
            Err(Error::PasswordHash(message)) => message,
            other => panic!("expected a PasswordHash error, got {other:?}"),
        }
    }

    #[test]
    fn known_answer() {
        let hash = PasswordHash::parse(KNOWN_1000).unwrap();
        assert_eq!(hash.iterations, 1000);
        assert_eq!(hash.salt, "seasalt");
        assert!(hash.verify("correct horse"));
        assert!(!hash.verify("correct horse "));
        assert!(!hash.verify("Correct horse"));
        assert_eq!(
            PasswordHash::new("correct horse", "seasalt", 1000)
                .unwrap()
                .to_string(),
            KNOWN_1000
        );
    }

    /// The production iteration count. About 0.9 s unoptimised on the
    /// two-core development machine: slow, but it is the one test of the
    /// count that ships, so it stays in the default run.
    #[test]
    fn known_answer_at_max_iterations() {
        let hash = PasswordHash::parse(KNOWN_100_000).unwrap();
        assert_eq!(hash.iterations, MAX_ITERATIONS);
        assert!(hash.verify("correct horse"));
    }

    #[test]
    fn known_answers_for_odd_inputs() {
        // Python as above, with (b'', b'x', 2) and ('pässwörd'.encode(), b'salt', 10).
        assert_eq!(
            PasswordHash::new("", "x", 2).unwrap().to_string(),
            "pbkdf2_sha256$2$x$DbJWPo0PmIefdmiayG9/ThLKNfe1jk/gcsT2jDqCYTE="
        );
        assert_eq!(
            PasswordHash::new("pässwörd", "salt", 10)
                .unwrap()
                .to_string(),
            "pbkdf2_sha256$10$salt$p8ZVDWB2VUcUknozDBUxfnYp1MIKeXQqs5im0WsCWWM="
        );
    }

    #[test]
    fn matches_key_is_the_worker_path() {
        let hash = PasswordHash::parse(KNOWN_1000).unwrap();
        let derived = PasswordHash::derive("correct horse", "seasalt", 1000);
        assert!(hash.matches_key(&derived));
        assert!(!hash.matches_key(&derived[..31]));
        assert!(!hash.matches_key(&[0; 32]));
        assert!(!hash.matches_key(&[]));
        let mut longer = derived.to_vec();
        longer.push(0);
        assert!(!hash.matches_key(&longer));
    }

    #[test]
    fn rejects_other_algorithms() {
        for s in [
            "pbkdf2_sha1$1000$seasalt$mQnueSakb748zqBAC1tmWVZsZbi2zPGZarEzTGdfmso=",
            "argon2$argon2id$v=19$m=102400,t=2,p=8$c2FsdA",
            "PBKDF2_SHA256$1000$seasalt$mQnueSakb748zqBAC1tmWVZsZbi2zPGZarEzTGdfmso=",
        ] {
            assert!(
                message(PasswordHash::parse(s)).contains("pbkdf2_sha256"),
                "{s}"
            );
        }
    }

    #[test]
    fn rejects_bad_iterations() {
        let key = "mQnueSakb748zqBAC1tmWVZsZbi2zPGZarEzTGdfmso=";
        for iterations in [
            "0",
            "",
            "-1",
            "+1000",
            "1e3",
            " 1000",
            "100001",
            "870000",
            "99999999999",
        ] {
            let s = format!("pbkdf2_sha256${iterations}$seasalt${key}");
            assert!(
                message(PasswordHash::parse(&s)).contains("iterations"),
                "{iterations:?}"
            );
        }
        assert!(message(PasswordHash::new("p", "s", 0)).contains("at least 1"));
        assert!(message(PasswordHash::new("p", "s", MAX_ITERATIONS + 1)).contains("maximum"));
    }

    #[test]
    fn rejects_bad_salt() {
        let key = "mQnueSakb748zqBAC1tmWVZsZbi2zPGZarEzTGdfmso=";
        let s = format!("pbkdf2_sha256$1000$${key}");
        assert!(message(PasswordHash::parse(&s)).contains("salt"));
        let s = format!("pbkdf2_sha256$1000$sea$salt${key}");
        assert!(message(PasswordHash::parse(&s)).contains("4 fields"));
        assert!(message(PasswordHash::new("p", "", 1)).contains("salt"));
        assert!(message(PasswordHash::new("p", "a$b", 1)).contains("salt"));
    }

    #[test]
    fn rejects_bad_key() {
        for key in [
            "",
            "not base64!",
            // 31 bytes and 33 bytes.
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            // Right length, but URL-safe alphabet and unpadded.
            "mQnueSakb748zqBAC1tmWVZsZbi2zPGZarEzTGdfmso",
            "mQnueSakb748zqBAC1tmWVZsZbi2zPGZarEzTGdfms-=",
        ] {
            let s = format!("pbkdf2_sha256$1000$seasalt${key}");
            assert!(message(PasswordHash::parse(&s)).contains("key"), "{key:?}");
        }
    }

    #[test]
    fn errors_never_quote_the_input() {
        let plain = "my-plain-password";
        let error = PasswordHash::parse(plain).unwrap_err().to_string();
        assert!(!error.contains(plain), "{error}");
        let s = "pbkdf2_sha256$1000$secretsalt$bm90IGEga2V5";
        let error = PasswordHash::parse(s).unwrap_err().to_string();
        assert!(!error.contains("secretsalt") && !error.contains("bm90IGEga2V5"));
    }

    #[test]
    fn debug_leaves_the_key_out() {
        let hash = PasswordHash::parse(KNOWN_1000).unwrap();
        let debug = format!("{hash:?}");
        assert!(
            debug.contains("1000") && debug.contains("seasalt"),
            "{debug}"
        );
        assert!(!debug.contains("mQnue"), "{debug}");
        assert!(!debug.contains(&format!("{:?}", hash.key)), "{debug}");
    }

    #[test]
    fn random_salt_is_django_shaped() {
        let salt = random_salt(&[0xA5; 16]);
        assert_eq!(salt.len(), SALT_LEN);
        assert!(salt.bytes().all(|b| b.is_ascii_alphanumeric()));
        // Zero is the first letter of the alphabet in every place.
        assert_eq!(random_salt(&[0; 16]), "a".repeat(SALT_LEN));
        assert_eq!(random_salt(&[]), "a".repeat(SALT_LEN));
        // 1 and 62 are the base-62 numbers "b" and "ba", least significant first.
        assert_eq!(random_salt(&[1]), format!("b{}", "a".repeat(SALT_LEN - 1)));
        assert_eq!(
            random_salt(&[62]),
            format!("ab{}", "a".repeat(SALT_LEN - 2))
        );
        // Computed independently in Python: the big-endian integer written in
        // base 62 over Django's alphabet, least significant digit first. The
        // largest 16-byte number needs all 22 places.
        assert_eq!(random_salt(&[0xFF; 16]), "hMRph3WiXjUVPDfwqnceXh");
        PasswordHash::new("p", &random_salt(&[7; 32]), 1).unwrap();
    }

    proptest! {
        #[test]
        fn display_and_parse_round_trip(
            password in ".{0,20}",
            salt in "[^$]{1,30}",
            iterations in 1u32..50,
        ) {
            let hash = PasswordHash::new(&password, &salt, iterations).unwrap();
            let parsed = PasswordHash::parse(&hash.to_string()).unwrap();
            prop_assert!(parsed.verify(&password));
            prop_assert_eq!(parsed, hash);
        }

        #[test]
        fn parse_never_panics(s in ".{0,120}") {
            let _ = PasswordHash::parse(&s);
        }

        #[test]
        fn random_salts_of_16_bytes_are_distinct(
            a in proptest::array::uniform16(any::<u8>()),
            b in proptest::array::uniform16(any::<u8>()),
        ) {
            let (salt_a, salt_b) = (random_salt(&a), random_salt(&b));
            prop_assert_eq!(salt_a.len(), SALT_LEN);
            prop_assert!(salt_a.bytes().all(|c| c.is_ascii_alphanumeric()));
            prop_assert_eq!(a == b, salt_a == salt_b);
        }
    }
}
