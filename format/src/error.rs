//! The reader's and writer's typed errors: each says in one line what is wrong and where.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("{path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: is a directory, not a capture file")]
    IsDirectory { path: PathBuf },
    #[error("the file is empty, not a memray capture")]
    Empty,
    #[error("not a memray capture (wrong magic number)")]
    BadMagic,
    #[error(
        "unsupported capture format version {found} (this reader supports versions 1 to {supported})"
    )]
    UnsupportedVersion { found: u16, supported: u16 },
    #[error("the capture is truncated at byte {offset}")]
    Truncated { offset: u64 },
    #[error("the capture is corrupt at byte {offset}: {what}")]
    Corrupt { offset: u64, what: String },
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl FormatError {
    pub fn corrupt(offset: u64, what: &str) -> Self {
        FormatError::Corrupt {
            offset,
            what: what.to_string(),
        }
    }
}

pub type Result<T> = std::result::Result<T, FormatError>;
