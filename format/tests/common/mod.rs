//! Helpers the format crate's tests share.

use memray_format::CaptureFile;

/// The sizes of every event a capture's bytes hold, read as a file, and whether it is complete.
pub fn sizes_from_file(bytes: Vec<u8>) -> (Vec<u64>, bool) {
    let f = CaptureFile::from_vec(bytes).unwrap();
    let mut sizes = Vec::new();
    f.for_each_chunk(|c| {
        sizes.extend(c.events.iter().map(|e| e.size));
        Ok(())
    })
    .unwrap();
    (sizes, f.is_complete())
}
