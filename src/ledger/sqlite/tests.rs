use super::*;

/// The bundled SQLite is built without malloc statistics (`.cargo/config.toml`):
/// their global mutex was 6% of a million-line run's ledger thread.
#[test]
fn sqlite_is_built_without_memory_statistics() {
    let conn = Connection::open_in_memory().unwrap();
    let mut stmt = conn.prepare("PRAGMA compile_options").unwrap();
    let options: Vec<String> = stmt.query_map([], |r| r.get(0)).unwrap().map(|r| r.unwrap()).collect();
    assert!(options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"), "{options:?}");
}

/// The descriptor read out of SQLite's file object is the ledger's own file
/// (a wrong layout would name another descriptor, or none); an in-memory
/// database has none. The descriptor stays open after it is dropped.
#[cfg(target_os = "linux")]
#[test]
fn the_database_file_descriptor_is_the_ledger_file() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let l = SqliteLedger::open(&path).unwrap();
    {
        let f = database_file(&l.conn).expect("the unix VFS's descriptor");
        let (got, want) = (f.metadata().unwrap(), std::fs::metadata(&path).unwrap());
        assert_eq!((got.dev(), got.ino()), (want.dev(), want.ino()));
        crate::fsutil::start_writeback(&f);
    }
    let n: i64 = l.conn.query_row("SELECT COUNT(*) FROM payments", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 0, "SQLite still reads through its descriptor");
    assert!(database_file(&Connection::open_in_memory().unwrap()).is_none());
}

/// A new ledger has 16 KB pages; one made with 4 KB pages keeps them (and works).
#[test]
fn new_ledgers_have_16k_pages() {
    let dir = tempfile::tempdir().unwrap();
    let page = |l: &SqliteLedger| -> i64 { l.conn.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap() };
    let l = SqliteLedger::open(&dir.path().join("new.db")).unwrap();
    assert_eq!(page(&l), 16384);
    let old = dir.path().join("old.db");
    old_ledger(&old, 3);
    let mut l = SqliteLedger::open(&old).unwrap();
    assert_eq!(page(&l), 4096);
    l.commit_run(&run("R002"), &[file("f9")], &in_file("f9", &[line("E9", "110105194912310099", None, 0)])).unwrap();
    assert_eq!(page(&l), 4096);
}

/// The queries of failures.csv and the death holds are answered from their
/// partial indexes, not by reading the period (or the ledger).
#[test]
fn failure_and_death_queries_use_their_partial_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let l = SqliteLedger::open(&dir.path().join("l.db")).unwrap();
    let plan = |sql: &str| -> Vec<String> {
        let mut stmt = l.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let n = stmt.parameter_count();
        let args: Vec<&str> = vec!["2026-11"; n];
        stmt.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    };
    let failures = plan(&failure_sql());
    for index in ["status_needing_a_person", "corrections_by_period"] {
        assert!(failures.iter().any(|d| d.contains(index)), "{index}: {failures:?}");
    }
    let deaths = plan(DECEASED_SQL);
    assert!(deaths.iter().any(|d| d.contains("status_deceased")), "{deaths:?}");
}

/// No index is on a payment's period or run (versions 4 and 5): every query
/// by period goes through the runs of the period and their stretches of
/// payment ids, read as rowid ranges, and none reads the whole ledger.
#[test]
fn period_queries_go_through_the_runs() {
    let dir = tempfile::tempdir().unwrap();
    let l = SqliteLedger::open(&dir.path().join("l.db")).unwrap();
    let plan = |sql: &str| -> String {
        let mut stmt = l.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let args: Vec<&str> = vec!["2026-11"; stmt.parameter_count()];
        let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3)).unwrap();
        rows.map(|r| r.unwrap()).collect::<Vec<_>>().join(" | ")
    };
    let lines = select_lines(period_lines_from!(1));
    let in_file = payments_in_file_sql();
    for sql in [PAID_IN_PERIODS_SQL, PERIOD_STATUS_SQL, &lines, &in_file] {
        let p = plan(sql);
        assert!(!p.contains("AUTOMATIC"), "{sql}: {p}");
        assert!(p.contains("SEARCH p USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"), "{sql}: {p}");
        assert!(p.contains("SEARCH g USING PRIMARY KEY (run_id="), "{sql}: {p}");
    }
    for sql in [LAST_PERIOD_SQL, PAID_IN_PERIODS_SQL, PERIOD_STATUS_SQL, PERIODS_SQL, &lines, &in_file] {
        let p = plan(sql);
        assert!(!p.contains("SCAN p") && !p.contains("SCAN payments") && !p.contains("SCAN g"), "{sql}: {p}");
    }
    // A period's status adds its lines up in a map: no person's details, no sort.
    let status = plan(PERIOD_STATUS_SQL);
    assert!(!status.contains("parties") && !status.contains("TEMP B-TREE"), "{status}");
    // The rule's index begins with the period (schema_v11.sql): a run's entries go
    // into its own period's part of the index, however long the history.
    let first: String = l.conn.query_row("PRAGMA index_info(one_payment_per_person)", [], |r| r.get(2)).unwrap();
    assert_eq!(first, "period");
    let unpaid = plan(UNPAID_IN_PERIODS_SQL);
    assert!(unpaid.contains("USING INDEX status_needing_a_person"), "{unpaid}");
    let people = plan(PAID_PEOPLE_SQL);
    assert!(people.contains("SEARCH g USING PRIMARY KEY (run_id=? AND program=?)"), "{people}");
    assert!(people.contains("SEARCH p USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"), "{people}");
}

