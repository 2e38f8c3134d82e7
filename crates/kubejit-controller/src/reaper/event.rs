//! Kubernetes Events about grants (events.k8s.io/v1), created directly: no client-side cache, so
//! memory stays flat however many grants expire. A failed Event is logged, never retried.

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

pub(crate) async fn publish<B: Binding>(
    ctx: &crate::Context,
    binding: &B,
    kind: Kind,
    reason: &str,
    note: String,
) {
    let namespace = binding.namespace().unwrap_or_else(|| "default".to_owned());
    let now = ctx.clock.now().get();
    let event = Event {
        metadata: ObjectMeta {
            name: Some(format!(
                "{}.{:x}",
                binding.name_any(),
                now.unix_timestamp_nanos()
            )),
            namespace: Some(namespace.clone()),
            ..ObjectMeta::default()
        },
        event_time: k8s_openapi::jiff::Timestamp::from_nanosecond(now.unix_timestamp_nanos())
            .ok()
            .map(MicroTime),
        action: Some("Expire".to_owned()),
        reason: Some(reason.to_owned()),
        // Notes quote names and annotation values nobody validated: shown escaped, never raw.
        note: Some(kubejit_core::text::escape(&note).into_owned()),
        regarding: Some(binding.object_ref(&())),
        reporting_controller: Some(format!("kubejit.dev/{}", ctx.controller_name)),
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
    let api: Api<Event> = Api::namespaced(ctx.client.clone(), &namespace);
    if let Err(error) = api.create(&PostParams::default(), &event).await {
        tracing::warn!(%error, binding = %binding.name_any(), reason, "failed to publish Event");
    }
}
