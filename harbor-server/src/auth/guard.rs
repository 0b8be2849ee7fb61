//! The `/v2/` guard: every request must carry a token (or Basic credentials)
//! whose access covers what the request does, as CNCF distribution's token
//! access controller demands; otherwise `401` with a `WWW-Authenticate: Bearer`
//! challenge naming the scope to ask for.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use harbor_auth::{Access, AuthError, Claims, Expiry, Principal, ScopeAction};
use harbor_core::{Page, ProjectQuery, Registry, RepositoryName};
use std::net::IpAddr;

use super::token_endpoint::auth_error;
use super::{basic_credentials, bearer_token, client_ip, AuthState};
use crate::oci::{parse_route, Route};

/// State of the guard.
#[derive(Debug, Clone)]
pub struct GuardState {
    /// Identity and tokens.
    pub auth: Arc<AuthState>,
    /// The engine, to check upload sessions.
    pub registry: Registry,
}

/// Which projects' repositories a catalog request may list (`None`: all).
#[derive(Debug, Clone)]
pub struct CatalogScope(pub Option<Arc<HashSet<String>>>);

/// What the caller proved: who they are, and for a token, what it grants.
enum Caller {
    None,
    Token(Principal, Claims),
    Basic(Principal),
}

impl Caller {
    fn principal(&self) -> Principal {
        match self {
            Caller::None => Principal::Anonymous,
            Caller::Token(p, _) | Caller::Basic(p) => p.clone(),
        }
    }
}

/// The actions a request needs on a repository.
fn needed(route: &Route<'_>, method: &Method) -> Option<(String, &'static [ScopeAction])> {
    let read: &'static [ScopeAction] = &[ScopeAction::Pull];
    let write: &'static [ScopeAction] = &[ScopeAction::Pull, ScopeAction::Push];
    let delete: &'static [ScopeAction] = &[ScopeAction::Delete];
    let (name, actions) = match route {
        Route::Base | Route::Catalog => return None,
        Route::Tags(n) | Route::Referrers(n, _) => (*n, read),
        Route::Manifest(n, _) | Route::Blob(n, _) => match *method {
            Method::GET | Method::HEAD => (*n, read),
            Method::DELETE => (*n, delete),
            _ => (*n, write),
        },
        Route::UploadStart(n) | Route::Upload(n, _) => (*n, write),
    };
    Some((name.to_owned(), actions))
}

/// Guards the `/v2/` routes.
pub async fn guard(State(state): State<GuardState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let Some(route) = parse_route(&path) else {
        return next.run(req).await;
    };
    let need = needed(&route, req.method());
    let client = client_ip(req.extensions());
    let caller = match identify(&state, req.headers(), client, &route).await {
        Ok(c) => c,
        Err(e) => {
            let scope = need.as_ref().map(|(n, a)| (n.as_str(), *a));
            return match e {
                AuthError::InvalidToken(_) => {
                    challenge(&state.auth, &req, scope, Some("invalid_token"))
                }
                e => auth_error(&e),
            };
        }
    };
    if matches!(caller, Caller::None) {
        let scope = need.as_ref().map(|(n, a)| (n.as_str(), *a));
        return challenge(&state.auth, &req, scope, None);
    }
    match (&route, need) {
        (Route::Catalog, _) => {
            let principal = caller.principal();
            let scope = if principal.may_system("catalog", "read") {
                None
            } else {
                match visible_projects(&state.auth, &principal).await {
                    Ok(set) => Some(Arc::new(set)),
                    Err(e) => return auth_error(&e),
                }
            };
            req.extensions_mut().insert(CatalogScope(scope));
        }
        (_, Some((name, actions))) => {
            let held = match holds(&state.auth, &caller, &name, actions).await {
                Ok(h) => h,
                Err(e) => return auth_error(&e),
            };
            if !held {
                if let Some(resp) = unknown_project(&state.auth, &caller, &name).await {
                    return resp;
                }
                return challenge(
                    &state.auth,
                    &req,
                    Some((&name, actions)),
                    Some("insufficient_scope"),
                );
            }
            if matches!(route, Route::UploadStart(_)) {
                let uri = match restrict_mount(&state.auth, &caller, req.uri()).await {
                    Ok(u) => u,
                    Err(e) => return auth_error(&e),
                };
                if let Some(uri) = uri {
                    *req.uri_mut() = uri;
                }
            }
        }
        (_, None) => {}
    }
    req.extensions_mut().insert(caller.principal());
    next.run(req).await
}

async fn identify(
    state: &GuardState,
    headers: &HeaderMap,
    client: Option<IpAddr>,
    route: &Route<'_>,
) -> Result<Caller, AuthError> {
    if let Some(token) = bearer_token(headers) {
        let tokens = &state.auth.tokens;
        let claims = match tokens.verify(&token, Expiry::Enforce) {
            Ok(c) => c,
            Err(e) => match route {
                // A token valid when the upload began keeps that upload going.
                Route::Upload(_, id) => upload_grace(state, &token, id).await.ok_or(e)?,
                _ => return Err(e),
            },
        };
        let principal = match claims.sub.as_str() {
            "" => Principal::Anonymous,
            name => harbor_auth::resolve_principal(state.auth.identity.as_ref(), name)
                .await?
                .ok_or_else(|| {
                    AuthError::InvalidToken(
                        "the token's account no longer exists or is disabled".into(),
                    )
                })?,
        };
        return Ok(Caller::Token(principal, claims));
    }
    if let Some((user, pass)) = basic_credentials(headers) {
        let p = state
            .auth
            .authenticator
            .authenticate(&user, &pass, client)
            .await?;
        return Ok(Caller::Basic(p));
    }
    Ok(Caller::None)
}

