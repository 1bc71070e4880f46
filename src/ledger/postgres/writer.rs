//! The run writer of the shared ledger: a run's lines streamed in with binary
//! `COPY` (one COPY per chunk the pipeline hands over), in one transaction
//! committed with the run's files and manifest.

use std::collections::HashSet;

use ::postgres::binary_copy::BinaryCopyInWriter;
use ::postgres::error::SqlState;
use ::postgres::types::{ToSql, Type};
use ::postgres::Client;

use super::{error_text, LedgerError};
use crate::domain::{Period, Text};
use crate::ledger::{FileRecord, LedgerLine, NewRun, RunWriter};

/// The payment columns a run writes, in [`COPY_TYPES`] order.
const COPY_SQL: &str = "COPY payments (end_to_end_id, office, run_id, program, period, id_number, name, township, \
     village, payee_name, account, bank, amount_fen, bank_file, original_id, retry, line_type, covers) \
     FROM STDIN BINARY";

const COPY_TYPES: [Type; 18] = [
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::INT4,
    Type::TEXT,
    Type::TEXT,
];

/// A run being recorded: an open transaction on the ledger's connection,
/// rolled back if dropped before [`RunWriter::commit`].
pub(super) struct PgRun<'a> {
    client: &'a mut Client,
    office: &'a str,
    run_id: i64,
    period: Period,
    period_text: String,
    /// The bank files the lines named: each must be one of the run's files.
    named: HashSet<Text>,
    /// A statement failed: the server has aborted the transaction.
    failed: bool,
    done: bool,
}

impl<'a> PgRun<'a> {
    pub(super) fn begin(client: &'a mut Client, office: &'a str, run: &NewRun) -> Result<PgRun<'a>, LedgerError> {
        client.batch_execute("BEGIN")?;
        let mut open = PgRun {
            client,
            office,
            run_id: 0,
            period: run.period,
            period_text: run.period.to_string(),
            named: HashSet::new(),
            failed: false,
            done: false,
        };
        let staging = run.staging_dir.to_string_lossy().to_string();
        let row = open.client.query_one(
            "INSERT INTO runs (office, period, batch, kind, state, staging_dir, manifest_sha256, created_at, \
             key_fingerprint) VALUES ($1, $2, $3, $4, 'staged', $5, $6, $7, $8) RETURNING id",
            &[
                &office,
                &open.period_text,
                &run.batch,
                &run.kind.code(),
                &staging,
                &run.manifest_sha256,
                &run.created_at,
                &run.key_fingerprint,
            ],
        )?;
        open.run_id = row.try_get(0)?;
        // Who vouched for a correction's person, in the batch's own transaction:
        // the name is kept exactly when its line is.
        for v in &run.verified {
            let retry = i32::try_from(v.retry).unwrap_or(i32::MAX);
            open.client.execute(
                "INSERT INTO verifications (office, run_id, original_id, retry, verified_by, reason) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[&office, &open.run_id, &v.original_id, &retry, &v.verified_by, &v.reason],
            )?;
        }
        for a in &run.approvals {
            let count = a.count as i64;
            open.client.execute(
                "INSERT INTO approvals (office, run_id, program, count, total, reference, approved_by, approved_on) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &office,
                    &open.run_id,
                    &a.program.code(),
                    &count,
                    &a.total.to_string(),
                    &a.reference,
                    &a.approved_by,
                    &a.approved_on,
                ],
            )?;
        }
        Ok(open)
    }

    fn still_open(&self) -> Result<(), LedgerError> {
        if self.failed {
            return Err(LedgerError::RolledBack);
        }
        Ok(())
    }

    /// Streams `lines` through one binary COPY.
    fn copy(&mut self, lines: &[LedgerLine]) -> Result<(), ::postgres::Error> {
        let sink = self.client.copy_in(COPY_SQL)?;
        let mut w = BinaryCopyInWriter::new(sink, &COPY_TYPES);
        for l in lines {
            let retry = i32::try_from(l.retry).unwrap_or(i32::MAX);
            let covers = l.covers_text();
            let values: [&(dyn ToSql + Sync); 18] = [
                &l.end_to_end_id.as_str(),
                &self.office,
                &self.run_id,
                &l.program.code(),
                &self.period_text.as_str(),
                &l.id_number.as_str(),
                &l.name.as_str(),
                &l.township.as_str(),
                &l.village.as_str(),
                &l.payee_name.as_str(),
                &l.account.as_str(),
                &l.bank.as_str(),
                &l.amount.0,
                &l.bank_file.as_str(),
                &l.original_id.as_deref(),
                &retry,
                &l.kind.line_type.code(),
                &covers,
            ];
            w.write(&values)?;
        }
        w.finish()?;
        Ok(())
    }

    /// The error for a COPY that failed. A unique index refused a line: a
    /// payment already recorded, by this office or (R08's race) by another that
    /// committed meanwhile; the office is named, never the person. A deadlock:
    /// two offices recording the same people at the same moment.
    fn refused(&mut self, lines: &[LedgerLine], e: ::postgres::Error) -> LedgerError {
        self.failed = true;
        let code = e.code().cloned();
        if code == Some(SqlState::T_R_DEADLOCK_DETECTED) || code == Some(SqlState::T_R_SERIALIZATION_FAILURE) {
            return LedgerError::Contended(format!(
                "another office was recording some of the same people at the same moment ({})",
                error_text(&e)
            ));
        }
        if code != Some(SqlState::UNIQUE_VIOLATION) {
            return e.into();
        }
        let _ = self.client.batch_execute("ROLLBACK");
        let ids: Vec<&str> = lines.iter().filter(|l| l.original_id.is_none()).map(|l| l.id_number.as_str()).collect();
        let found = self
            .client
            .query_opt(
                "SELECT p.program, p.office FROM payments p WHERE p.original_id IS NULL AND p.period = $1 \
                 AND p.id_number = ANY($2) LIMIT 1",
                &[&self.period_text, &ids],
            )
            .ok()
            .flatten();
        let (program, office) = match found {
            Some(r) => (r.get::<_, String>(0), r.get::<_, String>(1)),
            None => (lines[0].program.code().to_string(), String::new()),
        };
        let by = match office.as_str() {
            "" => String::new(),
            o if o == self.office => String::new(),
            o => format!(" by office {o}"),
        };
        LedgerError::AlreadyPaid { program, period: self.period_text.clone(), by }
    }
}

