//! `/ping` and `/systeminfo`, in Harbor's `GeneralInfo` shape.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::{json, AppState, Caller};
use crate::auth::Realm;

/// Harbor's `GeneralInfo`: the public part for anyone, the rest for
/// signed-in callers.
#[derive(Debug, Serialize)]
pub(super) struct GeneralInfo {
    auth_mode: &'static str,
    self_registration: bool,
    harbor_version: &'static str,
    /// The provider's name in `oidc_auth` mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    oidc_provider_name: Option<String>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    signed_in: Option<SignedInInfo>,
}

/// What `GeneralInfo` adds for signed-in callers.
#[derive(Debug, Serialize)]
pub(super) struct SignedInInfo {
    external_url: String,
    registry_url: String,
    project_creation_restriction: &'static str,
    has_ca_root: bool,
    read_only: bool,
    with_chartmuseum: bool,
    with_notary: bool,
    notification_enable: bool,
    registry_storage_provider_name: &'static str,
}

/// `GET /ping`: `Pong`.
pub(super) async fn ping() -> Response {
    let mut resp = (StatusCode::OK, "Pong").into_response();
    super::set(&mut resp, "content-type", "text/plain; charset=utf-8");
    resp
}

/// `GET /systeminfo`.
pub(super) async fn systeminfo(State(state): State<AppState>, caller: Caller) -> Response {
    let settings = state.settings.get();
    let signed_in = (caller.0 != harbor_auth::Principal::Anonymous).then(|| {
        let external = match &state.auth.realm {
            Realm::External(url) => url.clone(),
            _ => String::new(),
        };
        let registry_url = external
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .to_owned();
        SignedInInfo {
            external_url: external,
            registry_url,
            project_creation_restriction: settings.project_creation_restriction.as_str(),
            has_ca_root: false,
            read_only: settings.read_only,
            with_chartmuseum: false,
            with_notary: false,
            notification_enable: false,
            registry_storage_provider_name: "filesystem",
        }
    });
    json(
        StatusCode::OK,
        &GeneralInfo {
            auth_mode: settings.auth_mode.as_str(),
            self_registration: false,
            oidc_provider_name: (settings.auth_mode == crate::settings::AuthMode::Oidc)
                .then(|| settings.oidc.name.clone()),
            harbor_version: concat!("v", env!("CARGO_PKG_VERSION"), "-harbor-rs"),
            signed_in,
        },
    )
}
