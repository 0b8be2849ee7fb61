//! Blob contents from a cheap deterministic generator: every 1 MiB frame of
//! a blob is derived from the blob's seed and the frame's index, so any byte
//! range can be produced on demand while streaming and nothing holds a whole
//! blob in memory.

use bytes::Bytes;

use crate::client::Res;

/// Frame size of generated bodies.
pub(crate) const FRAME: u64 = 1 << 20;

/// SplitMix64: turns related inputs into unrelated seeds.
pub(crate) fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed for blob `i` of a family named `salt` in a run seeded with `seed`.
pub(crate) fn seed_for(seed: u64, salt: &str, i: u64) -> u64 {
    let s = salt
        .bytes()
        .fold(splitmix(seed), |h, b| splitmix(h ^ u64::from(b)));
    splitmix(s ^ i)
}

/// A generated blob: its seed and size.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Blob {
    pub(crate) seed: u64,
    pub(crate) size: u64,
}

impl Blob {
    /// The bytes of frame `k`, `min(FRAME, size - k * FRAME)` long (wyrand).
    pub(crate) fn frame(&self, k: u64) -> Bytes {
        let start = k * FRAME;
        let len = self.size.saturating_sub(start).min(FRAME) as usize;
        let mut v = vec![0u8; len];
        let mut s = splitmix(self.seed ^ splitmix(k));
        let mut next = || {
            s = s.wrapping_add(0xA076_1D64_78BD_642F);
            let t = u128::from(s).wrapping_mul(u128::from(s ^ 0xE703_7ED1_A0B4_28DB));
            ((t >> 64) as u64) ^ (t as u64)
        };
        let mut words = v.chunks_exact_mut(8);
        for w in &mut words {
            w.copy_from_slice(&next().to_le_bytes());
        }
        let rest = words.into_remainder();
        let last = next().to_le_bytes();
        let n = rest.len();
        rest.copy_from_slice(&last[..n]);
        Bytes::from(v)
    }

    /// The frames covering bytes `from..to`, generated lazily.
    pub(crate) fn range(&self, from: u64, to: u64) -> impl Iterator<Item = Bytes> + Send + 'static {
        let blob = *self;
        let to = to.min(self.size);
        let first = from / FRAME;
        let end = to.div_ceil(FRAME);
        (first..end).map(move |k| {
            let f = blob.frame(k);
            let fs = k * FRAME;
            let a = from.saturating_sub(fs) as usize;
            let e = (to - fs).min(f.len() as u64) as usize;
            if a == 0 && e == f.len() {
                f
            } else {
                f.slice(a..e)
            }
        })
    }

    /// `sha256:<hex>` of the whole blob.
    pub(crate) fn digest(&self) -> String {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        for f in self.range(0, self.size) {
            ctx.update(&f);
        }
        format!("sha256:{}", hex(ctx.finish().as_ref()))
    }
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// `sha256:<hex>` of `data`.
pub(crate) fn sha256(data: &[u8]) -> String {
    format!(
        "sha256:{}",
        hex(ring::digest::digest(&ring::digest::SHA256, data).as_ref())
    )
}

/// The digests of `blobs`, computed on every core (before the clock starts).
pub(crate) fn digests(blobs: &[Blob]) -> Res<Vec<String>> {
    if blobs.is_empty() {
        return Ok(Vec::new());
    }
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per = blobs.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = blobs
            .chunks(per)
            .map(|part| s.spawn(move || part.iter().map(Blob::digest).collect::<Vec<_>>()))
            .collect();
        let mut out = Vec::with_capacity(blobs.len());
        for h in handles {
            out.extend(h.join().map_err(|_| "a digest thread panicked")?);
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_reassemble_the_blob() {
        let b = Blob {
            seed: 7,
            size: 3 * FRAME + 123,
        };
        let whole: Vec<u8> = b.range(0, b.size).flat_map(|f| f.to_vec()).collect();
        assert_eq!(whole.len() as u64, b.size);
        let mut parts = Vec::new();
        let mut off = 0;
        while off < b.size {
            let end = (off + 700_001).min(b.size);
            parts.extend(b.range(off, end).flat_map(|f| f.to_vec()));
            off = end;
        }
        assert_eq!(whole, parts);
        assert_eq!(sha256(&whole), b.digest());
    }
}
