//! Grant operations against the API: create, list, revoke and extend time-bound RoleBindings.
//!
//! A job-level library between the binary and the Kubernetes glue: every operation checks policy
//! (kubejit-core `decide_grant`) before anything is written, writes its audit record before the
//! change (a failed write blocks it), and makes every write conditional.

mod audit;
mod create;
mod error;
mod extend;
mod list;
mod name;
mod policies;
mod revoke;
mod session;
mod table;

pub use create::{NewGrant, create};
pub use error::Error;
pub use extend::extend;
pub use list::{GrantRow, GrantStatus, ListScope, list};
pub use name::grant_name;
pub use revoke::{Revoked, revoke};
pub use session::Session;
pub use table::{LIST_FORMATS, render_rows, time_left_text};
