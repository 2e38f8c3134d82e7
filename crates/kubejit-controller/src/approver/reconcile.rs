//! One CSR: decide it with the current policies and write the decision, or leave it alone.

use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kubejit_core::{Decision, KUBE_APISERVER_CLIENT_SIGNER, NamedPolicy};
use kubejit_kube::policy::{self, AccessPolicyResource};

use super::error::Error;
use super::facts::{facts, is_decided};
use super::issued::check_certificate;
use super::manual::settle;
use super::metrics::Step;
use super::outcome::{Outcome, machine_reason};
use super::shared::Approver;
use super::write::{latency_secs, publish_event, record_audit, write_condition};

/// How often a 409 makes us re-read and re-decide within one reconcile before backing off.
const CONFLICT_ATTEMPTS: usize = 3;

/// One reconcile with any panic contained to this CSR (see `crate::panic`): no decision, and the
/// error policy retries it with backoff while every other CSR keeps being decided.
pub async fn reconcile(
    csr: Arc<CertificateSigningRequest>,
    app: Arc<Approver>,
) -> Result<Action, Error> {
    let name = csr.name_any();
    crate::panic::contain(reconcile_one(csr, app))
        .await
        .unwrap_or_else(|message| Err(Error::Panicked { name, message }))
}

/// Level-triggered: another signer's CSR is left alone; a decided one only has its issued
/// certificate checked; a pending one is decided. Nothing is polled: a CSR is reconciled again when
/// it changes (the signer writing the certificate is a change) or when policies change.
#[tracing::instrument(skip_all, fields(csr = %csr.name_any()))]
async fn reconcile_one(
    csr: Arc<CertificateSigningRequest>,
    app: Arc<Approver>,
) -> Result<Action, Error> {
    let uid = csr.uid().unwrap_or_default();
    if csr.spec.signer_name != KUBE_APISERVER_CLIENT_SIGNER {
        app.forget(&uid);
        return Ok(Action::await_change());
    }
    if is_decided(&csr) {
        app.forget_announcement(&uid);
        check_certificate(&app, &csr).await?;
        app.succeeded(&uid);
        return Ok(Action::await_change());
    }
    let policies = app.current_policies()?;
    let slot = Instant::now();
    let result = decide_pending(&app, csr, &policies).await;
    app.ctx.approver.step(Step::Slot, slot.elapsed());
    if result.is_ok() {
        app.succeeded(&uid);
    }
    result
}

/// Decides a pending CSR, re-reading it after a 409 up to [`CONFLICT_ATTEMPTS`] times.
async fn decide_pending(
    app: &Approver,
    csr: Arc<CertificateSigningRequest>,
    policies: &[NamedPolicy],
) -> Result<Action, Error> {
    let mut current = csr;
    for _ in 0..CONFLICT_ATTEMPTS {
        match decide_and_write(app, &current, policies).await {
            Ok(()) => return Ok(Action::await_change()),
            Err(error) if error.is_conflict() => {
                tracing::info!("CSR changed while being decided; re-reading it");
                match reread(app, &current).await? {
                    Some(fresh) => current = fresh,
                    None => return Ok(Action::await_change()),
                }
            }
            Err(error) => return Err(error),
        }
    }
    Err(Error::KeptChanging {
        name: current.name_any(),
    })
}

/// The CSR as it is now, if it is still the same object and still pending.
async fn reread(
    app: &Approver,
    csr: &CertificateSigningRequest,
) -> Result<Option<Arc<CertificateSigningRequest>>, Error> {
    let name = csr.name_any();
    let fresh = app
        .api
        .get_opt(&name)
        .await
        .map_err(|source| Error::ReadCsr {
            name: name.clone(),
            source,
        })?;
    // Deleted, replaced (a new uid is reconciled on its own) or decided meanwhile: nothing to do.
    Ok(fresh
        .filter(|f| f.uid() == csr.uid() && !is_decided(f))
        .map(Arc::new))
}

