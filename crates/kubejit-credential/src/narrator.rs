//! What the plugin tells the person running kubectl: on stderr, because stdout is reserved for the
//! ExecCredential.

/// Says what the plugin is doing (which request, what it waits for).
#[derive(Debug, Clone, Copy)]
pub struct Narrator {
    /// kubectl has a terminal on stdin: say more (how to approve by hand).
    pub interactive: bool,
}

impl Narrator {
    pub fn say(&self, message: &str) {
        eprintln!("kubejit: {message}");
    }
}
