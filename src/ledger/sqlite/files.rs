//! The ledger as a file: building a new one beside it and putting it in place
//! (`disburse ledger rebuild`). A rebuild writes a scratch ledger and renames it
//! over the old one at the end, so a killed rebuild leaves the old one as it was.

use super::*;

/// Suffixes of the files SQLite keeps beside a database.
const COMPANIONS: [&str; 3] = ["-wal", "-shm", "-journal"];

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn file_err(path: &Path) -> impl FnOnce(std::io::Error) -> LedgerError + '_ {
    move |source| LedgerError::File { path: path.to_path_buf(), source }
}

/// Removes `path` and its companions, if there.
fn remove_all(path: &Path) -> Result<(), LedgerError> {
    for p in std::iter::once(path.to_path_buf()).chain(COMPANIONS.iter().map(|s| with_suffix(path, s))) {
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(file_err(&p)(e)),
            _ => {}
        }
    }
    Ok(())
}

impl SqliteLedger {
    /// An empty ledger at `<path>.rebuild` to rebuild into; what a killed
    /// rebuild left there is removed first.
    pub fn scratch(path: &Path) -> Result<SqliteLedger, LedgerError> {
        let scratch = with_suffix(path, ".rebuild");
        remove_all(&scratch)?;
        SqliteLedger::open(&scratch)
    }

    /// Puts this (scratch) ledger in the place of `path` with one rename. With
    /// `keep`, the ledger that was there stays beside it under that name (a hard
    /// link, made before the rename: at every moment `path` is the old ledger
    /// or the new one, whole).
    pub fn install(self, path: &Path, keep: Option<&Path>) -> Result<(), LedgerError> {
        let scratch = self.path.clone();
        // Closing the last connection checkpoints the WAL into the file and removes it.
        self.conn.close().map_err(|(_, e)| LedgerError::Db(e))?;
        std::fs::File::open(&scratch).and_then(|f| f.sync_all()).map_err(file_err(&scratch))?;
        if let Some(keep) = keep {
            std::fs::hard_link(path, keep).or_else(|_| std::fs::copy(path, keep).map(drop)).map_err(file_err(keep))?;
        }
        // Companions of a ledger that is gone (or was closed) belong to no database:
        // left there, SQLite could take a stale WAL for the new file's.
        for s in COMPANIONS {
            let p = with_suffix(path, s);
            if p.exists() {
                std::fs::remove_file(&p).map_err(file_err(&p))?;
            }
        }
        std::fs::rename(&scratch, path).map_err(file_err(path))?;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        crate::fsutil::sync_dir(dir).map_err(file_err(dir))?;
        Ok(())
    }
}