fn line(e2e: &str, id: &str, original: Option<&str>, retry: u32) -> LedgerLine {
    LedgerLine {
        source: None,
        end_to_end_id: e2e.into(),
        program: Program::Dibao,
        period: "2026-11".parse().unwrap(),
        id_number: id.into(),
        name: "张三".into(),
        township: "镇".into(),
        village: "村".into(),
        payee_name: "张三".into(),
        account: "1234567890".into(),
        bank: Text::default(),
        amount: Fen(100),
        bank_file: "f1".into(),
        status: PaymentStatus::Sent,
        reason_code: String::new(),
        reason_text: String::new(),
        original_id: original.map(str::to_string),
        retry,
        kind: crate::domain::LineKind::BASIC,
    }
}

/// `lines`, all in bank file `name` (a run's lines name its own files).
fn in_file(name: &str, lines: &[LedgerLine]) -> Vec<LedgerLine> {
    lines.iter().map(|l| LedgerLine { bank_file: name.into(), ..l.clone() }).collect()
}

fn run(batch: &str) -> NewRun {
    NewRun {
        period: "2026-11".parse().unwrap(),
        batch: batch.into(),
        kind: BatchKind::Run,
        staging_dir: "s".into(),
        manifest_sha256: "m".into(),
        created_at: "t".into(),
        key_fingerprint: "fp".into(),
        verified: Vec::new(),
        approvals: Vec::new(),
    }
}

fn file(name: &str) -> FileRecord {
    FileRecord {
        name: name.into(),
        program: Program::Dibao,
        format: "x".into(),
        lines: 1,
        total: Fen(100),
        sha256: "h".into(),
    }
}

/// Many rows go in per statement: a duplicate inside a full chunk is still
/// refused as AlreadyPaid and leaves nothing behind; a clean batch lands whole.
#[test]
fn chunked_inserts_keep_the_double_payment_guard() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = SqliteLedger::open(&dir.path().join("l.db")).unwrap();
    let n = ROWS_PER_INSERT * 2 + 5;
    // 18 characters, as the ledger only ever holds validated ID numbers.
    let id = |prefix: u32, i: usize| format!("{prefix}{i:017}");
    let lines: Vec<LedgerLine> = (0..n).map(|i| line(&format!("E{i:04}"), &id(1, i), None, 0)).collect();
    l.commit_run(&run("R001"), &[file("f1")], &lines).unwrap();
    let p: Period = "2026-11".parse().unwrap();
    assert_eq!(l.paid_people(Program::Dibao, p).unwrap().len(), n);
    let mut again: Vec<LedgerLine> = (0..n).map(|i| line(&format!("F{i:04}"), &id(2, i), None, 0)).collect();
    again[ROWS_PER_INSERT + 3].id_number = id(1, 7).into();
    let err = l.commit_run(&run("R002"), &[file("f2")], &in_file("f2", &again)).unwrap_err();
    assert!(matches!(err, LedgerError::AlreadyPaid { .. }), "{err:?}");
    assert_eq!(l.paid_people(Program::Dibao, p).unwrap().len(), n);
}

fn many_lines(n: usize) -> Vec<LedgerLine> {
    (0..n).map(|i| line(&format!("E{i:05}"), &format!("1{i:017}"), None, 0)).collect()
}

fn journal_mode(conn: &Connection) -> String {
    conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap()
}

fn wal_bytes(db: &Path) -> u64 {
    std::fs::metadata(db.with_extension("db-wal")).map_or(0, |m| m.len())
}

