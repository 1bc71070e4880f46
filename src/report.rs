//! Reports people read: CSV lists, 汇总表 (.xlsx), 发放名册, 公示 and the one-page
//! HTML run report. (Stub: lands in its own change.)
