//! Private files: an owner-only directory check, and atomic 0600 writes (temp file + rename).

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::CredentialError;

/// Creates `dir` (and missing parents) owner-only, then refuses it unless it is a directory that we own
/// and that nobody else may read, write or enter. Private keys live there.
pub fn ensure_private_dir(dir: &Path) -> Result<(), CredentialError> {
    if !dir.exists() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| CredentialError::CreateCacheDir {
                path: dir.to_path_buf(),
                source,
            })?;
    }
    check_private_dir(dir)
}

/// The check alone: a directory, owned by the effective user, with no group or other permission bits.
pub fn check_private_dir(dir: &Path) -> Result<(), CredentialError> {
    let meta = std::fs::metadata(dir).map_err(|source| CredentialError::InspectCacheDir {
        path: dir.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(CredentialError::CacheDirNotDirectory {
            path: dir.to_path_buf(),
        });
    }
    let uid = nix::unistd::geteuid().as_raw();
    if meta.uid() != uid {
        return Err(CredentialError::CacheDirNotOwned {
            path: dir.to_path_buf(),
            owner: meta.uid(),
            uid,
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(CredentialError::CacheDirTooOpen {
            path: dir.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically with mode 0600: readers see the old file or the new one, never
/// a torn write, and the file is never readable by others, not even for an instant.
pub fn write_private_atomic(path: &Path, bytes: &[u8]) -> Result<(), CredentialError> {
    let err = |source| CredentialError::WriteCache {
        path: path.to_path_buf(),
        source,
    };
    let tmp = temp_path(path);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(err)
}

/// A sibling temp name unique to this process and moment, so concurrent writers never share one.
fn temp_path(path: &Path) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = path
        .file_name()
        .map_or_else(Default::default, |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.{}.{nanos}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn creates_owner_only_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b/credentials");
        ensure_private_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn refuses_directories_others_can_use() {
        let tmp = tempfile::tempdir().unwrap();
        for (mode, refused) in [
            (0o700, false),
            (0o500, false),
            (0o750, true),
            (0o705, true),
            (0o777, true),
            (0o701, true),
        ] {
            chmod(tmp.path(), mode);
            let result = check_private_dir(tmp.path());
            assert_eq!(result.is_err(), refused, "mode {mode:o}: {result:?}");
            if let Err(err) = result {
                let msg = err.to_string();
                assert!(
                    msg.contains(&format!("chmod 700 {}", tmp.path().display())),
                    "{msg}"
                );
            }
        }
        chmod(tmp.path(), 0o700);
    }

    #[test]
    fn refuses_a_file_as_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        std::fs::write(&file, "x").unwrap();
        assert!(matches!(
            check_private_dir(&file),
            Err(CredentialError::CacheDirNotDirectory { .. })
        ));
    }

    #[test]
    fn atomic_writes_are_0600_and_replace() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("entry.json");
        write_private_atomic(&path, b"one").unwrap();
        write_private_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        let leftovers = std::fs::read_dir(tmp.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temp files left behind");
    }
}
