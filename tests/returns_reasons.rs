//! Reason table (formats/reasons.toml), reason descriptions and clerk actions.

use disburse::domain::PaymentStatus;
use disburse::returns::{action_zh, is_death, reason_zh, ReasonMap, ReturnsError};

#[test]
fn chinese_texts_map_to_iso_codes() {
    let m = ReasonMap::builtin();
    let cases = [
        ("户名不符", "BE01"),
        ("户名不符,原户名为[李四]", "BE01"),
        ("账号户名不符", "BE01"),
        ("已销户", "AC04"),
        ("账户已关户", "AC04"),
        ("已清户", "AC04"),
        ("完全冻结", "AC06"),
        ("账户已冻结", "AC06"),
        ("已挂失卡", "AC06"),
        ("长期不动户", "AC06"),
        ("收款人已死亡", "MD07"),
        ("账号错误", "AC01"),
        ("无此账户", "AC01"),
        ("无此帐户", "AC01"),
        ("该户为非结算户,不能转帐", "AG01"),
        ("非个人活期结算户", "AG01"),
        ("账面可用余额不足", "AM04"),
        ("余额不足", "AM04"),
        ("未处理记录重复", "AM05"),
        ("代理户不存在", "BE06"),
        ("金额错误", "AM12"),
        ("只进不出", "NARR"),
        ("交易失败", "NARR"),
        ("", "NARR"),
    ];
    for (text, code) in cases {
        assert_eq!(m.code_for(text), code, "{text}");
    }
}

#[test]
fn bank_numeric_codes_map() {
    let m = ReasonMap::builtin();
    for (bank, code) in [("3031", "BE01"), ("3018", "AC04"), ("3017", "AC06"), ("3008", "AM04"), ("3009", "AC01")] {
        assert_eq!(m.code_for_bank(bank), Some(code), "{bank}");
    }
    assert_eq!(m.code_for_bank("9999"), None);
}

#[test]
fn office_table_overrides_and_extends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reasons.toml");
    std::fs::write(
        &path,
        "[[reason]]\ntext = \"冻结\"\ncode = \"AC07\"\n\n[[reason]]\ntext = \"户口迁出\"\ncode = \"BE06\"\ncode_of_bank = \"9001\"\n\n[[reason]]\ntext = \"销户重开\"\ncode = \"AC01\"\n",
    )
    .unwrap();
    let m = ReasonMap::load(dir.path()).unwrap();
    assert_eq!(m.code_for("完全冻结"), "AC07", "override by same text");
    assert_eq!(m.code_for("户口迁出"), "BE06", "new entry");
    assert_eq!(m.code_for_bank("9001"), Some("BE06"));
    assert_eq!(m.code_for("已销户"), "AC04", "built-in kept");
    assert_eq!(m.code_for("已销户重开新账户"), "AC01", "longest keyword wins over 销户");

    let empty = tempfile::tempdir().unwrap();
    assert_eq!(ReasonMap::load(empty.path()).unwrap().code_for("已销户"), "AC04", "no file: built-in");

    std::fs::write(&path, "[[reason]]\ntext = \"x\"\n").unwrap();
    let e = ReasonMap::load(dir.path()).unwrap_err();
    assert!(matches!(e, ReturnsError::ReasonTable { .. }));
    assert!(e.to_string().contains("reasons.toml"), "{e}");
}

#[test]
fn descriptions_and_actions() {
    use PaymentStatus::*;
    assert_eq!(reason_zh("AC04"), "账户已销户");
    assert_eq!(reason_zh("MD07"), "收款人已死亡");
    assert_eq!(reason_zh("ZZ99"), "");
    assert_eq!(action_zh(Failed, "BE01"), "核实户名后更正发放");
    for code in ["AC01", "AC03", "AC04", "AC06", "AC07", "AG01"] {
        assert_eq!(action_zh(Failed, code), "核实账户后更正发放", "{code}");
        assert_eq!(action_zh(Returned, code), "核实账户后更正发放", "{code}");
    }
    assert_eq!(action_zh(Returned, "MD07"), "停发并核查死亡");
    assert_eq!(action_zh(Failed, "AM04"), "补足专户余额后整批重发");
    assert_eq!(action_zh(Pending, ""), "等待银行回盘");
    assert_eq!(action_zh(Settled, ""), "");
    assert!(!action_zh(Failed, "NARR").is_empty());
    assert!(is_death("MD07") && !is_death("AC04") && !is_death(""));
}
