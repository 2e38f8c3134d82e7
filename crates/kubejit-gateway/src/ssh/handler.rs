//! The russh handler for one connection: authentication by OpenSSH user certificate only (the core
//! rules decide), then session requests mapped to the session layer. Anything not in the grammar
//! (shell without a command, subsystems, env, agent/X11, `-R`) is refused.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use kubejit_core::ssh_cert::{Admitted, CertPolicy, Login, decide_cert};
use russh::keys::Certificate;
use russh::server::{Auth, ChannelOpenHandle, Handler, Msg, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, ChannelOpenFailure, Pty};
use tokio_util::sync::CancellationToken;

use crate::config::Limits;
use crate::kube::PersonClient;
use crate::session::command::{self, CommandError};
use crate::session::{
    CHANNEL_WINDOW, ChannelTask, GATEWAY_NAME, Inbox, Live, PtySize, RecordingPolicy, Refusal,
    Registry, Reporter, SessionSlot, Watch, Window, open_forward, parse_target, run_channel,
    session_user, start_forward, unix_now, watch,
};

/// What every connection shares.
#[derive(Debug)]
pub struct Shared {
    /// Lifetime and group rules; its `trusted_cas` is only the set at start, `cas` is current.
    pub policy: CertPolicy,
    /// The user CAs trusted now (`trust::reload` swaps it when the files change).
    pub cas: Arc<tokio::sync::watch::Sender<crate::trust::CaSet>>,
    pub base: kube::Config,
    pub limits: Limits,
    pub registry: Arc<Registry>,
    pub reporter: Reporter,
    pub recording: RecordingPolicy,
    /// Cancelled when the gateway shuts down: every session says so and ends.
    pub shutdown: CancellationToken,
    /// Bumped when a binding is deleted (`kube::watch_deletions`).
    pub nudge: Arc<tokio::sync::watch::Sender<u64>>,
    /// The port-forward protocols offered to the apiserver (`GatewayConfig::port_forward`).
    pub port_forward: crate::kube::ForwardOffer,
}

/// An admitted person on this connection.
#[derive(Debug)]
struct Person {
    admitted: Admitted,
    /// The fingerprint of the CA that signed the certificate: the session ends when it is no
    /// longer trusted.
    ca: String,
    client: PersonClient,
    _slot: SessionSlot,
}

/// A session channel waiting for its command.
#[derive(Debug)]
struct Pending {
    channel: Channel<Msg>,
    pty: Option<PtySize>,
}

/// One SSH connection.
#[derive(Debug)]
pub struct Connection {
    shared: Arc<Shared>,
    peer: Option<SocketAddr>,
    session: String,
    person: Option<Person>,
    pending: HashMap<ChannelId, Pending>,
    /// Running channels' client bytes, held until their consumer takes them (`Inbox` says why).
    inboxes: HashMap<ChannelId, Arc<Inbox>>,
    live: Arc<Live>,
    done: CancellationToken,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.done.cancel();
    }
}

impl Connection {
    pub fn new(shared: Arc<Shared>, peer: Option<SocketAddr>) -> Self {
        Self {
            shared,
            peer,
            session: format!("s-{}", hex::encode(rand::random::<[u8; 8]>())),
            person: None,
            pending: HashMap::new(),
            inboxes: HashMap::new(),
            live: Arc::new(Live::new()),
            done: CancellationToken::new(),
        }
    }

    fn refuse(&self, user: &str, reason: &str, label: &str) -> Auth {
        self.shared.reporter.refused(Refusal {
            connection: &self.session,
            peer: self.peer,
            login: user,
            label,
            detail: reason.to_owned(),
            key_id: None,
            ca_fingerprint: None,
        });
        Auth::reject()
    }

