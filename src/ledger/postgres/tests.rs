//! What can be checked of the shared ledger without a server: that its SQL
//! keeps to what openGauss and KingbaseES accept too (docs/POSTGRES.md), and the
//! shape of its queries. Behaviour against a server: tests/multi_office.rs and
//! the scenarios of tests/office.rs, crash.rs and props.rs run on both backends.

use super::queries::*;
use super::MIGRATIONS;

#[test]
fn the_schema_keeps_to_sql_the_derived_engines_accept() {
    for sql in MIGRATIONS {
        let upper = sql.to_uppercase();
        let code: String = upper.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
        for unsupported in ["ON CONFLICT", "GENERATED", "IDENTITY", "JSONB", "INCLUDE (", "NULLS NOT DISTINCT"] {
            assert!(!code.contains(unsupported), "schema uses {unsupported}");
        }
    }
}

#[test]
fn every_office_query_names_the_office_and_the_rollup_does_not() {
    assert!(period_status_sql(false).contains("r.office = $2"));
    assert!(!period_status_sql(true).contains("r.office ="));
    assert!(period_status_sql(true).contains("GROUP BY") && period_status_sql(true).ends_with("r.office"));
    for sql in [PAID_PEOPLE_SQL, LAST_PERIOD_SQL, PAID_IN_PERIOD_SQL, NAMED_PEOPLE_SQL, DECEASED_SQL] {
        assert!(sql.contains("office = $1"), "{sql}");
    }
    assert!(PAID_ELSEWHERE_SQL.contains("r.office <> $1"));
    assert!(payments_in_file_sql().contains("f.office = $1"));
}
