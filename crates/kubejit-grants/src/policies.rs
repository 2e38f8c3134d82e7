//! Loads every AccessPolicy; invalid ones are skipped (they can never allow anything) and reported.

use kube::api::{Api, ListParams};
use kubejit_core::NamedPolicy;
use kubejit_kube::policy::{AccessPolicyResource, parse_all};

use crate::Error;

pub(crate) async fn load(client: &kube::Client) -> Result<Vec<NamedPolicy>, Error> {
    let api: Api<AccessPolicyResource> = Api::all(client.clone());
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(Error::ListPolicies)?;
    let (valid, invalid) = parse_all(&list.items);
    for error in invalid {
        tracing::warn!(%error, "ignoring invalid AccessPolicy");
    }
    Ok(valid)
}
