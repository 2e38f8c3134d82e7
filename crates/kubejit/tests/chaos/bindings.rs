//! Every grant's deadline as its RoleBinding's `expires-at` annotation said, watched from its own
//! thread (the watcher re-lists after an apiserver restart), and every deletion of one as the
//! kube-apiserver's audit log recorded it: the two sides of "no binding deleted before its deadline".

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};
use kubejit_testenv::ControlPlane;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub const EXPIRES_AT: &str = "debugging.kubernetes.io/expires-at";

/// Binding name → the `expires-at` it carried (the raw annotation; it never changes under Auto).
pub type Deadlines = BTreeMap<String, String>;

pub struct Watch {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Deadlines>>,
    thread: std::thread::JoinHandle<()>,
}

impl Watch {
    pub fn start(cp: &'static ControlPlane, ns: String) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Deadlines::new()));
        let (flag, into) = (Arc::clone(&stop), Arc::clone(&seen));
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(watch(cp, &ns, &flag, &into));
        });
        Self { stop, seen, thread }
    }

    pub fn stop(self) -> Deadlines {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap();
        let seen = self.seen.lock().unwrap();
        seen.clone()
    }
}

async fn watch(cp: &ControlPlane, ns: &str, stop: &AtomicBool, seen: &Mutex<Deadlines>) {
    let client = kubejit_kube::build_client(&kubejit_kube::ClientOptions {
        kubeconfig: Some(cp.admin_kubeconfig().to_path_buf()),
        context: None,
    })
    .await
    .unwrap();
    let api: Api<RoleBinding> = Api::namespaced(client, ns);
    let mut stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    while !stop.load(Ordering::SeqCst) {
        let next = tokio::time::timeout(Duration::from_millis(200), stream.next()).await;
        let Ok(Some(Ok(event))) = next else { continue };
        let objects: Vec<RoleBinding> = match event {
            watcher::Event::Apply(rb)
            | watcher::Event::InitApply(rb)
            | watcher::Event::Delete(rb) => {
                vec![rb]
            }
            watcher::Event::Init | watcher::Event::InitDone => Vec::new(),
        };
        for rb in objects {
            let deadline = rb
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(EXPIRES_AT));
            if let (Some(name), Some(deadline)) = (&rb.metadata.name, deadline) {
                seen.lock().unwrap().insert(name.clone(), deadline.clone());
            }
        }
    }
}

/// One successful DELETE of a RoleBinding in the namespace, from the apiserver's audit log.
#[derive(Debug, Clone)]
pub struct Deletion {
    pub name: String,
    pub user: String,
    /// When the apiserver received the request: the earliest the binding can have stopped working.
    pub received: OffsetDateTime,
    /// When it answered (etcd had committed the deletion): what the lag is measured to.
    pub completed: OffsetDateTime,
}

pub fn deletions(audit_log: &Path, ns: &str) -> Vec<Deletion> {
    let text = std::fs::read_to_string(audit_log).unwrap();
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|ev| {
            ev["stage"] == "ResponseComplete"
                && ev["verb"] == "delete"
                && ev["objectRef"]["resource"] == "rolebindings"
                && ev["objectRef"]["namespace"] == ns
                && ev["responseStatus"]["code"] == 200
        })
        .map(|ev| Deletion {
            name: ev["objectRef"]["name"].as_str().unwrap().to_owned(),
            user: ev["user"]["username"].as_str().unwrap_or("?").to_owned(),
            received: parse(ev["requestReceivedTimestamp"].as_str().unwrap()),
            completed: parse(ev["stageTimestamp"].as_str().unwrap()),
        })
        .collect()
}

pub fn parse(rfc3339: &str) -> OffsetDateTime {
    OffsetDateTime::parse(rfc3339, &Rfc3339).unwrap()
}
