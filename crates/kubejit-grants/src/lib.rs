//! Grant listing: the time-bound RoleBindings and ClusterRoleBindings that exist, classified with the
//! reaper's own decision, and rendered for `kubejit grants`.
//!
//! A job-level library between the binary and the Kubernetes glue. Grants themselves are made only by
//! kubejit's controller, under AccessRequests (docs/grants.md): nothing here writes.

mod error;
mod list;
mod table;

pub use error::Error;
pub use list::{GrantRow, GrantStatus, ListScope, PAGE_SIZE, list, list_pages};
pub use table::{LIST_FORMATS, TablePages, render_rows, time_left_text};
