//! `kubejit lint`: effective RBAC permissions per subject, checked against kubejit's rules.
//!
//! The analysis ([`lint`]) is pure: it takes an [`Inventory`] of parsed objects and returns
//! [`Finding`]s. [`load`] fills an inventory from manifests (offline), [`live`] from a cluster; both
//! feed the same analysis, so CI before `kubectl apply` and a live audit agree.

pub mod access;
mod aggregate;
pub mod audit_policy;
mod check_admission;
mod check_bindings;
mod check_install;
mod check_kubejit;
mod check_roles;
mod error;
pub mod finding;
pub mod inventory;
pub mod live;
pub mod load;
pub mod report;
pub mod rules;
pub mod subject;
pub mod suppress;
#[cfg(test)]
mod tests;
mod yaml_doc;
mod yaml_fast;
#[cfg(test)]
mod yaml_fast_tests;

pub use error::LintError;
pub use finding::{Finding, ObjectRef};
pub use inventory::{Inventory, Origin};
pub use rules::{RuleId, Severity};
pub use subject::Settings;
pub use suppress::Suppressions;

use time::OffsetDateTime;

/// Every finding for `inventory` at `now` (expiry of grants and suppressions is judged against it),
/// sorted, before suppressions. ClusterRole aggregation must already be resolved
/// ([`Inventory::aggregate`] offline; the apiserver has done it for live input).
pub fn lint(inventory: &Inventory, settings: &Settings, now: OffsetDateTime) -> Vec<Finding> {
    let mut findings = check_bindings::check(inventory, settings, now);
    findings.extend(check_roles::check(inventory));
    findings.extend(check_admission::check(inventory));
    findings.extend(check_kubejit::check(inventory, settings));
    if let Some(policy) = &inventory.audit_policy {
        findings.extend(audit_policy::check(policy));
    }
    findings.sort();
    findings.dedup();
    findings
}

/// A whole run: aggregation already resolved, findings, then the suppressions of `extra` (a file)
/// and of the objects' own `kubejit.dev/lint-ignore` annotations.
pub fn run(
    inventory: &Inventory,
    settings: &Settings,
    now: OffsetDateTime,
    extra: Suppressions,
) -> report::Outcome {
    let mut suppressions = Suppressions::from_annotations(inventory, now);
    suppressions.valid.extend(extra.valid);
    suppressions.broken.extend(extra.broken);
    let (findings, suppressed) = suppressions.apply(lint(inventory, settings, now));
    report::Outcome {
        findings,
        suppressed,
    }
}
