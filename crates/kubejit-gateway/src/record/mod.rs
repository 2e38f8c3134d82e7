//! Session recordings: asciicast v2 files written as the session runs, hashed for the audit trail.
