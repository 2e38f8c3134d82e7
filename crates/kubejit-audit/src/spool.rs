//! The fallback spool: records of actions already taken that the primary sink could not accept, kept
//! in a local JSON-lines file until they are replayed into the trail.
//!
//! Format (shared with every kubejit writer): for a trail at `X` the spool is `X.spool`; one serialized
//! record ([`Stamped`]) per line, appended and fsync'd one at a time, sequence `0` (the trail assigns it on
//! replay). A crash mid-append can leave a torn last line; it was never acknowledged, so readers skip
//! it and the next append cuts it off first.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::escape::to_json_line;
use crate::lines::{Line, MAX_LINE_BYTES, read_line};
use crate::{AuditError, Stamped};

/// A spool file. Not synchronised: its one owner ([`crate::Auditor`]) serialises access.
#[derive(Debug, Clone)]
pub struct Spool {
    path: PathBuf,
}

/// The spool path for a trail at `trail`: the same path with `.spool` appended.
pub fn spool_path(trail: &Path) -> PathBuf {
    let mut path = trail.as_os_str().to_owned();
    path.push(".spool");
    PathBuf::from(path)
}

impl Spool {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The spool of the trail at `trail` ([`spool_path`]).
    pub fn beside(trail: &Path) -> Self {
        Self::new(spool_path(trail))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `event` as one line and fsyncs it; returns only once it is durable.
    pub fn append(&self, event: &Stamped) -> Result<(), AuditError> {
        let mut line = to_json_line(event)?;
        line.push(b'\n');
        let created = !self.path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&self.path)
            .map_err(|source| self.write_error(source))?;
        let len = cut_torn_tail(&mut file).map_err(|source| self.write_error(source))?;
        if let Err(source) = file.write_all(&line).and_then(|()| file.sync_data()) {
            // Leave no partial line behind if we can; a torn tail is cut by the next append anyway.
            let _ = file.set_len(len).and_then(|()| file.sync_data());
            return Err(self.write_error(source));
        }
        if created {
            self.sync_dir().map_err(|source| self.write_error(source))?;
        }
        Ok(())
    }

    /// Every whole record in the spool, oldest first; empty when there is no spool file.
    pub fn read(&self) -> Result<Vec<Stamped>, AuditError> {
        let file = match File::open(&self.path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(self.read_error(source)),
        };
        let mut reader = BufReader::new(file);
        let (mut buf, mut events, mut line) = (Vec::new(), Vec::new(), 0_u64);
        loop {
            line = line.saturating_add(1);
            match read_line(&mut reader, &mut buf, MAX_LINE_BYTES) {
                Ok(Line::Eof) => return Ok(events),
                Ok(Line::TooLong) => {
                    return Err(AuditError::LineTooLong {
                        what: self.path.display().to_string(),
                        line,
                        limit: MAX_LINE_BYTES,
                    });
                }
                Ok(Line::Read) => {}
                Err(source) => return Err(self.read_error(source)),
            }
            // A torn last line was never acknowledged to anyone: it is not a record.
            let Some(body) = buf.strip_suffix(b"\n") else {
                return Ok(events);
            };
            // A writer put it there: only an event made by `AuditEvent::at` is ever appended.
            let record = serde_json::from_slice(body).map_err(|source| AuditError::ParseSpool {
                path: self.path.clone(),
                line,
                source,
            })?;
            events.push(Stamped::new(record));
        }
    }

    /// Empties the spool once its records are in the trail.
    pub fn clear(&self) -> Result<(), AuditError> {
        let file = match OpenOptions::new().write(true).open(&self.path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(self.write_error(source)),
        };
        file.set_len(0)
            .and_then(|()| file.sync_data())
            .map_err(|source| self.write_error(source))
    }

    /// A new file's name is durable only once its directory is synced.
    fn sync_dir(&self) -> std::io::Result<()> {
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
            Some(_) | None => File::open(".")?.sync_all(),
        }
    }

    fn write_error(&self, source: std::io::Error) -> AuditError {
        AuditError::Write {
            target: self.path.display().to_string(),
            source,
        }
    }

    fn read_error(&self, source: std::io::Error) -> AuditError {
        AuditError::Read {
            what: self.path.display().to_string(),
            source,
        }
    }
}

/// Cuts a torn last line (a crash mid-append) back to the last newline; returns the new length.
fn cut_torn_tail(file: &mut File) -> std::io::Result<u64> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(0);
    }
    let mut last = [0_u8];
    file.seek(SeekFrom::Start(len.saturating_sub(1)))?;
    file.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(len);
    }
    // Rare (only after a crash): scan the whole file for its last newline.
    file.seek(SeekFrom::Start(0))?;
    let mut content = Vec::new();
    file.read_to_end(&mut content)?;
    let keep = memchr::memrchr(b'\n', &content).map_or(0, |at| at.saturating_add(1));
    let keep = u64::try_from(keep).unwrap_or(len);
    file.set_len(keep)?;
    file.sync_data()?;
    Ok(keep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Actor, AuditRecord, EventKind, Timestamp};

    fn event(name: &str) -> Stamped {
        let mut e = AuditRecord::blank(
            EventKind::GrantExpired,
            Actor::controller("test"),
            Timestamp::parse("2024-05-01T10:00:00Z").unwrap(),
        );
        e.subject = Some(name.to_owned());
        e.stamped()
    }

    #[test]
    fn the_spool_sits_beside_its_trail() {
        let cases = [
            (
                "/var/lib/kubejit/trail.jsonl",
                "/var/lib/kubejit/trail.jsonl.spool",
            ),
            ("trail", "trail.spool"),
        ];
        for (trail, want) in cases {
            assert_eq!(spool_path(Path::new(trail)), PathBuf::from(want));
        }
    }

    #[test]
    fn appended_records_read_back_in_order_and_clear_empties() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::beside(&dir.path().join("trail.jsonl"));
        assert!(
            spool.read().unwrap().is_empty(),
            "no file is an empty spool"
        );
        let (a, b) = (event("a"), event("b\n\u{2028}\"}"));
        spool.append(&a).unwrap();
        spool.append(&b).unwrap();
        assert_eq!(spool.read().unwrap(), vec![a, b]);
        let text = std::fs::read_to_string(spool.path()).unwrap();
        assert_eq!(text.lines().count(), 2, "one record per line: {text}");
        spool.clear().unwrap();
        assert!(spool.read().unwrap().is_empty());
    }

    #[test]
    fn a_torn_last_line_is_skipped_then_cut_by_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path().join("s"));
        let (a, b) = (event("a"), event("b"));
        spool.append(&a).unwrap();
        let mut file = OpenOptions::new().append(true).open(spool.path()).unwrap();
        file.write_all(br#"{"schemaVersion":1,"seq"#).unwrap();
        assert_eq!(spool.read().unwrap(), vec![a.clone()]);
        spool.append(&b).unwrap();
        assert_eq!(spool.read().unwrap(), vec![a, b]);
    }

    #[test]
    fn a_corrupt_record_is_an_error_naming_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path().join("s"));
        spool.append(&event("a")).unwrap();
        let mut file = OpenOptions::new().append(true).open(spool.path()).unwrap();
        file.write_all(b"not json\n").unwrap();
        let err = spool.read().unwrap_err();
        assert!(
            matches!(err, AuditError::ParseSpool { line: 2, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn a_write_failure_is_an_error() {
        let spool = Spool::new("/dev/full");
        let err = spool.append(&event("a")).unwrap_err();
        assert!(matches!(err, AuditError::Write { .. }), "{err:?}");
    }
}
