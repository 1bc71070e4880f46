//! A PostgreSQL server for the tests of the shared ledger (SPEC §10).
//!
//! `DISBURSE_TEST_PG_URL` (what `.ci/run` exports) names a server and an admin
//! database; without it, a throwaway cluster is started once per test program
//! in a temp folder, on a Unix socket there only (no TCP port), and stopped when
//! the test program exits. Each test gets a fresh database of its own.
//!
//! When no server can be had, tests that need one skip with a loud message —
//! except in CI (`CI` set, not `0`/`false`), where they fail.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// A server the tests may create databases on: its admin URL.
pub struct Server {
    admin_url: String,
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// The server, started if need be; `None` (after a loud message) when there is
/// none to be had outside CI. In CI, no server fails the test.
pub fn server() -> Option<&'static Server> {
    match SERVER.get_or_init(start) {
        Ok(s) => Some(s),
        Err(why) if in_ci() => panic!("CI: the PostgreSQL tests need a server and none could be started: {why}"),
        Err(why) => {
            eprintln!(
                "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                 !!! SKIPPED: this PostgreSQL test found no server: {why}\n\
                 !!! Install PostgreSQL (initdb on PATH) or set DISBURSE_TEST_PG_URL.\n\
                 !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
            );
            None
        }
    }
}

/// A fresh, empty database; its URL (no password: the test server trusts).
pub fn database() -> Option<String> {
    static N: AtomicU64 = AtomicU64::new(0);
    let s = server()?;
    let name = format!("t{}_{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
    let mut c = postgres::Client::connect(&s.admin_url, postgres::NoTls)
        .unwrap_or_else(|e| panic!("connect to the test server: {e}"));
    c.batch_execute(&format!("CREATE DATABASE {name}")).expect("create a test database");
    Some(with_database(&s.admin_url, &name))
}

/// `url` with its database (the path) replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let (head, rest) = url.split_at(scheme_end);
    let path_at = rest.find('/').unwrap_or(rest.len());
    let query = rest[path_at..].find('?').map_or("", |q| &rest[path_at + q..]);
    format!("{head}{}/{name}{query}", &rest[..path_at])
}

