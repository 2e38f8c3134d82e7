//! `kubejit kubeconfig add-user`: writes the exec-plugin user and a context for it into a kubeconfig.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use kubejit_core::{GroupName, Incident, Reason, Ttl};
use kubejit_credential::kubeconfig::{
    ExecUser, KubeconfigDoc, ProxyUser, display_paths, resolve_paths,
};

use kubejit_credential::args::parse_certificate_ttl;

#[derive(Debug, Subcommand)]
pub enum KubeconfigCommand {
    /// Add a user whose credentials come from `kubejit credential`, and a context of the same name.
    AddUser(AddUserArgs),
}

#[derive(Debug, Args)]
pub struct AddUserArgs {
    /// Name of the new user and context (e.g. alice-oncall).
    #[arg(long, env = "KUBEJIT_NAME")]
    pub name: String,
    /// Your everyday context, which files the requests; the new context uses its cluster and namespace
    /// (default: the kubeconfig's current context, as kubectl chooses).
    #[arg(long, env = "KUBEJIT_CONTEXT")]
    pub context: Option<String>,
    /// Group the certificates should carry (repeat for several).
    #[arg(short, long = "group", env = "KUBEJIT_GROUP", value_delimiter = ',', value_parser = GroupName::parse)]
    pub groups: Vec<GroupName>,
    /// Incident reference the certificates are requested for.
    #[arg(long, env = "KUBEJIT_INCIDENT", value_parser = Incident::parse)]
    pub incident: Option<Incident>,
    /// Why access is needed (recorded on each request).
    #[arg(long, env = "KUBEJIT_REASON", value_parser = Reason::parse)]
    pub reason: Option<Reason>,
    /// Certificate lifetime, at least 10m.
    #[arg(long, env = "KUBEJIT_TTL", default_value = "15m", value_parser = parse_certificate_ttl)]
    pub ttl: Ttl,
    /// Cache directory for the plugin (default: the plugin's default).
    #[arg(long, env = "KUBEJIT_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Kubeconfig file to edit (default: the files in $KUBECONFIG, merged as kubectl does, then
    /// ~/.kube/config).
    #[arg(long, env = "KUBEJIT_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Key in a PKCS#11 token (RFC 7512 URI): write a user that reaches the cluster through
    /// `kubejit proxy` on `--listen` instead of an exec plugin (kubectl cannot use a token key itself).
    #[arg(long, env = "KUBEJIT_PKCS11_URI", value_parser = crate::commands::keys::Pkcs11UriParser)]
    pub pkcs11: Option<kubejit_credential::token::Pkcs11Uri>,
    /// With --pkcs11: the proxy's loopback address (a fixed port; the stanza names it).
    #[arg(
        long,
        env = "KUBEJIT_PROXY_LISTEN",
        default_value = "127.0.0.1:16443",
        requires = "pkcs11"
    )]
    pub listen: std::net::SocketAddr,
    /// With --pkcs11: the proxy's state directory (default: `proxy/<name>` beside the plugin's cache).
    #[arg(long, env = "KUBEJIT_PROXY_STATE_DIR", requires = "pkcs11")]
    pub state_dir: Option<PathBuf>,
}

pub fn run(command: &KubeconfigCommand) -> anyhow::Result<ExitCode> {
    match command {
        KubeconfigCommand::AddUser(args) => add_user(args),
    }
}

fn add_user(args: &AddUserArgs) -> anyhow::Result<ExitCode> {
    let paths = existing_paths(args)?;
    let command = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .context("failed to find the kubejit binary's path")?;
    let mut doc = KubeconfigDoc::load(&paths)?;
    let context = doc.context_name(args.context.as_deref())?;
    if args.context.is_none() {
        eprintln!(
            "using the current context {context:?} as the asking context (pass --context to choose another)"
        );
    }
    anyhow::ensure!(
        !doc.uses_kubejit_exec(&context)?,
        "context {context:?} is itself a kubejit exec user; --context must be your everyday identity",
    );
    if let Some(uri) = &args.pkcs11 {
        return add_proxy_user(args, doc, &paths, &context, uri);
    }
    // The plugin is pinned to the context resolved now: following a later `use-context` could point
    // it at the elevated context itself.
    let mut plugin = plugin_args(args, &paths, &context);
    let command = match thin_plugin(&command) {
        Some(thin) => {
            plugin.remove(0);
            thin
        }
        None => command,
    };
    let stanza = ExecUser {
        name: args.name.clone(),
        asking_context: context.clone(),
        command,
        args: plugin,
        env: plugin_env(&paths),
    };
    doc.add_exec_user(&stanza)?;
    let written = doc.write()?;
    eprintln!(
        "added user and context {:?} to {}; try `kubectl --context {} auth whoami`",
        args.name,
        display_paths(&written).display(),
        args.name
    );
    Ok(ExitCode::SUCCESS)
}

