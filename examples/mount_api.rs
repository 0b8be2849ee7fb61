//! Your own axum program with the whole Harbor API mounted in it: your route
//! (`GET /hello`) next to `/v2/`, `/service/token` and `/api/v2.0`, over your
//! own `BlobStore` (the `MapBlobStore` of the `custom_blob_store` example)
//! and users in SQLite; the server's duties (the audit log writer, upload
//! purging) started beside it and stopped at the end.
//!
//! It then checks itself as a client would: its own route answers; `/v2/`
//! asks for a token; the admin gets one with Basic credentials; `/v2/`
//! accepts it.
//!
//! User code: 29 lines (all of `main` with its attribute and braces; no
//! imports, comments or blank lines). The store, `map_blob_store.rs`, is
//! counted with the `custom_blob_store` example.
//!
//! Run it with `cargo run -p harbor-examples --example mount_api`.

mod map_blob_store;

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use harbor_auth::{bootstrap, SigningKey};
use harbor_examples::{basic_auth, http_get};
use harbor_server::Harbor;
use harbor_storage::SqliteMetaStore;
use map_blob_store::MapBlobStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Harbor over your blob store, with users in SQLite (`admin` created).
    let meta = Arc::new(SqliteMetaStore::in_memory()?);
    bootstrap(meta.as_ref(), Some("Harbor12345")).await?;
    let (harbor_routes, duties) = Harbor::builder(Arc::new(MapBlobStore::default()), meta.clone())
        .identity(meta, SigningKey::ephemeral()?)
        .build()?
        .into_parts();

    // Your routes beside it, served with the client address (Harbor limits
    // login failures per address too), its duties running meanwhile.
    let app = Router::new()
        .route("/hello", get(|| async { "hello from my program" }))
        .merge(harbor_routes)
        .into_make_service_with_connect_info::<SocketAddr>();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let running = duties.start().await;
    tokio::spawn(axum::serve(listener, app).into_future());

    // A client's view: your route; `/v2/` asks for a token; the admin gets
    // one with Basic credentials, and `/v2/` takes it.
    println!("{}", http_get(&base, "/hello", None).await?.body());
    let v2 = http_get(&base, "/v2/", None).await?;
    println!("GET /v2/: {:?}", v2.headers()["www-authenticate"]);
    let admin = basic_auth("admin", "Harbor12345");
    let token = http_get(&base, "/service/token", Some(&admin)).await?;
    let token: serde_json::Value = serde_json::from_str(token.body())?;
    let bearer = format!("Bearer {}", token["token"].as_str().ok_or("no token")?);
    let v2 = http_get(&base, "/v2/", Some(&bearer)).await?;
    assert_eq!(v2.status(), 200);

    // In your program, serve in the foreground until a signal
    // (`.with_graceful_shutdown(signal).await`), then stop the duties.
    running.stop().await;
    println!("OK: GET /v2/ with the admin's token: {}", v2.status());
    Ok(())
}
