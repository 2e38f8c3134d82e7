//! A clock the crate's tests move by hand.

use std::sync::{Arc, Mutex};

use crate::{Clock, Timestamp};

#[derive(Clone)]
pub(crate) struct ManualClock(Arc<Mutex<Timestamp>>);

impl ManualClock {
    pub(crate) fn new() -> Self {
        Self(Arc::new(Mutex::new(
            Timestamp::parse("2024-05-01T10:00:00Z").unwrap(),
        )))
    }

    pub(crate) fn advance(&self, seconds: i64) {
        let mut now = self.0.lock().unwrap();
        *now = Timestamp::new(now.get() + time::Duration::seconds(seconds));
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}
