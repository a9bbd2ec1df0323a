//! OData query options over users, parsed into core's typed query: `$filter` into
//! [`crate::query::Filter`], `$orderby`, `$top`, `$search` and `$count`. It lives in core so
//! that every channel (Graph's listings, workflow scopes) compiles the same language; Graph's
//! `$select` stays in `latchkey-graph`, which owns the JSON shapes. Untrusted input: every path ends in a value or a [`QueryError`], never a
//! panic, and the parser's recursion is bounded.

use crate::ids::UserId;
use crate::query::{Comparison, Filter, Literal, OrderBy, PropertyKind, UserProperty};
use chrono::{DateTime, Utc};

/// Why a query option was refused: malformed (`Request_BadRequest`) or well-formed but not
/// something Latchkey (or Graph) serves (`Request_UnsupportedQuery`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("{0}")]
    Bad(String),
    #[error("{0}")]
    Unsupported(String),
}

/// Longest `$filter` accepted, in bytes, and deepest nesting.
const MAX_FILTER_LEN: usize = 4096;
const MAX_DEPTH: usize = 32;
/// Most values in one `in (...)`.
const MAX_IN_VALUES: usize = 100;

/// Echoed input is clipped so that an error never carries a large payload back.
pub(crate) fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(64).collect();
    if s.chars().count() > 64 {
        out.push('…');
    }
    out
}

/// The error for a property name users do not have, naming it.
pub fn unknown_property(name: &str) -> QueryError {
    QueryError::Bad(format!(
        "Could not find a property named '{}' on type 'microsoft.graph.user'.",
        clip(name)
    ))
}

/// `$top`: 1 to 999.
pub fn parse_top(raw: &str) -> Result<u32, QueryError> {
    match raw.trim().parse::<u32>() {
        Ok(n) if (1..=999).contains(&n) => Ok(n),
        _ => Err(QueryError::Bad(format!(
            "Invalid page size specified: '{}'. Must be between 1 and 999 inclusive.",
            clip(raw)
        ))),
    }
}

/// `$count`: `true` or `false`.
pub fn parse_count(raw: &str) -> Result<bool, QueryError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(QueryError::Bad(format!(
            "Invalid value '{}' for $count: use true or false.",
            clip(raw)
        ))),
    }
}

/// `$orderby`: one sortable property, `asc` (default) or `desc`.
pub fn parse_orderby(raw: &str) -> Result<OrderBy, QueryError> {
    let clauses: Vec<&str> = raw.split(',').map(str::trim).collect();
    let [clause] = clauses.as_slice() else {
        return Err(QueryError::Unsupported(
            "Sorting by more than one property is not supported.".into(),
        ));
    };
    let mut words = clause.split_whitespace();
    let name = words
        .next()
        .ok_or_else(|| QueryError::Bad("$orderby names no property.".into()))?;
    let descending = match words.next().map(str::to_ascii_lowercase).as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(QueryError::Bad(format!(
                "Invalid sort direction '{}' in $orderby: use asc or desc.",
                clip(other)
            )));
        }
    };
    if words.next().is_some() {
        return Err(QueryError::Bad(format!(
            "Invalid $orderby clause '{}'.",
            clip(clause)
        )));
    }
    let property = UserProperty::from_graph_name(name).ok_or_else(|| unknown_property(name))?;
    if !property.sortable() {
        return Err(QueryError::Unsupported(format!(
            "Sorting by '{}' is not supported; sort by displayName, userPrincipalName or createdDateTime.",
            property.graph_name()
        )));
    }
    Ok(OrderBy {
        property,
        descending,
    })
}

