//! Replication as a library: a policy built in Rust, run once with its
//! progress events printed as they come, then one image copied directly.
//!
//! Both registries are embedded here (the `local` adapter), so the example
//! runs anywhere; for remote registries use
//! `AdapterRegistry::with_defaults().create(&RegistryType::Harbor, &Endpoint { .. })`.
//! The registries and images come from `harbor_examples`.
//!
//! User code: 27 lines (all of `main` with its attribute and braces; no
//! imports, comments or blank lines).
//!
//! Run it with `cargo run -p harbor-examples --example replicate`.

use std::sync::Arc;

use harbor_core::{Reference, RepositoryName};
use harbor_examples::{memory_registry, push_image};
use harbor_replicate::adapters::Local;
use harbor_replicate::Replicator;
use harbor_replicate::{Copier, CopyEvent, CopyOptions, Filter, Policy, Progress, RegistryRef};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (src, dst) = (memory_registry()?, memory_registry()?);
    push_image(&src, "library/web", "v1").await?;
    push_image(&src, "library/web", "v2-rc1").await?;
    push_image(&src, "tools/cli", "v3").await?;
    let (src, dst) = (Arc::new(Local::new(src)), Arc::new(Local::new(dst)));

    // A policy: library/** except release candidates, pushed into `mirror`, flattened.
    let policy = Policy::builder("mirror-library")
        .push_to(RegistryRef { id: 1 })
        .dest_namespace("mirror")
        .flatten(-1)
        .filter(Filter::name("library/**"))
        .filter(Filter::tag_excludes("*-rc*"))
        .build()?;
    // Run once, printing progress as it happens (`event_stream()` gives a
    // `Stream` of the same events instead).
    let progress: Progress = Arc::new(|event: &CopyEvent| println!("  {event:?}"));
    let replicator = Replicator::default();
    let run = replicator.run_policy(&policy, src.clone(), dst.clone(), Some(progress));
    let report = run.await?;
    assert_eq!((report.succeeded(), report.failed()), (1, 0));

    // One image, directly, under another name.
    let copier = Copier::new(src, dst, CopyOptions::default());
    let (from, v3) = (RepositoryName::parse("tools/cli")?, Reference::parse("v3")?);
    let to = RepositoryName::parse("mirror/cli")?;
    let copied = copier.copy_image(&from, &v3, &to, None).await?;
    println!("copied {from}:v3 to {to}: {copied:?}");
    println!("OK");
    Ok(())
}