/// A run's new pages go into the database once, not through the WAL and
/// again at a checkpoint; the ledger is in WAL mode again after it, whether
/// the run committed or was dropped.
#[test]
fn a_run_writes_its_pages_once_and_leaves_wal_mode_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("l.db");
    let mut l = SqliteLedger::open(&db).unwrap();
    l.commit_run(&run("R001"), &[file("f1")], &many_lines(3000)).unwrap();
    assert_eq!(journal_mode(&l.conn), "wal");
    // Through the WAL, 3,000 rows leave ~1 MB in it (below the auto-checkpoint).
    assert!(wal_bytes(&db) < 64 * 1024, "{} bytes in the WAL", wal_bytes(&db));
    let p: Period = "2026-11".parse().unwrap();
    assert_eq!(l.paid_people(Program::Dibao, p).unwrap().len(), 3000);

    let mut w = l.begin_run(&run("R002")).unwrap();
    w.add_lines(&in_file("f2", &[line("F1", "210105194912310021", None, 0)])).unwrap();
    drop(w);
    assert_eq!(journal_mode(&l.conn), "wal");
    assert!(l.payment("F1").unwrap().is_none());
    let ok: String = l.conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok");
}

/// Another process reading the ledger keeps it in WAL mode: the run still
/// records, through the WAL, and the reader is never locked out.
#[test]
fn a_run_with_a_reader_open_stays_in_wal() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("l.db");
    let mut l = SqliteLedger::open(&db).unwrap();
    let reader = Connection::open(&db).unwrap();
    let count = |c: &Connection| -> i64 { c.query_row("SELECT COUNT(*) FROM payments", [], |r| r.get(0)).unwrap() };
    assert_eq!(count(&reader), 0);
    let mut w = l.begin_run(&run("R001")).unwrap();
    w.add_lines(&many_lines(500)).unwrap();
    assert_eq!(count(&reader), 0, "the reader sees the ledger as it was");
    w.commit(&[file("f1")], "m").unwrap();
    assert_eq!(count(&reader), 500);
    assert!(wal_bytes(&db) > 0);
    assert_eq!(journal_mode(&l.conn), "wal");
}

/// A run's rows store the run's period: a line of another period is refused
/// rather than recorded under the wrong month.
#[test]
fn a_line_of_another_period_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = SqliteLedger::open(&dir.path().join("l.db")).unwrap();
    let mut odd = line("E1", "110105194912310021", None, 0);
    odd.period = "2026-10".parse().unwrap();
    let err = l.commit_run(&run("R001"), &[file("f1")], &[odd]).unwrap_err();
    assert!(matches!(&err, LedgerError::Corrupt(m) if m.contains("2026-10")), "{err:?}");
    assert!(l.files_of_period("2026-11".parse().unwrap()).unwrap().is_empty());
}

#[test]
fn the_database_refuses_a_second_payment() {
    const A: &str = "110105194912310021";
    let dir = tempfile::tempdir().unwrap();
    let mut l = SqliteLedger::open(&dir.path().join("l.db")).unwrap();
    l.commit_run(&run("R001"), &[file("f1")], &[line("E1", A, None, 0)]).unwrap();
    let err = l.commit_run(&run("R002"), &[file("f2")], &in_file("f2", &[line("E2", A, None, 0)])).unwrap_err();
    assert!(matches!(err, LedgerError::AlreadyPaid { .. }));
    // Nothing of the refused run stays.
    assert_eq!(l.files_of_period("2026-11".parse().unwrap()).unwrap().len(), 1);
    assert_eq!(l.next_batch_number("2026-11".parse().unwrap(), BatchKind::Run).unwrap(), 2);
    // A linked correction is allowed once per retry.
    l.commit_run(&run("C001"), &[file("f3")], &in_file("f3", &[line("E3", A, Some("E1"), 1)])).unwrap();
    assert!(l.commit_run(&run("C002"), &[file("f4")], &in_file("f4", &[line("E4", A, Some("E1"), 1)])).is_err());
    assert_eq!(l.paid_people(Program::Dibao, "2026-11".parse().unwrap()).unwrap().len(), 1);
}

fn receipt_line(e2e: &str, status: PaymentStatus) -> ReceiptLine {
    ReceiptLine {
        file: String::new(),
        position: 0,
        end_to_end_id: e2e.into(),
        status,
        amount: None,
        reason_code: if status == PaymentStatus::Failed { "AC04".into() } else { String::new() },
        reason_text: String::new(),
        ..ReceiptLine::default()
    }
}