    fn admit(&mut self, user: &str, cert: &Certificate) -> Auth {
        let Some(peer) = self.peer else {
            return self.refuse(user, "peer address unknown", "no_peer");
        };
        let facts = super::facts(cert);
        let login = Login {
            user,
            peer: peer.ip(),
            now: unix_now(),
        };
        let policy = CertPolicy {
            trusted_cas: (**self.shared.cas.borrow()).clone(),
            ..self.shared.policy.clone()
        };
        let admitted = match decide_cert(&facts, &policy, login) {
            Ok(a) => a,
            Err(refusal) => {
                let r = &self.shared.reporter;
                r.refused_cert(
                    &self.session,
                    self.peer,
                    user,
                    &refusal,
                    &facts.key_id,
                    &facts.ca_fingerprint,
                );
                return Auth::reject();
            }
        };
        let max = self.shared.limits.max_sessions_per_user;
        let Some(slot) = self.shared.registry.acquire(user, max) else {
            return self.refuse(user, "too many concurrent sessions", "too_many_sessions");
        };
        let client = match PersonClient::new(&self.shared.base, &admitted.user, &admitted.groups) {
            Ok(c) => c,
            Err(e) => return self.refuse(user, &e.to_string(), "client_error"),
        };
        if let Err(e) = self
            .shared
            .reporter
            .started(&self.session, &admitted, self.peer)
        {
            // No record, no session.
            tracing::error!(error = %e, "sessionStarted not recorded; refusing the login");
            return self.refuse(
                user,
                &format!("audit trail unavailable: {e}"),
                "audit_unavailable",
            );
        }
        self.person = Some(Person {
            admitted,
            ca: facts.ca_fingerprint,
            client,
            _slot: slot,
        });
        Auth::Accept
    }

    /// Starts the channel's command: the certificate's force-command wins over what was asked.
    fn start(&mut self, channel: ChannelId, asked: Option<&str>, session: &Session) -> bool {
        let (Some(person), Some(pending)) = (&self.person, self.pending.remove(&channel)) else {
            return false;
        };
        let line = person
            .admitted
            .force_command
            .as_deref()
            .or(asked)
            .unwrap_or("")
            .to_owned();
        let parsed = if line.trim().is_empty() {
            Err(CommandError::Empty)
        } else {
            command::parse(&line)
        };
        let inbox = Arc::new(Inbox::new(CHANNEL_WINDOW));
        self.inboxes.insert(channel, Arc::clone(&inbox));
        let task = ChannelTask {
            inbox,
            window: Window::new(session.handle(), channel),
            channel: pending.channel,
            person: person.client.clone(),
            live: Arc::clone(&self.live),
            reporter: self.shared.reporter.clone(),
            session: self.session.clone(),
            who: session_user(&person.admitted),
            pty: pending.pty,
            recording: self.shared.recording.clone(),
        };
        tokio::spawn(async move { run_channel(task, parsed, &line).await });
        true
    }
}

impl Handler for Connection {
    type Error = russh::Error;

    async fn auth_none(&mut self, user: &str) -> Result<Auth, Self::Error> {
        // OpenSSH probes with "none" first; not a refusal worth counting.
        tracing::debug!(user = %kubejit_core::text::escape_bounded(user, 80), "auth none");
        Ok(Auth::reject())
    }

    async fn auth_password(&mut self, user: &str, _: &str) -> Result<Auth, Self::Error> {
        Ok(self.refuse(user, "password authentication is off", "password"))
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        _key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(self.refuse(
            user,
            "plain public keys are off; present a certificate",
            "plain_public_key",
        ))
    }

    async fn auth_openssh_certificate(
        &mut self,
        user: &str,
        certificate: &Certificate,
    ) -> Result<Auth, Self::Error> {
        Ok(self.admit(user, certificate))
    }

