//! `disburse trace`: gathers one payment's whole life from the ledger and the
//! signed files beside it (see [`crate::audit::trace`] for what is shown).
//!
//! Nothing here is on a run's hot path: the roster row comes from the batch's
//! payment record, the codes from the period's exceptions list, the signer from
//! the manifests, and the receipts are found by reading the archived copies
//! under `returns/received/` again, streaming — only a copy whose bytes name
//! the payment (or its bank file, for a batch status) is parsed.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use super::{archive, Outcome, PipelineError};
use crate::audit::trace::{ApprovalRef, BankFileRef, CodeRow, PaymentTrace, ReceiptRef, Source, Trace};
use crate::bankfile::Format;
use crate::config::Config;
use crate::domain::{mask_account, mask_id, mask_numbers, IdNumber, Period, ReceiptLine};
use crate::ledger::{Ledger, LedgerLine};
use crate::sign::manifest::{Manifest, HISTORY_DIR, MANIFEST_FILE};

/// What to trace.
#[derive(Debug, Clone)]
pub enum TraceKey {
    /// An end-to-end reference (an original or a correction: its whole chain is shown).
    Reference(String),
    /// A person (ID number) in a period: every program that paid or held them.
    Person { id: String, period: Period },
}

/// `disburse trace`.
pub fn trace(config: &Config, key: &TraceKey, json: bool) -> Result<Outcome, PipelineError> {
    let ledger = super::open_existing_ledger(config)?;
    let mut roots: Vec<LedgerLine> = Vec::new();
    let mut held = Vec::new();
    match key {
        TraceKey::Reference(r) => {
            let Some(line) = ledger.payment(r)? else {
                return Err(PipelineError::Refused(format!(
                    "no payment with reference {} in the ledger: check the reference (it is on the bank file, \
                     paid.csv and failures.csv)",
                    crate::domain::mask_reference(r)
                )));
            };
            match &line.original_id {
                Some(root) => roots.extend(ledger.payment(root)?),
                None => roots.push(line),
            }
        }
        TraceKey::Person { id, period } => {
            let id = id.trim().to_uppercase();
            if IdNumber::parse(&id).is_err() {
                return Err(PipelineError::Refused(format!(
                    "--id {} is not a valid ID number (18 characters, check digit)",
                    mask_id(&id)
                )));
            }
            roots = ledger
                .payments_of_period(*period)?
                .into_iter()
                .filter(|l| l.original_id.is_none() && l.id_number.as_str() == id)
                .collect();
            let paid: Vec<(String, String)> = Vec::new();
            held = exceptions(&config.period_dir(*period), |r| r.id_masked == mask_id(&id), &paid);
        }
    }
    let receipts = Receipts::list(config)?;
    let mut t = Trace { payments: Vec::new(), held: Vec::new() };
    for root in roots {
        let mut p = payment(config, ledger.as_ref(), &root, &receipts)?;
        for c in ledger.corrections_of(&root.end_to_end_id)? {
            p.corrections.push(payment(config, ledger.as_ref(), &c, &receipts)?);
        }
        t.payments.push(p);
    }
    // A person's rows that carried a code and were never paid (held): those not
    // already shown as a paid line's warnings.
    let shown: Vec<(String, u64)> =
        t.payments.iter().filter_map(|p| p.source.as_ref().map(|s| (s.file.clone(), s.row))).collect();
    t.held = held.into_iter().filter(|c| !shown.contains(&(c.file.clone(), c.row))).collect();
    let summary = if json {
        vec![serde_json::to_string_pretty(&t).expect("a trace is JSON")]
    } else {
        crate::audit::trace::render_zh(&t)
    };
    Ok(Outcome::new(false, summary))
}

/// Everything about one line (its corrections are added by the caller).
fn payment(
    config: &Config,
    ledger: &dyn Ledger,
    l: &LedgerLine,
    receipts: &Receipts,
) -> Result<PaymentTrace, PipelineError> {
    let period_dir = config.period_dir(l.period);
    let (batch, manifest) = first_manifest_listing(&period_dir, &l.bank_file);
    let source = batch.as_deref().and_then(|b| record_source(&period_dir, b, &l.end_to_end_id));
    let approval = match &l.original_id {
        Some(_) => None,
        None => approval(config, l),
    };
    let codes = match &source {
        Some(s) if l.original_id.is_none() => exceptions(
            &period_dir,
            |r| r.file == s.file && r.row == s.row,
            &[(l.program.code().to_string(), String::new())],
        ),
        _ => Vec::new(),
    };
    let sha256 = ledger.files_of_period(l.period)?.into_iter().find(|f| *f.name == *l.bank_file).map(|f| f.sha256);
    let bank_file = BankFileRef {
        name: l.bank_file.to_string(),
        sha256,
        batch: batch.clone(),
        created: manifest.as_ref().map(|m| m.created.clone()),
        algorithm: manifest.as_ref().map(|m| m.signing.algorithm.clone()),
        key_fingerprint: manifest.as_ref().and_then(|m| fingerprint(&m.signing.public_key_pem)),
    };
    Ok(PaymentTrace {
        end_to_end_id: l.end_to_end_id.to_string(),
        program: l.program.code().to_string(),
        period: l.period.to_string(),
        name: l.name.to_string(),
        id_number_masked: mask_id(&l.id_number),
        payee_name: l.payee_name.to_string(),
        account_masked: mask_account(&l.account),
        amount: l.amount.yuan_string(),
        original_id: l.original_id.clone(),
        retry: l.retry,
        verified_by: match &l.original_id {
            Some(_) => ledger.verified_by(&l.end_to_end_id)?,
            None => None,
        },
        source,
        approval,
        codes,
        receipts: receipts.speaking_of(&l.end_to_end_id, &l.bank_file)?,
        bank_file,
        status: crate::returns::status_zh(l.status).to_string(),
        reason_code: l.reason_code.clone(),
        reason_text: mask_numbers(&l.reason_text).into_owned(),
        corrections: Vec::new(),
    })
}

