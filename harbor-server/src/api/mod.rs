//! Harbor's management API under `/api/v2.0`, with Harbor's paths, JSON field
//! names, pagination (`page`, `page_size`, `X-Total-Count`, `Link`) and error
//! form, so that existing Harbor scripts work for what is implemented.

mod artifacts;
mod audit_logs;
mod members;
mod openapi;
mod projects;
mod replication;
mod robots;
mod system;
mod users;

use std::time::SystemTime;

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::Router;
use harbor_auth::{Action, AuthError, Principal, Resource};
use harbor_core::{ErrorCode, Page, Project};
use serde::de::DeserializeOwned;

pub use crate::app::AppState;
use crate::auth::{basic_credentials, client_ip};

/// The management API routes, over the state of a server with identity.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v2.0/ping", get(system::ping))
        .route("/api/v2.0/systeminfo", get(system::systeminfo))
        .route("/api/v2.0/openapi.json", get(openapi::openapi))
        .route(
            "/api/v2.0/projects",
            get(projects::list).post(projects::create).head(projects::exists),
        )
        .route(
            "/api/v2.0/projects/{project}",
            get(projects::get).put(projects::update).delete(projects::delete),
        )
        .route(
            "/api/v2.0/projects/{project}/members",
            get(members::list).post(members::create),
        )
        .route(
            "/api/v2.0/projects/{project}/members/{member}",
            get(members::get).put(members::update).delete(members::delete),
        )
        .route("/api/v2.0/projects/{project}/repositories", get(artifacts::list_repositories))
        .route(
            "/api/v2.0/projects/{project}/repositories/{repository}",
            get(artifacts::get_repository),
        )
        .route(
            "/api/v2.0/projects/{project}/repositories/{repository}/artifacts",
            get(artifacts::list_artifacts),
        )
        .route(
            "/api/v2.0/projects/{project}/repositories/{repository}/artifacts/{reference}",
            get(artifacts::get_artifact).delete(artifacts::delete_artifact),
        )
        .route(
            "/api/v2.0/projects/{project}/repositories/{repository}/artifacts/{reference}/tags",
            get(artifacts::list_tags).post(artifacts::create_tag),
        )
        .route(
            "/api/v2.0/projects/{project}/repositories/{repository}/artifacts/{reference}/tags/{tag}",
            axum::routing::delete(artifacts::delete_tag),
        )
        .route("/api/v2.0/audit-logs", get(audit_logs::system))
        .route("/api/v2.0/projects/{project}/logs", get(audit_logs::project))
        .route(
            "/api/v2.0/registries",
            get(replication::list_registries).post(replication::create_registry),
        )
        .route("/api/v2.0/registries/ping", axum::routing::post(replication::ping_registry))
        .route(
            "/api/v2.0/registries/{id}",
            get(replication::get_registry)
                .put(replication::update_registry)
                .delete(replication::delete_registry),
        )
        .route(
            "/api/v2.0/replication/policies",
            get(replication::list_policies).post(replication::create_policy),
        )
        .route(
            "/api/v2.0/replication/policies/{id}",
            get(replication::get_policy)
                .put(replication::update_policy)
                .delete(replication::delete_policy),
        )
        .route(
            "/api/v2.0/replication/executions",
            get(replication::list_executions).post(replication::start_execution),
        )
        .route(
            "/api/v2.0/replication/executions/{id}",
            get(replication::get_execution).put(replication::stop_execution),
        )
        .route("/api/v2.0/replication/executions/{id}/tasks", get(replication::list_tasks))
        .route(
            "/api/v2.0/replication/executions/{id}/tasks/{task}/log",
            get(replication::task_log),
        )
        .route("/api/v2.0/robots", get(robots::list).post(robots::create))
        .route(
            "/api/v2.0/robots/{id}",
            get(robots::get)
                .put(robots::update)
                .patch(robots::refresh)
                .delete(robots::delete),
        )
        .route("/api/v2.0/users", get(users::list).post(users::create))
        .route("/api/v2.0/users/current", get(users::current))
        .route("/api/v2.0/users/search", get(users::search))
        .route(
            "/api/v2.0/users/{id}",
            get(users::get).put(users::update).delete(users::delete),
        )
        .route("/api/v2.0/users/{id}/password", put(users::password))
        .route("/api/v2.0/users/{id}/sysadmin", put(users::sysadmin))
}

