//! Push and pull throughput: many large generated blobs, `C` at a time.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::client::{Registry, Res};
use crate::gen::{self, Blob};
use crate::ops::{self, Mode};
use crate::stats::{self, result, Probe};
use crate::Opts;

/// What a push left behind, for a later pull (`--state`).
pub(crate) struct Pushed {
    /// The repository.
    pub(crate) repo: String,
    /// Each blob with its digest.
    pub(crate) blobs: Vec<(Blob, String)>,
}

impl Pushed {
    fn save(&self, path: &Path) -> Res<()> {
        let blobs: Vec<_> = self
            .blobs
            .iter()
            .map(|(b, d)| serde_json::json!({"seed": b.seed, "size": b.size, "digest": d}))
            .collect();
        let v = serde_json::json!({"repo": self.repo, "blobs": blobs});
        std::fs::write(path, serde_json::to_vec_pretty(&v)?)?;
        Ok(())
    }

    fn load(path: &Path) -> Res<Pushed> {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path)?)?;
        let repo = v["repo"].as_str().ok_or("state: no repo")?.to_owned();
        let mut blobs = Vec::new();
        for b in v["blobs"].as_array().ok_or("state: no blobs")? {
            let blob = Blob {
                seed: b["seed"].as_u64().ok_or("state: seed")?,
                size: b["size"].as_u64().ok_or("state: size")?,
            };
            blobs.push((
                blob,
                b["digest"].as_str().ok_or("state: digest")?.to_owned(),
            ));
        }
        Ok(Pushed { repo, blobs })
    }
}

/// Pushes `--count` blobs of `--size` bytes, `--concurrency` at a time, then
/// a manifest over them; timed and reported as `scenario` unless `setup`.
pub(crate) async fn push(
    reg: Arc<Registry>,
    o: &Opts,
    mode: Mode,
    scenario: &str,
    setup: bool,
) -> Res<Pushed> {
    let repo = format!("{}/bench-{scenario}", o.project);
    let blobs: Vec<Blob> = (0..o.count as u64)
        .map(|i| Blob {
            seed: gen::seed_for(o.seed, scenario, i),
            size: o.size,
        })
        .collect();
    let digests = gen::digests(&blobs)?;
    reg.authorize(&ops::push_scope(&repo)).await?;
    let jobs: Arc<Vec<(Blob, String)>> = Arc::new(blobs.into_iter().zip(digests).collect());

    let probe = Probe::start(o.server_pid);
    let started = Instant::now();
    let mut lat = {
        let (reg, jobs, repo) = (reg.clone(), jobs.clone(), repo.clone());
        stats::run_jobs(o.concurrency, jobs.len(), move |i| {
            let (reg, jobs, repo) = (reg.clone(), jobs.clone(), repo.clone());
            async move {
                let (blob, digest) = &jobs[i];
                ops::upload(&reg, &repo, *blob, digest, mode).await
            }
        })
        .await?
    };
    let blobs_done = started.elapsed().as_secs_f64();
    let layers: Vec<(String, u64)> = jobs.iter().map(|(b, d)| (d.clone(), b.size)).collect();
    let m = Instant::now();
    ops::push_image(&reg, &repo, &layers, "v1").await?;
    let manifest_ms = m.elapsed().as_secs_f64() * 1000.0;
    let secs = started.elapsed().as_secs_f64();
    let bytes = o.count as u64 * o.size;
    if !setup {
        result(scenario, "mbps", bytes as f64 / 1e6 / secs, "MB/s");
        result(
            scenario,
            "blobs_mbps",
            bytes as f64 / 1e6 / blobs_done,
            "MB/s",
        );
        stats::latencies(scenario, "blob_", &mut lat);
        result(scenario, "manifest_ms", manifest_ms, "ms");
        probe.finish(scenario, bytes);
        println!(
            "{scenario}: {} blobs x {} MiB, {} at a time, {:.2} s: {:.1} MB/s",
            o.count,
            o.size >> 20,
            o.concurrency,
            secs,
            bytes as f64 / 1e6 / secs
        );
    }
    let pushed = Pushed {
        repo,
        blobs: Arc::try_unwrap(jobs).unwrap_or_else(|a| (*a).clone()),
    };
    if let (Some(path), false) = (&o.state, setup) {
        pushed.save(path)?;
    }
    Ok(pushed)
}

/// Pulls the blobs of an earlier push (`--state`, else pushed here first,
/// untimed) `--passes` times over, `--concurrency` at a time: once checking
/// each body's sha256 (`pull`, as a real client does), then once without
/// (`pull-noverify`, the server's side alone); only the latter with
/// `--no-verify`.
pub(crate) async fn pull(reg: Arc<Registry>, o: &Opts) -> Res<()> {
    let pushed = match &o.state {
        Some(p) if p.exists() => Pushed::load(p)?,
        _ => push(reg.clone(), o, Mode::Mono, "pull-setup", true).await?,
    };
    reg.authorize(&ops::pull_scope(&pushed.repo)).await?;
    let n = pushed.blobs.len() * o.passes.max(1);
    let bytes: u64 = pushed.blobs.iter().map(|(b, _)| b.size).sum::<u64>() * o.passes.max(1) as u64;
    let pushed = Arc::new(pushed);
    let passes: &[(&str, bool)] = if o.no_verify {
        &[("pull-noverify", false)]
    } else {
        &[("pull", true), ("pull-noverify", false)]
    };
    for &(scenario, verify) in passes {
        let probe = Probe::start(o.server_pid);
        let mut lat = {
            let (reg, pushed) = (reg.clone(), pushed.clone());
            stats::run_jobs(o.concurrency, n, move |i| {
                let (reg, pushed) = (reg.clone(), pushed.clone());
                async move {
                    let (blob, digest) = &pushed.blobs[i % pushed.blobs.len()];
                    ops::fetch_blob(&reg, &pushed.repo, digest, blob.size, verify).await?;
                    Ok(())
                }
            })
            .await?
        };
        let secs = probe.elapsed();
        result(scenario, "mbps", bytes as f64 / 1e6 / secs, "MB/s");
        stats::latencies(scenario, "blob_", &mut lat);
        probe.finish(scenario, bytes);
        println!(
            "{scenario}: {n} blob GETs, {} at a time, {:.1} MiB in {secs:.2} s: {:.1} MB/s{}",
            o.concurrency,
            bytes as f64 / f64::from(1u32 << 20),
            bytes as f64 / 1e6 / secs,
            if verify { " (sha256 checked)" } else { "" }
        );
    }
    Ok(())
}
