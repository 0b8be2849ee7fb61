//! The routes and the layers around them, for an open registry and for one
//! with Harbor's identity.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::Response;
use axum::routing::{any, get};
use axum::Router;
use harbor_core::Registry;

use crate::app::AppState;
use crate::auth::{self, GuardState};
use crate::events::{self, V2Hooks};
use crate::{api, health, metrics, oci, portal};

/// The `/v2/` routes over `registry`, without layers.
fn v2(registry: Registry) -> Router {
    Router::new()
        .route("/v2", any(oci::dispatch))
        .route("/v2/", any(oci::dispatch))
        .route("/v2/{*path}", any(oci::dispatch))
        .with_state(oci::OciState { registry })
}

/// An open registry: `/v2/` for anyone, and the health check.
pub(crate) fn open(registry: Registry) -> Router {
    let v2 = v2(registry.clone()).layer(from_fn(oci::api_version_header));
    Router::new()
        .route("/api/v2.0/health", get(health::health))
        .with_state(registry)
        .merge(v2)
        .layer(from_fn(request_id))
}

/// Harbor's face: `/v2/` behind the token guard and the audit and event
/// hooks, `/service/token`, `/api/v2.0`, and the portal.
pub(crate) fn harbor(state: AppState) -> Router {
    // Layers run outside in: the guard first, then the hooks that see the
    // caller it identified.
    let v2 = v2(state.registry.clone())
        .layer(from_fn_with_state(
            V2Hooks {
                audit: state.audit.clone(),
                replication: state.replication.clone(),
                registry: state.registry.clone(),
                webhooks: state.webhooks.clone(),
            },
            events::record_v2,
        ))
        .layer(from_fn_with_state(
            GuardState {
                auth: state.auth.clone(),
                registry: state.registry.clone(),
            },
            auth::guard,
        ))
        .layer(from_fn(oci::api_version_header));
    // The portal calls the management API in-process, through the same
    // routes and read-only guard as a request from outside.
    let portal = portal::routes(portal::PortalState {
        app: state.clone(),
        api: portal::ApiClient::new(
            api::routes()
                .layer(from_fn_with_state(
                    state.clone(),
                    api::configurations::read_only_guard,
                ))
                .with_state(state.clone()),
        ),
    });
    Router::new()
        .route("/api/v2.0/health", get(health::health))
        .route(
            "/service/token",
            get(auth::token_get).post(auth::token_post),
        )
        .merge(api::routes().layer(from_fn_with_state(
            state.clone(),
            api::configurations::read_only_guard,
        )))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .with_state(state.clone())
        .merge(v2)
        .merge(portal)
        .layer(from_fn_with_state(state.metrics.clone(), metrics::record))
        .layer(from_fn(request_id))
}

/// A path that is not served, in Harbor's error form.
async fn not_found(uri: axum::http::Uri) -> api::HarborError {
    api::HarborError::not_found(format!("{} is not served here", uri.path()))
}

/// A method a path does not take, in Harbor's error form.
async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> api::HarborError {
    api::HarborError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// Harbor answers every request with an `X-Request-Id`: the client's own, if
/// it sent a sensible one, else a new UUID-shaped id. Ids are a random
/// per-process half and a counter: unique without asking the kernel for
/// randomness on every pull.
async fn request_id(req: Request, next: Next) -> Response {
    static PROCESS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let id = req
        .headers()
        .get("x-request-id")
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .cloned()
        .unwrap_or_else(|| {
            let process = *PROCESS.get_or_init(|| uuid::Uuid::new_v4().as_u64_pair().0);
            let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let id = uuid::Uuid::from_u64_pair(process, n);
            HeaderValue::from_str(
                id.hyphenated()
                    .encode_lower(&mut uuid::Uuid::encode_buffer()),
            )
            .unwrap_or_else(|_| HeaderValue::from_static("-"))
        });
    let mut resp = next.run(req).await;
    resp.headers_mut().insert("x-request-id", id);
    resp
}
