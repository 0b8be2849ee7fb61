//! `/ping` and `/systeminfo`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{json, AppState, Caller};

/// `GET /ping`: `Pong`.
pub(super) async fn ping() -> Response {
    let mut resp = (StatusCode::OK, "Pong").into_response();
    super::set(&mut resp, "content-type", "text/plain; charset=utf-8");
    resp
}

/// `GET /systeminfo`: Harbor's `GeneralInfo`; anonymous callers see the
/// public part only.
pub(super) async fn systeminfo(State(state): State<AppState>, caller: Caller) -> Response {
    let mut info = serde_json::json!({
        "auth_mode": "db_auth",
        "self_registration": false,
        "harbor_version": concat!("v", env!("CARGO_PKG_VERSION"), "-harbor-rs"),
    });
    if caller.0 != harbor_auth::Principal::Anonymous {
        let external = match &state.auth.realm {
            crate::auth::Realm::External(url) => url.clone(),
            _ => String::new(),
        };
        let registry_url = external
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .to_owned();
        let extra = serde_json::json!({
            "external_url": external,
            "registry_url": registry_url,
            "project_creation_restriction": "everyone",
            "has_ca_root": false,
            "read_only": false,
            "with_chartmuseum": false,
            "with_notary": false,
            "notification_enable": false,
            "registry_storage_provider_name": "filesystem",
        });
        if let (Some(base), Some(extra)) = (info.as_object_mut(), extra.as_object()) {
            base.extend(extra.clone());
        }
    }
    json(StatusCode::OK, &info)
}
