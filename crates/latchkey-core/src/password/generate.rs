//! Generated passwords: from the OS CSPRNG (the caller passes the RNG so tests can seed one),
//! satisfying the policy by construction: every character category present, no look-alike
//! characters (`0 O o 1 l I |`), the tenant's length, and checked against the full policy (a
//! random string that happens to contain a banned term or the user's name is drawn again).

use rand::seq::SliceRandom;
use rand::{CryptoRng, Rng, RngCore};
use secrecy::SecretString;

use super::policy::{PasswordContext, PasswordPolicy};

const LOWER: &[u8] = b"abcdefghijkmnpqrstuvwxyz";
const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const DIGITS: &[u8] = b"23456789";
/// Symbols that survive shells, URLs and e-mail without quoting and look like nothing else.
const SYMBOLS: &[u8] = b"!#$%&*+-=?@^_";

/// Draws that fail the policy are retried; the chance of a random 16-character string failing
/// is tiny, so this bound is never reached in practice.
const MAX_DRAWS: usize = 64;

/// A random password of the policy's generated length with every category present.
pub fn generate_password<R: RngCore + CryptoRng>(
    policy: &PasswordPolicy,
    ctx: &PasswordContext<'_>,
    rng: &mut R,
) -> SecretString {
    let len = policy
        .generated_length
        .clamp(policy.min_length.max(4), policy.max_length.max(4));
    let mut last = String::new();
    for _ in 0..MAX_DRAWS {
        last = draw(len, rng);
        if policy.check(&last, ctx).is_ok() {
            break;
        }
    }
    SecretString::from(last)
}

fn draw<R: RngCore + CryptoRng>(len: usize, rng: &mut R) -> String {
    let all: Vec<u8> = [LOWER, UPPER, DIGITS, SYMBOLS].concat();
    let mut chars: Vec<u8> = [LOWER, UPPER, DIGITS, SYMBOLS]
        .iter()
        .map(|set| set[rng.gen_range(0..set.len())])
        .collect();
    chars.extend((chars.len()..len).map(|_| all[rng.gen_range(0..all.len())]));
    chars.shuffle(rng);
    chars.into_iter().map(char::from).collect()
}

/// Words for passphrases: common, unambiguous when spoken, 4 to 7 letters, none a banned
/// term (a test checks). 280 words: each adds a little over 8 bits.
const WORDS: &[&str] = &[
    "acorn", "actor", "adobe", "agent", "alarm", "album", "alley", "amber", "anchor", "angle",
    "ankle", "apron", "arena", "arrow", "aspen", "atlas", "attic", "bacon", "badge", "bagel",
    "baker", "bamboo", "banjo", "barrel", "basil", "basin", "beach", "beacon", "beetle", "berry",
    "biscuit", "bison", "blade", "blanket", "blaze", "bloom", "blossom", "bonus", "bottle",
    "bounty", "branch", "brave", "bread", "breeze", "brick", "bridge", "brook", "brush", "bucket",
    "bugle", "bundle", "cabin", "cable", "cactus", "camel", "canal", "candle", "canoe", "canyon",
    "cargo", "carpet", "carrot", "cashew", "castle", "cedar", "chalk", "chapel", "cherry", "chess",
    "chimney", "cider", "cinema", "circus", "citrus", "cobalt", "cobweb", "cocoa", "comet",
    "copper", "coral", "cotton", "cougar", "crane", "crater", "crayon", "cricket", "crown",
    "crystal", "cupola", "cymbal", "dahlia", "daisy", "delta", "denim", "desert", "diesel",
    "dinghy", "dingo", "dolphin", "eagle", "easel", "ember", "emerald", "engine", "fajita",
    "falcon", "feather", "fennel", "ferry", "fiddle", "fjord", "flame", "flint", "fossil",
    "fountain", "frost", "gadget", "galaxy", "garden", "garnet", "gazelle", "geyser", "glacier",
    "glider", "gondola", "granite", "grape", "gravel", "griffin", "guitar", "hamlet", "hammer",
    "harbor", "harvest", "hazel", "helmet", "heron", "hickory", "honey", "hornet", "husky",
    "igloo", "iguana", "island", "ivory", "jacket", "jaguar", "jelly", "jersey", "jigsaw",
    "almond", "bramble", "kayak", "kernel", "kettle", "kiosk", "kitten", "koala", "ladder",
    "lagoon", "lantern", "laptop", "lemon", "lentil", "lilac", "lizard", "locket", "lotus",
    "lumber", "magnet", "mammoth", "mango", "marble", "meadow", "melon", "meteor", "mitten",
    "mosaic", "muffin", "napkin", "nectar", "nickel", "nomad", "nutmeg", "oasis", "obelisk",
    "olive", "onion", "orbit", "orchid", "otter", "oyster", "paddle", "pagoda", "palace", "panda",
    "papaya", "parcel", "parrot", "pastry", "peach", "pebble", "pelican", "piano", "pickle",
    "pigeon", "pillow", "pirate", "planet", "plaza", "plum", "pocket", "poplar", "potato",
    "prairie", "prism", "pumpkin", "puzzle", "quartz", "quiver", "quokka", "rabbit", "radar",
    "radish", "raven", "reef", "ribbon", "river", "robin", "rocket", "saddle", "salmon", "sandal",
    "saturn", "scarf", "scooter", "sequoia", "shovel", "sketch", "sledge", "socket", "sparrow",
    "spider", "spruce", "squid", "stable", "statue", "stove", "sugar", "summit", "tablet", "tango",
    "teapot", "thistle", "timber", "tomato", "topaz", "tractor", "trumpet", "tulip", "tundra",
    "turnip", "turtle", "umbrella", "valley", "velvet", "violin", "volcano", "vulture", "waffle",
    "walnut", "walrus", "willow", "wizard", "wombat", "yarrow", "yogurt", "zebra", "zephyr",
    "zinnia",
];

