//! The progress display of a command (进度): one display for the whole command,
//! a bar per stage with its total known before it starts, a rate and the time
//! left, in the clerk's language (SPEC §13). Bars are removed as their stage
//! ends, so nothing is left on the screen; under cron (stderr not a terminal,
//! or JSON logs) there is no display at all and the counting costs nothing.

use std::fmt::Write as _;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// The display of one command; cheap to share between the reading threads.
pub struct Progress {
    multi: Option<MultiProgress>,
}

/// What a stage counts: bytes of a file, or lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    Bytes,
    Lines,
}

impl Progress {
    /// A display on stderr when `enabled` (a terminal, text logs), else nothing.
    pub fn new(enabled: bool) -> Progress {
        let multi = enabled.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)));
        Progress { multi }
    }

    /// Whether anything is shown: a stage may skip counting its total when not.
    pub(crate) fn shown(&self) -> bool {
        self.multi.is_some()
    }

    /// A bar for a stage of `total` units, labelled `what` (in the clerk's
    /// language); without a total (a workbook's rows cannot be counted before it
    /// is read) a count and a rate.
    pub(crate) fn bar(&self, what: &str, total: Option<u64>, unit: Unit) -> Bar {
        let Some(multi) = &self.multi else {
            return Bar { bar: None, n: 0, unit };
        };
        let bar = multi.add(match total {
            Some(t) => ProgressBar::new(t),
            None => ProgressBar::no_length(),
        });
        bar.set_style(style(unit, total.is_some()));
        bar.set_message(what.to_string());
        Bar { bar: Some(bar), n: 0, unit }
    }

    /// A line written to stderr while the display is up (a log line): the bars
    /// step aside for it and are drawn again below, so neither is torn.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.multi {
            Some(m) => m.suspend(f),
            None => f(),
        }
    }

    /// Removes whatever is still drawn (a stage that stopped on an error).
    pub fn clear(&self) {
        if let Some(m) = &self.multi {
            let _ = m.clear();
        }
    }

    /// A writer for the log lines of the command that goes through [`Progress::suspend`].
    pub fn log_writer(&self) -> LogWriter {
        LogWriter { multi: self.multi.clone() }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}

/// One stage's bar. Counting is batched: a roster of a million lines moves the
/// bar every few thousand, not a million times.
pub(crate) struct Bar {
    bar: Option<ProgressBar>,
    n: u64,
    unit: Unit,
}

impl Bar {
    /// One more line (or `n` more bytes).
    pub(crate) fn inc(&mut self, n: u64) {
        self.n += n;
        let step = if self.unit == Unit::Bytes { 1 << 20 } else { 4096 };
        if let Some(b) = &self.bar {
            if self.n.saturating_sub(b.position()) >= step {
                b.set_position(self.n);
            }
        }
    }

    /// One more line.
    pub(crate) fn tick(&mut self) {
        self.inc(1);
    }

    /// The stage is done: its bar goes away.
    pub(crate) fn finish(mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            if !b.is_finished() {
                b.finish_and_clear();
            }
        }
    }
}

fn style(unit: Unit, known: bool) -> ProgressStyle {
    let en = crate::lang::english();
    let template = match (unit, en) {
        (Unit::Lines, false) if !known => "{msg:24} {spinner} {human_pos} 行  {rate}",
        (Unit::Lines, true) if !known => "{msg:24} {spinner} {human_pos} lines  {rate}",
        (Unit::Lines, false) => "{msg:24} [{bar:30}] {human_pos}/{human_len} 行  {rate}  剩余 {left}",
        (Unit::Lines, true) => "{msg:24} [{bar:30}] {human_pos}/{human_len} lines  {rate}  {left} left",
        (Unit::Bytes, false) => "{msg:24} [{bar:30}] {binary_bytes}/{binary_total_bytes}  {rate}  剩余 {left}",
        (Unit::Bytes, true) => "{msg:24} [{bar:30}] {binary_bytes}/{binary_total_bytes}  {rate}  {left} left",
    };
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
        .with_key("rate", move |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&rate(s.per_sec(), unit, en));
        })
        .with_key("left", move |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&time_left(s.eta().as_secs(), en));
        })
}

