//! One session channel's command, run as the person: help, pods, logs, exec (with or without a
//! terminal). Output flows back through the SSH channel's window; the exit status becomes ssh's.

use std::sync::Arc;

use futures::{AsyncReadExt as _, SinkExt as _, StreamExt as _};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::api::{AttachParams, LogParams};
use russh::server::Msg;
use russh::{Channel, ChannelMsg};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use kubejit_audit::{SessionAction, SessionUser};
use kubejit_core::names::{NamespaceName, ObjectName};

use super::command::{Command, CommandError, USAGE};
use super::inbox::{Inbox, Taken, Window};
use super::live::{Live, RecordingPolicy};
use super::report::{Reporter, error_chain};
use crate::kube::{Permission, PersonClient};

/// The terminal the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PtySize {
    pub cols: u16,
    pub rows: u16,
}

/// Everything a channel's command needs.
#[derive(Debug)]
pub struct ChannelTask {
    pub channel: Channel<Msg>,
    /// The client's stdin bytes (the handler fills it; see `inbox`).
    pub inbox: Arc<Inbox>,
    /// Grants the client's window back as stdin reaches the pod.
    pub window: Window,
    pub person: PersonClient,
    pub live: Arc<Live>,
    pub reporter: Reporter,
    pub session: String,
    pub who: SessionUser,
    pub pty: Option<PtySize>,
    pub recording: RecordingPolicy,
}

/// The audit record's view of a command (`help` is not recorded: it touches nothing).
fn action(cmd: &Command, tty: bool) -> Option<(String, SessionAction)> {
    let name = |c: &Option<ObjectName>| c.as_ref().map(|c| c.as_str().to_owned());
    match cmd {
        Command::Help => None,
        Command::Pods { namespace } => Some((namespace.to_string(), SessionAction::Pods)),
        Command::Logs {
            namespace,
            pod,
            container,
            follow,
            tail,
        } => Some((
            namespace.to_string(),
            SessionAction::Logs {
                pod: pod.to_string(),
                container: name(container),
                follow: *follow,
                tail: tail.and_then(|t| u64::try_from(t).ok()),
            },
        )),
        Command::Exec {
            namespace,
            pod,
            container,
            command,
        } => Some((
            namespace.to_string(),
            SessionAction::Exec {
                pod: pod.to_string(),
                container: name(container),
                tty,
                command: command.clone(),
            },
        )),
    }
}

/// Runs the command on the channel, then sends its exit status and closes the channel.
pub async fn run_channel(mut t: ChannelTask, parsed: Result<Command, CommandError>, line: &str) {
    let id = t.channel.id();
    t.live.terminal(id);
    let code = match parsed {
        Err(e) => {
            say(&t, &format!("kubejit: {e}")).await;
            2
        }
        Ok(cmd) => {
            let recorded = match action(&cmd, t.pty.is_some()) {
                Some((ns, act)) => t.reporter.command(&t.session, &t.who, &ns, act),
                None => Ok(()),
            };
            let ran = match recorded {
                Ok(()) => run(&mut t, cmd, line).await,
                Err(e) => Err(format!(
                    "refused: the audit trail did not take this command ({e})"
                )),
            };
            match ran {
                Ok(code) => code,
                Err(message) => {
                    say(&t, &format!("kubejit: {message}")).await;
                    1
                }
            }
        }
    };
    t.live.done(id);
    t.live.set_exit_status(code);
    let _ = t.channel.exit_status(code).await;
    let _ = t.channel.eof().await;
    let _ = t.channel.close().await;
}

/// Writes one line to the client's stderr (a terminal wants CRLF).
async fn say(t: &ChannelTask, line: &str) {
    let end = if t.pty.is_some() { "\r\n" } else { "\n" };
    let mut w = t.channel.make_writer_ext(Some(1));
    let _ = w.write_all(format!("{line}{end}").as_bytes()).await;
    let _ = w.flush().await;
}

