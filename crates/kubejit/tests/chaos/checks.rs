//! What must hold after a chaos run, read from the cluster, the apiserver's audit log and every
//! replica's trail. Each check adds to one list of failures, so a run reports everything it broke.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use kubejit_testenv::{BoundedOutput, ControlPlane};
use serde_json::Value;
use time::OffsetDateTime;

use crate::bindings::{Deadlines, Deletion, parse};
use crate::replicas::Replica;
use crate::workload::Expect;

#[derive(Default)]
pub struct Failures(pub Vec<String>);

impl Failures {
    pub fn add(&mut self, failure: String) {
        self.0.push(failure);
    }
}

/// Every object of a kind as the admin lists it (`items`).
pub fn list(cp: &ControlPlane, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    let out = cp.admin(&all).unwrap();
    let list: Value = serde_json::from_str(&out.stdout).unwrap();
    list["items"].as_array().cloned().unwrap_or_default()
}

/// The CSRs of run `prefix`, with what each must end as.
pub fn csrs(cp: &ControlPlane, prefix: &str) -> Vec<(Value, Expect)> {
    list(cp, &["csr"])
        .into_iter()
        .filter_map(|c| {
            let expect = Expect::of(prefix, c["metadata"]["name"].as_str()?)?;
            Some((c, expect))
        })
        .collect()
}

/// "Approved", "Denied" or "" (undecided).
pub fn decision(csr: &Value) -> &str {
    csr["status"]["conditions"]
        .as_array()
        .and_then(|cs| {
            cs.iter()
                .find(|c| c["type"] == "Approved" || c["type"] == "Denied")
        })
        .and_then(|c| c["type"].as_str())
        .unwrap_or("")
}

/// What is still open: CSRs not decided as expected, requests not Expired, bindings left.
pub fn unsettled(cp: &ControlPlane, prefix: &str, ns: &str) -> Vec<String> {
    let mut open = Vec::new();
    for (csr, expect) in csrs(cp, prefix) {
        let want = match expect {
            Expect::Approved => "Approved",
            Expect::Denied => "Denied",
            Expect::Pending => "",
        };
        if decision(&csr) != want {
            open.push(format!("csr {}", csr["metadata"]["name"]));
        }
    }
    for r in list(cp, &["accessrequests", "-n", ns]) {
        if r["status"]["phase"] != "Expired" {
            open.push(format!(
                "request {} ({})",
                r["metadata"]["name"], r["status"]["phase"]
            ));
        }
    }
    for b in list(cp, &["rolebindings", "-n", ns]) {
        if b["metadata"]["annotations"][crate::bindings::EXPIRES_AT].is_string() {
            open.push(format!("binding {}", b["metadata"]["name"]));
        }
    }
    open
}

/// The records (not checkpoint lines) of a trail.
pub fn records(trail: &Path) -> Vec<Value> {
    std::fs::read_to_string(trail)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["kind"].is_string())
        .collect()
}

/// Facts that happen once per object: a second record of one is a duplicate. (Lifecycle records,
/// `controllerStarted` and the like, happen once per process and are not facts about an object.)
const ONCE: &[&str] = &[
    "certificateApproved",
    "certificateDenied",
    "certificatePending",
    "accessRequested",
    "accessApproved",
    "accessDenied",
    "accessTimedOut",
    "accessRevoked",
    "grantCreated",
    "grantExpired",
    "grantRevoked",
    "foreignGrant",
];

/// Duplicates within one trail: the same eventId twice, or one fact about one object twice (a
/// pending decision counts once per distinct message: a changed reason is a new fact).
pub fn duplicates(replica: &Replica, failures: &mut Failures) {
    let records = records(&replica.trail);
    let mut ids = BTreeMap::<String, usize>::new();
    let mut facts = BTreeMap::<(String, String, String), usize>::new();
    for r in &records {
        *ids.entry(r["eventId"].to_string()).or_default() += 1;
        let kind = r["kind"].as_str().unwrap_or_default();
        if ONCE.contains(&kind) {
            let detail = if kind == "certificatePending" {
                r["reason"].to_string()
            } else {
                String::new()
            };
            let uid = r["object"]["uid"].as_str().unwrap_or_default().to_owned();
            let key = (kind.to_owned(), uid, detail);
            *facts.entry(key).or_default() += 1;
        }
    }
    for (id, n) in ids.iter().filter(|(_, n)| **n > 1) {
        failures.add(format!("{}: eventId {id} recorded {n} times", replica.name));
    }
    for ((kind, uid, _), n) in facts.iter().filter(|(_, n)| **n > 1) {
        let name = records
            .iter()
            .find(|r| r["kind"] == kind.as_str() && r["object"]["uid"] == uid.as_str())
            .map(|r| r["object"]["name"].to_string())
            .unwrap_or_default();
        failures.add(format!(
            "{}: {kind} about {name} (uid {uid}) recorded {n} times",
            replica.name
        ));
    }
}

