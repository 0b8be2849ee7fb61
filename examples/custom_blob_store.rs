//! A third-party `BlobStore`, checked by the conformance suite that every
//! backend of harbor-rs passes. The store itself, `MapBlobStore` in
//! `map_blob_store.rs`, keeps blobs and upload sessions in maps: only the
//! trait's ten required methods, each as short as the contract allows.
//!
//! A backend crate runs the suites from its own tests with
//! `harbor-storage = { default-features = false, features = ["conformance"] }`
//! among its dev-dependencies, which compiles no SQLite.
//!
//! User code: 80 lines, over the other examples' 30: 75 for the store (the
//! struct and ten methods, as rustfmt lays them out) and 5 for this `main`
//! with its attribute and braces; no imports, comments or blank lines.
//!
//! Run it with `cargo run -p harbor-examples --example custom_blob_store`.

mod map_blob_store;

use map_blob_store::MapBlobStore;

#[tokio::main]
async fn main() {
    // Panics, naming the behaviour, at the first deviation from the contract.
    harbor_storage::conformance::blob_store::run_all(&MapBlobStore::default()).await;
    println!("OK: MapBlobStore passes the BlobStore conformance suite");
}
