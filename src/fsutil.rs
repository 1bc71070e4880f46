//! Writing files whole or not at all: temporary file in the same folder, flush,
//! fsync, rename, fsync the folder. A crash leaves either the old file or the new
//! one, never half of one.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

/// Writes `bytes` to `path` atomically, with mode 0600 on Unix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Streams into `path` atomically: `fill` writes the content; only if it returns
/// `Ok` is the file renamed into place.
pub fn write_atomic_with<F>(path: &Path, fill: F) -> io::Result<()>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    write_whole(path, true, fill)
}

/// Writes `bytes` to `path` whole (temporary file, rename; mode 0600) but
/// leaves it to the caller to make it durable ([`sync_files`] and
/// [`sync_dir`]): for a staging folder that nothing trusts until its files are
/// synced all together.
pub fn write_whole_unsynced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_whole(path, false, |w| w.write_all(bytes))
}

fn write_whole<F>(path: &Path, sync: bool, fill: F) -> io::Result<()>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    {
        let mut buf = io::BufWriter::with_capacity(1 << 16, tmp.as_file_mut());
        fill(&mut buf)?;
        buf.flush()?;
    }
    if sync {
        tmp.as_file().sync_all()?;
    } else {
        start_writeback(tmp.as_file());
    }
    tmp.persist(path).map_err(|e| e.error)?;
    if sync {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Fsyncs every file of `paths`, several at a time; a failure comes back
/// with the path it was for.
///
/// Why several at a time: each fsync waits for the disk to confirm its
/// inode (and any data not yet written back); one after another, a run's
/// ~300 bank and signature files each waited a few milliseconds on one
/// thread. Waiting together, their writes and cache flushes overlap.
pub fn sync_files(paths: &[std::path::PathBuf]) -> Result<(), (std::path::PathBuf, io::Error)> {
    const AT_ONCE: usize = 8;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || -> Result<(), (std::path::PathBuf, io::Error)> {
        while let Some(p) = paths.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
            fs::File::open(p).and_then(|f| f.sync_all()).map_err(|e| (p.clone(), e))?;
        }
        Ok(())
    };
    std::thread::scope(|s| {
        let helpers: Vec<_> = (1..AT_ONCE.min(paths.len())).map(|_| s.spawn(work)).collect();
        let mine = work();
        helpers.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).fold(mine, Result::and)
    })
}

/// Bytes written between two [`start_writeback`] calls of an [`EarlyWrite`].
const WRITEBACK_EVERY: u64 = 8 << 20;

/// Asks the kernel to start writing `file`'s dirty pages to disk now, without
/// waiting for them (Linux `sync_file_range(SYNC_FILE_RANGE_WRITE)`; nothing
/// elsewhere). Durability still comes from the fsync at the end.
///
/// Why: the kernel otherwise writes a file's pages back only when they are
/// old or many, so a run's fsyncs each waited for a whole file: ~0.25 s at the
/// end of a million-line run, on one core while the other had nothing to do.
/// Started early, the writing overlaps the run and the fsync waits for the last
/// few megabytes.
pub fn start_writeback(file: &fs::File) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: the descriptor is open for as long as `file` is borrowed, and
        // sync_file_range only reads its arguments. A failure (say, a file
        // system without writeback) only means the fsync does all the work.
        unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
}

/// Counts the bytes written to a file and starts its writeback every
/// [`WRITEBACK_EVERY`] bytes (for writers that own their file in another form).
#[derive(Debug, Default)]
pub struct WritebackEvery {
    since: u64,
}

impl WritebackEvery {
    pub fn wrote(&mut self, file: &fs::File, bytes: usize) {
        self.since += bytes as u64;
        if self.since >= WRITEBACK_EVERY {
            self.since = 0;
            start_writeback(file);
        }
    }
}

/// A file written front to back, its writeback started as it grows (see
/// [`start_writeback`]).
#[derive(Debug)]
pub struct EarlyWrite {
    file: fs::File,
    every: WritebackEvery,
}

impl EarlyWrite {
    pub fn new(file: fs::File) -> EarlyWrite {
        EarlyWrite { file, every: WritebackEvery::default() }
    }

    pub fn into_inner(self) -> fs::File {
        self.file
    }
}

impl Write for EarlyWrite {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.every.wrote(&self.file, n);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Creates a folder (and parents) readable only by its owner (0700 on Unix).
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(|e| not_a_folder(dir, e))
}

/// A folder that cannot be made because a file sits where it or one of its
/// parents should be (`output.dir = "/dev/null"`): names that file.
#[derive(Debug)]
struct NotAFolder {
    /// The file in the way, when it is not the folder asked for itself (which
    /// the caller names).
    parent: Option<std::path::PathBuf>,
}

impl std::fmt::Display for NotAFolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.parent {
            Some(p) => write!(f, "{} is a file, not a folder", p.display()),
            None => f.write_str("is a file, not a folder"),
        }
    }
}

impl std::error::Error for NotAFolder {}

/// Turns "File exists" or "Not a directory" from making `dir` into the file in the way.
fn not_a_folder(dir: &Path, e: io::Error) -> io::Error {
    if !matches!(e.kind(), io::ErrorKind::AlreadyExists | io::ErrorKind::NotADirectory) {
        return e;
    }
    match dir.ancestors().find(|a| a.exists() && !a.is_dir()) {
        Some(file) => {
            let parent = (file != dir).then(|| file.to_path_buf());
            io::Error::new(io::ErrorKind::NotADirectory, NotAFolder { parent })
        }
        None => e,
    }
}

