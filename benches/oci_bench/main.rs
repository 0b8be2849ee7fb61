//! `oci-bench`: an end-to-end load generator for any registry speaking the
//! OCI distribution API (this project's `harbor-server`, CNCF distribution,
//! ...), with the Docker token flow and Basic authentication.
//!
//! ```text
//! oci-bench push-mono --url http://127.0.0.1:5000 --user admin --password ... \
//!     --concurrency 4 --count 16 --size 32MiB --server-pid 1234
//! ```
//!
//! Every figure is printed as one line
//! `RESULT scenario=<s> metric=<m> value=<v> unit=<u>`, then a readable
//! summary. With `--server-pid`, each scenario also reports the server's CPU
//! seconds (utime + stime from `/proc/PID/stat`), CPU seconds per GiB moved,
//! and its peak RSS (`VmHWM`, reset at the scenario's start).
//! `benches/compare.sh` runs every scenario against both registries.

mod client;
mod gen;
mod listing;
mod local;
mod ops;
mod stats;
mod storm;
mod transfer;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::client::{Registry, Res};
use crate::ops::Mode;

/// The measurements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Scenario {
    /// Both push scenarios.
    Push,
    /// `--count` blobs of `--size` bytes, each POST then one PUT, `-c` at a time; then a manifest.
    PushMono,
    /// As push-mono, but PATCHes of `--chunk` bytes with Content-Range, then PUT ?digest=.
    PushChunked,
    /// GETs of pushed blobs (`--state` from a push, or pushed first), sha256 checked.
    Pull,
    /// `-c` clients HEAD/GET a manifest by tag for `--duration` seconds.
    Manifest,
    /// One manifest under `--tags` tags; full paged tag and catalog listings.
    Tags,
    /// `-c` clients asking the token service for push/pull tokens.
    Token,
    /// `-c` clients pulling a small blob from one repository, then from `-c` projects.
    Spread,
    /// The loopback TCP limit: `--size` bytes over `-c` local connections.
    Tcp,
    /// Raw ES256 signing (and verification) rate with ring.
    Sign,
    /// Time from spawning the command after `--` to its first answer to /v2/.
    Startup,
}

/// Command-line options.
#[derive(Parser, Debug)]
#[command(
    name = "oci-bench",
    version,
    about = "End-to-end load generator for OCI registries"
)]
pub(crate) struct Opts {
    /// The measurement to run.
    #[arg(value_enum)]
    pub(crate) scenario: Scenario,
    /// The registry's base URL.
    #[arg(long, env = "OCI_BENCH_URL", default_value = "http://127.0.0.1:5000")]
    pub(crate) url: String,
    /// User for Basic authentication and the token service.
    #[arg(long, env = "OCI_BENCH_USER")]
    pub(crate) user: Option<String>,
    /// Password for `--user`.
    #[arg(long, env = "OCI_BENCH_PASSWORD", hide_env_values = true)]
    pub(crate) password: Option<String>,
    /// Project (first path component) of the repositories used.
    #[arg(long, default_value = "library")]
    pub(crate) project: String,
    /// Concurrent clients (or threads, or TCP connections).
    #[arg(long, short = 'c', default_value_t = 4)]
    pub(crate) concurrency: usize,
    /// Blobs to push.
    #[arg(long, short = 'k', default_value_t = 16)]
    pub(crate) count: usize,
    /// Bytes per blob (tcp: bytes in all), e.g. 32MiB, 1GiB.
    #[arg(long, default_value = "32MiB", value_parser = parse_size)]
    pub(crate) size: u64,
    /// Bytes per PATCH of a chunked upload.
    #[arg(long, default_value = "8MiB", value_parser = parse_size)]
    pub(crate) chunk: u64,
    /// Size of the small blob of `spread`.
    #[arg(long, default_value = "16KiB", value_parser = parse_size)]
    pub(crate) small: u64,
    /// Seconds each storm lasts.
    #[arg(long, default_value_t = 5.0)]
    pub(crate) duration: f64,
    /// The server's process id, for its CPU time and peak RSS.
    #[arg(long)]
    pub(crate) server_pid: Option<u32>,
    /// Seed of the generated contents (vary it to avoid deduplication).
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// File where push records its blobs and pull reads them.
    #[arg(long)]
    pub(crate) state: Option<PathBuf>,
    /// Tags of the listing scenario.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) tags: usize,
    /// Page size (`n=`) of listings.
    #[arg(long, default_value_t = 1000)]
    pub(crate) page: usize,
    /// How many times pull fetches each blob.
    #[arg(long, default_value_t = 1)]
    pub(crate) passes: usize,
    /// Repetitions of listings and of startup.
    #[arg(long, default_value_t = 3)]
    pub(crate) runs: usize,
    /// Skip pull's sha256 check of each body.
    #[arg(long)]
    pub(crate) no_verify: bool,
    /// The server command line (startup).
    #[arg(last = true)]
    pub(crate) command: Vec<String>,
}

impl Opts {
    /// `--duration` as a `Duration`.
    pub(crate) fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.duration.max(0.1))
    }
}

/// `123`, `16KiB`, `32MiB`, `1GiB` (K, M, G are binary too).
fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let num: u64 = num.parse().map_err(|_| format!("{s:?} is not a size"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("unknown unit in {s:?}")),
    };
    num.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

async fn run(o: &Opts) -> Res<()> {
    match o.scenario {
        Scenario::Tcp => return local::tcp(o).await,
        Scenario::Sign => return local::sign(o),
        Scenario::Startup => return local::startup(o).await,
        _ => {}
    }
    let reg = Arc::new(Registry::connect(&o.url, o.user.as_deref(), o.password.as_deref()).await?);
    let chunked = Mode::Chunked { chunk: o.chunk };
    match o.scenario {
        Scenario::Push => {
            transfer::push(reg.clone(), o, Mode::Mono, "push-mono", false).await?;
            transfer::push(reg, o, chunked, "push-chunked", false).await?;
        }
        Scenario::PushMono => {
            transfer::push(reg, o, Mode::Mono, "push-mono", false).await?;
        }
        Scenario::PushChunked => {
            transfer::push(reg, o, chunked, "push-chunked", false).await?;
        }
        Scenario::Pull => transfer::pull(reg, o).await?,
        Scenario::Manifest => storm::manifest(reg, o).await?,
        Scenario::Tags => listing::tags(reg, o).await?,
        Scenario::Token => storm::token(reg, o).await?,
        Scenario::Spread => storm::spread(reg, o).await?,
        Scenario::Tcp | Scenario::Sign | Scenario::Startup => {}
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Res<()> {
    let o = Opts::parse();
    let outcome = run(&o).await;
    stats::print_summary();
    outcome
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("123"), Ok(123));
        assert_eq!(parse_size("16KiB"), Ok(16 << 10));
        assert_eq!(parse_size("32M"), Ok(32 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert!(parse_size("1XB").is_err());
    }
}