/// Applies `lines` as one receipt in a batch of its own, and commits.
fn apply(
    l: &mut SqliteLedger,
    sha: &str,
    lines: &[ReceiptLine],
    decide: &mut dyn FnMut(&StagedLine<'_>) -> Verdict,
) -> Applied {
    let mut b = l.begin_receipts().unwrap();
    b.begin_receipt("r.xml").unwrap();
    for line in lines {
        b.push(line, decide).unwrap();
    }
    let a = b.end_receipt(sha, "k").unwrap();
    b.commit().unwrap();
    a
}

/// Applies every line whose status differs (the pending one counting), flags unknowns.
fn plain(l: &StagedLine<'_>) -> Verdict {
    match l.payment {
        None => Verdict::Flagged,
        Some(p) if l.pending.unwrap_or(p.status) == l.status => Verdict::Unchanged,
        Some(_) => Verdict::Apply,
    }
}

/// A large receipt applies in one go; applying it again changes nothing; a
/// batch dropped uncommitted leaves nothing.
#[test]
fn a_large_receipt_applies_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = SqliteLedger::open(&dir.path().join("l.db")).unwrap();
    let n = 20_000;
    let lines: Vec<LedgerLine> = (0..n).map(|i| line(&format!("E{i:06}"), &format!("P{i}"), None, 0)).collect();
    l.commit_run(&run("R001"), &[file("f1")], &lines).unwrap();
    let status = |i: usize| if i % 10 == 5 { PaymentStatus::Failed } else { PaymentStatus::Settled };
    let mut receipt: Vec<ReceiptLine> = (0..n).map(|i| receipt_line(&format!("E{i:06}"), status(i))).collect();
    receipt.push(receipt_line("NOPE", PaymentStatus::Settled));
    let a = apply(&mut l, "a", &receipt, &mut plain);
    assert_eq!(a, Applied { lines: n as u64 + 1, updated: n as u64, flagged: 1 });
    assert!(l.receipt_seen("a").unwrap());
    let p = l.payment("E000005").unwrap().unwrap();
    assert_eq!((p.status, p.reason_code.as_str()), (PaymentStatus::Failed, "AC04"));
    assert_eq!(l.payment("E000006").unwrap().unwrap().status, PaymentStatus::Settled);
    let b = apply(&mut l, "b", &receipt, &mut plain);
    assert_eq!(b, Applied { lines: n as u64 + 1, updated: 0, flagged: 1 });
    {
        let mut b = l.begin_receipts().unwrap();
        b.begin_receipt("r.xml").unwrap();
        b.push(&receipt_line("E000001", PaymentStatus::Returned), &mut plain).unwrap();
        b.end_receipt("c", "k").unwrap();
    }
    assert!(!l.receipt_seen("c").unwrap());
    assert_eq!(l.payment("E000001").unwrap().unwrap().status, PaymentStatus::Settled);
}

/// Receipts of one batch see what earlier ones applied (the read-ahead scan's
/// snapshot does not), in order or not; a discarded receipt leaves nothing.
#[test]
fn receipts_of_one_batch_see_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = SqliteLedger::open(&dir.path().join("l.db")).unwrap();
    let n = 12_000;
    let lines: Vec<LedgerLine> = (0..n).map(|i| line(&format!("E{i:06}"), &format!("P{i}"), None, 0)).collect();
    l.commit_run(&run("R001"), &[file("f1")], &lines).unwrap();
    let e2e = |i: usize| format!("E{i:06}");
    // In order, then backwards with a gap, then in order again.
    let order: Vec<usize> = (0..5000).chain((5000..9000).rev()).chain(9500..n).collect();
    let mut b = l.begin_receipts().unwrap();
    b.begin_receipt("1.xml").unwrap();
    for &i in &order {
        b.push(&receipt_line(&e2e(i), PaymentStatus::Pending), &mut plain).unwrap();
    }
    assert_eq!(b.end_receipt("one", "k").unwrap().updated, order.len() as u64);
    b.begin_receipt("2.xml").unwrap();
    let mut met = Vec::new();
    for &i in &order {
        b.push(&receipt_line(&e2e(i), PaymentStatus::Settled), &mut |x| {
            met.push((x.payment.map(|p| p.status), x.pending));
            plain(x)
        })
        .unwrap();
    }
    assert!(met.iter().all(|m| *m == (Some(PaymentStatus::Pending), None)), "{:?}", &met[..3]);
    assert_eq!(b.end_receipt("two", "k").unwrap().updated, order.len() as u64);
    b.begin_receipt("3.xml").unwrap();
    b.push(&receipt_line(&e2e(9200), PaymentStatus::Failed), &mut plain).unwrap();
    b.push(&receipt_line(&e2e(1), PaymentStatus::Returned), &mut plain).unwrap();
    b.discard_receipt().unwrap();
    b.commit().unwrap();
    assert!(l.receipt_seen("two").unwrap());
    assert_eq!(l.payment(&e2e(1)).unwrap().unwrap().status, PaymentStatus::Settled);
    assert_eq!(l.payment(&e2e(7000)).unwrap().unwrap().status, PaymentStatus::Settled);
    assert_eq!(l.payment(&e2e(9200)).unwrap().unwrap().status, PaymentStatus::Sent);
}

