//! A SHA-256 whose running state can be written down and taken up again by
//! another process: the state of an upload's hash is saved with its session,
//! so that the digest is checked at commit without reading the blob back
//! from object storage, whichever instance received which part.
//!
//! The compression function is `sha2`'s (with its CPU-specific backends);
//! only the padding and the bookkeeping are here.

use serde::{Deserialize, Serialize};
use sha2::digest::generic_array::GenericArray;

const INITIAL: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// A resumable SHA-256 computation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Sha256State {
    /// The chaining value after every whole 64-byte block so far.
    h: [u32; 8],
    /// Bytes hashed so far, including `pending`.
    len: u64,
    /// Bytes of an incomplete block (fewer than 64).
    #[serde(with = "hex_bytes")]
    pending: Vec<u8>,
}

impl Default for Sha256State {
    fn default() -> Self {
        Sha256State {
            h: INITIAL,
            len: 0,
            pending: Vec::new(),
        }
    }
}

impl Sha256State {
    /// The number of bytes hashed so far.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Adds `data`.
    pub(crate) fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if !self.pending.is_empty() {
            let take = (64 - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() < 64 {
                return;
            }
            let block = std::mem::take(&mut self.pending);
            self.compress(&block);
        }
        let whole = data.len() - data.len() % 64;
        self.compress(&data[..whole]);
        self.pending.extend_from_slice(&data[whole..]);
    }

    /// The digest, in lowercase hex.
    pub(crate) fn finish_hex(mut self) -> String {
        let bits = self.len.wrapping_mul(8);
        let mut tail = std::mem::take(&mut self.pending);
        tail.push(0x80);
        while tail.len() % 64 != 56 {
            tail.push(0);
        }
        tail.extend_from_slice(&bits.to_be_bytes());
        self.compress(&tail);
        self.h.iter().map(|w| format!("{w:08x}")).collect()
    }

    fn compress(&mut self, blocks: &[u8]) {
        for block in blocks.chunks_exact(64) {
            sha2::compress256(
                &mut self.h,
                std::slice::from_ref(GenericArray::from_slice(block)),
            );
        }
    }
}

/// Bytes as a hex string in the saved state.
mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        let v = hex::decode(s).map_err(serde::de::Error::custom)?;
        if v.len() >= 64 {
            return Err(serde::de::Error::custom(
                "a pending block holds fewer than 64 bytes",
            ));
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harbor_core::Digest;

    #[test]
    fn matches_sha256_however_the_input_is_cut_and_resumed() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 253) as u8).collect();
        for cut in [0, 1, 55, 56, 63, 64, 65, 127, 128, 4097, 9_999, 10_000] {
            let mut a = Sha256State::default();
            a.update(&data[..cut]);
            let saved = serde_json::to_string(&a).unwrap();
            let mut b: Sha256State = serde_json::from_str(&saved).unwrap();
            b.update(&data[cut..]);
            assert_eq!(b.len(), data.len() as u64);
            assert_eq!(b.finish_hex(), Digest::sha256(&data).hex(), "cut at {cut}");
        }
        assert_eq!(
            Sha256State::default().finish_hex(),
            Digest::sha256(b"").hex()
        );
    }

    #[test]
    fn a_saved_state_with_a_whole_pending_block_is_refused() {
        let bad = format!(
            r#"{{"h":[0,0,0,0,0,0,0,0],"len":64,"pending":"{}"}}"#,
            "00".repeat(64)
        );
        assert!(serde_json::from_str::<Sha256State>(&bad).is_err());
    }
}
