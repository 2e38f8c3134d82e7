//! The binding as the reaper watches and stores it: decoded straight from the apiserver's JSON into
//! the fields the reaper reads, so managedFields, labels and foreign annotations are never allocated
//! (on the list, on every watch event, on a 409's re-read). Any JSON object decodes: one whose shape
//! the apiserver never writes is kept as "unfit", without annotations, so it is never deleted.

use std::borrow::Cow;
use std::marker::PhantomData;

use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Api, Client, Resource};
use kubejit_kube::{Binding, keys};
use serde::de::{Deserialize, Deserializer, MapAccess};
use serde::{Serialize, Serializer};

use super::lenient::{Fit, Flag, Key, Lenient, List, Obj, Object, Shape, Text, skip, value};

/// The annotations the reaper decides on and records; every other one is skipped unread.
pub(crate) const KEPT_ANNOTATIONS: [&str; 4] = [
    keys::EXPIRES_AT,
    keys::INCIDENT,
    keys::GRANTED_BY,
    keys::REASON,
];

/// A RoleBinding (`K = RoleBinding`) or ClusterRoleBinding with only what the reaper reads: name,
/// namespace, uid, resourceVersion, owner references, the kept annotations, role and subjects.
///
/// The kept annotations are not in `metadata.annotations` (always `None`) but in `kept`, read through
/// [`Binding::annotation`]: a `BTreeMap` costs a half-KiB node plus an allocation per key for every
/// stored grant (with the rest of this type, ~0.45 KiB less heap per live grant: docs/benchmarks.md).
#[derive(Debug, Clone)]
pub(crate) struct Stored<K> {
    pub metadata: ObjectMeta,
    /// The values of [`KEPT_ANNOTATIONS`], in that order.
    pub kept: [Option<String>; 4],
    pub role_ref: RoleRef,
    pub subjects: Vec<Subject>,
    /// Why the JSON did not fit (a field of the wrong type, another kind): such a binding keeps no
    /// annotations, so it is not a grant to the reaper.
    pub unfit: Option<&'static str>,
    kind: PhantomData<fn() -> K>,
}

impl<K> Default for Stored<K> {
    fn default() -> Self {
        Self {
            metadata: ObjectMeta::default(),
            kept: Default::default(),
            role_ref: RoleRef::default(),
            subjects: Vec::new(),
            unfit: None,
            kind: PhantomData,
        }
    }
}

impl<K> Stored<K> {
    fn kept_annotation(&self, key: &str) -> Option<&str> {
        let i = KEPT_ANNOTATIONS.iter().position(|k| *k == key)?;
        self.kept.get(i)?.as_deref()
    }
}

impl<K: Resource<DynamicType = ()>> Resource for Stored<K> {
    type DynamicType = ();
    type Scope = K::Scope;

    fn kind(dt: &()) -> Cow<'_, str> {
        K::kind(dt)
    }
    fn group(dt: &()) -> Cow<'_, str> {
        K::group(dt)
    }
    fn version(dt: &()) -> Cow<'_, str> {
        K::version(dt)
    }
    fn plural(dt: &()) -> Cow<'_, str> {
        K::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl Binding for Stored<RoleBinding> {
    const KIND: &'static str = "RoleBinding";
    fn role_ref(&self) -> &RoleRef {
        &self.role_ref
    }
    fn subjects(&self) -> &[Subject] {
        &self.subjects
    }
    fn annotation(&self, key: &str) -> Option<&str> {
        self.kept_annotation(key)
    }
    fn api(client: Client, namespace: Option<&str>) -> Api<Self> {
        match namespace {
            Some(ns) => Api::namespaced(client, ns),
            None => Api::all(client),
        }
    }
}

impl Binding for Stored<ClusterRoleBinding> {
    const KIND: &'static str = "ClusterRoleBinding";
    fn role_ref(&self) -> &RoleRef {
        &self.role_ref
    }
    fn subjects(&self) -> &[Subject] {
        &self.subjects
    }
    fn annotation(&self, key: &str) -> Option<&str> {
        self.kept_annotation(key)
    }
    fn api(client: Client, _namespace: Option<&str>) -> Api<Self> {
        Api::all(client)
    }
}

