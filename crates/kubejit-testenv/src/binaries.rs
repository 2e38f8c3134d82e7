//! Finds the pinned control-plane binaries, building them first when they are missing.
//!
//! The Go module and build script are embedded in this crate, so an installed `kubejit sandbox`
//! can build the control plane without a checkout of the repository.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::Error;

const BUILD_SH: &str = include_str!("../../../tools/control-plane/build.sh");
const GO_MOD: &str = include_str!("../../../tools/control-plane/go.mod");
const GO_SUM: &str = include_str!("../../../tools/control-plane/go.sum");

/// The directory holding `bin/{etcd,kube-apiserver,kube-controller-manager,kubectl,kwok}`,
/// kwok's stage configs and CRDs.
#[derive(Debug, Clone)]
pub struct Binaries {
    dir: PathBuf,
}

impl Binaries {
    /// Uses an already-built directory without building.
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn bin(&self, name: &str) -> PathBuf {
        self.dir.join("bin").join(name)
    }

    /// The real upstream kubectl built alongside the control plane.
    pub fn kubectl(&self) -> PathBuf {
        self.bin("kubectl")
    }

    pub(crate) fn require(&self, name: &str) -> Result<PathBuf, Error> {
        let path = self.bin(name);
        if path.is_file() {
            Ok(path)
        } else {
            Err(Error::MissingBinary { path })
        }
    }
}

fn cache_root() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("kubejit").join("control-plane")
}

/// Writes the embedded Go module to a content-addressed folder so concurrent callers never clash.
fn materialize_sources() -> Result<PathBuf, Error> {
    let digest = {
        use std::hash::{DefaultHasher, Hash, Hasher};
        let mut h = DefaultHasher::new();
        (BUILD_SH, GO_MOD, GO_SUM).hash(&mut h);
        h.finish()
    };
    let dir = cache_root().join("src").join(format!("{digest:016x}"));
    for (name, content) in [
        ("build.sh", BUILD_SH),
        ("go.mod", GO_MOD),
        ("go.sum", GO_SUM),
    ] {
        let path = dir.join(name);
        if std::fs::read_to_string(&path).is_ok_and(|c| c == content) {
            continue;
        }
        std::fs::create_dir_all(&dir).map_err(|source| Error::Write {
            path: dir.clone(),
            source,
        })?;
        let tmp = dir.join(format!(".{name}.{}", std::process::id()));
        std::fs::write(&tmp, content).map_err(|source| Error::Write {
            path: tmp.clone(),
            source,
        })?;
        std::fs::rename(&tmp, &path).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
    }
    Ok(dir)
}

/// Returns the control-plane binaries, building them (minutes when cold; progress on stderr) if
/// the pinned outputs are not in the cache yet. `KUBEJIT_CONTROL_PLANE_DIR` overrides the location.
pub fn ensure_built() -> Result<Binaries, Error> {
    let src = materialize_sources()?;
    let script = src.join("build.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|source| Error::Build {
            script: script.clone(),
            source: Some(source),
        })?;
    if !out.status.success() {
        return Err(Error::Build {
            script,
            source: None,
        });
    }
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    Ok(Binaries::at(dir))
}
