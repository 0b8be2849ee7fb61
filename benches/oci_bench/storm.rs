//! Request storms over a fixed duration: manifest HEAD/GET, token issuance,
//! and small-blob pulls concentrated on one repository or spread over many
//! projects.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::Method;

use crate::client::{empty, expect, read_body, Auth, Registry, Res};
use crate::gen::{self, Blob};
use crate::ops::{self, Mode};
use crate::stats::{self, note, result, Probe};
use crate::Opts;

fn split(calls: Vec<(usize, Duration)>, labels: usize) -> Vec<Vec<Duration>> {
    let mut out = vec![Vec::new(); labels];
    for (l, d) in calls {
        if let Some(v) = out.get_mut(l) {
            v.push(d);
        }
    }
    out
}

/// `--concurrency` clients doing HEAD and GET (alternately) of a manifest by
/// tag for `--duration` seconds.
pub(crate) async fn manifest(reg: Arc<Registry>, o: &Opts) -> Res<()> {
    let scenario = "manifest";
    let repo = format!("{}/bench-manifest", o.project);
    reg.authorize(&ops::push_scope(&repo)).await?;
    let layer = Blob {
        seed: gen::seed_for(o.seed, scenario, 0),
        size: 4096,
    };
    let digest = layer.digest();
    ops::upload(&reg, &repo, layer, &digest, Mode::Mono).await?;
    let manifest = ops::push_image(&reg, &repo, &[(digest, layer.size)], "storm").await?;
    let scope = ops::pull_scope(&repo);
    reg.authorize(&scope).await?;
    let url: Arc<str> = reg.url(&format!("/v2/{repo}/manifests/storm")).into();
    let (scope, want) = (Arc::<str>::from(scope), manifest.len());

    let probe = Probe::start(o.server_pid);
    let calls = {
        let reg = reg.clone();
        stats::run_for(o.concurrency, o.duration(), move |_, n| {
            let (reg, url, scope) = (reg.clone(), url.clone(), scope.clone());
            async move {
                let head = n % 2 == 0;
                let method = if head { Method::HEAD } else { Method::GET };
                let resp = reg
                    .send(method, &url, &scope, &[("accept", ops::ACCEPT)], empty)
                    .await?;
                let body = read_body(expect(resp, &[200], "manifest").await?).await?;
                if !head && body.len() != want {
                    return Err(format!("manifest of {} bytes, expected {want}", body.len()).into());
                }
                Ok(usize::from(!head))
            }
        })
        .await?
    };
    let secs = probe.elapsed();
    let total = calls.len();
    let mut all: Vec<Duration> = calls.iter().map(|(_, d)| *d).collect();
    let mut parts = split(calls, 2);
    result(scenario, "rps", total as f64 / secs, "req/s");
    stats::latencies(scenario, "", &mut all);
    stats::latencies(scenario, "head_", &mut parts[0]);
    stats::latencies(scenario, "get_", &mut parts[1]);
    probe.finish(scenario, 0);
    println!(
        "{scenario}: {} clients, {total} HEAD/GET in {secs:.2} s: {:.0} req/s, p99 {:.2} ms",
        o.concurrency,
        total as f64 / secs,
        stats::percentile_ms(&all, 99.0)
    );
    Ok(())
}

/// `--concurrency` clients asking the token service for push/pull tokens.
pub(crate) async fn token(reg: Arc<Registry>, o: &Opts) -> Res<()> {
    let scenario = "token";
    let scope = ops::push_scope(&format!("{}/bench-token", o.project));
    let Some(url) = reg.token_url(&scope)? else {
        let how = match reg.auth() {
            Auth::Open => "no authentication",
            Auth::Basic => "Basic authentication",
            Auth::Bearer { .. } => "tokens",
        };
        note(
            scenario,
            &format!("skipped: the registry has no token service ({how})"),
        );
        return Ok(());
    };
    // The first request may pay for password hashing; keep it off the clock.
    reg.fetch_token(&url).await?;
    let url: Arc<str> = url.into();

    let probe = Probe::start(o.server_pid);
    let calls = {
        let reg = reg.clone();
        stats::run_for(o.concurrency, o.duration(), move |_, _| {
            let (reg, url) = (reg.clone(), url.clone());
            async move {
                reg.fetch_token(&url).await?;
                Ok(0)
            }
        })
        .await?
    };
    let secs = probe.elapsed();
    let mut all: Vec<Duration> = calls.iter().map(|(_, d)| *d).collect();
    result(
        scenario,
        "tokens_per_s",
        all.len() as f64 / secs,
        "tokens/s",
    );
    stats::latencies(scenario, "", &mut all);
    probe.finish(scenario, 0);
    println!(
        "{scenario}: {} clients, {:.0} tokens/s",
        o.concurrency,
        all.len() as f64 / secs
    );
    Ok(())
}

