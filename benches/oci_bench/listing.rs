//! Listing: a repository with `--tags` tags (one manifest put under each,
//! concurrently) listed page by page (`n=`, `Link`), and the catalog.

use std::sync::Arc;
use std::time::Instant;

use hyper::Method;

use crate::client::{empty, expect, read_body, Registry, Res};
use crate::gen::{self, Blob};
use crate::ops::{self, Mode};
use crate::stats::{self, result, Probe};
use crate::Opts;

/// The `rel="next"` target of a `Link` header.
fn next_link(link: &str) -> Option<&str> {
    link.split(',')
        .find(|l| l.contains("rel=\"next\"") || l.contains("rel=next"))
        .and_then(|l| Some(&l[l.find('<')? + 1..l.find('>')?]))
}

/// Fetches every page from `first`, following `Link`; returns (entries under
/// `key`, pages).
async fn list_all(reg: &Registry, first: String, scope: &str, key: &str) -> Res<(usize, usize)> {
    let (mut url, mut entries, mut pages) = (first, 0, 0);
    loop {
        let resp = reg.send(Method::GET, &url, scope, &[], empty).await?;
        let resp = expect(resp, &[200], "list").await?;
        let next = resp
            .headers()
            .get("link")
            .and_then(|v| v.to_str().ok())
            .and_then(next_link)
            .map(str::to_owned);
        let v: serde_json::Value = serde_json::from_slice(&read_body(resp).await?)?;
        entries += v[key].as_array().map_or(0, Vec::len);
        pages += 1;
        match next {
            Some(n) => url = reg.resolve(&n)?,
            None => return Ok((entries, pages)),
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Tags `--tags` times one manifest (`--concurrency` at a time), then lists
/// the tags and the catalog `--runs` times each, `--page` entries a page.
pub(crate) async fn tags(reg: Arc<Registry>, o: &Opts) -> Res<()> {
    let repo = format!("{}/bench-tags", o.project);
    reg.authorize(&ops::push_scope(&repo)).await?;
    let layer = Blob {
        seed: gen::seed_for(o.seed, "tags", 0),
        size: 4096,
    };
    let digest = layer.digest();
    ops::upload(&reg, &repo, layer, &digest, Mode::Mono).await?;
    let manifest = ops::push_image(&reg, &repo, &[(digest, layer.size)], "t00000").await?;

    let scenario = "tags-setup";
    let probe = Probe::start(o.server_pid);
    let mut lat = {
        let (reg, repo, manifest) = (reg.clone(), Arc::<str>::from(repo.as_str()), manifest);
        stats::run_jobs(o.concurrency, o.tags, move |i| {
            let (reg, repo, manifest) = (reg.clone(), repo.clone(), manifest.clone());
            async move { ops::put_manifest(&reg, &repo, &format!("t{i:05}"), &manifest).await }
        })
        .await?
    };
    let secs = probe.elapsed();
    result(scenario, "tags_per_s", o.tags as f64 / secs, "req/s");
    stats::latencies(scenario, "", &mut lat);
    probe.finish(scenario, 0);

    let scenario = "tags-list";
    let scope = ops::pull_scope(&repo);
    reg.authorize(&scope).await?;
    let first = reg.url(&format!("/v2/{repo}/tags/list?n={}", o.page));
    let probe = Probe::start(o.server_pid);
    let (mut times, mut seen) = (Vec::new(), (0, 0));
    for _ in 0..o.runs.max(1) {
        let t = Instant::now();
        seen = list_all(&reg, first.clone(), &scope, "tags").await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    if seen.0 < o.tags {
        return Err(format!("listed {} tags, expected {}", seen.0, o.tags).into());
    }
    let ms = median(times);
    result(scenario, "full_listing_ms", ms, "ms");
    result(scenario, "pages", seen.1 as f64, "pages");
    probe.finish(scenario, 0);
    println!(
        "tags: {} tags put at {:.0}/s; a full listing ({} a page, {} pages) takes {ms:.1} ms",
        o.tags,
        o.tags as f64 / secs,
        o.page,
        seen.1
    );

    let scenario = "catalog-list";
    let scope = "registry:catalog:*";
    reg.authorize(scope).await?;
    let first = reg.url(&format!("/v2/_catalog?n={}", o.page.min(100)));
    let mut times = Vec::new();
    for _ in 0..o.runs.max(1) {
        let t = Instant::now();
        seen = list_all(&reg, first.clone(), scope, "repositories").await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let ms = median(times);
    result(scenario, "full_listing_ms", ms, "ms");
    result(scenario, "repositories", seen.0 as f64, "repos");
    println!(
        "catalog: {} repositories, a full listing takes {ms:.2} ms",
        seen.0
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::next_link;

    #[test]
    fn link_headers_give_the_next_page() {
        assert_eq!(
            next_link(r#"</v2/a/tags/list?n=10&last=t9>; rel="next""#),
            Some("/v2/a/tags/list?n=10&last=t9")
        );
        assert_eq!(next_link(r#"</x>; rel="prev""#), None);
    }
}
