//! One control plane per test binary, started on first use and shared by every test in it.

use std::sync::OnceLock;

use rand::RngExt;

use crate::{ControlPlane, Options, ensure_built};

// The outcome, not just a success, is cached: when start-up fails every test fails fast with the
// same reason instead of each retrying a minute-long start.
static SHARED: OnceLock<Result<ControlPlane, String>> = OnceLock::new();

/// The test binary's control plane. Building (cold: many minutes) and starting happen once; a
/// failure panics with the reason, which is what a test wants.
pub fn shared() -> &'static ControlPlane {
    let outcome = SHARED.get_or_init(|| {
        let binaries =
            ensure_built().map_err(|e| format!("control plane build failed: {}", chain(&e)))?;
        // A port taken between the probe and the component's bind (another test binary's
        // listener) is the one start-up failure a second try cures; anything else is reported.
        let mut attempt = 1;
        loop {
            match ControlPlane::start(binaries.clone(), Options::default()) {
                Ok(cp) => return Ok(cp),
                Err(e) => {
                    let reason = chain(&e);
                    if attempt < 3 && reason.contains("address already in use") {
                        eprintln!("[testenv] start attempt {attempt} lost a port race; retrying");
                        attempt += 1;
                        continue;
                    }
                    return Err(format!("control plane failed to start: {reason}"));
                }
            }
        }
    });
    match outcome {
        Ok(cp) => cp,
        Err(reason) => panic!("{reason}"),
    }
}

/// A fresh namespace name with the given prefix, unique across tests and runs.
pub fn unique_namespace(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let suffix: String = (0..6)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    format!("{prefix}-{suffix}")
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}
