//! Receipt reading (SPEC §6): pain.002 v03/v10 and camt.054 returns, from the
//! fixtures in `fixtures/returns/` and from receipts generated here.

use disburse::domain::{Entry, Fen, PaymentStatus, Place, ReceiptLine};
use disburse::returns::{parse_xml_receipt, GroupStatus, ParsedReceipt, ReasonMap, ReceiptKind, ReturnsError};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/fixtures/returns/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse(bytes: &[u8]) -> ParsedReceipt {
    match parse_xml_receipt(bytes, "bank/ret.xml") {
        Ok(Some(p)) => p,
        other => panic!("expected a receipt, got {other:?}"),
    }
}

fn refuse(xml: &str) -> String {
    match parse_xml_receipt(xml.as_bytes(), "bank/ret.xml") {
        Err(e) => e.to_string(),
        Ok(p) => panic!("expected a refusal, got {p:?}"),
    }
}

fn line(e2e: &str, status: PaymentStatus, amount: Option<i64>, code: &str, text: &str, pos: u64) -> ReceiptLine {
    ReceiptLine {
        file: "bank/ret.xml".into(),
        position: pos,
        end_to_end_id: e2e.into(),
        status,
        amount: amount.map(Fen),
        reason_code: code.into(),
        reason_text: text.into(),
        ..ReceiptLine::default()
    }
}

/// What [`line`] compares: a parsed line without where it sits and how it came.
fn core(lines: &[ReceiptLine]) -> Vec<ReceiptLine> {
    lines
        .iter()
        .map(|l| ReceiptLine {
            place: Place::Unknown,
            entry: Entry::Status,
            return_info: false,
            inherited: None,
            conflict: None,
            ..l.clone()
        })
        .collect()
}

#[test]
fn shared_samples_parse_both_versions() {
    for (name, kind) in
        [("pain002_03_sample.xml", ReceiptKind::Pain002V03), ("pain002_10_sample.xml", ReceiptKind::Pain002V10)]
    {
        let p = parse(&fixture(name));
        assert_eq!(p.kind, kind, "{name}");
        assert_eq!(p.message_id, "BANK-STS-20250625-0001");
        assert_eq!(p.account, None);
        assert_eq!(core(&p.lines), vec![line("DB202506-000002", PaymentStatus::Failed, None, "AC04", "已销户", 1)]);
        let groups: Vec<(Option<&str>, &str, PaymentStatus)> = p
            .group_statuses
            .iter()
            .map(|g| (g.original_pmt_inf_id.as_deref(), g.raw_status.as_str(), g.status))
            .collect();
        assert_eq!(
            groups,
            vec![(None, "PART", PaymentStatus::Pending), (Some("DB-202506-001"), "PART", PaymentStatus::Pending)]
        );
        assert!(p.group_statuses.iter().all(|g| g.original_msg_id == "MZ-2025-06-DB-000001"));
    }
}

#[test]
fn group_level_rejection_is_a_group_status() {
    let p = parse(&fixture("pain002_03_group_rjct.xml"));
    assert!(p.lines.is_empty());
    assert_eq!(
        p.group_statuses,
        vec![GroupStatus {
            original_msg_id: "MZ-2025-11-DB-000001".into(),
            original_pmt_inf_id: None,
            status: PaymentStatus::Failed,
            raw_status: "RJCT".into(),
            reason_code: "AM04".into(),
            reason_text: "账面可用余额不足".into(),
            position: 0,
            conflict: None,
        }]
    );
}