    async fn auth_succeeded(&mut self, session: &mut Session) -> Result<(), Self::Error> {
        let Some(person) = &self.person else {
            return Ok(());
        };
        let w = Watch {
            handle: session.handle(),
            person: person.client.clone(),
            live: Arc::clone(&self.live),
            limits: self.shared.limits,
            valid_before: person.admitted.valid_before,
            started: unix_now(),
            user: person.admitted.user.as_str().to_owned(),
            done: self.done.clone(),
            shutdown: self.shared.shutdown.clone(),
            nudge: self.shared.nudge.subscribe(),
            ca: person.ca.clone(),
            cas: self.shared.cas.subscribe(),
        };
        let reporter = self.shared.reporter.clone();
        let (id, who, live) = (
            self.session.clone(),
            session_user(&person.admitted),
            Arc::clone(&self.live),
        );
        tokio::spawn(async move {
            let (reason, message) = watch(w).await;
            let (bytes_in, bytes_out) = live.bytes();
            let recording = live.finish_recording().map(|f| f.audit_ref());
            reporter.ended(kubejit_audit::SessionEnded {
                gateway: GATEWAY_NAME.to_owned(),
                session_id: id,
                who,
                reason,
                message,
                exit_status: live.exit_status(),
                bytes_in,
                bytes_out,
                duration: live.elapsed(),
                recording,
            });
        });
        Ok(())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.person.is_none() {
            reply
                .reject(ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        }
        self.pending
            .insert(channel.id(), Pending { channel, pty: None });
        reply.accept().await;
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        cols: u32,
        rows: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let permitted = self.person.as_ref().is_some_and(|p| p.admitted.permit_pty);
        match self.pending.get_mut(&channel) {
            Some(p) if permitted => {
                p.pty = Some(PtySize {
                    cols: u16::try_from(cols).unwrap_or(u16::MAX),
                    rows: u16::try_from(rows).unwrap_or(u16::MAX),
                });
                session.channel_success(channel)?;
            }
            Some(_) | None => session.channel_failure(channel)?,
        }
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let asked = String::from_utf8_lossy(data).into_owned();
        if self.start(channel, Some(&asked), session) {
            session.channel_success(channel)?;
        } else {
            session.channel_failure(channel)?;
        }
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // Without a force-command this prints the "no shell here" message and exits 2.
        if self.start(channel, None, session) {
            session.channel_success(channel)?;
        } else {
            session.channel_failure(channel)?;
        }
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        tracing::info!(session = %self.session, subsystem = %kubejit_core::text::escape_bounded(name, 40), "subsystem refused");
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        _value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn x11_request(
        &mut self,
        channel: ChannelId,
        _single: bool,
        _protocol: &str,
        _cookie: &str,
        _screen: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn agent_request(
        &mut self,
        _channel: ChannelId,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        Ok(false)
    }

    async fn tcpip_forward(
        &mut self,
        _address: &str,
        _port: &mut u32,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        Ok(false)
    }

    async fn window_change_request(
        &mut self,
        channel: ChannelId,
        _cols: u32,
        _rows: u32,
        _pw: u32,
        _ph: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // The running exec reads the same event from its channel and resizes the terminal.
        session.channel_success(channel)?;
        Ok(())
    }

    async fn data(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.live.touch();
        if let Some(inbox) = self.inboxes.get(&channel)
            && !inbox.push(data)
        {
            // russh drops bytes past the window before they reach us; this is the second lock.
            tracing::warn!(session = %self.session, "channel ended: the client sent past its window");
            self.inboxes.remove(&channel);
        }
        Ok(())
    }

    async fn channel_eof(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        // The client will send no more: the pod side's write half closes once all is taken.
        if let Some(inbox) = self.inboxes.remove(&channel) {
            inbox.finish();
        }
        Ok(())
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.pending.remove(&channel);
        if let Some(inbox) = self.inboxes.remove(&channel) {
            inbox.finish();
        }
        Ok(())
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        channel: Channel<Msg>,
        host: &str,
        port: u32,
        _originator: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(person) = &self.person else {
            reply
                .reject(ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        };
        let user = person.admitted.user.as_str().to_owned();
        let who = session_user(&person.admitted);
        let opened = async {
            if !person.admitted.permit_port_forwarding {
                return Err(crate::session::ForwardError::NotPermitted);
            }
            let (pod, ns, port) = parse_target(host, port)?;
            let (ws, perm) =
                open_forward(&person.client, &pod, &ns, port, self.shared.port_forward).await?;
            Ok((ws, perm, port))
        }
        .await;
        match opened {
            Ok((ws, perm, port)) => {
                let action = kubejit_audit::SessionAction::PortForward {
                    pod: perm
                        .name
                        .as_ref()
                        .map(|n| n.to_string())
                        .unwrap_or_default(),
                    port,
                };
                let ns = perm.namespace.to_string();
                if let Err(e) = self
                    .shared
                    .reporter
                    .command(&self.session, &who, &ns, action)
                {
                    tracing::error!(error = %e, "sessionCommand not recorded; refusing the port-forward");
                    drop(ws);
                    reply
                        .reject(ChannelOpenFailure::AdministrativelyProhibited)
                        .await;
                    return Ok(());
                }
                self.live.using(channel.id(), perm);
                let id = channel.id();
                reply.accept().await;
                let inbox = Arc::new(Inbox::new(CHANNEL_WINDOW));
                self.inboxes.insert(id, Arc::clone(&inbox));
                let window = Window::new(session.handle(), id);
                start_forward(channel, ws, port, Arc::clone(&self.live), inbox, window);
            }
            Err(e) => {
                tracing::warn!(session = %self.session, user, error = %e, "port-forward refused");
                let code = match e {
                    crate::session::ForwardError::NotPermitted => {
                        ChannelOpenFailure::AdministrativelyProhibited
                    }
                    crate::session::ForwardError::Target
                    | crate::session::ForwardError::Port
                    | crate::session::ForwardError::Name(_)
                    | crate::session::ForwardError::Refused(_) => ChannelOpenFailure::ConnectFailed,
                };
                reply.reject(code).await;
            }
        }
        Ok(())
    }
}
