//! Compact byte encoding of trees (and its serde carrier).
//!
//! Trees are written in preorder, so child indices are implicit: a split is
//! `feature: u16 LE, threshold: f32 LE` (6 bytes), a leaf is `0xFFFF` followed by `n_outputs`
//! `f32 LE` (6 bytes for binary). Each tree starts with its node count (`u32 LE`). A depth-10
//! tree has at most 2047 nodes, so 100 such trees take at most ~1.23 MB (1.64 MB as base64 in a
//! human-readable format such as JSON). The node cover (format 1.3.0) travels beside the trees:
//! 8 bytes (`f64 LE`) per node in the same preorder.

use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};

use crate::error::{Result, TrainError};
use crate::tree::{LEAF, PreorderTree, TreeNode};

/// Version of the byte layout above; bumped on any change.
pub(crate) const TREE_ENCODING_VERSION: u32 = 1;

/// Exact encoded size of `trees` in bytes.
pub(crate) fn encoded_len(trees: &[PreorderTree], n_outputs: usize) -> usize {
    trees
        .iter()
        .map(|t| {
            let leaves = t.leaf_values.len() / n_outputs.max(1);
            4 + t.nodes.len() * 2 + (t.nodes.len() - leaves) * 4 + t.leaf_values.len() * 4
        })
        .sum()
}

pub(crate) fn encode(trees: &[PreorderTree], n_outputs: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded_len(trees, n_outputs));
    for t in trees {
        out.extend_from_slice(&(t.nodes.len() as u32).to_le_bytes());
        let mut values = t.leaf_values.chunks(n_outputs.max(1));
        for node in &t.nodes {
            out.extend_from_slice(&node.feature.to_le_bytes());
            if node.feature == LEAF {
                for v in values.next().unwrap_or(&[]) {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            } else {
                out.extend_from_slice(&node.threshold.to_le_bytes());
            }
        }
    }
    out
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        let chunk = self
            .bytes
            .get(self.pos..self.pos.saturating_add(N))
            .and_then(|s| <[u8; N]>::try_from(s).ok())
            .ok_or_else(|| TrainError::Decode {
                reason: format!("tree bytes truncated at byte {}", self.pos),
            })?;
        self.pos += N;
        Ok(chunk)
    }
}

/// Smallest encoded tree: its node count and one leaf with `n_outputs` values.
pub(crate) fn min_tree_len(n_outputs: usize) -> Option<usize> {
    n_outputs.checked_mul(4)?.checked_add(4 + 2)
}

/// Decodes `n_trees` trees. Every count is bounded by the bytes it claims before it sizes an
/// allocation, and every tree must be complete (one more leaf than splits), so the leaf values
/// read (and the engine's per-node storage built from them) stay linear in `bytes.len()`.
pub(crate) fn decode(bytes: &[u8], n_trees: usize, n_outputs: usize) -> Result<Vec<PreorderTree>> {
    let min_tree = min_tree_len(n_outputs).unwrap_or(usize::MAX);
    if n_trees > bytes.len() / min_tree {
        return Err(TrainError::Decode {
            reason: format!(
                "n_trees {n_trees} does not fit the {} tree bytes (a tree takes at least {min_tree})",
                bytes.len()
            ),
        });
    }
    let mut r = Reader { bytes, pos: 0 };
    let mut trees = Vec::with_capacity(n_trees);
    for t in 0..n_trees {
        let count = u32::from_le_bytes(r.take::<4>()?) as usize;
        // Every node takes at least 6 bytes: reject absurd counts before allocating.
        if count == 0 || count > (bytes.len() - r.pos) / 6 {
            return Err(TrainError::Decode {
                reason: format!("tree {t}: node count {count} does not fit the remaining bytes"),
            });
        }
        let mut nodes = Vec::with_capacity(count);
        let mut leaf_values = Vec::new();
        // Subtrees still to read: the root, then two more per split and one fewer per node.
        let mut open = 1usize;
        for i in 0..count {
            open = open.checked_sub(1).ok_or_else(|| TrainError::Decode {
                reason: format!("tree {t}: node {i} follows a complete tree"),
            })?;
            let feature = u16::from_le_bytes(r.take::<2>()?);
            if feature == LEAF {
                for _ in 0..n_outputs {
                    let v = f32::from_le_bytes(r.take::<4>()?);
                    if !(0.0..=1.0).contains(&v) {
                        return Err(TrainError::Decode {
                            reason: format!("tree {t}: leaf value {v} is not a probability"),
                        });
                    }
                    leaf_values.push(v);
                }
                nodes.push(TreeNode {
                    feature,
                    threshold: 0.0,
                });
            } else {
                let threshold = f32::from_le_bytes(r.take::<4>()?);
                nodes.push(TreeNode { feature, threshold });
                open += 2;
            }
        }
        if open != 0 {
            return Err(TrainError::Decode {
                reason: format!("tree {t}: truncated: {open} subtrees missing"),
            });
        }
        trees.push(PreorderTree { nodes, leaf_values });
    }
    if r.pos != bytes.len() {
        return Err(TrainError::Decode {
            reason: format!(
                "{} trailing bytes after {n_trees} trees",
                bytes.len() - r.pos
            ),
        });
    }
    Ok(trees)
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(BASE64[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub(crate) fn base64_decode(text: &str) -> Result<Vec<u8>> {
    let bad = |reason: String| TrainError::Decode { reason };
    let s = text.as_bytes();
    if !s.len().is_multiple_of(4) {
        return Err(bad(format!(
            "base64 length {} is not a multiple of 4",
            s.len()
        )));
    }
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for (ci, chunk) in s.chunks(4).enumerate() {
        let last = ci + 1 == s.len() / 4;
        let mut n = 0u32;
        let mut pad = 0;
        for (i, &c) in chunk.iter().enumerate() {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                b'=' if last && i >= 2 => {
                    pad += 1;
                    0
                }
                _ => {
                    return Err(bad(format!(
                        "invalid base64 character {:?} at {}",
                        char::from(c),
                        ci * 4 + i
                    )));
                }
            };
            if pad > 0 && c != b'=' {
                return Err(bad("base64 data after padding".into()));
            }
            n = (n << 6) | u32::from(v);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Ok(out)
}

/// Serializes bytes as base64 text for human-readable formats, raw bytes otherwise.
pub(crate) fn serialize_blob<S: Serializer>(
    bytes: &[u8],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    if serializer.is_human_readable() {
        serializer.serialize_str(&base64_encode(bytes))
    } else {
        serializer.serialize_bytes(bytes)
    }
}

struct BlobVisitor;

impl<'de> Visitor<'de> for BlobVisitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("base64 text or a byte array")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
        base64_decode(v).map_err(E::custom)
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
        Ok(v.to_vec())
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(v)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
        let mut out = Vec::new();
        while let Some(b) = seq.next_element::<u8>()? {
            out.push(b);
        }
        Ok(out)
    }
}

pub(crate) fn deserialize_blob<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    if d.is_human_readable() {
        d.deserialize_str(BlobVisitor)
    } else {
        d.deserialize_bytes(BlobVisitor)
    }
}

/// Bytes that travel as base64 in JSON (see [`serialize_blob`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Blob(
    #[serde(
        serialize_with = "serialize_blob",
        deserialize_with = "deserialize_blob"
    )]
    pub Vec<u8>,
);

