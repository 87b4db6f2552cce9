//! TEMPORARY (not committed): replaced once the perceptual hashes land.
use super::catalogue::Catalogue;
use super::outcome::CliError;
use crate::sync::{Engine, ImageId};

pub async fn find(
    _engine: &Engine,
    _catalogue: &Catalogue,
) -> Result<Vec<(ImageId, ImageId)>, CliError> {
    Ok(Vec::new())
}
