//! Streams a kube-apiserver audit log (`audit.k8s.io/v1` Event per line) and selects the requests of
//! given identities during given windows, without parsing lines that cannot match.
//!
//! The log is read in large chunks and searched with `memmem` for each identity's JSON-quoted username
//! (`"alice"`); only the lines around a hit are parsed with serde (borrowing strings from the buffer).
//! Almost all of a multi-GiB log is therefore only ever touched by a vectorised byte search.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{ErrorKind, Read};

use memchr::memmem::Finder;
use serde::{Deserialize, Serialize};

use super::window::AccessWindow;
use crate::{AuditError, Timestamp};

/// Size of the read buffer: big enough that syscalls are noise, small enough for the RSS budget.
const CHUNK: usize = 4 * 1024 * 1024;

/// One selected API request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub time: String,
    pub user: String,
    pub groups: Vec<String>,
    pub impersonated_user: Option<String>,
    pub verb: String,
    pub resource: Option<String>,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub code: Option<u16>,
    pub audit_id: String,
    /// False for a denied request made outside every access window (attempts before/after access).
    pub during_access: bool,
}

/// Counters from one scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanStats {
    pub bytes: u64,
    /// Lines parsed because they may have matched.
    pub parsed: u64,
    /// Parsed lines that were not valid audit events (e.g. a partial line at rotation).
    pub malformed: u64,
    pub rows: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiEvent<'a> {
    #[serde(borrow, rename = "auditID", default)]
    audit_id: Cow<'a, str>,
    #[serde(borrow)]
    stage: Cow<'a, str>,
    #[serde(borrow, default)]
    verb: Cow<'a, str>,
    #[serde(borrow)]
    user: UserInfo<'a>,
    #[serde(borrow, default)]
    impersonated_user: Option<UserInfo<'a>>,
    #[serde(borrow, default)]
    object_ref: Option<ObjectRef<'a>>,
    #[serde(default)]
    response_status: Option<Status>,
    #[serde(borrow)]
    request_received_timestamp: Cow<'a, str>,
}

#[derive(Deserialize)]
struct UserInfo<'a> {
    #[serde(borrow, default)]
    username: Cow<'a, str>,
    #[serde(borrow, default)]
    groups: Vec<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ObjectRef<'a> {
    #[serde(borrow, default)]
    resource: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    namespace: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    subresource: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Status {
    code: Option<u16>,
}

/// Which identities to select, and when.
#[derive(Debug)]
pub struct Selector {
    users: HashMap<String, UserWindows>,
    /// Grants to groups: any member's requests count (the request's `user.groups` names the group).
    groups: HashMap<String, UserWindows>,
    /// `None` when some username could be escaped differently by the apiserver: then every line is parsed.
    needles: Option<Vec<Vec<u8>>>,
}

/// One identity's windows, and the span from the first start to the last end (for denied attempts).
#[derive(Debug)]
struct UserWindows {
    windows: Vec<AccessWindow>,
    span: AccessWindow,
}

impl Selector {
    /// Selects the subjects of `windows`: the user of each window with a subject, and for grants also
    /// the members of each granted group. (A certificate's groups are not a grant to the group: only
    /// its own subject used it.)
    pub fn new(windows: &[AccessWindow]) -> Self {
        let mut by_user: HashMap<&str, Vec<AccessWindow>> = HashMap::new();
        let mut by_group: HashMap<&str, Vec<AccessWindow>> = HashMap::new();
        for window in windows {
            // One entry per user: a username may itself contain a comma (`a,b` is one user).
            for user in window.users.iter().filter(|u| !u.is_empty()) {
                by_user.entry(user).or_default().push(window.clone());
            }
            if window.source == "grant" {
                for group in &window.groups {
                    by_group.entry(group).or_default().push(window.clone());
                }
            }
        }
        let index = |grouped: HashMap<&str, Vec<AccessWindow>>| -> HashMap<String, UserWindows> {
            grouped
                .into_iter()
                .map(|(who, windows)| (who.to_owned(), UserWindows::new(who, windows)))
                .collect()
        };
        let (users, groups) = (index(by_user), index(by_group));
        let needles = users
            .keys()
            .chain(groups.keys())
            .map(|who| needle(who))
            .collect();
        Self {
            users,
            groups,
            needles,
        }
    }

    /// `Some(true)` for a request inside a window, `Some(false)` for a denied one inside the span.
    fn classify(&self, user: &str, time: Timestamp, denied: bool) -> Option<bool> {
        self.users.get(user)?.classify(time, denied)
    }

    /// The best classification over the request's groups (inside a window beats a denied attempt).
    fn classify_groups(
        &self,
        groups: &[Cow<'_, str>],
        time: Timestamp,
        denied: bool,
    ) -> Option<bool> {
        groups
            .iter()
            .filter_map(|g| self.groups.get(g.as_ref())?.classify(time, denied))
            .max()
    }
}

impl UserWindows {
    fn classify(&self, time: Timestamp, denied: bool) -> Option<bool> {
        if self.windows.iter().any(|w| w.contains(time)) {
            return Some(true);
        }
        (denied && self.span.contains(time)).then_some(false)
    }