/// Makes a rename or create in `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// SHA-256 of bytes as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    let mut f = fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = io::Read::read(&mut f, &mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// An I/O error in a clerk's words: what happened and what to do, with the
/// system's own short text in brackets for whoever looks after the computer.
/// Every message about a file goes through here, so a full disk or a read-only
/// folder is worded the same way by every command. The path is the caller's to
/// name, once: errors that carry their own path (tempfile's "… at path …") are
/// reduced to their system error here so the path is not printed twice.
pub struct Explained<'a>(pub &'a io::Error);

impl std::fmt::Display for Explained<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let e = self.0;
        if let Some(file) = e.get_ref().and_then(|i| i.downcast_ref::<NotAFolder>()) {
            return f.write_str(&crate::tr!(
                "{file}：请把 disburse.toml 里的路径改成一个目录，或把这个文件移走",
                "{file}: point the path in disburse.toml at a folder, or move the file away"
            ));
        }
        match explain(e.kind()) {
            Some((what, todo)) => {
                // The system's text without any path it carries (tempfile's errors
                // end in " at path …", and the caller names the path itself).
                let system = match e.raw_os_error() {
                    Some(code) => io::Error::from_raw_os_error(code).to_string(),
                    None => e.kind().to_string(),
                };
                f.write_str(&crate::tr!("{what}（{system}）：{todo}", "{what} ({system}): {todo}"))
            }
            None => f.write_str(strip_path(&e.to_string())),
        }
    }
}

/// What happened and what to do, by kind (the kind survives the wrappers that
/// hide the OS error number).
fn explain(kind: io::ErrorKind) -> Option<(&'static str, &'static str)> {
    use crate::lang::pick;
    use io::ErrorKind as K;
    Some(match kind {
        K::StorageFull | K::QuotaExceeded | K::FileTooLarge => pick(
            ("磁盘满了", "请腾出一些空间（或把输出目录换到别处）后重新运行"),
            ("the disk is full", "free some space on it (or move the output folder elsewhere) and run again"),
        ),
        K::ReadOnlyFilesystem => pick(
            ("磁盘或目录是只读的", "请换一个可以写的目录（改 disburse.toml 里的路径）后重新运行"),
            (
                "the disk or folder is read-only",
                "use a folder that can be written to (change the path in disburse.toml) and run again",
            ),
        ),
        K::PermissionDenied => pick(
            ("当前账户没有权限读写那里", "请让管理这台电脑的人开通这个目录的权限，或改 disburse.toml 里的路径"),
            (
                "this account may not read or write there",
                "ask whoever looks after this computer for access to the folder, or change the path in disburse.toml",
            ),
        ),
        K::NotADirectory => pick(
            ("不是目录（有一个文件挡在那里）", "请把 disburse.toml 里的路径改成一个目录，或把那个文件移走"),
            (
                "is not a folder (a file is in the way)",
                "point the path in disburse.toml at a folder, or move the file away",
            ),
        ),
        K::AlreadyExists => pick(
            ("已经存在", "请把它移走（如果是 disburse 写的，请保留好）后重新运行"),
            ("is already there", "move it away (keep it, if it was written by disburse) and run again"),
        ),
        K::IsADirectory => pick(
            ("是目录，不是文件", "请在 disburse.toml 里写它里面的文件"),
            ("is a folder, not a file", "point the path in disburse.toml at the file inside it"),
        ),
        K::NotFound => pick(
            ("没有这个文件或目录", "请检查 disburse.toml 里的路径后重新运行"),
            ("no such file or folder", "check the path in disburse.toml and run again"),
        ),
        K::InvalidFilename => pick(
            ("路径太长或不是有效的文件名", "请在 disburse.toml 里用短一些的普通路径"),
            ("the path is too long or not a valid file name", "use a shorter, plain path in disburse.toml"),
        ),
        _ => return None,
    })
}

/// tempfile's errors end in " at path \"…\"": the caller names the path itself.
fn strip_path(text: &str) -> &str {
    text.split(" at path ").next().unwrap_or(text)
}

#[cfg(all(test, target_os = "linux"))]
mod explained_tests {
    use super::*;

    fn say(e: io::Error) -> String {
        Explained(&e).to_string()
    }

    /// Each error a clerk meets writing files reads as what happened and what to do.
    #[test]
    fn os_errors_in_clerks_words() {
        let full = say(io::Error::from_raw_os_error(libc::ENOSPC));
        assert!(full.starts_with("the disk is full (") && full.contains("free some space"), "{full}");
        let ro = say(io::Error::from_raw_os_error(libc::EROFS));
        assert!(ro.contains("read-only") && ro.contains("change the path"), "{ro}");
        let denied = say(io::Error::from_raw_os_error(libc::EACCES));
        assert!(denied.contains("may not read or write"), "{denied}");
        let not_dir = say(io::Error::from_raw_os_error(libc::ENOTDIR));
        assert!(not_dir.starts_with("is not a folder"), "{not_dir}");
        assert!(say(io::Error::other("line 3 is too long")).starts_with("line 3 is too long"));
    }

    /// A folder that cannot be made because a file is in the way names that file.
    #[test]
    fn a_file_in_the_way_of_a_folder_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out");
        std::fs::write(&file, "").unwrap();
        let text = say(create_private_dir(&file).unwrap_err());
        assert!(text.starts_with("is a file, not a folder: point the path"), "{text}");
        let text = say(create_private_dir(&file.join("2026-11/reports")).unwrap_err());
        assert!(text.starts_with(&format!("{} is a file, not a folder", file.display())), "{text}");
    }

    /// An error that wraps its path (tempfile's) gives the system error only.
    #[test]
    fn a_wrapped_path_is_not_repeated() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("gone");
        let e = tempfile::Builder::new().tempfile_in(&missing).unwrap_err();
        let text = say(e);
        assert!(!text.contains("gone"), "{text}");
        assert!(text.starts_with("no such file or folder"), "{text}");
    }
}
