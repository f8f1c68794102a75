//! The local cache log file, `logs/cache.json`: one pino record per line,
//! as the original pino logger wrote it (docs/architecture.md), so that `pino-pretty` and `jq` read
//! it unchanged.
//!
//! Records are parsed into the core crate's [`LogRecord`] and written with
//! its [`LogRecord::to_json_line`], which fixes pino's key order (`level`,
//! `time`, `name`, `msg`, then `seq` and the fields) and escapes line breaks,
//! so one line is always one record. A run that is killed (Ctrl-C on
//! `--follow`) can at worst leave a last line without its newline; the next
//! run ends that line before appending and skips it when looking for where to
//! resume.

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use polycache_core::log::LogRecord;

use crate::error::{CliError, Result};

/// How much of the file's end is read first to find its last record; pino
/// lines are a few hundred bytes, so one window almost always holds many.
const TAIL_WINDOW: u64 = 64 * 1024;

/// The last record of the file at `path` that parses, if the file exists and
/// has one.
pub fn last_record(path: &Path) -> Result<Option<LogRecord>> {
    let cannot = |e| CliError::io(format!("cannot read {}", path.display()), e);
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(cannot(e)),
    };
    let len = file.metadata().map_err(cannot)?.len();
    let mut window = TAIL_WINDOW;
    loop {
        let start = len.saturating_sub(window);
        file.seek(SeekFrom::Start(start)).map_err(cannot)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(cannot)?;
        let text = String::from_utf8_lossy(&bytes);
        let mut lines: Vec<&str> = text.split('\n').collect();
        if start > 0 {
            // The window began inside a line.
            lines.remove(0);
        }
        let found = lines
            .iter()
            .rev()
            .filter(|l| !l.trim().is_empty())
            .find_map(|l| serde_json::from_str::<LogRecord>(l).ok());
        if found.is_some() || start == 0 {
            return Ok(found);
        }
        window = window.saturating_mul(4);
    }
}

/// Where records go: a file opened for appending, or stdout.
#[derive(Debug)]
pub struct Sink {
    target: Target,
}

#[derive(Debug)]
enum Target {
    File { path: PathBuf, file: File },
    Stdout,
}

impl Sink {
    /// Opens `path` for appending (creating it and its directory), or stdout
    /// for `-`. A file whose last line lacks its newline gets one first.
    pub fn open(path: &Path) -> Result<Sink> {
        if path == Path::new("-") {
            return Ok(Sink {
                target: Target::Stdout,
            });
        }
        let cannot = |e| CliError::io(format!("cannot write {}", path.display()), e);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(cannot)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)
            .map_err(cannot)?;
        let len = file.metadata().map_err(cannot)?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(len - 1)).map_err(cannot)?;
            file.read_exact(&mut last).map_err(cannot)?;
            if last[0] != b'\n' {
                file.write_all(b"\n").map_err(cannot)?;
            }
        }
        Ok(Sink {
            target: Target::File {
                path: path.to_owned(),
                file,
            },
        })
    }

    /// Appends the records, one line each, in one write.
    pub fn append(&mut self, records: &[LogRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut text = String::new();
        for r in records {
            text.push_str(&r.to_json_line());
            text.push('\n');
        }
        match &mut self.target {
            Target::Stdout => crate::output::text(&text),
            Target::File { path, file } => file
                .write_all(text.as_bytes())
                .and_then(|()| file.flush())
                .map_err(|e| CliError::io(format!("cannot write {}", path.display()), e)),
        }
    }

    /// Whether records go to stdout.
    pub fn is_stdout(&self) -> bool {
        matches!(self.target, Target::Stdout)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use polycache_core::log::Level;
    use serde_json::{json, Map, Value};

    fn record(seq: u64, msg: &str) -> LogRecord {
        let mut fields = Map::new();
        fields.insert("type".into(), json!("posts"));
        LogRecord {
            seq,
            level: Level::Info,
            time: 1_764_000_000_000 + seq,
            name: "cache".into(),
            msg: msg.into(),
            fields,
        }
    }

    #[test]
    fn appends_pino_lines_and_finds_the_last_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs").join("cache.json");
        assert_eq!(last_record(&path).unwrap(), None);
        let mut sink = Sink::open(&path).unwrap();
        sink.append(&[record(1, "invalidate"), record(2, "line\nbreak")])
            .unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        // pino's key order, as pino itself writes it.
        assert_eq!(
            lines[0],
            r#"{"level":30,"time":1764000000001,"name":"cache","msg":"invalidate","seq":1,"type":"posts"}"#
        );
        let second: Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(second["msg"], "line\nbreak");
        assert_eq!(last_record(&path).unwrap().unwrap().seq, 2);
    }

    #[test]
    fn a_cut_last_line_is_ended_and_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        let whole = record(5, "whole").to_json_line();
        fs::write(&path, format!("{whole}\n{{\"level\":30,\"ti")).unwrap();
        assert_eq!(last_record(&path).unwrap().unwrap().seq, 5);
        let mut sink = Sink::open(&path).unwrap();
        sink.append(&[record(6, "next")]).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let last = text.lines().last().unwrap();
        assert_eq!(serde_json::from_str::<LogRecord>(last).unwrap().seq, 6);
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn the_last_record_is_found_beyond_one_window() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        let big = "x".repeat(usize::try_from(TAIL_WINDOW).unwrap() * 2);
        fs::write(
            &path,
            format!(
                "{}\n{big}\n",
                record(7, "before a long junk line").to_json_line()
            ),
        )
        .unwrap();
        assert_eq!(last_record(&path).unwrap().unwrap().seq, 7);
    }
}
