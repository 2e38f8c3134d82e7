//! The Normal Events that say grants expired, coalesced: one write per deletion is the DELETE itself.
//!
//! A grant made under an AccessRequest gets no Event of its own (the request's `Expired` phase Event
//! already says it ended). Other RoleBindings that expire are gathered per namespace and announced by
//! one `GrantsExpired` Event on the Namespace every [`WINDOW`] (deadlines are whole seconds, so expiries
//! come in bursts: hundreds per second would otherwise mean hundreds of Event writes racing the
//! DELETEs). ClusterRoleBindings keep one `GrantExpired` Event each: they are rare and cluster-wide.
//! The coalesced Event lives in the namespace (where `kubectl get events -n` shows it) and regards the
//! first binding of its batch: an Event about a Namespace would have to live in `default`.
//! Events are informational; the `grantExpired` audit record of every grant is written as before.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use tokio_util::sync::CancellationToken;

use super::k8s_event::{self, About, Kind};

/// How long expiries are gathered before their Event is written.
pub(crate) const WINDOW: Duration = Duration::from_secs(10);
/// Names quoted per Event; the rest are counted (an Event's note holds 1 kB).
const NAMED: usize = 20;

/// Expired RoleBindings not yet announced, per namespace.
#[derive(Debug, Default)]
pub(crate) struct ExpiryEvents {
    pending: Mutex<BTreeMap<String, Batch>>,
}

/// One namespace's expiries in the current window: the first [`NAMED`] names, how many in all, and
/// the first binding, which the Event regards.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Batch {
    pub names: Vec<String>,
    pub count: usize,
    pub first: ObjectReference,
}

impl ExpiryEvents {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Batch>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes that the RoleBinding `binding` (its reference) expired; memory stays bounded by [`NAMED`]
    /// names per namespace.
    pub(crate) fn add(
        &self,
        namespace: &str,
        name: &str,
        binding: impl FnOnce() -> ObjectReference,
    ) {
        let mut pending = self.lock();
        let batch = pending
            .entry(namespace.to_owned())
            .or_insert_with(|| Batch {
                first: binding(),
                ..Batch::default()
            });
        batch.count += 1;
        if batch.names.len() < NAMED {
            batch.names.push(name.to_owned());
        }
    }

    /// Everything gathered so far, leaving nothing behind.
    pub(crate) fn take(&self) -> BTreeMap<String, Batch> {
        std::mem::take(&mut *self.lock())
    }

    /// Writes the gathered Events every [`WINDOW`] until `term` is cancelled, then once more.
    pub(crate) async fn run(&self, ctx: &crate::Context, term: CancellationToken) {
        loop {
            let stopping = tokio::select! {
                () = tokio::time::sleep(WINDOW) => false,
                () = term.cancelled() => true,
            };
            self.flush(ctx).await;
            if stopping {
                return;
            }
        }
    }

    /// Writes one Event per namespace for what was gathered, and forgets it.
    pub(crate) async fn flush(&self, ctx: &crate::Context) {
        for (namespace, batch) in self.take() {
            let note = note(&batch);
            let about = About {
                namespace: &namespace,
                regarding: batch.first,
                name: "kubejit-grants-expired",
            };
            k8s_event::publish_about(ctx, about, Kind::Normal, "GrantsExpired", note).await;
        }
    }
}

/// `kubejit deleted 3 expired RoleBindings in this namespace: a, b, c` (names past [`NAMED`] counted).
pub(crate) fn note(batch: &Batch) -> String {
    let more = batch.count.saturating_sub(batch.names.len());
    let tail = match more {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    format!(
        "kubejit deleted {} expired RoleBinding{} in this namespace: {}{tail} (each has a grantExpired audit record)",
        batch.count,
        if batch.count == 1 { "" } else { "s" },
        batch.names.join(", "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(name: &str) -> ObjectReference {
        ObjectReference {
            kind: Some("RoleBinding".into()),
            name: Some(name.into()),
            ..ObjectReference::default()
        }
    }

    #[test]
    fn expiries_are_gathered_per_namespace_and_taken_once() {
        let e = ExpiryEvents::default();
        e.add("a", "jit-1", || reference("jit-1"));
        e.add("b", "jit-2", || reference("jit-2"));
        e.add("a", "jit-3", || {
            panic!("only the first binding is referenced")
        });
        let taken = e.take();
        assert_eq!(taken.len(), 2);
        assert_eq!(taken["a"].names, ["jit-1", "jit-3"]);
        assert_eq!(taken["a"].count, 2);
        assert_eq!(taken["a"].first.name.as_deref(), Some("jit-1"));
        assert!(e.take().is_empty(), "nothing is announced twice");
    }

    #[test]
    fn a_burst_keeps_only_the_first_names_but_counts_all() {
        let e = ExpiryEvents::default();
        for i in 0..1000 {
            e.add("ns", &format!("jit-{i}"), || reference("jit-0"));
        }
        let batch = &e.take()["ns"];
        assert_eq!((batch.names.len(), batch.count), (NAMED, 1000));
        let note = note(batch);
        assert!(
            note.starts_with("kubejit deleted 1000 expired RoleBindings"),
            "{note}"
        );
        assert!(note.contains("jit-19 and 980 more"), "{note}");
        assert!(note.len() < 1024, "fits an Event: {}", note.len());
    }

    #[test]
    fn notes_read_right_for_one_grant() {
        let batch = Batch {
            names: vec!["jit-x".into()],
            count: 1,
            first: reference("jit-x"),
        };
        assert_eq!(
            note(&batch),
            "kubejit deleted 1 expired RoleBinding in this namespace: jit-x (each has a grantExpired audit record)"
        );
    }
}
