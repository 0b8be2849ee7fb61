//! The `docker-registry` adapter: any OCI distribution v2 registry over
//! HTTP(S), through the shared [`Client`] (authentication, paging and
//! chunked pushes live beside it in `http`). [`crate::adapters::Harbor`]
//! reuses it for Harbor's `/v2/`.

use async_trait::async_trait;
use bytes::Bytes;
use harbor_core::{media_type, ByteStream, Digest, Reference, RegistryType, RepositoryName, Tag};
use hyper::{Method, StatusCode};

use super::http::challenge::repository_scope;
use super::http::chunked::{completion_url, push_chunked, start_upload};
use super::http::paging::{all_pages, valid, PageAuth};
use super::http::{header, stream_of, Client, Payload};
use crate::adapter::{AdapterInfo, ChunkedPush, Endpoint, PulledManifest, RegistryAdapter};
use crate::error::{ReplicateError, Result};

/// Every manifest type we copy, for `Accept`.
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// Tags or repositories asked for per page.
pub(crate) const PAGE: usize = 1000;

/// Redirects followed for a blob read (registries on object storage send
/// reads there).
const MAX_REDIRECTS: usize = 3;

/// An OCI distribution v2 registry over HTTP(S), with Basic or Bearer token
/// authentication and TLS (with an `insecure` switch for self-signed ones).
pub struct DockerRegistry {
    client: Client,
}

impl std::fmt::Debug for DockerRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerRegistry")
            .field("client", &self.client)
            .finish()
    }
}

/// The strings under `field` of a `/v2/` listing (`repositories` of the
/// catalog, `tags` of a tag list); a missing or `null` field is an empty
/// page, and an entry that is not a string is skipped with a warning.
fn listed(body: &[u8], field: &str) -> serde_json::Result<Vec<String>> {
    let page: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body)?;
    Ok(page
        .get(field)
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| match v.as_str() {
                    Some(name) => Some(name.to_owned()),
                    None => {
                        tracing::warn!(entry = %v, "skipping a listed {field} that is not a string");
                        None
                    }
                })
                .collect()
        })
        .unwrap_or_default())
}

impl DockerRegistry {
    /// An adapter for `endpoint`; fails if its URL does not parse.
    pub fn new(endpoint: Endpoint) -> Result<Self> {
        Ok(DockerRegistry {
            client: Client::new(&endpoint)?,
        })
    }

    /// The HTTP client, for adapters built on this one.
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    fn manifest_url(&self, repo: &RepositoryName, reference: &Reference) -> String {
        self.client
            .url(&format!("/v2/{repo}/manifests/{reference}"))
    }

    fn blob_url(&self, repo: &RepositoryName, digest: &Digest) -> String {
        self.client.url(&format!("/v2/{repo}/blobs/{digest}"))
    }

    /// A names listing (`field` of each page) from `first` on.
    async fn names(&self, first: String, scopes: &[String], field: &str) -> Result<Vec<String>> {
        all_pages(&self.client, first, PageAuth::Challenge(scopes), |body| {
            listed(body, field)
        })
        .await
    }
}

#[async_trait]
impl RegistryAdapter for DockerRegistry {
    fn info(&self) -> AdapterInfo {
        AdapterInfo {
            kind: RegistryType::DockerRegistry,
            supports_mount: true,
            max_page: PAGE,
        }
    }

