//! The one source of `now` for services that are not handed it: the system clock in
//! production, a settable fixed clock in tests and `tick --now`.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, SubsecRound, Utc};

#[derive(Clone, Debug, Default)]
pub enum Clock {
    #[default]
    System,
    Fixed(Arc<Mutex<DateTime<Utc>>>),
}

impl Clock {
    pub fn fixed(at: DateTime<Utc>) -> Self {
        Clock::Fixed(Arc::new(Mutex::new(at)))
    }

    /// Now, to the microsecond: PostgreSQL keeps microseconds, so a stored instant reads
    /// back equal to the one written.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now().trunc_subsecs(6),
            Clock::Fixed(at) => *at.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// Moves a fixed clock; the system clock cannot be moved and ignores this.
    pub fn set(&self, to: DateTime<Utc>) {
        if let Clock::Fixed(at) = self {
            *at.lock().unwrap_or_else(|e| e.into_inner()) = to;
        }
    }
}
