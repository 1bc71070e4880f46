//! The example office's `disburse.toml` and `README.md`, written for a clerk:
//! every key explained in Chinese and English.

/// `disburse.toml` in the shape of SPEC §2, with the office's computed USCC.
pub(crate) fn config_toml(uscc: &str) -> String {
    CONFIG.replace("{uscc}", uscc)
}

const CONFIG: &str = r#"# 示例县民政局 · disburse 配置文件
# Example county office · disburse configuration
#
# 相对路径都从本文件所在的文件夹算起；路径里的 {period} 会换成发放月份（如 2026-11）。
# Relative paths start from this file's folder; {period} in a path becomes the month paid (e.g. 2026-11).
# 金额一律写成带引号的元，如 "3000.00"。 Amounts are quoted yuan, e.g. "3000.00".

[office]
# 付款单位名称（写进银行文件）/ Paying office, as written into the bank files
name = "示例县民政局"
# 统一社会信用代码，18位，末位是 GB 32100 校验码 / Unified social credit code (last character is the GB 32100 check)
uscc = "{uscc}"

[ledger]
# 发放台账（SQLite）：记下每一笔已发出的款项，保证同一人同一月不会发两次。请每天备份，切勿手工修改。
# Payment ledger (SQLite): remembers every line sent so nobody is paid twice. Back it up daily; never edit it by hand.
path = "state/ledger.db"

[output]
# 每月的银行文件、签名和报表写在 out/<月份>/ 下 / Bank files, signatures and reports go to out/<period>/
dir = "out"

[signing]
# 签名算法：sm2（国密 SM2 + SM3）或 ed25519 / Signature algorithm: sm2 (SM2 with SM3) or ed25519
algorithm = "sm2"
# 私钥文件，由 disburse init 生成；只有本机账户可读，不要拷给任何人 / Private key made by init; keep it private
key = "keys/signing.pem"
# SM2 用户标识（与银行约定；默认 1234567812345678）/ SM2 distinguishing ID agreed with the bank
distid = "1234567812345678"

[inputs]
# 每月审批单：每个项目一行，笔数和总金额必须与名册完全一致，否则该项目不发
# Monthly approvals: one line per program; count and total must match the roster exactly or the program is refused
approvals = "rosters/{period}/approvals.csv"
# 停发名单（死亡、服刑、取消、迁出）：生效日期在发放月1日或之前的人不发（可不设）
# Stop list (death, prison, cancelled, moved): people stopped on or before the month's first day are not paid (optional)
stops = "stops.csv"

# 付款账户：款项从哪个专户付出 / Paying accounts
[payers.main]
# 账户名称 / Account name
name = "示例县民政局社会救助资金专户"
# 账号 / Account number
account = "33001610000053012345"
# 开户行联行号（12位 CNAPS 行号）/ CNAPS code of the branch (12 digits)
bank_code = "105331000011"

[payers.veterans]
# 优抚、义务兵优待金从优抚资金专户付出 / Veterans' and conscript-family payments come from this account
name = "示例县民政局优抚资金专户"
account = "33001610000053067890"
bank_code = "105331000011"

# 每个项目一张表。键的含义：
#   schedule 发放月份：monthly 每月 | quarterly 每季首月 | half-yearly 1月和7月 | annual 1月 | [10, 11] 列出月份
#   payer    用哪个付款账户（上面 [payers.*] 的名字）
#   format   银行文件格式：pain001-v09 / pain001-v03（ISO 20022 XML），或 formats/ 里的文本格式名
#   roster   名册文件（.csv 或 .xlsx；编码自动识别）
#   cap      单笔最高金额，超过的行暂缓发放（V04）
#   purpose  ISO 20022 用途代码
# One table per program. schedule: months it pays; payer: a [payers.*] name; format: bank file layout;
# roster: the roster file; cap: largest amount one line may carry (above it the line is held, V04);
# purpose: ISO 20022 purpose code.

[programs.dibao]
# 城乡低保：每月发放，名册是乡镇报来的 Excel 表 / Minimum living allowance: monthly, an Excel roster
schedule = "monthly"
payer = "main"
format = "pain001-v09"
roster = "rosters/{period}/dibao.xlsx"
# sheet = "发放名册"                 # 工作表名；不写则读第一个工作表 / worksheet name; first sheet if absent
cap = "3000.00"
purpose = "BENE"

[programs.wubao]
# 特困供养：每月发放；集中供养的钱打到敬老院账户，分散供养的打给本人（GBK 编码的 CSV）
# Extreme-poverty support: monthly; 集中 lines go to the care home's account, 分散 lines to the person (GBK CSV)
schedule = "monthly"
payer = "main"
format = "pipe-gbk"
roster = "rosters/{period}/wubao.csv"
cap = "5000.00"
purpose = "BENE"

[programs.youfu]
# 优抚对象抚恤补助：每月发放，从优抚专户付 / Veterans' pensions: monthly, from the veterans' account
schedule = "monthly"
payer = "veterans"
format = "pain001-v03"
roster = "rosters/{period}/youfu.csv"
cap = "8000.00"
purpose = "PENS"

[programs.yiwubing]
# 义务兵家庭优待金：全年标准分两次发，10月、11月各发一半 / Conscript-family allowance: the year's amount in two halves
schedule = [10, 11]
payer = "veterans"
format = "fixed-gbk"
roster = "rosters/{period}/yiwubing.csv"
cap = "20000.00"
purpose = "GOVT"