/// As the binding kind it stands for (what `Binding` requires; the reaper itself never writes one).
impl<K: Resource<DynamicType = ()>> Serialize for Stored<K> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Out<'a> {
            api_version: &'a str,
            kind: &'a str,
            metadata: &'a ObjectMeta,
            role_ref: &'a RoleRef,
            subjects: &'a [Subject],
        }
        Out {
            api_version: &K::api_version(&()),
            kind: &K::kind(&()),
            metadata: &self.metadata,
            role_ref: &self.role_ref,
            subjects: &self.subjects,
        }
        .serialize(s)
    }
}

impl<'de, K: Resource<DynamicType = ()>> Deserialize<'de> for Stored<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut fit = Fit::default();
        let seed = Lenient {
            shape: Obj::<Self>::new(),
            fit: &mut fit,
        };
        let mut stored = match serde::de::DeserializeSeed::deserialize(seed, d)? {
            Some(stored) => stored,
            None => {
                fit.wrong("not an object");
                Self::default()
            }
        };
        if let Some(why) = fit.0 {
            stored.unfit = Some(why);
            stored.kept = Default::default();
        }
        Ok(stored)
    }
}

/// Like k8s-openapi's own decoding: an absent field is its default, a repeated one takes its last
/// value; `apiVersion` and `kind` must be this kind's when present.
impl<K: Resource<DynamicType = ()>> Object for Stored<K> {
    const WHAT: &'static str = "the binding is not a JSON object";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        fit: &mut Fit,
    ) -> Result<(), A::Error> {
        match key {
            "apiVersion" => {
                let v = value(map, Text, fit)?;
                if v.as_deref() != Some(&*K::api_version(&())) {
                    fit.wrong("another apiVersion");
                }
            }
            "kind" => {
                let v = value(map, Text, fit)?;
                if v.as_deref() != Some(&*K::kind(&())) {
                    fit.wrong("another kind");
                }
            }
            "metadata" => {
                let meta: Meta = value(map, Obj::new(), fit)?.unwrap_or_default();
                (self.metadata, self.kept) = (meta.meta, meta.kept);
            }
            "roleRef" => self.role_ref = value(map, Obj::new(), fit)?.unwrap_or_default(),
            "subjects" => self.subjects = value(map, List::new(), fit)?.unwrap_or_default(),
            _ => skip(map)?,
        }
        Ok(())
    }
}

/// `metadata`, with the kept annotations beside it.
#[derive(Default)]
struct Meta {
    meta: ObjectMeta,
    kept: [Option<String>; 4],
}

