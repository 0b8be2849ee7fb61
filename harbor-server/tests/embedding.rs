//! The whole API mounted inside another program's axum router, next to that
//! program's own routes, over stores the program chose: the client address
//! reaches login rate limiting through axum's `ConnectInfo`, the token realm
//! is the configured one, and the duties start and stop with the program.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::get;
use harbor_server::Harbor;
use harbor_storage::{MemoryBlobStore, SqliteMetaStore};

/// Serves the embedding program; returns its base URL.
async fn serve(with_connect_info: bool) -> (String, harbor_server::RunningDuties) {
    let meta = Arc::new(SqliteMetaStore::in_memory().expect("an in-memory store"));
    harbor_auth::bootstrap(meta.as_ref(), Some(common::ADMIN_PASSWORD))
        .await
        .expect("admin and library");
    let key = harbor_auth::SigningKey::ephemeral().expect("a signing key");
    let harbor = Harbor::builder(Arc::new(MemoryBlobStore::new()), meta.clone())
        .identity(meta, key)
        .external_url("https://registry.example.com")
        .build()
        .expect("the composed server");
    let (api, duties) = harbor.into_parts();
    let running = duties.start().await;
    let app = axum::Router::new()
        .route("/hello", get(|| async { "hello from the host program" }))
        .merge(api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    tokio::spawn(async move {
        let served = if with_connect_info {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        } else {
            axum::serve(listener, app).await
        };
        served.expect("serving");
    });
    (format!("http://{addr}"), running)
}

#[tokio::test]
async fn the_api_mounted_in_another_axum_program_serves_beside_its_routes_with_the_configured_realm(
) {
    let (base, running) = serve(true).await;
    let r = common::request("GET", &format!("{base}/hello"), &[], "").await;
    assert_eq!(
        (r.status, &r.body[..]),
        (200, &b"hello from the host program"[..])
    );
    let r = common::request("GET", &format!("{base}/v2/"), &[], "").await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"https://registry.example.com/service/token\",service=\"harbor-registry\"")
    );
    let admin = common::basic("admin", common::ADMIN_PASSWORD);
    let r = common::request(
        "GET",
        &format!(
            "{base}/service/token?service=harbor-registry&scope=repository:library/x:pull,push"
        ),
        &[("authorization", &admin)],
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    let token = r.json()["token"].as_str().unwrap_or_default().to_owned();
    let r = common::request(
        "GET",
        &format!("{base}/v2/"),
        &[("authorization", &format!("Bearer {token}"))],
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    let r = common::request(
        "GET",
        &format!("{base}/api/v2.0/projects/library"),
        &[("authorization", &admin)],
        "",
    )
    .await;
    assert_eq!(
        (r.status, r.json()["name"].as_str()),
        (200, Some("library"))
    );
    running.stop().await;
}

/// Asks `base`'s token service for a token as `user`.
async fn login(base: &str, user: &str, password: &str) -> common::Resp {
    common::request(
        "GET",
        &format!("{base}/service/token?service=harbor-registry"),
        &[("authorization", &common::basic(user, password))],
        "",
    )
    .await
}

#[tokio::test]
async fn failed_logins_are_limited_per_client_address_through_connect_info() {
    let (base, running) = serve(true).await;
    // Ten failures, each for a different account: no account is over its
    // limit, but the address is.
    for i in 0..10 {
        let r = login(&base, &format!("nobody{i}"), "wrong").await;
        assert_eq!(r.status, 401, "attempt {i}");
    }
    let r = login(&base, "admin", common::ADMIN_PASSWORD).await;
    assert_eq!(
        r.status, 429,
        "the address is blocked, even for good credentials"
    );
    assert!(r.header("retry-after").is_some());
    running.stop().await;
}

#[tokio::test]
async fn without_connect_info_logins_are_still_limited_per_account() {
    let (base, running) = serve(false).await;
    for i in 0..10 {
        let r = login(&base, "admin", "wrong").await;
        assert_eq!(r.status, 401, "attempt {i}");
    }
    let r = login(&base, "admin", common::ADMIN_PASSWORD).await;
    assert_eq!(r.status, 429);
    running.stop().await;
}
