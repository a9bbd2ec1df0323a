//! The banned-password check, in the manner of Microsoft Entra password protection: the
//! candidate is normalised (lower case, common character substitutions), banned terms are
//! found in it fuzzily (edit distance 1, anywhere in the string), and the result is scored: one
//! point per banned term found and one per character left over. Fewer than
//! [`MIN_SCORE`] points is a rejection.
//!
//! The global list holds the words and patterns people reach for first; a tenant adds its own
//! (company and product names, local sports teams) as custom terms, normalised the same way.

use std::sync::LazyLock;

/// A password must score at least this many points to be accepted (Entra's threshold).
pub const MIN_SCORE: usize = 5;

/// Custom terms are 4 to 16 characters, as Entra's custom banned list requires: shorter ones
/// would match by accident almost anywhere under fuzzy matching.
pub const TERM_MIN_CHARS: usize = 4;
pub const TERM_MAX_CHARS: usize = 16;
/// At most this many custom terms per tenant (Entra: 1,000).
pub const MAX_CUSTOM_TERMS: usize = 1000;

/// Words and patterns banned everywhere. Each is matched after normalisation and with one
/// edit of slack, so `P@ssw0rd`, `Passwrd` and `Pa55word` all hit `password`.
pub const GLOBAL_TERMS: &[&str] = &[
    // The word itself and its friends.
    "password",
    "passwort",
    "motdepasse",
    "contrasena",
    "senha",
    "welcome",
    "letmein",
    "changeme",
    "default",
    "secret",
    "login",
    "logon",
    "signin",
    "admin",
    "administrator",
    "guest",
    "temporary",
    "access",
    "master",
    "super",
    "system",
    "manager",
    "office",
    "microsoft",
    "windows",
    "azure",
    "outlook",
    "teams",
    "google",
    "apple",
    "company",
    "account",
    "private",
    "security",
    "qwerty",
    "qwertz",
    "azerty",
    "asdf",
    "asdfgh",
    "zxcv",
    "zxcvbn",
    "qazwsx",
    "wasd",
    "abcd",
    "abcdef",
    "abc123",
    "1234",
    "12345",
    "123456",
    "4321",
    "0000",
    "1111",
    "2222",
    "1212",
    "6969",
    "7777",
    "8888",
    "9999",
    "1q2w",
    "1qaz",
    "zaq1",
    "iloveyou",
    "ilove",
    "lovely",
    "loveme",
    "monkey",
    "dragon",
    "shadow",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "soccer",
    "hockey",
    "basketball",
    "batman",
    "superman",
    "starwars",
    "pokemon",
    "matrix",
    "ninja",
    "killer",
    "hunter",
    "ranger",
    "tigger",
    "charlie",
    "michael",
    "jordan",
    "jennifer",
    "thomas",
    "robert",
    "daniel",
    "jessica",
    "ashley",
    "hannah",
    "buster",
    "pepper",
    "ginger",
    "cookie",
    "cheese",
    "banana",
    "chocolate",
    "flower",
    "freedom",
    "whatever",
    "trustno",
    "nothing",
    "hello",
    "hallo",
    "summer",
    "winter",
    "spring",
    "autumn",
    "january",
    "february",
    "march",
    "april",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "holiday",
    "christmas",
    "easter",
    "birthday",
    "computer",
    "internet",
    "server",
    "network",
    "database",
    "oracle",
    "cisco",
    "linux",
    "ubuntu",
    "mypass",
    "mypassword",
    "newpass",
    "newpassword",
    "oldpass",
    "reset",
    "forgot",
    "blink182",
];

/// The global terms, normalised once.
static GLOBAL_NORMALISED: LazyLock<Vec<Vec<char>>> = LazyLock::new(|| {
    GLOBAL_TERMS
        .iter()
        .map(|t| normalise(t).chars().collect())
        .collect()
});

/// Lower-cases and undoes the character substitutions people use to dress up a word.
pub fn normalise(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            '0' => 'o',
            '1' | '|' => 'l',
            '3' => 'e',
            '4' | '@' => 'a',
            '5' | '$' => 's',
            '7' => 't',
            '!' => 'i',
            other => other,
        })
        .collect()
}