#[test]
fn pmtinf_rejection_and_line_outcomes() {
    let p = parse(&fixture("pain002_10_pmtinf.xml"));
    assert_eq!(p.kind, ReceiptKind::Pain002V10);
    assert_eq!(p.message_id, "BANK-STS-20251127-0002");
    let pmt: Vec<_> = p.group_statuses.iter().filter(|g| g.original_pmt_inf_id.is_some()).collect();
    assert_eq!(pmt.len(), 2);
    assert_eq!(pmt[0].original_pmt_inf_id.as_deref(), Some("TK-202511-001"));
    assert_eq!((pmt[0].status, pmt[0].reason_code.as_str(), pmt[0].position), (PaymentStatus::Failed, "DS0B", 1));
    assert_eq!(pmt[0].reason_text, "数字签名或证书错");
    assert_eq!((pmt[1].status, pmt[1].position), (PaymentStatus::Pending, 2));
    use PaymentStatus::*;
    assert_eq!(p.lines[0].inherited, Some(1), "the first line takes its block's status");
    assert_eq!(p.lines[1].place, Place::Pain002Tx { block: 2, tx: 1 });
    assert_eq!(
        core(&p.lines),
        vec![
            // no TxSts of its own: takes the PmtInf's RJCT and reason
            line("TK202511R0010000001", Failed, None, "DS0B", "数字签名或证书错", 1),
            line("TK202511R0020000001", Settled, Some(120000), "", "", 2),
            // text only: the code is left empty for ReasonMap
            line("TK202511R0020000002", Failed, Some(39650), "", "户名不符,原户名为[张三丰]", 3),
            line("TK202511R0020000003", Pending, None, "", "", 4),
            line("TK202511R0020000004", Failed, None, "3031", "账号户名不符", 5),
            // v10 codes are an open list: unknown → pending
            line("TK202511R0020000005", Pending, None, "", "", 6),
        ]
    );
}

#[test]
fn reason_map_completes_lines() {
    let map = ReasonMap::builtin();
    let mut lines = parse(&fixture("pain002_10_pmtinf.xml")).lines;
    lines.iter_mut().for_each(|l| map.complete(l));
    assert_eq!((lines[2].reason_code.as_str(), lines[2].reason_text.as_str()), ("BE01", "户名不符,原户名为[张三丰]"));
    assert_eq!((lines[4].reason_code.as_str(), lines[4].reason_text.as_str()), ("BE01", "3031 账号户名不符"));
    assert_eq!(lines[1].reason_code, "", "a settled line gets no reason");
    assert_eq!(lines[3].reason_code, "", "a pending line gets no reason");
}

#[test]
fn camt054_returns() {
    let p = parse(&fixture("camt054_return.xml"));
    assert_eq!(p.kind, ReceiptKind::Camt054);
    assert_eq!(p.message_id, "CAMT054-20251128-0001");
    assert_eq!(p.account.as_deref(), Some("15001234567890001"));
    assert!(p.group_statuses.is_empty());
    use PaymentStatus::Returned;
    assert_eq!(
        core(&p.lines),
        vec![
            // single TxDtls without Amt: the entry's amount
            line("DB202511R0010000042", Returned, Some(76500), "AC04", "退票：已销户", 1),
            line("TK202511R0010000007", Returned, Some(100000), "MD07", "收款人已死亡 请核实", 2),
            // an ordinary credit naming a reference: told, the ledger decides it is not ours
            line("ORDINARY-CREDIT-0001", Returned, Some(53050), "", "", 3),
        ]
    );
    assert!(p.lines.iter().all(|l| l.entry == Entry::BookedCredit));
    assert_eq!(p.lines.iter().map(|l| l.return_info).collect::<Vec<_>>(), [true, true, false]);
    assert_eq!(p.lines[2].place, Place::Camt054Tx { ntfctn: 1, entry: 2, details: 1, tx: 2 });
}

#[test]
fn camt054_two_accounts_refused_without_full_number() {
    let xml = String::from_utf8(fixture("camt054_return.xml")).unwrap();
    let second = "<Ntfctn><Id>N2</Id><Acct><Id><Othr><Id>15009999999990002</Id></Othr></Id></Acct></Ntfctn>";
    let xml = xml.replace("</Ntfctn>", &format!("</Ntfctn>{second}"));
    let e = refuse(&xml);
    assert!(e.contains("two accounts"), "{e}");
    assert!(!e.contains("15009999999990002") && !e.contains("15001234567890001"), "account not masked: {e}");
}

#[test]
fn gbk_receipt_is_decoded() {
    let xml = String::from_utf8(fixture("pain002_03_sample.xml")).unwrap().replace("UTF-8", "GBK");
    let (bytes, _, bad) = encoding_rs::GBK.encode(&xml);
    assert!(!bad);
    assert_ne!(bytes.as_ref(), xml.as_bytes(), "the fixture must hold Chinese text");
    let p = parse(&bytes);
    assert_eq!(p.lines[0].reason_text, "已销户");
}

