//! Flow control: a client that sends faster than the pod side takes is slowed down (the window is
//! refilled only as bytes reach the pod), never cut off, and a command that ignores its input
//! while flooding its output still finishes.

use std::io::{Read, Write};
use std::time::Duration;

use kubejit_testenv::{COMMAND_BOUND, output_within, shared};
use sha2::{Digest, Sha256};

use crate::support::*;

/// 64 MiB, four times what the gateway once buffered before dropping a forward.
const PAYLOAD: usize = 64 * 1024 * 1024;
const CHUNK: usize = 64 * 1024;

/// Chunk `i` of the payload: not compressible, reproducible on both sides.
fn chunk(i: usize) -> Vec<u8> {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..CHUNK)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn a_forward_to_a_slow_reader_arrives_complete() {
    let cp = shared();
    let group = "oncall-flow";
    let ns = namespace(cp, "gw-flow", "", Some(group));
    let c = member("u-aftasrac", group, &[]);
    let (mut child, mut conn) = forward_to_api(&c, "u-aftasrac", &ns);
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let writer = {
        let mut w = conn.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut sent = Sha256::new();
            for i in 0..PAYLOAD / CHUNK {
                let c = chunk(i);
                w.write_all(&c).unwrap();
                sent.update(&c);
            }
            sent.finalize()
        })
    };
    // The pod side (the echo behind the pod) reads only as fast as its replies are taken: stall
    // them long enough that every buffer on the way fills and the client must wait for window.
    std::thread::sleep(Duration::from_secs(5));
    let mut echoed = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut got = 0;
    while got < PAYLOAD {
        let n = conn.read(&mut buf).unwrap();
        assert!(n > 0, "the forward ended after {got} of {PAYLOAD} bytes");
        echoed.update(&buf[..n]);
        got += n;
    }
    let sent = writer.join().unwrap();
    assert_eq!(
        hex::encode(echoed.finalize()),
        hex::encode(sent),
        "the echo through the pod differs"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn an_exec_flooding_stdin_and_stdout_finishes() {
    let cp = shared();
    let group = "oncall-flood";
    let ns = namespace(cp, "gw-flood", "", Some(group));
    let c = member("u-aefsasf", group, &[]);
    // The command echoes all 64 MiB the client pushes and exits: input and output flow at once,
    // and neither may wait on the other inside the gateway. (It reads every byte: a command that
    // exits with input still coming makes kwok's node report an error, for kubectl too.)
    let mut cmd = ssh_command(
        &c,
        "u-aefsasf",
        &[],
        &["exec", "-n", &ns, "api", "--", "head", "-c", "67108864"],
    );
    let input = vec![b'x'; PAYLOAD];
    // A stall shows as a timeout (its output is not worth printing).
    let out = match output_within(&mut cmd, Some(&input), COMMAND_BOUND) {
        Ok(out) => out,
        Err(kubejit_testenv::Error::TimedOut { stdout, .. }) => {
            panic!("the exec stalled after {} bytes of output", stdout.len())
        }
        Err(e) => panic!("{e}"),
    };
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(out.stdout.len(), PAYLOAD);
    assert!(out.stdout.iter().all(|&b| b == b'x'));
}