    async fn health(&self) -> Result<()> {
        let url = self.client.url("/v2/");
        let resp = self
            .client
            .send(Method::GET, &url, &[], &[], Payload::Empty)
            .await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(self.client.fail(&Method::GET, &url, resp).await)
        }
    }

    async fn list_repositories(&self) -> Result<Vec<RepositoryName>> {
        let url = self.client.url(&format!("/v2/_catalog?n={PAGE}"));
        let names = self
            .names(url, &["registry:catalog:*".to_owned()], "repositories")
            .await?;
        Ok(valid(
            &self.client,
            names,
            "repository name",
            RepositoryName::parse,
        ))
    }

    async fn list_tags(&self, repo: &RepositoryName) -> Result<Vec<Tag>> {
        let url = self.client.url(&format!("/v2/{repo}/tags/list?n={PAGE}"));
        let names = self
            .names(url, &repository_scope(repo, "pull"), "tags")
            .await?;
        Ok(valid(&self.client, names, "tag", Tag::parse))
    }

    async fn manifest_digest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> Result<Option<Digest>> {
        let url = self.manifest_url(repo, reference);
        let resp = self
            .client
            .send(
                Method::HEAD,
                &url,
                &repository_scope(repo, "pull"),
                &[("accept", ACCEPT.into())],
                Payload::Empty,
            )
            .await?;
        match resp.status() {
            s if s.is_success() => {
                let d = header(&resp, "docker-content-digest").ok_or_else(|| {
                    self.client.protocol(
                        format!("HEAD {url} answered no Docker-Content-Digest"),
                        None,
                    )
                })?;
                let digest = Digest::parse(d).map_err(|e| {
                    self.client.protocol(
                        format!("HEAD {url} answered a Docker-Content-Digest that does not parse"),
                        Some(e.into()),
                    )
                })?;
                Ok(Some(digest))
            }
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.client.fail(&Method::HEAD, &url, resp).await),
        }
    }

    async fn pull_manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> Result<PulledManifest> {
        let url = self.manifest_url(repo, reference);
        let resp = self
            .client
            .send(
                Method::GET,
                &url,
                &repository_scope(repo, "pull"),
                &[("accept", ACCEPT.into())],
                Payload::Empty,
            )
            .await?;
        if !resp.status().is_success() {
            return Err(self.client.fail(&Method::GET, &url, resp).await);
        }
        let media_type = header(&resp, "content-type")
            .unwrap_or(media_type::OCI_MANIFEST)
            .to_owned();
        let what = format!("the manifest {reference} of {repo}");
        let payload = self
            .client
            .read(resp.into_body(), harbor_core::MAX_MANIFEST_SIZE + 1, &what)
            .await?;
        let expected = match reference {
            Reference::Digest(d) => Some(d),
            Reference::Tag(_) => None,
        };
        let algorithm = expected
            .as_ref()
            .map(|d| d.algorithm())
            .unwrap_or(harbor_core::Algorithm::Sha256);
        let digest = Digest::compute(algorithm, &payload);
        if let Some(expected) = expected {
            if *expected != digest {
                return Err(ReplicateError::Corrupt {
                    digest: expected.to_string(),
                    message: format!("the manifest served has digest {digest}"),
                });
            }
        }
        Ok(PulledManifest {
            payload,
            media_type,
            digest,
        })
    }

    async fn push_manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
        media_type: &str,
        payload: Bytes,
    ) -> Result<Digest> {
        let url = self.manifest_url(repo, reference);
        let digest = Digest::sha256(&payload);
        let resp = self
            .client
            .send(
                Method::PUT,
                &url,
                &repository_scope(repo, "pull,push"),
                &[("content-type", media_type.to_owned())],
                Payload::Bytes(payload),
            )
            .await?;
        if resp.status().is_success() {
            // The registry's digest is authoritative; one that is missing or
            // odd leaves ours, which is what it should have said.
            Ok(header(&resp, "docker-content-digest")
                .and_then(|d| Digest::parse(d).ok())
                .unwrap_or(digest))
        } else {
            Err(self.client.fail(&Method::PUT, &url, resp).await)
        }
    }

    async fn delete_manifest(&self, repo: &RepositoryName, reference: &Reference) -> Result<()> {
        let url = self.manifest_url(repo, reference);
        let resp = self
            .client
            .send(
                Method::DELETE,
                &url,
                &repository_scope(repo, "delete"),
                &[],
                Payload::Empty,
            )
            .await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(self.client.fail(&Method::DELETE, &url, resp).await)
        }
    }

    async fn blob_size(&self, repo: &RepositoryName, digest: &Digest) -> Result<Option<u64>> {
        let url = self.blob_url(repo, digest);
        let resp = self
            .client
            .send(
                Method::HEAD,
                &url,
                &repository_scope(repo, "pull"),
                &[],
                Payload::Empty,
            )
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(header(&resp, "content-length").and_then(|v| v.parse().ok())),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.client.fail(&Method::HEAD, &url, resp).await),
        }
    }

    async fn pull_blob(&self, repo: &RepositoryName, digest: &Digest) -> Result<(u64, ByteStream)> {
        let mut url = self.blob_url(repo, digest);
        let mut resp = self
            .client
            .send(
                Method::GET,
                &url,
                &repository_scope(repo, "pull"),
                &[],
                Payload::Empty,
            )
            .await?;
        // Followed without our credentials: they are for the registry, not
        // for the object store it redirects to.
        for _ in 0..MAX_REDIRECTS {
            if !resp.status().is_redirection() {
                break;
            }
            let Some(location) = header(&resp, "location").map(|l| self.client.absolute(l)) else {
                break;
            };
            url = location;
            resp = self
                .client
                .execute(Method::GET, &url, &[], Payload::Empty)
                .await?;
        }
        if !resp.status().is_success() {
            return Err(self.client.fail(&Method::GET, &url, resp).await);
        }
        let size = header(&resp, "content-length")
            .ok_or_else(|| {
                self.client
                    .protocol(format!("GET {url} answered no Content-Length"), None)
            })?
            .parse()
            .map_err(|e| {
                self.client.protocol(
                    format!("GET {url} answered a Content-Length that is not a number"),
                    Some(Box::new(e)),
                )
            })?;
        Ok((size, stream_of(resp.into_body())))
    }

    async fn push_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        size: u64,
        body: ByteStream,
    ) -> Result<()> {
        let scopes = repository_scope(repo, "pull,push");
        let location = start_upload(&self.client, repo, &scopes).await?;
        let put = completion_url(&location, digest);
        let headers = [
            ("content-type", "application/octet-stream".to_owned()),
            ("content-length", size.to_string()),
        ];
        let resp = self
            .client
            .send(Method::PUT, &put, &scopes, &headers, Payload::Stream(body))
            .await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(self.client.fail(&Method::PUT, &put, resp).await)
        }
    }

    async fn pull_blob_from(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        offset: u64,
    ) -> Result<ByteStream> {
        if offset == 0 {
            return Ok(self.pull_blob(repo, digest).await?.1);
        }
        let url = self.blob_url(repo, digest);
        let resp = self
            .client
            .send(
                Method::GET,
                &url,
                &repository_scope(repo, "pull"),
                &[("range", format!("bytes={offset}-"))],
                Payload::Empty,
            )
            .await?;
        if resp.status() != StatusCode::PARTIAL_CONTENT {
            return Err(self.client.fail(&Method::GET, &url, resp).await);
        }
        Ok(stream_of(resp.into_body()))
    }

    async fn push_blob_chunked(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        size: u64,
        how: ChunkedPush,
    ) -> Result<()> {
        push_chunked(&self.client, repo, digest, size, how).await
    }

    async fn mount_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        from: &RepositoryName,
    ) -> Result<bool> {
        let mut scopes = repository_scope(repo, "pull,push");
        scopes.extend(repository_scope(from, "pull"));
        let url = self.client.url(&format!(
            "/v2/{repo}/blobs/uploads/?mount={digest}&from={from}"
        ));
        let resp = self
            .client
            .send(Method::POST, &url, &scopes, &[], Payload::Empty)
            .await?;
        match resp.status() {
            StatusCode::CREATED => Ok(true),
            StatusCode::ACCEPTED => {
                // A session was opened instead: closed, as the caller uploads
                // in a session of its own. A failed close only leaves a
                // session the registry expires.
                if let Some(l) = header(&resp, "location").map(|l| self.client.absolute(l)) {
                    let _ = self
                        .client
                        .send(Method::DELETE, &l, &scopes, &[], Payload::Empty)
                        .await;
                }
                Ok(false)
            }
            _ => Err(self.client.fail(&Method::POST, &url, resp).await),
        }
    }

    async fn prepare_for_push(&self, _repos: &[RepositoryName]) -> Result<()> {
        // A distribution registry makes repositories on first push.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_read_their_field_and_an_absent_one_is_empty() {
        let page = br#"{"name":"a","tags":["v1",3,"v2"]}"#;
        assert_eq!(
            listed(page, "tags").ok(),
            Some(vec!["v1".into(), "v2".into()])
        );
        assert_eq!(
            listed(br#"{"name":"a","tags":null}"#, "tags").ok(),
            Some(Vec::new())
        );
        assert!(listed(b"<html>", "tags").is_err());
    }
}