fn start() -> Result<Server, String> {
    if let Ok(url) = std::env::var("DISBURSE_TEST_PG_URL") {
        if !url.is_empty() {
            return Ok(Server { admin_url: url });
        }
    }
    let bin = pg_bin_dir().ok_or("no initdb on PATH or under /usr/lib/postgresql/*/bin")?;
    let base = std::env::temp_dir().join(format!("disburse-pg-{}", std::process::id()));
    let data = base.join("data");
    std::fs::create_dir_all(&base).map_err(|e| format!("{}: {e}", base.display()))?;
    // initdb and postgres refuse to run as root: as root, they run as `postgres`.
    let owner = run_as();
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(&base, Some(uid), Some(gid)).map_err(|e| format!("chown {}: {e}", base.display()))?;
    }
    let mut init = Command::new(bin.join("initdb"));
    init.args(["-D", data.to_str().unwrap(), "-U", "disburse", "--auth=trust", "-E", "UTF8", "--locale=C"]);
    init.args(["--no-sync"]);
    as_user(&mut init, owner);
    let out = init.output().map_err(|e| format!("initdb: {e}"))?;
    if !out.status.success() {
        return Err(format!("initdb failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    spawn_server(&bin, &base, &data, owner)?;
    let admin_url = format!("postgresql://disburse@{}:5432/postgres", encode(&data));
    for _ in 0..300 {
        if postgres::Client::connect(&admin_url, postgres::NoTls).is_ok() {
            return Ok(Server { admin_url });
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Err(format!("the server in {} did not start within 30 s", data.display()))
}

/// The server runs under a shell that stops it (fast shutdown) and removes its
/// folder when this test program ends: the shell gets SIGTERM when the thread
/// that started it dies (PR_SET_PDEATHSIG), and that thread never ends.
fn spawn_server(bin: &Path, base: &Path, data: &Path, owner: Option<(u32, u32)>) -> Result<(), String> {
    let script = format!(
        "\"{pg}\" -D \"{d}\" -k \"{d}\" -p 5432 -F -c listen_addresses='' -c max_connections=200 \
         -c shared_buffers=32MB >\"{b}/log\" 2>&1 & pid=$!; \
         trap 'kill -INT $pid; wait $pid; rm -rf \"{b}\"; exit 0' TERM INT HUP; wait $pid; rm -rf \"{b}\"",
        pg = bin.join("postgres").display(),
        d = data.display(),
        b = base.display()
    );
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::os::unix::process::CommandExt;
        let mut c = Command::new("sh");
        c.args(["-c", &script]);
        as_user(&mut c, owner);
        // SAFETY: prctl only sets this process's parent-death signal.
        unsafe {
            c.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let started = c.spawn().map(|_| ()).map_err(|e| format!("start postgres: {e}"));
        let _ = tx.send(started);
        loop {
            std::thread::park();
        }
    });
    rx.recv().map_err(|e| e.to_string())?
}

fn as_user(c: &mut Command, owner: Option<(u32, u32)>) {
    use std::os::unix::process::CommandExt;
    if let Some((uid, gid)) = owner {
        c.gid(gid).uid(uid);
    }
}

/// The `postgres` account's ids when running as root.
fn run_as() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let out = Command::new("id").args(["-u", "postgres"]).output().ok()?;
    let uid = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    let out = Command::new("id").args(["-g", "postgres"]).output().ok()?;
    let gid = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some((uid, gid))
}

fn pg_bin_dir() -> Option<PathBuf> {
    if let Ok(out) = Command::new("sh").args(["-c", "command -v initdb"]).output() {
        let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !p.is_empty() {
            let real = std::fs::canonicalize(&p).unwrap_or_else(|_| PathBuf::from(&p));
            return real.parent().map(Path::to_path_buf);
        }
    }
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir("/usr/lib/postgresql").ok()?.flatten().map(|e| e.path().join("bin")).collect();
    dirs.sort();
    dirs.into_iter().rev().find(|d| d.join("initdb").exists())
}

fn encode(p: &Path) -> String {
    p.to_str().unwrap().replace('%', "%25").replace('/', "%2F")
}

/// Which ledger a scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Rewrites the office config at `config` to use a fresh shared ledger with
/// office code `code` (a no-op for SQLite). `false`: no server, skip the test.
pub fn use_backend(config: &Path, backend: Backend, code: &str) -> bool {
    if backend == Backend::Sqlite {
        return true;
    }
    let Some(url) = database() else { return false };
    set_shared_ledger(config, &url, code);
    true
}

/// Points the config at the shared ledger `url` as office `code`.
pub fn set_shared_ledger(config: &Path, url: &str, code: &str) {
    let text = std::fs::read_to_string(config).unwrap();
    let mut out = String::new();
    let mut section = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            section = t.to_string();
        }
        if section == "[ledger]" && (t.starts_with("path") || t.starts_with("url")) {
            out.push_str(&format!("url = \"{url}\"\n"));
            continue;
        }
        if section == "[office]" && t.starts_with("code") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if t == "[office]" {
            out.push_str(&format!("code = \"{code}\"\n"));
        }
    }
    std::fs::write(config, out).unwrap();
}

/// The ledger the config names, opened through the library.
pub fn open_ledger(config: &Path) -> Box<dyn disburse::ledger::Ledger + Send> {
    let c = disburse::config::Config::load(config).unwrap();
    disburse::ledger::open(&c).unwrap()
}

/// A new database with the contents of the one `url` names (which must have
/// no open connection): a copy of an office's shared ledger for one trial.
pub fn clone_database(url: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let s = server().expect("a server made the database being cloned");
    let source = url.rsplit('/').next().unwrap().split('?').next().unwrap().to_string();
    let name = format!("c{}_{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
    let mut c = postgres::Client::connect(&s.admin_url, postgres::NoTls).unwrap();
    c.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {source}")).expect("clone a test database");
    with_database(&s.admin_url, &name)
}

/// The shared ledger URL a config names, if it names one.
pub fn shared_url(config: &Path) -> Option<String> {
    let text = std::fs::read_to_string(config).ok()?;
    text.lines().find_map(|l| l.trim().strip_prefix("url = \"").and_then(|r| r.strip_suffix('"')).map(str::to_string))
}

/// Copies an office folder; a shared ledger is copied too, into a database of
/// its own that the copy's config then names.
pub fn copy_office(from: &Path, to: &Path) {
    copy_dir(from, to);
    let config = to.join("disburse.toml");
    if let Some(url) = shared_url(&config) {
        let code = std::fs::read_to_string(&config)
            .unwrap()
            .lines()
            .find_map(|l| l.trim().strip_prefix("code = \"").and_then(|r| r.strip_suffix('"')).map(str::to_string))
            .expect("a shared ledger's office has a code");
        set_shared_ledger(&config, &clone_database(&url), &code);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let t = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}
