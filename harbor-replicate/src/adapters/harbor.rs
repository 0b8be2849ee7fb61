//! The `harbor` adapter: a Harbor is a distribution registry (its `/v2/`,
//! spoken by [`DockerRegistry`]) whose repositories live in projects. Through
//! `/api/v2.0` it lists repositories project by project (Harbor's catalog is
//! for system administrators only; the projects a robot or member can see
//! are what it may replicate) and creates missing projects before pushes.

use async_trait::async_trait;
use bytes::Bytes;
use harbor_core::{ByteStream, Digest, Reference, RegistryType, RepositoryName, Tag};
use hyper::Method;

use super::http::paging::{all_pages, valid, PageAuth};
use super::http::Payload;
use super::DockerRegistry;
use crate::adapter::{AdapterInfo, ChunkedPush, Endpoint, PulledManifest, RegistryAdapter};
use crate::error::Result;

/// Items per page of an `/api/v2.0` listing: Harbor's largest.
const API_PAGE: usize = 100;

/// A Harbor, through its `/v2/` and its `/api/v2.0`.
#[derive(Debug)]
pub struct Harbor {
    registry: DockerRegistry,
}

/// An item of an `/api/v2.0` listing (a project, a repository): only its
/// name matters here. One without a name is skipped.
#[derive(serde::Deserialize)]
struct Named {
    name: Option<String>,
}

/// An artifact read with `with_label=true`: only its labels' names matter.
#[derive(serde::Deserialize)]
struct Labelled {
    #[serde(default)]
    labels: Option<Vec<Named>>,
}

/// The largest artifact answer read (one artifact with its tags and labels).
const ARTIFACT_LIMIT: usize = 4 << 20;

/// `POST /api/v2.0/projects`.
#[derive(serde::Serialize)]
struct NewProject<'a> {
    project_name: &'a str,
    metadata: ProjectMetadata,
}

/// Harbor's project metadata, whose values are strings.
#[derive(serde::Serialize)]
struct ProjectMetadata {
    public: &'static str,
}

impl Harbor {
    /// An adapter for the Harbor at `endpoint`; fails if its URL does not parse.
    pub fn new(endpoint: Endpoint) -> Result<Self> {
        Ok(Harbor {
            registry: DockerRegistry::new(endpoint)?,
        })
    }

    /// The names of every item of a paged `/api/v2.0` listing at `path`.
    async fn names(&self, path: &str) -> Result<Vec<String>> {
        let client = self.registry.client();
        let sep = if path.contains('?') { '&' } else { '?' };
        let first = client.url(&format!("{path}{sep}page=1&page_size={API_PAGE}"));
        all_pages(client, first, PageAuth::Basic, |body| {
            serde_json::from_slice::<Vec<Named>>(body)
                .map(|items| items.into_iter().filter_map(|i| i.name).collect())
        })
        .await
    }

    /// Creates `project` (private) unless it exists.
    async fn ensure_project(&self, project: &str) -> Result<()> {
        let client = self.registry.client();
        let headers: Vec<(&str, String)> = client
            .basic()
            .map(|b| ("authorization", b))
            .into_iter()
            .collect();
        let head = client.url(&format!("/api/v2.0/projects?project_name={project}"));
        let resp = client
            .send_once(Method::HEAD, &head, &[], &headers, Payload::Empty)
            .await?;
        if resp.status().is_success() {
            return Ok(());
        }
        let url = client.url("/api/v2.0/projects");
        let body = NewProject {
            project_name: project,
            metadata: ProjectMetadata { public: "false" },
        };
        let body = serde_json::to_vec(&body).map_err(|e| {
            crate::error::ReplicateError::invalid_because("a project does not serialize", e)
        })?;
        let mut h = headers.clone();
        h.push(("content-type", "application/json".into()));
        let resp = client
            .send_once(
                Method::POST,
                &url,
                &[],
                &h,
                Payload::Bytes(Bytes::from(body)),
            )
            .await?;
        match resp.status().as_u16() {
            // 409: created meanwhile, by someone else.
            201 | 409 => Ok(()),
            _ => Err(client.fail(&Method::POST, &url, resp).await),
        }
    }
}

#[async_trait]
impl RegistryAdapter for Harbor {
    fn info(&self) -> AdapterInfo {
        AdapterInfo {
            kind: RegistryType::Harbor,
            ..self.registry.info()
        }
    }

