//! A shared ledger's URL: what the config may write, and how it is shown.
//! A leaf of its own because both the config (which checks the URL when it is
//! read) and the ledger (which connects with it) need these rules.

/// A shared ledger's URL as the config may write it: `postgresql://` or
/// `postgres://`, parseable, and without a password. Why refuse one rather
/// than use it: the config is copied between desks and kept in backups; the
/// password belongs in DISBURSE_LEDGER_PASSWORD or ~/.pgpass. The message never
/// repeats the URL (it would repeat the password).
pub fn check_server_url(url: &str) -> Result<(), String> {
    if !(url.starts_with("postgresql://") || url.starts_with("postgres://")) {
        return Err(format!(
            "ledger.url '{}' is not a postgresql:// URL (e.g. postgresql://disburse@db.example:5432/province)",
            mask_url(url)
        ));
    }
    let parsed: ::postgres::Config =
        url.parse().map_err(|e| format!("ledger.url '{}' cannot be read: {e}", mask_url(url)))?;
    if parsed.get_password().is_some() {
        return Err("ledger.url carries a password: remove it from the config file (the URL is not repeated here) \
                    and give it in the environment variable DISBURSE_LEDGER_PASSWORD or in ~/.pgpass"
            .into());
    }
    Ok(())
}

/// The URL with any password replaced by `***` (in the user part and in a
/// `password=` parameter), for messages and logs.
pub fn mask_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://").map(|i| i + 3) {
        let rest = &out[scheme_end..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            if let Some(colon) = rest[..at].find(':') {
                out.replace_range(scheme_end + colon + 1..scheme_end + at, "***");
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let masked: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => kv.to_string(),
            })
            .collect();
        out = format!("{head}{}", masked.join("&"));
    }
    out
}
