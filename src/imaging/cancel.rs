//! Cancelling imaging that nobody waits for any more. A request handler that is dropped (the
//! client went away) cannot stop a blocking thread; it can raise a flag that the thread checks
//! between steps (decode, each resize, each encode, before writing files).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::ImagingError;

/// A shared flag: clones see the same state.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A flag that nobody raises.
    pub fn never() -> Cancel {
        Cancel::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// `Err(Cancelled)` once the flag is raised: the step boundary of the work that checks it.
    pub fn check(&self) -> Result<(), ImagingError> {
        if self.is_cancelled() {
            Err(ImagingError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// A guard that raises the flag when dropped, unless [`CancelOnDrop::disarm`]ed: held by the
    /// future that waits for the work, so dropping the future cancels the work.
    pub fn on_drop(&self) -> CancelOnDrop {
        CancelOnDrop(Some(self.clone()))
    }
}

/// Raises its flag when dropped (see [`Cancel::on_drop`]).
#[derive(Debug)]
pub struct CancelOnDrop(Option<Cancel>);

impl CancelOnDrop {
    /// The work's result has been taken: dropping the guard now cancels nothing.
    pub fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(cancel) = &self.0 {
            cancel.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropping_the_guard_cancels_and_disarming_does_not() {
        let flag = Cancel::never();
        flag.on_drop().disarm();
        assert!(flag.check().is_ok());
        drop(flag.on_drop());
        assert!(matches!(flag.check(), Err(ImagingError::Cancelled)));
    }
}
