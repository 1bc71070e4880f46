//! Which ledger a config names, opening it, and the shared ledger's URL rules.

use super::{Ledger, LedgerError, PgLedger, SqliteLedger};
use crate::config::{Config, LedgerTarget};
pub use crate::pgurl::{check_server_url, mask_url};

/// Opens (creating and migrating on first use) the ledger the config names.
pub fn open(config: &Config) -> Result<Box<dyn Ledger + Send>, LedgerError> {
    match &config.ledger {
        LedgerTarget::File(path) => Ok(Box::new(SqliteLedger::open(path)?)),
        LedgerTarget::Server { url } => Ok(Box::new(PgLedger::open(url, office_code(config)?)?)),
    }
}

/// Whether the ledger may hold anything yet: an SQLite file that exists, or any
/// shared ledger (a server is there whether or not this office ran).
pub fn exists(config: &Config) -> bool {
    match &config.ledger {
        LedgerTarget::File(path) => path.exists(),
        LedgerTarget::Server { .. } => true,
    }
}

pub(super) fn office_code(config: &Config) -> Result<&str, LedgerError> {
    config.office.code.as_deref().ok_or_else(|| LedgerError::Server {
        target: String::new(),
        message: "a shared ledger needs [office] code".into(),
    })
}

/// The advisory-lock key of an office: "disb" in the high half (so the keys stay
/// apart from another program's on the same server) and the office code below.
pub fn server_office_key(code: &str) -> i64 {
    (0x6469_7362_i64 << 32) | code.parse::<i64>().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_wherever_a_url_carries_them() {
        assert_eq!(mask_url("postgresql://u:secret@h:5432/db"), "postgresql://u:***@h:5432/db");
        assert_eq!(mask_url("postgresql://u:p@ss@h/db"), "postgresql://u:***@h/db");
        assert_eq!(mask_url("postgres://h/db?password=secret&x=1"), "postgres://h/db?password=***&x=1");
        assert_eq!(mask_url("postgresql://u@h/db"), "postgresql://u@h/db");
        assert_eq!(mask_url("postgresql://h/db"), "postgresql://h/db");
    }

    #[test]
    fn a_url_with_a_password_is_refused_without_repeating_it() {
        for url in ["postgresql://u:secret@h/db", "postgresql://u@h/db?password=secret"] {
            let e = check_server_url(url).unwrap_err();
            assert!(!e.contains("secret"), "{e}");
            assert!(e.contains("DISBURSE_LEDGER_PASSWORD"), "{e}");
        }
        assert!(check_server_url("postgresql://disburse@db.example:5432/province").is_ok());
        assert!(check_server_url("postgresql://disburse@%2Ftmp%2Fpg:5432/province").is_ok());
        assert!(check_server_url("mysql://u@h/db").is_err());
    }

    #[test]
    fn office_keys_differ_by_office_and_stay_in_our_range() {
        assert_ne!(server_office_key("330729"), server_office_key("330781"));
        assert_eq!(server_office_key("330729") >> 32, 0x6469_7362);
    }
}
