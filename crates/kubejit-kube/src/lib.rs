//! Kubernetes glue: turns kubejit-core values into API objects, builds clients, holds well-known keys.

pub mod client;
pub mod keys;
pub mod manifests;
pub mod output;

pub use client::{ClientError, ClientOptions, build_client};
pub use manifests::oncall_role_manifests;
pub use output::{OutputError, OutputFormat, render};
