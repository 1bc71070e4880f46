//! `gen_office DIR --lines N --seed S [--period YYYY-MM]`: a complete office for
//! benchmarks — config, rosters of one period spread over the five programs,
//! exact approvals, a short stop list and an SM2 signing key.
//!
//! Why it looks like this: the benchmark must exercise what a real month does, so
//! the rosters come in the shapes clerks hand over (低保 as .xlsx, 五保 as GBK CSV,
//! the rest UTF-8 CSV, some with BOM or thousands separators) and about 1% of the
//! lines are deliberately wrong (bad ID check digit, an account mangled into a
//! float, an amount over the cap, a person listed twice, a stopped person) so the
//! hold paths run too. Everything is deterministic from the seed (SplitMix64), and
//! the approvals are computed from the lines as written, so the run is never
//! refused by R07. The .xlsx roster is kept to 5% of the lines (written with
//! constant memory), since a spreadsheet that size is already unusual.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use disburse::domain::{Fen, IdNumber, TextEncoding};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// SplitMix64: tiny, well mixed, seeded by us.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "林", "高",
    "郑", "叶", "应", "蒋", "楼", "金", "方", "潘", "施", "俞", "章",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超",
    "建国", "桂兰", "春生", "美珍", "志强", "玉梅",
];
const TOWNS: &[&str] = &["城关镇", "东岭乡", "西河镇", "南山镇", "北溪乡", "石门乡"];
const VILLAGES: &[&str] = &["东村", "西村", "南村", "北村", "中心村", "上坑村", "下洋村", "溪口村"];
const BANKS: &[&str] = &["中国农业银行示例县支行", "中国建设银行示例县支行", "示例县农村信用合作联社"];
const INSTITUTIONS: &[(&str, &str)] = &[
    ("示例县中心敬老院", "201000000000000017"),
    ("城关镇敬老院", "201000000000000025"),
    ("东岭乡敬老院", "201000000000000033"),
];

/// A valid 18-digit ID number for person `n`, unique for n < 9·10^7.
fn id_number(n: u64) -> String {
    let province = [33, 35, 36, 41, 42, 43, 44, 51, 52][(n / 10_000_000 % 9) as usize];
    let region = (n / 1000) % 10_000;
    let birth = format!("{:04}{:02}{:02}", 1940 + n % 60, 1 + n / 60 % 12, 1 + n % 28);
    let first17 = format!("{province}{region:04}{birth}{:03}", n % 1000);
    let check = IdNumber::check_char(first17.as_bytes());
    format!("{first17}{check}")
}

/// The same ID with a wrong check character (V02).
fn break_id(id: &str) -> String {
    let (body, last) = id.split_at(17);
    let wrong = if last == "1" { "2" } else { "1" };
    format!("{body}{wrong}")
}

/// A 19-digit UnionPay card that passes Luhn, unique per n.
fn card(n: u64) -> String {
    let body = format!("622848{n:012}");
    format!("{body}{}", disburse::domain::luhn_digit(&body))
}

fn name(n: u64) -> String {
    let s = SURNAMES[(n % SURNAMES.len() as u64) as usize];
    let g = GIVEN[(n / SURNAMES.len() as u64 % GIVEN.len() as u64) as usize];
    format!("{s}{g}")
}

/// One data line as it will be written.
#[derive(Clone)]
struct Line {
    township: &'static str,
    village: &'static str,
    name: String,
    id: String,
    account: String,
    bank: &'static str,
    payee_name: String,
    payee_type: &'static str,
    /// Exact amount as written (what the approval counts).
    amount: Fen,
    amount_text: String,
}

/// Program, format, cap (fen), share of lines in per mille, amount range (yuan).
#[derive(Clone, Copy)]
struct Prog {
    code: &'static str,
    per_mille: u64,
    cap: i64,
    lo: i64,
    hi: i64,
}

const PROGS: [Prog; 5] = [
    Prog { code: "dibao", per_mille: 50, cap: 300_000, lo: 300, hi: 2_400 },
    Prog { code: "wubao", per_mille: 300, cap: 500_000, lo: 800, hi: 2_000 },
    Prog { code: "youfu", per_mille: 250, cap: 800_000, lo: 1_000, hi: 4_000 },
    Prog { code: "yiwubing", per_mille: 150, cap: 2_000_000, lo: 5_000, hi: 9_000 },
    Prog { code: "yimin", per_mille: 250, cap: 60_000, lo: 300, hi: 300 },
];

