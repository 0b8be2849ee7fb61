//! An HTTP/1.1 client for the OCI distribution API that follows the Docker
//! token flow (`401` + `WWW-Authenticate: Bearer realm=..,service=..,scope=..`
//! → `GET realm` with Basic credentials → a token, cached per scope) and
//! plain Basic authentication, so one run can target any registry.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Any error.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// A result with any error.
pub(crate) type Res<T> = Result<T, BoxError>;
/// A request body.
pub(crate) type Body = UnsyncBoxBody<Bytes, BoxError>;

/// An empty body.
pub(crate) fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A body held in memory.
pub(crate) fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A streamed body made of `chunks`, produced as hyper asks for them.
pub(crate) fn frames<I>(chunks: I) -> Body
where
    I: Iterator<Item = Bytes> + Send + 'static,
{
    StreamBody::new(futures::stream::iter(
        chunks.map(|b| Ok::<_, BoxError>(Frame::data(b))),
    ))
    .boxed_unsync()
}

/// How the registry wants requests authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Auth {
    /// No authentication.
    Open,
    /// Basic credentials on every request.
    Basic,
    /// Tokens from a token service.
    Bearer {
        /// The token service URL.
        realm: String,
        /// The `service` to ask tokens for.
        service: String,
    },
}

impl Auth {
    /// The token flow a Bearer challenge's parameters describe.
    fn bearer(params: &HashMap<String, String>) -> Res<Auth> {
        Ok(Auth::Bearer {
            realm: params
                .get("realm")
                .cloned()
                .ok_or("a Bearer challenge without realm")?,
            service: params.get("service").cloned().unwrap_or_default(),
        })
    }
}

/// The parsed `WWW-Authenticate` challenge of a response, if it has one.
fn challenge(resp: &Response<Incoming>) -> Option<(String, HashMap<String, String>)> {
    resp.headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_challenge)
}

/// A registry at one base URL.
pub(crate) struct Registry {
    base: url::Url,
    client: Client<HttpConnector, Body>,
    basic: Option<String>,
    auth: Mutex<Auth>,
    tokens: Mutex<HashMap<String, String>>,
}

/// Parses a `WWW-Authenticate` challenge into its scheme (lower case) and parameters.
pub(crate) fn parse_challenge(h: &str) -> Option<(String, HashMap<String, String>)> {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let mut params = HashMap::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let (k, r) = s.split_once('=')?;
        let r = r.trim_start();
        let (v, r) = if let Some(r) = r.strip_prefix('"') {
            let end = r.find('"')?;
            (&r[..end], &r[end + 1..])
        } else {
            match r.find(',') {
                Some(i) => (&r[..i], &r[i..]),
                None => (r, ""),
            }
        };
        params.insert(k.trim().to_ascii_lowercase(), v.to_owned());
        s = r.trim_start().trim_start_matches(',').trim_start();
    }
    Some((scheme.to_ascii_lowercase(), params))
}

/// Reads a small body whole.
pub(crate) async fn read_body(resp: Response<Incoming>) -> Res<Bytes> {
    Ok(resp.into_body().collect().await?.to_bytes())
}

