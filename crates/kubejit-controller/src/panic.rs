//! Contains a panic inside one reconcile so it fails that object, not the controller.
//!
//! Every parser of untrusted input returns errors, and the lints keep it that way; this is the
//! second line. kube-runtime polls reconcile futures on the controller's own task, so a panic in
//! one of them would unwind through the controller stream and end the process, and the restart
//! would panic again on the initial list: one poisoned object would stop every expiry and every
//! CSR decision. With the panic turned into an error, the object is retried with backoff (and
//! counted), and every other object keeps being served.
//!
//! `AssertUnwindSafe` is sound here: what a reconcile shares is the `Context` (atomics, an audit
//! sink whose writes are whole lines) and per-kind trackers behind mutexes whose poisoning is
//! ignored on purpose. A reconcile cut short leaves at worst a stale tracker entry for its own
//! object, which the next reconcile of that object rewrites (the controllers are level-triggered).

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;

/// Runs `work`; a panic comes back as `Err` with the panic message.
pub(crate) async fn contain<T>(work: impl Future<Output = T>) -> Result<T, String> {
    AssertUnwindSafe(work)
        .catch_unwind()
        .await
        .map_err(|payload| message(payload.as_ref()))
}

fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "panic with a non-text payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_becomes_an_error_and_the_caller_carries_on() {
        let poisoned = contain(async {
            let values: Vec<u8> = Vec::new();
            values[usize::from(std::hint::black_box(7u8))]
        })
        .await;
        let Err(message) = poisoned else {
            panic!("the panic was not contained");
        };
        assert!(message.contains("index out of bounds"), "{message}");
        let formatted = contain(async { panic!("bad {}", 42) }).await;
        assert_eq!(formatted, Err::<(), _>("bad 42".to_owned()));
        assert_eq!(contain(async { 5 }).await, Ok(5));
    }
}