#[test]
fn prefixed_namespace_bom_entities_and_no_namespace() {
    let xml = "\u{FEFF}<?xml version=\"1.0\"?>\n<p:Document xmlns:p=\"urn:iso:std:iso:20022:tech:xsd:pain.002.001.10\"><p:CstmrPmtStsRpt>\
        <p:GrpHdr><p:MsgId>M&amp;1</p:MsgId></p:GrpHdr><p:OrgnlGrpInfAndSts><p:OrgnlMsgId>O1</p:OrgnlMsgId></p:OrgnlGrpInfAndSts>\
        <p:OrgnlPmtInfAndSts><p:OrgnlPmtInfId>P1</p:OrgnlPmtInfId><p:TxInfAndSts><p:OrgnlEndToEndId>E1</p:OrgnlEndToEndId>\
        <p:TxSts>RJCT</p:TxSts><p:StsRsnInf><p:Rsn><p:Prtry>账户已冻结请联系开户行</p:Prtry></p:Rsn></p:StsRsnInf>\
        </p:TxInfAndSts></p:OrgnlPmtInfAndSts></p:CstmrPmtStsRpt></p:Document>";
    let p = parse(xml.as_bytes());
    assert_eq!((p.kind, p.message_id.as_str()), (ReceiptKind::Pain002V10, "M&1"));
    assert_eq!((p.lines[0].reason_code.as_str(), p.lines[0].reason_text.as_str()), ("NARR", "账户已冻结请联系开户行"));
    assert!(p.group_statuses.is_empty(), "no GrpSts/PmtInfSts: no group status");

    let bare = "<Document><BkToCstmrDbtCdtNtfctn><GrpHdr><MsgId>C1</MsgId></GrpHdr></BkToCstmrDbtCdtNtfctn></Document>";
    assert_eq!(parse(bare.as_bytes()).kind, ReceiptKind::Camt054);
}

fn pain002(txs: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.002.001.03\">\n\
         <CstmrPmtStsRpt>\n\
         <GrpHdr><MsgId>M1</MsgId></GrpHdr>\n\
         <OrgnlGrpInfAndSts><OrgnlMsgId>O1</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.03</OrgnlMsgNmId></OrgnlGrpInfAndSts>\n\
         <OrgnlPmtInfAndSts><OrgnlPmtInfId>P1</OrgnlPmtInfId>\n{txs}</OrgnlPmtInfAndSts>\n\
         </CstmrPmtStsRpt>\n</Document>\n"
    )
}

fn tx(e2e: &str, sts: &str, amount: &str) -> String {
    format!(
        "<TxInfAndSts>\n<OrgnlEndToEndId>{e2e}</OrgnlEndToEndId>\n<TxSts>{sts}</TxSts>\n\
         <OrgnlTxRef><Amt><InstdAmt Ccy=\"CNY\">{amount}</InstdAmt></Amt></OrgnlTxRef>\n</TxInfAndSts>\n"
    )
}

#[test]
fn missing_end_to_end_id_names_file_and_line() {
    let xml = pain002(&format!("{}<TxInfAndSts>\n<TxSts>RJCT</TxSts>\n</TxInfAndSts>\n", tx("E1", "ACSC", "1.00")));
    let e = refuse(&xml);
    // header is lines 1–6, the first TxInfAndSts lines 7–11, the bad one starts on line 12
    assert_eq!(e, "bank/ret.xml: line 12: TxInfAndSts #2 without OrgnlEndToEndId");
}

#[test]
fn amount_with_three_decimals_is_refused() {
    let e = refuse(&pain002(&(tx("E1", "ACSC", "1.00") + &tx("E2", "ACSC", "12.345"))));
    assert!(e.starts_with("bank/ret.xml: line 15: "), "{e}");
    assert!(e.contains("12.345") && e.contains("more than 2 decimals"), "{e}");
}

