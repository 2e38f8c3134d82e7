//! Renders a lint result: a table for people, JSON for scripts, SARIF 2.1.0 for code-scanning UIs.

mod json;
mod sarif;
mod table;

pub use json::json;
pub use sarif::sarif;
pub use table::table;

use crate::finding::Finding;
use crate::suppress::Suppressed;

/// What one run found.
#[derive(Debug, Default)]
pub struct Outcome {
    pub findings: Vec<Finding>,
    pub suppressed: Vec<Suppressed>,
}