/// Two lines about one payment in one receipt: the later one is decided against
/// the earlier one's status and replaces it.
#[test]
fn a_later_line_replaces_an_earlier_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = SqliteLedger::open(&dir.path().join("l.db")).unwrap();
    l.commit_run(&run("R001"), &[file("f1")], &[line("E1", "A", None, 0)]).unwrap();
    let lines = [PaymentStatus::Pending, PaymentStatus::Pending, PaymentStatus::Failed].map(|s| receipt_line("E1", s));
    let mut seen = Vec::new();
    let a = apply(&mut l, "a", &lines, &mut |x| {
        seen.push(x.pending);
        plain(x)
    });
    assert_eq!(seen, [None, Some(PaymentStatus::Pending), Some(PaymentStatus::Pending)]);
    assert_eq!(a, Applied { lines: 3, updated: 1, flagged: 0 });
    assert_eq!(l.payment("E1").unwrap().unwrap().status, PaymentStatus::Failed);
}

/// A ledger of schema version `v` with lines in every state: for 1 and 2
/// (whose payments have the same columns) written as that version's code wrote
/// them; for 3 and 4, a version 2 ledger taken there by their own migrations.
/// Run 2's lines are not one stretch of ids: run 3's correction sits among them.
fn old_ledger(path: &Path, v: usize) {
    old_ledger_v1_v2(path, v.min(2));
    for step in 3..=v {
        let c = Connection::open(path).unwrap();
        c.execute_batch(&format!(
            "PRAGMA foreign_keys = OFF; BEGIN; {} COMMIT; PRAGMA user_version = {step};",
            MIGRATIONS[step - 1]
        ))
        .unwrap();
    }
}

fn old_ledger_v1_v2(path: &Path, v: usize) {
    let c = Connection::open(path).unwrap();
    for sql in &MIGRATIONS[..v] {
        c.execute_batch(sql).unwrap();
    }
    c.pragma_update(None, "user_version", v as i64).unwrap();
    c.execute_batch(
        "INSERT INTO runs VALUES (1, '2026-10', 'R001', 'run', 'published', 's1', 'm1', 't1'); \
         INSERT INTO runs VALUES (2, '2026-11', 'R001', 'run', 'published', 's2', 'm2', 't2'); \
         INSERT INTO runs VALUES (3, '2026-11', 'C001', 'correction', 'published', 's3', 'm3', 't3'); \
         INSERT INTO bank_files VALUES ('f0', 1, 'dibao', '2026-10', 'x', 1, 100, 'h0'); \
         INSERT INTO bank_files VALUES ('f1', 2, 'dibao', '2026-11', 'x', 5, 500, 'h1'); \
         INSERT INTO bank_files VALUES ('f2', 3, 'dibao', '2026-11', 'x', 1, 100, 'h2'); \
         INSERT INTO receipts VALUES ('r1', 'r.xml', 'k', 5, 0, 'u1');",
    )
    .unwrap();
    /// (end_to_end_id, run, period, person, file, status, reason, reason text, original, retry)
    type OldRow<'a> = (&'a str, i64, &'a str, &'a str, &'a str, &'a str, &'a str, &'a str, Option<&'a str>, i64);
    let rows: [OldRow; 7] = [
        ("E0", 1, "2026-10", "A", "f0", "settled", "", "", None, 0),
        ("E1", 2, "2026-11", "A", "f1", "sent", "", "", None, 0),
        ("E2", 2, "2026-11", "B", "f1", "settled", "", "", None, 0),
        ("E3", 2, "2026-11", "C", "f1", "failed", "AC04", "账号错误", None, 0),
        ("E5", 3, "2026-11", "C", "f2", "settled", "", "", Some("E3"), 1),
        ("E4", 2, "2026-11", "D", "f1", "returned", "MD07", "死亡", None, 0),
        ("E6", 2, "2026-11", "E", "f1", "pending", "", "", None, 0),
    ];
    for (e2e, run, period, who, file, status, code, text, original, retry) in rows {
        c.execute(
            "INSERT INTO payments VALUES (?1, ?2, 'dibao', ?3, ?4, '张三', '镇', '村', '张三', '6222', '', 100, ?5, \
             ?6, ?7, ?8, ?9, ?10, 'u0')",
            params![
                e2e,
                run,
                period,
                format!("1101051949123100{:02}", who.as_bytes()[0] - b'A'),
                file,
                status,
                code,
                text,
                original,
                retry
            ],
        )
        .unwrap();
    }
}

