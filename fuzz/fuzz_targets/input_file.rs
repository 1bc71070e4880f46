//! The readers of control files and rosters take a path, so every target that
//! fuzzes one writes its input into one temp file per fuzzing process.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Writes `data` to this process's input file (named `input.<ext>`) and returns its path.
pub fn write_input(data: &[u8], ext: &str) -> &'static Path {
    static FILE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = FILE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(format!("input.{ext}"));
        (dir, path)
    });
    std::fs::write(path, data).expect("write input");
    path
}
