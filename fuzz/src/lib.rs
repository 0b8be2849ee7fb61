//! What the fuzz targets share: the runtime the HTTP targets drive their
//! requests on, realistic pieces of names, digests and media types for
//! `arbitrary` to pick from, and the request generator and driver of the
//! two router targets.
//!
//! The targets themselves are in `fuzz_targets/`; `scripts/fuzz` runs them.

pub mod http;
pub mod pick;
pub mod token;

use std::sync::OnceLock;

/// One current-thread runtime per fuzzing process: every input of an HTTP
/// target is driven to its end on it with `block_on`. The stores' blocking
/// work (SQLite) goes to its blocking pool as in the server.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime builds")
    })
}
