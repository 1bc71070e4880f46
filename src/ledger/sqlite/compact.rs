//! A payment line as the small integers of its row (schema_v11.sql): its
//! person and their details' version, its program's code, its period as
//! YYYYMM, and its reference as its family's number when it is the run's
//! prefix and seven digits.

use super::*;

/// A period as stored in `payment_rows.period`: YYYYMM.
pub(super) fn period_n(p: Period) -> i64 {
    i64::from(p.year) * 100 + i64::from(p.month)
}

/// The period of a stored YYYYMM.
pub(super) fn period_from_n(n: i64) -> Result<Period, LedgerError> {
    format!("{:04}-{:02}", n / 100, n % 100).parse().map_err(LedgerError::Corrupt)
}

/// A reference as its batch's prefix and its seven-digit number, if it is one
/// (`EndToEndId::new`: `DB202611R0010000042` is `DB202611R001` and 42).
pub(super) fn split_reference(e2e: &str) -> Option<(&str, i64)> {
    let cut = e2e.len().checked_sub(7).filter(|c| *c > 0 && e2e.is_char_boundary(*c))?;
    let (prefix, digits) = e2e.split_at(cut);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((prefix, digits.parse().ok()?))
}

/// The id of the payment whose reference is `?A` (split by [`split_reference`]
/// into prefix `?B` and number `?C`, both NULL when it does not split): kept
/// whole, or its family's number. Each branch is one probe of a unique index.
macro_rules! payment_id_of {
    ($a:literal, $b:literal, $c:literal) => {
        concat!(
            "(SELECT w.id FROM payment_rows w WHERE w.end_to_end_id = ?",
            $a,
            " AND w.end_to_end_id IS NOT NULL UNION ALL SELECT q.id FROM families f CROSS JOIN payment_rows q \
             ON q.run_id = f.run_id AND q.program_id = f.program_id AND q.ref_seq = ?",
            $c,
            " AND q.ref_seq IS NOT NULL WHERE f.ref_prefix = ?",
            $b,
            " LIMIT 1)"
        )
    };
}
pub(super) use payment_id_of;

/// The three parameters of [`payment_id_of`] for `e2e`.
pub(super) fn reference_params(e2e: &str) -> (&str, Option<&str>, Option<i64>) {
    match split_reference(e2e) {
        Some((prefix, seq)) => (e2e, Some(prefix), Some(seq)),
        None => (e2e, None, None),
    }
}

/// What a line's row holds besides its amount, original and retry.
#[derive(Debug, Clone, Copy)]
pub(super) struct Resolved {
    pub(super) program_id: i64,
    pub(super) person: i64,
    pub(super) version: i64,
    pub(super) file_id: i64,
    /// The reference's number in its family, or `None` when kept whole.
    pub(super) seq: Option<i64>,
}

/// Finds or adds the rows a run's lines refer to, on the run's transaction.
/// Why a person's details are probed line by line: a person is the same person
/// month after month, so after the first month the probe finds the row (one
/// seek on an integer key) and nothing is written for it.
pub(super) struct Resolver<'c> {
    conn: &'c Connection,
    latest: rusqlite::Statement<'c>,
    add: Borrowed<'c>,
    programs: HashMap<Program, i64>,
    /// This run's reference prefix per program (`families`).
    families: HashMap<i64, String>,
}

