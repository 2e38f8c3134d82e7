//! The reaper catches up: grants that expire while the controller is down are deleted as soon as
//! it starts again (its initial list reconciles everything). Its own test binary, because it stops
//! and starts the controller that watches the whole cluster.

// Integration tests: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/grants.rs"]
mod grant_support;
mod support;

use std::time::Duration;

use grant_support::{
    annotation, binding_exists, grant, namespace_with_role, policy_for, records_for,
};
use kubejit_testenv::shared;
use support::{install_kubejit, start_controller, wait_until};

const ARGS: [&str; 4] = ["--controllers", "reaper", "--lease-name", "catchup-test"];
/// The first run makes the grants (kubejit grant asks; the request controller binds) and reaps nothing.
const GRANTING: [&str; 4] = ["--controllers", "requests", "--lease-name", "catchup-test"];

#[test]
fn grants_that_expired_while_the_controller_was_down_are_deleted_on_start() {
    let cp = shared();
    install_kubejit(cp);
    let ns = namespace_with_role(cp, "grant-catchup");
    policy_for(cp, &ns, "10m");
    let first = start_controller(cp, &GRANTING);
    let names: Vec<String> = (0..3)
        .map(|_| grant(cp, &ns, "oncall-payments", "3s", &[]))
        .collect();
    assert!(first.stop().0.success());

    let deadlines: Vec<String> = names
        .iter()
        .map(|n| annotation(cp, &ns, n, "debugging.kubernetes.io/expires-at"))
        .collect();
    // Past every deadline with nobody to delete: the bindings (and the access) are still there.
    std::thread::sleep(Duration::from_secs(5));
    for name in &names {
        assert!(
            binding_exists(cp, &ns, name),
            "nothing deletes {name} while the controller is down"
        );
    }

    let second = start_controller(cp, &ARGS);
    for name in &names {
        assert!(
            wait_until(Duration::from_secs(60), || !binding_exists(cp, &ns, name)),
            "{name} (deadline {deadlines:?}) is deleted once the controller is back: {}",
            second.log_text()
        );
    }
    // Each grantExpired record is written just after its delete: wait for all of them.
    let audit = support::eventually(Duration::from_secs(60), "the grantExpired records", || {
        let audit = second.stdout_audit();
        let all = names
            .iter()
            .all(|name| !records_for(&audit, "grantExpired", name).is_empty());
        all.then_some(audit)
    });
    for name in &names {
        assert_eq!(
            records_for(&audit, "grantExpired", name).len(),
            1,
            "{name}: {audit:?}"
        );
    }
    assert!(second.stop().0.success());
}
