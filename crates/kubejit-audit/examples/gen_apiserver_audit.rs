//! Writes a realistic kube-apiserver audit log (`audit.k8s.io/v1` JSON lines) of about N bytes, for
//! benchmarking `report` against `jq`.
//!
//! Usage: `gen_apiserver_audit <bytes> <output>` (bytes accepts a `G`/`M`/`K` suffix). The mix: 1,000
//! human users (`user-0`..`user-999`) and service accounts and control-plane identities, get/list/watch/
//! create/update/patch/delete on common resources, pods log/exec/portforward subresources, ~3% 403s,
//! some impersonation, and both RequestReceived and ResponseComplete stages as a Metadata policy logs.

use std::fmt::Write as _;
use std::io::{BufWriter, Write};

/// xorshift64*: deterministic and fast, so the same size always yields the same file.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const VERBS: [&str; 7] = [
    "get", "list", "watch", "create", "update", "patch", "delete",
];
const RESOURCES: [(&str, &str); 8] = [
    ("pods", ""),
    ("deployments", "apps"),
    ("configmaps", ""),
    ("secrets", ""),
    ("services", ""),
    ("leases", "coordination.k8s.io"),
    ("events", ""),
    ("replicasets", "apps"),
];
const NAMESPACES: [&str; 6] = [
    "default",
    "shop",
    "payments",
    "kube-system",
    "monitoring",
    "ingress",
];
const AGENTS: [&str; 3] = [
    "kubectl/v1.31.0 (linux/amd64) kubernetes/abc1234",
    "kube-controller-manager/v1.31.0",
    "Go-http-client/2.0",
];

fn parse_size(text: &str) -> Result<u64, String> {
    let (digits, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c.to_ascii_uppercase()),
        _ => (text, 'B'),
    };
    let n: u64 = digits
        .parse()
        .map_err(|e| format!("bad size {text:?}: {e}"))?;
    let scale = match unit {
        'G' => 1 << 30,
        'M' => 1 << 20,
        'K' => 1 << 10,
        'B' => 1,
        other => return Err(format!("unknown size unit {other}")),
    };
    Ok(n * scale)
}

