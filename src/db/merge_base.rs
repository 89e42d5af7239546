//! A file's merge base as it is stored in `files.base_content`: the bytes
//! last indexed, LZ4-compressed.
//!
//! Every data file keeps its base for three-way merges (see
//! `sync::writeback`), so the bases are the largest thing in the index:
//! a copy of every collection file, more bytes than the objects themselves.
//! Writing them raw was a third of the pages a cold index writes (benchmark
//! B1). JSON compresses about fourfold with LZ4, which costs the reader
//! thread a few microseconds per file and is undone only when a merge
//! needs a base.
//!
//! `files.base_encoding` says how each base is stored: databases from
//! before version 8 hold raw bases, which stay readable.

use crate::error::{NexusError, Result};

/// How a stored base is encoded (`files.base_encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseEncoding {
    /// The bytes as they are.
    Raw,
    /// An LZ4 block with the original size in front (4 bytes, little
    /// endian), as `lz4_flex::block::compress_prepend_size` writes it.
    Lz4,
}

impl BaseEncoding {
    /// Name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            BaseEncoding::Raw => "raw",
            BaseEncoding::Lz4 => "lz4",
        }
    }
}

/// Bases larger than this are not decompressed: a stored size above it can
/// only come from a damaged row (files over `max_file_bytes` are never
/// indexed, and its default is far below).
const MAX_BASE_BYTES: usize = 1 << 30;

/// A merge base ready to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBase {
    pub encoding: BaseEncoding,
    pub blob: Vec<u8>,
}

impl StoredBase {
    /// Compresses `bytes`.
    pub fn compress(bytes: &[u8]) -> StoredBase {
        StoredBase {
            encoding: BaseEncoding::Lz4,
            blob: lz4_flex::block::compress_prepend_size(bytes),
        }
    }
}

/// The bytes of a base stored as `encoding` for the file `path`. A base
/// that cannot be decoded is an error naming the file; the caller can go
/// on without a base.
pub fn decode(path: &str, encoding: &str, blob: Vec<u8>) -> Result<Vec<u8>> {
    let damaged = |problem: String| {
        NexusError::Sync(format!(
            "the merge base of {path} in the index is damaged ({problem})"
        ))
    };
    match encoding {
        "raw" => Ok(blob),
        "lz4" => {
            let (size, block) =
                lz4_flex::block::uncompressed_size(&blob).map_err(|e| damaged(e.to_string()))?;
            if size > MAX_BASE_BYTES {
                return Err(damaged(format!("it claims {size} bytes")));
            }
            let bytes =
                lz4_flex::block::decompress(block, size).map_err(|e| damaged(e.to_string()))?;
            if bytes.len() != size {
                return Err(damaged(format!(
                    "{} bytes where {size} were recorded",
                    bytes.len()
                )));
            }
            Ok(bytes)
        }
        other => Err(damaged(format!("unknown encoding \"{other}\""))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_base_decodes_to_the_same_bytes_and_is_smaller() {
        let bytes = br#"{"schema":"core.todo","data":[{"id":1,"text":"water the plants"},{"id":2,"text":"water the plants again"},{"id":3,"text":"water the plants once more"}]}"#;
        let stored = StoredBase::compress(bytes);
        assert_eq!(stored.encoding, BaseEncoding::Lz4);
        assert!(stored.blob.len() < bytes.len(), "{}", stored.blob.len());
        assert_eq!(decode("a.json", "lz4", stored.blob).unwrap(), bytes);
        let empty = StoredBase::compress(b"");
        assert_eq!(decode("e.json", "lz4", empty.blob).unwrap(), b"");
    }

    #[test]
    fn raw_base_is_returned_as_it_is() {
        assert_eq!(decode("a.json", "raw", b"{}".to_vec()).unwrap(), b"{}");
    }

    #[test]
    fn damaged_base_is_an_error_naming_the_file() {
        let mut stored = StoredBase::compress(&[b'x'; 4000]).blob;
        stored.truncate(stored.len() - 3);
        let message = decode("lists/a.json", "lz4", stored)
            .unwrap_err()
            .to_string();
        assert!(message.contains("lists/a.json"), "{message}");
        // A size far beyond any indexed file is not allocated.
        let mut huge = (u32::MAX).to_le_bytes().to_vec();
        huge.extend_from_slice(b"\x10x");
        let message = decode("b.json", "lz4", huge).unwrap_err().to_string();
        assert!(
            message.contains("b.json") && message.contains("claims"),
            "{message}"
        );
        let message = decode("c.json", "zip", vec![1]).unwrap_err().to_string();
        assert!(message.contains("unknown encoding"), "{message}");
        assert!(decode("d.json", "lz4", vec![1, 2]).is_err());
    }
}