/// `--concurrency` clients pulling a small blob (`--small`) from one
/// repository, then each from its own project; reports both and their ratio.
pub(crate) async fn spread(reg: Arc<Registry>, o: &Opts) -> Res<()> {
    let c = o.concurrency.max(1);
    let harbor = reg.is_harbor().await?;
    let data = Bytes::from(
        Blob {
            seed: gen::seed_for(o.seed, "spread", 0),
            size: o.small,
        }
        .range(0, o.small)
        .flat_map(|f| f.to_vec())
        .collect::<Vec<u8>>(),
    );
    let mut repos = Vec::with_capacity(c);
    for i in 0..c {
        let project = format!("bench-spread-{i}");
        if harbor {
            reg.create_project(&project).await?;
        }
        let repo = format!("{project}/blob");
        reg.authorize(&ops::push_scope(&repo)).await?;
        let digest = ops::upload_bytes(&reg, &repo, data.clone()).await?;
        reg.authorize(&ops::pull_scope(&repo)).await?;
        repos.push((repo, digest));
    }
    let repos = Arc::new(repos);
    let size = o.small;
    // A-B-B-A phases of half the duration each, so a drift in the machine's
    // load weighs on both sides alike.
    let half = o.duration() / 2;
    let mut calls: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    let mut secs = [0.0f64; 2];
    let mut cpu = [0.0f64; 2];
    let probe_all = Probe::start(o.server_pid);
    for spread in [false, true, true, false] {
        let side = usize::from(spread);
        let before = o
            .server_pid
            .and_then(|p| stats::cpu_seconds(&p.to_string()));
        let probe = Probe::start(None);
        let got = {
            let (reg, repos) = (reg.clone(), repos.clone());
            stats::run_for(c, half, move |i, _| {
                let (reg, repos) = (reg.clone(), repos.clone());
                async move {
                    let (repo, digest) = &repos[if spread { i } else { 0 }];
                    ops::fetch_blob(&reg, repo, digest, size, true).await?;
                    Ok(0)
                }
            })
            .await?
        };
        secs[side] += probe.elapsed();
        let after = o
            .server_pid
            .and_then(|p| stats::cpu_seconds(&p.to_string()));
        if let (Some(a), Some(b)) = (after, before) {
            cpu[side] += a - b;
        }
        calls[side].extend(got.into_iter().map(|(_, d)| d));
    }
    let mut rates = Vec::new();
    for (side, scenario) in ["pull-concentrated", "pull-spread"].into_iter().enumerate() {
        let n = calls[side].len();
        let rps = n as f64 / secs[side];
        result(scenario, "rps", rps, "req/s");
        stats::latencies(scenario, "", &mut calls[side]);
        if o.server_pid.is_some() {
            result(
                scenario,
                "server_cpu_ms_per_1k_req",
                cpu[side] / n.max(1) as f64 * 1e6,
                "ms",
            );
        }
        rates.push(rps);
    }
    probe_all.finish("spread", 0);
    if let [conc, spread] = rates[..] {
        result("spread", "concentrated_over_spread", conc / spread, "ratio");
        println!(
            "spread: {c} clients pulling {size} bytes: one repository {conc:.0} req/s, \
             {c} projects {spread:.0} req/s"
        );
    }
    Ok(())
}
