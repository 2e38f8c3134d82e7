//! Who is acting (from a SelfSubjectReview, never from flags) and where their audit records go.

use std::sync::Arc;

use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use kube::api::{Api, PostParams};
use kubejit_audit::{AuditEvent, AuditSink, Timestamp};
use kubejit_core::Requester;
use time::OffsetDateTime;

use crate::Error;

/// A connected user: the client, their authenticated identity and an optional audit sink.
#[derive(Clone)]
pub struct Session {
    pub client: kube::Client,
    pub requester: Requester,
    pub audit: Option<Arc<dyn AuditSink>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("requester", &self.requester)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Asks the apiserver who this client is (username and groups).
    pub async fn connect(
        client: kube::Client,
        audit: Option<Arc<dyn AuditSink>>,
    ) -> Result<Self, Error> {
        let api: Api<SelfSubjectReview> = Api::all(client.clone());
        let review = api
            .create(&PostParams::default(), &SelfSubjectReview::default())
            .await
            .map_err(Error::WhoAmI)?;
        let user = review.status.and_then(|s| s.user_info).unwrap_or_default();
        let username = user.username.ok_or(Error::NoUsername)?;
        let requester = Requester {
            username,
            groups: user.groups.unwrap_or_default(),
        };
        Ok(Self {
            client,
            requester,
            audit,
        })
    }

    /// Records `event` (which happened at `now`) if an audit sink is configured; an error means the
    /// action must not happen. The write + fsync runs on a blocking thread, never on the async workers.
    pub(crate) async fn record(&self, event: AuditEvent, now: OffsetDateTime) -> Result<(), Error> {
        let Some(sink) = self.audit.clone() else {
            return Ok(());
        };
        let stamped = event.at(Timestamp::new(now));
        tokio::task::spawn_blocking(move || sink.record(stamped))
            .await
            .map_err(Error::AuditTask)?
            .map(|_| ())
            .map_err(Error::Audit)
    }
}