async fn run(t: &mut ChannelTask, cmd: Command, line: &str) -> Result<u32, String> {
    match cmd {
        Command::Help => {
            let text = if t.pty.is_some() {
                USAGE.replace('\n', "\r\n")
            } else {
                USAGE.to_owned()
            };
            write_out(t, text.as_bytes()).await;
            Ok(0)
        }
        Command::Pods { namespace } => {
            let perm = pods_permission("list", None, &namespace, None);
            let pods = t
                .person
                .list_pods(&namespace)
                .await
                .map_err(|e| explain(&perm, &e))?;
            let mut text = String::from("NAME\tSTATUS\n");
            for (name, phase) in pods {
                text.push_str(&format!("{name}\t{phase}\n"));
            }
            write_out(t, text.as_bytes()).await;
            Ok(0)
        }
        Command::Logs {
            namespace,
            pod,
            container,
            follow,
            tail,
        } => {
            let perm = pods_permission("get", Some("log"), &namespace, Some(&pod));
            let params = LogParams {
                container: container.map(|c| c.as_str().to_owned()),
                follow,
                tail_lines: tail,
                ..LogParams::default()
            };
            let stream = t
                .person
                .pods(&namespace)
                .log_stream(pod.as_str(), &params)
                .await
                .map_err(|e| explain(&perm, &e))?;
            t.live.using(t.channel.id(), perm);
            copy_logs(t, stream).await;
            Ok(0)
        }
        Command::Exec {
            namespace,
            pod,
            container,
            command,
        } => {
            let perm = pods_permission("create", Some("exec"), &namespace, Some(&pod));
            let tty = t.pty.is_some();
            // Every exec is recorded; no recording, no exec.
            let size = t.pty.map_or((80, 24), |p| (p.cols, p.rows));
            t.live
                .start_recording(&t.recording, &t.session, size, line)
                .map_err(|e| format!("refused: the session cannot be recorded ({e})"))?;
            let params = AttachParams {
                container: container.map(|c| c.as_str().to_owned()),
                stdin: true,
                stdout: true,
                stderr: !tty,
                tty,
                ..AttachParams::default()
            };
            let process = t.person.exec(&namespace, &pod, command, &params).await;
            match process {
                Ok((ws, closes)) => {
                    t.live.using(t.channel.id(), perm);
                    exec(t, ws, closes).await
                }
                Err(e) => Err(explain_denied(t, &perm, &e).await),
            }
        }
    }
}

/// The permission a command needs on pods (what a denial names). It is marked as in use on the
/// channel (so the session's re-check watches it) only once the apiserver has let the command start:
/// marked earlier, a re-check racing a refused request would end the session as "access ended"
/// before the person saw the apiserver's own refusal, for access they never had.
fn pods_permission(
    verb: &'static str,
    subresource: Option<&'static str>,
    namespace: &NamespaceName,
    pod: Option<&ObjectName>,
) -> Permission {
    Permission {
        verb,
        resource: "pods",
        subresource,
        namespace: namespace.clone(),
        name: pod.cloned(),
    }
}

async fn write_out(t: &ChannelTask, bytes: &[u8]) {
    let mut w = t.channel.make_writer();
    if w.write_all(bytes).await.is_ok() {
        t.live.add_out(bytes.len() as u64);
    }
    let _ = w.flush().await;
}

/// The apiserver's answer as the user sees it.
fn explain(perm: &Permission, e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => status.message.clone(),
        other => format!("{perm}: {}", error_chain(other)),
    }
}

/// A streaming upgrade refused with a bare status code says little; ask the apiserver (as the
/// person) whether the permission is there and say so.
async fn explain_denied(t: &ChannelTask, perm: &Permission, e: &kube::Error) -> String {
    match t.person.allowed(perm).await {
        Ok(false) => format!(
            "forbidden: User \"{}\" cannot {perm} (the apiserver refused; ask for a grant)",
            t.who.user
        ),
        Ok(true) | Err(_) => explain(perm, e),
    }
}

async fn copy_logs(t: &mut ChannelTask, mut stream: impl futures::AsyncBufRead + Unpin) {
    let mut out = t.channel.make_writer();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            n = stream.read(&mut buf) => match n {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let chunk = buf.get(..n).unwrap_or_default();
                    if out.write_all(chunk).await.is_err() {
                        break;
                    }
                    t.live.add_out(n as u64);
                }
            },
            msg = t.channel.wait() => match msg {
                // EOF only means the client has no more input (ssh -n, /dev/null).
                None | Some(ChannelMsg::Close) => break,
                Some(_) => {}
            },
        }
    }
    let _ = out.flush().await;
}

