//! Gathering an upload's bytes into multipart parts without copying them:
//! the network's own buffers are kept and cut at part boundaries, so an
//! upload holds at most one part (plus the frame that crosses its end).

use bytes::Bytes;

/// Bytes received but not yet sent as a part.
#[derive(Debug, Default)]
pub(super) struct PartBuffer {
    frames: Vec<Bytes>,
    len: usize,
}

impl PartBuffer {
    /// The bytes held.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Adds a frame as it came.
    pub(super) fn push(&mut self, frame: Bytes) {
        if !frame.is_empty() {
            self.len += frame.len();
            self.frames.push(frame);
        }
    }

    /// The first `size` bytes as a part, once that many are held.
    pub(super) fn take_part(&mut self, size: usize) -> Option<Vec<Bytes>> {
        if self.len < size || size == 0 {
            return None;
        }
        Some(self.take_front(size))
    }

    /// The first `size` bytes, or all held if fewer.
    pub(super) fn take_front(&mut self, size: usize) -> Vec<Bytes> {
        let size = size.min(self.len);
        let mut part = Vec::new();
        if size == 0 {
            return part;
        }
        let mut need = size;
        let mut rest = std::mem::take(&mut self.frames).into_iter();
        for mut frame in rest.by_ref() {
            if frame.len() <= need {
                need -= frame.len();
                part.push(frame);
            } else {
                part.push(frame.split_to(need));
                need = 0;
                self.frames.push(frame);
            }
            if need == 0 {
                break;
            }
        }
        self.frames.extend(rest);
        self.len -= size;
        part
    }

    /// Everything held.
    pub(super) fn into_frames(self) -> Vec<Bytes> {
        self.frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_cut_exactly_at_their_size_across_frames() {
        let data: Vec<u8> = (0..100u8).collect();
        let mut buf = PartBuffer::default();
        for piece in data.chunks(7) {
            buf.push(Bytes::copy_from_slice(piece));
        }
        buf.push(Bytes::new());
        let mut out = Vec::new();
        while let Some(part) = buf.take_part(30) {
            let flat: Vec<u8> = part.iter().flat_map(|b| b.iter().copied()).collect();
            assert_eq!(flat.len(), 30);
            out.extend(flat);
        }
        assert_eq!(buf.len(), 10);
        out.extend(buf.into_frames().iter().flat_map(|b| b.iter().copied()));
        assert_eq!(out, data);
    }
}