[programs.yimin]
# 水库移民后期扶持直补：每人每年600元，资金到位后10月发上半年、11月发下半年各300元
# Reservoir-migrant subsidy: 600 a person a year, paid as two halves of 300 in October and November
schedule = [10, 11]
payer = "main"
format = "fen-gbk"
roster = "rosters/{period}/yimin.csv"
cap = "600.00"
purpose = "GOVT"

[programs.gaoling]
# 高龄津贴：每月发放，80周岁以上（按身份证出生日期算到发放月1日）；金额按年龄档核对，不符的暂缓（A03）
# Old-age allowance: monthly, 80 and over on the month's first day (from the ID number); amounts checked by age band
schedule = "monthly"
payer = "main"
format = "pain001-v09"
roster = "rosters/{period}/gaoling.csv"
cap = "1000.00"
purpose = "BENE"
# 年龄下限（不到的暂缓，A01）/ youngest age paid (below it the line is held, A01)
min_age = 80
# 按年龄的发放标准：名册金额与标准不同的暂缓（A03）/ standard amount by age (a different amount is held, A03)
standards = [
  { min_age = 80, amount = "100.00" },
  { min_age = 90, amount = "200.00" },
  { min_age = 100, amount = "500.00" },
]
# 其他可设的规则 / other rule keys: max_age, annual_cap, exclusive_with, payees, guardian_only_for_minors,
# guardian_categories, institutions, institution_categories, funeral_months（见 README / see the README）

# 比对名单：名单上的人，hold 暂缓（R03）、warn 照发并提示（W03）；提示里写明是哪个名单
# Check lists: people on a list are held (hold, R03) or paid and flagged (warn, W03); the message names the list
[[checklists]]
name = "殡葬火化数据"
file = "lists/cremation.csv"
effect = "hold"
# programs = ["dibao", "wubao"]   # 不写则对所有项目 / absent: every program

[checks]
# 与上一个已发月份相比，金额变动超过这个比例（0.2 = 20%）就提示核实（R06，照发）
# An amount that changed by more than this share against the previous paid month is flagged (R06, still paid)
change_warn_share = "0.2"
"#;

/// The office folder's README, for the clerk who opens it first.
pub(crate) const README: &str = r#"# 示例县民政局 · 示例办公室 / Example county office

这是 `disburse init` 生成的练习用办公室，人员、身份证号和账号都是编造的。
This folder was made by `disburse init` for practice; every person, ID and account in it is made up.

## 文件 / Files

| 文件 File | 是什么 What it is |
|---|---|
| `disburse.toml` | 配置：付款单位、付款账户、六个项目的发放月份、格式和单笔上限 / configuration |
| `rosters/2026-10/`, `rosters/2026-11/` | 两个月的发放名册 / the rosters of two months |
| `  dibao.xlsx` | 城乡低保（Excel，第1行是标题）/ minimum living allowance |
| `  wubao.csv` | 特困供养（GBK 编码）/ extreme-poverty support |
| `  youfu.csv` | 优抚（英文表头，UTF-8 带 BOM）/ veterans' pensions |
| `  yiwubing.csv` | 义务兵家庭优待金 / conscript-family allowance |
| `  yimin.csv` | 水库移民直补 / reservoir-migrant subsidy |
| `  gaoling.csv` | 高龄津贴（按年龄档核对金额）/ old-age allowance, checked by age band |
| `lists/cremation.csv` | 殡葬火化数据（比对名单，名单上的人暂缓发放）/ cremation data: a check list that holds |
| `  approvals.csv` | 审批单：每个项目的笔数、总金额、审批文号 / approvals: count, total, reference |
| `stops.csv` | 停发名单（死亡、服刑等）/ stop list |
| `expected_exceptions.csv` | 名册里故意留的错误，运行后应出现在异常清单里 / mistakes planted on purpose |
| `keys/signing.pem` | 签名私钥，切勿外传 / signing key: keep it private |
| `state/`, `out/` | 运行后生成：台账和每月的银行文件、报表 / made by runs: ledger, bank files, reports |

## 怎么用 / Commands

```
disburse check  --config disburse.toml --period 2026-10   # 只检查，出报表 / check only
disburse run    --config disburse.toml --period 2026-10   # 生成银行文件并记账 / pay October
disburse run    --config disburse.toml --period 2026-11   # 再发11月 / then November
disburse status --config disburse.toml --period 2026-11
disburse verify out/2026-11                               # 核对摘要和签名 / check digests and signatures
```

有暂缓发放的行时，程序返回 2：请看 `out/<月份>/reports/exceptions.csv`，核实更正后下月补发。
When lines are held the exit status is 2: read `out/<period>/reports/exceptions.csv`.

11月名册里故意留了这些错误 / November's rosters hold these planted mistakes: 身份证校验位错 (V02)、
账号被 Excel 变成 6.22848E+18 (V03)、超过单笔上限 (V04)、缺姓名 (V01)、收款人与本人不符 (V06)、
同一人重复 (R01)、低保和特困同时享受 (R02)、已死亡仍在册 (R03)、两个不相干的人共用一个账号 (R05)、
卡号校验不过 (W01，照发并提示)、高龄津贴不满80周岁 (A01)、金额与年龄档标准不符 (A03)、
已在殡葬火化数据中 (R03，提示写明名单)。先发10月再发11月，还会看到金额变动超过20%的提示 (R06)。
"#;
