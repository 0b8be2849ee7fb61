//! Manifest push, pull, delete and the referrers query.

use bytes::Bytes;

use super::{name_unknown, Registry};
use crate::digest::{Algorithm, Digest};
use crate::error::{Error, ErrorCode, Result};
use crate::manifest::{Descriptor, Manifest};
use crate::media_type;
use crate::meta_store::ManifestRecord;
use crate::name::{Reference, RepositoryName};
use crate::quota::QuotaEvent;

/// A manifest ready to send to a client.
#[derive(Debug, Clone)]
pub struct ManifestContent {
    /// Its digest.
    pub digest: Digest,
    /// Its media type (the `Content-Type`).
    pub media_type: String,
    /// The exact bytes that were pushed.
    pub payload: Bytes,
}

/// What a manifest push stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedManifest {
    /// The manifest's digest.
    pub digest: Digest,
    /// Its subject, if it has one (the `OCI-Subject` header).
    pub subject: Option<Digest>,
}

impl Registry {
    /// Pushes a manifest under a tag or its digest.
    ///
    /// Checks that it parses, that a digest reference matches its bytes
    /// (`DIGEST_INVALID`), and that its config and layers (foreign layers aside)
    /// are blobs of `repo` and its child manifests are manifests of `repo`
    /// (`MANIFEST_BLOB_UNKNOWN`). The manifest and its tag are stored together.
    /// Moving an immutable tag to another manifest is `DENIED`
    /// ([`TagImmutable`](crate::immutable::TagImmutable)).
    pub async fn put_manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
        content_type: Option<&str>,
        payload: Bytes,
    ) -> Result<PushedManifest> {
        self.writable()?;
        let algorithm = match reference {
            Reference::Digest(d) => d.algorithm(),
            Reference::Tag(_) => Algorithm::Sha256,
        };
        let manifest = Manifest::parse(content_type, &payload, algorithm)?;
        if let Reference::Digest(d) = reference {
            if *d != manifest.digest {
                return Err(Error::with_detail(
                    ErrorCode::DigestInvalid,
                    format!("manifest digest is {}, not {d}", manifest.digest),
                    serde_json::json!({ "digest": d.to_string() }),
                ));
            }
        }
        // Checked by the store in the transaction that stores the manifest,
        // where no delete or garbage collection can slip in between.
        let required: Vec<Digest> = manifest
            .required_blobs()
            .chain(&manifest.manifests)
            .map(|d| d.digest.clone())
            .collect();
        let record = ManifestRecord::new(&manifest, payload);
        let tag = match reference {
            Reference::Tag(t) => Some(t),
            Reference::Digest(_) => None,
        };
        if let Some(tag) = tag {
            self.check_tag_move(repo, tag, &record.digest).await?;
        }
        let stored = self.meta.put_manifest(repo, &record, tag, &required).await;
        let charge = self.watch_quota(repo, &record.digest, stored)?;
        if let (Some(percent), Some(limit)) = (charge.percent(), charge.limit) {
            if charge.added > 0 && percent >= u64::from(self.warning_percent) {
                self.raise(QuotaEvent::Warning {
                    repository: repo.clone(),
                    digest: record.digest.clone(),
                    used: charge.used,
                    limit,
                    percent: self.warning_percent,
                });
            }
        }
        tracing::debug!(%repo, %reference, digest = %record.digest, "manifest pushed");
        Ok(PushedManifest {
            digest: record.digest,
            subject: record.subject,
        })
    }

    /// Pulls a manifest by tag or digest. `accept` is the client's `Accept`
    /// list: a manifest found by tag whose media type it does not admit is
    /// answered `MANIFEST_UNKNOWN`, as CNCF distribution does, while a digest
    /// names exact content and is always served.
    pub async fn get_manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
        accept: Option<&str>,
    ) -> Result<ManifestContent> {
        let digest = match reference {
            Reference::Digest(d) => d.clone(),
            Reference::Tag(t) => match self.meta.resolve_tag(repo, t).await? {
                Some(d) => d,
                None => return Err(self.manifest_unknown(repo, reference).await),
            },
        };
        let Some(record) = self.meta.get_manifest(repo, &digest).await? else {
            return Err(self.manifest_unknown(repo, reference).await);
        };
        if let (Reference::Tag(_), Some(accept)) =
            (reference, accept.filter(|a| !a.trim().is_empty()))
        {
            if !media_type::accepts(accept, &record.media_type) {
                return Err(Error::with_detail(
                    ErrorCode::ManifestUnknown,
                    format!(
                        "manifest {reference} is a {} which the Accept header does not admit",
                        record.media_type
                    ),
                    serde_json::json!({ "tag": reference.to_string(), "mediaType": record.media_type }),
                ));
            }
        }
        Ok(ManifestContent {
            digest: record.digest,
            media_type: record.media_type,
            payload: record.payload,
        })
    }

    /// Deletes by digest (the manifest and every tag on it) or by tag (the tag
    /// only). `MANIFEST_UNKNOWN` if there is nothing to delete; `DENIED`
    /// ([`TagImmutable`](crate::immutable::TagImmutable)) for an immutable tag
    /// or a manifest carrying one.
    pub async fn delete_manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> Result<()> {
        self.writable()?;
        let deleted = match reference {
            Reference::Digest(d) => {
                self.check_manifest_delete(repo, d).await?;
                self.meta.delete_manifest(repo, d).await?
            }
            Reference::Tag(t) => {
                self.check_tag_delete(repo, t).await?;
                self.meta.delete_tag(repo, t).await?
            }
        };
        if deleted {
            tracing::debug!(%repo, %reference, "manifest deleted");
            Ok(())
        } else {
            Err(self.manifest_unknown(repo, reference).await)
        }
    }

    /// Manifests of `repo` whose subject is `subject`, optionally only those of
    /// `artifact_type`. An unknown subject has no referrers (not an error).
    pub async fn referrers(
        &self,
        repo: &RepositoryName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>> {
        let mut list = self.meta.referrers(repo, subject).await?;
        if let Some(at) = artifact_type {
            list.retain(|d| d.artifact_type.as_deref() == Some(at));
        }
        Ok(list)
    }

    async fn manifest_unknown(&self, repo: &RepositoryName, reference: &Reference) -> Error {
        match self.meta.repository_exists(repo).await {
            Ok(false) => name_unknown(repo),
            Err(e) => e,
            Ok(true) => Error::with_detail(
                ErrorCode::ManifestUnknown,
                format!("manifest {reference} is unknown in {repo}"),
                serde_json::json!({ "name": repo.as_str(), "reference": reference.to_string() }),
            ),
        }
    }
}
