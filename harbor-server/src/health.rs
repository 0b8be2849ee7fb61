//! `GET /api/v2.0/health`, in Harbor's shape.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use harbor_core::{Digest, Registry};

/// Harbor's `OverallHealthStatus`.
#[derive(Debug, serde::Serialize)]
struct OverallHealthStatus {
    status: &'static str,
    components: Vec<ComponentHealthStatus>,
}

/// Harbor's `ComponentHealthStatus`.
#[derive(Debug, serde::Serialize)]
struct ComponentHealthStatus {
    name: &'static str,
    status: &'static str,
}

/// Reports each component's health; 503 if any is unhealthy.
pub async fn health(State(registry): State<Registry>) -> Response {
    let database = registry
        .meta_store()
        .list_repositories(None, 1)
        .await
        .is_ok();
    let storage = registry
        .blob_store()
        .stat(&Digest::sha256(b"health"))
        .await
        .is_ok();
    let status = |ok: bool| if ok { "healthy" } else { "unhealthy" };
    let all = database && storage;
    let component = |name, ok| ComponentHealthStatus {
        name,
        status: status(ok),
    };
    let body = OverallHealthStatus {
        status: status(all),
        components: vec![
            component("core", true),
            component("database", database),
            component("registry", storage),
        ],
    };
    let code = if all {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}
