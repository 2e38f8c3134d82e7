//! The gateway against the real OpenSSH client (`ssh`, `ssh-keygen`) and the real control plane:
//! certificate rules (each refused with a real certificate), commands as the person, and sessions
//! cut when access ends. One control plane and one gateway for the whole binary.

// Integration tests: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod bench;
mod ciphers;
mod deploy;
mod flow;
mod forward;
mod hostcert;
mod rotation;
mod sessions;
mod support;
mod terminal;
