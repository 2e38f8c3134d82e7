//! A real PKCS#11 token for tests: SoftHSM2 (Debian's `softhsm2`) with a private configuration and
//! token directory per test, initialised non-interactively.
//!
//! The README's test command must set up a fresh machine by itself, as it builds the control plane:
//! when SoftHSM2 is missing, the first test that needs it runs `tools/softhsm/install.sh` (apt-get
//! as root or with sudo). No test skips: if that cannot install it, the test fails and says why.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use kubejit_testenv::BoundedOutput;

pub const PIN: &str = "246810";
const SO_PIN: &str = "13579111";

/// Where Debian (and Fedora) put the module.
const MODULES: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
];

fn find_module() -> Option<PathBuf> {
    MODULES.iter().map(PathBuf::from).find(|p| p.exists())
}

fn have_util() -> bool {
    Command::new("softhsm2-util")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Installs SoftHSM2 once per test process when it is missing, with the project's own script (the
/// same one `.ci/run` runs), so the README's test command needs no manual step.
fn ensure_installed() {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    let outcome = INSTALLED.get_or_init(|| {
        if find_module().is_some() && have_util() {
            return Ok(());
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/softhsm/install.sh");
        eprintln!(
            "SoftHSM2 is missing: installing it with tools/softhsm/install.sh (once per machine)"
        );
        let out = Command::new("bash")
            .arg(&script)
            .output_bounded()
            .map_err(|e| format!("could not run {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "tools/softhsm/install.sh failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(())
    });
    if let Err(why) = outcome {
        panic!(
            "SoftHSM2 is not installed and {why}: run `apt-get install softhsm2` as root (see README.md)"
        );
    }
}

pub fn module() -> PathBuf {
    ensure_installed();
    find_module().unwrap_or_else(|| {
        panic!(
            "SoftHSM2 is not installed (looked for {MODULES:?}): `apt-get install softhsm2` \
             (see README.md)"
        )
    })
}

/// One initialised token in its own directory, with a private PIN file.
pub struct SoftHsm {
    dir: tempfile::TempDir,
    pub label: String,
}

impl SoftHsm {
    pub fn new(label: &str) -> Self {
        ensure_installed();
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).unwrap();
        std::fs::write(
            dir.path().join("softhsm2.conf"),
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        let pin = dir.path().join("pin");
        std::fs::write(&pin, format!("{PIN}\n")).unwrap();
        std::fs::set_permissions(&pin, std::fs::Permissions::from_mode(0o600)).unwrap();
        let hsm = Self {
            dir,
            label: label.to_owned(),
        };
        let init = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", hsm.conf())
            .args(["--init-token", "--free", "--label", label])
            .args(["--pin", PIN, "--so-pin", SO_PIN])
            .output_bounded()
            .unwrap_or_else(|e| {
                panic!(
                    "softhsm2-util failed to run ({e}): `apt-get install softhsm2` (see README.md)"
                )
            });
        assert!(
            init.status.success(),
            "{}",
            String::from_utf8_lossy(&init.stderr)
        );
        hsm
    }

    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("softhsm2.conf")
    }

    pub fn pin_file(&self) -> PathBuf {
        self.dir.path().join("pin")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The key `id` (one byte) in this token, PIN from the private file.
    pub fn uri(&self, id: u8) -> String {
        format!(
            "pkcs11:token={};id=%{id:02x};object=kubejit-{id}?module-path={}&pin-source=file:{}",
            self.label,
            module().display(),
            self.pin_file().display()
        )
    }

    /// The kubejit binary with this token's configuration.
    pub fn kubejit(&self, args: &[&str]) -> Output {
        self.command(args).output_bounded().unwrap()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubejit"));
        cmd.env("SOFTHSM2_CONF", self.conf())
            .env_remove("KUBEJIT_PKCS11_PIN")
            .env_remove("KUBERNETES_EXEC_INFO")
            .args(args);
        cmd
    }

    /// `kubejit keys generate` for key `id`; returns the printed JSON.
    pub fn generate(&self, id: u8) -> serde_json::Value {
        let out = self.kubejit(&["keys", "generate", "--pkcs11", &self.uri(id)]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}