/// Version 1, 2, 3 and 4 ledgers open as the current version with every line,
/// status, reason, correction, file and receipt, and answer every question as
/// before; the never-pay-twice rule and receipts keep working on the migrated ledger.
#[test]
fn older_ledgers_migrate_with_their_data() {
    let p11: Period = "2026-11".parse().unwrap();
    let id = |who: &str| format!("1101051949123100{:02}", who.as_bytes()[0] - b'A');
    for v in [1, 2, 3, 4, 5, 6] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.db");
        old_ledger(&path, v);
        let mut l = SqliteLedger::open(&path).unwrap();
        assert_eq!(l.version().unwrap(), MIGRATIONS.len() as i64, "from v{v}");
        let ok: String = l.conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok");
        let fk: Option<String> = l.conn.query_row("PRAGMA foreign_key_check", [], |r| r.get(0)).optional().unwrap();
        assert_eq!(fk, None);
        assert_eq!(
            stretches(&l),
            [(1, 1, 1), (2, 2, 4), (3, 5, 5), (2, 6, 7)],
            "from v{v}: run 2's lines are two stretches, around run 3's correction"
        );

        let e3 = l.payment("E3").unwrap().unwrap();
        assert_eq!(
            (e3.status, e3.reason_code.as_str(), e3.reason_text.as_str()),
            (PaymentStatus::Failed, "AC04", "账号错误")
        );
        assert_eq!((e3.id_number.as_str(), e3.bank_file.as_str(), e3.amount), (id("C").as_str(), "f1", Fen(100)));
        let states: Vec<(String, PaymentStatus)> =
            l.payments_of_period(p11).unwrap().into_iter().map(|l| (l.end_to_end_id.into(), l.status)).collect();
        use PaymentStatus::*;
        let want = [("E1", Sent), ("E2", Settled), ("E3", Failed), ("E4", Returned), ("E5", Settled), ("E6", Pending)];
        assert_eq!(states, want.map(|(e, s)| (e.to_string(), s)));
        let failures: Vec<String> = l.failure_lines(p11).unwrap().into_iter().map(|l| l.end_to_end_id.into()).collect();
        assert_eq!(failures, ["E3", "E4", "E5"]);
        let c = l.corrections_of("E3").unwrap();
        assert_eq!((c.len(), c[0].original_id.as_deref(), c[0].retry), (1, Some("E3"), 1));
        let of_f1: Vec<String> =
            l.payments_in_file("f1").unwrap().into_iter().map(|l| l.end_to_end_id.into()).collect();
        assert_eq!(of_f1, ["E1", "E2", "E3", "E4", "E6"]);
        assert_eq!(l.reported_deceased().unwrap(), HashMap::from([(id("D"), "E4".to_string())]));
        assert_eq!(l.paid_people(Program::Dibao, p11).unwrap().len(), 5);
        let (last, paid) = l.last_paid_before(Program::Dibao, "2026-12".parse().unwrap()).unwrap().unwrap();
        assert_eq!(last, p11);
        let mut who: Vec<u64> = paid.keys().copied().collect();
        who.sort();
        let keys: Vec<u64> = ["A", "B", "C", "E"].map(|w| crate::domain::id_key(&id(w)).unwrap()).to_vec();
        assert_eq!(who, keys, "from v{v}: D's line was returned");
        assert_eq!(paid[&keys[2]], Fen(100), "from v{v}: C's failed line does not count, its correction does");
        assert_eq!(l.periods().unwrap(), ["2026-10".parse().unwrap(), p11]);
        assert!(l.receipt_seen("r1").unwrap());
        assert_eq!(l.files_of_period(p11).unwrap().len(), 2);
        let sums = super::super::status_of(&l.payments_of_period(p11).unwrap());
        let d = &sums[&Program::Dibao];
        assert_eq!((d.sent.lines, d.settled.lines, d.failed.lines, d.returned.lines, d.pending.lines), (6, 2, 1, 1, 2));
        assert_eq!(l.period_status(p11).unwrap(), sums, "the aggregate query counts as the lines do");
        assert!(d.reissued.lines > 0 && d.balances());

        // Receipts and runs keep working on the migrated ledger.
        let a = apply(&mut l, "r2", &[receipt_line("E6", Settled), receipt_line("E2", Returned)], &mut plain);
        assert_eq!(a, Applied { lines: 2, updated: 2, flagged: 0 });
        assert_eq!(l.payment("E6").unwrap().unwrap().status, Settled);
        assert_eq!(l.payment("E2").unwrap().unwrap().status, Returned);
        assert_eq!(l.payment("E4").unwrap().unwrap().reason_code, "MD07");
        let err =
            l.commit_run(&run("R002"), &[file("f3")], &in_file("f3", &[line("E9", &id("A"), None, 0)])).unwrap_err();
        assert!(matches!(err, LedgerError::AlreadyPaid { .. }), "{err:?}");
        l.commit_run(&run("R002"), &[file("f3")], &in_file("f3", &[line("E9", &id("F"), None, 0)])).unwrap();
        assert_eq!(l.paid_people(Program::Dibao, p11).unwrap().len(), 6);
        assert_eq!(stretches(&l).last(), Some(&(4, 8, 8)), "the new run's line after the last id");
    }
}