/// An error in Harbor's form: `{"errors":[{"code":..,"message":..}]}`.
#[derive(Debug)]
pub struct HarborError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl HarborError {
    /// An error with its status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        HarborError {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", "forbidden")
    }

    fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "unauthorized")
    }
}

impl From<harbor_core::Error> for HarborError {
    fn from(e: harbor_core::Error) -> Self {
        let code = e.code();
        let (status, name) = match code {
            ErrorCode::Conflict => (StatusCode::CONFLICT, "CONFLICT"),
            ErrorCode::NotFound
            | ErrorCode::NameUnknown
            | ErrorCode::ManifestUnknown
            | ErrorCode::BlobUnknown => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            ErrorCode::Precondition => (StatusCode::PRECONDITION_FAILED, "PRECONDITION"),
            ErrorCode::Unknown => {
                tracing::error!(error = %e, "management API request failed");
                return HarborError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "UNKNOWN",
                    "internal server error",
                );
            }
            ErrorCode::Denied => (StatusCode::FORBIDDEN, "FORBIDDEN"),
            ErrorCode::Unauthorized => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
            _ => (StatusCode::BAD_REQUEST, "BAD_REQUEST"),
        };
        HarborError::new(status, name, e.message())
    }
}

impl From<AuthError> for HarborError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unauthorized(m) | AuthError::InvalidToken(m) => {
                HarborError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", m)
            }
            AuthError::Forbidden(m) => HarborError::new(StatusCode::FORBIDDEN, "FORBIDDEN", m),
            AuthError::BadRequest(m) => HarborError::bad_request(m),
            AuthError::TooManyAttempts { .. } => HarborError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TOO_MANY_REQUESTS",
                e.to_string(),
            ),
            AuthError::Store(e) => e.into(),
            e => {
                tracing::error!(error = %e, "management API request failed");
                HarborError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "UNKNOWN",
                    "internal server error",
                )
            }
        }
    }
}

impl IntoResponse for HarborError {
    fn into_response(self) -> Response {
        let body =
            serde_json::json!({ "errors": [{ "code": self.code, "message": self.message }] });
        let mut resp = (self.status, body.to_string()).into_response();
        resp.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                "www-authenticate",
                HeaderValue::from_static("Basic realm=\"harbor\""),
            );
        }
        resp
    }
}

/// A handler's result.
pub type ApiResult<T = Response> = Result<T, HarborError>;

/// The caller, from Basic credentials (anonymous without); wrong credentials
/// are refused before the handler runs.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = HarborError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match basic_credentials(&parts.headers) {
            None => Ok(Caller(Principal::Anonymous)),
            Some((user, pass)) => {
                let client = client_ip(&parts.extensions);
                Ok(Caller(
                    state
                        .auth
                        .authenticator
                        .authenticate(&user, &pass, client)
                        .await?,
                ))
            }
        }
    }
}

impl AppState {
    /// Reports a push or delete to replication's event trigger, when
    /// replication is on (the event is only built then).
    fn notify(&self, event: impl FnOnce() -> harbor_replicate::ArtifactEvent) {
        if let Some(service) = &self.replication {
            service.notify(event());
        }
    }

    /// Records an operation in the audit log.
    async fn audit(
        &self,
        project: Option<&str>,
        caller: &Caller,
        resource: String,
        resource_type: harbor_core::AuditResource,
        operation: harbor_core::AuditOperation,
    ) {
        self.audit
            .record(project, &caller.0, resource, resource_type, operation)
            .await;
    }
}

impl Caller {
    fn require_user(&self) -> ApiResult<()> {
        match self.0 {
            Principal::Anonymous => Err(HarborError::unauthorized()),
            _ => Ok(()),
        }
    }

    fn require_admin(&self) -> ApiResult<()> {
        self.require_user()?;
        if self.0.is_sysadmin() {
            Ok(())
        } else {
            Err(HarborError::forbidden())
        }
    }
}

