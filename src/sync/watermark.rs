//! The product watermark: the newest product `date_modified` seen, and whether a read made now
//! can have missed a write in the same second (the store's dates have one-second resolution;
//! see `pull`).

use std::time::{Duration, Instant};

/// How long after the watermark is first seen a read surely comes after the store's clock
/// left the watermark's second.
pub(crate) const SETTLE: Duration = Duration::from_millis(1500);

/// What the engine knows about the store's product dates, in memory (the watermark itself is
/// also kept in the replica).
#[derive(Debug, Default)]
pub(crate) struct Catalogue {
    /// The newest product `date_modified` seen (store seconds), and when it was first seen.
    pub watermark: Option<(i64, Instant)>,
    /// Every product with a date up to this second is in the replica: a listing since the
    /// watermark was made after the store's clock had left the watermark's second. Listings
    /// then ask for the second after it, so a round with nothing changed lists nothing.
    pub covered_through: Option<i64>,
    /// Whether the replica's watermark has been read since the engine opened.
    pub loaded: bool,
    /// When the product count last made a full listing, and the (store, replica) counts then.
    pub last_count_relist: Option<(Instant, (u64, u64))>,
}

impl Catalogue {
    pub fn raise(&mut self, seconds: i64) {
        if self.watermark.is_none_or(|(known, _)| seconds > known) {
            self.watermark = Some((seconds, Instant::now()));
        }
    }

    /// The `min_date_modified` of the next listing: the watermark's second until a listing
    /// covered it, then the second after.
    pub fn since(&self) -> Option<i64> {
        let (mark, _) = self.watermark?;
        Some(match self.covered_through {
            Some(covered) if covered >= mark => mark + 1,
            _ => mark,
        })
    }

    /// The watermark a listing starting now will cover: one first seen long enough ago that
    /// the store's clock has left its second.
    pub fn coverable(&self) -> Option<i64> {
        self.watermark
            .filter(|(_, seen)| seen.elapsed() >= SETTLE)
            .map(|(mark, _)| mark)
    }

    /// Whether a read of a product whose `date_modified` is `date`, made now, cannot have
    /// missed a write in the same second.
    pub fn settled(&self, date: Option<i64>) -> bool {
        match (date, self.watermark) {
            (Some(date), Some((mark, seen))) => date < mark || seen.elapsed() >= SETTLE,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_settles_only_once_the_store_left_the_second_of_the_products_date() {
        let mut catalogue = Catalogue::default();
        assert!(!catalogue.settled(Some(100)), "no watermark yet");
        catalogue.raise(100);
        assert!(catalogue.settled(Some(99)), "older than the watermark");
        assert!(
            !catalogue.settled(Some(100)),
            "the watermark's own second, just seen"
        );
        assert!(!catalogue.settled(None), "a product without a date");
        catalogue.watermark = Some((100, Instant::now() - SETTLE));
        assert!(catalogue.settled(Some(100)), "seen long enough ago");
        catalogue.raise(100);
        assert!(
            catalogue.settled(Some(100)),
            "the same watermark again keeps when it was first seen"
        );
        catalogue.raise(101);
        assert!(!catalogue.settled(Some(101)));
    }
}