/// A passphrase: `words` capitalised words joined by `-`, with one digit added, so that it
/// carries all four categories and is easy to read out over the phone. At least 4 words.
pub fn generate_passphrase<R: RngCore + CryptoRng>(
    policy: &PasswordPolicy,
    ctx: &PasswordContext<'_>,
    words: usize,
    rng: &mut R,
) -> SecretString {
    let words = words.max(4);
    let mut last = String::new();
    for _ in 0..MAX_DRAWS {
        let mut parts: Vec<String> = (0..words)
            .map(|_| {
                let w = WORDS[rng.gen_range(0..WORDS.len())];
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect();
        let digit = char::from(DIGITS[rng.gen_range(0..DIGITS.len())]);
        let at = rng.gen_range(0..parts.len());
        parts[at].push(digit);
        last = parts.join("-");
        if policy.check(&last, ctx).is_ok() {
            break;
        }
    }
    SecretString::from(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::{OsRng, StdRng};
    use secrecy::ExposeSecret;
    use std::collections::HashSet;

    fn ctx() -> PasswordContext<'static> {
        PasswordContext {
            user_principal_name: "adele@contoso.test",
            display_name: "Adele Vance",
            disable_strong_password: false,
        }
    }

    #[test]
    fn generated_passwords_always_pass_the_policy_and_have_every_category() {
        let policy = PasswordPolicy::default();
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..2000 {
            let p = generate_password(&policy, &ctx(), &mut rng);
            let p = p.expose_secret();
            assert_eq!(p.chars().count(), 16);
            assert!(policy.check(p, &ctx()).is_ok(), "{p}");
            assert!(p.chars().any(|c| c.is_ascii_lowercase()));
            assert!(p.chars().any(|c| c.is_ascii_uppercase()));
            assert!(p.chars().any(|c| c.is_ascii_digit()));
            assert!(p.chars().any(|c| !c.is_ascii_alphanumeric()));
            assert!(!p.chars().any(|c| "0Oo1lI|".contains(c)), "{p}");
        }
    }

    #[test]
    fn generated_passwords_are_distinct() {
        let policy = PasswordPolicy::default();
        let seen: HashSet<String> = (0..1000)
            .map(|_| {
                generate_password(&policy, &ctx(), &mut OsRng)
                    .expose_secret()
                    .to_owned()
            })
            .collect();
        assert_eq!(seen.len(), 1000);
    }

    #[test]
    fn the_generated_length_follows_the_tenant_policy() {
        let policy = PasswordPolicy {
            min_length: 20,
            generated_length: 24,
            ..PasswordPolicy::default()
        };
        let p = generate_password(&policy, &ctx(), &mut OsRng);
        assert_eq!(p.expose_secret().chars().count(), 24);
    }

    #[test]
    fn passphrases_pass_the_policy_and_read_as_words() {
        let policy = PasswordPolicy::default();
        let mut rng = StdRng::seed_from_u64(11);
        for _ in 0..500 {
            let p = generate_passphrase(&policy, &ctx(), 5, &mut rng);
            let p = p.expose_secret();
            assert_eq!(p.split('-').count(), 5, "{p}");
            assert!(policy.check(p, &ctx()).is_ok(), "{p}");
        }
    }

    #[test]
    fn no_passphrase_word_is_a_banned_term() {
        for w in WORDS {
            let s = super::super::banned::score(w, &[]);
            assert_eq!(s.terms_found, 0, "{w}");
        }
    }
}