#[test]
fn other_currency_and_bad_status_are_refused() {
    let e = refuse(&pain002(&tx("E1", "ACSC", "1.00").replace("CNY", "USD")));
    assert!(e.contains("line 10") && e.contains("USD"), "{e}");
    let e = refuse(&pain002(&tx("E1", "NOT-A-CODE", "1.00")));
    let masked = refuse(&pain002(&tx("E1", "6222020200112233445", "1.00")));
    assert!(!masked.contains("6222020200112233445") && masked.contains("3445"), "{masked}");
    assert!(e.contains("line 9") && e.contains("TxSts"), "{e}");
}

#[test]
fn truncated_file_is_refused() {
    let full = pain002(&(tx("E1", "ACSC", "1.00") + &tx("E2", "RJCT", "2.00")));
    for cut in [full.find("<TxSts>RJCT").unwrap() + 4, full.find("E2").unwrap(), full.len() - 20] {
        let e = refuse(&full[..cut]);
        assert!(e.starts_with("bank/ret.xml: line "), "cut at {cut}: {e}");
    }
    let e = refuse(&full[..full.find("<TxSts>RJCT").unwrap()]);
    assert!(e.contains("truncated") && e.contains("inside <TxInfAndSts>"), "{e}");
}

#[test]
fn garbage_and_unknown_roots() {
    let e = refuse("<<<\u{0}garbage&&&>");
    assert!(e.starts_with("bank/ret.xml: line 1: not well-formed XML"), "{e}");
    let e = refuse(&pain002("<TxInfAndSts>\n<Tx#Sts>RJCT</Tx#Sts></TxInfAndSts>"));
    assert!(e.starts_with("bank/ret.xml: line 8: not well-formed XML"), "{e}");
    let e = refuse(&pain002("<TxInfAndSts><OrgnlEndToEndId>E&bogus;</OrgnlEndToEndId></TxInfAndSts>"));
    assert!(e.contains("line 7") && e.contains("&bogus;"), "{e}");
    let e = refuse("<?xml version=\"1.0\"?>\n<Invoice><Total>1</Total></Invoice>");
    assert!(e.contains("line 2") && e.contains("not a pain.002 or camt.054 receipt") && e.contains("Invoice"), "{e}");
    let pain001 = "<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09\"><CstmrCdtTrfInitn/></Document>";
    assert!(refuse(pain001).contains("pain.001.001.09"));
    let old = "<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.002.001.05\"><CstmrPmtStsRpt/></Document>";
    assert!(refuse(old).contains("not a supported version"));
    let mixed = "<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.054.001.08\"><CstmrPmtStsRpt/></Document>";
    assert!(matches!(parse_xml_receipt(mixed.as_bytes(), "f"), Err(ReturnsError::NotAReceipt { .. })));
    let bad_utf8 = b"<Document>\n<X>\xFF\xFE</X></Document>";
    let e = parse_xml_receipt(bad_utf8, "f.xml").unwrap_err().to_string();
    assert!(e.starts_with("f.xml: line 2: ") && e.contains("UTF-8"), "{e}");
    assert_eq!(parse_xml_receipt(b"\xFF\x00garbage", "f"), Ok(None), "not XML: the text layouts decide");
}

#[test]
fn missing_headers_are_refused() {
    let xml = pain002(&tx("E1", "ACSC", "1.00")).replace("<GrpHdr><MsgId>M1</MsgId></GrpHdr>", "");
    assert!(refuse(&xml).contains("GrpHdr/MsgId"));
    let xml = pain002(&tx("E1", "ACSC", "1.00")).replace("<OrgnlPmtInfId>P1</OrgnlPmtInfId>", "");
    assert!(refuse(&xml).contains("without OrgnlPmtInfId"));
    let xml = pain002("<TxInfAndSts><OrgnlEndToEndId>E1</OrgnlEndToEndId></TxInfAndSts>");
    assert!(refuse(&xml).contains("no TxSts"));
}

