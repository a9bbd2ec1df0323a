//! CSV for downloads: one row at a time into a small buffer, with every text cell that a
//! spreadsheet would read as a formula neutralised.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey_identity::browser::secure_headers;

/// A cell as a spreadsheet should show it: one that starts with `=`, `+`, `-`, `@`, a tab or
/// a carriage return gets a leading apostrophe, so Excel, LibreOffice and Sheets show it as
/// text instead of running it as a formula (OWASP's advice for CSV injection).
pub(super) fn neutral(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// Appends one CSV record (RFC 4180 quoting) to `out`. `raw` cells (such as a generated
/// password, which must stay exactly as generated) are quoted but not neutralised.
pub(super) fn record(out: &mut Vec<u8>, cells: &[(&str, bool)]) {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let row: Vec<std::borrow::Cow<'_, str>> = cells
        .iter()
        .map(|(c, raw)| if *raw { (*c).into() } else { neutral(c) })
        .collect();
    if w.write_record(row.iter().map(|c| c.as_bytes())).is_ok()
        && let Ok(bytes) = w.into_inner()
    {
        out.extend_from_slice(&bytes);
    }
}

/// The headers of a CSV download: an attachment named `filename`, never cached.
pub(super) fn download(body: axum::body::Body, filename: &str) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    secure_headers(r, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised_and_others_left_alone() {
        for bad in ["=1+1", "+SUM(A1)", "-2", "@cmd", "\tx"] {
            assert_eq!(neutral(bad), format!("'{bad}"));
        }
        assert_eq!(neutral("Ada"), "Ada");
        assert_eq!(neutral(""), "");
    }

    #[test]
    fn a_record_quotes_commas_and_quotes_and_keeps_raw_cells() {
        let mut out = Vec::new();
        record(
            &mut out,
            &[("a,b", false), ("say \"hi\"", false), ("-pw", true)],
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a,b\",\"say \"\"hi\"\"\",-pw\r\n"
        );
    }
}
