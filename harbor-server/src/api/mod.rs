//! Harbor's management API under `/api/v2.0`, with Harbor's paths, JSON field
//! names, pagination (`page`, `page_size`, `X-Total-Count`, `Link`) and error
//! form, so that existing Harbor scripts work for what is implemented.

mod access;
mod artifacts;
mod audit_logs;
pub(crate) mod configurations;
mod error;
mod extract;
mod gc;
mod immutable;
mod labels;
mod ldap;
mod members;
mod oidc;
mod openapi;
mod paging;
mod permissions;
mod projects;
mod purge_audit;
pub mod q;
mod quotas;
mod registries;
mod replication;
mod repositories;
mod retentions;
mod robots;
mod system;
mod usergroups;
mod users;
mod webhook_runs;
mod webhooks;

use std::time::SystemTime;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::Router;

pub use crate::app::AppState;
pub use error::HarborError;
pub use extract::{Caller, HarborJson, HarborQuery, ListParams};
pub use paging::Paged;

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
        .route("/api/v2.0/projects/{project}/summary", get(projects::summary))
        .route(
            "/api/v2.0/projects/{project}/members",
            get(members::list).post(members::create),
        )
        .route(
            "/api/v2.0/projects/{project}/members/{member}",
            get(members::get).put(members::update).delete(members::delete),
        )
        .route(
            "/api/v2.0/projects/{project}/immutabletagrules",
            get(immutable::list).post(immutable::create),
        )
        .route(
            "/api/v2.0/projects/{project}/immutabletagrules/{id}",
            put(immutable::update).delete(immutable::delete),
        )
        .route("/api/v2.0/projects/{project}/repositories", get(artifacts::list_repositories))
        .route(
            "/api/v2.0/projects/{project}/repositories/{repository}",
            get(artifacts::get_repository).delete(repositories::delete),
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
        .route(
            "/api/v2.0/projects/{project}/webhook/policies",
            get(webhooks::list).post(webhooks::create),
        )
        .route(
            "/api/v2.0/projects/{project}/webhook/policies/{id}",
            get(webhooks::get)
                .put(webhooks::update)
                .delete(webhooks::delete),
        )
        .route(
            "/api/v2.0/projects/{project}/webhook/policies/{id}/executions",
            get(webhook_runs::executions),
        )
        .route(
            "/api/v2.0/projects/{project}/webhook/policies/{id}/executions/{execution}/tasks",
            get(webhook_runs::tasks),
        )
        .route(
            "/api/v2.0/projects/{project}/webhook/policies/{id}/executions/{execution}/tasks/{task}/log",
            get(webhook_runs::task_log),
        )
        .route("/api/v2.0/projects/{project}/webhook/lasttrigger", get(webhooks::last_trigger))
        .route("/api/v2.0/projects/{project}/webhook/events", get(webhooks::events))
        .route("/api/v2.0/ldap/ping", axum::routing::post(ldap::ping))
        .route("/api/v2.0/ldap/users/search", get(ldap::search_users))
        .route("/api/v2.0/ldap/users/import", axum::routing::post(ldap::import_users))
        .route("/api/v2.0/ldap/groups/search", get(ldap::search_groups))
        .route("/api/v2.0/labels", get(labels::list).post(labels::create))
        .route(
            "/api/v2.0/labels/{id}",
            get(labels::get).put(labels::update).delete(labels::delete),
        )
        .route(
            "/api/v2.0/projects/{project}/repositories/{repository}/artifacts/{reference}/labels",
            axum::routing::post(labels::add_to_artifact),
        )
        .route(
            "/api/v2.0/projects/{project}/repositories/{repository}/artifacts/{reference}/labels/{label}",
            axum::routing::delete(labels::remove_from_artifact),
        )
        .route("/api/v2.0/audit-logs", get(audit_logs::system))
        .route("/api/v2.0/projects/{project}/logs", get(audit_logs::project))
        .route(
            "/api/v2.0/registries",
            get(registries::list).post(registries::create),
        )
        .route("/api/v2.0/registries/ping", axum::routing::post(registries::ping))
        .route(
            "/api/v2.0/registries/{id}",
            get(registries::get)
                .put(registries::update)
                .delete(registries::delete),
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
        .route("/api/v2.0/users/{id}/cli_secret", put(oidc::set_cli_secret))
        .route("/api/v2.0/system/oidc/ping", axum::routing::post(oidc::ping))
        .route("/c/oidc/login", get(oidc::login))
        .route("/c/oidc/callback", get(oidc::callback))
        .route("/c/oidc/onboard", axum::routing::post(oidc::onboard))
        .route(
            "/api/v2.0/users/current/permissions",
            get(permissions::current),
        )
        .route("/api/v2.0/permissions", get(permissions::all))
        .route(
            "/api/v2.0/usergroups",
            get(usergroups::list).post(usergroups::create),
        )
        .route("/api/v2.0/usergroups/search", get(usergroups::search))
        .route(
            "/api/v2.0/usergroups/{group_id}",
            get(usergroups::get)
                .put(usergroups::update)
                .delete(usergroups::delete),
        )
        .route("/api/v2.0/users/search", get(users::search))
        .route(
            "/api/v2.0/users/{id}",
            get(users::get).put(users::update).delete(users::delete),
        )
        .route(
            "/api/v2.0/configurations",
            get(configurations::get).put(configurations::update),
        )
        .route("/api/v2.0/quotas", get(quotas::list))
        .route("/api/v2.0/quotas/{id}", get(quotas::get).put(quotas::update))
        .route("/api/v2.0/system/gc", get(gc::list))
        .route(
            "/api/v2.0/system/gc/schedule",
            get(gc::get_schedule)
                .post(gc::create_schedule)
                .put(gc::update_schedule),
        )
        .route("/api/v2.0/system/gc/{id}", get(gc::get).put(gc::stop))
        .route("/api/v2.0/system/gc/{id}/log", get(gc::log))
        .route("/api/v2.0/system/purgeaudit", get(purge_audit::list))
        .route(
            "/api/v2.0/system/purgeaudit/schedule",
            get(purge_audit::get_schedule)
                .post(purge_audit::create_schedule)
                .put(purge_audit::update_schedule),
        )
        .route(
            "/api/v2.0/system/purgeaudit/{id}",
            get(purge_audit::get).put(purge_audit::stop),
        )
        .route("/api/v2.0/system/purgeaudit/{id}/log", get(purge_audit::log))
        .route("/api/v2.0/retentions", axum::routing::post(retentions::create))
        .route("/api/v2.0/retentions/metadatas", get(retentions::metadatas))
        .route(
            "/api/v2.0/retentions/{id}",
            get(retentions::get)
                .put(retentions::update)
                .delete(retentions::delete),
        )
        .route(
            "/api/v2.0/retentions/{id}/executions",
            get(retentions::executions).post(retentions::trigger),
        )
        .route(
            "/api/v2.0/retentions/{id}/executions/{eid}",
            axum::routing::patch(retentions::operate),
        )
        .route(
            "/api/v2.0/retentions/{id}/executions/{eid}/tasks",
            get(retentions::tasks),
        )
        .route(
            "/api/v2.0/retentions/{id}/executions/{eid}/tasks/{tid}",
            get(retentions::task_log),
        )
        .route("/api/v2.0/users/{id}/password", put(users::password))
        .route("/api/v2.0/users/{id}/sysadmin", put(users::sysadmin))
}

/// A handler's result.
pub type ApiResult<T = Response> = Result<T, HarborError>;

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

fn json<T: serde::Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "null".into());
    let mut resp = (status, text).into_response();
    set(&mut resp, "content-type", "application/json; charset=utf-8");
    resp
}

/// `201 Created` with the new resource's `Location`.
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

/// RFC 3339 time, as Harbor writes it.
fn time(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}
