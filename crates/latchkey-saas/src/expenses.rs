//! Expense and card-transaction CSV: a header row naming the columns `vendor`, `amount`,
//! `currency`, `date` and, optionally, `employee` (any order, any case), then one line per
//! transaction. A bad line is reported with its line number and the rest are parsed; each
//! good line gets a fingerprint so that importing the file again adds nothing.

use chrono::NaiveDate;
use iso_currency::Currency;
use latchkey_core::saas::ExpenseLine;
use sha2::{Digest, Sha256};

use crate::vendor::{match_vendor, normalize_vendor};

/// A line that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineProblem {
    pub line: u64,
    pub message: String,
}

/// The file's good lines and its bad ones.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedExpenses {
    pub lines: Vec<ExpenseLine>,
    pub problems: Vec<LineProblem>,
}

/// The file as a whole cannot be read (no header, a missing column).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpenseFileError {
    #[error("the file has no header row (vendor, amount, currency, date, employee)")]
    NoHeader,
    #[error("the header row has no '{0}' column")]
    MissingColumn(&'static str),
    #[error("the header row names the column '{0}' twice")]
    DuplicateColumn(String),
    #[error("the file is not valid CSV: {0}")]
    Csv(String),
}

struct Columns {
    vendor: usize,
    amount: usize,
    currency: usize,
    date: usize,
    employee: Option<usize>,
}

fn columns(header: &csv::StringRecord) -> Result<Columns, ExpenseFileError> {
    let find = |name: &'static str| -> Result<Option<usize>, ExpenseFileError> {
        let mut hits = header
            .iter()
            .enumerate()
            .filter(|(_, h)| h.trim().eq_ignore_ascii_case(name));
        let first = hits.next().map(|(i, _)| i);
        if hits.next().is_some() {
            return Err(ExpenseFileError::DuplicateColumn(name.to_owned()));
        }
        Ok(first)
    };
    let need = |name: &'static str| find(name)?.ok_or(ExpenseFileError::MissingColumn(name));
    Ok(Columns {
        vendor: need("vendor")?,
        amount: need("amount")?,
        currency: need("currency")?,
        date: need("date")?,
        employee: find("employee")?,
    })
}

/// Parses a decimal amount into minor units of a currency with `exponent` digits.
fn parse_amount(raw: &str, exponent: u8, currency: &str) -> Result<i64, String> {
    let s = raw.trim();
    if s.is_empty() {
        return Err("the amount is empty".into());
    }
    if s.starts_with('-') || (s.starts_with('(') && s.ends_with(')')) {
        return Err(format!(
            "the amount {s} is negative; refunds are not imported"
        ));
    }
    let s = s.strip_prefix('+').unwrap_or(s);
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (!frac.is_empty() && !digits(frac)) || (s.contains('.') && frac.is_empty())
    {
        return Err(format!(
            "the amount '{s}' is not a number (write it like 1234.50, without thousands separators)"
        ));
    }
    if frac.len() > usize::from(exponent) {
        return Err(format!(
            "the amount {s} has more decimal places than {currency} has ({exponent})"
        ));
    }
    let scale = 10_i64.pow(u32::from(exponent));
    let whole: i64 = whole
        .parse()
        .map_err(|_| format!("the amount {s} is too large"))?;
    let mut frac_digits = frac.to_owned();
    while frac_digits.len() < usize::from(exponent) {
        frac_digits.push('0');
    }
    let frac: i64 = if frac_digits.is_empty() {
        0
    } else {
        frac_digits
            .parse()
            .map_err(|_| format!("the amount {s} is too large"))?
    };
    whole
        .checked_mul(scale)
        .and_then(|w| w.checked_add(frac))
        .ok_or_else(|| format!("the amount {s} is too large"))
}

/// An amount in a currency, as a person types them ("1200.00", "usd"): the amount in minor
/// units, the ISO 4217 code and its minor-unit digits. Negative amounts are refused.
pub fn parse_money(amount: &str, currency: &str) -> Result<(i64, String, u8), String> {
    let (code, exponent) = parse_currency(currency)?;
    let minor = parse_amount(amount, exponent, &code)?;
    Ok((minor, code, exponent))
}

fn parse_currency(raw: &str) -> Result<(String, u8), String> {
    let code = raw.trim().to_ascii_uppercase();
    let currency = Currency::from_code(&code)
        .ok_or_else(|| format!("'{}' is not an ISO 4217 currency code", raw.trim()))?;
    // Funds and metals without minor units count in whole units.
    let exponent = currency
        .exponent()
        .and_then(|e| u8::try_from(e).ok())
        .unwrap_or(0);
    Ok((code, exponent))
}

fn parse_date(raw: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| format!("the date '{}' is not a date like 2026-11-30", raw.trim()))
}