/// `payment_ranges` as (run, first id, last id), in id order.
fn stretches(l: &SqliteLedger) -> Vec<(i64, i64, i64)> {
    let mut stmt = l.conn.prepare("SELECT run_id, first_id, last_id FROM payment_ranges ORDER BY first_id").unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect()
}

/// The ids SQLite gives are checked, not assumed: past the largest id there
/// is, it picks one at random, and the run is refused rather than recorded
/// with stretches that miss its lines.
#[test]
fn a_run_whose_ids_are_not_one_stretch_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = SqliteLedger::open(&dir.path().join("l.db")).unwrap();
    l.commit_run(&run("R001"), &[file("f1")], &in_file("f1", &[line("E1", "A", None, 0)])).unwrap();
    l.conn.execute("UPDATE payment_rows SET id = ?1", [i64::MAX - 1]).unwrap();
    let lines: Vec<LedgerLine> = ["B", "C", "D"].iter().map(|w| line(&format!("F{w}"), w, None, 0)).collect();
    let err = l.commit_run(&run("R002"), &[file("f2")], &in_file("f2", &lines)).unwrap_err();
    assert!(err.to_string().contains("not one stretch"), "{err}");
    let n: i64 = l.conn.query_row("SELECT COUNT(*) FROM payments", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 1, "nothing of the refused run is kept");
}

/// A run's ids are given in order, one stretch per program for as long as
/// its lines come in a row; a stretch never spans two programs.
#[test]
fn a_runs_ids_are_kept_as_stretches_of_one_program() {
    let mut r = Ranges::default();
    for (program, id) in [(Program::Dibao, 7), (Program::Dibao, 8), (Program::Wubao, 9), (Program::Wubao, 10)] {
        r.add(program, id);
    }
    r.add(Program::Wubao, 12);
    r.add(Program::Dibao, 13);
    assert_eq!(
        r.0,
        [(Program::Dibao, 7, 8), (Program::Wubao, 9, 10), (Program::Wubao, 12, 12), (Program::Dibao, 13, 13)]
    );
}

/// Version 4 finds a period's payments through their runs: a ledger with a
/// payment of another period than its run's is refused, and left as it was.
#[test]
fn a_payment_astray_from_its_runs_period_stops_the_migration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.db");
    old_ledger(&path, 3);
    Connection::open(&path).unwrap().execute("UPDATE payments SET period = '2026-09' WHERE id = 2", []).unwrap();
    let err = SqliteLedger::open(&path).err().expect("refused");
    assert!(err.to_string().contains("1 payments are of another period"), "{err}");
    let v: i64 = Connection::open(&path).unwrap().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(v, 3);
}

/// A refused line ends the run's transaction (`OR ROLLBACK`): the writer then
/// refuses more lines and its commit, so nothing of the run can be committed.
#[test]
fn a_refused_line_ends_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = SqliteLedger::open(&dir.path().join("l.db")).unwrap();
    let a = "110105194912310021";
    let mut w = l.begin_run(&run("R001")).unwrap();
    w.add_lines(&[line("E1", a, None, 0)]).unwrap();
    let err = w.add_lines(&[line("E2", a, None, 0)]).unwrap_err();
    assert!(matches!(err, LedgerError::AlreadyPaid { .. }), "{err:?}");
    assert!(matches!(w.add_lines(&[line("E3", "110105194912310022", None, 0)]), Err(LedgerError::RolledBack)));
    assert!(matches!(w.commit(&[file("f1")], "m"), Err(LedgerError::RolledBack)));
    assert_eq!(l.next_batch_number("2026-11".parse().unwrap(), BatchKind::Run).unwrap(), 1);
    assert!(l.payment("E1").unwrap().is_none());
    assert!(l.payment("E3").unwrap().is_none());
}

/// Every bank file named by a run's lines must be recorded by that run's commit.
#[test]
fn lines_must_name_a_file_the_run_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = SqliteLedger::open(&dir.path().join("l.db")).unwrap();
    let err = l.commit_run(&run("R001"), &[file("other")], &[line("E1", "A", None, 0)]).unwrap_err();
    assert!(err.to_string().contains("f1"), "{err}");
    assert!(l.payment("E1").unwrap().is_none());
    assert!(l.files_of_period("2026-11".parse().unwrap()).unwrap().is_empty());
    // ... and its own: a file of an earlier run is refused.
    l.commit_run(&run("R001"), &[file("f1")], &[line("E1", "A", None, 0)]).unwrap();
    let err = l.commit_run(&run("R002"), &[file("f2")], &[line("E2", "B", None, 0)]).unwrap_err();
    assert!(err.to_string().contains("earlier run"), "{err}");
    assert!(l.payment("E2").unwrap().is_none());
}

