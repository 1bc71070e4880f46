//! The password of a shared ledger: DISBURSE_LEDGER_PASSWORD, else the
//! libpq password file (`PGPASSFILE`, or `~/.pgpass`), read as libpq reads it.
//! Why here: the `postgres` crate reads neither; and the config file must never
//! hold a password (SPEC §10).

use std::path::PathBuf;

/// What a password file line is matched against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target<'a> {
    /// Host name, or a Unix socket's folder (which also matches `localhost`).
    pub host: &'a str,
    pub socket: bool,
    pub port: u16,
    pub database: &'a str,
    pub user: &'a str,
}

/// The password for `t`: the environment variable first, then the file.
pub(super) fn password(t: &Target<'_>) -> Option<String> {
    if let Ok(p) = std::env::var("DISBURSE_LEDGER_PASSWORD") {
        if !p.is_empty() {
            return Some(p);
        }
    }
    let path = password_file()?;
    let text = read_private(&path)?;
    lookup(&text, t)
}

fn password_file() -> Option<PathBuf> {
    match std::env::var_os("PGPASSFILE") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pgpass")),
    }
}

/// The file's text, unless others may read it: libpq ignores such a file too,
/// and says so.
fn read_private(path: &std::path::Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                event = "pgpass_ignored",
                file = %path.display(),
                "the password file can be read by others and is ignored: chmod 600 it"
            );
            return None;
        }
    }
    let _ = meta;
    std::fs::read_to_string(path).ok()
}

/// The first line of `text` whose five fields match `t` (`*` matches anything).
pub(super) fn lookup(text: &str, t: &Target<'_>) -> Option<String> {
    let port = t.port.to_string();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f = fields(line);
        if f.len() < 5 {
            continue;
        }
        let host_ok = f[0] == "*" || f[0] == t.host || (t.socket && f[0] == "localhost");
        let ok = |field: &str, want: &str| field == "*" || field == want;
        if host_ok && ok(&f[1], &port) && ok(&f[2], t.database) && ok(&f[3], t.user) {
            return Some(f[4..].join(":"));
        }
    }
    None
}

/// The `:`-separated fields of a line, with `\:` and `\\` unescaped.
fn fields(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    out.last_mut().expect("one field").push(n);
                }
            }
            ':' => out.push(String::new()),
            c => out.last_mut().expect("one field").push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t<'a>(host: &'a str, socket: bool) -> Target<'a> {
        Target { host, socket, port: 5432, database: "province", user: "disburse" }
    }

    #[test]
    fn lines_match_field_by_field_with_wildcards() {
        let file = "# comment\nother:5432:*:*:no\ndb.example:5432:province:disburse:s3cret\n*:*:*:*:fallback\n";
        assert_eq!(lookup(file, &t("db.example", false)).as_deref(), Some("s3cret"));
        assert_eq!(lookup(file, &t("db2", false)).as_deref(), Some("fallback"));
        assert_eq!(lookup("db.example:5433:*:*:x\n", &t("db.example", false)), None);
    }

    #[test]
    fn a_socket_matches_localhost_and_escapes_are_read() {
        let file = "localhost:*:*:disburse:a\\:b\\\\c\n";
        assert_eq!(lookup(file, &t("/run/postgresql", true)).as_deref(), Some("a:b\\c"));
        assert_eq!(lookup(file, &t("db.example", false)), None);
    }
}
