//! A misbehaving apiserver in front of the real one: the real `kubectl proxy` (authenticating as the
//! controller's ServiceAccount) behind a small plain-HTTP relay that, while a fault window is open,
//! answers every request with 429, 500 or 409 and counts them, and otherwise relays connections
//! untouched (watches included). Opening a window cuts every relayed connection, so open watches
//! break and their reconnects meet the faults too.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kubejit_testenv::ControlPlane;
use serde_json::json;

/// The status codes a fault window cycles through.
const FAULTS: [(u16, &str); 3] = [
    (429, "TooManyRequests"),
    (500, "InternalError"),
    (409, "Conflict"),
];

#[derive(Default)]
struct State {
    faulty: AtomicBool,
    next_fault: AtomicUsize,
    /// Faulted requests by "METHOD path" (query cut off).
    faulted: Mutex<BTreeMap<String, usize>>,
    relayed: Mutex<Vec<TcpStream>>,
}

pub struct FaultProxy {
    state: Arc<State>,
    kubectl: std::process::Child,
    /// A kubeconfig that reaches the apiserver through the relay, as the controller's identity.
    pub kubeconfig: PathBuf,
}

impl FaultProxy {
    pub fn start(cp: &ControlPlane, dir: &Path) -> Self {
        let upstream = free_port();
        let kubectl = std::process::Command::new(cp.binaries().kubectl())
            .env_remove("KUBECONFIG")
            .arg("--kubeconfig")
            .arg(cp.kubeconfig(kubejit_testenv::CONTROLLER_SA).unwrap())
            .args([
                "proxy",
                "--address",
                "127.0.0.1",
                "--port",
                &upstream.to_string(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        crate::support::eventually(Duration::from_secs(30), "kubectl proxy", || {
            TcpStream::connect(("127.0.0.1", upstream)).ok()
        });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State::default());
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                std::thread::spawn(move || serve(&state, conn, upstream));
            }
        });
        let kubeconfig = dir.join("through-proxy.kubeconfig");
        let doc = json!({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "proxy", "cluster": {"server": format!("http://127.0.0.1:{port}")}}],
            "users": [{"name": "via-kubectl-proxy", "user": {}}],
            "contexts": [{"name": "proxy", "context": {"cluster": "proxy", "user": "via-kubectl-proxy"}}],
            "current-context": "proxy",
        });
        std::fs::write(&kubeconfig, doc.to_string()).unwrap();
        Self {
            state,
            kubectl,
            kubeconfig,
        }
    }

    /// Starts answering with faults, and cuts every relayed connection.
    pub fn open_window(&self) {
        self.state.faulty.store(true, Ordering::SeqCst);
        for conn in self.state.relayed.lock().unwrap().drain(..) {
            let _ = conn.shutdown(Shutdown::Both);
        }
    }

    /// Relays again; returns the faulted requests by "METHOD path" and clears the count.
    pub fn close_window(&self) -> BTreeMap<String, usize> {
        self.state.faulty.store(false, Ordering::SeqCst);
        std::mem::take(&mut *self.state.faulted.lock().unwrap())
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.kubectl.kill();
        let _ = self.kubectl.wait();
    }
}

fn free_port() -> u16 {
    kubejit_testenv::free_port().unwrap()
}

fn serve(state: &State, mut conn: TcpStream, upstream: u16) {
    if state.faulty.load(Ordering::SeqCst) {
        fault(state, conn);
        return;
    }
    let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    if let (Ok(c), Ok(u)) = (conn.try_clone(), up.try_clone()) {
        state.relayed.lock().unwrap().extend([c, u]);
    }
    let (Ok(mut conn_r), Ok(mut up_w)) = (conn.try_clone(), up.try_clone()) else {
        return;
    };
    let to_upstream = std::thread::spawn(move || {
        let _ = std::io::copy(&mut conn_r, &mut up_w);
        let _ = up_w.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut up, &mut conn);
    let _ = conn.shutdown(Shutdown::Both);
    let _ = to_upstream.join();
}

/// Reads one request head and answers it with the next fault, then closes the connection.
fn fault(state: &State, mut conn: TcpStream) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
        match conn.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let line = String::from_utf8_lossy(&head);
    let mut words = line.split_whitespace();
    let method = words.next().unwrap_or("?").to_owned();
    let path = words.next().unwrap_or("?");
    let path = path.split('?').next().unwrap_or(path);
    *state
        .faulted
        .lock()
        .unwrap()
        .entry(format!("{method} {path}"))
        .or_default() += 1;
    let (code, reason) = FAULTS[state.next_fault.fetch_add(1, Ordering::Relaxed) % FAULTS.len()];
    let body = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                      "message": "injected by the chaos test", "reason": reason, "code": code})
    .to_string();
    let retry_after = if code == 429 {
        "Retry-After: 1\r\n"
    } else {
        ""
    };
    let _ = write!(
        conn,
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\n{retry_after}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = conn.shutdown(Shutdown::Both);
}