/// The exec protocol's channels (`v4`/`v5.channel.k8s.io`).
const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const STATUS: u8 = 3;
const RESIZE: u8 = 4;
/// v5 only: `[CLOSE, STDIN]` says stdin has ended.
const CLOSE: u8 = 255;

/// The sending half of the exec WebSocket, shared by the stdin feeder and resizes.
type ToPod<S> = Arc<tokio::sync::Mutex<futures::stream::SplitSink<WebSocketStream<S>, Message>>>;

/// Sends one frame on `channel`.
async fn send<S>(to_pod: &ToPod<S>, channel: u8, data: &[u8]) -> bool
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut frame = Vec::with_capacity(data.len() + 1);
    frame.push(channel);
    frame.extend_from_slice(data);
    to_pod
        .lock()
        .await
        .send(Message::binary(frame))
        .await
        .is_ok()
}

async fn resize<S>(to_pod: &ToPod<S>, size: PtySize)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let json = serde_json::json!({"Width": size.cols, "Height": size.rows}).to_string();
    let _ = send(to_pod, RESIZE, json.as_bytes()).await;
}

/// Pumps one exec: client input (its own task) and resizes in, stdout/stderr out (its own task),
/// then the exit status. Sending and receiving never wait on each other: a command that stops
/// reading its input keeps its output flowing. And this loop never waits on either, because it
/// must keep draining the channel's events: russh's connection loop waits on that queue, and
/// that loop also carries the client's window adjustments the output needs.
async fn exec<S>(t: &mut ChannelTask, ws: WebSocketStream<S>, closes: bool) -> Result<u32, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (to_pod, from_pod) = ws.split();
    let to_pod: ToPod<S> = Arc::new(tokio::sync::Mutex::new(to_pod));
    // The first size goes out before anything else, so the command starts with it.
    if let Some(size) = t.pty {
        resize(&to_pod, size).await;
    }
    let (size_tx, size_rx) = tokio::sync::watch::channel(None);
    let resizer = tokio::spawn(send_sizes(size_rx, Arc::clone(&to_pod)));
    let _abort_resizer = AbortOnDrop(resizer);
    let feeder = tokio::spawn(feed_stdin(
        Arc::clone(&t.inbox),
        t.window.clone(),
        Arc::clone(&to_pod),
        closes,
        Arc::clone(&t.live),
    ));
    let _abort_feeder = AbortOnDrop(feeder);
    let receiver = tokio::spawn(receive(
        from_pod,
        t.channel.make_writer(),
        t.channel.make_writer_ext(Some(1)),
        Arc::clone(&t.live),
    ));
    tokio::pin!(receiver);
    let status = loop {
        tokio::select! {
            status = &mut receiver => break status.ok().flatten(),
            msg = t.channel.wait() => match msg {
                // Data and EOF reach the feeder through the inbox (the handler fills it).
                Some(ChannelMsg::WindowChange { col_width, row_height, .. }) => {
                    if t.pty.is_some() {
                        let size = PtySize {
                            cols: u16::try_from(col_width).unwrap_or(u16::MAX),
                            rows: u16::try_from(row_height).unwrap_or(u16::MAX),
                        };
                        t.live.record(|r, at| r.resize(at, size.cols, size.rows));
                        // The latest size wins; sent by its own task (the socket may be busy).
                        size_tx.send_replace(Some(size));
                    }
                }
                None | Some(ChannelMsg::Close) => {
                    receiver.abort();
                    return Ok(130);
                }
                Some(_) => {}
            },
        }
    };
    if let Ok(mut sink) = to_pod.try_lock() {
        let _ = sink.close().await;
    }
    tracing::debug!(?status, "exec ended");
    let (code, message) = exit_code(status.as_ref());
    if let Some(message) = message {
        say(t, &format!("kubejit: {message}")).await;
    }
    Ok(code)
}

/// Sends the terminal size whenever it changes.
async fn send_sizes<S>(mut sizes: tokio::sync::watch::Receiver<Option<PtySize>>, to_pod: ToPod<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        let size = *sizes.borrow_and_update();
        if let Some(size) = size {
            resize(&to_pod, size).await;
        }
        if sizes.changed().await.is_err() {
            return;
        }
    }
}

