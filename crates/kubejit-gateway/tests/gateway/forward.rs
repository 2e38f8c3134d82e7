//! `ssh -L` port-forward in both protocols the gateway speaks to the apiserver: SPDY/3.1 tunnelled
//! over the WebSocket (what the test apiserver chooses) and the `v4.channel.k8s.io` fallback (a
//! gateway that offers only it): bytes both ways, several channels at once, and a pod port nothing
//! listens on.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::Duration;

use kubejit_testenv::{CLOSED_POD_PORT, shared};

use crate::support::*;

/// `ssh -N` with one `-L` per pod port, as `login` via `gw`; the local ports, in order.
fn tunnels(
    gw: &TestGateway,
    c: &Cert,
    login: &str,
    ns: &str,
    pod_ports: &[u16],
) -> (Child, Vec<u16>) {
    let locals: Vec<u16> = pod_ports.iter().map(|_| free_port()).collect();
    let specs: Vec<String> = locals
        .iter()
        .zip(pod_ports)
        .map(|(l, p)| format!("{l}:api.{ns}:{p}"))
        .collect();
    let mut opts = vec!["-N", "-o", "ExitOnForwardFailure=yes"];
    for s in &specs {
        opts.extend(["-L", s.as_str()]);
    }
    let child = ssh_command_to(gw, c, login, &opts, &[])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (child, locals)
}

/// A connection through a forward to a port nothing listens on ends with no byte back.
fn ends_without_a_byte(mut conn: TcpStream) {
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let _ = conn.write_all(b"hello");
    let mut buf = [0u8; 16];
    match conn.read(&mut buf) {
        Ok(0) => {}
        Err(e)
            if e.kind() != std::io::ErrorKind::WouldBlock
                && e.kind() != std::io::ErrorKind::TimedOut => {}
        other => panic!("expected the forward to end, got {other:?}"),
    }
}

fn granted(gw: &TestGateway, prefix: &str, login: &str) -> (String, Cert) {
    let group = format!("oncall-{prefix}");
    let ns = namespace(shared(), prefix, "pf\n", Some(&group));
    (ns, member_by(&gw.ca(), login, &group, "-1m:+30m", &[]))
}

#[test]
fn two_channels_to_the_same_pod_at_once() {
    let gw = gateway();
    let (ns, c) = granted(gw, "gw-pf-two", "u-pftwo");
    let (mut child, locals) = tunnels(gw, &c, "u-pftwo", &ns, &[8080, 8080]);
    let conns: Vec<TcpStream> = locals
        .iter()
        .map(|&p| connect_within(p, Duration::from_secs(60)))
        .collect();
    // Different bytes on each channel, both in flight together.
    let handles: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, conn)| {
            let payload: Vec<u8> = (0..512 * 1024u32)
                .map(|n| ((n + 97 * i as u32) % 251) as u8)
                .collect();
            std::thread::spawn(move || echoes(conn, payload))
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_pod_port_nothing_listens_on_ends_the_forward() {
    let gw = gateway();
    let (ns, c) = granted(gw, "gw-pf-closed", "u-pfclosed");
    let (mut child, locals) = tunnels(gw, &c, "u-pfclosed", &ns, &[CLOSED_POD_PORT, 8080]);
    ends_without_a_byte(connect_within(locals[0], Duration::from_secs(60)));
    // The failure is the channel's, not the connection's: a forward to a listening port still works.
    echoes(
        connect_within(locals[1], Duration::from_secs(60)),
        b"still here".to_vec(),
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn the_websocket_fallback_moves_data_and_reports_a_closed_port() {
    let gw = v4_forward_gateway();
    let (ns, c) = granted(gw, "gw-pf-v4", "u-pfv4");
    let (mut child, locals) = tunnels(gw, &c, "u-pfv4", &ns, &[8080, CLOSED_POD_PORT]);
    let payload: Vec<u8> = (0..256 * 1024u32).map(|i| (i % 251) as u8).collect();
    echoes(connect_within(locals[0], Duration::from_secs(60)), payload);
    ends_without_a_byte(connect_within(locals[1], Duration::from_secs(60)));
    let _ = child.kill();
    let _ = child.wait();
}
