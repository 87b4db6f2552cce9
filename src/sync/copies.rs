//! Copies of pictures to other products ("Copy to other products…"), and the images of several
//! products at once for bulk edits.
//!
//! A copy is an ordinary add: each picture goes to the end of each target product, with its
//! description, as a queued create from a file of its own in the blob directory, so offline it
//! waits in the outbox and is sent once (creates carry an idempotency key). The bytes are the
//! picture's own: a picture not uploaded yet is read from its queued file; one the store has is
//! downloaded the way a delete keeps its copy for "Recently deleted" (`trash::keep_copies`):
//! its largest variant first. Every picture is fetched before anything is queued, so a store
//! that stops answering half-way leaves nothing half copied.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bytes::Bytes;

use super::SyncError;
use super::deleted_entries::MAX_COPY_BYTES;
use super::edits::{self, NewPicture};
use super::model::{ImageId, LocalImage, ProductSummary};
use super::outbox::Source;
use super::shared::Shared;
use crate::{durable, imaging};

/// Why a copy queued nothing. The words say what to do.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(
        "the picture of image {0} could not be downloaded because the store did not answer; nothing was copied — try again when the store is back"
    )]
    StoreUnreachable(ImageId),
    #[error(
        "image {0} has no picture that can be copied (it may be an image added from a web address that is not in the store yet); nothing was copied"
    )]
    NoPicture(ImageId),
    #[error("choose at least one image and one other product to copy to")]
    NothingToCopy,
    #[error(
        "{0} of the products have not been read from the store yet and the store did not answer; nothing was changed — try again when the store is back"
    )]
    NotLoaded(usize),
}

/// What a copy queued: one new image per picture and target, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// `(target product, new image)`.
    pub created: Vec<(i64, ImageId)>,
    /// How many different pictures were copied.
    pub pictures: usize,
    /// How many products received them.
    pub products: usize,
}

/// One source picture, read and checked.
struct Fetched {
    bytes: Bytes,
    description: String,
    file_name: String,
    width: u32,
    height: u32,
}

/// Copies `images` (in that order) to the end of each of `targets`. `progress(done, total)`
/// follows the downloads, then the queued adds. All pictures are fetched first: an error
/// before that point queues nothing.
pub(crate) async fn copy_images(
    shared: &Shared,
    images: &[ImageId],
    targets: &[i64],
    progress: impl Fn(usize, usize) + Send + Sync,
) -> Result<CopyReport, SyncError> {
    if images.is_empty() || targets.is_empty() {
        return Err(CopyError::NothingToCopy.into());
    }
    for &target in targets {
        if super::catalog::product_summary(&shared.replica.reader, target)
            .await?
            .is_none()
        {
            return Err(SyncError::UnknownProduct(target));
        }
    }
    let total = images.len() + images.len() * targets.len();
    let mut done = 0;
    let mut fetched = Vec::with_capacity(images.len());
    for &id in images {
        let image = shared
            .replica
            .image(id)
            .await?
            .ok_or(SyncError::UnknownImage(id))?;
        fetched.push(fetch(shared, &image).await?);
        done += 1;
        progress(done, total);
    }
    let mut report = CopyReport {
        pictures: images.len(),
        products: targets.len(),
        ..CopyReport::default()
    };
    for &target in targets {
        for picture in &fetched {
            let new = write_blob(shared, picture).await?;
            let blob = new.source.blob();
            match edits::add(&shared.replica, target, new, &picture.description).await {
                Ok((applied, image)) => {
                    shared.announce(&applied);
                    report.created.push((target, image));
                }
                Err(err) => {
                    edits::remove_blobs(&shared.replica, blob.as_slice());
                    shared.refresh_counts().await;
                    shared.wake.notify_one();
                    return Err(err);
                }
            }
            done += 1;
            progress(done, total);
        }
    }
    shared.refresh_counts().await;
    shared.wake.notify_one();
    Ok(report)
}

/// The picture's bytes: its queued file while it is not uploaded, else the store's largest
/// variant (a smaller one if that fails for a reason other than the store not answering).
async fn fetch(shared: &Shared, image: &LocalImage) -> Result<Fetched, SyncError> {
    let bytes = match &image.local_file {
        Some(path) => Some(Bytes::from(
            tokio::fs::read(path)
                .await
                .map_err(|e| SyncError::io(path, e))?,
        )),
        None => download(shared, image).await?,
    };
    let Some(bytes) = bytes else {
        return Err(CopyError::NoPicture(image.id).into());
    };
    let probe = imaging::probe(&bytes)
        .map_err(|e| SyncError::NotAnImage(PathBuf::from(image.image_file.clone()), e))?;
    Ok(Fetched {
        file_name: copy_name(&image.image_file, probe.format.extension()),
        bytes,
        description: image.description.clone(),
        width: probe.width,
        height: probe.height,
    })
}