/// The command's output to the client (bounded by the client's window), until its status.
async fn receive<S>(
    mut from_pod: futures::stream::SplitStream<WebSocketStream<S>>,
    mut out: impl AsyncWrite + Unpin,
    mut err: impl AsyncWrite + Unpin,
    live: Arc<Live>,
) -> Option<Status>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let status = loop {
        let bytes = match from_pod.next().await {
            Some(Ok(Message::Binary(bytes))) => bytes,
            Some(Ok(Message::Close(_)) | Err(_)) | None => break None,
            Some(Ok(_)) => continue,
        };
        let Some((&ch, data)) = bytes.split_first() else {
            continue;
        };
        if data.is_empty() {
            // Each channel announces itself with an empty frame.
            continue;
        }
        match ch {
            STDOUT => {
                // Recorded before it is shown: what the user saw is always recorded.
                live.record(|r, at| r.output(at, data));
                if out.write_all(data).await.is_ok() {
                    live.add_out(data.len() as u64);
                }
            }
            STDERR => {
                live.record(|r, at| r.stderr(at, data));
                if err.write_all(data).await.is_ok() {
                    live.add_out(data.len() as u64);
                }
            }
            STATUS => break serde_json::from_slice::<Status>(data).ok(),
            _ => {}
        }
    };
    let _ = out.flush().await;
    let _ = err.flush().await;
    status
}

/// Aborts a spawned task when dropped (the exec is over, however it ended).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Hands the client's input to the command, granting the client's window back as it goes. Once
/// the command's stdin is gone, input is still taken (and dropped) so the client never waits.
async fn feed_stdin<S>(
    inbox: Arc<Inbox>,
    mut window: Window,
    to_pod: ToPod<S>,
    closes: bool,
    live: Arc<Live>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut open = true;
    loop {
        match inbox.take().await {
            Taken::Bytes(data) => {
                live.add_in(data.len() as u64);
                live.record(|r, at| r.input(at, &data).map(|_| ()));
                for part in data.chunks(MAX_FRAME) {
                    if open && !send(&to_pod, STDIN, part).await {
                        open = false;
                    }
                }
                if !window.consumed(data.len()).await {
                    return;
                }
            }
            Taken::Eof | Taken::Overrun => {
                // Without v5's close signal the command never hears EOF (closing the socket would
                // lose its remaining output), as with kubectl on such an apiserver.
                if open && closes {
                    let _ = send(&to_pod, CLOSE, &[STDIN]).await;
                }
                return;
            }
        }
    }
}

/// The largest stdin frame: a window's worth of input goes out in a few frames.
const MAX_FRAME: usize = 256 * 1024;

/// The exit code the apiserver reports: `NonZeroExitCode` carries it as an `ExitCode` cause (what
/// kubectl reads). Any other failure is exit 1 with the apiserver's message, as kubectl does.
pub fn exit_code(status: Option<&Status>) -> (u32, Option<String>) {
    let Some(status) = status else {
        return (1, Some("the exec ended without a status".into()));
    };
    if status.status.as_deref() == Some("Success") {
        return (0, None);
    }
    let code = (status.reason.as_deref() == Some("NonZeroExitCode"))
        .then(|| status.details.as_ref()?.causes.as_ref())
        .flatten()
        .and_then(|causes| {
            causes
                .iter()
                .find(|c| c.reason.as_deref() == Some("ExitCode"))
                .and_then(|c| c.message.as_deref())
                .and_then(|m| m.parse::<u32>().ok())
        });
    match code {
        Some(code) => (code, None),
        None => (1, Some(status.message.clone().unwrap_or_default())),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn status(json: serde_json::Value) -> Status {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn exit_codes_are_read_as_kubectl_reads_them() {
        assert_eq!(
            exit_code(Some(&status(serde_json::json!({"status": "Success"})))),
            (0, None)
        );
        let nonzero = status(serde_json::json!({
            "status": "Failure", "reason": "NonZeroExitCode", "message": "command terminated with non-zero exit code",
            "details": {"causes": [{"reason": "ExitCode", "message": "42"}]}}));
        assert_eq!(exit_code(Some(&nonzero)), (42, None));
        // An ExitCode cause without the NonZeroExitCode reason is not trusted as one.
        let odd = status(serde_json::json!({
            "status": "Failure", "reason": "InternalError", "message": "boom",
            "details": {"causes": [{"reason": "ExitCode", "message": "0"}]}}));
        assert_eq!(exit_code(Some(&odd)), (1, Some("boom".into())));
        assert_eq!(exit_code(None).0, 1);
    }
}
