//! `harbor-server copy SRC DST`: copies one image (every platform of an index)
//! between registries, in the spirit of `skopeo copy`, with a progress bar per
//! blob and a summary at the end.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use harbor_core::{Reference, RegistryType, RepositoryName};
use harbor_replicate::{
    AdapterRegistry, Copier, CopyEvent, CopyOptions, Credential, Endpoint, ReplicateError,
};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// What can stop a copy from the command line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CopyError {
    /// An image location is not `scheme://host/repository[:tag|@digest]`.
    #[error("{input:?}: {why}")]
    Location {
        /// What was given.
        input: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A location's repository or reference is not valid.
    #[error("{input:?}: {source}")]
    Name {
        /// What was given.
        input: String,
        /// Why the name does not parse.
        #[source]
        source: harbor_core::Error,
    },
    /// Credentials are not `user:password`.
    #[error("credentials are user:password")]
    Credentials,
    /// The copy itself failed.
    #[error(transparent)]
    Replicate(#[from] ReplicateError),
    /// The progress bars could not be set up.
    #[error("progress display: {0}")]
    Progress(#[from] indicatif::style::TemplateError),
}

/// An image location: `http[s]://host[:port]/repo[:tag|@digest]`, or
/// `docker://host/repo...` for HTTPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageLocation {
    /// Registry base URL.
    pub url: String,
    /// Repository.
    pub repository: RepositoryName,
    /// Tag or digest (`latest` when none is given).
    pub reference: Reference,
}

impl ImageLocation {
    /// Parses a location.
    pub fn parse(s: &str) -> Result<Self, CopyError> {
        let bad = |why| CopyError::Location {
            input: s.to_owned(),
            why,
        };
        let (scheme, rest) = if let Some(r) = s.strip_prefix("docker://") {
            ("https", r)
        } else if let Some(r) = s.strip_prefix("https://") {
            ("https", r)
        } else if let Some(r) = s.strip_prefix("http://") {
            ("http", r)
        } else {
            return Err(bad("expected docker://, https:// or http://"));
        };
        let (host, path) = rest.split_once('/').ok_or_else(|| bad("no repository"))?;
        let (repository, reference) = if let Some((r, d)) = path.split_once('@') {
            (r, d)
        } else {
            match path.rsplit_once(':') {
                Some((r, t)) if !t.contains('/') => (r, t),
                _ => (path, "latest"),
            }
        };
        if host.is_empty() || repository.is_empty() || reference.is_empty() {
            return Err(bad("expected host/repository[:tag|@digest]"));
        }
        let name = |source| CopyError::Name {
            input: s.to_owned(),
            source,
        };
        Ok(ImageLocation {
            url: format!("{scheme}://{host}"),
            repository: RepositoryName::parse(repository).map_err(name)?,
            reference: Reference::parse(reference).map_err(name)?,
        })
    }
}

/// Options of the `copy` subcommand.
#[derive(Debug, Clone)]
pub struct CopyArgs {
    /// Source image.
    pub src: String,
    /// Destination image.
    pub dest: String,
    /// `user:password` for the source.
    pub src_creds: Option<String>,
    /// `user:password` for the destination.
    pub dest_creds: Option<String>,
    /// Accept any TLS certificate from the source.
    pub src_insecure: bool,
    /// Accept any TLS certificate from the destination.
    pub dest_insecure: bool,
    /// Destination type: `docker-registry` or `harbor` (creates missing projects).
    pub dest_type: RegistryType,
    /// Keep a destination tag that points at other content.
    pub no_override: bool,
    /// No progress bars (summary only).
    pub quiet: bool,
}

fn credential(c: &Option<String>) -> Result<Option<Credential>, CopyError> {
    match c {
        None => Ok(None),
        Some(c) => {
            let (username, password) = c.split_once(':').ok_or(CopyError::Credentials)?;
            Ok(Some(Credential::Basic {
                username: username.to_owned(),
                password: password.to_owned(),
            }))
        }
    }
}

/// Runs the copy; returns the summary line.
pub async fn run(args: CopyArgs) -> Result<String, CopyError> {
    let src = ImageLocation::parse(&args.src)?;
    let dest = ImageLocation::parse(&args.dest)?;
    let adapters = AdapterRegistry::with_defaults();
    let src_adapter = adapters.create(
        &RegistryType::DockerRegistry,
        &Endpoint {
            url: src.url.clone(),
            credential: credential(&args.src_creds)?,
            insecure: args.src_insecure,
        },
    )?;
    let dest_adapter = adapters.create(
        &args.dest_type,
        &Endpoint {
            url: dest.url.clone(),
            credential: credential(&args.dest_creds)?,
            insecure: args.dest_insecure,
        },
    )?;

    let bars = MultiProgress::new();
    if args.quiet {
        bars.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let style =
        ProgressStyle::with_template("{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")?
            .progress_chars("=> ");
    let open: Arc<Mutex<HashMap<String, ProgressBar>>> = Arc::default();
    let progress = {
        let (bars, open, style) = (bars.clone(), open.clone(), style.clone());
        Arc::new(move |e: &CopyEvent| {
            let Ok(mut open) = open.lock() else {
                return;
            };
            match e {
                CopyEvent::BlobStarted { digest, size } => {
                    let bar = bars.add(ProgressBar::new(*size));
                    bar.set_style(style.clone());
                    bar.set_prefix(format!("blob {}", &digest.hex()[..12]));
                    open.insert(digest.to_string(), bar);
                }
                CopyEvent::BlobProgress { digest, done } => {
                    if let Some(bar) = open.get(&digest.to_string()) {
                        bar.set_position(*done);
                    }
                }
                CopyEvent::BlobDone { digest, .. } => {
                    if let Some(bar) = open.remove(&digest.to_string()) {
                        bar.finish();
                    }
                }
                CopyEvent::BlobSkipped { digest, .. } => {
                    let _ = bars.println(format!("blob {} already present", &digest.hex()[..12]));
                }
                CopyEvent::BlobMounted { digest, .. } => {
                    let _ = bars.println(format!("blob {} mounted", &digest.hex()[..12]));
                }
                CopyEvent::ManifestPushed { reference, .. } => {
                    let _ = bars.println(format!("manifest {reference} written"));
                }
                CopyEvent::TagKept { tag, .. } => {
                    let _ = bars.println(format!(
                        "tag {tag} points elsewhere and is kept (--no-override)"
                    ));
                }
                _ => {}
            }
        })
    };
    let options = CopyOptions {
        override_tags: !args.no_override,
        same_registry: src.url == dest.url,
        progress: Some(progress),
        speed_kbps: None,
        chunk_size: None,
        checkpoints: None,
    };
    let started = Instant::now();
    let dest_tag = match &dest.reference {
        Reference::Tag(t) => Some(t),
        Reference::Digest(_) => None,
    };
    let report = Copier::new(src_adapter, dest_adapter, options)
        .copy_image(&src.repository, &src.reference, &dest.repository, dest_tag)
        .await?;
    let secs = started.elapsed().as_secs_f64();
    Ok(format!(
        "copied {} to {}: digest {}, {} blob(s) transferred ({:.1} MB, {:.1} MB/s), {} already present, {} mounted, {} manifest(s) in {secs:.2} s{}",
        args.src,
        args.dest,
        report.digest.map(|d| d.to_string()).unwrap_or_default(),
        report.blobs_copied,
        report.bytes as f64 / 1e6,
        report.bytes as f64 / 1e6 / secs.max(1e-9),
        report.blobs_skipped,
        report.blobs_mounted,
        report.manifests,
        if report.tag_kept { " (destination tag kept)" } else { "" },
    ))
}

#[cfg(test)]
mod tests {
    use super::ImageLocation;

    #[test]
    fn locations_parse_like_skopeo_references() {
        let l = ImageLocation::parse("http://127.0.0.1:5000/library/app:v1").unwrap();
        assert_eq!(
            (
                l.url.as_str(),
                l.repository.as_str(),
                l.reference.to_string().as_str()
            ),
            ("http://127.0.0.1:5000", "library/app", "v1")
        );
        let l = ImageLocation::parse("docker://r.example.com/a/b/c").unwrap();
        assert_eq!(
            (l.url.as_str(), l.reference.to_string().as_str()),
            ("https://r.example.com", "latest")
        );
        let d = format!("sha256:{}", "a".repeat(64));
        let l = ImageLocation::parse(&format!("https://h:443/x@{d}")).unwrap();
        assert_eq!(
            (l.repository.as_str(), l.reference.to_string().as_str()),
            ("x", d.as_str())
        );
        assert!(ImageLocation::parse("ftp://h/x").is_err());
        assert!(ImageLocation::parse("http://h").is_err());
        assert!(
            ImageLocation::parse("http://h/UPPER:v1").is_err(),
            "bad name"
        );
        assert!(
            ImageLocation::parse("http://h/x@sha256:short").is_err(),
            "bad digest"
        );
    }
}
