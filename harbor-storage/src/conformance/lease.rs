//! The [`LeaseStore`] suite: exclusive, renewable, expiring leases.

use std::time::Duration;

use harbor_core::LeaseStore;

use super::ok;

/// Runs every lease check against `store`.
pub async fn run_all(store: &dyn LeaseStore) {
    one_holder_at_a_time(store).await;
    an_expired_lease_passes_to_another(store).await;
    leases_are_independent_by_name(store).await;
}

/// A lease held by one holder is refused to another until released; its
/// holder renews it; only the holder releases it.
pub async fn one_holder_at_a_time(store: &dyn LeaseStore) {
    let ttl = Duration::from_secs(60);
    let name = "conformance/one-holder";
    assert!(ok("a takes", store.acquire_lease(name, "a", ttl).await));
    assert!(
        !ok("b tries", store.acquire_lease(name, "b", ttl).await),
        "a live lease must not pass to another holder"
    );
    assert!(
        ok("a renews", store.acquire_lease(name, "a", ttl).await),
        "the holder renews its own lease"
    );
    assert!(
        !ok("b releases", store.release_lease(name, "b").await),
        "only the holder releases a lease"
    );
    assert!(!ok(
        "b tries again",
        store.acquire_lease(name, "b", ttl).await
    ));
    assert!(ok("a releases", store.release_lease(name, "a").await));
    assert!(
        !ok("a releases twice", store.release_lease(name, "a").await),
        "a released lease is gone"
    );
    assert!(
        ok("b takes", store.acquire_lease(name, "b", ttl).await),
        "a released lease is free"
    );
    assert!(ok("b releases", store.release_lease(name, "b").await));
}

/// A holder that stops renewing loses the lease once it expires.
pub async fn an_expired_lease_passes_to_another(store: &dyn LeaseStore) {
    let name = "conformance/expiring";
    let short = Duration::from_millis(200);
    assert!(ok("a takes", store.acquire_lease(name, "a", short).await));
    assert!(!ok("b early", store.acquire_lease(name, "b", short).await));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        ok(
            "b late",
            store
                .acquire_lease(name, "b", Duration::from_secs(60))
                .await
        ),
        "an expired lease passes to the next holder"
    );
    assert!(
        !ok(
            "a after expiry",
            store.acquire_lease(name, "a", short).await
        ),
        "the old holder does not get it back while the new one holds it"
    );
    assert!(
        !ok("a releases", store.release_lease(name, "a").await),
        "the old holder cannot release the new holder's lease"
    );
    assert!(ok("b releases", store.release_lease(name, "b").await));
}

/// Two names are two leases.
pub async fn leases_are_independent_by_name(store: &dyn LeaseStore) {
    let ttl = Duration::from_secs(60);
    assert!(ok(
        "x",
        store.acquire_lease("conformance/x", "a", ttl).await
    ));
    assert!(ok(
        "y",
        store.acquire_lease("conformance/y", "b", ttl).await
    ));
    assert!(ok(
        "release x",
        store.release_lease("conformance/x", "a").await
    ));
    assert!(ok(
        "release y",
        store.release_lease("conformance/y", "b").await
    ));
}