/// The proxy-based user: certificates come from `kubejit proxy`, which this prints how to start.
fn add_proxy_user(
    args: &AddUserArgs,
    mut doc: KubeconfigDoc,
    paths: &[PathBuf],
    context: &str,
    uri: &kubejit_credential::token::Pkcs11Uri,
) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.listen.ip().is_loopback(),
        "--listen {} is not a loopback address; the proxy listens on loopback only",
        args.listen
    );
    let dir = match &args.state_dir {
        Some(dir) => std::path::absolute(dir).context("failed to resolve --state-dir")?,
        None => super::credential::default_cache_dir()
            .context("no cache directory: set XDG_CACHE_HOME or HOME, or pass --state-dir")?
            .join("proxy")
            .join(&args.name),
    };
    doc.add_proxy_user(&ProxyUser {
        name: args.name.clone(),
        asking_context: context.to_owned(),
        listen: args.listen,
        dir: dir.clone(),
    })?;
    let written = doc.write()?;
    let mut proxy = plugin_args(args, paths, context);
    proxy[0] = "proxy".to_owned();
    proxy.extend([
        "--key".to_owned(),
        format!("'{}'", uri_text(uri)),
        "--listen".to_owned(),
        args.listen.to_string(),
        "--state-dir".to_owned(),
        dir.to_string_lossy().into_owned(),
    ]);
    eprintln!(
        "added user and context {:?} to {}; start the proxy with\n  kubejit {}\nthen `kubectl --context {} auth whoami`",
        args.name,
        display_paths(&written).display(),
        proxy.join(" "),
        args.name
    );
    Ok(ExitCode::SUCCESS)
}

/// The URI back in RFC 7512 form (id percent-encoded), for the printed proxy command.
fn uri_text(uri: &kubejit_credential::token::Pkcs11Uri) -> String {
    // Every byte outside RFC 3986's unreserved set (and `/`, `:` in paths) is percent-encoded, so
    // the text parses back to the same URI.
    let enc = |bytes: &[u8], keep: &[u8]| -> String {
        bytes
            .iter()
            .map(
                |b| match b.is_ascii_alphanumeric() || b"-._~".contains(b) || keep.contains(b) {
                    true => char::from(*b).to_string(),
                    false => format!("%{b:02x}"),
                },
            )
            .collect()
    };
    let mut path = vec![format!("token={}", enc(uri.token.as_bytes(), b""))];
    if let Some(id) = &uri.id {
        path.push(format!(
            "id={}",
            id.iter().map(|b| format!("%{b:02x}")).collect::<String>()
        ));
    }
    if let Some(object) = &uri.object {
        path.push(format!("object={}", enc(object.as_bytes(), b"")));
    }
    let module = uri.module.to_string_lossy();
    let mut query = vec![format!("module-path={}", enc(module.as_bytes(), b"/"))];
    if let Some(pin) = &uri.pin_file {
        let pin = pin.to_string_lossy();
        query.push(format!("pin-source=file:{}", enc(pin.as_bytes(), b"/")));
    }
    format!("pkcs11:{}?{}", path.join(";"), query.join("&"))
}

/// The kubeconfig files kubectl would read, made absolute (they are pinned into the plugin's
/// invocation); missing `$KUBECONFIG` entries are skipped as kubectl skips them.
fn existing_paths(args: &AddUserArgs) -> anyhow::Result<Vec<PathBuf>> {
    let listed = resolve_paths(args.kubeconfig.as_deref());
    let mut paths = Vec::new();
    for path in &listed {
        match path.canonicalize() {
            Ok(path) => paths.push(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            // Skipping a file kubectl would read could pick another context than kubectl's: stop.
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("failed to resolve kubeconfig {}", path.display()));
            }
        }
    }
    anyhow::ensure!(
        !paths.is_empty(),
        "kubeconfig {} not found; pass --kubeconfig",
        display_paths(&listed).display()
    );
    Ok(paths)
}

/// Several files are passed to the plugin as kubectl received them, in `KUBECONFIG` (kubectl's
/// `--kubeconfig` names one file only); one file is pinned with `--kubeconfig` instead.
fn plugin_env(paths: &[PathBuf]) -> Vec<(String, String)> {
    match paths {
        [] | [_] => Vec::new(),
        several => vec![(
            "KUBECONFIG".to_owned(),
            display_paths(several).to_string_lossy().into_owned(),
        )],
    }
}

/// `kubejit-credential` installed beside this kubejit: kubectl runs it instead of `kubejit
/// credential` (the same arguments; it answers cache hits in a fraction of the start-up and hands
/// the rest to this binary). A `kubectl-jit` symlink resolves to the real kubejit first.
fn thin_plugin(kubejit: &std::path::Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let thin = kubejit.with_file_name("kubejit-credential");
    let meta = std::fs::metadata(&thin).ok()?;
    (meta.is_file() && meta.permissions().mode() & 0o111 != 0).then_some(thin)
}

/// The `kubejit credential …` arguments kubectl will pass, with the kubeconfig pinned to an absolute path.
fn plugin_args(args: &AddUserArgs, paths: &[PathBuf], context: &str) -> Vec<String> {
    let mut out = vec!["credential".to_owned()];
    if let [kubeconfig] = paths {
        out.extend([
            "--kubeconfig".to_owned(),
            kubeconfig.to_string_lossy().into_owned(),
        ]);
    }
    out.extend(["--context".to_owned(), context.to_owned()]);
    for group in &args.groups {
        out.extend(["--group".to_owned(), group.as_str().to_owned()]);
    }
    if let Some(incident) = &args.incident {
        out.extend(["--incident".to_owned(), incident.as_str().to_owned()]);
    }
    if let Some(reason) = &args.reason {
        out.extend(["--reason".to_owned(), reason.as_str().to_owned()]);
    }
    out.extend(["--ttl".to_owned(), args.ttl.to_string()]);
    if let Some(dir) = &args.cache_dir {
        out.extend(["--cache-dir".to_owned(), dir.to_string_lossy().into_owned()]);
    }
    out
}
