//! Shared builders for the bankfile tests (included with `#[path]`; also compiled
//! on its own as an empty test crate).
#![allow(dead_code)]

#[path = "common/seed.rs"]
pub mod seed;

use std::path::{Path, PathBuf};

use disburse::bankfile::{Batch, BatchHead};
use disburse::config::{Office, Payer};
use disburse::domain::{Account, EndToEndId, Fen, IdNumber, PayeeType, PaymentLine, Period, Program, SourcePos};

pub fn office() -> Office {
    Office { name: "某县民政局".into(), uscc: "11330100MB1234567X".into(), code: None }
}

pub fn payer() -> Payer {
    Payer {
        name: "某县民政局社会救助资金专户".into(),
        account: "33001610000053012345".into(),
        bank_code: "105331000011".into(),
    }
}

/// A valid ID number whose sequence digits come from `n`.
pub fn id_number(n: u64) -> IdNumber {
    let first17 = format!("110105194912{:02}{:03}", 1 + n % 28, n % 1000);
    let check = IdNumber::check_char(first17.as_bytes());
    IdNumber::parse(&format!("{first17}{check}")).expect("valid test ID")
}

pub fn line(seq: u64, name: &str, fen: i64, bank: &str) -> PaymentLine {
    let period = Period { year: 2026, month: 11 };
    PaymentLine {
        program: Program::Dibao,
        end_to_end_id: EndToEndId::new(Program::Dibao, period, 'R', 1, seq),
        township: "城关镇".into(),
        village: "东村".into(),
        name: name.into(),
        id_number: id_number(seq),
        payee_name: name.into(),
        payee_type: PayeeType::SelfPaid,
        account: Account::parse(&format!("62284800{:011}", seq)).unwrap(),
        bank: bank.into(),
        amount: Fen(fen),
        household_size: Some(1),
        category: Default::default(),
        note: Default::default(),
        kind: Default::default(),
        pos: SourcePos { file: "roster.xlsx".into(), row: seq + 1 },
    }
}

/// `n` lines with rotating Chinese names and amounts.
pub fn lines(n: u64) -> Vec<PaymentLine> {
    let names = ["张三", "李四", "王小五", "欧阳娜娜", "赵六"];
    (1..=n).map(|i| line(i, names[(i % 5) as usize], 30000 + (i as i64 * 37) % 50000, "")).collect()
}

pub fn batch<'a>(office: &'a Office, payer: &'a Payer, lines: &'a [PaymentLine]) -> Batch<'a> {
    use chrono::TimeZone;
    let utc = chrono::FixedOffset::east_opt(0).unwrap();
    let head = BatchHead {
        office,
        payer,
        program: Program::Dibao,
        period: Period { year: 2026, month: 11 },
        purpose: "BENE",
        batch_id: "DB202611R001".into(),
        created: utc.with_ymd_and_hms(2026, 11, 20, 1, 30, 0).unwrap(),
        execution_date: chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
    };
    Batch { head, lines }
}

pub fn formats_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("formats")
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bankfile").join(name)).unwrap()
}