/// `$search="property:word"`, as a filter matching users one of whose words in that
/// property starts with `word`.
pub fn parse_search(raw: &str) -> Result<Filter, QueryError> {
    let raw = raw.trim();
    let inner = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .ok_or_else(|| {
            QueryError::Bad(
                "Syntax error: $search must be a quoted clause such as \"displayName:word\"."
                    .into(),
            )
        })?;
    if inner.contains('"') {
        return Err(QueryError::Unsupported(
            "Combining several $search clauses is not supported.".into(),
        ));
    }
    let (name, word) = inner.split_once(':').ok_or_else(|| {
        QueryError::Bad(
            "Syntax error: $search needs a property, as in \"displayName:word\".".into(),
        )
    })?;
    let property =
        UserProperty::from_graph_name(name.trim()).ok_or_else(|| unknown_property(name))?;
    if property.kind() != PropertyKind::Text {
        return Err(QueryError::Unsupported(format!(
            "$search is not supported on '{}'.",
            property.graph_name()
        )));
    }
    let word = word.trim();
    if word.is_empty() || word.chars().count() > 256 {
        return Err(QueryError::Bad(
            "$search needs a word of 1 to 256 characters.".into(),
        ));
    }
    Ok(Filter::WordStartsWith {
        property,
        word: word.to_owned(),
    })
}

/// `$filter`.
pub fn parse_filter(raw: &str) -> Result<Filter, QueryError> {
    if raw.len() > MAX_FILTER_LEN {
        return Err(QueryError::Bad(format!(
            "Invalid filter clause: longer than {MAX_FILTER_LEN} characters."
        )));
    }
    let tokens = lex(raw)?;
    let mut p = Parser { tokens, pos: 0 };
    let filter = p.expr(0)?;
    if let Some(t) = p.peek() {
        return Err(syntax(&format!(
            "unexpected {} after the end",
            t.describe()
        )));
    }
    Ok(filter)
}

fn syntax(what: &str) -> QueryError {
    QueryError::Bad(format!("Invalid filter clause: {what}."))
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// A name: a property, an operator, a function, `true`/`false`/`null`, or an unquoted
    /// literal such as a date-time.
    Word(String),
    Str(String),
    Open,
    Close,
    Comma,
    Slash,
    Colon,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Self::Word(w) => format!("'{}'", clip(w)),
            Self::Str(s) => format!("the string '{}'", clip(s)),
            Self::Open => "'('".into(),
            Self::Close => "')'".into(),
            Self::Comma => "','".into(),
            Self::Slash => "'/'".into(),
            Self::Colon => "':'".into(),
        }
    }
}

