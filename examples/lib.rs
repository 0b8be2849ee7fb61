//! Runnable examples of embedding harbor-rs; see the `[[example]]` targets.
//! This library is empty: the package exists to hold the examples and the
//! test that runs them.
