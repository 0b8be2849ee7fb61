//! Benchmarks live in the `[[bench]]` targets of this package:
//! - `hot_paths`: criterion micro-benchmarks (hashing, manifest parsing, blob store writes);
//! - `blob_streaming`: pushes and pulls one large blob through a real server
//!   over loopback and reports throughput and the process's peak memory.

/// The process's peak resident set size in KiB (`VmHWM`), where `/proc` has it.
pub fn peak_rss_kib() -> Option<u64> {
    peak_rss_kib_of("self")
}

/// The peak resident set size in KiB (`VmHWM`) of process `pid` (or `self`).
pub fn peak_rss_kib_of(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