/// The batch whose manifest first lists `bank/<file>` (manifests are
/// cumulative: the earliest one that lists a file is the batch that wrote and
/// signed it), with that manifest.
fn first_manifest_listing(period_dir: &Path, bank_file: &str) -> (Option<String>, Option<Manifest>) {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(period_dir.join(HISTORY_DIR))
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect())
        .unwrap_or_default();
    paths.push(period_dir.join(MANIFEST_FILE));
    let want = format!("bank/{bank_file}");
    let mut found: Option<Manifest> = None;
    for path in paths {
        let Some(m) = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice::<Manifest>(&b).ok()) else {
            continue;
        };
        if m.files.iter().any(|f| f.path == want) && found.as_ref().is_none_or(|f| m.created < f.created) {
            found = Some(m);
        }
    }
    (found.as_ref().map(|m| m.run_id.clone()), found)
}

/// The roster row of a line, from its batch's payment record (streamed).
fn record_source(period_dir: &Path, batch: &str, reference: &str) -> Option<Source> {
    let path = period_dir.join(super::record::relative_path(batch));
    let mut r = csv::ReaderBuilder::new().has_headers(true).from_path(path).ok()?;
    let mut rec = csv::StringRecord::new();
    while r.read_record(&mut rec).ok()? {
        if rec.get(1) == Some(reference) {
            return super::record::source_of(&rec).map(|p| Source { file: p.file.to_string(), row: p.row });
        }
    }
    None
}

/// The period's approval line of the line's program.
fn approval(config: &Config, l: &LedgerLine) -> Option<ApprovalRef> {
    let path = config.resolve(&config.approvals, l.period);
    let list = crate::ingest::read_approvals(&path, &path.display().to_string()).ok()?;
    list.into_iter().find(|a| a.program == l.program).map(|a| ApprovalRef {
        reference: a.reference,
        approved_by: a.approved_by,
        approved_on: a.approved_on,
    })
}

/// A row of exceptions.csv as the filter sees it.
struct ExceptionRow {
    file: String,
    row: u64,
    id_masked: String,
}

/// The rows of the period's exceptions.csv that `keep` picks (R04 "already
/// paid" rows are a later run's, not the line's own).
fn exceptions(period_dir: &Path, keep: impl Fn(&ExceptionRow) -> bool, _programs: &[(String, String)]) -> Vec<CodeRow> {
    let path = period_dir.join("reports/exceptions.csv");
    let Ok(mut r) = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_path(&path) else {
        return Vec::new();
    };
    let headers = r.headers().cloned().unwrap_or_default();
    let col = |name: &str| headers.iter().position(|h| h.trim_start_matches('\u{feff}') == name);
    let (Some(program), Some(file), Some(row), Some(field), Some(code), Some(severity), Some(id), Some(message)) = (
        col("program"),
        col("file"),
        col("row"),
        col("field"),
        col("code"),
        col("severity"),
        col("id_number_masked"),
        col("message"),
    ) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for rec in r.records().flatten() {
        let get = |i: usize| rec.get(i).unwrap_or("").trim_start_matches('\'').to_string();
        let e = ExceptionRow { file: get(file), row: get(row).parse().unwrap_or(0), id_masked: get(id) };
        if get(code) == "R04" || !keep(&e) {
            continue;
        }
        out.push(CodeRow {
            program: get(program),
            file: e.file,
            row: e.row,
            field: get(field),
            code: get(code),
            severity: get(severity),
            message: mask_numbers(&get(message)).into_owned(),
        });
    }
    out
}

/// SHA-256 of a PEM public key's DER bytes, hex.
fn fingerprint(pem: &str) -> Option<String> {
    use base64::Engine;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(body.trim()).ok()?;
    Some(crate::fsutil::sha256_hex(&der))
}

/// The archived receipts, in the order they were applied.
struct Receipts {
    /// (copy's path, its path relative to the output folder, when applied)
    files: Vec<(PathBuf, String, String)>,
    text_formats: Vec<Format>,
}