/// A fact about one object that both replicas' trails hold.
pub struct Twice {
    pub kind: String,
    pub name: String,
    /// Both copies carry one `eventId` (derived from the object), so readers see one fact.
    pub same_id: bool,
}

impl Twice {
    /// An action (approving or denying a CSR, creating or expiring a grant) rather than a request's
    /// story, which a new leader writes again for every live request (see docs/benchmarks.md#chaos).
    pub fn is_action(&self) -> bool {
        !matches!(self.kind.as_str(), "accessRequested" | "accessApproved")
    }
}

impl std::fmt::Display for Twice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids = if self.same_id {
            "one eventId"
        } else {
            "two eventIds"
        };
        write!(
            f,
            "{} about {} in both trails ({ids})",
            self.kind, self.name
        )
    }
}

/// Facts recorded by both replicas. After a SIGKILL between a record and its action the next leader
/// records the fact again in its own trail (records come first); and a new leader makes sure every
/// live request's `accessRequested`/`accessApproved` is in its trail.
pub fn across_trails(replicas: &[Replica]) -> Vec<Twice> {
    const FACTS: &[&str] = &[
        "certificateApproved",
        "certificateDenied",
        "accessRequested",
        "accessApproved",
        "grantCreated",
        "grantExpired",
    ];
    let per_trail: Vec<BTreeMap<(String, String), (String, String)>> = replicas
        .iter()
        .map(|r| {
            records(&r.trail)
                .into_iter()
                .filter(|rec| FACTS.iter().any(|k| rec["kind"] == *k))
                .map(|rec| {
                    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
                    let key = (text(&rec["kind"]), text(&rec["object"]["uid"]));
                    (key, (text(&rec["object"]["name"]), text(&rec["eventId"])))
                })
                .collect()
        })
        .collect();
    let [a, b] = per_trail.as_slice() else {
        return Vec::new();
    };
    a.iter()
        .filter_map(|((kind, uid), (name, id))| {
            let (_, other) = b.get(&(kind.clone(), uid.clone()))?;
            Some(Twice {
                kind: kind.clone(),
                name: name.clone(),
                same_id: id == other,
            })
        })
        .collect()
}