/// `2024-05-01T00:00:00.000000Z` plus `micros`.
fn timestamp(out: &mut String, micros: u64) {
    let secs = micros / 1_000_000;
    let (day, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let _ = write!(
        out,
        "2024-05-{:02}T{h:02}:{m:02}:{s:02}.{:06}Z",
        1 + day % 28,
        micros % 1_000_000
    );
}

struct Request {
    user: String,
    groups: &'static str,
    verb: &'static str,
    resource: (&'static str, &'static str),
    subresource: Option<&'static str>,
    namespace: &'static str,
    name: String,
    code: u16,
    impersonate: Option<String>,
}

fn request(rng: &mut Rng) -> Request {
    let (user, groups) = match rng.below(10) {
        0..=5 => (
            format!("user-{}", rng.below(1000)),
            r#"["oncall","system:authenticated"]"#,
        ),
        6..=8 => {
            let ns = rng.pick(&NAMESPACES);
            (
                format!("system:serviceaccount:{ns}:app-{}", rng.below(50)),
                r#"["system:serviceaccounts","system:authenticated"]"#,
            )
        }
        _ => (
            "system:kube-controller-manager".to_owned(),
            r#"["system:authenticated"]"#,
        ),
    };
    let resource = RESOURCES[rng.below(RESOURCES.len() as u64) as usize];
    let mut verb = rng.pick(&VERBS);
    let subresource = match (resource.0, rng.below(20)) {
        ("pods", 0..=2) => Some("log"),
        ("pods", 3) => Some("exec"),
        ("pods", 4) => Some("portforward"),
        ("deployments", 5) => Some("status"),
        _ => None,
    };
    if matches!(subresource, Some("exec" | "portforward")) {
        verb = "create";
    } else if subresource == Some("log") {
        verb = "get";
    }
    let code = if rng.below(33) == 0 {
        403
    } else if verb == "create" {
        201
    } else {
        200
    };
    let impersonate = (rng.below(200) == 0).then(|| format!("user-{}", rng.below(1000)));
    let name = format!(
        "{}-{:x}",
        resource.0.trim_end_matches('s'),
        rng.below(1 << 20)
    );
    Request {
        user,
        groups,
        verb,
        resource,
        subresource,
        namespace: rng.pick(&NAMESPACES),
        name,
        code,
        impersonate,
    }
}

fn event(out: &mut String, rng: &mut Rng, r: &Request, stage: &str, micros: u64) {
    let id = rng.next();
    let sub = r.subresource.map(|s| format!("/{s}")).unwrap_or_default();
    let group_path = if r.resource.1.is_empty() {
        "/api/v1".to_owned()
    } else {
        format!("/apis/{}/v1", r.resource.1)
    };
    let _ = write!(
        out,
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}","stage":"{stage}","requestURI":"{group_path}/namespaces/{ns}/{res}/{name}{sub}","verb":"{verb}","user":{{"username":"{user}","groups":{groups}}},"#,
        id >> 32,
        id & 0xffff,
        (id >> 16) & 0xfff,
        (id >> 20) & 0xfff,
        id >> 16,
        ns = r.namespace,
        res = r.resource.0,
        name = r.name,
        verb = r.verb,
        user = r.user,
        groups = r.groups,
    );
    if let Some(imp) = &r.impersonate {
        let _ = write!(
            out,
            r#""impersonatedUser":{{"username":"{imp}","groups":["system:authenticated"]}},"#
        );
    }
    let _ = write!(
        out,
        r#""sourceIPs":["10.{}.{}.{}"],"userAgent":"{}","objectRef":{{"resource":"{}","namespace":"{}","name":"{}","apiGroup":"{}","apiVersion":"v1""#,
        rng.below(256),
        rng.below(256),
        rng.below(256),
        rng.pick(&AGENTS),
        r.resource.0,
        r.namespace,
        r.name,
        r.resource.1,
    );
    if let Some(s) = r.subresource {
        let _ = write!(out, r#","subresource":"{s}""#);
    }
    out.push('}');
    if stage != "RequestReceived" {
        let reason = if r.code == 403 {
            r#","status":"Failure","message":"forbidden: User cannot perform this action","reason":"Forbidden""#
        } else {
            ""
        };
        let _ = write!(
            out,
            r#","responseStatus":{{"metadata":{{}}{reason},"code":{}}}"#,
            r.code
        );
    }
    out.push_str(r#","requestReceivedTimestamp":""#);
    timestamp(out, micros);
    out.push_str(r#"","stageTimestamp":""#);
    timestamp(
        out,
        micros + if stage == "RequestReceived" { 0 } else { 1500 },
    );
    out.push_str(r#"","annotations":{"authorization.k8s.io/decision":""#);
    out.push_str(if r.code == 403 { "forbid" } else { "allow" });
    out.push_str(r#"","authorization.k8s.io/reason":"RBAC: allowed by RoleBinding"}}"#);
    out.push('\n');
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, size, path] = args.as_slice() else {
        return Err("usage: gen_apiserver_audit <bytes[K|M|G]> <output>".into());
    };
    let target = parse_size(size)?;
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let (mut rng, mut written, mut micros, mut line) =
        (Rng(0x9e37_79b9_7f4a_7c15), 0u64, 0u64, String::new());
    while written < target {
        let r = request(&mut rng);
        micros += 1 + rng.below(40_000);
        for stage in ["RequestReceived", "ResponseComplete"] {
            line.clear();
            event(&mut line, &mut rng, &r, stage, micros);
            out.write_all(line.as_bytes())?;
            written += line.len() as u64;
        }
    }
    out.flush()?;
    eprintln!("wrote {written} bytes to {path}");
    Ok(())
}
