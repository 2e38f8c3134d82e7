//! Kubernetes Events about grants (events.k8s.io/v1), created directly: no client-side cache, so
//! memory stays flat however many grants expire. A failed Event is logged, never retried.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::ResourceExt;
use kube::api::{Api, PostParams};
use kubejit_kube::Binding;

/// `Normal` or `Warning`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Normal,
    Warning,
}

/// events.k8s.io rejects a note over 1 kB; cut longer ones (an error chain can be long) on a character
/// boundary so the Event is still published.
fn fit_note(mut note: String) -> String {
    const MAX: usize = 1024;
    if note.len() <= MAX {
        return note;
    }
    let mut end = MAX.saturating_sub(3);
    while !note.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    note.truncate(end);
    note.push_str("...");
    note
}

pub(crate) async fn publish<B: Binding>(
    ctx: &crate::Context,
    binding: &B,
    kind: Kind,
    reason: &str,
    note: String,
) {
    let namespace = binding.namespace().unwrap_or_else(|| "default".to_owned());
    let about = About {
        namespace: &namespace,
        regarding: binding.object_ref(&()),
        name: &binding.name_any(),
    };
    publish_about(ctx, about, kind, reason, note).await;
}

/// What an Event is about: the object, the namespace the Event lives in, and the prefix of its name.
pub(crate) struct About<'a> {
    pub namespace: &'a str,
    pub regarding: ObjectReference,
    pub name: &'a str,
}

pub(crate) async fn publish_about(
    ctx: &crate::Context,
    about: About<'_>,
    kind: Kind,
    reason: &str,
    note: String,
) {
    let now = ctx.clock.now();
    let event = Event {
        metadata: ObjectMeta {
            name: Some(format!("{}.{:x}", about.name, now.unix_timestamp_nanos())),
            namespace: Some(about.namespace.to_owned()),
            ..ObjectMeta::default()
        },
        event_time: k8s_openapi::jiff::Timestamp::from_nanosecond(now.unix_timestamp_nanos())
            .ok()
            .map(MicroTime),
        action: Some("Expire".to_owned()),
        reason: Some(reason.to_owned()),
        // Notes quote names and annotation values nobody validated: shown escaped, never raw, and
        // cut to what an Event holds (escaping first, so the cut never splits an escape's meaning).
        note: Some(fit_note(kubejit_core::text::escape(&note).into_owned())),
        regarding: Some(about.regarding),
        reporting_controller: Some(kubejit_kube::keys::reporting_controller(
            &ctx.controller_name,
        )),
        reporting_instance: Some(ctx.identity.clone()),
        type_: Some(
            match kind {
                Kind::Normal => "Normal",
                Kind::Warning => "Warning",
            }
            .to_owned(),
        ),
        ..Event::default()
    };
    let api: Api<Event> = Api::namespaced(ctx.client.clone(), about.namespace);
    if let Err(error) = api.create(&PostParams::default(), &event).await {
        tracing::warn!(%error, about = %about.name, reason, "failed to publish Event");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_fit_the_api_limit_on_a_character_boundary() {
        let cases = [
            ("short".to_owned(), "short".to_owned()),
            ("x".repeat(1024), "x".repeat(1024)),
            ("x".repeat(1025), format!("{}...", "x".repeat(1021))),
        ];
        for (note, want) in cases {
            assert_eq!(fit_note(note), want);
        }
        let cut = fit_note("é".repeat(600));
        assert!(cut.len() <= 1024 && cut.ends_with("..."), "{}", cut.len());
    }
}
