//! Kubernetes glue: turns kubejit-core values into API objects, builds clients, holds well-known keys.

pub mod audit_anchor;
pub mod audit_trail;
pub mod binding;
pub mod client;
pub mod deploy;
pub mod keys;
pub mod manifests;
pub mod output;
pub mod permissions;
pub mod policy;
pub mod request;

pub use audit_trail::{AuditGuard, AuditOptions, AuditTrailError, TrailOptions, open_audit};
pub use binding::{Binding, GrantBinding, GrantView, grant_binding, is_controlled_by, owned_by};
pub use client::{ClientError, ClientOptions, build_client, build_controller_client, load_config};
pub use manifests::oncall_role_manifests;
pub use output::{OutputError, OutputFormat, render};
pub use permissions::{Needed, PermissionError, check as check_permissions, whoami};
pub use request::{AccessApproval, AccessRequest};
