//! The per-connection session: what an admitted person may run, the tasks that run it as them,
//! and the watch that ends the session when their access ends.

pub mod command;
mod exec;
mod forward;
mod forward_spdy;
mod inbox;
mod live;
mod registry;
mod report;
mod watch;

pub use exec::{ChannelTask, PtySize, run_channel};
pub use forward::{ForwardError, Opened, open_forward, parse_target, start_forward};
pub use inbox::{CHANNEL_WINDOW, Inbox, Taken, Window};
pub use live::{Live, RecordingPolicy, unix_now};
pub use registry::{Registry, SessionSlot};
pub use report::{GATEWAY_NAME, Refusal, Reporter, error_chain, session_user};
pub use watch::{Watch, watch};