async fn decide_and_write(
    app: &Approver,
    csr: &CertificateSigningRequest,
    policies: &[NamedPolicy],
) -> Result<(), Error> {
    let facts = facts(csr);
    let now = app.ctx.clock.now();
    let decide = |policies: &[NamedPolicy]| {
        let decision = kubejit_core::decide(
            &facts,
            policies,
            &app.ctx.identity,
            &app.ctx.keys,
            now.unix_timestamp(),
        );
        settle(decision, &facts, &app.requests, policies, now)
    };
    let mut decision = decide(policies);
    // A denial is final, and the policy cache can lag an AccessPolicy applied a moment ago (CI saw
    // alice denied NoMatchingPolicy right after her policy was created): a denial that a policy
    // could have prevented is confirmed against the policies as the apiserver holds them now.
    if let Decision::Deny { reason, .. } = &decision
        && reason.depends_on_policies()
    {
        decision = decide(&fresh_policies(app, csr).await?);
    }
    let outcome = Outcome::of(&decision);
    let uid = csr.uid().unwrap_or_default();
    let pending = matches!(decision, Decision::Pending { .. });
    if pending && app.announced(&uid, decision.message()) {
        return Ok(());
    }
    // Audit first: if the record cannot be written, nothing is approved.
    let started = Instant::now();
    record_audit(app, csr, &facts, &decision).await?;
    let recorded = Instant::now();
    app.ctx.approver.step(Step::Audit, recorded - started);
    write_condition(&app.api, csr, &decision).await?;
    app.ctx.approver.step(Step::Approval, recorded.elapsed());
    if pending {
        app.announce(&uid, decision.message());
    }
    let latency = match outcome {
        Outcome::Approved | Outcome::Denied => latency_secs(csr),
        Outcome::Pending => None,
    };
    app.ctx
        .approver
        .decided(outcome, machine_reason(&decision), latency);
    tracing::info!(
        result = outcome.as_str(),
        reason = machine_reason(&decision),
        // Logs are read in terminals too: names from the apiserver are shown escaped.
        requester = %kubejit_core::text::escape(&facts.username),
        message = %kubejit_core::text::escape(decision.message()),
        "CSR decided"
    );
    publish_event(app, csr, &decision);
    Ok(())
}

/// Any error: no approval; count it and retry this CSR with exponential backoff.
pub fn error_policy(
    csr: Arc<CertificateSigningRequest>,
    error: &Error,
    app: Arc<Approver>,
) -> Action {
    app.ctx.approver.error(error.metric_label());
    let delay = app.next_backoff(&csr.uid().unwrap_or_default());
    tracing::warn!(
        error = %crate::error::chain(error),
        csr = %csr.name_any(),
        retry_in = ?delay,
        "failed to decide CSR; it stays undecided"
    );
    Action::requeue(delay)
}

/// Every valid AccessPolicy as the apiserver holds it now (a LIST, not the cache).
async fn fresh_policies(
    app: &Approver,
    csr: &CertificateSigningRequest,
) -> Result<Vec<NamedPolicy>, Error> {
    let api: kube::Api<AccessPolicyResource> = kube::Api::all(app.ctx.client.clone());
    let listed = api
        .list(&kube::api::ListParams::default())
        .await
        .map_err(|source| Error::ListPolicies {
            name: csr.name_any(),
            source,
        })?;
    let (valid, _invalid) = policy::parse_all(&listed.items);
    Ok(valid)
}

#[cfg(test)]
mod tests {
    use kubejit_core::DenyReason;

    /// A denial the policy cache could have caused is confirmed against a fresh LIST; one about the
    /// request's own bytes is not (so a flood of malformed CSRs costs no LISTs).
    #[test]
    fn only_denials_a_policy_could_change_are_confirmed_fresh() {
        // What the CI race produced, and the other policy knobs.
        for reason in [
            DenyReason::NoMatchingPolicy,
            DenyReason::GroupNotAllowed,
            DenyReason::TtlExceedsPolicy,
            DenyReason::KeyPolicyTooWeak,
        ] {
            assert!(reason.depends_on_policies(), "{reason:?}");
        }
        // The request's own bytes: no policy changes these.
        for reason in [
            DenyReason::MalformedRequest,
            DenyReason::InvalidSignature,
            DenyReason::SystemRequester,
            DenyReason::KeyAttestationMalformed,
        ] {
            assert!(!reason.depends_on_policies(), "{reason:?}");
        }
    }
}
