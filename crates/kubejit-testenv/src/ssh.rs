//! OpenSSH keys and user certificates made with `ssh-keygen`, and the `known_hosts` line for a
//! local SSH server: what the gateway's tests and the sandbox's SSH gateway share.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use crate::{BoundedOutput, Error};

/// Runs `ssh-keygen` with `args`; its stdout, or an error that carries its stderr.
fn ssh_keygen<S: AsRef<OsStr>>(args: &[S]) -> Result<Vec<u8>, Error> {
    let out = Command::new("ssh-keygen").args(args).output_bounded()?;
    if !out.status.success() {
        let args: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
        return Err(Error::SshKeygen {
            args: args.join(" "),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(out.stdout)
}

/// A new ed25519 key pair without a passphrase at `path` (private) and `path`.pub, with `comment`
/// (`ssh-keygen`'s own, user@host, when `None`).
pub fn new_ssh_key(path: &Path, comment: Option<&str>) -> Result<(), Error> {
    let mut args: Vec<&OsStr> = ["-q", "-t", "ed25519", "-N", ""].map(OsStr::new).to_vec();
    if let Some(comment) = comment {
        args.extend([OsStr::new("-C"), OsStr::new(comment)]);
    }
    args.extend([OsStr::new("-f"), path.as_os_str()]);
    ssh_keygen(&args).map(drop)
}

/// Signs the user key `pubkey` with the CA key `ca` (`ssh-keygen -s`): key id `id`, `principals`
/// (comma-separated; none when empty), `validity` (`-V`), then `extra` (`-O …`, `-h`). The
/// certificate is written next to the key as `<name>-cert.pub`.
pub fn sign_user_key(
    ca: &Path,
    pubkey: &Path,
    id: &str,
    principals: &str,
    validity: &str,
    extra: &[&str],
) -> Result<(), Error> {
    let mut args: Vec<&OsStr> = vec![
        OsStr::new("-q"),
        OsStr::new("-s"),
        ca.as_os_str(),
        OsStr::new("-I"),
        OsStr::new(id),
        OsStr::new("-V"),
        OsStr::new(validity),
    ];
    if !principals.is_empty() {
        args.extend([OsStr::new("-n"), OsStr::new(principals)]);
    }
    args.extend(extra.iter().map(OsStr::new));
    args.push(pubkey.as_os_str());
    ssh_keygen(&args).map(drop)
}

/// The `known_hosts` line for a server on 127.0.0.1:`port` whose private host key is `host_key`.
pub fn known_hosts_line(host_key: &Path, port: u16) -> Result<String, Error> {
    let public = ssh_keygen(&[OsStr::new("-y"), OsStr::new("-f"), host_key.as_os_str()])?;
    Ok(format!(
        "[127.0.0.1]:{port} {}",
        String::from_utf8_lossy(&public)
    ))
}

/// `ssh` to 127.0.0.1:`port` with the key `key` alone (and its certificate `cert`, if any): no
/// config file, no agent, no prompts, stdin null. Host-key checking, the login and the command are
/// the caller's to add.
pub fn ssh_client(port: u16, key: &Path, cert: Option<&Path>) -> Command {
    let mut cmd = Command::new("ssh");
    cmd.args(["-F", "/dev/null", "-p", &port.to_string(), "-i"])
        .arg(key)
        .args([
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "IdentityAgent=none",
            "-o",
            "BatchMode=yes",
        ]);
    if let Some(cert) = cert {
        cmd.arg("-o")
            .arg(format!("CertificateFile={}", cert.display()));
    }
    cmd.stdin(std::process::Stdio::null());
    cmd
}
