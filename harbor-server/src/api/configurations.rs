//! `/configurations`: the system settings in Harbor's
//! `ConfigurationsResponse` shape (each key a `value` and whether it is
//! `editable`), and changing them. System administrators only.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{json, ApiResult, AppState, Caller, HarborError, HarborJson};

/// `GET /configurations`.
pub(super) async fn get(State(state): State<AppState>, caller: Caller) -> ApiResult {
    caller.require_system("configuration", "read")?;
    Ok(json(StatusCode::OK, &state.settings.response().await?))
}

/// `PUT /configurations`: the keys given, checked all before any is set.
pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<HarborJson<serde_json::Map<String, serde_json::Value>>, HarborError>,
) -> ApiResult<Response> {
    caller.require_system("configuration", "update")?;
    let HarborJson(changes) = body?;
    state.settings.update(&changes).await?;
    let keys: Vec<&String> = changes.keys().collect();
    tracing::info!(?keys, by = %caller.0, "configuration changed");
    Ok(StatusCode::OK.into_response())
}

/// Refuses API changes in read-only mode with Harbor's message, save the
/// one that turns it off (`PUT /configurations`).
pub(crate) async fn read_only_guard(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use axum::http::Method;
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let exempt = req.uri().path() == "/api/v2.0/configurations";
    if changes && !exempt && state.settings.get().read_only {
        return HarborError::new(
            StatusCode::FORBIDDEN,
            "DENIED",
            harbor_core::READ_ONLY_MESSAGE,
        )
        .into_response();
    }
    next.run(req).await
}
