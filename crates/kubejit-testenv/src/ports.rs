//! Free loopback ports, so that several control planes (one per test binary) can run at once.

use std::net::TcpListener;

use rand::RngExt;

use crate::Error;

/// Where candidates are drawn from when the kernel's ephemeral range cannot be read or leaves no
/// room below it.
const FLOOR: u16 = 20000;

/// A loopback port that was free a moment ago, chosen *outside* the kernel's ephemeral range.
///
/// Why not `bind(0)`: the kernel hands out the same ephemeral range as source ports of outgoing
/// connections, so between our probe and etcd's bind a connection (kube-apiserver to etcd, kubectl
/// to the apiserver) could take the port — CI stop 18 failed exactly so ("bind: address already in
/// use" on 127.0.0.1:32979). A port below the range is never taken that way; only another listener
/// could, and a random pick from ~12,000 ports makes that a rare event, which start-up reports
/// loudly rather than hiding.
pub fn free_port() -> Result<u16, Error> {
    let low = ephemeral_low().unwrap_or(32768);
    if low > FLOOR + 1000 {
        let mut rng = rand::rng();
        for _ in 0..64 {
            let port = rng.random_range(FLOOR..low);
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return Ok(port);
            }
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").map_err(Error::Port)?;
    Ok(listener.local_addr().map_err(Error::Port)?.port())
}

fn ephemeral_low() -> Option<u16> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_come_from_below_the_ephemeral_range() {
        let low = ephemeral_low().unwrap_or(32768);
        for _ in 0..50 {
            let port = free_port().unwrap();
            if low > FLOOR + 1000 {
                assert!((FLOOR..low).contains(&port), "{port} not below {low}");
            }
            TcpListener::bind(("127.0.0.1", port)).unwrap();
        }
    }
}