impl Object for Meta {
    const WHAT: &'static str = "metadata is not an object";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        fit: &mut Fit,
    ) -> Result<(), A::Error> {
        match key {
            "name" => self.meta.name = value(map, Text, fit)?,
            "namespace" => self.meta.namespace = value(map, Text, fit)?,
            "uid" => self.meta.uid = value(map, Text, fit)?,
            "resourceVersion" => self.meta.resource_version = value(map, Text, fit)?,
            "annotations" => self.kept = value(map, Annotations, fit)?.unwrap_or_default(),
            "ownerReferences" => self.meta.owner_references = value(map, List::new(), fit)?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Object for RoleRef {
    const WHAT: &'static str = "roleRef is not an object";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        fit: &mut Fit,
    ) -> Result<(), A::Error> {
        match key {
            "apiGroup" => self.api_group = value(map, Text, fit)?,
            "kind" => self.kind = value(map, Text, fit)?.unwrap_or_default(),
            "name" => self.name = value(map, Text, fit)?.unwrap_or_default(),
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Object for Subject {
    const WHAT: &'static str = "a subject is not an object";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        fit: &mut Fit,
    ) -> Result<(), A::Error> {
        match key {
            "apiGroup" => self.api_group = value(map, Text, fit)?,
            "kind" => self.kind = value(map, Text, fit)?.unwrap_or_default(),
            "name" => self.name = value(map, Text, fit)?.unwrap_or_default(),
            "namespace" => self.namespace = value(map, Text, fit)?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Object for OwnerReference {
    const WHAT: &'static str = "an ownerReference is not an object";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        fit: &mut Fit,
    ) -> Result<(), A::Error> {
        match key {
            "apiVersion" => self.api_version = value(map, Text, fit)?.unwrap_or_default(),
            "kind" => self.kind = value(map, Text, fit)?.unwrap_or_default(),
            "name" => self.name = value(map, Text, fit)?.unwrap_or_default(),
            "uid" => self.uid = value(map, Text, fit)?.unwrap_or_default(),
            "controller" => self.controller = value(map, Flag, fit)?,
            "blockOwnerDeletion" => self.block_owner_deletion = value(map, Flag, fit)?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

/// `metadata.annotations`: the values of the kept keys, which must be strings (a repeated key takes
/// its last value, as a `BTreeMap` decode does).
struct Annotations;

impl Shape for Annotations {
    type Out = [Option<String>; 4];
    const WHAT: &'static str = "annotations are not an object of strings";

    fn map<'de, A: MapAccess<'de>>(
        self,
        mut map: A,
        fit: &mut Fit,
    ) -> Result<Option<Self::Out>, A::Error> {
        let mut out: [Option<String>; 4] = Default::default();
        while let Some(key) = map.next_key_seed(Key)? {
            match KEPT_ANNOTATIONS.iter().position(|k| *k == key) {
                Some(i) => match value(&mut map, Text, fit)? {
                    Some(v) => {
                        if let Some(slot) = out.get_mut(i) {
                            *slot = Some(v);
                        }
                    }
                    None => fit.wrong(Self::WHAT),
                },
                // A foreign annotation of any shape is not ours to judge: skipped unread.
                None => skip(&mut map)?,
            }
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::rbac::v1::RoleBinding;
    use kube::ResourceExt;
    use kube::core::{ObjectList, WatchEvent};
    use kubejit_kube::GrantView;
    use serde_json::json;
    use time::OffsetDateTime;

    use super::super::record::Maker;
    use super::super::step::{Step, step};
    use super::*;

    const EXPIRES_AT: &str = "debugging.kubernetes.io/expires-at";

    /// A grant as the apiserver writes it: managedFields, labels, a large foreign annotation, an owner.
    fn full() -> serde_json::Value {
        let mut annotations: serde_json::Map<String, serde_json::Value> = KEPT_ANNOTATIONS
            .iter()
            .map(|k| ((*k).to_owned(), json!(format!("value of {k}"))))
            .collect();
        annotations.insert(EXPIRES_AT.to_owned(), json!("2030-01-02T15:04:05Z"));
        annotations.insert(
            "kubectl.kubernetes.io/last-applied-configuration".to_owned(),
            json!("x".repeat(4096)),
        );
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {
                "name": "jit-1", "namespace": "ns", "uid": "uid-1", "resourceVersion": "42",
                "creationTimestamp": "2030-01-02T14:04:05Z", "generateName": "jit-",
                "labels": {"app.kubernetes.io/managed-by": "kubejit"},
                "finalizers": ["example.com/hold"],
                "annotations": annotations,
                "ownerReferences": [{
                    "apiVersion": "kubejit.dev/v1alpha1", "kind": "AccessRequest", "name": "r",
                    "uid": "u", "controller": true, "blockOwnerDeletion": true
                }],
                "managedFields": [{
                    "manager": "kubectl", "operation": "Update", "apiVersion": "v1",
                    "time": "2030-01-02T14:04:05Z", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:metadata": {"f:annotations": {".": {}}}}
                }]
            },
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "debug"},
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "carol"},
                {"kind": "ServiceAccount", "name": "bot", "namespace": "ops"}
            ]
        })
    }

    fn edited(edit: impl Fn(&mut serde_json::Value)) -> String {
        let mut v = full();
        edit(&mut v);
        v.to_string()
    }

    fn decode(json: &str) -> Stored<RoleBinding> {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    /// Everything the reaper decides, records and deletes on comes out as k8s-openapi decodes it:
    /// the raw annotation values (byte for byte), the audit record's grant, the maker, the
    /// preconditions, the Event's object reference.
    fn assert_reads_alike(json: &str) {
        let stored = decode(json);
        let full: RoleBinding = serde_json::from_str(json).unwrap();
        assert_eq!(stored.unfit, None, "{json}");
        assert_eq!(GrantView::of(&stored), GrantView::of(&full), "{json}");
        let now = OffsetDateTime::UNIX_EPOCH;
        assert_eq!(
            step(stored.annotation(EXPIRES_AT), now),
            step(full.annotation(EXPIRES_AT), now)
        );
        for key in KEPT_ANNOTATIONS {
            assert_eq!(
                stored.annotation(key),
                full.annotation(key),
                "{key}: {json}"
            );
        }
        assert_eq!(Maker::of(stored.meta()), Maker::of(full.meta()), "{json}");
        assert_eq!(
            (&stored.metadata.owner_references, stored.object_ref(&())),
            (&full.metadata.owner_references, full.object_ref(&()))
        );
        assert_eq!(
            (stored.subjects.as_slice(), &stored.role_ref),
            (full.subjects.as_deref().unwrap_or_default(), &full.role_ref)
        );
        let m = &stored.metadata;
        assert!(m.annotations.is_none(), "kept beside the metadata");
        assert!(m.managed_fields.is_none() && m.labels.is_none() && m.finalizers.is_none());
        assert!(m.generate_name.is_none() && m.creation_timestamp.is_none());
    }

    #[test]
    fn a_grant_reads_as_k8s_openapi_reads_it_without_what_the_reaper_never_reads() {
        assert_reads_alike(&full().to_string());
        let stored = decode(&full().to_string());
        assert!(stored.kept.iter().all(Option::is_some), "{stored:?}");
        assert_eq!(
            stored.annotation("kubectl.kubernetes.io/last-applied-configuration"),
            None
        );
    }

    /// Shapes the apiserver accepts or writes, and JSON spellings of the same values: each decodes
    /// as k8s-openapi decodes it.
    #[test]
    fn weird_but_valid_shapes_read_alike() {
        let mut cases = vec![
            edited(|v| drop(v["subjects"].take())),
            edited(|v| v["subjects"] = json!([])),
            edited(|v| drop(v["metadata"]["annotations"].take())),
            edited(|v| v["metadata"]["annotations"] = json!({})),
            edited(|v| {
                drop(
                    v["metadata"]
                        .as_object_mut()
                        .map(|m| m.remove("annotations")),
                )
            }),
            edited(|v| drop(v["metadata"].as_object_mut().map(|m| m.remove("uid")))),
            edited(|v| drop(v["metadata"]["ownerReferences"].take())),
            edited(|v| drop(v.as_object_mut().map(|m| m.remove("apiVersion")))),
            edited(|v| v["metadata"]["annotations"][EXPIRES_AT] = json!("")),
            edited(|v| {
                v["metadata"]["annotations"][EXPIRES_AT] = json!("2030-01-02T15:04:05Z\u{202e}")
            }),
            edited(|v| {
                v["metadata"]["annotations"]["debugging.kubernetes.io/incident"] =
                    json!("<b>&é🚒\n\"\\")
            }),
            // Fields a future apiserver may add, of any shape, are skipped.
            edited(|v| v["metadata"]["futureField"] = json!({"a": [1, {"b": null}]})),
            edited(|v| v["status"] = json!([1, 2.5, true, null])),
            edited(|v| v["subjects"][0]["futureField"] = json!(7)),
            edited(|v| v["roleRef"]["futureField"] = json!(false)),
            edited(|v| v["metadata"]["ownerReferences"][0]["controller"] = json!(null)),
            edited(|v| v["metadata"]["ownerReferences"][0]["controller"] = json!(false)),
            edited(|v| v["metadata"]["annotations"]["example.com/x"] = json!("")),
        ];
        // JSON spellings: escaped keys and values (Go escapes <, > and & as \u003c...), whitespace.
        let escaped = full()
            .to_string()
            .replace("debugging.kubernetes.io/", "debugging.kubernetes.io\\/")
            .replace("value of", "value\\u0020of\\u003c\\u0026")
            .replace(",", " ,\n\t");
        cases.push(escaped);
        // A repeated key takes its last value, as a BTreeMap decode does.
        cases.push(full().to_string().replacen(
            &format!("\"{EXPIRES_AT}\":\"2030-01-02T15:04:05Z\""),
            &format!("\"{EXPIRES_AT}\":\"tomorrow\",\"{EXPIRES_AT}\":\"2030-01-02T15:04:05Z\""),
            1,
        ));
        for json in &cases {
            assert_reads_alike(json);
        }
        assert_eq!(
            decode(&cases[cases.len() - 1]).annotation(EXPIRES_AT),
            Some("2030-01-02T15:04:05Z"),
            "the repeated key was in the input"
        );
    }

    /// JSON no apiserver writes (a field of the wrong type, another kind) decodes anyway, as an unfit
    /// binding with no annotations: never a grant, never deleted, and never an error, which inside a
    /// list would fail the whole list and stall the watch.
    #[test]
    fn shapes_the_apiserver_never_writes_are_unfit_not_errors() {
        let mut cases = vec![
            edited(|v| v["metadata"]["annotations"][EXPIRES_AT] = json!(1_893_596_645)),
            edited(|v| {
                v["metadata"]["annotations"][EXPIRES_AT] = json!({"at": "2030-01-02T15:04:05Z"})
            }),
            edited(|v| v["metadata"]["annotations"][EXPIRES_AT] = json!(null)),
            edited(|v| v["metadata"]["annotations"][EXPIRES_AT] = json!(["2030-01-02T15:04:05Z"])),
            edited(|v| v["metadata"]["annotations"] = json!(["a"])),
            edited(|v| v["metadata"]["name"] = json!(7)),
            edited(|v| v["metadata"]["uid"] = json!({"uid": "u"})),
            edited(|v| v["metadata"] = json!("jit-1")),
            edited(|v| v["subjects"] = json!({"kind": "User", "name": "carol"})),
            edited(|v| v["subjects"][0] = json!(null)),
            edited(|v| v["subjects"][0]["name"] = json!(["carol"])),
            edited(|v| v["roleRef"] = json!("Role/debug")),
            edited(|v| v["metadata"]["ownerReferences"][0]["controller"] = json!("true")),
            edited(|v| v["metadata"]["ownerReferences"] = json!({})),
            edited(|v| v["kind"] = json!("ClusterRoleBinding")),
            edited(|v| v["apiVersion"] = json!("rbac.authorization.k8s.io/v1beta1")),
            edited(|v| v["kind"] = json!(null)),
        ];
        cases.extend(["[]", "\"jit-1\"", "null", "7"].map(str::to_owned));
        for json in &cases {
            let stored = decode(json);
            assert!(stored.unfit.is_some(), "{json}");
            assert!(stored.kept.iter().all(Option::is_none), "{json}");
            let expires_at = stored.annotation(EXPIRES_AT);
            assert_eq!(step(expires_at, OffsetDateTime::UNIX_EPOCH), Step::Ignore);
        }
    }

    /// One binding of a shape k8s-openapi refuses used to fail the whole list (the watch re-listed
    /// forever, reaping nothing); now it is one unfit item beside the others. Watch events decode
    /// whichever order their fields come in.
    #[test]
    fn an_unfit_binding_does_not_fail_the_list_or_the_watch_event() {
        let mut odd = full();
        odd["metadata"]["name"] = json!("jit-2");
        odd["subjects"][0]["name"] = json!(7);
        let list = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBindingList",
            "metadata": {"resourceVersion": "43"}, "items": [full(), odd]
        })
        .to_string();
        assert!(serde_json::from_str::<ObjectList<RoleBinding>>(&list).is_err());
        let stored: ObjectList<Stored<RoleBinding>> = serde_json::from_str(&list).unwrap();
        let fit: Vec<_> = stored
            .items
            .iter()
            .map(|b| (b.name_any(), b.unfit.is_none()))
            .collect();
        assert_eq!(
            fit,
            [("jit-1".to_owned(), true), ("jit-2".to_owned(), false)]
        );

        for event in [
            json!({"type": "DELETED", "object": full()}),
            json!({"object": full(), "type": "MODIFIED"}),
        ] {
            let decoded: WatchEvent<Stored<RoleBinding>> =
                serde_json::from_str(&event.to_string()).unwrap();
            let (WatchEvent::Deleted(b) | WatchEvent::Modified(b)) = decoded else {
                panic!("{event}");
            };
            assert_eq!(
                GrantView::of(&b),
                GrantView::of(&decode(&full().to_string()))
            );
        }
    }

    /// A foreign annotation is never read, so its shape is not judged: the grant still expires.
    #[test]
    fn a_foreign_annotation_of_any_shape_is_skipped() {
        let json = edited(|v| v["metadata"]["annotations"]["example.com/x"] = json!({"a": 1}));
        assert!(serde_json::from_str::<RoleBinding>(&json).is_err());
        let stored = decode(&json);
        assert_eq!(stored.unfit, None);
        assert_eq!(stored.annotation(EXPIRES_AT), Some("2030-01-02T15:04:05Z"));
    }

    #[test]
    fn a_cluster_role_binding_is_its_own_kind() {
        let mut v = full();
        v["kind"] = json!("ClusterRoleBinding");
        drop(v["metadata"].as_object_mut().map(|m| m.remove("namespace")));
        let stored: Stored<ClusterRoleBinding> = serde_json::from_str(&v.to_string()).unwrap();
        assert_eq!(stored.unfit, None);
        let full: ClusterRoleBinding = serde_json::from_str(&v.to_string()).unwrap();
        assert_eq!(GrantView::of(&stored), GrantView::of(&full));
        assert!(
            serde_json::from_str::<Stored<RoleBinding>>(&v.to_string())
                .unwrap()
                .unfit
                .is_some()
        );
    }
}
