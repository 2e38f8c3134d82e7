//! Notifications: a signed, retried outgoing webhook per AccessPolicy that never holds up a decision.
//!
//! A reconciler calls [`Notifier::notify`] on every AccessRequest phase change; it queues and returns
//! at once (a full queue drops its oldest entry, counted and logged). One worker task POSTs the JSON
//! body ([`Notification`] plus `kind` and `deliveryId`) with `X-Kubejit-Signature` (HMAC-SHA256 over
//! `timestamp + "." + body`), `X-Kubejit-Timestamp` and `X-Kubejit-Delivery`, retrying network
//! errors, 429 and 5xx with exponential backoff and jitter. The key is read from its Secret for every
//! delivery, so rotation needs no restart. Logs show the URL without its query, never the key.

mod keys;
mod metrics;
mod notifier;
mod payload;
mod queue;
mod retry;
mod send;
mod sign;
#[cfg(test)]
mod tests;

use kubejit_kube::Needed;

pub use keys::{KeyError, KeySource, SecretKeys};
pub use metrics::Metrics;
pub use notifier::{Notifier, NotifyConfig};
pub use payload::{Notification, RequestRef};
pub use retry::RetryPolicy;
pub use send::Outcome;
pub use sign::{DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signature, verify};

/// What the notifier needs from RBAC (mirrors deploy/rbac/controller.yaml): `get` on Secrets in
/// `kubejit-system`, whatever their name (policy authors choose it).
pub fn required_permissions() -> Vec<Needed> {
    vec![Needed::cluster("get", "", "secrets").in_namespace(kubejit_core::WEBHOOK_SECRET_NAMESPACE)]
}
