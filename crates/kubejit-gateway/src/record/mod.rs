//! Session recordings: asciicast v2 files written as the session runs, hashed for the audit trail,
//! and played back (`kubejit recording play`). Pure and synchronous: the caller passes each event's
//! time since the session started, so the async session code decides when, and tests need no clock.
//!
//! Format and conventions (docs/gateway.md, "Recording"): a v2 header (`width`, `height`,
//! `timestamp`, `command`, `title`), `o` output, `i` input only when the policy opts in, `r` resizes,
//! and `e` for a non-PTY exec's stderr ([`asciicast::code::STDERR`]).

pub mod asciicast;
mod error;
pub mod play;
mod writer;

pub use asciicast::Header;
pub use error::RecordError;
pub use play::{Pace, replay};
pub use writer::{Finished, InputPolicy, Recorder};

#[cfg(test)]
mod tests;
