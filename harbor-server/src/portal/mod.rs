//! The web portal: Harbor's UI as server-rendered HTML (compile-time,
//! auto-escaping `maud` templates), with one small script and one style
//! sheet served from the binary for progressive enhancement only (copy
//! buttons, confirm dialogs). Every page works without script.
//!
//! Pages do nothing by themselves: each reads and changes through the
//! management API (`/api/v2.0`), called in-process with the browser's own
//! session cookie, so a page sees and does exactly what that user may do
//! through the API: the same permission checks, audit log, quotas, events
//! and webhooks. Controls are hidden from users whose role does not allow
//! them (asked of `/users/current/permissions` or the authorizer), and the
//! API refuses what a hand-made request tries anyway.
//!
//! Forms carry the session's CSRF token in a hidden field (`_csrf`); the
//! portal checks it, then passes it to the API as Harbor's
//! `X-Harbor-CSRF-Token`, which the API checks again. Every answer carries
//! a content security policy forbidding inline script.

mod account;
mod artifact;
mod assets;
mod clean_up;
mod client;
mod configuration;
mod error;
mod fields;
mod groups;
mod immutable;
mod labels;
mod layout;
mod login;
mod logs;
mod members;
mod project_config;
mod project_quotas;
mod projects;
mod registries;
mod replications;
mod repositories;
mod retention;
mod robots;
mod summary;
mod system_robots;
mod users;
mod viewer;
mod webhooks;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::{from_fn, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use crate::app::AppState;

pub(crate) use client::ApiClient;

/// What every portal handler extracts: the server's state and the
/// management API to call in-process.
#[derive(Debug, Clone)]
pub(crate) struct PortalState {
    /// The server's state (sessions, settings, the authorizer).
    pub(crate) app: AppState,
    /// The management API.
    pub(crate) api: ApiClient,
}

/// The content security policy of every portal answer: scripts, styles
/// and everything else only from this server (no inline script or style),
/// no plugins, no framing, forms only to this server.
pub(crate) const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// The portal's routes: `/`, `/harbor/...`, `/c/login`, `/c/log_out` and
/// the static assets.
pub(crate) fn routes(state: PortalState) -> Router {
    Router::new()
        .route("/", get(login::root))
        .route("/harbor", get(login::root))
        .route("/harbor/", get(login::root))
        .route("/harbor/sign-in", get(login::sign_in_page))
        .route("/c/login", post(login::login))
        .route("/c/log_out", get(login::log_out))
        .route("/portal/static/portal.css", get(assets::css))
        .route("/portal/static/portal.js", get(assets::js))
        .route(
            "/harbor/projects",
            get(projects::list).post(projects::create),
        )
        .route("/harbor/projects/{id}", get(projects::show))
        .route("/harbor/projects/{id}/delete", post(projects::delete))
        .route(
            "/harbor/projects/{id}/repositories",
            get(repositories::list),
        )
        .route(
            "/harbor/projects/{id}/repositories/{repo}/artifacts-tab",
            get(repositories::artifacts),
        )
        .route(
            "/harbor/projects/{id}/repositories/{repo}/artifacts-tab/artifacts/{digest}",
            get(artifact::show),
        )
        .route(
            "/harbor/projects/{id}/repositories/{repo}/artifacts-tab/artifacts/{digest}/labels",
            post(labels::add_to_artifact),
        )
        .route(
            "/harbor/projects/{id}/repositories/{repo}/artifacts-tab/artifacts/{digest}/labels/{label}/delete",
            post(labels::remove_from_artifact),
        )
        .route(
            "/harbor/projects/{id}/repositories/{repo}/artifacts-tab/artifacts/{digest}/tags",
            post(artifact::add_tag),
        )
        .route(
            "/harbor/projects/{id}/repositories/{repo}/artifacts-tab/artifacts/{digest}/tags/{tag}/delete",
            post(artifact::delete_tag),
        )
        .route(
            "/harbor/projects/{id}/labels",
            get(labels::list).post(labels::create),
        )
        .route(
            "/harbor/projects/{id}/labels/{label}/delete",
            post(labels::delete),
        )
        .route(
            "/harbor/projects/{id}/repositories/{repo}/delete",
            post(repositories::delete_repository),
        )
        .route(
            "/harbor/projects/{id}/repositories/{repo}/artifacts/{digest}/delete",
            post(repositories::delete_artifact),
        )
        .route(
            "/harbor/projects/{id}/members",
            get(members::list).post(members::add),
        )
        .route("/harbor/projects/{id}/members/{mid}", post(members::change))
        .route(
            "/harbor/projects/{id}/members/{mid}/delete",
            post(members::remove),
        )
        .route(
            "/harbor/projects/{id}/robot-account",
            get(robots::list).post(robots::create),
        )
        .route(
            "/harbor/projects/{id}/robot-account/{rid}/delete",
            post(robots::delete),
        )
        .route("/harbor/gc", get(clean_up::gc::page).post(clean_up::gc::run))
        .route("/harbor/gc/schedule", post(clean_up::gc::schedule))
        .route("/harbor/gc/{id}/log", get(clean_up::gc::log))
        .route(
            "/harbor/registries",
            get(registries::list).post(registries::create),
        )
        .route("/harbor/registries/{id}/delete", post(registries::delete))
        .route(
            "/harbor/replications",
            get(replications::page).post(replications::create),
        )
        .route("/harbor/replications/{id}/run", post(replications::run))
        .route(
            "/harbor/replications/{id}/delete",
            post(replications::delete),
        )
        .route(
            "/harbor/replications/executions/{id}",
            get(replications::execution),
        )
        .route(
            "/harbor/replications/executions/{id}/stop",
            post(replications::stop),
        )
        .route(
            "/harbor/replications/executions/{id}/tasks/{task}/log",
            get(replications::task_log),
        )
        .route(
            "/harbor/account",
            get(account::page).post(account::save_profile),
        )
        .route("/harbor/account/password", post(account::change_password))
        .route("/harbor/account/cli-secret", post(account::new_cli_secret))
        .route(
            "/harbor/projects/{id}/webhook",
            get(webhooks::list).post(webhooks::create),
        )
        .route(
            "/harbor/projects/{id}/webhook/{policy}/delete",
            post(webhooks::delete),
        )
        .route(
            "/harbor/projects/{id}/tag-immutability",
            get(immutable::moved).post(immutable::create),
        )
        .route(
            "/harbor/projects/{id}/tag-immutability/{rule}/delete",
            post(immutable::delete),
        )
        .route("/harbor/projects/{id}/logs", get(logs::project))
        .route("/harbor/logs", get(logs::system))
        .route(
            "/harbor/configs",
            get(configuration::page).post(configuration::save),
        )
        .route("/harbor/groups", get(groups::list).post(groups::create))
        .route("/harbor/groups/{id}/delete", post(groups::delete))
        .route("/harbor/users", get(users::list).post(users::create))
        .route("/harbor/users/{id}/sysadmin", post(users::sysadmin))
        .route("/harbor/users/{id}/delete", post(users::delete))
        .route("/harbor/projects/{id}/summary", get(summary::page))
        .route(
            "/harbor/projects/{id}/configs",
            get(project_config::page).post(project_config::save),
        )
        .route(
            "/harbor/projects/{id}/tag-strategy",
            get(retention::policy_tab),
        )
        .route(
            "/harbor/projects/{id}/tag-strategy/tag-retention",
            get(retention::page),
        )
        .route(
            "/harbor/projects/{id}/tag-strategy/tag-retention/rules",
            post(retention::add_rule),
        )
        .route(
            "/harbor/projects/{id}/tag-strategy/tag-retention/rules/{rule}",
            post(retention::edit_rule),
        )
        .route(
            "/harbor/projects/{id}/tag-strategy/tag-retention/rules/{rule}/toggle",
            post(retention::toggle_rule),
        )
        .route(
            "/harbor/projects/{id}/tag-strategy/tag-retention/rules/{rule}/delete",
            post(retention::delete_rule),
        )
        .route(
            "/harbor/projects/{id}/tag-strategy/tag-retention/schedule",
            post(retention::schedule),
        )
        .route(
            "/harbor/projects/{id}/tag-strategy/tag-retention/run",
            post(retention::run),
        )
        .route(
            "/harbor/projects/{id}/tag-strategy/tag-retention/executions/{eid}",
            get(retention::execution),
        )
        .route(
            "/harbor/projects/{id}/tag-strategy/tag-retention/executions/{eid}/stop",
            post(retention::stop),
        )
        .route(
            "/harbor/projects/{id}/tag-strategy/tag-retention/executions/{eid}/tasks/{tid}/log",
            get(retention::task_log),
        )
        .route(
            "/harbor/projects/{id}/tag-strategy/tag-immutability",
            get(immutable::list).post(immutable::create),
        )
        .route(
            "/harbor/projects/{id}/tag-strategy/tag-immutability/{rule}/delete",
            post(immutable::delete),
        )
        .route("/harbor/project-quotas", get(project_quotas::page))
        .route("/harbor/project-quotas/{qid}", post(project_quotas::save))
        .route(
            "/harbor/robot-accounts",
            get(system_robots::list).post(system_robots::create),
        )
        .route(
            "/harbor/robot-accounts/{rid}/edit",
            get(system_robots::edit_page).post(system_robots::edit),
        )
        .route(
            "/harbor/robot-accounts/{rid}/disable",
            post(system_robots::disable),
        )
        .route(
            "/harbor/robot-accounts/{rid}/refresh",
            post(system_robots::refresh),
        )
        .route(
            "/harbor/robot-accounts/{rid}/delete",
            post(system_robots::delete),
        )
        .route("/harbor/gc/{id}/stop", post(clean_up::gc::stop))
        .route(
            "/harbor/clearing-job/audit-log-purge",
            get(clean_up::log_rotation::page).post(clean_up::log_rotation::run),
        )
        .route(
            "/harbor/clearing-job/audit-log-purge/{id}/log",
            get(clean_up::log_rotation::log),
        )
        .route(
            "/harbor/clearing-job/audit-log-purge/{id}/stop",
            post(clean_up::log_rotation::stop),
        )
        .route(
            "/harbor/replications/{id}/edit",
            get(replications::edit_page).post(replications::update),
        )
        .route(
            "/harbor/replications/{id}/enable",
            post(replications::enable),
        )
        .route("/harbor/users/ldap-import", post(users::ldap_import))
        .route("/harbor/groups/ldap-import", post(groups::ldap_import))
        .route("/harbor/configs/ldap-ping", post(configuration::ldap_ping))
        .route("/harbor/configs/oidc-ping", post(configuration::oidc_ping))
        .with_state(state)
        .layer(from_fn(security_headers))
}

/// The headers every portal answer carries: the content security policy,
/// no sniffing, no framing, no referrer to other sites, and no caching of
/// pages that show a user's data.
async fn security_headers(req: Request, next: Next) -> Response {
    let static_asset = req.uri().path().starts_with("/portal/static/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    if !static_asset {
        h.insert("cache-control", HeaderValue::from_static("no-store"));
    }
    resp
}