/// Whether two strings are within one insertion, deletion or substitution of each other.
pub fn within_one_edit(a: &[char], b: &[char]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if long.len() - short.len() > 1 {
        return false;
    }
    let prefix = short.iter().zip(long).take_while(|(x, y)| x == y).count();
    if short.len() == long.len() {
        // At most one substitution: everything after the first difference must agree.
        prefix == short.len() || short[prefix + 1..] == long[prefix + 1..]
    } else {
        // One insertion into the short string: skip one character of the long one.
        short[prefix..] == long[prefix + 1..]
    }
}

/// One banned term found in the candidate: where it sits in the normalised text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hit {
    start: usize,
    len: usize,
    /// Length of the banned term this hit matched.
    term_len: usize,
}

impl Hit {
    /// Exact-length matches first, then deletions, then insertions, so that a fuzzy match
    /// never swallows a neighbouring character when the plain term is there.
    fn edit_rank(self) -> u8 {
        match self.len.cmp(&self.term_len) {
            std::cmp::Ordering::Equal => 0,
            std::cmp::Ordering::Less => 1,
            std::cmp::Ordering::Greater => 2,
        }
    }
}

/// Every place where `term` occurs in `text` within one edit.
fn hits(text: &[char], term: &[char], out: &mut Vec<Hit>) {
    for len in [term.len(), term.len() + 1, term.len().saturating_sub(1)] {
        if len < TERM_MIN_CHARS.min(term.len()) || len > text.len() {
            continue;
        }
        for start in 0..=text.len() - len {
            if within_one_edit(&text[start..start + len], term) {
                out.push(Hit {
                    start,
                    len,
                    term_len: term.len(),
                });
            }
        }
    }
}

/// The outcome of scoring a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Score {
    /// Banned terms found (each counts one point).
    pub terms_found: usize,
    /// Characters not covered by a banned term (each counts one point).
    pub remaining: usize,
}

impl Score {
    pub fn points(self) -> usize {
        self.terms_found + self.remaining
    }

    pub fn passes(self) -> bool {
        self.points() >= MIN_SCORE
    }
}

/// Scores a candidate against the global list and the tenant's custom terms. Longer matches
/// terms are taken first and matches may not overlap, so one stretch of text counts once.
pub fn score(candidate: &str, custom_terms: &[String]) -> Score {
    let text: Vec<char> = normalise(candidate).chars().collect();
    let mut found = Vec::new();
    let custom: Vec<Vec<char>> = custom_terms
        .iter()
        .map(|t| normalise(t.trim()).chars().collect())
        .collect();
    for term in GLOBAL_NORMALISED.iter().chain(&custom) {
        if !term.is_empty() {
            hits(&text, term, &mut found);
        }
    }
    found.sort_by(|a, b| {
        b.term_len
            .cmp(&a.term_len)
            .then(a.edit_rank().cmp(&b.edit_rank()))
            .then(a.start.cmp(&b.start))
    });
    let mut covered = vec![false; text.len()];
    let mut terms_found = 0;
    for hit in found {
        let span = hit.start..hit.start + hit.len;
        if covered[span.clone()].iter().any(|c| *c) {
            continue;
        }
        covered[span].iter_mut().for_each(|c| *c = true);
        terms_found += 1;
    }
    Score {
        terms_found,
        remaining: covered.iter().filter(|c| !**c).count(),
    }
}

