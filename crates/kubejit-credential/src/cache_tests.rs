//! Disk cache: round trip, freshness at the margin, foreign and corrupt entries, file modes, the lock.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::MetadataExt;

use super::*;

fn key(groups: &[&str]) -> CacheKey {
    CacheKey {
        server: "https://127.0.0.1:6443".into(),
        kubeconfig: "/home/alice/.kube/config".into(),
        context: "alice".into(),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        incident: "INC-1".into(),
    }
}

fn cred(not_before: i64, not_after: i64) -> CachedCredential {
    CachedCredential {
        username: "alice".into(),
        csr_name: "kubejit-abcde".into(),
        validity: Validity {
            not_before,
            not_after,
        },
        certificate_pem: "CERT".into(),
        private_key_pem: SecretString::from("KEY".to_owned()),
    }
}

fn cache() -> (tempfile::TempDir, Cache) {
    let tmp = tempfile::tempdir().unwrap();
    let cache = Cache::open(&tmp.path().join("credentials")).unwrap();
    (tmp, cache)
}

#[test]
fn stored_credential_is_served_until_the_margin() {
    let (_tmp, cache) = cache();
    let k = key(&["oncall"]);
    // 20 minutes of validity: margin 2 minutes, refresh at 1000 + 1200 - 120.
    cache.store(&k, &cred(1000, 2200)).unwrap();
    let refresh = 2080;
    for (now, hit) in [
        (999, false),
        (1000, true),
        (refresh - 1, true),
        (refresh, false),
        (refresh + 1, false),
    ] {
        assert_eq!(
            cache.load_fresh(&k, now).unwrap().is_some(),
            hit,
            "now = {now}"
        );
    }
    let got = cache.load_fresh(&k, 1500).unwrap().unwrap();
    assert_eq!(got.username, "alice");
    assert_eq!(got.private_key_pem.expose_secret(), "KEY");
    assert_eq!(got.exec_credential().expiration_timestamp, rfc3339(refresh));
}

#[test]
fn other_keys_miss() {
    let (_tmp, cache) = cache();
    cache.store(&key(&["oncall"]), &cred(1000, 2200)).unwrap();
    assert!(
        cache
            .load_fresh(&key(&["oncall", "admins"]), 1500)
            .unwrap()
            .is_none()
    );
    let mut other_server = key(&["oncall"]);
    other_server.server = "https://elsewhere:6443".into();
    assert!(cache.load_fresh(&other_server, 1500).unwrap().is_none());
}

#[test]
fn corrupt_or_foreign_entries_are_misses() {
    let (_tmp, cache) = cache();
    let k = key(&["oncall"]);
    std::fs::write(cache.entry_path(&k), "{not json").unwrap();
    assert!(cache.load_fresh(&k, 1500).unwrap().is_none());
    // An entry whose stored key differs from the one asked for (a collision, a copied file) is ignored.
    let other = key(&["other"]);
    cache.store(&other, &cred(1000, 2200)).unwrap();
    std::fs::copy(cache.entry_path(&other), cache.entry_path(&k)).unwrap();
    assert!(cache.load_fresh(&k, 1500).unwrap().is_none());
}

#[test]
fn entries_are_private() {
    let (tmp, cache) = cache();
    let k = key(&["oncall"]);
    cache.store(&k, &cred(1000, 2200)).unwrap();
    assert_eq!(
        std::fs::metadata(cache.entry_path(&k)).unwrap().mode() & 0o777,
        0o600
    );
    let dir = tmp.path().join("credentials");
    assert_eq!(std::fs::metadata(dir).unwrap().mode() & 0o777, 0o700);
}

#[test]
fn world_writable_directory_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = Cache::open(tmp.path()).unwrap_err();
    assert!(
        matches!(err, CredentialError::CacheDirTooOpen { mode: 0o777, .. }),
        "{err}"
    );
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn lock_is_exclusive_and_bounded() {
    let (_tmp, cache) = cache();
    let k = key(&["oncall"]);
    let held = cache.lock(&k, Duration::from_secs(1), || {}).unwrap();
    let mut waited = false;
    let err = cache
        .lock(&k, Duration::from_millis(100), || waited = true)
        .unwrap_err();
    assert!(matches!(err, CredentialError::LockTimeout { .. }), "{err}");
    assert!(waited);
    drop(held);
    let mut waited_again = false;
    cache
        .lock(&k, Duration::from_millis(100), || waited_again = true)
        .unwrap();
    assert!(!waited_again);
}

#[test]
fn lock_waiter_proceeds_when_released() {
    let (_tmp, cache) = cache();
    let k = key(&["oncall"]);
    let held = cache.lock(&k, Duration::from_secs(1), || {}).unwrap();
    let (c2, k2) = (cache.clone(), k.clone());
    let waiter = std::thread::spawn(move || c2.lock(&k2, Duration::from_secs(5), || {}).is_ok());
    std::thread::sleep(Duration::from_millis(100));
    drop(held);
    assert!(waiter.join().unwrap());
}
