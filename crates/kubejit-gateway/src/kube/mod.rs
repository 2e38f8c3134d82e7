//! Kubernetes as the person: one impersonating client per admitted identity, and the
//! SelfSubjectAccessReview that re-asks whether the person still holds the permission in use.

mod bindings;
mod person;
pub mod spdy;
mod upgrade;

pub use bindings::watch_deletions;
pub use person::{Permission, PersonClient};
pub use upgrade::{ForwardOffer, ForwardProtocol, Upgraded};
