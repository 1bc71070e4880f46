//! A prepared statement whose text parameters are bound without a copy.
//!
//! Why this exists: rusqlite binds every text with `SQLITE_TRANSIENT`, so SQLite
//! mallocs and copies each one before the statement runs, and frees it after. A
//! million-line run binds twelve texts per line; those copies were a fifth of the
//! ledger thread, the longest thread of a run. Here texts are bound with
//! `SQLITE_STATIC`: SQLite reads them where they are while the statement steps.
//!
//! Soundness rests on one rule, kept by [`Borrowed::execute`]: the values are
//! borrowed for the whole call, every parameter is bound in it, the statement is
//! stepped and reset in it, and the bindings are cleared before it returns. So no
//! pointer SQLite holds outlives the borrow it came from.

use std::ffi::{c_char, c_int, CStr};
use std::ptr::NonNull;

use rusqlite::{ffi, Connection};

/// One parameter value.
#[derive(Clone, Copy)]
pub(super) enum Value<'a> {
    Text(&'a str),
    Int(i64),
    Null,
}

/// A statement prepared on a connection, finalized when dropped.
pub(super) struct Borrowed<'c> {
    conn: &'c Connection,
    stmt: NonNull<ffi::sqlite3_stmt>,
    params: usize,
}

impl<'c> Borrowed<'c> {
    /// Prepares `sql` on `conn` (kept prepared: SQLite may run it many times).
    pub(super) fn prepare(conn: &'c Connection, sql: &str) -> rusqlite::Result<Borrowed<'c>> {
        let mut stmt = std::ptr::null_mut();
        // SAFETY: `conn.handle()` is a live connection for `'c`; `sql` is passed
        // with its length, and SQLite writes the new statement into `stmt`.
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                conn.handle(),
                sql.as_ptr().cast::<c_char>(),
                sql.len() as c_int,
                ffi::SQLITE_PREPARE_PERSISTENT as _,
                &mut stmt,
                std::ptr::null_mut(),
            )
        };
        let Some(stmt) = NonNull::new(stmt).filter(|_| rc == ffi::SQLITE_OK) else {
            return Err(last_error(conn, rc));
        };
        // SAFETY: `stmt` is the statement just prepared.
        let params = unsafe { ffi::sqlite3_bind_parameter_count(stmt.as_ptr()) } as usize;
        Ok(Borrowed { conn, stmt, params })
    }

    /// Runs the statement once with `values` (one per parameter, in order).
    /// A failed step's error is returned as rusqlite would return it.
    pub(super) fn execute(&mut self, values: &[Value<'_>]) -> rusqlite::Result<()> {
        if values.len() != self.params {
            return Err(rusqlite::Error::InvalidParameterCount(values.len(), self.params));
        }
        let stmt = self.stmt.as_ptr();
        for (i, v) in values.iter().enumerate() {
            // SAFETY: `stmt` is live; a text's bytes stay borrowed until the
            // bindings are cleared below, before this function returns.
            let rc = unsafe { bind(stmt, i as c_int + 1, *v) };
            if rc != ffi::SQLITE_OK {
                // SAFETY: as above; clearing only drops SQLite's pointers.
                unsafe { ffi::sqlite3_clear_bindings(stmt) };
                return Err(last_error(self.conn, rc));
            }
        }
        // SAFETY: every parameter is bound to live values; step, then reset and
        // clear, so the statement holds no pointer into `values` afterwards.
        let rc = unsafe { ffi::sqlite3_step(stmt) };
        let failed = (rc != ffi::SQLITE_DONE).then(|| last_error(self.conn, rc));
        unsafe {
            ffi::sqlite3_reset(stmt);
            ffi::sqlite3_clear_bindings(stmt);
        }
        failed.map_or(Ok(()), Err)
    }
}

impl Drop for Borrowed<'_> {
    fn drop(&mut self) {
        // SAFETY: the statement is ours and finalized once, before the
        // connection it belongs to (borrowed for `'c`) can close.
        unsafe { ffi::sqlite3_finalize(self.stmt.as_ptr()) };
    }
}

