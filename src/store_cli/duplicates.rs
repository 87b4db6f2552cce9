//! The report's same-picture pairs: the engine's perceptual hashes (computed once per picture
//! from its thumbnail, kept in the replica), with progress on stderr for a large catalogue.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::catalogue::Catalogue;
use super::outcome::CliError;
use crate::sync::{Engine, ImageId};

/// Below this many pictures to compare, no progress is printed.
const QUIET_BELOW: usize = 200;

pub async fn find(
    engine: &Engine,
    catalogue: &Catalogue,
) -> Result<Vec<(ImageId, ImageId)>, CliError> {
    let shown_tenth = AtomicUsize::new(0);
    let progress = |done: usize, total: usize| {
        if total < QUIET_BELOW {
            return;
        }
        let tenth = done * 10 / total;
        if shown_tenth.fetch_max(tenth, Ordering::Relaxed) < tenth {
            eprintln!("comparing pictures: {done} of {total}");
        }
    };
    Ok(engine.duplicates(&catalogue.images, progress).await?)
}
