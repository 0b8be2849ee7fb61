//! A real OpenID Provider for the OIDC tests (npm's `oidc-provider`, run
//! by node with `tests/oidc/provider.mjs`; `bash scripts/test` installs it
//! and exports `HARBOR_OIDC_PROVIDER_MODULE`), and a cookie-keeping HTTP
//! client that walks the browser flow.

#![allow(clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The client registered at the provider.
pub const CLIENT_ID: &str = "harbor";
/// Its secret.
pub const CLIENT_SECRET: &str = "harbor-client-secret";

/// A running provider; dropping it kills it by its PID.
pub struct OidcProvider {
    child: Child,
    /// `http://127.0.0.1:PORT`, its issuer.
    pub issuer: String,
}

impl OidcProvider {
    /// Starts one on a free port accepting `redirect_uri`, its access
    /// tokens lasting `access_ttl`, and waits for its discovery document.
    pub async fn start(redirect_uri: &str, access_ttl: Duration) -> OidcProvider {
        let module = std::env::var("HARBOR_OIDC_PROVIDER_MODULE").unwrap_or_else(|_| {
            let home = std::env::var("HOME").unwrap_or_default();
            format!("{home}/.cache/harbor-rs/node/node_modules/oidc-provider")
        });
        assert!(
            std::path::Path::new(&module).join("package.json").exists(),
            "oidc-provider is not installed at {module}: run bash scripts/test (it installs it)"
        );
        let port = super::distribution::free_port();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oidc/provider.mjs");
        let child = Command::new("node")
            .arg(script)
            .env("OIDC_PROVIDER_MODULE", &module)
            .env("OIDC_PORT", port.to_string())
            .env("OIDC_REDIRECT_URIS", redirect_uri)
            .env("OIDC_ACCESS_TTL", access_ttl.as_secs().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start node {script}: {e}"));
        let issuer = format!("http://127.0.0.1:{port}");
        let provider = OidcProvider { child, issuer };
        let client = client();
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = format!("{}/.well-known/openid-configuration", provider.issuer);
        loop {
            if let Ok(r) = client.get(&url).send().await {
                if r.status().is_success() {
                    return provider;
                }
            }
            assert!(
                Instant::now() < deadline,
                "oidc-provider never answered {url}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn control(&self, what: &str, account: &str) {
        let r = client()
            .post(format!("{}/test/{what}?account={account}", self.issuer))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
    }

    /// Makes `account` unknown to the provider, as if deleted there.
    pub async fn remove(&self, account: &str) {
        self.control("remove", account).await;
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A reqwest client builder, with the workspace's crypto provider installed.
pub fn client_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

/// A plain reqwest client.
pub fn client() -> reqwest::Client {
    client_builder().build().unwrap()
}

/// One step of a walk: where it went and what came back.
#[derive(Debug)]
pub struct Step {
    pub url: String,
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

/// A browser: keeps cookies, follows redirects one by one (so a test can
/// see and stop at each).
pub struct Browser {
    pub client: reqwest::Client,
    pub jar: Arc<reqwest::cookie::Jar>,
}

impl Browser {
    pub fn new() -> Browser {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let client = client_builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Browser { client, jar }
    }

    /// The value of cookie `name` the browser would send to `url`.
    pub fn cookie(&self, url: &str, name: &str) -> Option<String> {
        use reqwest::cookie::CookieStore;
        let header = self.jar.cookies(&url.parse().unwrap())?;
        header
            .to_str()
            .ok()?
            .split(';')
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
    }

    async fn one(&self, method: &str, url: &str, form: Option<&[(&str, &str)]>) -> Step {
        let req = match form {
            Some(f) => self.client.request(method.parse().unwrap(), url).form(f),
            None => self.client.request(method.parse().unwrap(), url),
        };
        let r = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = r.status().as_u16();
        let location = r.headers().get("location").map(|l| {
            let base: reqwest::Url = url.parse().unwrap();
            base.join(l.to_str().unwrap()).unwrap().to_string()
        });
        let body = r.text().await.unwrap_or_default();
        Step {
            url: url.to_owned(),
            status,
            location,
            body,
        }
    }

    /// Sends `method url` (with `form`), then follows redirects with GET
    /// until an answer that is not one or `stop` says to stop at the next
    /// location; every step.
    pub async fn walk(
        &self,
        method: &str,
        url: &str,
        form: Option<&[(&str, &str)]>,
        stop: impl Fn(&str) -> bool,
    ) -> Vec<Step> {
        let mut steps = vec![self.one(method, url, form).await];
        for _ in 0..20 {
            let Some(next) = steps.last().and_then(|s| s.location.clone()) else {
                return steps;
            };
            if stop(&next) {
                return steps;
            }
            steps.push(self.one("GET", &next, None).await);
        }
        panic!("too many redirects: {steps:?}");
    }

    /// Signs in at the provider as `account` from `start` (the server's
    /// `/c/oidc/login`), submitting its login and consent forms; stops
    /// before the provider's redirect to `callback_prefix`, returning that
    /// callback URL.
    pub async fn to_callback(
        &self,
        start: &str,
        callback_prefix: &str,
        account: &str,
        password: &str,
    ) -> String {
        let at_callback = |u: &str| u.starts_with(callback_prefix);
        let steps = self.walk("GET", start, None, at_callback).await;
        let form = steps.last().unwrap();
        assert_eq!(form.status, 200, "expected the login form: {steps:?}");
        assert!(
            form.body.contains("/login\""),
            "not a login form: {}",
            form.body
        );
        let login_url = format!("{}/login", form.url);
        let steps = self
            .walk(
                "POST",
                &login_url,
                Some(&[("login", account), ("password", password)]),
                at_callback,
            )
            .await;
        let last = steps.last().unwrap();
        if let Some(l) = last.location.as_deref().filter(|l| at_callback(l)) {
            return l.to_owned();
        }
        assert_eq!(last.status, 200, "expected the consent form: {steps:?}");
        assert!(
            last.body.contains("/confirm\""),
            "not a consent form: {}",
            last.body
        );
        let confirm = format!("{}/confirm", last.url);
        let steps = self.walk("POST", &confirm, Some(&[]), at_callback).await;
        steps
            .last()
            .and_then(|s| s.location.clone())
            .filter(|l| at_callback(l))
            .unwrap_or_else(|| panic!("the provider did not send the browser back: {steps:?}"))
    }
}
