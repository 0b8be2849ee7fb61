//! Figures: latency percentiles, `RESULT` lines, the server's CPU and peak
//! memory from `/proc`, and the worker loops every scenario runs on.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::client::Res;

static SUMMARY: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Prints one machine-readable figure and keeps it for the summary.
pub(crate) fn result(scenario: &str, metric: &str, value: f64, unit: &str) {
    println!("RESULT scenario={scenario} metric={metric} value={value:.4} unit={unit}");
    SUMMARY
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(format!(
            "  {scenario:<18} {metric:<22} {value:>14.3} {unit}"
        ));
}

/// Prints a note (a skipped scenario, a caveat) in a form the scripts keep.
pub(crate) fn note(scenario: &str, text: &str) {
    println!("NOTE scenario={scenario} {text}");
}

/// The readable summary of every figure printed so far.
pub(crate) fn print_summary() {
    let lines = SUMMARY.lock().unwrap_or_else(|e| e.into_inner());
    if lines.is_empty() {
        return;
    }
    println!("summary:");
    for l in lines.iter() {
        println!("{l}");
    }
}

/// The `p`th percentile (nearest rank) of sorted `lat`, in milliseconds.
pub(crate) fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

/// Reports p50, p95 and p99 of `lat` (sorted here) as `<prefix>p50_ms` etc.
pub(crate) fn latencies(scenario: &str, prefix: &str, lat: &mut [Duration]) {
    lat.sort_unstable();
    for p in [50.0, 95.0, 99.0] {
        result(
            scenario,
            &format!("{prefix}p{p}_ms"),
            percentile_ms(lat, p),
            "ms",
        );
    }
}

fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// CPU seconds (user + system) a process has used, from `/proc/<pid>/stat`.
pub(crate) fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may itself hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line: 11 and 12 here.
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / clock_ticks())
}

/// Measures the server (when its pid is known) and this process over a scenario.
pub(crate) struct Probe {
    pid: Option<String>,
    server_cpu: Option<f64>,
    client_cpu: Option<f64>,
    reset: bool,
    started: Instant,
}

impl Probe {
    /// Starts measuring: resets the server's peak RSS to its current RSS
    /// (`echo 5 > /proc/PID/clear_refs`) so the peak is this scenario's.
    pub(crate) fn start(pid: Option<u32>) -> Probe {
        let pid = pid.map(|p| p.to_string());
        let reset = pid
            .as_ref()
            .is_some_and(|p| std::fs::write(format!("/proc/{p}/clear_refs"), "5").is_ok());
        Probe {
            server_cpu: pid.as_deref().and_then(cpu_seconds),
            client_cpu: cpu_seconds("self"),
            pid,
            reset,
            started: Instant::now(),
        }
    }

    /// Seconds since [`Probe::start`].
    pub(crate) fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Reports CPU seconds of server and client, per GiB when `bytes` moved,
    /// and the server's peak RSS.
    pub(crate) fn finish(&self, scenario: &str, bytes: u64) {
        let gib = bytes as f64 / f64::from(1u32 << 30);
        if let (Some(pid), Some(before)) = (self.pid.as_deref(), self.server_cpu) {
            if let Some(after) = cpu_seconds(pid) {
                let cpu = after - before;
                result(scenario, "server_cpu_s", cpu, "s");
                if bytes > 0 {
                    result(scenario, "server_cpu_s_per_gib", cpu / gib, "s/GiB");
                }
            }
            if let Some(kib) = harbor_benches::peak_rss_kib_of(pid) {
                result(scenario, "server_peak_rss_mib", kib as f64 / 1024.0, "MiB");
                if !self.reset {
                    note(
                        scenario,
                        "peak RSS could not be reset: it is the process's lifetime peak",
                    );
                }
            }
        }
        if let (Some(before), Some(after)) = (self.client_cpu, cpu_seconds("self")) {
            result(scenario, "client_cpu_s", after - before, "s");
        }
    }
}

/// Runs jobs `0..n` on `c` concurrent tasks, returning each job's duration.
pub(crate) async fn run_jobs<F, Fut>(c: usize, n: usize, f: F) -> Res<Vec<Duration>>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Res<()>> + Send + 'static,
{
    let f = Arc::new(f);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..c.clamp(1, n.max(1)) {
        let (f, next) = (f.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, crate::client::BoxError>(lat);
                }
                let t = Instant::now();
                f(i).await?;
                lat.push(t.elapsed());
            }
        }));
    }
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(all)
}

/// Runs `c` clients for `dur`; client `i`'s `n`th call is `f(i, n)`, which
/// returns a label (e.g. 0 for HEAD, 1 for GET). Returns (label, duration)
/// of every call.
pub(crate) async fn run_for<F, Fut>(c: usize, dur: Duration, f: F) -> Res<Vec<(usize, Duration)>>
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Res<usize>> + Send + 'static,
{
    let f = Arc::new(f);
    let deadline = Instant::now() + dur;
    let mut tasks = Vec::new();
    for i in 0..c.max(1) {
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut n = 0;
            while Instant::now() < deadline {
                let t = Instant::now();
                let label = f(i, n).await?;
                lat.push((label, t.elapsed()));
                n += 1;
            }
            Ok::<_, crate::client::BoxError>(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let lat: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&lat, 50.0), 50.0);
        assert_eq!(percentile_ms(&lat, 99.0), 99.0);
        assert_eq!(percentile_ms(&lat[..1], 99.0), 1.0);
    }

    #[test]
    fn own_cpu_time_is_readable() {
        assert!(cpu_seconds("self").is_some());
    }
}