/// The claims of an expired token, if the upload session `id` began while it
/// was valid (signature, issuer and audience are still checked).
async fn upload_grace(state: &GuardState, token: &str, id: &str) -> Option<Claims> {
    let claims = state.auth.tokens.verify(token, Expiry::Ignore).ok()?;
    let session = state.registry.meta_store().get_upload(id).await.ok()??;
    let started = session
        .started_at
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_secs();
    let leeway = Duration::from_secs(60).as_secs();
    (claims.nbf.saturating_sub(leeway) <= started && started <= claims.exp).then_some(claims)
}

/// Whether the caller holds every one of `actions` on repository `name`.
async fn holds(
    auth: &AuthState,
    caller: &Caller,
    name: &str,
    actions: &[ScopeAction],
) -> Result<bool, AuthError> {
    let granted: Vec<ScopeAction> = match caller {
        Caller::None => Vec::new(),
        Caller::Token(_, claims) => claims
            .access
            .iter()
            .filter(|a| a.kind == "repository" && a.name == name)
            .flat_map(|a| a.actions.iter().copied())
            .collect(),
        Caller::Basic(p) => {
            let requested = Access {
                kind: "repository".into(),
                name: name.to_owned(),
                actions: actions.to_vec(),
            };
            auth.tokens.grant(p, &requested).await?
        }
    };
    Ok(actions
        .iter()
        .all(|a| granted.iter().any(|g| *g == ScopeAction::All || g == a)))
}

/// A signed-in caller asking for a repository of a project that does not
/// exist gets `NAME_UNKNOWN`, as Harbor refuses pushes outside projects.
async fn unknown_project(auth: &AuthState, caller: &Caller, name: &str) -> Option<Response> {
    if caller.principal() == Principal::Anonymous {
        return None;
    }
    let repo = RepositoryName::parse(name).ok()?;
    let project = repo.first_component();
    match auth.identity.project_by_name(project).await {
        Ok(None) => {
            let body = crate::oci::error::error_body(
                "NAME_UNKNOWN",
                &format!("project {project} does not exist"),
                Some(&serde_json::json!({ "name": name })),
            );
            let mut resp = (StatusCode::NOT_FOUND, body).into_response();
            resp.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            Some(resp)
        }
        _ => None,
    }
}

/// Drops a cross-repository mount the caller may not read from (or a mount
/// without `from`, which would reveal blobs of other projects): the client then
/// gets an ordinary upload session.
async fn restrict_mount(
    auth: &AuthState,
    caller: &Caller,
    uri: &Uri,
) -> Result<Option<Uri>, AuthError> {
    let Some(query) = uri.query() else {
        return Ok(None);
    };
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if !params.iter().any(|(k, _)| k == "mount") {
        return Ok(None);
    }
    let allowed = match params.iter().find(|(k, _)| k == "from") {
        Some((_, from)) => holds(auth, caller, from, &[ScopeAction::Pull]).await?,
        None => false,
    };
    if allowed {
        return Ok(None);
    }
    let kept: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter().filter(|(k, _)| k != "mount" && k != "from"))
        .finish();
    let rebuilt = if kept.is_empty() {
        uri.path().to_owned()
    } else {
        format!("{}?{kept}", uri.path())
    };
    Ok(rebuilt.parse().ok())
}

async fn visible_projects(
    auth: &AuthState,
    principal: &Principal,
) -> Result<HashSet<String>, AuthError> {
    let query = ProjectQuery {
        visible_to: Some(principal.user_id()),
        ..Default::default()
    };
    let mut names = HashSet::new();
    let mut page = Page {
        page: 1,
        page_size: 1000,
    };
    loop {
        let (list, total) = auth.identity.list_projects(&query, page).await?;
        let done = list.is_empty() || page.page * page.page_size >= total;
        names.extend(list.into_iter().map(|p| p.name));
        if done {
            return Ok(names);
        }
        page.page += 1;
    }
}

/// `401` with the Bearer challenge a Docker client follows to get a token.
fn challenge(
    auth: &AuthState,
    req: &Request,
    scope: Option<(&str, &[ScopeAction])>,
    error: Option<&str>,
) -> Response {
    let service = &auth.tokens.config().service;
    let mut value = format!(
        "Bearer realm=\"{}\",service=\"{service}\"",
        auth.realm.url(req.headers())
    );
    let scope_text = scope.map(|(name, actions)| {
        let access = Access {
            kind: "repository".into(),
            name: name.to_owned(),
            actions: actions.to_vec(),
        };
        access.to_string()
    });
    if let Some(s) = &scope_text {
        value.push_str(&format!(",scope=\"{s}\""));
    } else if matches!(parse_route(req.uri().path()), Some(Route::Catalog)) {
        value.push_str(",scope=\"registry:catalog:*\"");
    }
    if let Some(e) = error {
        value.push_str(&format!(",error=\"{e}\""));
    }
    let detail = scope.map(|(name, actions)| {
        serde_json::Value::Array(
            actions
                .iter()
                .map(|a| serde_json::json!({ "Type": "repository", "Name": name, "Action": a.as_str() }))
                .collect(),
        )
    });
    let body =
        crate::oci::error::error_body("UNAUTHORIZED", "authentication required", detail.as_ref());
    let mut resp = (StatusCode::UNAUTHORIZED, body).into_response();
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().insert("www-authenticate", v);
    }
    resp
}