/// `resp` if its status is one of `ok`; otherwise an error naming `what`.
pub(crate) async fn expect(
    resp: Response<Incoming>,
    ok: &[u16],
    what: &str,
) -> Res<Response<Incoming>> {
    let status = resp.status();
    if ok.contains(&status.as_u16()) {
        return Ok(resp);
    }
    let body = read_body(resp).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
    Err(format!("{what}: {status}: {text}").into())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Registry {
    /// A client for the registry at `url`, with optional credentials; asks
    /// `/v2/` how it authenticates.
    pub(crate) async fn connect(
        url: &str,
        user: Option<&str>,
        password: Option<&str>,
    ) -> Res<Registry> {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(1024)
            .build(http);
        let basic = user.map(|u| {
            format!(
                "Basic {}",
                STANDARD.encode(format!("{u}:{}", password.unwrap_or("")))
            )
        });
        let reg = Registry {
            base: url::Url::parse(url.trim_end_matches('/'))?,
            client,
            basic,
            auth: Mutex::new(Auth::Open),
            tokens: Mutex::new(HashMap::new()),
        };
        let resp = reg
            .client
            .request(Request::get(reg.url("/v2/")).body(empty())?)
            .await?;
        let status = resp.status();
        let challenge = challenge(&resp);
        read_body(resp).await?;
        let auth = match (status, challenge) {
            (StatusCode::OK, _) => Auth::Open,
            (StatusCode::UNAUTHORIZED, Some((scheme, p))) if scheme == "bearer" => {
                Auth::bearer(&p)?
            }
            (StatusCode::UNAUTHORIZED, Some((scheme, _))) if scheme == "basic" => Auth::Basic,
            (s, _) => return Err(format!("GET /v2/ answered {s}").into()),
        };
        *lock(&reg.auth) = auth;
        Ok(reg)
    }

    /// How the registry authenticates.
    pub(crate) fn auth(&self) -> Auth {
        lock(&self.auth).clone()
    }

    /// `path` on the registry.
    pub(crate) fn url(&self, path: &str) -> String {
        let mut base = self.base.as_str().trim_end_matches('/').to_owned();
        base.push_str(path);
        base
    }

    /// A `Location` (absolute or relative) resolved against the registry.
    pub(crate) fn resolve(&self, location: &str) -> Res<String> {
        Ok(self.base.join(location)?.to_string())
    }

    /// The resolved `Location` header of `resp`.
    pub(crate) fn location(&self, resp: &Response<Incoming>) -> Res<String> {
        let loc = resp
            .headers()
            .get("location")
            .ok_or("no Location in the answer")?
            .to_str()?;
        self.resolve(loc)
    }

    /// The token request URL for `scope`, when the registry has a token service.
    pub(crate) fn token_url(&self, scope: &str) -> Res<Option<String>> {
        let Auth::Bearer { realm, service } = self.auth() else {
            return Ok(None);
        };
        let mut u = url::Url::parse(&realm)?;
        {
            let mut q = u.query_pairs_mut();
            if !service.is_empty() {
                q.append_pair("service", &service);
            }
            if !scope.is_empty() {
                q.append_pair("scope", scope);
            }
        }
        Ok(Some(u.to_string()))
    }

    /// Asks the token service at `url` (from [`Registry::token_url`]) for a token.
    pub(crate) async fn fetch_token(&self, url: &str) -> Res<String> {
        let mut req = Request::get(url);
        if let Some(b) = &self.basic {
            req = req.header("authorization", b);
        }
        let resp = self.client.request(req.body(empty())?).await?;
        let resp = expect(resp, &[200], "token").await?;
        let body = read_body(resp).await?;
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        v.get("token")
            .or_else(|| v.get("access_token"))
            .and_then(|t| t.as_str())
            .map(str::to_owned)
            .ok_or_else(|| "no token in the token service's answer".into())
    }

    /// Gets (and caches) a token for `scope` before the clock starts, so a
    /// measured request never pays for the token flow.
    pub(crate) async fn authorize(&self, scope: &str) -> Res<()> {
        if let Some(url) = self.token_url(scope)? {
            let token = self.fetch_token(&url).await?;
            lock(&self.tokens).insert(scope.to_owned(), token);
        }
        Ok(())
    }

    fn authorization(&self, scope: &str) -> Option<String> {
        match self.auth() {
            Auth::Open => None,
            Auth::Basic => self.basic.clone(),
            Auth::Bearer { .. } => lock(&self.tokens).get(scope).map(|t| format!("Bearer {t}")),
        }
    }

    /// Sends a request needing `scope`; on `401` follows the challenge once
    /// (fetching a token or switching to Basic) and sends it again with a
    /// fresh body from `body`.
    pub(crate) async fn send<F>(
        &self,
        method: Method,
        url: &str,
        scope: &str,
        headers: &[(&str, &str)],
        body: F,
    ) -> Res<Response<Incoming>>
    where
        F: Fn() -> Body,
    {
        for attempt in 0..2 {
            let mut req = Request::builder().method(method.clone()).uri(url);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            if let Some(a) = self.authorization(scope) {
                req = req.header("authorization", a);
            }
            let resp = self.client.request(req.body(body())?).await?;
            if resp.status() != StatusCode::UNAUTHORIZED || attempt == 1 {
                return Ok(resp);
            }
            let challenge = challenge(&resp);
            read_body(resp).await?;
            match challenge {
                Some((scheme, p)) if scheme == "bearer" => {
                    *lock(&self.auth) = Auth::bearer(&p)?;
                    let wanted = p.get("scope").map_or(scope, String::as_str);
                    let url = self.token_url(wanted)?.ok_or("no token service")?;
                    let token = self.fetch_token(&url).await?;
                    lock(&self.tokens).insert(scope.to_owned(), token);
                }
                Some((scheme, _)) if scheme == "basic" && self.basic.is_some() => {
                    *lock(&self.auth) = Auth::Basic;
                }
                _ => return Err(format!("{method} {url}: 401 without a usable challenge").into()),
            }
        }
        Err("unreachable: the request was sent twice".into())
    }

    /// Whether the registry speaks Harbor's API (`/api/v2.0/systeminfo`).
    pub(crate) async fn is_harbor(&self) -> Res<bool> {
        let resp = self
            .client
            .request(Request::get(self.url("/api/v2.0/systeminfo")).body(empty())?)
            .await?;
        let ok = resp.status().is_success();
        read_body(resp).await?;
        Ok(ok)
    }

    /// Creates a public Harbor project (as the configured user); an existing
    /// one is fine.
    pub(crate) async fn create_project(&self, name: &str) -> Res<()> {
        let body = serde_json::json!({"project_name": name, "metadata": {"public": "true"}});
        let mut req = Request::post(self.url("/api/v2.0/projects"))
            .header("content-type", "application/json");
        if let Some(b) = &self.basic {
            req = req.header("authorization", b);
        }
        let resp = self
            .client
            .request(req.body(full(body.to_string()))?)
            .await?;
        expect(resp, &[200, 201, 409], "create project").await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse_challenge;

    #[test]
    fn challenges_parse_with_commas_inside_quotes() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="http://h/service/token",service="harbor-registry",scope="repository:a/b:pull,push""#,
        )
        .unwrap_or_default();
        assert_eq!(s, "bearer");
        assert_eq!(
            p.get("realm").map(String::as_str),
            Some("http://h/service/token")
        );
        assert_eq!(
            p.get("scope").map(String::as_str),
            Some("repository:a/b:pull,push")
        );
        let (s, p) = parse_challenge(r#"Basic realm="harbor""#).unwrap_or_default();
        assert_eq!((s.as_str(), p.len()), ("basic", 1));
    }
}
