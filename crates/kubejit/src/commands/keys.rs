//! `kubejit keys`: create a non-extractable key inside a PKCS#11 token, or show one (public half and
//! whether the token will ever let the private half out).

use std::process::ExitCode;

use clap::{Args, Subcommand};
pub use kubejit_credential::args::Pkcs11UriParser;
use kubejit_credential::token::{Pkcs11Uri, TokenAlgorithm};
use rcgen::PublicKeyData;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key inside the token (sensitive, never extractable); prints it as `show` does.
    Generate(GenerateArgs),
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

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub key: KeyArgs,
    /// Key type: ecdsa-p256 (every PKCS#11 token, YubiKey PIV) or ed25519 (tokens with PKCS#11 3.0
    /// EdDSA, e.g. SoftHSM2).
    #[arg(long, env = "KUBEJIT_KEY_ALGORITHM", value_enum, default_value_t = AlgorithmArg::EcdsaP256)]
    pub algorithm: AlgorithmArg,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum AlgorithmArg {
    EcdsaP256,
    Ed25519,
}

pub fn run(command: &KeysCommand) -> anyhow::Result<ExitCode> {
    let key = match command {
        KeysCommand::Generate(args) => args.key.pkcs11.generate_key(match args.algorithm {
            AlgorithmArg::EcdsaP256 => TokenAlgorithm::EcdsaP256,
            AlgorithmArg::Ed25519 => TokenAlgorithm::Ed25519,
        })?,
        KeysCommand::Show(args) => args.pkcs11.open_key()?,
    };
    let uri = match command {
        KeysCommand::Generate(args) => &args.key.pkcs11,
        KeysCommand::Show(args) => &args.pkcs11,
    };
    let (extractable, never_extractable) = key.extractability()?;
    let spki = key.subject_public_key_info();
    let shown = serde_json::json!({
        "token": uri.token,
        "algorithm": key.algorithm().name(),
        "publicKey": kubejit_credential::pem_block("PUBLIC KEY", &spki),
        "extractable": extractable,
        "neverExtractable": never_extractable,
    });
    println!("{}", serde_json::to_string_pretty(&shown)?);
    Ok(ExitCode::SUCCESS)
}
