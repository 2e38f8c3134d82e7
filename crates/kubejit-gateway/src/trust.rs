//! Trusted user CAs re-read while the gateway runs: the files are polled by content (kubelet
//! updates a mounted ConfigMap by swapping a `..data` symlink, which inotify on the file misses),
//! a changed, well-formed set replaces the old one atomically, and a malformed one is refused with
//! the old set kept. Sessions subscribe and end when their CA leaves the set.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::parse_ca_text;
use crate::error::GatewayError;
use crate::metrics::Metrics;

/// The SHA-256 fingerprints of the CAs trusted now.
pub type CaSet = Arc<BTreeSet<String>>;

/// Reads every file; `Err` if any cannot be read or holds a line that is not a public key.
fn read_all(files: &[PathBuf]) -> Result<(Vec<u8>, BTreeSet<String>), GatewayError> {
    let mut raw = Vec::new();
    let mut set = BTreeSet::new();
    for path in files {
        let bytes = std::fs::read(path).map_err(|source| GatewayError::ReadCaKeys {
            path: path.clone(),
            source,
        })?;
        let text = String::from_utf8_lossy(&bytes);
        set.extend(parse_ca_text(path, &text)?);
        raw.extend_from_slice(&u64::try_from(bytes.len()).unwrap_or(u64::MAX).to_le_bytes());
        raw.extend_from_slice(&bytes);
    }
    Ok((raw, set))
}

/// Re-reads `files` every `every` until `stop`, publishing each changed, well-formed set on `cas`.
/// An empty (but well-formed) set is applied: removing every CA means trusting none.
pub async fn reload(
    files: Vec<PathBuf>,
    cas: Arc<watch::Sender<CaSet>>,
    metrics: Metrics,
    every: Duration,
    stop: CancellationToken,
) {
    // The content last seen (applied or rejected), so each change is judged and logged once.
    let mut seen: Option<Vec<u8>> = None;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let paths = files.clone();
        let read = tokio::task::spawn_blocking(move || read_all(&paths)).await;
        let Ok(read) = read else { continue };
        match read {
            Ok((raw, set)) => {
                if seen.as_ref() == Some(&raw) {
                    continue;
                }
                seen = Some(raw);
                let changed = **cas.borrow() != set;
                if !changed {
                    continue;
                }
                let n = set.len();
                if n == 0 {
                    tracing::warn!("the trusted-CA files now list no CA: every login is refused");
                }
                tracing::info!(trusted = n, "trusted user CAs reloaded");
                cas.send_replace(Arc::new(set));
                metrics.ca_reload("applied", n);
            }
            Err(e) => {
                // Judge each bad content once; an unreadable file is retried every tick.
                let raw = files
                    .iter()
                    .map(std::fs::read)
                    .collect::<Result<Vec<_>, _>>()
                    .ok()
                    .map(|v| v.concat());
                if raw.is_some() && seen == raw {
                    continue;
                }
                seen = raw;
                let kept = cas.borrow().len();
                tracing::error!(
                    error = %crate::session::error_chain(&e),
                    kept,
                    "trusted-CA files rejected; the previous set stays in force"
                );
                metrics.ca_reload("rejected", kept);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMWyfCnw0IJqK3iPNcOGdG7vvkykTitHtDiIPwzLPkSx a";

    /// Waits (bounded) until the published set satisfies `ok`.
    async fn until(rx: &mut watch::Receiver<CaSet>, ok: impl Fn(&BTreeSet<String>) -> bool) {
        tokio::time::timeout(Duration::from_secs(30), rx.wait_for(|s| ok(s)))
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn garbage_keeps_the_set_and_an_empty_file_trusts_nobody() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ca.pub");
        std::fs::write(&file, format!("# CAs\n{A}\n")).unwrap();
        let first = crate::config::load_trusted_cas(std::slice::from_ref(&file)).unwrap();
        let cas = Arc::new(watch::Sender::new(Arc::new(first.clone())));
        let mut rx = cas.subscribe();
        let metrics = Metrics::new();
        let stop = CancellationToken::new();
        let task = tokio::spawn(reload(
            vec![file.clone()],
            Arc::clone(&cas),
            metrics.clone(),
            Duration::from_millis(10),
            stop.clone(),
        ));
        std::fs::write(&file, format!("{A}\nnot a key\n")).unwrap();
        let rejected = "kubejit_gateway_ca_reloads_total{result=\"rejected\"} 1";
        tokio::time::timeout(Duration::from_secs(30), async {
            while !metrics.encode().contains(rejected) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap();
        assert_eq!(**cas.borrow(), first);
        std::fs::write(&file, "# nobody\n").unwrap();
        until(&mut rx, BTreeSet::is_empty).await;
        std::fs::write(&file, A).unwrap();
        until(&mut rx, |s| *s == first).await;
        stop.cancel();
        task.await.unwrap();
    }
}
