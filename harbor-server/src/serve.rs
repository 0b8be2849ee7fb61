//! Accepting connections (plain or TLS) and shutting down gracefully.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::error::ServerError;
use crate::sendfile::{Connections, SendfileIo, SendfileSlot};

/// How long a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds a TLS acceptor from PEM certificate chain and key files.
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, ServerError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| ServerError::Io {
            path: p.to_owned(),
            source,
        })
    };
    let cert_pem = read(cert)?;
    let key_pem = read(key)?;
    let failed = |what: String| {
        move |e: Box<dyn std::error::Error + Send + Sync>| ServerError::Tls {
            what,
            source: Some(e),
        }
    };
    let certs = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| failed(format!("{}", cert.display()))(e.into()))?;
    if certs.is_empty() {
        return Err(ServerError::Tls {
            what: format!("{}: no certificate found", cert.display()),
            source: None,
        });
    }
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| failed(format!("{}", key.display()))(e.into()))?
        .ok_or_else(|| ServerError::Tls {
            what: format!("{}: no private key found", key.display()),
            source: None,
        })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| failed("protocol versions".into())(e.into()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| failed("the certificate and key do not fit".into())(e.into()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves `router` on `listener` until `shutdown` completes, then stops
/// accepting and lets in-flight requests finish for up to `grace`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
    connections: Connections,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // A client that never finishes its headers is dropped rather than holding
    // a connection (and shutdown) open.
    // Always queue body buffers rather than copy them into one: blob bodies on
    // plain connections are placeholders that `SendfileIo` must see as they
    // are (see `sendfile`).
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .writev(true);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer): (tokio::net::TcpStream, SocketAddr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // Plain connections send blobs with `sendfile` (TLS ones cannot).
        let slot = Arc::new(SendfileSlot::default());
        let request_slot = tls.is_none().then(|| slot.clone());
        if tls.is_none() {
            connections.open(peer, &slot);
        }
        let connections = connections.clone();
        let service = TowerToHyperService::new(
            tower::ServiceBuilder::new()
                .map_request(move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    if let Some(slot) = &request_slot {
                        req.extensions_mut().insert(slot.clone());
                    }
                    req
                })
                .service(router.clone()),
        );
        let watcher = graceful.watcher();
        let builder = builder.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let result = match tls {
                None => {
                    let io = TokioIo::new(SendfileIo::new(stream, slot));
                    let conn = builder.serve_connection_with_upgrades(io, service);
                    watcher.watch(conn.into_owned()).await
                }
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(tls_stream) => {
                        let conn = builder
                            .serve_connection_with_upgrades(TokioIo::new(tls_stream), service);
                        watcher.watch(conn.into_owned()).await
                    }
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                },
            };
            connections.close(peer);
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: waiting for in-flight requests");
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(?grace, "in-flight requests did not finish in time");
    }
}