    async fn health(&self) -> Result<()> {
        self.registry.health().await
    }

    async fn list_repositories(&self) -> Result<Vec<RepositoryName>> {
        let client = self.registry.client();
        let projects = self.names("/api/v2.0/projects").await?;
        let mut repos = Vec::new();
        // Project names go into a path: only those that are names at all.
        for project in valid(client, projects, "project name", RepositoryName::parse) {
            let path = format!("/api/v2.0/projects/{project}/repositories");
            let names = self.names(&path).await?;
            repos.extend(valid(
                client,
                names,
                "repository name",
                RepositoryName::parse,
            ));
        }
        repos.sort();
        Ok(repos)
    }

    async fn list_tags(&self, repo: &RepositoryName) -> Result<Vec<Tag>> {
        self.registry.list_tags(repo).await
    }

    /// The labels Harbor's artifact answer names (`with_label=true`); an
    /// artifact it does not know has none.
    async fn artifact_labels(
        &self,
        repo: &RepositoryName,
        tag: &Tag,
    ) -> Result<Option<Vec<String>>> {
        let client = self.registry.client();
        let (project, rest) = repo.as_str().split_once('/').unwrap_or((repo.as_str(), ""));
        // Harbor's API takes the repository under the project with its
        // slashes encoded twice (`a%252Fb`).
        let rest = rest.replace('/', "%252F");
        let url = client.url(&format!(
            "/api/v2.0/projects/{project}/repositories/{rest}/artifacts/{tag}?with_label=true"
        ));
        let headers: Vec<(&str, String)> = client
            .basic()
            .map(|b| ("authorization", b))
            .into_iter()
            .collect();
        let resp = client
            .send_once(Method::GET, &url, &[], &headers, Payload::Empty)
            .await?;
        if resp.status().as_u16() == 404 {
            return Ok(Some(Vec::new()));
        }
        if !resp.status().is_success() {
            return Err(client.fail(&Method::GET, &url, resp).await);
        }
        let body = client
            .read(resp.into_body(), ARTIFACT_LIMIT, "an artifact")
            .await?;
        let artifact: Labelled = serde_json::from_slice(&body).map_err(|e| {
            client.protocol(
                format!("{url} answered an artifact that does not parse"),
                Some(e.into()),
            )
        })?;
        Ok(Some(
            artifact
                .labels
                .unwrap_or_default()
                .into_iter()
                .filter_map(|l| l.name)
                .collect(),
        ))
    }

    async fn manifest_digest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> Result<Option<Digest>> {
        self.registry.manifest_digest(repo, reference).await
    }

    async fn pull_manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> Result<PulledManifest> {
        self.registry.pull_manifest(repo, reference).await
    }

    async fn push_manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
        media_type: &str,
        payload: Bytes,
    ) -> Result<Digest> {
        self.registry
            .push_manifest(repo, reference, media_type, payload)
            .await
    }

    async fn delete_manifest(&self, repo: &RepositoryName, reference: &Reference) -> Result<()> {
        self.registry.delete_manifest(repo, reference).await
    }

    async fn blob_size(&self, repo: &RepositoryName, digest: &Digest) -> Result<Option<u64>> {
        self.registry.blob_size(repo, digest).await
    }

    async fn pull_blob(&self, repo: &RepositoryName, digest: &Digest) -> Result<(u64, ByteStream)> {
        self.registry.pull_blob(repo, digest).await
    }

    async fn push_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        size: u64,
        body: ByteStream,
    ) -> Result<()> {
        self.registry.push_blob(repo, digest, size, body).await
    }

    async fn pull_blob_from(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        offset: u64,
    ) -> Result<ByteStream> {
        self.registry.pull_blob_from(repo, digest, offset).await
    }

    async fn push_blob_chunked(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        size: u64,
        how: ChunkedPush,
    ) -> Result<()> {
        self.registry
            .push_blob_chunked(repo, digest, size, how)
            .await
    }

    async fn mount_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        from: &RepositoryName,
    ) -> Result<bool> {
        self.registry.mount_blob(repo, digest, from).await
    }

    async fn prepare_for_push(&self, repos: &[RepositoryName]) -> Result<()> {
        let mut projects: Vec<&str> = repos.iter().map(|r| r.first_component()).collect();
        projects.sort_unstable();
        projects.dedup();
        for p in projects {
            self.ensure_project(p).await?;
        }
        Ok(())
    }
}