fn lex(input: &str) -> Result<Vec<Token>, QueryError> {
    let mut out = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(_, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                out.push(Token::Open);
            }
            ')' => {
                chars.next();
                out.push(Token::Close);
            }
            ',' => {
                chars.next();
                out.push(Token::Comma);
            }
            '/' => {
                chars.next();
                out.push(Token::Slash);
            }
            ':' => {
                chars.next();
                out.push(Token::Colon);
            }
            '\'' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some((_, '\'')) => {
                            // '' is an escaped quote inside a string.
                            if chars.peek().is_some_and(|&(_, c)| c == '\'') {
                                chars.next();
                                s.push('\'');
                            } else {
                                break;
                            }
                        }
                        Some((_, c)) => s.push(c),
                        None => return Err(syntax("a string is not closed with '")),
                    }
                }
                out.push(Token::Str(s));
            }
            c if c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '+' | '$' | '@') => {
                let mut w = String::new();
                while let Some(&(_, c)) = chars.peek() {
                    // Date-times carry ':' and '+'; a name never does, so ':' belongs to a
                    // word only after a digit (12:30), which keeps lambdas (`x:x/…`) apart.
                    let time_colon =
                        c == ':' && w.chars().last().is_some_and(|l| l.is_ascii_digit());
                    if c.is_alphanumeric()
                        || matches!(c, '_' | '-' | '.' | '+' | '$' | '@')
                        || time_colon
                    {
                        w.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(Token::Word(w));
            }
            other => {
                return Err(syntax(&format!("unexpected character '{other}'")));
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

fn is_word(t: Option<&Token>, w: &str) -> bool {
    matches!(t, Some(Token::Word(x)) if x.eq_ignore_ascii_case(w))
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn expect(&mut self, want: &Token, context: &str) -> Result<(), QueryError> {
        match self.next() {
            Some(t) if &t == want => Ok(()),
            Some(t) => Err(syntax(&format!(
                "expected {} {context}, found {}",
                want.describe(),
                t.describe()
            ))),
            None => Err(syntax(&format!(
                "expected {} {context}, found the end",
                want.describe()
            ))),
        }
    }

    fn expr(&mut self, depth: usize) -> Result<Filter, QueryError> {
        if depth > MAX_DEPTH {
            return Err(QueryError::Unsupported(format!(
                "The filter nests deeper than {MAX_DEPTH} levels."
            )));
        }
        let mut left = self.and_expr(depth)?;
        while is_word(self.peek(), "or") {
            self.next();
            let right = self.and_expr(depth)?;
            left = Filter::Or(Box::new(left), Box::new(right));
            check_depth(&left)?;
        }
        Ok(left)
    }

    fn and_expr(&mut self, depth: usize) -> Result<Filter, QueryError> {
        let mut left = self.unary(depth)?;
        while is_word(self.peek(), "and") {
            self.next();
            let right = self.unary(depth)?;
            left = Filter::And(Box::new(left), Box::new(right));
            check_depth(&left)?;
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize) -> Result<Filter, QueryError> {
        if depth > MAX_DEPTH {
            return Err(QueryError::Unsupported(format!(
                "The filter nests deeper than {MAX_DEPTH} levels."
            )));
        }
        if is_word(self.peek(), "not") {
            self.next();
            let inner = self.unary(depth + 1)?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        self.primary(depth)
    }

    fn primary(&mut self, depth: usize) -> Result<Filter, QueryError> {
        match self.next() {
            Some(Token::Open) => {
                let inner = self.expr(depth + 1)?;
                self.expect(&Token::Close, "to close '('")?;
                Ok(inner)
            }
            Some(Token::Word(w))
                if w.eq_ignore_ascii_case("assignedLicenses")
                    && self.peek() == Some(&Token::Slash) =>
            {
                self.license_lambda()
            }
            Some(Token::Word(w)) if self.peek() == Some(&Token::Open) => self.function(&w),
            Some(Token::Word(name)) => self.comparison(&name),
            Some(t) => Err(syntax(&format!(
                "expected a property or a function, found {}",
                t.describe()
            ))),
            None => Err(syntax("the filter ends where a condition was expected")),
        }
    }

    /// `startswith(prop, 'x')`, `endswith(prop, 'x')`; anything else is unsupported.
    fn function(&mut self, name: &str) -> Result<Filter, QueryError> {
        let lower = name.to_ascii_lowercase();
        if !matches!(lower.as_str(), "startswith" | "endswith") {
            return Err(QueryError::Unsupported(format!(
                "The function '{}' is not supported in $filter; use startswith or endswith.",
                clip(name)
            )));
        }
        self.expect(&Token::Open, "after the function name")?;
        let property = match self.next() {
            Some(Token::Word(p)) => self.property(&p)?,
            Some(t) => {
                return Err(syntax(&format!(
                    "expected a property as {name}'s first argument, found {}",
                    t.describe()
                )));
            }
            None => return Err(syntax("the filter ends inside a function call")),
        };
        if property.kind() != PropertyKind::Text {
            return Err(QueryError::Unsupported(format!(
                "{name} is not supported on '{}'.",
                property.graph_name()
            )));
        }
        self.expect(&Token::Comma, "between the function's arguments")?;
        let value = match self.next() {
            Some(Token::Str(s)) => s,
            Some(t) => {
                return Err(syntax(&format!(
                    "expected a quoted string as {name}'s second argument, found {}",
                    t.describe()
                )));
            }
            None => return Err(syntax("the filter ends inside a function call")),
        };
        self.expect(&Token::Close, "to close the function call")?;
        // `startswith(…) eq true` is how some clients write it.
        if is_word(self.peek(), "eq") {
            self.next();
            match self.next() {
                Some(Token::Word(w)) if w.eq_ignore_ascii_case("true") => {}
                _ => {
                    return Err(QueryError::Unsupported(format!(
                        "Only '{name}(…) eq true' is supported."
                    )));
                }
            }
        }
        Ok(if lower == "startswith" {
            Filter::StartsWith {
                property,
                prefix: value,
            }
        } else {
            Filter::EndsWith {
                property,
                suffix: value,
            }
        })
    }

    /// `assignedLicenses/any(x:x/skuId eq {GUID})`, the one lambda Latchkey serves; the
    /// GUID may be quoted or not.
    fn license_lambda(&mut self) -> Result<Filter, QueryError> {
        let unsupported = || {
            QueryError::Unsupported(
                "This filter on assignedLicenses is not supported; use 'assignedLicenses/any(x:x/skuId eq {skuId})'."
                    .into(),
            )
        };
        self.expect(&Token::Slash, "after 'assignedLicenses'")?;
        match self.next() {
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("any") => {}
            _ => return Err(unsupported()),
        }
        self.expect(&Token::Open, "after 'any'")?;
        let var = match self.next() {
            Some(Token::Word(v)) => v,
            Some(Token::Close) => return Err(unsupported()),
            Some(t) => {
                return Err(syntax(&format!(
                    "expected a lambda variable in any(...), found {}",
                    t.describe()
                )));
            }
            None => return Err(syntax("the filter ends inside any(...)")),
        };
        self.expect(&Token::Colon, "after the lambda variable")?;
        match self.next() {
            Some(Token::Word(v)) if v == var => {}
            Some(t) => {
                return Err(syntax(&format!(
                    "expected the lambda variable '{}', found {}",
                    clip(&var),
                    t.describe()
                )));
            }
            None => return Err(syntax("the filter ends inside any(...)")),
        }
        self.expect(&Token::Slash, "after the lambda variable")?;
        match self.next() {
            Some(Token::Word(p)) if p.eq_ignore_ascii_case("skuId") => {}
            Some(Token::Word(p)) if p.eq_ignore_ascii_case("disabledPlans") => {
                return Err(unsupported());
            }
            Some(Token::Word(p)) => {
                return Err(QueryError::Bad(format!(
                    "Could not find a property named '{}' on type 'microsoft.graph.assignedLicense'.",
                    clip(&p)
                )));
            }
            _ => return Err(syntax("expected a property of the licence after '/'")),
        }
        if !is_word(self.peek(), "eq") {
            return Err(unsupported());
        }
        self.next();
        let value = match self.next() {
            Some(Token::Word(v) | Token::Str(v)) => v,
            Some(t) => {
                return Err(syntax(&format!(
                    "skuId is compared with {}; it needs a GUID",
                    t.describe()
                )));
            }
            None => return Err(syntax("skuId is compared with nothing")),
        };
        let sku = value.parse().map_err(|_| {
            QueryError::Bad(format!(
                "Invalid filter clause: skuId is compared with '{}'; it needs a GUID.",
                clip(&value)
            ))
        })?;
        self.expect(&Token::Close, "to close any(...)")?;
        Ok(Filter::HasLicense(sku))
    }

    /// A property name, refusing navigation (`a/b`) and lambdas.
    fn property(&mut self, name: &str) -> Result<UserProperty, QueryError> {
        if self.peek() == Some(&Token::Slash) {
            return Err(QueryError::Unsupported(format!(
                "Filtering on '{}/…' (collections and navigation, any(), all()) is not supported.",
                clip(name)
            )));
        }
        UserProperty::from_graph_name(name).ok_or_else(|| unknown_property(name))
    }

    fn comparison(&mut self, name: &str) -> Result<Filter, QueryError> {
        let property = self.property(name)?;
        let op = match self.next() {
            Some(Token::Word(op)) => op.to_ascii_lowercase(),
            Some(t) => {
                return Err(syntax(&format!(
                    "expected an operator after '{}', found {}",
                    property.graph_name(),
                    t.describe()
                )));
            }
            None => {
                return Err(syntax(&format!(
                    "expected an operator after '{}'",
                    property.graph_name()
                )));
            }
        };
        if op == "in" {
            self.expect(&Token::Open, "after 'in'")?;
            let mut values = Vec::new();
            loop {
                let token = self.next();
                values.push(literal(property, token)?);
                if values.len() > MAX_IN_VALUES {
                    return Err(QueryError::Unsupported(format!(
                        "At most {MAX_IN_VALUES} values are supported in 'in'."
                    )));
                }
                match self.next() {
                    Some(Token::Comma) => continue,
                    Some(Token::Close) => break,
                    Some(t) => {
                        return Err(syntax(&format!(
                            "expected ',' or ')' in the 'in' list, found {}",
                            t.describe()
                        )));
                    }
                    None => return Err(syntax("the 'in' list is not closed")),
                }
            }
            if values.iter().any(|v| matches!(v, Literal::Null)) {
                return Err(QueryError::Unsupported(
                    "null is not supported in an 'in' list.".into(),
                ));
            }
            return Ok(Filter::In { property, values });
        }
        let op = match op.as_str() {
            "eq" => Comparison::Eq,
            "ne" => Comparison::Ne,
            "ge" => Comparison::Ge,
            "le" => Comparison::Le,
            "gt" => Comparison::Gt,
            "lt" => Comparison::Lt,
            "has" | "add" | "sub" | "mul" | "div" | "mod" => {
                return Err(QueryError::Unsupported(format!(
                    "The operator '{op}' is not supported."
                )));
            }
            other => {
                return Err(syntax(&format!(
                    "'{}' is not an operator (use eq, ne, ge, le, in)",
                    clip(other)
                )));
            }
        };
        let value = literal(property, self.next())?;
        match (property.kind(), op, &value) {
            (_, Comparison::Eq | Comparison::Ne, _) => {}
            (PropertyKind::DateTime | PropertyKind::Text, _, Literal::Null) => {
                return Err(QueryError::Unsupported(
                    "null can only be compared with eq or ne.".into(),
                ));
            }
            (PropertyKind::DateTime | PropertyKind::Text, _, _) => {}
            (PropertyKind::Bool | PropertyKind::Id, _, _) => {
                return Err(QueryError::Unsupported(format!(
                    "Only eq and ne are supported on '{}'.",
                    property.graph_name()
                )));
            }
        }
        if property.kind() == PropertyKind::Id && matches!(value, Literal::Null) {
            return Err(QueryError::Unsupported("id is never null.".into()));
        }
        Ok(Filter::Compare {
            property,
            op,
            value,
        })
    }
}

fn check_depth(f: &Filter) -> Result<(), QueryError> {
    if f.depth() > MAX_DEPTH * 4 {
        return Err(QueryError::Unsupported(
            "The filter has too many conditions.".into(),
        ));
    }
    Ok(())
}

/// A literal of the property's kind.
fn literal(property: UserProperty, token: Option<Token>) -> Result<Literal, QueryError> {
    let name = property.graph_name();
    let wrong = |found: &str, want: &str| {
        QueryError::Bad(format!(
            "Invalid filter clause: '{name}' is compared with {found}; it needs {want}."
        ))
    };
    let token = token.ok_or_else(|| syntax(&format!("'{name}' is compared with nothing")))?;
    if let Token::Word(w) = &token
        && w.eq_ignore_ascii_case("null")
    {
        return Ok(Literal::Null);
    }
    match property.kind() {
        PropertyKind::Text => match token {
            Token::Str(s) => Ok(Literal::Text(s)),
            t => Err(wrong(&t.describe(), "a quoted string")),
        },
        PropertyKind::Bool => match token {
            Token::Word(w) if w.eq_ignore_ascii_case("true") => Ok(Literal::Bool(true)),
            Token::Word(w) if w.eq_ignore_ascii_case("false") => Ok(Literal::Bool(false)),
            t => Err(wrong(&t.describe(), "true or false")),
        },
        PropertyKind::Id => {
            let text = match token {
                Token::Str(s) | Token::Word(s) => s,
                t => return Err(wrong(&t.describe(), "a GUID")),
            };
            text.parse::<UserId>()
                .map(Literal::Id)
                .map_err(|_| wrong(&format!("'{}'", clip(&text)), "a GUID"))
        }
        PropertyKind::DateTime => {
            let text = match token {
                Token::Word(s) | Token::Str(s) => s,
                t => return Err(wrong(&t.describe(), "a date-time")),
            };
            DateTime::parse_from_rfc3339(&text)
                .map(|t| Literal::DateTime(t.with_timezone(&Utc)))
                .map_err(|_| {
                    wrong(
                        &format!("'{}'", clip(&text)),
                        "a date-time such as 2026-01-31T00:00:00Z",
                    )
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(p: UserProperty, s: &str) -> Literal {
        let _ = p;
        Literal::Text(s.into())
    }

    fn cmp(property: UserProperty, op: Comparison, value: Literal) -> Filter {
        Filter::Compare {
            property,
            op,
            value,
        }
    }

    #[test]
    fn eq_on_text_bool_id_and_dates_parses_into_typed_literals() {
        use UserProperty::*;
        assert_eq!(
            parse_filter("displayName eq 'Ada Lovelace'").unwrap(),
            cmp(
                DisplayName,
                Comparison::Eq,
                text(DisplayName, "Ada Lovelace")
            )
        );
        assert_eq!(
            parse_filter("accountEnabled eq true").unwrap(),
            cmp(AccountEnabled, Comparison::Eq, Literal::Bool(true))
        );
        let id = "a0000000-0000-0000-0000-000000000001";
        assert_eq!(
            parse_filter(&format!("id eq '{id}'")).unwrap(),
            cmp(Id, Comparison::Eq, Literal::Id(id.parse().unwrap()))
        );
        let f = parse_filter("createdDateTime ge 2026-01-31T10:20:30Z").unwrap();
        assert!(matches!(
            f,
            Filter::Compare {
                property: CreatedDateTime,
                op: Comparison::Ge,
                value: Literal::DateTime(_)
            }
        ));
        assert!(parse_filter("createdDateTime le 2026-01-31T10:20:30+01:00").is_ok());
    }

    #[test]
    fn every_operator_and_function_parses() {
        for (input, advanced) in [
            ("mail ne 'x@y.z'", true),
            ("startswith(displayName,'a')", false),
            ("startsWith(displayName, 'a') eq true", false),
            ("endswith(mail,'@contoso.test')", true),
            ("userPrincipalName in ('a@b.c', 'd@e.f')", false),
            ("not(accountEnabled eq true)", true),
            ("givenName eq null", true),
            ("department ne null", true),
            (
                "accountEnabled eq true and startswith(displayName,'a')",
                false,
            ),
            ("accountEnabled eq false or jobTitle eq 'CEO'", false),
            ("employeeHireDate le 2026-01-01T00:00:00Z", false),
        ] {
            let f = parse_filter(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(f.is_advanced(), advanced, "{input}");
        }
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_regroup() {
        use UserProperty::*;
        let a = || cmp(City, Comparison::Eq, text(City, "a"));
        let b = || cmp(City, Comparison::Eq, text(City, "b"));
        let c = || cmp(City, Comparison::Eq, text(City, "c"));
        assert_eq!(
            parse_filter("city eq 'a' or city eq 'b' and city eq 'c'").unwrap(),
            Filter::Or(
                Box::new(a()),
                Box::new(Filter::And(Box::new(b()), Box::new(c())))
            )
        );
        assert_eq!(
            parse_filter("(city eq 'a' or city eq 'b') and city eq 'c'").unwrap(),
            Filter::And(
                Box::new(Filter::Or(Box::new(a()), Box::new(b()))),
                Box::new(c())
            )
        );
    }

    #[test]
    fn quotes_are_escaped_by_doubling_them() {
        assert_eq!(
            parse_filter("surname eq 'O''Brien'").unwrap(),
            cmp(
                UserProperty::Surname,
                Comparison::Eq,
                Literal::Text("O'Brien".into())
            )
        );
    }

    #[test]
    fn property_and_operator_names_are_case_insensitive() {
        assert!(parse_filter("DISPLAYNAME EQ 'x' AND AccountEnabled Eq TRUE").is_ok());
    }

    #[test]
    fn unknown_properties_are_bad_requests_naming_them() {
        for input in [
            "shoeSize eq '42'",
            "startswith(shoeSize,'4')",
            "shoeSize in ('1')",
        ] {
            match parse_filter(input) {
                Err(QueryError::Bad(m)) => assert!(m.contains("shoeSize"), "{input}: {m}"),
                other => panic!("{input}: {other:?}"),
            }
        }
    }

    #[test]
    fn unsupported_shapes_are_unsupported_queries() {
        for input in [
            "assignedLicenses/any()",
            "assignedLicenses/all(x:x/skuId eq 6fd2c87f-b296-42f0-b197-1e91e994b900)",
            "assignedLicenses/any(x:x/skuId ne 6fd2c87f-b296-42f0-b197-1e91e994b900)",
            "contains(displayName,'a')",
            "startswith(accountEnabled,'t')",
            "accountEnabled ge true",
            "id gt 'a0000000-0000-0000-0000-000000000001'",
            "city has 'x'",
            "startswith(displayName,'a') eq false",
            "city in ('a', null)",
            "city ge null",
        ] {
            assert!(
                matches!(parse_filter(input), Err(QueryError::Unsupported(_))),
                "{input}: {:?}",
                parse_filter(input)
            );
        }
    }

    #[test]
    fn malformed_filters_are_bad_requests_saying_what_is_wrong() {
        for (input, says) in [
            ("", "ends where a condition"),
            ("displayName eq", "compared with nothing"),
            ("displayName eq 'unterminated", "not closed"),
            ("displayName eq 'a' and", "ends where a condition"),
            ("(displayName eq 'a'", "to close '('"),
            ("displayName eq 'a')", "after the end"),
            ("displayName equals 'a'", "is not an operator"),
            ("accountEnabled eq 'yes'", "true or false"),
            ("displayName eq 42", "quoted string"),
            ("createdDateTime ge yesterday", "date-time"),
            ("id eq 'not-a-guid'", "GUID"),
            (
                "displayName eq 'a' ; drop table users",
                "unexpected character",
            ),
            ("city in 'a'", "expected '('"),
            ("city in ('a' 'b')", "expected ',' or ')'"),
        ] {
            match parse_filter(input) {
                Err(QueryError::Bad(m)) => assert!(m.contains(says), "{input}: {m}"),
                other => panic!("{input}: {other:?}"),
            }
        }
    }

    #[test]
    fn deep_nesting_is_refused_without_exhausting_the_stack() {
        let deep = format!("{}city eq 'a'{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse_filter(&deep).is_err());
        let nots = format!("{}city eq 'a'", "not ".repeat(1000));
        assert!(parse_filter(&nots).is_err());
        let long = vec!["city eq 'a'"; 1000].join(" or ");
        assert!(parse_filter(&long).is_err());
    }

    /// A broad table of garbage: the parser answers every input with a value or an error,
    /// never a panic.
    #[test]
    fn garbage_never_panics() {
        let pieces = [
            "(",
            ")",
            "'",
            "''",
            ",",
            "/",
            ":",
            " ",
            "eq",
            "ne",
            "in",
            "not",
            "and",
            "or",
            "any",
            "x",
            "displayName",
            "accountEnabled",
            "id",
            "createdDateTime",
            "true",
            "null",
            "startswith",
            "endswith",
            "'a'",
            "2026-01-01T00:00:00Z",
            "é",
            "\u{0}",
            "\u{10FFFF}",
            "%",
            "$",
            "@",
            "-",
            "+",
            "9999999999999999999999",
        ];
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            let mut input = String::new();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 12) as usize;
            for i in 0..len {
                let k = ((seed >> (i * 5)) as usize).wrapping_add(i * 7) % pieces.len();
                input.push_str(pieces[k]);
                if (seed >> i) & 1 == 1 {
                    input.push(' ');
                }
            }
            let _ = parse_filter(&input);
            let _ = parse_orderby(&input);
            let _ = parse_search(&input);
            let _ = parse_top(&input);
        }
    }

    #[test]
    fn top_is_between_1_and_999() {
        assert_eq!(parse_top("1").unwrap(), 1);
        assert_eq!(parse_top("999").unwrap(), 999);
        for bad in ["0", "1000", "-1", "ten", ""] {
            assert!(parse_top(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn orderby_takes_one_sortable_property_and_a_direction() {
        assert_eq!(
            parse_orderby("displayName desc").unwrap(),
            OrderBy {
                property: UserProperty::DisplayName,
                descending: true
            }
        );
        assert!(matches!(
            parse_orderby("city"),
            Err(QueryError::Unsupported(_))
        ));
        assert!(matches!(
            parse_orderby("displayName,userPrincipalName"),
            Err(QueryError::Unsupported(_))
        ));
        assert!(matches!(
            parse_orderby("displayName sideways"),
            Err(QueryError::Bad(_))
        ));
        assert!(matches!(parse_orderby("shoeSize"), Err(QueryError::Bad(_))));
    }

    #[test]
    fn search_takes_one_quoted_property_clause() {
        assert_eq!(
            parse_search("\"displayName:ada\"").unwrap(),
            Filter::WordStartsWith {
                property: UserProperty::DisplayName,
                word: "ada".into()
            }
        );
        assert!(matches!(
            parse_search("displayName:ada"),
            Err(QueryError::Bad(_))
        ));
        assert!(matches!(
            parse_search("\"displayName:a\" OR \"mail:b\""),
            Err(QueryError::Unsupported(_))
        ));
        assert!(matches!(
            parse_search("\"accountEnabled:true\""),
            Err(QueryError::Unsupported(_))
        ));
    }

    #[test]
    fn the_licence_lambda_becomes_a_licence_filter_quoted_or_not() {
        let sku = "6fd2c87f-b296-42f0-b197-1e91e994b900";
        for input in [
            format!("assignedLicenses/any(x:x/skuId eq {sku})"),
            format!("assignedlicenses/any(s: s/skuid eq '{sku}')"),
        ] {
            assert_eq!(
                parse_filter(&input).unwrap(),
                Filter::HasLicense(sku.parse().unwrap()),
                "{input}"
            );
        }
        let combined = parse_filter(&format!(
            "accountEnabled eq true and assignedLicenses/any(x:x/skuId eq {sku})"
        ))
        .unwrap();
        assert!(matches!(combined, Filter::And(..)));
        assert!(!combined.is_advanced());
        for (input, says) in [
            ("assignedLicenses/any(x:x/skuId eq 'E3')", "GUID"),
            ("assignedLicenses/any(x:y/skuId eq 'E3')", "lambda variable"),
            ("assignedLicenses/any(x:x/shoeSize eq 'E3')", "shoeSize"),
            ("assignedLicenses/any(x:x/skuId eq", "nothing"),
        ] {
            match parse_filter(input) {
                Err(QueryError::Bad(m)) => assert!(m.contains(says), "{input}: {m}"),
                other => panic!("{input}: {other:?}"),
            }
        }
    }
}