/// Makes the lines of one program: people `base..`, ~1% deliberately bad.
struct Maker<'a> {
    rng: &'a mut Rng,
    prog: &'a Prog,
    base: u64,
    prev: Option<Line>,
}

impl Maker<'_> {
    fn line(&mut self, i: u64) -> Line {
        let n = self.base + i;
        let mut l = Line {
            township: TOWNS[(n % TOWNS.len() as u64) as usize],
            village: VILLAGES[(n / 7 % VILLAGES.len() as u64) as usize],
            name: name(n),
            id: id_number(n),
            account: card(n),
            bank: BANKS[(n % 3) as usize],
            payee_name: String::new(),
            payee_type: "",
            amount: Fen(0),
            amount_text: String::new(),
        };
        let span = (self.prog.hi - self.prog.lo) as u64;
        let yuan = self.prog.lo + self.rng.below(span + 1) as i64;
        let cents = if self.rng.below(4) == 0 { 50 } else { 0 };
        l.amount = Fen((yuan * 100 + cents).min(self.prog.cap));
        if self.prog.code == "wubao" && self.rng.below(10) == 0 {
            let (inst, acct) = INSTITUTIONS[(n % INSTITUTIONS.len() as u64) as usize];
            l.payee_name = inst.to_string();
            l.payee_type = "供养机构";
            l.account = acct.to_string();
            l.bank = BANKS[2];
        }
        match self.rng.below(1000) {
            0..=2 => l.id = break_id(&l.id),
            3..=4 => l.account = "6.22848E+18".to_string(),
            5..=6 => l.amount = Fen(self.prog.cap + 100 * (1 + self.rng.below(500) as i64)),
            7..=9 => {
                // The person again (R01): every copy is held.
                if let Some(p) = &self.prev {
                    l = Line { amount: l.amount, ..p.clone() };
                }
            }
            _ => {}
        }
        if l.payee_name.is_empty() {
            l.payee_name = l.name.clone();
        }
        l.amount_text = self.written(l.amount);
        self.prev = Some(l.clone());
        l
    }

    /// The amount as a clerk writes it; mostly plain, sometimes `1,200.00` or `¥300`.
    fn written(&mut self, f: Fen) -> String {
        let plain = f.yuan_string();
        match self.rng.below(20) {
            0 if f.0 >= 100_000 => {
                let (int, frac) = plain.split_once('.').unwrap_or((&plain, "00"));
                let mut out = String::new();
                for (i, c) in int.chars().enumerate() {
                    if i > 0 && (int.len() - i) % 3 == 0 {
                        out.push(',');
                    }
                    out.push(c);
                }
                format!("{out}.{frac}")
            }
            1 if self.prog.code == "yimin" => format!("¥{plain}"),
            2 if self.prog.code == "yimin" => format!("{plain}元"),
            _ => plain,
        }
    }
}

/// Writes rows as CSV text: `encode` turns each line into the file's bytes.
struct CsvOut {
    w: BufWriter<File>,
    gbk: bool,
    crlf: bool,
}

impl CsvOut {
    fn create(path: &Path, gbk: bool, bom: bool, crlf: bool) -> Res<CsvOut> {
        let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
        if bom {
            w.write_all(b"\xEF\xBB\xBF")?;
        }
        Ok(CsvOut { w, gbk, crlf })
    }

    fn row(&mut self, fields: &[&str]) -> Res<()> {
        let mut s = String::with_capacity(160);
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            if f.contains([',', '"', '\n']) {
                s.push('"');
                s.push_str(&f.replace('"', "\"\""));
                s.push('"');
            } else {
                s.push_str(f);
            }
        }
        s.push_str(if self.crlf { "\r\n" } else { "\n" });
        if self.gbk {
            let bytes = TextEncoding::Gbk.encode(&s).map_err(|c| format!("'{c}' is not in GBK"))?;
            self.w.write_all(&bytes)?;
        } else {
            self.w.write_all(s.as_bytes())?;
        }
        Ok(())
    }

    fn finish(mut self) -> Res<()> {
        self.w.flush()?;
        Ok(())
    }
}

