//! Vendor names as expense reports and card statements spell them ("Slack Technologies",
//! "SLACK.COM", "slack technologies inc", "PAYPAL *DROPBOX"), normalised and matched to the
//! catalogue by name, alias or domain.

use crate::catalogue::{CATALOGUE, CatalogueApp};

/// Legal forms and filler that say nothing about which app it is.
const NOISE: [&str; 21] = [
    "inc",
    "incorporated",
    "llc",
    "ltd",
    "limited",
    "corp",
    "corporation",
    "co",
    "company",
    "gmbh",
    "ag",
    "plc",
    "pty",
    "sa",
    "sas",
    "bv",
    "srl",
    "oy",
    "ab",
    "the",
    "subscription",
];

/// Payment processors that prefix the merchant on card statements.
const PROCESSORS: [&str; 4] = ["paypal", "pp", "sq", "stripe"];

/// Top-level domains dropped from the end of a name ("Salesforce.com" is Salesforce).
const TLDS: [&str; 7] = ["com", "net", "io", "so", "us", "app", "org"];

/// Lower case, punctuation to spaces, legal forms and processor prefixes dropped, a
/// trailing top-level domain dropped: "Slack Technologies, Inc." is "slack technologies".
pub fn normalize_vendor(raw: &str) -> String {
    let lowered = raw.to_lowercase();
    let spaced: String = lowered
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    let mut tokens: Vec<&str> = spaced
        .split_whitespace()
        .filter(|t| !NOISE.contains(t))
        .collect();
    while tokens.len() > 1 && PROCESSORS.contains(&tokens[0]) {
        tokens.remove(0);
    }
    if tokens.len() > 1 && tokens.last().is_some_and(|t| TLDS.contains(t)) {
        tokens.pop();
    }
    tokens.join(" ")
}

/// The host a vendor names when it is written as a domain or URL ("SLACK.COM",
/// "https://www.dropbox.com/billing"), lower case and without `www.`.
fn host_of(raw: &str) -> Option<String> {
    let s = raw.trim().to_lowercase();
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(&s);
    let host = s.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.strip_prefix("www.").unwrap_or(host);
    let looks_like_host = host.contains('.')
        && !host.contains(char::is_whitespace)
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    looks_like_host.then(|| host.to_owned())
}

fn domain_matches(host: &str, domain: &str) -> bool {
    host == domain
        || host
            .strip_suffix(domain)
            .is_some_and(|rest| rest.ends_with('.'))
}

/// The catalogue app a vendor names: by domain (the longest matching one wins, so
/// `workspace.google.com` beats `google.com`), then by normalised name or alias.
pub fn match_vendor(raw: &str) -> Option<&'static CatalogueApp> {
    if let Some(host) = host_of(raw) {
        let best = CATALOGUE
            .iter()
            .flat_map(|app| app.domains.iter().map(move |d| (app, *d)))
            .filter(|(_, d)| domain_matches(&host, d))
            .max_by_key(|(_, d)| d.len());
        if let Some((app, _)) = best {
            return Some(app);
        }
    }
    let name = normalize_vendor(raw);
    if name.is_empty() {
        return None;
    }
    CATALOGUE
        .iter()
        .find(|app| normalize_vendor(app.name) == name || app.aliases.contains(&name.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(raw: &str) -> Option<&'static str> {
        match_vendor(raw).map(|a| a.key)
    }

    #[test]
    fn one_vendor_spelled_three_ways_matches_one_app() {
        assert_eq!(key("Slack Technologies"), Some("slack"));
        assert_eq!(key("SLACK.COM"), Some("slack"));
        assert_eq!(key("slack technologies inc"), Some("slack"));
    }

    #[test]
    fn legal_forms_processor_prefixes_and_urls_are_seen_through() {
        assert_eq!(key("Zoom Video Communications, Inc."), Some("zoom"));
        assert_eq!(key("PAYPAL *DROPBOX"), Some("dropbox"));
        assert_eq!(
            key("https://www.dropbox.com/business/billing"),
            Some("dropbox")
        );
        assert_eq!(key("acme.atlassian.net"), Some("atlassian"));
        assert_eq!(key("workspace.google.com"), Some("google-workspace"));
        assert_eq!(key("Salesforce.com"), Some("salesforce"));
        assert_eq!(key("monday.com Ltd."), Some("monday"));
        assert_eq!(key("GitHub, Inc."), Some("github"));
    }

    #[test]
    fn unknown_vendors_and_look_alikes_do_not_match() {
        assert_eq!(key("Joe's Coffee"), None);
        assert_eq!(key("Boxed Inc"), None);
        assert_eq!(key("notslack.com"), None);
        assert_eq!(key("Inc."), None);
        assert_eq!(key(""), None);
    }
}
