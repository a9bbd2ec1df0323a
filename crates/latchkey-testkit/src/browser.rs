//! An in-process browser for tests of server-rendered pages: it sends requests through an
//! axum `Router` (no socket), keeps the cookies the pages set and sends them back, and reads
//! forms' hidden fields out of the HTML.

use std::collections::HashMap;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use tower::ServiceExt;

/// A response as the browser got it.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// Every `Set-Cookie` header of the response, as sent.
    pub set_cookies: Vec<String>,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers[header::LOCATION].to_str().unwrap()
    }

    /// The query parameters of the redirect's `Location`.
    pub fn query(&self) -> HashMap<String, String> {
        let q = self.location().split_once('?').unwrap().1;
        serde_urlencoded::from_str(q).unwrap()
    }

    /// The value of the first form field `name` on the page (HTML-unescaped).
    pub fn hidden(&self, name: &str) -> String {
        self.field(name)
            .unwrap_or_else(|| panic!("no field {name} in {}", self.body))
    }

    pub fn field(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker)? + marker.len();
        let end = start + self.body[start..].find('"')?;
        Some(unescape(&self.body[start..end]))
    }

    /// The value of the input with this id (HTML-unescaped).
    pub fn input(&self, id: &str) -> String {
        let at = self
            .body
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no #{id} in {}", self.body));
        let rest = &self.body[at..];
        let start = rest.find("value=\"").unwrap() + 7;
        let end = start + rest[start..].find('"').unwrap();
        unescape(&rest[start..end])
    }

    /// The text inside the element with this id, up to its first tag (HTML-unescaped).
    pub fn text(&self, id: &str) -> String {
        let at = self
            .body
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no #{id} in {}", self.body));
        let rest = &self.body[at..];
        let start = rest.find('>').unwrap() + 1;
        let end = start + rest[start..].find('<').unwrap();
        unescape(&rest[start..end])
    }

    /// The value of the first `href` that follows `id="{id}"`... or precedes it, in the
    /// same tag (HTML-unescaped).
    pub fn link(&self, id: &str) -> Option<String> {
        let at = self.body.find(&format!("id=\"{id}\""))?;
        let tag_start = self.body[..at].rfind('<')?;
        let tag_end = at + self.body[at..].find('>')?;
        let tag = &self.body[tag_start..tag_end];
        let h = tag.find("href=\"")? + 6;
        let e = h + tag[h..].find('"')?;
        Some(unescape(&tag[h..e]))
    }
}

pub fn unescape(s: &str) -> String {
    s.replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

/// A browser: it keeps cookies and sends them back.
#[derive(Debug, Default, Clone)]
pub struct Browser {
    pub cookies: HashMap<String, String>,
    /// The server's public address, if it has one: a `get` of an address under it goes to
    /// the path (the router sees no host).
    pub origin: Option<String>,
}

impl Browser {
    /// A browser for a server whose public address is `origin`.
    pub fn at(origin: &str) -> Self {
        Self {
            origin: Some(origin.to_owned()),
            ..Self::default()
        }
    }

    pub async fn send(&mut self, app: &Router, req: Request<Body>) -> Page {
        let mut req = req;
        if !self.cookies.is_empty() {
            let c: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req.headers_mut()
                .insert(header::COOKIE, c.join("; ").parse().unwrap());
        }
        let r = app.clone().oneshot(req).await.unwrap();
        let mut set_cookies = vec![];
        for c in r.headers().get_all(header::SET_COOKIE) {
            let c = c.to_str().unwrap();
            set_cookies.push(c.to_owned());
            let (pair, _) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() || c.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        let status = r.status();
        let headers = r.headers().clone();
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        Page {
            status,
            headers,
            set_cookies,
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    }

    pub async fn get(&mut self, app: &Router, uri: &str) -> Page {
        let uri = match &self.origin {
            Some(origin) => uri.strip_prefix(origin.as_str()).unwrap_or(uri),
            None => uri,
        };
        self.send(app, Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    /// Signs in to the web surface at `start` (such as `/admin`) through the identity
    /// platform's own sign-in page in `tenant`, as a person would: the redirect to the
    /// sign-in page, the form with its CSRF token, the code back to the callback. Returns the
    /// page at `start` once signed in.
    pub async fn sign_in(
        &mut self,
        app: &Router,
        start: &str,
        tenant: &str,
        username: &str,
        password: &str,
    ) -> Page {
        let first = self.get(app, start).await;
        assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
        let page = self.get(app, first.location()).await;
        let csrf = page.hidden("csrf");
        let request = page.hidden("request");
        let done = self
            .post(
                app,
                &format!("/{tenant}/login"),
                &[
                    ("csrf", csrf.as_str()),
                    ("request", request.as_str()),
                    ("username", username),
                    ("password", password),
                ],
            )
            .await;
        assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
        let back = self.get(app, done.location()).await;
        assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
        let home = self.get(app, start).await;
        assert_eq!(home.status, StatusCode::OK, "{}", home.body);
        home
    }

    pub async fn post(&mut self, app: &Router, uri: &str, form: &[(&str, &str)]) -> Page {
        let body = serde_urlencoded::to_string(form).unwrap();
        let req = Request::post(uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        self.send(app, req).await
    }
}
