//! `GET /api/v2.0/health`, in Harbor's shape.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use harbor_core::{Digest, Registry};

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
    let body = serde_json::json!({
        "status": status(all),
        "components": [
            { "name": "core", "status": "healthy" },
            { "name": "database", "status": status(database) },
            { "name": "registry", "status": status(storage) },
        ]
    });
    let code = if all {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}