#[test]
fn two_hundred_thousand_lines() {
    const N: usize = 200_000;
    let mut txs = String::with_capacity(N * 200);
    for i in 0..N {
        let sts = ["ACSC", "RJCT", "ACSP", "ACCC"][i % 4];
        txs.push_str(&tx(&format!("DB202611R001{i:07}"), sts, &format!("{}.{:02}", i % 1000, i % 100)));
    }
    let p = parse(pain002(&txs).as_bytes());
    assert_eq!(p.lines.len(), N);
    let failed = p.lines.iter().filter(|l| l.status == PaymentStatus::Failed).count();
    let settled = p.lines.iter().filter(|l| l.status == PaymentStatus::Settled).count();
    assert_eq!((failed, settled), (N / 4, N / 2));
    let last = &p.lines[N - 1];
    assert_eq!((last.position, last.end_to_end_id.as_str()), (N as u64, "DB202611R0010199999"));
    assert_eq!(last.amount, Some(Fen(99_999)));
    let total: i64 = p.lines.iter().map(|l| l.amount.unwrap().0).sum();
    let expected: i64 = (0..N as i64).map(|i| (i % 1000) * 100 + i % 100).sum();
    assert_eq!(total, expected);
}

/// Speed check, not run by default (needs release mode to mean anything):
/// `cargo test --release --test returns_xml million -- --ignored --nocapture`.
#[test]
#[ignore]
fn million_lines_speed() {
    const N: usize = 1_000_000;
    let mut txs = String::with_capacity(N * 200);
    for i in 0..N {
        txs.push_str(&tx(&format!("DB202611R001{i:07}"), "ACSC", "1234.56"));
    }
    let xml = pain002(&txs);
    let t = std::time::Instant::now();
    let p = parse(xml.as_bytes());
    eprintln!("{} lines, {} MB, parsed in {:?}", p.lines.len(), xml.len() / 1_000_000, t.elapsed());
    assert_eq!(p.lines.len(), N);
}

#[test]
fn camt054_unbooked_reversed_and_foreign_entries() {
    let xml = String::from_utf8(fixture("camt054_return.xml")).unwrap();
    let kinds = |xml: &str| parse(xml.as_bytes()).lines.iter().map(|l| l.entry).collect::<Vec<_>>();
    use Entry::*;
    // the first entry still pending at the bank: told as pending, not a return yet
    let pdng = xml.replacen("<Cd>BOOK</Cd>", "<Cd>PDNG</Cd>", 1);
    assert_eq!(kinds(&pdng), [Pending, BookedCredit, BookedCredit]);
    // a credit with RvslInd reverses our debit: still a booked credit
    let rvsl = xml.replacen("<CdtDbtInd>CRDT</CdtDbtInd>", "<CdtDbtInd>CRDT</CdtDbtInd><RvslInd>true</RvslInd>", 1);
    assert_eq!(kinds(&rvsl), [BookedCredit, BookedCredit, BookedCredit]);
    // a debit, and a debit with RvslInd (the reversal of a credit), are never returns
    let dbit = xml.replacen("<CdtDbtInd>CRDT</CdtDbtInd>", "<CdtDbtInd>DBIT</CdtDbtInd>", 1);
    assert_eq!(kinds(&dbit), [Debit, BookedCredit, BookedCredit]);
    let rev = xml.replacen("<CdtDbtInd>CRDT</CdtDbtInd>", "<CdtDbtInd>DBIT</CdtDbtInd><RvslInd>true</RvslInd>", 1);
    assert_eq!(kinds(&rev), [CreditReversal, BookedCredit, BookedCredit]);
    // an ordinary credit in another currency does not matter: it is told without an amount
    let usd = xml.replace("<Amt Ccy=\"CNY\">530.50</Amt>", "<Amt Ccy=\"USD\">530.505</Amt>");
    assert_eq!(parse(usd.as_bytes()).lines[2].amount, None);
    // a return's own amount with 3 decimals refuses the file
    let bad = xml.replace("<Amt Ccy=\"CNY\">1000.00</Amt>", "<Amt Ccy=\"CNY\">1000.005</Amt>");
    let e = refuse(&bad);
    assert!(e.contains("line 46") && e.contains("more than 2 decimals"), "{e}");
    // a return without its reference
    let no_ref = xml.replace("<Refs><EndToEndId>TK202511R0010000007</EndToEndId></Refs>", "");
    let e = refuse(&no_ref);
    assert_eq!(e, "bank/ret.xml: line 44: TxDtls #2 with RtrInf but without Refs/EndToEndId");
}