/// One roster writer per program, each in its clerk's shape.
enum Roster {
    Csv(CsvOut, &'static str),
    Xlsx(Box<rust_xlsxwriter::Workbook>, PathBuf, u32),
}

fn open_roster(dir: &Path, code: &'static str) -> Res<Roster> {
    let csv = |gbk, bom, crlf| CsvOut::create(&dir.join(format!("{code}.csv")), gbk, bom, crlf);
    let mut r = match code {
        "dibao" => {
            let mut wb = rust_xlsxwriter::Workbook::new();
            let ws = wb.add_worksheet_with_constant_memory()?;
            ws.set_name("发放名册")?;
            ws.write_string(0, 0, "示例县城乡低保发放名册")?;
            let headers = ["乡镇", "村(社区)", "姓名", "身份证号", "银行账号", "开户行", "保障人数", "保障金额"];
            for (c, h) in headers.iter().enumerate() {
                ws.write_string(1, c as u16, *h)?;
            }
            return Ok(Roster::Xlsx(Box::new(wb), dir.join("dibao.xlsx"), 2));
        }
        "wubao" => Roster::Csv(csv(true, false, true)?, code),
        "youfu" => Roster::Csv(csv(false, true, true)?, code),
        _ => Roster::Csv(csv(false, false, false)?, code),
    };
    if let Roster::Csv(out, _) = &mut r {
        match code {
            "wubao" => out.row(&[
                "序号",
                "乡镇",
                "村(社区)",
                "姓名",
                "身份证号",
                "收款人",
                "收款人类型",
                "银行账号",
                "开户行",
                "发放金额",
            ])?,
            "youfu" => out.row(&[
                "id_number",
                "name",
                "amount",
                "account",
                "bank",
                "payee_name",
                "payee_type",
                "township",
                "village",
            ])?,
            "yiwubing" => {
                out.row(&["乡镇", "村(社区)", "姓名", "身份证号", "收款人", "银行账号", "开户银行", "补贴金额"])?
            }
            _ => out.row(&["乡镇", "村(社区)", "姓名", "身份证号", "银行账号", "开户银行", "补贴金额"])?,
        }
    }
    Ok(r)
}

impl Roster {
    fn write(&mut self, seq: u64, l: &Line) -> Res<()> {
        match self {
            Roster::Xlsx(wb, _, row) => {
                let ws = wb.worksheet_from_index(0)?;
                let texts = [l.township, l.village, &l.name, &l.id, &l.account, l.bank];
                for (c, t) in texts.iter().enumerate() {
                    ws.write_string(*row, c as u16, *t)?;
                }
                ws.write_number(*row, 6, 1 + (seq % 4) as u32)?;
                // A numeric cell is an IEEE double by definition of the file format;
                // parsed from the exact two-decimal text, as Excel stores a typed value.
                ws.write_number(*row, 7, l.amount.yuan_string().parse::<f64>()?)?;
                *row += 1;
                Ok(())
            }
            Roster::Csv(out, "wubao") => {
                let s = (seq + 1).to_string();
                out.row(&[
                    &s,
                    l.township,
                    l.village,
                    &l.name,
                    &l.id,
                    &l.payee_name,
                    l.payee_type,
                    &l.account,
                    l.bank,
                    &l.amount_text,
                ])
            }
            Roster::Csv(out, "youfu") => out.row(&[
                &l.id,
                &l.name,
                &l.amount_text,
                &l.account,
                l.bank,
                &l.payee_name,
                "self",
                l.township,
                l.village,
            ]),
            Roster::Csv(out, "yiwubing") => {
                out.row(&[l.township, l.village, &l.name, &l.id, &l.payee_name, &l.account, l.bank, &l.amount_text])
            }
            Roster::Csv(out, _) => {
                out.row(&[l.township, l.village, &l.name, &l.id, &l.account, l.bank, &l.amount_text])
            }
        }
    }

