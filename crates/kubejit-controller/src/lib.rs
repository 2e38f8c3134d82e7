//! kubejit's controllers: the CSR approver, the grant expiry reaper and the AccessRequest controller,
//! run under one leader lease
//! with Prometheus metrics and health endpoints.
//!
//! Every controller is level-triggered and idempotent: a crash, a restart, an apiserver outage or a
//! second replica changes nothing but timing. Only the lease holder acts; the others wait.

pub mod approver;
mod audit;
mod context;
mod error;
mod http;
mod leader;
mod panic;
pub mod reaper;
pub mod requests;
mod run;
pub mod shutdown;

pub use audit::Metrics as AuditMetrics;
pub use context::Context;
pub use error::Error;
pub use run::{Config, Controllers, run};
