//! Free loopback ports, so that several control planes (one per test binary) can run at once.

use std::net::TcpListener;

use crate::Error;

/// Asks the kernel for a free port. The tiny window between closing and reuse is acceptable for
/// tests; start-up fails loudly (component exited, address in use) rather than silently if it races.
pub(crate) fn free_port() -> Result<u16, Error> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(Error::Port)?;
    Ok(listener.local_addr().map_err(Error::Port)?.port())
}