impl Receipts {
    fn list(config: &Config) -> Result<Receipts, PipelineError> {
        let mut files = Vec::new();
        for (dir, entries) in archive::indexes(&config.output_dir)? {
            let period = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            for e in entries.into_iter().filter(|e| e.state == archive::State::Applied) {
                files.push((dir.join(&e.file), format!("{period}/{}", e.file), e.at));
            }
        }
        files.sort_by(|a, b| a.2.cmp(&b.2));
        Ok(Receipts { files, text_formats: super::receipts::text_formats(config)? })
    }

    /// Every receipt line that names `reference`, and every batch status of a
    /// receipt that names the message `bank_file` was sent as.
    fn speaking_of(&self, reference: &str, bank_file: &str) -> Result<Vec<ReceiptRef>, PipelineError> {
        let msg_id = bank_file.rsplit_once('.').map_or(bank_file, |(stem, _)| stem);
        let mut out = Vec::new();
        for (path, shown, at) in &self.files {
            let [names_ref, names_msg] = mentions(path, [reference, msg_id]);
            if !names_ref && !names_msg {
                continue;
            }
            let mut found: Vec<ReceiptLine> = Vec::new();
            let mut keep = |l: ReceiptLine| {
                if l.end_to_end_id == reference {
                    found.push(l);
                }
            };
            let parsed = crate::returns::stream_xml_file(path, shown, &mut keep);
            let mut refs: Vec<ReceiptRef> = Vec::new();
            match parsed {
                Ok(Some(p)) => {
                    for g in p.group_statuses.iter().filter(|g| g.original_msg_id == msg_id && names_msg) {
                        refs.push(ReceiptRef {
                            file: shown.clone(),
                            at: at.clone(),
                            place: g.place().to_string(),
                            status: format!("{}（整批 {}）", crate::returns::status_zh(g.status), g.raw_status),
                            reason_code: g.reason_code.clone(),
                            reason_text: mask_numbers(&g.reason_text).into_owned(),
                            raw: String::new(),
                        });
                    }
                }
                Ok(None) => {
                    for f in &self.text_formats {
                        let mut lines = Vec::new();
                        let mut input =
                            std::io::BufReader::new(std::fs::File::open(path).map_err(super::io_err(path))?);
                        if f.stream_returns(&mut input, shown, &mut |l| lines.push(l)).is_ok_and(|n| n > 0) {
                            found.extend(lines.into_iter().filter(|l| l.end_to_end_id == reference));
                            break;
                        }
                    }
                }
                Err(_) => {}
            }
            for l in found {
                let raw = match l.place {
                    crate::domain::Place::Line(n) => raw_line(path, n),
                    _ => String::new(),
                };
                refs.push(ReceiptRef {
                    file: shown.clone(),
                    at: at.clone(),
                    place: l.place.to_string(),
                    status: crate::returns::status_zh(l.status).to_string(),
                    reason_code: l.reason_code.clone(),
                    reason_text: mask_numbers(&l.reason_text).into_owned(),
                    raw,
                });
            }
            out.extend(refs);
        }
        Ok(out)
    }
}

/// Whether the file's bytes contain each needle, read in chunks (a receipt may
/// be hundreds of megabytes).
fn mentions<const N: usize>(path: &Path, needles: [&str; N]) -> [bool; N] {
    let mut found = [false; N];
    let Ok(mut f) = std::fs::File::open(path) else { return found };
    let finders: Vec<memchr::memmem::Finder> =
        needles.iter().map(|n| memchr::memmem::Finder::new(n.as_bytes())).collect();
    let keep = needles.iter().map(|n| n.len()).max().unwrap_or(1).saturating_sub(1);
    let mut buf = vec![0u8; 1 << 20];
    let mut have = 0;
    loop {
        let n = match f.read(&mut buf[have..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        have += n;
        for (i, finder) in finders.iter().enumerate() {
            if !needles[i].is_empty() && finder.find(&buf[..have]).is_some() {
                found[i] = true;
            }
        }
        if found.iter().all(|f| *f) {
            break;
        }
        let tail = keep.min(have);
        buf.copy_within(have - tail..have, 0);
        have = tail;
    }
    found
}

/// Line `n` (1-based) of a text receipt, decoded (UTF-8, else GB18030), masked.
fn raw_line(path: &Path, n: u64) -> String {
    let Ok(f) = std::fs::File::open(path) else { return String::new() };
    let Some(Ok(bytes)) = std::io::BufReader::new(f).split(b'\n').nth(n.saturating_sub(1) as usize) else {
        return String::new();
    };
    let text = match std::str::from_utf8(&bytes) {
        Ok(t) => t.to_string(),
        Err(_) => encoding_rs::GB18030.decode(&bytes).0.into_owned(),
    };
    mask_numbers(text.trim_end_matches('\r')).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needles_are_found_across_chunk_borders_and_not_where_absent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.xml");
        let mut bytes = vec![b'x'; (1 << 20) - 5];
        bytes.extend_from_slice(b"DB202611R001000042 tail");
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(mentions(&path, ["DB202611R001000042", "DB202611R001000043"]), [true, false]);
    }
}
