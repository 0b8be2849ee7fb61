//! `/configurations`: the system settings in Harbor's
//! `ConfigurationsResponse` shape (each key a `value` and whether it is
//! `editable`), and changing them. System administrators only.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{json, ApiResult, AppState, Caller, HarborError, HarborJson};

/// `GET /configurations`.
pub(super) async fn get(State(state): State<AppState>, caller: Caller) -> ApiResult {
    caller.require_admin()?;
    Ok(json(StatusCode::OK, &state.settings.get().response()))
}

/// `PUT /configurations`: the keys given, checked all before any is set.
pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<HarborJson<serde_json::Map<String, serde_json::Value>>, HarborError>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let HarborJson(changes) = body?;
    check_auth_mode_change(&state, &changes).await?;
    state.settings.update(&changes).await?;
    let keys: Vec<&String> = changes.keys().collect();
    tracing::info!(?keys, by = %caller.0, "configuration changed");
    Ok(StatusCode::OK.into_response())
}

/// Harbor's rule: `auth_mode` changes only while no user but `admin`
/// exists (users of one mode would be strangers to the next).
async fn check_auth_mode_change(
    state: &AppState,
    changes: &serde_json::Map<String, serde_json::Value>,
) -> ApiResult<()> {
    let Some(mode) = changes.get("auth_mode") else {
        return Ok(());
    };
    if mode.as_str() == Some(state.settings.get().auth_mode.as_str()) {
        return Ok(());
    }
    let page = harbor_core::Page {
        page: 1,
        page_size: 2,
    };
    let (_, total) = state.auth.identity.list_users(None, page).await?;
    if total > 1 {
        return Err(HarborError::bad_request(
            "auth_mode cannot be changed: users other than admin exist",
        ));
    }
    Ok(())
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
