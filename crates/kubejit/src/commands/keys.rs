//! `kubejit keys`: create a non-extractable key inside a PKCS#11 token, or show one (public half and
//! whether the token will ever let the private half out).

use std::process::ExitCode;

use clap::{Args, Subcommand};
use kubejit_credential::token::Pkcs11Uri;
use rcgen::PublicKeyData;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an ECDSA P-256 key inside the token (sensitive, never extractable); prints it as `show` does.
    Generate(KeyArgs),
    /// Print the key's public half (SPKI PEM) and its CKA_EXTRACTABLE / CKA_NEVER_EXTRACTABLE as JSON.
    Show(KeyArgs),
}

#[derive(Debug, Args)]
pub struct KeyArgs {
    /// RFC 7512 URI of the key: `pkcs11:token=LABEL;id=%01?module-path=/abs/module.so[&pin-source=file:/abs/pin]`.
    /// The PIN comes from pin-source, else KUBEJIT_PKCS11_PIN, else a prompt; never from this flag.
    #[arg(long, env = "KUBEJIT_PKCS11_URI", value_parser = Pkcs11UriParser)]
    pub pkcs11: Pkcs11Uri,
}

/// Parses a PKCS#11 URI without quoting it back: clap's usual "invalid value '…'" would print a
/// `pin-value` someone put in the URI, and the refusal exists to keep that PIN out of sight.
#[derive(Debug, Clone, Copy)]
pub struct Pkcs11UriParser;

impl clap::builder::TypedValueParser for Pkcs11UriParser {
    type Value = Pkcs11Uri;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Pkcs11Uri, clap::Error> {
        use clap::error::ErrorKind;
        let name = arg.map(|a| a.get_id().to_string()).unwrap_or_default();
        let refuse = |kind, why: String| {
            clap::Error::raw(kind, format!("invalid PKCS#11 URI for --{name}: {why}\n"))
                .with_cmd(cmd)
        };
        let text = value
            .to_str()
            .ok_or_else(|| refuse(ErrorKind::InvalidUtf8, "not UTF-8".to_owned()))?;
        Pkcs11Uri::parse(text).map_err(|e| refuse(ErrorKind::ValueValidation, e.to_string()))
    }
}

pub fn run(command: &KeysCommand) -> anyhow::Result<ExitCode> {
    let (args, generate) = match command {
        KeysCommand::Generate(args) => (args, true),
        KeysCommand::Show(args) => (args, false),
    };
    let uri = &args.pkcs11;
    let key = if generate {
        uri.generate_key()?
    } else {
        uri.open_key()?
    };
    let (extractable, never_extractable) = key.extractability()?;
    let spki = key.subject_public_key_info();
    let shown = serde_json::json!({
        "token": uri.token,
        "algorithm": "ECDSA P-256",
        "publicKey": kubejit_credential::pem_block("PUBLIC KEY", &spki),
        "extractable": extractable,
        "neverExtractable": never_extractable,
    });
    println!("{}", serde_json::to_string_pretty(&shown)?);
    Ok(ExitCode::SUCCESS)
}