    fn finish(self) -> Res<()> {
        match self {
            Roster::Xlsx(mut wb, path, _) => Ok(wb.save(path)?),
            Roster::Csv(out, _) => out.finish(),
        }
    }
}

const CONFIG: &str = r#"# Benchmark office written by examples/gen_office.rs
[office]
name = "示例县民政局"
uscc = "113307290025311719"

[ledger]
path = "state/ledger.db"

[output]
dir = "out"

[signing]
algorithm = "sm2"
key = "keys/signing.pem"
distid = "1234567812345678"

[inputs]
approvals = "rosters/{period}/approvals.csv"
stops = "stops.csv"

[payers.main]
name = "示例县民政局社会救助资金专户"
account = "33001610000053012345"
bank_code = "105331000011"

[payers.veterans]
name = "示例县民政局优抚资金专户"
account = "33001610000053067890"
bank_code = "105331000011"

[programs.dibao]
schedule = "monthly"
payer = "main"
format = "pain001-v09"
roster = "rosters/{period}/dibao.xlsx"
cap = "3000.00"
purpose = "BENE"

[programs.wubao]
schedule = "monthly"
payer = "main"
format = "pipe-gbk"
roster = "rosters/{period}/wubao.csv"
cap = "5000.00"
purpose = "BENE"

[programs.youfu]
schedule = "monthly"
payer = "veterans"
format = "pain001-v03"
roster = "rosters/{period}/youfu.csv"
cap = "8000.00"
purpose = "PENS"

[programs.yiwubing]
schedule = "monthly"
payer = "veterans"
format = "fixed-gbk"
roster = "rosters/{period}/yiwubing.csv"
cap = "20000.00"
purpose = "GOVT"

[programs.yimin]
schedule = "monthly"
payer = "main"
format = "fen-gbk"
roster = "rosters/{period}/yimin.csv"
cap = "600.00"
purpose = "GOVT"

[checks]
change_warn_share = "0.2"
"#;

struct Args {
    dir: PathBuf,
    lines: u64,
    seed: u64,
    period: String,
    /// `--yimin-monthly`: 移民直补 at 49 yuan a line (49.50 for a quarter of
    /// them: at most 594 a year in twelve months) instead of 300: an office paid month after month (`scripts/bench
    /// --months`) then stays within its annual cap (A02) all year, so every
    /// month pays the same lines.
    yimin_monthly: bool,
}

fn args() -> Res<Args> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let flag = |f: &str| a.iter().position(|x| x == f).and_then(|i| a.get(i + 1)).cloned();
    let dir = a
        .first()
        .filter(|d| !d.starts_with("--"))
        .ok_or("usage: gen_office DIR --lines N --seed S [--period YYYY-MM] [--yimin-monthly]")?;
    Ok(Args {
        dir: PathBuf::from(dir),
        lines: flag("--lines").unwrap_or_else(|| "100000".into()).replace('_', "").parse()?,
        seed: flag("--seed").unwrap_or_else(|| "1".into()).parse()?,
        period: flag("--period").unwrap_or_else(|| "2026-11".into()),
        yimin_monthly: a.iter().any(|x| x == "--yimin-monthly"),
    })
}

fn generate(a: &Args) -> Res<()> {
    let rdir = a.dir.join("rosters").join(&a.period);
    std::fs::create_dir_all(&rdir)?;
    std::fs::create_dir_all(a.dir.join("state"))?;
    std::fs::write(a.dir.join("disburse.toml"), CONFIG)?;
    let mut rng = Rng(a.seed ^ 0xD15B_0123_2026_1101);
    let mut approvals = String::from("program,count,total,reference,approved_by,approved_on\n");
    let mut stops = String::from("id_number,reason,effective\n");
    let mut base = 0u64;
    let progs = PROGS.map(|p| if a.yimin_monthly && p.code == "yimin" { Prog { lo: 49, hi: 49, ..p } } else { p });
    for (k, prog) in progs.iter().enumerate() {
        let count = if k == PROGS.len() - 1 { a.lines - base } else { (a.lines * prog.per_mille / 1000).max(1) };
        let mut out = open_roster(&rdir, prog.code)?;
        let mut m = Maker { rng: &mut rng, prog, base, prev: None };
        let mut total = Fen(0);
        for i in 0..count {
            let l = m.line(i);
            total = Fen(total.0 + l.amount.0);
            out.write(i, &l)?;
            if i % 20_011 == 17 && IdNumber::parse(&l.id).is_ok() {
                stops += &format!("{},death,2026-01-15\n", l.id);
            }
        }
        out.finish()?;
        approvals +=
            &format!("{},{count},{},示民审〔2026〕{}号,陈立新,2026-10-27\n", prog.code, total.yuan_string(), 200 + k);
        base += count;
    }
    std::fs::write(rdir.join("approvals.csv"), approvals)?;
    std::fs::write(a.dir.join("stops.csv"), stops)?;
    let key = a.dir.join("keys/signing.pem");
    if !key.exists() {
        std::fs::create_dir_all(a.dir.join("keys"))?;
        disburse::sign::keygen("sm2", &key)?;
    }
    Ok(())
}

fn main() {
    let result = args().and_then(|a| {
        generate(&a)?;
        println!("gen_office: {} lines for {} in {}", a.lines, a.period, a.dir.display());
        Ok(())
    });
    if let Err(e) = result {
        eprintln!("gen_office: {e}");
        std::process::exit(1);
    }
}