/// Parses an expense CSV. The whole file is refused only when its header is unusable; any
/// other problem is reported for its line, and the other lines are still parsed.
pub fn parse_expenses(data: &[u8]) -> Result<ParsedExpenses, ExpenseFileError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(data);
    let header = reader
        .headers()
        .map_err(|e| ExpenseFileError::Csv(e.to_string()))?
        .clone();
    if header.iter().all(|h| h.trim().is_empty()) {
        return Err(ExpenseFileError::NoHeader);
    }
    let cols = columns(&header)?;
    let width = header.len();
    let mut out = ParsedExpenses::default();
    // How often each content was seen so far: two identical purchases in one file are two
    // lines, and the same file imported again gives the same fingerprints.
    let mut seen: Vec<(String, u32)> = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let fallback_line = u64::try_from(index).unwrap_or(u64::MAX).saturating_add(2);
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(fallback_line, csv::Position::line);
                out.problems.push(LineProblem {
                    line,
                    message: format!("not valid CSV: {e}"),
                });
                continue;
            }
        };
        let line = record.position().map_or(fallback_line, csv::Position::line);
        if record.iter().all(str::is_empty) {
            continue;
        }
        if record.len() != width {
            out.problems.push(LineProblem {
                line,
                message: format!(
                    "expected {width} fields as in the header, found {}",
                    record.len()
                ),
            });
            continue;
        }
        match parse_line(&record, &cols, line) {
            Ok(mut parsed) => {
                let content = format!(
                    "{}|{}|{}|{}|{}",
                    normalize_vendor(&parsed.vendor),
                    parsed.amount_minor,
                    parsed.currency,
                    parsed.date,
                    parsed
                        .employee
                        .as_deref()
                        .unwrap_or_default()
                        .to_lowercase()
                );
                let n = match seen.iter_mut().find(|(c, _)| *c == content) {
                    Some((_, n)) => {
                        *n += 1;
                        *n
                    }
                    None => {
                        seen.push((content.clone(), 1));
                        1
                    }
                };
                let digest = Sha256::digest(format!("{content}#{n}").as_bytes());
                parsed.fingerprint = digest.iter().map(|b| format!("{b:02x}")).collect();
                out.lines.push(parsed);
            }
            Err(message) => out.problems.push(LineProblem { line, message }),
        }
    }
    Ok(out)
}

fn parse_line(record: &csv::StringRecord, c: &Columns, line: u64) -> Result<ExpenseLine, String> {
    let field = |i: usize| record.get(i).unwrap_or_default();
    let vendor = field(c.vendor);
    if vendor.is_empty() {
        return Err("the vendor is empty".into());
    }
    let (currency, exponent) = parse_currency(field(c.currency))?;
    let amount_minor = parse_amount(field(c.amount), exponent, &currency)?;
    let date = parse_date(field(c.date))?;
    let employee = c
        .employee
        .map(field)
        .filter(|e| !e.is_empty())
        .map(str::to_owned);
    Ok(ExpenseLine {
        line: u32::try_from(line).map_err(|_| "the file has too many lines".to_owned())?,
        fingerprint: String::new(),
        vendor: vendor.to_owned(),
        amount_minor,
        currency,
        exponent,
        date,
        employee,
        matched: match_vendor(vendor).map(crate::catalogue::CatalogueApp::to_match),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const FILE: &str = "\
Vendor,Amount,Currency,Date,Employee
Slack Technologies,120.00,USD,2026-11-01,ada@contoso.test
SLACK.COM,80,usd,2026-11-02,grace@contoso.test
slack technologies inc,8.5,EUR,2026-11-03,
Joe's Coffee,4.20,EUR,2026-11-03,ada@contoso.test
Zoom,12.345,USD,2026-11-04,ada@contoso.test
Zoom,10.00,XYZ,2026-11-04,ada@contoso.test
Zoom,-10.00,USD,2026-11-04,ada@contoso.test
Zoom,10.00,USD,30/11/2026,ada@contoso.test
Zoom,10.00,USD
Figma,1500,JPY,2026-11-05,ada@contoso.test
Figma,1500,JPY,2026-11-05,ada@contoso.test
";

    #[test]
    fn good_lines_are_parsed_and_bad_ones_reported_with_their_line_numbers() {
        let parsed = parse_expenses(FILE.as_bytes()).unwrap();
        let lines: Vec<u32> = parsed.lines.iter().map(|l| l.line).collect();
        assert_eq!(lines, [2, 3, 4, 5, 11, 12]);
        let problems: Vec<(u64, &str)> = parsed
            .problems
            .iter()
            .map(|p| (p.line, p.message.as_str()))
            .collect();
        assert_eq!(
            problems,
            [
                (
                    6,
                    "the amount 12.345 has more decimal places than USD has (2)"
                ),
                (7, "'XYZ' is not an ISO 4217 currency code"),
                (8, "the amount -10.00 is negative; refunds are not imported"),
                (9, "the date '30/11/2026' is not a date like 2026-11-30"),
                (10, "expected 5 fields as in the header, found 3"),
            ]
        );
        let slack: Vec<Option<&str>> = parsed.lines[..3]
            .iter()
            .map(|l| l.matched.as_ref().map(|m| m.key.as_str()))
            .collect();
        assert_eq!(slack, [Some("slack"); 3]);
        assert_eq!(parsed.lines[3].matched, None);
        assert_eq!(parsed.lines[1].currency, "USD");
        assert_eq!(parsed.lines[1].amount_minor, 8000);
        assert_eq!(parsed.lines[2].amount_minor, 850);
        assert_eq!(parsed.lines[2].employee, None);
        assert_eq!(parsed.lines[4].amount_minor, 1500);
        assert_eq!(parsed.lines[4].exponent, 0);
    }

    #[test]
    fn identical_lines_get_different_fingerprints_and_the_same_file_the_same_ones() {
        let a = parse_expenses(FILE.as_bytes()).unwrap();
        let b = parse_expenses(FILE.as_bytes()).unwrap();
        let fa: Vec<&str> = a.lines.iter().map(|l| l.fingerprint.as_str()).collect();
        let fb: Vec<&str> = b.lines.iter().map(|l| l.fingerprint.as_str()).collect();
        assert_eq!(fa, fb);
        assert_ne!(fa[4], fa[5]);
        assert_eq!(fa[4].len(), 64);
    }

    #[test]
    fn a_header_without_a_needed_column_refuses_the_file() {
        assert_eq!(
            parse_expenses(b"vendor,amount,date\nSlack,1,2026-01-01\n").unwrap_err(),
            ExpenseFileError::MissingColumn("currency")
        );
        assert_eq!(parse_expenses(b"").unwrap_err(), ExpenseFileError::NoHeader);
    }
}