/// Binds one value with `SQLITE_STATIC`.
///
/// # Safety
/// `stmt` must be a live statement, and a text's bytes must stay valid and
/// unchanged until the parameter is bound again or cleared.
unsafe fn bind(stmt: *mut ffi::sqlite3_stmt, i: c_int, v: Value<'_>) -> c_int {
    match v {
        Value::Text(s) => ffi::sqlite3_bind_text64(
            stmt,
            i,
            // An empty `&str` may point nowhere; SQLite gets a real (empty,
            // NUL-ended) string instead, as rusqlite does.
            if s.is_empty() { c"".as_ptr() } else { s.as_ptr().cast::<c_char>() },
            s.len() as ffi::sqlite3_uint64,
            ffi::SQLITE_STATIC(),
            ffi::SQLITE_UTF8 as _,
        ),
        Value::Int(n) => ffi::sqlite3_bind_int64(stmt, i, n),
        Value::Null => ffi::sqlite3_bind_null(stmt, i),
    }
}

/// The connection's last error, as rusqlite reports one (extended code and message).
fn last_error(conn: &Connection, rc: c_int) -> rusqlite::Error {
    // SAFETY: the connection is live; SQLite's message is copied out at once.
    let (code, msg) = unsafe {
        let db = conn.handle();
        let msg = ffi::sqlite3_errmsg(db);
        let text = (!msg.is_null()).then(|| CStr::from_ptr(msg).to_string_lossy().into_owned());
        (ffi::sqlite3_extended_errcode(db), text)
    };
    let code = if code == ffi::SQLITE_OK { rc } else { code };
    rusqlite::Error::SqliteFailure(ffi::Error::new(code), msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE t (a TEXT NOT NULL, b INTEGER, c TEXT UNIQUE)").unwrap();
        c
    }

    #[test]
    fn rows_are_written_from_borrowed_texts() {
        let c = db();
        let mut ins = Borrowed::prepare(&c, "INSERT INTO t VALUES (?, ?, ?), (?, ?, ?)").unwrap();
        for round in 0..3 {
            let a = format!("甲{round}");
            let key = format!("k{round}");
            ins.execute(&[
                Value::Text(&a),
                Value::Int(round),
                Value::Null,
                Value::Text(""),
                Value::Null,
                Value::Text(&key),
            ])
            .unwrap();
            drop((a, key)); // the statement keeps no pointer into them
        }
        let rows: Vec<(String, Option<i64>, Option<String>)> = c
            .prepare("SELECT a, b, c FROM t ORDER BY rowid")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(rows.len(), 6);
        assert_eq!(rows[0], ("甲0".into(), Some(0), None));
        assert_eq!(rows[1], ("".into(), None, Some("k0".into())));
        assert_eq!(rows[5], ("".into(), None, Some("k2".into())));
    }

    #[test]
    fn a_broken_constraint_comes_back_as_rusqlite_reports_it() {
        let c = db();
        let mut ins = Borrowed::prepare(&c, "INSERT INTO t VALUES (?, ?, ?)").unwrap();
        ins.execute(&[Value::Text("a"), Value::Int(1), Value::Text("same")]).unwrap();
        let err = ins.execute(&[Value::Text("b"), Value::Int(2), Value::Text("same")]).unwrap_err();
        match err {
            rusqlite::Error::SqliteFailure(e, Some(msg)) => {
                assert_eq!(e.extended_code, ffi::SQLITE_CONSTRAINT_UNIQUE);
                assert!(msg.contains("UNIQUE"), "{msg}");
            }
            other => panic!("unexpected {other:?}"),
        }
        // The statement still works after a failure.
        ins.execute(&[Value::Text("c"), Value::Null, Value::Text("other")]).unwrap();
        let err = ins.execute(&[Value::Null, Value::Null, Value::Null]).unwrap_err();
        assert!(
            matches!(err, rusqlite::Error::SqliteFailure(e, _) if e.extended_code == ffi::SQLITE_CONSTRAINT_NOTNULL)
        );
        assert!(matches!(ins.execute(&[Value::Null]), Err(rusqlite::Error::InvalidParameterCount(1, 3))));
        assert!(Borrowed::prepare(&c, "INSERT INTO nowhere VALUES (?)").is_err());
    }
}