    fn new(user: &str, windows: Vec<AccessWindow>) -> Self {
        // `None` is unbounded: it sorts first for `min`, and any open end makes the span open.
        let from = windows.iter().map(|w| w.from).min().flatten();
        let open_ended = windows.iter().any(|w| w.until.is_none());
        let until = if open_ended {
            None
        } else {
            windows.iter().filter_map(|w| w.until).max()
        };
        Self {
            windows,
            span: AccessWindow::requested(user, from, until),
        }
    }
}

/// The username as the apiserver's JSON encoder writes it, quoted; `None` if it contains characters
/// that Go might escape (`<>&`, quotes, backslashes, controls, non-ASCII), where a byte search is unsafe.
fn needle(user: &str) -> Option<Vec<u8>> {
    let plain = user
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\\' | b'<' | b'>' | b'&'));
    plain.then(|| format!("\"{user}\"").into_bytes())
}

/// Streams `log`, calling `emit` for each selected request in file order.
pub fn scan(
    log: impl Read,
    selector: &Selector,
    mut emit: impl FnMut(Row),
) -> Result<ScanStats, AuditError> {
    let mut stats = ScanStats::default();
    let finders: Option<Vec<Finder<'_>>> = selector
        .needles
        .as_ref()
        .map(|n| n.iter().map(Finder::new).collect());
    let mut on_line = |line: &[u8], stats: &mut ScanStats| {
        stats.parsed += 1;
        match select(line, selector) {
            Ok(Some(row)) => {
                stats.rows += 1;
                emit(row);
            }
            Ok(None) => {}
            Err(()) => stats.malformed += 1,
        }
    };
    for_each_region(log, &mut stats, |region, stats| match &finders {
        Some(finders) => candidate_lines(region, finders, |line| on_line(line, stats)),
        None => region
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .for_each(|line| on_line(line, stats)),
    })?;
    Ok(stats)
}

/// Reads `log` in chunks and hands over regions made of whole lines (the last may lack its newline).
fn for_each_region(
    mut log: impl Read,
    stats: &mut ScanStats,
    mut f: impl FnMut(&[u8], &mut ScanStats),
) -> Result<(), AuditError> {
    let mut buf = vec![0u8; CHUNK];
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0); // a single line longer than the buffer
        }
        let n = match log.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(AuditError::Read {
                    what: "kube-apiserver audit log".to_owned(),
                    source,
                });
            }
        };
        stats.bytes += n as u64;
        filled += n;
        let end = match (n, memchr::memrchr(b'\n', &buf[..filled])) {
            (0, _) => filled,
            (_, Some(pos)) => pos + 1,
            (_, None) => continue,
        };
        f(&buf[..end], stats);
        buf.copy_within(end..filled, 0);
        filled -= end;
        if n == 0 {
            return Ok(());
        }
    }
}

/// Calls `f` once per line of `region` that contains any needle, in order. Each finder's next hit is
/// cached, so a rare needle is not re-searched after every hit of a frequent one.
fn candidate_lines(region: &[u8], finders: &[Finder<'_>], mut f: impl FnMut(&[u8])) {
    let mut next: Vec<Option<usize>> = finders.iter().map(|finder| finder.find(region)).collect();
    let mut pos = 0;
    while let Some(hit) = next.iter().flatten().copied().min() {
        let start = memchr::memrchr(b'\n', &region[pos..hit]).map_or(pos, |p| pos + p + 1);
        let end = memchr::memchr(b'\n', &region[hit..]).map_or(region.len(), |p| hit + p);
        f(&region[start..end]);
        pos = end + 1;
        for (slot, finder) in next.iter_mut().zip(finders) {
            if slot.is_some_and(|s| s < pos) {
                *slot = region
                    .get(pos..)
                    .and_then(|rest| finder.find(rest))
                    .map(|p| pos + p);
            }
        }
    }
}

/// Parses a candidate line and turns it into a row if it is selected. `Err` for a malformed line.
fn select(line: &[u8], selector: &Selector) -> Result<Option<Row>, ()> {
    let event: ApiEvent<'_> = serde_json::from_slice(line).map_err(|_| ())?;
    if event.stage != "ResponseComplete" && event.stage != "Panic" {
        return Ok(None);
    }
    let time = Timestamp::parse(&event.request_received_timestamp).map_err(|_| ())?;
    let code = event.response_status.as_ref().and_then(|s| s.code);
    let denied = code == Some(403);
    let impersonated = event
        .impersonated_user
        .as_ref()
        .map(|u| u.username.as_ref());
    let during = selector
        .classify(&event.user.username, time, denied)
        .or_else(|| impersonated.and_then(|u| selector.classify(u, time, denied)))
        .or_else(|| selector.classify_groups(&event.user.groups, time, denied));
    Ok(during.map(|during_access| row(event, code, during_access)))
}

fn row(event: ApiEvent<'_>, code: Option<u16>, during_access: bool) -> Row {
    let object = event.object_ref.unwrap_or(ObjectRef {
        resource: None,
        namespace: None,
        name: None,
        subresource: None,
    });
    let owned = |field: Option<Cow<'_, str>>| field.map(Cow::into_owned);
    Row {
        time: event.request_received_timestamp.into_owned(),
        groups: event.user.groups.iter().map(|g| g.to_string()).collect(),
        user: event.user.username.into_owned(),
        impersonated_user: event.impersonated_user.map(|u| u.username.into_owned()),
        verb: event.verb.into_owned(),
        resource: owned(object.resource),
        subresource: owned(object.subresource),
        namespace: owned(object.namespace),
        name: owned(object.name),
        code,
        audit_id: event.audit_id.into_owned(),
        during_access,
    }
}

#[cfg(test)]
#[path = "apiserver_tests.rs"]
mod tests;