/// `kubejit audit verify` against the anchor in the cluster: hash chain and anchored checkpoints.
pub fn verify(cp: &ControlPlane, replica: &Replica, public_key: &Path, failures: &mut Failures) {
    if !replica.trail.exists() {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_kubejit"))
        .env_remove("KUBECONFIG")
        .args(["audit", "verify"])
        .arg(&replica.trail)
        .arg("--public-key")
        .arg(public_key)
        .args(["--checkpoints", "from-cluster", "--trail", &replica.name])
        .arg("--kubeconfig")
        .arg(cp.admin_kubeconfig())
        .output_bounded()
        .unwrap();
    if !out.status.success() {
        failures.add(format!(
            "{}: audit verify {}: {}{}",
            replica.name,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
}

/// Object uids that some trail records `kind` about.
pub fn recorded_uids(replicas: &[Replica], kind: &str) -> BTreeSet<String> {
    replicas
        .iter()
        .flat_map(|r| records(&r.trail))
        .filter(|r| r["kind"] == kind)
        .filter_map(|r| r["object"]["uid"].as_str().map(str::to_owned))
        .collect()
}

/// No CSR approved without its record, none approved or denied against policy.
pub fn csr_decisions(
    cp: &ControlPlane,
    prefix: &str,
    replicas: &[Replica],
    failures: &mut Failures,
) -> usize {
    let approved_records = recorded_uids(replicas, "certificateApproved");
    let denied_records = recorded_uids(replicas, "certificateDenied");
    let all = csrs(cp, prefix);
    for (csr, expect) in &all {
        let name = csr["metadata"]["name"].as_str().unwrap_or_default();
        let uid = csr["metadata"]["uid"].as_str().unwrap_or_default();
        let got = decision(csr);
        let decided = csr["status"]["conditions"].as_array().map_or(0, |cs| {
            cs.iter()
                .filter(|c| c["type"] == "Approved" || c["type"] == "Denied")
                .count()
        });
        if decided > 1 {
            failures.add(format!("csr {name} decided {decided} times"));
        }
        match (got, expect) {
            ("Approved", Expect::Approved) | ("Denied", Expect::Denied) | ("", Expect::Pending) => {
            }
            _ => failures.add(format!("csr {name}: {got:?}, policy says {expect:?}")),
        }
        if got == "Approved" && !approved_records.contains(uid) {
            failures.add(format!(
                "csr {name} approved without a certificateApproved record"
            ));
        }
        if got == "Denied" && !denied_records.contains(uid) {
            failures.add(format!(
                "csr {name} denied without a certificateDenied record"
            ));
        }
    }
    all.len()
}

/// Every request Expired, every grant approved on the record.
pub fn requests(
    cp: &ControlPlane,
    ns: &str,
    replicas: &[Replica],
    failures: &mut Failures,
) -> Vec<Value> {
    let approved = recorded_uids(replicas, "accessApproved");
    let all = list(cp, &["accessrequests", "-n", ns]);
    for r in &all {
        let name = r["metadata"]["name"].as_str().unwrap_or_default();
        if r["status"]["phase"] != "Expired" {
            failures.add(format!("request {name}: phase {}", r["status"]["phase"]));
        }
        let uid = r["metadata"]["uid"].as_str().unwrap_or_default();
        if r["status"]["binding"].is_string() && !approved.contains(uid) {
            failures.add(format!(
                "request {name} granted without an accessApproved record"
            ));
        }
    }
    all
}

/// No request granted twice: at most one RoleBinding created (201 in the apiserver's audit log) per
/// request (a grant is named after its request plus a suffix).
pub fn grants_created(audit_log: &Path, ns: &str, requests: &[Value], failures: &mut Failures) {
    let text = std::fs::read_to_string(audit_log).unwrap();
    let created: Vec<String> = text
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|ev| {
            ev["stage"] == "ResponseComplete"
                && ev["verb"] == "create"
                && ev["objectRef"]["resource"] == "rolebindings"
                && ev["objectRef"]["namespace"] == ns
                && ev["responseStatus"]["code"] == 201
        })
        .filter_map(|ev| ev["objectRef"]["name"].as_str().map(str::to_owned))
        .collect();
    for r in requests {
        let name = r["metadata"]["name"].as_str().unwrap_or_default();
        let prefix = format!("{name}-");
        let n = created
            .iter()
            .filter(|b| {
                b.strip_prefix(&prefix)
                    .is_some_and(|rest| !rest.contains('-'))
            })
            .count();
        if n > 1 {
            failures.add(format!("request {name} granted {n} times"));
        }
    }
}

/// Lags (seconds) of the deletions: after the deadline, for deadlines during the disruptions and
/// after the last one; and for bindings whose deadline passed during the disruptions but which were
/// deleted after the last one, the time from the end of the last disruption to the deletion.
#[derive(Default)]
pub struct Lags {
    pub during: Vec<f64>,
    pub after: Vec<f64>,
    pub catch_up: Vec<f64>,
}

/// No binding deleted before its deadline; returns the lags for the report.
pub fn deletions(
    deletions: &[Deletion],
    deadlines: &Deadlines,
    requests: &[Value],
    last_disruption: OffsetDateTime,
    failures: &mut Failures,
) -> Lags {
    // Fallback for a binding created and deleted while the watch was down: the request's expiresAt.
    let from_requests: BTreeMap<&str, &str> = requests
        .iter()
        .filter_map(|r| {
            Some((
                r["status"]["binding"].as_str()?,
                r["status"]["expiresAt"].as_str()?,
            ))
        })
        .collect();
    let mut lags = Lags::default();
    for d in deletions {
        let deadline = deadlines
            .get(&d.name)
            .map(String::as_str)
            .or_else(|| from_requests.get(d.name.as_str()).copied());
        let Some(deadline) = deadline.map(parse) else {
            failures.add(format!(
                "binding {} deleted by {}; its deadline was never seen",
                d.name, d.user
            ));
            continue;
        };
        if d.received < deadline {
            failures.add(format!(
                "binding {} deleted by {} at {} before its deadline {deadline}",
                d.name, d.user, d.received
            ));
        }
        let lag = (d.completed - deadline).as_seconds_f64();
        if deadline > last_disruption {
            lags.after.push(lag);
        } else {
            lags.during.push(lag);
            if d.completed > last_disruption {
                lags.catch_up
                    .push((d.completed - last_disruption).as_seconds_f64());
            }
        }
    }
    for name in deadlines.keys() {
        if !deletions.iter().any(|d| &d.name == name) {
            failures.add(format!(
                "binding {name}: no deletion in the apiserver's audit log"
            ));
        }
    }
    lags
}

/// "n=…, median …s, max …s".
pub fn summary(values: &mut [f64]) -> String {
    if values.is_empty() {
        return "n=0".to_owned();
    }
    values.sort_by(f64::total_cmp);
    format!(
        "n={}, median {:.3}s, max {:.3}s",
        values.len(),
        values[values.len() / 2],
        values[values.len() - 1]
    )
}