impl RunWriter for PgRun<'_> {
    fn add_lines(&mut self, lines: &[LedgerLine]) -> Result<(), LedgerError> {
        self.still_open()?;
        for l in lines {
            if l.period != self.period {
                return Err(LedgerError::Corrupt(format!(
                    "line {} is of period {}, not of its run's period {}",
                    l.end_to_end_id, l.period, self.period
                )));
            }
            if !self.named.contains(&l.bank_file) {
                self.named.insert(l.bank_file.clone());
            }
        }
        if lines.is_empty() {
            return Ok(());
        }
        self.copy(lines).map_err(|e| self.refused(lines, e))
    }

    fn commit(mut self: Box<Self>, files: &[FileRecord], manifest_sha256: &str) -> Result<i64, LedgerError> {
        self.still_open()?;
        for name in &self.named {
            if !files.iter().any(|f| f.name == name.as_str()) {
                return Err(LedgerError::Corrupt(format!("lines name bank file {name}, which the run did not write")));
            }
        }
        let insert = self.client.prepare(
            "INSERT INTO bank_files (office, name, run_id, program, period, format, lines, total_fen, sha256) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )?;
        for f in files {
            let lines = f.lines as i64;
            let done = self.client.execute(
                &insert,
                &[
                    &self.office,
                    &f.name,
                    &self.run_id,
                    &f.program.code(),
                    &self.period_text,
                    &f.format,
                    &lines,
                    &f.total.0,
                    &f.sha256,
                ],
            );
            if let Err(e) = done {
                self.failed = true;
                if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
                    return Err(LedgerError::Corrupt(format!(
                        "bank file {} was already recorded by an earlier run of this office: a file name is never reused",
                        f.name
                    )));
                }
                return Err(e.into());
            }
        }
        self.client.execute("UPDATE runs SET manifest_sha256 = $1 WHERE id = $2", &[&manifest_sha256, &self.run_id])?;
        self.client.batch_execute("COMMIT")?;
        self.done = true;
        Ok(self.run_id)
    }
}

impl Drop for PgRun<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.client.batch_execute("ROLLBACK");
        }
    }
}
