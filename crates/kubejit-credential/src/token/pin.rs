//! Where the token PIN comes from: a private file named by the URI, `KUBEJIT_PKCS11_PIN`, or a prompt
//! on the terminal — never a command-line value.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use secrecy::SecretString;

use super::TokenError;

/// The environment variable read when the URI names no `pin-source`.
pub const PIN_ENV: &str = "KUBEJIT_PKCS11_PIN";

/// The PIN for `token`: `pin_file` when given, else [`PIN_ENV`], else a prompt on /dev/tty.
pub fn read_pin(pin_file: Option<&Path>, token: &str) -> Result<SecretString, TokenError> {
    if let Some(path) = pin_file {
        return pin_from_file(path);
    }
    if let Some(pin) = std::env::var_os(PIN_ENV).filter(|v| !v.is_empty()) {
        return pin
            .into_string()
            .map(SecretString::from)
            .map_err(|_| TokenError::PinNotUtf8);
    }
    prompt(token)
}

/// A PIN file readable by others is refused, as ssh refuses an open private key.
pub(crate) fn pin_from_file(path: &Path) -> Result<SecretString, TokenError> {
    let read_err = |source| TokenError::ReadPin {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(read_err)?;
    let mode = file.metadata().map_err(read_err)?.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(TokenError::PinFileTooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    let mut text = String::new();
    file.take(1024)
        .read_to_string(&mut text)
        .map_err(read_err)?;
    let pin = text.trim_end_matches(['\n', '\r']);
    if pin.is_empty() {
        return Err(TokenError::EmptyPin {
            path: path.to_owned(),
        });
    }
    Ok(SecretString::from(pin.to_owned()))
}

/// Asks on the controlling terminal with echo off; without a terminal, says how to give the PIN.
fn prompt(token: &str) -> Result<SecretString, TokenError> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    let mut tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|_| TokenError::NoPin)?;
    let saved = tcgetattr(&tty).map_err(|_| TokenError::NoPin)?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&tty, SetArg::TCSANOW, &quiet).map_err(|_| TokenError::NoPin)?;
    let _ = write!(tty, "PIN for PKCS#11 token {token}: ");
    let _ = tty.flush();
    let mut line = String::new();
    let read = tty
        .try_clone()
        .and_then(|t| BufReader::new(t).read_line(&mut line));
    // Echo comes back whatever happened to the read.
    let _ = tcsetattr(&tty, SetArg::TCSANOW, &saved);
    let _ = writeln!(tty);
    read.map_err(|_| TokenError::NoPin)?;
    let pin = line.trim_end_matches(['\n', '\r']).to_owned();
    if pin.is_empty() {
        return Err(TokenError::NoPin);
    }
    Ok(SecretString::from(pin))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::os::unix::fs::PermissionsExt;

    use secrecy::ExposeSecret;

    use super::*;

    fn pin_file(mode: u32, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pin");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        (dir, path)
    }

    #[test]
    fn open_or_empty_pin_files_are_refused() {
        let (_d, open) = pin_file(0o644, "1234\n");
        assert!(matches!(
            pin_from_file(&open),
            Err(TokenError::PinFileTooOpen { mode: 0o644, .. })
        ));
        let (_d, empty) = pin_file(0o600, "\n");
        assert!(matches!(
            pin_from_file(&empty),
            Err(TokenError::EmptyPin { .. })
        ));
        assert!(matches!(
            pin_from_file(Path::new("/nonexistent/pin")),
            Err(TokenError::ReadPin { .. })
        ));
    }

    #[test]
    fn private_pin_file_is_read_without_newline() {
        let (_d, path) = pin_file(0o600, "123456\n");
        let pin = pin_from_file(&path).unwrap();
        assert_eq!(pin.expose_secret(), "123456");
        assert!(!format!("{pin:?}").contains("123456"));
    }
}
