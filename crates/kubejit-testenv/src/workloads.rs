//! Workloads on the simulated node: the Node object, Running pods with their own log content,
//! and the local TCP echo server that port-forwards reach (it answers an HTTP GET too, so that
//! `curl` through a port-forward works).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::json;

use crate::{ControlPlane, Error};

/// Echoes every byte back, or answers an HTTP GET with the request as the body; the target of every
/// forwarded pod port.
#[derive(Debug)]
pub(crate) struct EchoServer {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn echo(mut conn: TcpStream) {
    let _ = conn.set_nonblocking(false);
    let mut buf = [0u8; 4096];
    let mut first = true;
    while let Ok(n) = conn.read(&mut buf) {
        if n == 0 {
            break;
        }
        // `curl` through a port-forward (the sandbox walkthrough) needs an HTTP answer; it
        // sends its whole small request at once, and closing after the answer lets it exit.
        if first && buf[..n].starts_with(b"GET ") {
            let _ = conn.write_all(&http_echo(&buf[..n]));
            break;
        }
        first = false;
        if conn.write_all(&buf[..n]).is_err() {
            break;
        }
    }
}

/// An HTTP/1.0 200 whose body is the request, then the connection closes.
fn http_echo(request: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        request.len()
    )
    .into_bytes();
    out.extend_from_slice(request);
    out
}

impl EchoServer {
    pub(crate) fn start() -> Result<Self, Error> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(Error::Port)?;
        let port = listener.local_addr().map_err(Error::Port)?.port();
        // Non-blocking accept so the thread notices `stop` and releases the port on drop.
        listener.set_nonblocking(true).map_err(Error::Port)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        std::thread::spawn(move || echo(conn));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Ok(Self {
            port,
            stop,
            thread: Some(thread),
        })
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The simulated node; there is no scheduler, so pods name it in `spec.nodeName`.
pub(crate) fn node_manifest(name: &str) -> String {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": { "kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0" },
            "labels": { "kubernetes.io/hostname": name, "type": "kwok" },
        },
    })
    .to_string()
}

/// kwok serves logs the way the kubelet does, from CRI log files: `<RFC 3339 time> <stream> F <line>`.
fn cri_log(text: &str) -> String {
    text.lines()
        .map(|line| format!("2026-01-01T00:00:00.000000000Z stdout F {line}\n"))
        .collect()
}

/// A pod to run on the kwok node.
#[derive(Debug, Clone)]
pub struct PodSpec<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    /// What `kubectl logs` returns for this pod.
    pub log: &'a str,
    /// Container ports; port-forwarding any of them reaches the echo server.
    pub ports: &'a [u16],
}

impl ControlPlane {
    /// Creates a namespace (as admin).
    pub fn create_namespace(&self, name: &str) -> Result<(), Error> {
        let ns = json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name } });
        self.apply(&ns.to_string()).map(|_| ())
    }

    /// Appends `text` to the logs of a pod made by [`Self::create_running_pod`]: a running
    /// `kubectl logs -f` receives it (kwok follows the file the way the kubelet does: its runtime
    /// stub answers "unavailable", which the CRI log reader takes for a running container).
    pub fn append_pod_log(&self, namespace: &str, name: &str, text: &str) -> Result<(), Error> {
        use std::io::Write as _;
        let path = self.logs_dir().join(format!("{namespace}_{name}.log"));
        let write = |source| Error::Write {
            path: path.clone(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(write)?;
        file.write_all(cri_log(text).as_bytes()).map_err(write)
    }

    /// Creates a pod on the kwok node whose logs are `spec.log`, and waits until it is Running.
    pub fn create_running_pod(&self, spec: &PodSpec<'_>) -> Result<(), Error> {
        let log_file = self
            .logs_dir()
            .join(format!("{}_{}.log", spec.namespace, spec.name));
        std::fs::write(&log_file, cri_log(spec.log)).map_err(|source| Error::Write {
            path: log_file.clone(),
            source,
        })?;
        let ports: Vec<_> = spec
            .ports
            .iter()
            .map(|p| json!({ "containerPort": p }))
            .collect();
        let logs = json!({
            "apiVersion": "kwok.x-k8s.io/v1alpha1",
            "kind": "Logs",
            "metadata": { "name": spec.name, "namespace": spec.namespace },
            "spec": { "logs": [{ "logsFile": log_file.to_string_lossy(), "follow": false }] },
        });
        let pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": { "name": spec.name, "namespace": spec.namespace, "labels": { "app": spec.name } },
            "spec": {
                "nodeName": self.node_name(),
                "containers": [{ "name": "app", "image": "registry.example/app:1", "ports": ports }],
            },
        });
        self.apply(&format!("{logs}\n---\n{pod}"))?;
        let pod_ref = format!("pod/{}", spec.name);
        self.admin(&[
            "wait",
            "-n",
            spec.namespace,
            "--for=jsonpath={.status.phase}=Running",
            "--timeout=60s",
            &pod_ref,
        ])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn exchange(server: &EchoServer, request: &[u8], read: usize) -> Vec<u8> {
        let mut conn = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
        conn.write_all(request).unwrap();
        let mut reply = vec![0u8; read];
        conn.read_exact(&mut reply).unwrap();
        reply
    }

    #[test]
    fn echoes_bytes_and_answers_an_http_get() {
        let server = EchoServer::start().unwrap();
        assert_eq!(exchange(&server, b"ping\n", 5), b"ping\n");
        let get = b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut conn = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
        conn.write_all(get).unwrap();
        let mut reply = String::new();
        conn.read_to_string(&mut reply).unwrap(); // ends: the server closes after answering
        let (head, body) = reply.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.0 200 OK\r\n"), "{head}");
        assert!(
            head.contains(&format!("Content-Length: {}", get.len())),
            "{head}"
        );
        assert_eq!(body.as_bytes(), get);
    }
}
