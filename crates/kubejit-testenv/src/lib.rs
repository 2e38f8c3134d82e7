//! A real, throwaway Kubernetes control plane for kubejit's tests and its local sandbox.
//!
//! etcd, kube-apiserver and kube-controller-manager are the upstream binaries built by
//! `tools/control-plane/build.sh`; kwok simulates one node so that exec, logs and port-forward
//! really flow through the apiserver. Everything runs as local processes on 127.0.0.1, each in
//! its own process group, and is torn down on drop — or by a reaper process if ours dies first.

mod binaries;
mod cluster;
mod config;
mod deadline;
mod error;
mod kubeconfig;
mod kubectl;
mod pki;
mod ports;
mod process;
mod shared;
mod ssh;
mod workloads;

pub use binaries::{Binaries, ensure_built};
pub use cluster::{CONTROLLER_SA, ControlPlane, Options, Progress, TestUser};
pub use config::CLOSED_POD_PORT;
pub use deadline::{BoundedOutput, COMMAND_BOUND, output_within, wait_within};
pub use error::Error;
pub use kubectl::KubectlOutput;
pub use ports::free_port;
pub use shared::{shared, unique_namespace};
pub use ssh::{known_hosts_line, new_ssh_key, sign_user_key, ssh_client};
pub use workloads::PodSpec;
