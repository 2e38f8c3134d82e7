//! `client.authentication.k8s.io/v1` ExecCredential: what kubectl hands us and what we print back.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::CredentialError;

/// The only version kubejit speaks (v1beta1 is deprecated and lacks nothing we need).
pub const API_VERSION: &str = "client.authentication.k8s.io/v1";
/// The environment variable through which kubectl passes the ExecCredential spec to a plugin.
pub const EXEC_INFO_ENV: &str = "KUBERNETES_EXEC_INFO";

/// What kubectl told us about this invocation (`KUBERNETES_EXEC_INFO`), or defaults when run by hand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecInfo {
    /// Whether stdin is available for prompts. kubejit never prompts; it only shapes progress output.
    pub interactive: bool,
    /// The cluster the credential is for, when the kubeconfig stanza sets `provideClusterInfo: true`.
    pub cluster: Option<ExecCluster>,
}

/// The cluster part of the exec spec (only the fields kubejit uses).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ExecCluster {
    pub server: String,
}

#[derive(Debug, Deserialize)]
struct RawExecInfo {
    #[serde(rename = "apiVersion")]
    api_version: String,
    #[serde(default)]
    spec: RawSpec,
}

#[derive(Debug, Default, Deserialize)]
struct RawSpec {
    #[serde(default)]
    interactive: bool,
    cluster: Option<ExecCluster>,
}

impl ExecInfo {
    /// Reads `KUBERNETES_EXEC_INFO`; absent (a person running the plugin by hand) means interactive,
    /// without cluster info.
    pub fn from_env() -> Result<Self, CredentialError> {
        match std::env::var(EXEC_INFO_ENV) {
            Ok(raw) if !raw.trim().is_empty() => Self::parse(&raw),
            _ => Ok(Self {
                interactive: true,
                cluster: None,
            }),
        }
    }

    /// Parses the JSON kubectl passes; only `client.authentication.k8s.io/v1` is accepted.
    pub fn parse(raw: &str) -> Result<Self, CredentialError> {
        let info: RawExecInfo =
            serde_json::from_str(raw).map_err(CredentialError::ParseExecInfo)?;
        if info.api_version != API_VERSION {
            let msg = format!("unsupported apiVersion {:?}", info.api_version);
            return Err(CredentialError::ParseExecInfo(serde::de::Error::custom(
                msg,
            )));
        }
        Ok(Self {
            interactive: info.spec.interactive,
            cluster: info.spec.cluster,
        })
    }
}

/// The credential we print: a client certificate and its key, valid until `expiration_timestamp`.
#[derive(Debug)]
pub struct ExecCredential {
    pub client_certificate_pem: String,
    pub client_key_pem: SecretString,
    /// RFC 3339; kubectl calls the plugin again after this instant.
    pub expiration_timestamp: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireCredential<'a> {
    api_version: &'a str,
    kind: &'a str,
    status: WireStatus<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireStatus<'a> {
    expiration_timestamp: &'a str,
    client_certificate_data: &'a str,
    client_key_data: &'a str,
}

impl ExecCredential {
    /// The JSON document for stdout. This is the one place the private key is exposed, on purpose.
    pub fn to_json(&self) -> Result<String, CredentialError> {
        let wire = WireCredential {
            api_version: API_VERSION,
            kind: "ExecCredential",
            status: WireStatus {
                expiration_timestamp: &self.expiration_timestamp,
                client_certificate_data: &self.client_certificate_pem,
                client_key_data: self.client_key_pem.expose_secret(),
            },
        };
        serde_json::to_string(&wire).map_err(CredentialError::Render)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_kubectl_exec_info() {
        let raw = r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1",
            "spec":{"cluster":{"server":"https://127.0.0.1:6443","certificate-authority-data":"eA==",
            "config":null},"interactive":true}}"#;
        let info = ExecInfo::parse(raw).unwrap();
        assert!(info.interactive);
        assert_eq!(info.cluster.unwrap().server, "https://127.0.0.1:6443");
    }

    #[test]
    fn non_interactive_without_cluster() {
        let raw =
            r#"{"apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}"#;
        assert_eq!(ExecInfo::parse(raw).unwrap(), ExecInfo::default());
    }

    #[test]
    fn other_versions_and_garbage_are_refused() {
        let beta = r#"{"apiVersion":"client.authentication.k8s.io/v1beta1","spec":{}}"#;
        for raw in [beta, "", "{", "[]"] {
            let err = ExecInfo::parse(raw).unwrap_err();
            assert!(
                err.to_string().contains("client.authentication.k8s.io/v1"),
                "{err}"
            );
        }
    }

    #[test]
    fn credential_json_shape_and_redacted_debug() {
        let cred = ExecCredential {
            client_certificate_pem: "CERT".into(),
            client_key_pem: SecretString::from("KEY"),
            expiration_timestamp: "2030-01-01T00:00:00Z".into(),
        };
        let v: serde_json::Value = serde_json::from_str(&cred.to_json().unwrap()).unwrap();
        assert_eq!(v["apiVersion"], API_VERSION);
        assert_eq!(v["kind"], "ExecCredential");
        assert_eq!(v["status"]["clientKeyData"], "KEY");
        assert_eq!(v["status"]["clientCertificateData"], "CERT");
        assert_eq!(v["status"]["expirationTimestamp"], "2030-01-01T00:00:00Z");
        assert!(!format!("{cred:?}").contains("KEY"));
    }

    proptest::proptest! {
        /// kubectl's KUBERNETES_EXEC_INFO is input: any string, and any near-valid document, is an
        /// error or a value, never a panic.
        #[test]
        fn exec_info_never_panics(raw in proptest::prelude::any::<String>()) {
            let _ = ExecInfo::parse(&raw);
        }

        #[test]
        fn near_valid_exec_info_never_panics(
            version in "client\\.authentication\\.k8s\\.io/v1(beta1)?|\\PC{0,12}",
            interactive in "true|false|null|\"yes\"|1|\\[\\]",
            cluster in "null|\\{\\}|\\{\"server\":\\PC{0,8}\\}|\\[1\\]|\"x\"",
        ) {
            let raw = format!(
                r#"{{"kind":"ExecCredential","apiVersion":"{version}","spec":{{"interactive":{interactive},"cluster":{cluster}}}}}"#
            );
            let _ = ExecInfo::parse(&raw);
        }
    }
}
