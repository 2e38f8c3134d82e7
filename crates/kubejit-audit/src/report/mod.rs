//! Incident report (in progress).
