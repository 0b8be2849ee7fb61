//! The portal as a browser without script sees it: signing in through its
//! form, pages with the session's cookies, forms posted with or without
//! the session's CSRF token.

#![allow(clippy::unwrap_used)]

use super::{request, Resp, TestServer};

/// A browser's session: its cookies and CSRF token.
pub struct Session {
    /// The `Cookie` header the browser sends.
    pub cookie: String,
    /// The session's CSRF token.
    pub csrf: String,
}

/// The `Set-Cookie` values of an answer.
pub fn set_cookies(r: &Resp) -> Vec<String> {
    r.headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// `name`'s value in `Set-Cookie` headers.
pub fn cookie_value(cookies: &[String], name: &str) -> String {
    cookies
        .iter()
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .map(|rest| rest.split(';').next().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no {name} cookie in {cookies:?}"))
}

/// Signs `user` in through the portal's form.
pub async fn sign_in(s: &TestServer, user: &str, password: &str) -> Session {
    let body = format!("principal={user}&password={password}");
    let r = request(
        "POST",
        &format!("{}/c/login", s.base),
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("accept", "text/html"),
        ],
        body,
    )
    .await;
    assert_eq!(r.status, 303, "{}", text(&r));
    let cookies = set_cookies(&r);
    let sid = cookie_value(&cookies, "sid");
    let csrf = cookie_value(&cookies, "__csrf");
    Session {
        cookie: format!("sid={sid}; __csrf={csrf}"),
        csrf,
    }
}

/// A page as the session's browser gets it.
pub async fn page(s: &TestServer, session: &Session, path: &str) -> Resp {
    request(
        "GET",
        &format!("{}{path}", s.base),
        &[("cookie", &session.cookie), ("accept", "text/html")],
        "",
    )
    .await
}

/// A form posted by the session's browser, exactly as given (a test of
/// the CSRF check leaves the token out).
pub async fn post_form(s: &TestServer, session: &Session, path: &str, form: &str) -> Resp {
    request(
        "POST",
        &format!("{}{path}", s.base),
        &[
            ("cookie", &session.cookie),
            ("content-type", "application/x-www-form-urlencoded"),
            ("accept", "text/html"),
        ],
        form.to_owned(),
    )
    .await
}

/// A form posted by the session's browser with the session's CSRF token,
/// as the portal's own forms carry it.
pub async fn submit(s: &TestServer, session: &Session, path: &str, form: &str) -> Resp {
    post_form(s, session, path, &format!("{form}&_csrf={}", session.csrf)).await
}

/// An answer's body as text.
pub fn text(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}
