//! TEMPORARY (not committed): replaced once the perceptual hashes land.
use super::catalogue::Catalogue;
use super::outcome::CliError;
use crate::sync::{Engine, LocalImage};

pub async fn find(
    _engine: &Engine,
    _catalogue: &Catalogue,
) -> Result<Vec<(LocalImage, LocalImage)>, CliError> {
    Ok(Vec::new())
}