impl<'c> Resolver<'c> {
    pub(super) fn prepare(conn: &'c Connection) -> rusqlite::Result<Resolver<'c>> {
        Ok(Resolver {
            conn,
            latest: conn.prepare(
                "SELECT version, id_number, name, township, village, payee_name, account, bank FROM parties \
                 WHERE person = ?1 ORDER BY version DESC LIMIT 1",
            )?,
            add: Borrowed::prepare(
                conn,
                "INSERT OR ROLLBACK INTO parties (person, version, id_number, name, township, village, payee_name, \
                 account, bank) VALUES (?,?,?,?,?,?,?,?,?)",
            )?,
            programs: HashMap::new(),
            families: HashMap::new(),
        })
    }

    pub(super) fn resolve(&mut self, run_id: i64, l: &LedgerLine, file_id: i64) -> Result<Resolved, LedgerError> {
        let program_id = self.program_id(l.program)?;
        let person = person_key(self.conn, &l.id_number)?;
        let version = self.version(person, l)?;
        let seq = self.reference(run_id, program_id, &l.end_to_end_id)?;
        Ok(Resolved { program_id, person, version, file_id, seq })
    }

    fn program_id(&mut self, program: Program) -> Result<i64, LedgerError> {
        if let Some(id) = self.programs.get(&program) {
            return Ok(*id);
        }
        self.conn
            .execute("INSERT INTO program_codes (code) VALUES (?1) ON CONFLICT (code) DO NOTHING", [program.code()])?;
        let id: i64 =
            self.conn.query_row("SELECT id FROM program_codes WHERE code = ?1", [program.code()], |r| r.get(0))?;
        self.programs.insert(program, id);
        Ok(id)
    }

    /// The version of `person`'s details that `l` has: the latest if it is the
    /// same, else a new one.
    fn version(&mut self, person: i64, l: &LedgerLine) -> Result<i64, LedgerError> {
        let fields = [&l.id_number, &l.name, &l.township, &l.village, &l.payee_name, &l.account, &l.bank];
        let mut rows = self.latest.query([person])?;
        let next = match rows.next()? {
            Some(r) => {
                let version: i64 = r.get(0)?;
                let mut same = true;
                for (i, f) in fields.iter().enumerate() {
                    if text_at(r, i + 1)? != f.as_str() {
                        same = false;
                        break;
                    }
                }
                if same {
                    return Ok(version);
                }
                version + 1
            }
            None => 0,
        };
        drop(rows);
        let mut values = vec![Value::Int(person), Value::Int(next)];
        values.extend(fields.iter().map(|f| Value::Text(f.as_str())));
        self.add.execute(&values)?;
        Ok(next)
    }

    /// The number `e2e` is stored as, or `None` to keep it whole: a number when
    /// it is the prefix of its run's and program's family (the first line of a
    /// program in a run founds the family). A prefix another family has, or a
    /// whole reference a family would make, would let one reference name two
    /// lines: refused.
    fn reference(&mut self, run_id: i64, program_id: i64, e2e: &str) -> Result<Option<i64>, LedgerError> {
        let split = split_reference(e2e);
        if let Some((prefix, seq)) = split {
            match self.families.get(&program_id) {
                Some(p) if p == prefix => return Ok(Some(seq)),
                Some(_) => {}
                None => {
                    let taken: Option<i64> = self
                        .conn
                        .query_row(
                            "SELECT 1 FROM payment_rows WHERE end_to_end_id >= ?1 AND end_to_end_id < ?1 || x'ff' \
                             AND end_to_end_id IS NOT NULL LIMIT 1",
                            [prefix],
                            |r| r.get(0),
                        )
                        .optional()?;
                    let founded = taken.is_none()
                        && self.conn.execute(
                            "INSERT INTO families (run_id, program_id, ref_prefix) VALUES (?1, ?2, ?3) \
                             ON CONFLICT DO NOTHING",
                            params![run_id, program_id, prefix],
                        )? == 1;
                    if founded {
                        self.families.insert(program_id, prefix.to_string());
                        return Ok(Some(seq));
                    }
                }
            }
        }
        // Kept whole: it must not be a reference a family already gives.
        let (a, b, c) = reference_params(e2e);
        let given: Option<i64> = self
            .conn
            .query_row(concat!("SELECT ", payment_id_of!(1, 2, 3)), params![a, b, c], |r| r.get(0))
            .optional()?
            .flatten();
        if given.is_some() {
            return Err(LedgerError::Corrupt(format!("reference {e2e} is already recorded for another line")));
        }
        Ok(None)
    }
}

/// A person's key: the ID number as `domain::id_key`, or, for any other text,
/// minus its row in `other_ids` (added if new).
pub(super) fn person_key(conn: &Connection, id_number: &str) -> Result<i64, LedgerError> {
    if let Some(k) = crate::domain::id_key(id_number).and_then(|k| i64::try_from(k).ok()) {
        return Ok(k);
    }
    conn.execute("INSERT INTO other_ids (id_number) VALUES (?1) ON CONFLICT (id_number) DO NOTHING", [id_number])?;
    let id: i64 = conn.query_row("SELECT id FROM other_ids WHERE id_number = ?1", [id_number], |r| r.get(0))?;
    Ok(-id)
}

/// A person key read back as `domain::id_key` (what R04 and R02 compare).
pub(super) fn key_of_person(person: i64) -> Result<u64, LedgerError> {
    u64::try_from(person).map_err(|_| {
        LedgerError::Corrupt("a payment's ID number is not 18 characters of the national form".to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_into_prefix_and_number() {
        assert_eq!(split_reference("DB202611R0010000042"), Some(("DB202611R001", 42)));
        assert_eq!(split_reference("DB330729202611C0020000001"), Some(("DB330729202611C002", 1)));
        assert_eq!(split_reference("0000042"), None, "no prefix");
        assert_eq!(split_reference("E1"), None);
        assert_eq!(split_reference("DB202611R00100000X2"), None);
        assert_eq!(split_reference("张三1234567"), Some(("张三", 1234567)));
        assert_eq!(split_reference("张1234567"), Some(("张", 1234567)));
    }

    #[test]
    fn periods_round_trip_through_yyyymm() {
        for p in ["2026-11", "2025-01", "1999-12"] {
            let period: Period = p.parse().unwrap();
            assert_eq!(period_from_n(period_n(period)).unwrap(), period);
        }
        assert_eq!(period_n("2026-11".parse().unwrap()), 202611);
    }
}