async fn download(shared: &Shared, image: &LocalImage) -> Result<Option<Bytes>, SyncError> {
    let original = image.zoom_url.as_deref().and_then(original_url);
    let urls = [
        original.as_ref(),
        image.zoom_url.as_ref(),
        image.standard_url.as_ref(),
        image.thumbnail_url.as_ref(),
        image.tiny_url.as_ref(),
    ];
    for url in urls.into_iter().flatten() {
        match shared.client.fetch_asset(url, MAX_COPY_BYTES).await {
            Ok(bytes) if imaging::probe(&bytes).is_ok() => return Ok(Some(bytes)),
            Ok(_) => {}
            Err(err) if err.is_transient() => {
                tracing::info!(
                    "the picture of image {} could not be fetched: {err}",
                    image.id
                );
                return Err(CopyError::StoreUnreachable(image.id).into());
            }
            Err(err) => tracing::info!("{url} could not be fetched for a copy: {err}"),
        }
    }
    Ok(None)
}

/// The address of the uploaded original on an imagedesk store, whose zoom variant is at
/// `…/product_images/zoom/{file}` and whose original is at `…/product_images/{file}` (the zoom
/// variant fits a 1280 px box, so a larger picture would be copied smaller). Other stores
/// (BigCommerce's CDN) name no original: `None`, and the zoom variant is the largest there is.
fn original_url(zoom: &str) -> Option<String> {
    const ZOOM: &str = "/product_images/zoom/";
    let at = zoom.find(ZOOM)?;
    Some(format!(
        "{}/product_images/{}",
        &zoom[..at],
        &zoom[at + ZOOM.len()..]
    ))
}

/// A copy of the picture in the blob directory, for one queued create (each create owns its
/// file: the outbox removes it once that create is sent).
async fn write_blob(shared: &Shared, picture: &Fetched) -> Result<NewPicture, SyncError> {
    let extension = imaging::sniff(&picture.bytes).map_or("bin", |f| f.extension());
    let blob = format!("{}.{extension}", edits::random_hex());
    let target = shared.replica.blob_path(&blob);
    let bytes = picture.bytes.clone();
    let size = bytes.len() as u64;
    let path = target.clone();
    tokio::task::spawn_blocking(move || durable::write(&path, &bytes))
        .await
        .map_err(|e| SyncError::io(&target, std::io::Error::other(e)))?
        .map_err(|e| SyncError::io(&target, e))?;
    Ok(NewPicture {
        source: Source::File {
            blob,
            file_name: picture.file_name.clone(),
        },
        width: Some(picture.width),
        height: Some(picture.height),
        file_size: Some(size),
    })
}

/// The upload's file name: the source's own (its last path part), else a plain one.
fn copy_name(image_file: &str, extension: &str) -> String {
    let base = image_file.rsplit('/').next().unwrap_or(image_file);
    if base.is_empty() || !base.contains('.') {
        format!("copy.{extension}")
    } else {
        base.to_owned()
    }
}

/// Each of `products` with its images (display order, local edits applied). Products whose
/// images were never read from the store are read first, and waited for; if the store does
/// not answer for any of them the call fails ([`CopyError::NotLoaded`]) rather than return a
/// partial list. A product the replica does not know is [`SyncError::UnknownProduct`].
pub(crate) async fn products_images(
    shared: &Shared,
    products: &[i64],
) -> Result<BTreeMap<i64, (ProductSummary, Vec<LocalImage>)>, SyncError> {
    let mut unread = Vec::new();
    for &product in products {
        let read: Option<Option<i64>> =
            sqlx::query_scalar("SELECT images_read_at FROM products WHERE id = ?")
                .bind(product)
                .fetch_optional(&shared.replica.reader)
                .await?;
        match read {
            None => return Err(SyncError::UnknownProduct(product)),
            Some(None) => unread.push(product),
            Some(Some(_)) => {}
        }
    }
    let mut failed = 0;
    for &product in &unread {
        if let Err(err) = super::pull::pull_product(shared, product).await {
            tracing::info!("product {product} could not be read for a bulk edit: {err}");
            failed += 1;
        }
    }
    if failed > 0 {
        return Err(CopyError::NotLoaded(failed).into());
    }
    let mut out = BTreeMap::new();
    for &product in products {
        let summary = super::catalog::product_summary(&shared.replica.reader, product)
            .await?
            .ok_or(SyncError::UnknownProduct(product))?;
        let images = shared.replica.images(product).await?;
        out.insert(product, (summary, images));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_original_is_asked_of_an_imagedesk_store_only() {
        assert_eq!(
            original_url("http://127.0.0.1:8/product_images/zoom/a/b.jpg").as_deref(),
            Some("http://127.0.0.1:8/product_images/a/b.jpg")
        );
        assert_eq!(
            original_url("https://cdn11.bigcommerce.com/s-x/images/stencil/1280x1280/b.jpg"),
            None
        );
    }

    #[test]
    fn a_copy_goes_by_its_sources_file_name() {
        assert_eq!(
            copy_name("b/12/mug-front__0042.jpg", "jpg"),
            "mug-front__0042.jpg"
        );
        assert_eq!(copy_name("", "png"), "copy.png");
        assert_eq!(copy_name("noextension", "png"), "copy.png");
    }
}