#[test]
fn lock_is_exclusive() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("l.db");
    let _a = super::super::Lock::acquire(&p).unwrap();
    assert!(matches!(super::super::Lock::acquire(&p), Err(LedgerError::Locked(_))));
}

/// A ledger path under a file, not a folder: the clerk is told so in plain
/// words, not SQLite's "Invalid path".
#[test]
fn a_ledger_under_a_file_says_so_in_a_clerks_words() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state");
    std::fs::write(&file, "not a folder").unwrap();
    let err = SqliteLedger::open(&file.join("ledger.db")).err().expect("refused").to_string();
    assert!(!err.contains("Invalid path"), "{err}");
    assert!(err.contains("folder"), "{err}");
}

/// A run's references (its batch's prefix and seven digits) are stored as numbers
/// and read back whole, by every way a reference is looked up; a person's details
/// are stored once while they stay the same and once more when they change; a
/// reference is still never given to two lines, however it is stored.
#[test]
fn compact_rows_read_back_as_the_lines_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = SqliteLedger::open(&dir.path().join("l.db")).unwrap();
    let people = ["110105194912310011", "11010519491231002X"];
    let mk = |n: usize, who: &str| line(&format!("DB202611R001{n:07}"), who, None, 0);
    let lines: Vec<LedgerLine> = people.iter().enumerate().map(|(i, w)| mk(i + 1, w)).collect();
    l.commit_run(&run("R001"), &[file("f1")], &in_file("f1", &lines)).unwrap();
    let stored: Vec<(Option<i64>, Option<String>)> = {
        let mut stmt = l.conn.prepare("SELECT ref_seq, end_to_end_id FROM payment_rows ORDER BY id").unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(stored, [(Some(1), None), (Some(2), None)], "numbers, not texts");
    for (i, want) in lines.iter().enumerate() {
        let got = l.payment(&want.end_to_end_id).unwrap().unwrap();
        assert_eq!(got, LedgerLine { bank_file: "f1".into(), ..want.clone() }, "line {i}");
    }
    assert_eq!(l.payments_of_period(want_period()).unwrap().len(), 2);
    assert!(l.payment("DB202611R0010000003").unwrap().is_none());
    assert!(l.payment("DB202611R001000001").unwrap().is_none(), "six digits are another reference");
    assert_eq!(
        l.paid_people(Program::Dibao, want_period()).unwrap(),
        people.iter().map(|p| crate::domain::id_key(p).unwrap()).collect()
    );

    // Receipts find them by reference, through the lookup and the read-ahead scan.
    let mut b = l.begin_receipts().unwrap();
    b.begin_receipt("r.xml").unwrap();
    for e2e in ["DB202611R0010000002", "DB202611R0010000001"] {
        let rl = receipt_line(e2e, PaymentStatus::Settled);
        b.push(&rl, &mut |x| {
            assert!(x.payment.is_some(), "{e2e} found");
            Verdict::Apply
        })
        .unwrap();
    }
    b.end_receipt("sha", "pain002").unwrap();
    b.commit().unwrap();
    assert_eq!(l.payment("DB202611R0010000001").unwrap().unwrap().status, PaymentStatus::Settled);

    // Next month: the same people, one of them with a new account.
    let mut dec = run("R001");
    dec.period = "2026-12".parse().unwrap();
    let next: Vec<LedgerLine> = people
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let mut x = line(&format!("DB202612R001{:07}", i + 1), w, None, 0);
            x.period = dec.period;
            if i == 1 {
                x.account = "9999999999".into();
            }
            x
        })
        .collect();
    l.commit_run(&dec, &[file("f2")], &in_file("f2", &next)).unwrap();
    let parties: i64 = l.conn.query_row("SELECT COUNT(*) FROM parties", [], |r| r.get(0)).unwrap();
    assert_eq!(parties, 3, "two people, one of them with a second version");
    assert_eq!(l.payment("DB202612R0010000002").unwrap().unwrap().account.as_str(), "9999999999");
    assert_eq!(l.payment("DB202611R0010000002").unwrap().unwrap().account.as_str(), "1234567890");

    // A reference kept whole that a family gives already is refused, and so is
    // a family whose prefix a whole reference begins.
    let mut jan = run("R002");
    jan.period = dec.period;
    let mut dup = line("DB202612R0010000001", "110105194912310038", None, 0);
    dup.period = dec.period;
    let err = l.commit_run(&jan, &[file("f3")], &in_file("f3", &[dup])).unwrap_err();
    assert!(err.to_string().contains("already recorded"), "{err}");
}

fn want_period() -> Period {
    "2026-11".parse().unwrap()
}

mod history;
