//! The just-in-time SSH gateway: OpenSSH user certificates in, Kubernetes access as the person out,
//! every session recorded and audited, and cut when the access ends (docs/gateway.md).
//!
//! Layers (docs/architecture.md): `ssh` turns russh callbacks into events, `session` is the
//! per-connection state machine, `kube` acts as the person through impersonation, `record` writes
//! asciicast v2 recordings. The handler never calls the apiserver; the session never parses SSH bytes.

pub mod config;
pub mod error;
pub mod host_key;
pub mod kube;
pub mod metrics;
pub mod record;
pub mod session;
pub mod ssh;
pub mod trust;

pub use config::{GatewayConfig, Limits};
pub use error::GatewayError;
pub use kube::ForwardOffer;
pub use metrics::Metrics;
pub use ssh::Gateway;
