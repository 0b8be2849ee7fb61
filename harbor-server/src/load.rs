//! How many `/v2/` requests are being served right now: garbage collection
//! gives way while there are some (`GarbageCollector::yield_to`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use harbor_core::BusyProbe;

/// The count of `/v2/` requests in flight. Cheap to clone; clones share it.
#[derive(Debug, Clone, Default)]
pub struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    /// Whether any request is being served.
    pub fn busy(&self) -> bool {
        self.0.load(Ordering::Relaxed) > 0
    }

    /// A probe for garbage collection.
    pub fn probe(&self) -> BusyProbe {
        let count = self.clone();
        BusyProbe::new(move || count.busy())
    }
}

/// One request counted for as long as it is handled, however it ends
/// (a client that hangs up drops the handler, and this with it).
struct Counted(InFlight);

impl Counted {
    fn new(in_flight: &InFlight) -> Counted {
        in_flight.0.fetch_add(1, Ordering::Relaxed);
        Counted(in_flight.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0 .0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts the request while the rest of the stack handles it (an upload's
/// body is read there; a download's body streams after, uncounted).
pub async fn count(State(in_flight): State<InFlight>, req: Request, next: Next) -> Response {
    let _counted = Counted::new(&in_flight);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_counted_until_it_ends() {
        let in_flight = InFlight::default();
        let probe = in_flight.probe();
        assert!(!in_flight.busy());
        let one = Counted::new(&in_flight);
        let two = Counted::new(&in_flight);
        drop(one);
        assert!(in_flight.busy(), "one still in flight");
        drop(two);
        assert!(!in_flight.busy());
        let _ = probe;
    }
}
