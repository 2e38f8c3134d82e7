//! The SSH front: a thin russh handler that turns callbacks into session actions, and the server
//! that accepts connections with the gateway's host key.

mod cert;
pub mod ciphers;
mod handler;
mod server;

pub use cert::facts;
pub use handler::{Connection, Shared};
pub use server::Gateway;