/// Resolves `{project_name_or_id}` as Harbor does: an integer is an id unless
/// `X-Is-Resource-Name: true`.
async fn find_project(state: &AppState, headers: &HeaderMap, key: &str) -> ApiResult<Project> {
    let by_name = headers
        .get("x-is-resource-name")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let store = &state.auth.identity;
    let found = match key.parse::<i64>() {
        Ok(id) if !by_name => store.project_by_id(id).await?,
        _ => store.project_by_name(key).await?,
    };
    found.ok_or_else(|| HarborError::not_found(format!("project {key} not found")))
}

/// Requires `action` on `resource` of `project`: 401 for anonymous callers,
/// 403 for signed-in ones, as Harbor answers. A project the caller cannot even
/// read is reported as not found.
async fn require(
    state: &AppState,
    caller: &Caller,
    project: &Project,
    resource: Resource,
    action: Action,
) -> ApiResult<()> {
    let authorizer = &state.auth.authorizer;
    if harbor_auth::Authorizer::allowed(authorizer.as_ref(), &caller.0, project, resource, action)
        .await?
    {
        return Ok(());
    }
    let readable = harbor_auth::Authorizer::allowed(
        authorizer.as_ref(),
        &caller.0,
        project,
        Resource::Project,
        Action::Read,
    )
    .await?;
    if !readable && caller.0 != Principal::Anonymous {
        return Err(HarborError::not_found(format!(
            "project {} not found",
            project.name
        )));
    }
    match caller.0 {
        Principal::Anonymous => Err(HarborError::unauthorized()),
        _ => Err(HarborError::forbidden()),
    }
}

/// `page` and `page_size` from the query (defaults 1 and 10, at most 100).
fn page_of(query: &[(String, String)]) -> ApiResult<Page> {
    let num = |key: &str, default: u64| -> ApiResult<u64> {
        match param(query, key) {
            None => Ok(default),
            Some(v) => v.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                HarborError::bad_request(format!("{key} must be a positive integer, not {v:?}"))
            }),
        }
    };
    Ok(Page {
        page: num("page", 1)?,
        page_size: num("page_size", 10)?.min(100),
    })
}

fn query_of(req: &Request) -> Vec<(String, String)> {
    query_pairs(req.uri().query().unwrap_or(""))
}

fn query_pairs(q: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A JSON list with `X-Total-Count` and Harbor's `Link` header.
fn paged<T: serde::Serialize>(
    path: &str,
    query: &[(String, String)],
    page: Page,
    total: u64,
    items: &[T],
) -> Response {
    let mut resp = json(StatusCode::OK, &items);
    set(&mut resp, "x-total-count", &total.to_string());
    let link_to = |p: u64, rel: &str| {
        let mut q: Vec<(String, String)> = query
            .iter()
            .filter(|(k, _)| k != "page" && k != "page_size")
            .cloned()
            .collect();
        q.push(("page".into(), p.to_string()));
        q.push(("page_size".into(), page.page_size.to_string()));
        let qs = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(q)
            .finish();
        format!("<{path}?{qs}>; rel=\"{rel}\"")
    };
    let mut links = Vec::new();
    if page.page > 1 && (page.page - 1) * page.page_size < total {
        links.push(link_to(page.page - 1, "prev"));
    }
    if page.page * page.page_size < total {
        links.push(link_to(page.page + 1, "next"));
    }
    if !links.is_empty() {
        set(&mut resp, "link", &links.join(" , "));
    }
    resp
}

fn json<T: serde::Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "null".into());
    let mut resp = (status, text).into_response();
    set(&mut resp, "content-type", "application/json; charset=utf-8");
    resp
}

fn created(location: &str) -> Response {
    let mut resp = StatusCode::CREATED.into_response();
    set(&mut resp, "location", location);
    resp
}

fn set(resp: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

/// Parses a JSON body strictly: unknown fields and wrong types are `400`.
async fn body<T: DeserializeOwned>(req: Request) -> ApiResult<T> {
    let bytes = axum::body::to_bytes(req.into_body(), 1024 * 1024)
        .await
        .map_err(|_| HarborError::bad_request("the request body is too large"))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| HarborError::bad_request(format!("invalid request body: {e}")))
}

/// RFC 3339 time, as Harbor writes it.
fn time(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}
