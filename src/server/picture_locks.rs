//! Striped locks of picture hashes (see `pictures` for the rule they keep): a fixed number of
//! mutexes, so memory does not grow with the number of pictures; two hashes that share a
//! stripe only wait for one another.

use std::sync::Arc;

use tokio::sync::{Mutex, OwnedMutexGuard};

const STRIPES: usize = 64;

/// The striped locks of picture hashes.
pub struct PictureLocks {
    stripes: Vec<Arc<Mutex<()>>>,
}

impl Default for PictureLocks {
    fn default() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Arc::new(Mutex::new(()))).collect(),
        }
    }
}

impl PictureLocks {
    /// Holds `hash`'s stripe until the guard is dropped.
    pub async fn lock(&self, hash: &str) -> OwnedMutexGuard<()> {
        let stripe = u8::from_str_radix(hash.get(..2).unwrap_or("00"), 16).unwrap_or(0);
        self.stripes[usize::from(stripe) % STRIPES]
            .clone()
            .lock_owned()
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_hash_is_one_lock_and_others_do_not_wait() {
        let locks = PictureLocks::default();
        let held = locks.lock("ab12").await;
        // The same stripe waits; another stripe does not.
        let same = tokio::time::timeout(std::time::Duration::from_millis(50), locks.lock("ab99"));
        assert!(same.await.is_err());
        let other = tokio::time::timeout(std::time::Duration::from_millis(50), locks.lock("cd12"));
        assert!(other.await.is_ok());
        drop(held);
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(50), locks.lock("ab99"))
                .await
                .is_ok()
        );
    }
}