/// Checks a tenant's custom list: 4–16 characters per term, at most 1,000 terms.
pub fn validate_custom_terms(terms: &[String]) -> Result<(), String> {
    if terms.len() > MAX_CUSTOM_TERMS {
        return Err(format!(
            "a custom banned list holds at most {MAX_CUSTOM_TERMS} terms; this one has {}",
            terms.len()
        ));
    }
    for term in terms {
        let n = term.trim().chars().count();
        if !(TERM_MIN_CHARS..=TERM_MAX_CHARS).contains(&n) {
            return Err(format!(
                "the banned term '{}' has {n} characters; each term must have {TERM_MIN_CHARS} to {TERM_MAX_CHARS}",
                term.trim().chars().take(32).collect::<String>()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    #[test]
    fn normalisation_lowers_case_and_undoes_common_substitutions() {
        assert_eq!(normalise("P@$$w0rd1"), "passwordl");
        assert_eq!(normalise("C0NT0S0"), "contoso");
        assert_eq!(normalise("h3ll0!"), "helloi");
        assert_eq!(normalise("57r0ng"), "strong");
    }

    #[test]
    fn one_edit_means_one_substitution_insertion_or_deletion() {
        assert!(within_one_edit(&chars("password"), &chars("password")));
        assert!(within_one_edit(&chars("passwerd"), &chars("password")));
        assert!(within_one_edit(&chars("passwrd"), &chars("password")));
        assert!(within_one_edit(&chars("passsword"), &chars("password")));
        assert!(within_one_edit(&chars("xpassword"), &chars("password")));
        assert!(within_one_edit(&chars("passwordx"), &chars("password")));
        assert!(!within_one_edit(&chars("pasword1"), &chars("password")));
        assert!(!within_one_edit(&chars("paswrd"), &chars("password")));
        assert!(!within_one_edit(&chars("pessward"), &chars("password")));
        assert!(!within_one_edit(&chars("drowssap"), &chars("password")));
    }

    #[test]
    fn banned_terms_are_found_through_substitutions_and_one_edit() {
        for p in ["P@ssw0rd", "Passwrd", "Pa55word", "passwordd", "PASSWERD"] {
            let s = score(p, &[]);
            assert_eq!(s.terms_found, 1, "{p}");
            assert!(!s.passes(), "{p}: {s:?}");
        }
        // Two edits away is no longer the term.
        assert_eq!(score("Pxsswxrd", &[]).terms_found, 0);
    }

    #[test]
    fn scoring_counts_one_point_per_term_and_one_per_remaining_character() {
        let custom = vec!["contoso".to_owned(), "blank".to_owned()];
        // contoso + blank + "12": 1 + 1 + 2 = 4 points: rejected.
        let s = score("ContosoBlank12", &custom);
        assert_eq!((s.terms_found, s.remaining), (2, 2));
        assert!(!s.passes());
        // contoso + blank + "f9!": 1 + 1 + 3 = 5 points: accepted.
        let s = score("ContosoBlankf9!", &custom);
        assert_eq!(s.points(), 5);
        assert!(s.passes());
        // No banned term: every character is a point.
        assert_eq!(score("Kx9#vTq2", &[]).points(), 8);
    }

    #[test]
    fn custom_terms_are_normalised_like_the_candidate() {
        let s = score("Fabrikam26!", &["F@brik@m".to_owned()]);
        assert_eq!((s.terms_found, s.remaining), (1, 3));
        assert!(!s.passes(), "{s:?}");
        // Four more characters than the term make five points: accepted, as in Entra.
        assert!(score("Fabrikam2026", &["F@brik@m".to_owned()]).passes());
    }

    #[test]
    fn overlapping_matches_count_once_and_the_longest_wins() {
        // Of the overlapping hits "password" and "passwordx" the exact one wins: one term
        // and four remaining characters.
        let s = score("passwordXYZW", &[]);
        assert_eq!((s.terms_found, s.remaining), (1, 4));
    }

    #[test]
    fn custom_lists_are_limited_in_size_and_term_length() {
        assert!(validate_custom_terms(&["contoso".into(), "fabrikam".into()]).is_ok());
        let err = validate_custom_terms(&["abc".into()]).unwrap_err();
        assert!(err.contains("'abc'") && err.contains("4 to 16"), "{err}");
        let err = validate_custom_terms(&["a".repeat(17)]).unwrap_err();
        assert!(err.contains("17 characters"), "{err}");
        let many: Vec<String> = (0..1001).map(|i| format!("term{i:04}")).collect();
        assert!(validate_custom_terms(&many).unwrap_err().contains("1000"));
    }
}