/// A rate a person reads: "12,345 行/秒", "38.2 MiB/s" — whole lines, no
/// "578,385.7018/s".
fn rate(per_sec: f64, unit: Unit, en: bool) -> String {
    if !per_sec.is_finite() || per_sec <= 0.0 {
        return String::new();
    }
    match unit {
        Unit::Lines => {
            let n = per_sec.round() as u64;
            if en {
                format!("{} lines/s", thousands(n))
            } else {
                format!("{} 行/秒", thousands(n))
            }
        }
        Unit::Bytes => {
            let mib = per_sec / (1024.0 * 1024.0);
            if en {
                format!("{mib:.1} MiB/s")
            } else {
                format!("{mib:.1} MiB/秒")
            }
        }
    }
}

/// "1,234,567".
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// "约 2 分 05 秒" / "about 2 min 05 s".
fn time_left(secs: u64, en: bool) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    if en {
        let _ = match (h, m) {
            (0, 0) => write!(out, "about {s} s"),
            (0, _) => write!(out, "about {m} min {s:02} s"),
            _ => write!(out, "about {h} h {m:02} min"),
        };
    } else {
        let _ = match (h, m) {
            (0, 0) => write!(out, "约 {s} 秒"),
            (0, _) => write!(out, "约 {m} 分 {s:02} 秒"),
            _ => write!(out, "约 {h} 小时 {m:02} 分"),
        };
    }
    out
}

/// The log lines of a command on stderr, written with the bars out of the way.
#[derive(Clone)]
pub struct LogWriter {
    multi: Option<MultiProgress>,
}

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &self.multi {
            Some(m) => m.suspend(|| std::io::Write::write_all(&mut std::io::stderr(), buf)).map(|()| buf.len()),
            None => std::io::Write::write(&mut std::io::stderr(), buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::Write::flush(&mut std::io::stderr())
    }
}

/// The lines of a text roster, counted before it is read so its bar has a total
/// (only when a display is shown: memchr reads a roster in a few milliseconds
/// per hundred megabytes, from the page cache the reading then uses).
pub(crate) fn count_lines(path: &std::path::Path) -> Option<u64> {
    use std::io::Read as _;
    let mut f = std::fs::File::open(path).ok()?;
    let mut buf = vec![0u8; 1 << 20];
    let mut lines = 0u64;
    let mut last = b'\n';
    loop {
        let n = f.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        lines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
        last = buf[n - 1];
    }
    Some(lines + u64::from(last != b'\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_times_read_as_a_person_writes_them() {
        assert_eq!(rate(578_385.7018, Unit::Lines, false), "578,386 行/秒");
        assert_eq!(rate(578_385.7018, Unit::Lines, true), "578,386 lines/s");
        assert_eq!(rate(3.0 * 1024.0 * 1024.0, Unit::Bytes, true), "3.0 MiB/s");
        assert_eq!(rate(f64::INFINITY, Unit::Lines, true), "");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(time_left(5, false), "约 5 秒");
        assert_eq!(time_left(125, false), "约 2 分 05 秒");
        assert_eq!(time_left(3 * 3600 + 60, true), "about 3 h 01 min");
    }

    #[test]
    fn lines_are_counted_with_or_without_a_last_newline() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.csv");
        std::fs::write(&p, "a\nb\nc").unwrap();
        assert_eq!(count_lines(&p), Some(3));
        std::fs::write(&p, "a\nb\n").unwrap();
        assert_eq!(count_lines(&p), Some(2));
        std::fs::write(&p, "").unwrap();
        assert_eq!(count_lines(&p), Some(0));
    }

    #[test]
    fn nothing_is_shown_or_counted_off_a_terminal() {
        let p = Progress::new(false);
        assert!(!p.shown());
        let mut b = p.bar("x", Some(10), Unit::Lines);
        b.tick();
        assert!(b.bar.is_none());
        b.finish();
    }
}