/// Node cover as consecutive `f64 LE`.
pub(crate) fn encode_cover(cover: &[f64]) -> Blob {
    Blob(cover.iter().flat_map(|c| c.to_le_bytes()).collect())
}

/// Node cover of a forest of `n_nodes` nodes: exactly `8 * n_nodes` bytes (checked before any
/// allocation), every value finite and non-negative.
pub(crate) fn decode_cover(blob: &Blob, n_nodes: usize) -> Result<Vec<f64>> {
    let bytes = &blob.0;
    if Some(bytes.len()) != n_nodes.checked_mul(8) {
        return Err(TrainError::Decode {
            reason: format!(
                "node_cover has {} bytes, {n_nodes} nodes need {} (8 each)",
                bytes.len(),
                n_nodes.saturating_mul(8)
            ),
        });
    }
    let mut cover = Vec::with_capacity(n_nodes);
    for (node, chunk) in bytes.chunks_exact(8).enumerate() {
        let mut le = [0u8; 8];
        le.copy_from_slice(chunk);
        let value = f64::from_le_bytes(le);
        if !(value.is_finite() && value >= 0.0) {
            return Err(TrainError::Decode {
                reason: format!("node_cover of node {node} is {value}, not a finite weight >= 0"),
            });
        }
        cover.push(value);
    }
    Ok(cover)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_and_matches_rfc4648_vectors() {
        for (raw, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(raw.as_bytes()), enc);
            assert_eq!(base64_decode(enc).unwrap(), raw.as_bytes());
        }
        assert!(base64_decode("Zm9").is_err());
        assert!(base64_decode("Zm=v").is_err());
        assert!(base64_decode("Zm9*").is_err());
    }

    #[test]
    fn trees_round_trip_and_size_is_exact() {
        let tree = PreorderTree {
            nodes: vec![
                TreeNode {
                    feature: 1,
                    threshold: 0.5,
                },
                TreeNode {
                    feature: LEAF,
                    threshold: 0.0,
                },
                TreeNode {
                    feature: LEAF,
                    threshold: 0.0,
                },
            ],
            leaf_values: vec![0.25, 1.0],
        };
        let bytes = encode(std::slice::from_ref(&tree), 1);
        assert_eq!(bytes.len(), encoded_len(std::slice::from_ref(&tree), 1));
        assert_eq!(bytes.len(), 4 + 3 * 6);
        assert_eq!(decode(&bytes, 1, 1).unwrap(), vec![tree]);
        assert!(decode(&bytes[..bytes.len() - 1], 1, 1).is_err());
        assert!(decode(&bytes, 2, 1).is_err());
    }
}
