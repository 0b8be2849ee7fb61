//! Where a chunked blob upload stands, kept outside the process so that a
//! copy cut off by a crash continues from the destination's last acknowledged
//! chunk instead of sending the whole blob again.
//!
//! A checkpoint is the upload session's location at the destination, keyed by
//! destination, repository and digest. The destination itself says how many
//! bytes it holds (`GET` on the session answers its `Range`), so the location
//! is all that needs to survive.

use std::collections::HashMap;
use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::Mutex;

use async_trait::async_trait;

/// Remembers the destination upload session of each chunked blob copy in flight.
///
/// Saving is best effort: a checkpoint that fails to save costs only a
/// restart of that blob, so failures are logged rather than returned.
#[async_trait]
pub trait UploadCheckpoints: Debug + Send + Sync + 'static {
    /// The upload location saved under `key`, if any.
    async fn load(&self, key: &str) -> Option<String>;
    /// Saves `location` under `key`, replacing what was there.
    async fn save(&self, key: &str, location: &str);
    /// Forgets `key` (the upload finished or can no longer be resumed).
    async fn clear(&self, key: &str);
}

/// Checkpoints in memory: resumption after a cut within one process.
#[derive(Debug, Default)]
pub struct MemoryCheckpoints {
    saved: Mutex<HashMap<String, String>>,
}

impl MemoryCheckpoints {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl UploadCheckpoints for MemoryCheckpoints {
    async fn load(&self, key: &str) -> Option<String> {
        self.saved.lock().ok()?.get(key).cloned()
    }

    async fn save(&self, key: &str, location: &str) {
        if let Ok(mut saved) = self.saved.lock() {
            saved.insert(key.to_owned(), location.to_owned());
        }
    }

    async fn clear(&self, key: &str) {
        if let Ok(mut saved) = self.saved.lock() {
            saved.remove(key);
        }
    }
}

/// Checkpoints as small files in a directory (one per upload, named by the
/// SHA-256 of its key, written to a temporary file and renamed), so they
/// survive a crash of the process.
#[derive(Debug, Clone)]
pub struct FsCheckpoints {
    dir: PathBuf,
}

impl FsCheckpoints {
    /// Checkpoints kept under `dir` (created on first save).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FsCheckpoints { dir: dir.into() }
    }

    fn path(&self, key: &str) -> PathBuf {
        let mut hasher = harbor_core::Hasher::new(harbor_core::Algorithm::Sha256);
        hasher.update(key.as_bytes());
        self.dir.join(hasher.finish().to_string().replace(':', "-"))
    }
}

#[async_trait]
impl UploadCheckpoints for FsCheckpoints {
    async fn load(&self, key: &str) -> Option<String> {
        let text = tokio::fs::read_to_string(self.path(key)).await.ok()?;
        // The file holds the key on its first line, so a hash collision (or a
        // stray file) is never taken for this upload.
        let (stored, location) = text.split_once('\n')?;
        (stored == key).then(|| location.trim_end().to_owned())
    }

    async fn save(&self, key: &str, location: &str) {
        let path = self.path(key);
        let tmp = path.with_extension("tmp");
        let text = format!("{key}\n{location}\n");
        let result = async {
            tokio::fs::create_dir_all(&self.dir).await?;
            tokio::fs::write(&tmp, text).await?;
            tokio::fs::rename(&tmp, &path).await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(dir = %self.dir.display(), error = %e, "could not save an upload checkpoint");
        }
    }

    async fn clear(&self, key: &str) {
        match tokio::fs::remove_file(self.path(key)).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(error = %e, "could not remove an upload checkpoint"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn round_trip(c: &dyn UploadCheckpoints) {
        assert_eq!(c.load("a").await, None);
        c.save("a", "http://x/v2/r/blobs/uploads/1").await;
        c.save("b", "http://x/v2/r/blobs/uploads/2").await;
        c.save("a", "http://x/v2/r/blobs/uploads/3?_state=z").await;
        assert_eq!(
            c.load("a").await.as_deref(),
            Some("http://x/v2/r/blobs/uploads/3?_state=z")
        );
        c.clear("a").await;
        c.clear("a").await;
        assert_eq!(c.load("a").await, None);
        assert_eq!(
            c.load("b").await.as_deref(),
            Some("http://x/v2/r/blobs/uploads/2")
        );
    }

    #[tokio::test]
    async fn memory_checkpoints_save_replace_and_clear() {
        round_trip(&MemoryCheckpoints::new()).await;
    }

    #[tokio::test]
    async fn fs_checkpoints_save_replace_clear_and_survive_a_new_instance() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("uploads");
        round_trip(&FsCheckpoints::new(&path)).await;
        assert_eq!(
            FsCheckpoints::new(&path).load("b").await.as_deref(),
            Some("http://x/v2/r/blobs/uploads/2")
        );
    }
}
