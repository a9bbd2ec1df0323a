//! A compact offline list of passwords that top the published breach corpora, for the
//! "appears in breaches" rule. Entries are compared after the same normalisation as banned
//! terms, so `Qwerty123` and `qwerty123` are one entry. Only entries of 8 characters or more
//! are listed: shorter ones never pass the length rule anyway.

use std::collections::HashSet;
use std::sync::LazyLock;

use super::banned::normalise;

const BREACHED: &[&str] = &[
    "12345678",
    "123456789",
    "1234567890",
    "11111111",
    "00000000",
    "87654321",
    "12341234",
    "11223344",
    "12121212",
    "88888888",
    "99999999",
    "123123123",
    "987654321",
    "1q2w3e4r",
    "1q2w3e4r5t",
    "1qaz2wsx",
    "zaq12wsx",
    "zaq1zaq1",
    "q1w2e3r4",
    "qwertyuiop",
    "qwerty123",
    "qwerty12",
    "qwerty1234",
    "asdfghjkl",
    "asdf1234",
    "zxcvbnm1",
    "aa123456",
    "aa12345678",
    "abc12345",
    "abcd1234",
    "abcdefgh",
    "a1b2c3d4",
    "password",
    "password1",
    "password12",
    "password123",
    "password1234",
    "passw0rd",
    "p@ssw0rd",
    "p@ssword",
    "p@ssword1",
    "iloveyou",
    "iloveyou1",
    "sunshine",
    "sunshine1",
    "princess",
    "princess1",
    "football",
    "football1",
    "baseball",
    "basketball",
    "superman",
    "batman123",
    "starwars",
    "whatever",
    "trustno1",
    "letmein1",
    "letmein123",
    "welcome1",
    "welcome123",
    "welcome2024",
    "welcome2025",
    "welcome2026",
    "changeme",
    "changeme1",
    "changeme123",
    "computer",
    "michael1",
    "jennifer",
    "jordan23",
    "liverpool",
    "chelsea1",
    "arsenal1",
    "manchester",
    "charlie1",
    "chocolate",
    "butterfly",
    "cocacola",
    "mustang1",
    "shadow12",
    "master12",
    "monkey12",
    "dragon12",
    "pokemon1",
    "minecraft",
    "fortnite",
    "qwer1234",
    "1qazxsw2",
    "q1w2e3r4t5",
    "zxcvbnm123",
    "asdfasdf",
    "qweasdzxc",
    "1234qwer",
    "access14",
    "administrator",
    "admin123",
    "admin1234",
    "administrator1",
    "summer2024",
    "summer2025",
    "summer2026",
    "winter2024",
    "winter2025",
    "winter2026",
    "spring2025",
    "autumn2025",
    "december1",
    "january1",
    "secret123",
    "test1234",
    "testtest",
    "temp1234",
    "guest123",
    "default1",
    "hello123",
    "hellohello",
    "loveyou1",
    "lovelove",
    "blink182",
    "987654321a",
    "1234567a",
    "a1234567",
    "12345qwert",
    "qwertyui",
    "ncc1701d",
    "thx1138a",
    "azerty123",
    "passwort1",
    "motdepasse",
    "contrasena",
    "senha123",
];

static NORMALISED: LazyLock<HashSet<String>> =
    LazyLock::new(|| BREACHED.iter().map(|p| normalise(p)).collect());

/// Whether the candidate is (after normalisation) one of the listed breached passwords.
pub fn is_breached(candidate: &str) -> bool {
    NORMALISED.contains(&normalise(candidate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_passwords_are_found_whatever_their_case_or_substitutions() {
        assert!(is_breached("Qwerty123"));
        assert!(is_breached("P@ssw0rd1"));
        assert!(is_breached("1QAZ2WSX"));
        assert!(!is_breached("Kx9#vTq2mW"));
    }
}
