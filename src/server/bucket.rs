//! Picture files in a bucket of S3-compatible object storage (`serve --storage s3://bucket/prefix`,
//! SPEC §3 "Past one machine"), through the `object_store` crate.
//!
//! Every image has its own five objects, named after its `image_file`:
//! `{prefix}/product_images/{image_file}` (the original) and
//! `{prefix}/product_images/{variant}/{image_file}`, so that the bucket, or a CDN in front of it,
//! answers the same paths as the store's `/product_images/…` route (`--public-url`). Nothing is
//! shared between images (the records' `picture_id` is NULL): no lock across nodes is needed,
//! and the rules of the legacy layout hold (objects written before the record commits, removed
//! after it is deleted; a crash in between leaves objects no record names, removed by a later
//! start once they are older than the orphan age, so that a start never removes what another
//! node is still uploading).

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{StreamExt as _, TryStreamExt as _};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{
    Attribute, AttributeValue, Attributes, GetOptions, GetRange, GetResult, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, RetryConfig,
};

use super::deployment::S3Location;
use super::files::Copy;
use crate::imaging::{EncodedImage, ImageFormat, Variant};

/// Objects larger than this are uploaded in parts of this size (S3's smallest part is 5 MiB),
/// so that a large original is sent as several requests that can each be retried.
pub const MULTIPART_PART_BYTES: usize = 5 * 1024 * 1024;

/// Stored names are never reused, so an object never changes.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The folder under the prefix that mirrors the `/product_images/…` route.
const PRODUCT_IMAGES: &str = "product_images";

/// How to reach the object storage: the usual `AWS_*` variables, read once by `main.rs`
/// ([`S3Settings::from_env`]) and carried in the server's `Config`, so that tests fill it in
/// directly instead of changing the process's environment.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct S3Settings {
    /// `AWS_ENDPOINT_URL`: an S3-compatible server (`http://` is allowed, for loopback and
    /// private networks); `None` is AWS itself.
    pub endpoint: Option<String>,
    /// `AWS_REGION` (or `AWS_DEFAULT_REGION`); `us-east-1` when neither is set.
    pub region: Option<String>,
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id: Option<String>,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: Option<String>,
    /// `AWS_SESSION_TOKEN`, for temporary credentials.
    pub session_token: Option<String>,
    /// `AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true`: `bucket.host/key` requests even with an
    /// endpoint (S3-compatible servers expect path-style `host/bucket/key`, the default then).
    pub virtual_hosted_style: bool,
}

impl S3Settings {
    /// The settings from the process's environment (call it before any thread starts).
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Self {
            endpoint: var("AWS_ENDPOINT_URL"),
            region: var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")),
            access_key_id: var("AWS_ACCESS_KEY_ID"),
            secret_access_key: var("AWS_SECRET_ACCESS_KEY"),
            session_token: var("AWS_SESSION_TOKEN"),
            virtual_hosted_style: var("AWS_VIRTUAL_HOSTED_STYLE_REQUEST")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        }
    }

    /// Where requests go, for messages: the endpoint, or AWS.
    pub fn endpoint_words(&self) -> String {
        match &self.endpoint {
            Some(endpoint) => endpoint.clone(),
            None => format!(
                "AWS S3 in {}",
                self.region.as_deref().unwrap_or(DEFAULT_REGION)
            ),
        }
    }
}

const DEFAULT_REGION: &str = "us-east-1";

/// Secrets never appear in `Debug` output or logs.
impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| "***");
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &hidden(&self.secret_access_key))
            .field("session_token", &hidden(&self.session_token))
            .field("virtual_hosted_style", &self.virtual_hosted_style)
            .finish()
    }
}

/// Why the bucket could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BucketError {
    #[error("the S3 settings for bucket '{bucket}' at {endpoint} are not usable: {source}")]
    Settings {
        bucket: String,
        endpoint: String,
        source: object_store::Error,
    },
    #[error(
        "the bucket '{bucket}' at {endpoint} could not be read; it must exist and the \
         credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) must allow listing it: {source}"
    )]
    Unreachable {
        bucket: String,
        endpoint: String,
        source: object_store::Error,
    },
    #[error("'{0}' is not a name this store makes")]
    UnsafeName(String),
    #[error(transparent)]
    Store(#[from] object_store::Error),
}

/// One bucket and prefix holding the picture files.
#[derive(Debug, Clone)]
pub struct Bucket {
    store: Arc<AmazonS3>,
    /// `{prefix}/product_images` (or `product_images` without a prefix).
    root: ObjectPath,
}

impl Bucket {
    /// Connects to the bucket and checks that it can be listed (it must exist: the store does
    /// not create buckets).
    pub async fn open(location: &S3Location, settings: &S3Settings) -> Result<Bucket, BucketError> {
        let endpoint = settings.endpoint_words();
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&location.bucket)
            .with_region(settings.region.as_deref().unwrap_or(DEFAULT_REGION))
            .with_retry(RetryConfig {
                max_retries: 4,
                retry_timeout: Duration::from_secs(30),
                ..RetryConfig::default()
            });
        match &settings.endpoint {
            Some(url) => {
                builder = builder
                    .with_endpoint(url)
                    .with_allow_http(url.to_ascii_lowercase().starts_with("http://"))
                    .with_virtual_hosted_style_request(settings.virtual_hosted_style);
            }
            // AWS itself: bucket.s3.region.amazonaws.com.
            None => builder = builder.with_virtual_hosted_style_request(true),
        }
        if let Some(key) = &settings.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &settings.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        if let Some(token) = &settings.session_token {
            builder = builder.with_token(token);
        }
        let store = builder.build().map_err(|source| BucketError::Settings {
            bucket: location.bucket.clone(),
            endpoint: endpoint.clone(),
            source,
        })?;
        let root = if location.prefix.is_empty() {
            ObjectPath::from(PRODUCT_IMAGES)
        } else {
            ObjectPath::parse(&location.prefix)
                .map_err(|_| BucketError::UnsafeName(location.prefix.clone()))?
                .child(PRODUCT_IMAGES)
        };
        let bucket = Bucket {
            store: Arc::new(store),
            root,
        };
        // One listing request: fails on a missing bucket or refused credentials.
        bucket
            .store
            .list_with_delimiter(Some(&bucket.root))
            .await
            .map_err(|source| BucketError::Unreachable {
                bucket: location.bucket.clone(),
                endpoint,
                source,
            })?;
        Ok(bucket)
    }

    /// The object of one copy of an image, or `None` if `image_file` is not a safe relative
    /// name (empty, `.`/`..`, empty segments).
    pub fn key(&self, copy: Copy, image_file: &str) -> Option<ObjectPath> {
        let name = ObjectPath::parse(image_file).ok()?;
        let safe = !image_file.is_empty()
            && name.as_ref() == image_file
            && image_file
                .split('/')
                .all(|part| !part.is_empty() && part != "." && part != "..");
        if !safe {
            return None;
        }
        let folder = match copy {
            Copy::Original => self.root.clone(),
            Copy::Variant(v) => self.root.child(v.as_str()),
        };
        Some(ObjectPath::from_iter(folder.parts().chain(name.parts())))
    }

    /// Uploads an image's original and its variants (in `Variant::ALL` order) at once. All or
    /// nothing: on failure the objects already written are removed again.
    pub async fn write_set(
        &self,
        image_file: &str,
        original: Bytes,
        original_format: ImageFormat,
        variants: &[EncodedImage],
    ) -> Result<(), BucketError> {
        let copies = std::iter::once((Copy::Original, original, original_format)).chain(
            Variant::ALL
                .into_iter()
                .zip(variants)
                .map(|(v, e)| (Copy::Variant(v), Bytes::from(e.bytes.clone()), e.format)),
        );
        let mut uploads = Vec::with_capacity(1 + variants.len());
        for (copy, bytes, format) in copies {
            let key = self
                .key(copy, image_file)
                .ok_or_else(|| BucketError::UnsafeName(image_file.to_owned()))?;
            uploads.push(self.put(key, bytes, format));
        }
        let results = futures_util::future::join_all(uploads).await;
        if let Some(err) = results.into_iter().find_map(Result::err) {
            self.remove_set(image_file).await;
            return Err(err);
        }
        Ok(())
    }

    /// One object: a single PUT, or a multipart upload above [`MULTIPART_PART_BYTES`]. Its
    /// type and caching are stored with it, so that the bucket or a CDN serving it directly
    /// (`--public-url`) answers as the store does.
    async fn put(
        &self,
        key: ObjectPath,
        bytes: Bytes,
        format: ImageFormat,
    ) -> Result<(), BucketError> {
        let attributes = Attributes::from_iter([
            (Attribute::ContentType, AttributeValue::from(format.mime())),
            (Attribute::CacheControl, AttributeValue::from(IMMUTABLE)),
        ]);
        if bytes.len() <= MULTIPART_PART_BYTES {
            let options = PutOptions {
                attributes,
                ..PutOptions::default()
            };
            self.store
                .put_opts(&key, PutPayload::from(bytes), options)
                .await?;
            return Ok(());
        }
        let options = PutMultipartOptions {
            attributes,
            ..PutMultipartOptions::default()
        };
        let mut upload = self.store.put_multipart_opts(&key, options).await?;
        // The parts are slices of the one buffer (no copy), sent at once.
        let parts: Vec<_> = (0..bytes.len())
            .step_by(MULTIPART_PART_BYTES)
            .map(|start| {
                let end = (start + MULTIPART_PART_BYTES).min(bytes.len());
                upload.put_part(PutPayload::from(bytes.slice(start..end)))
            })
            .collect();
        let sent = match futures_util::future::try_join_all(parts).await {
            Ok(_) => upload.complete().await.map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            // Parts of an upload never completed are kept (and billed) until aborted.
            if let Err(abort) = upload.abort().await {
                tracing::warn!("could not abort the multipart upload of {key}: {abort}");
            }
            return Err(e.into());
        }
        Ok(())
    }

    /// Removes every object of an image; missing ones are fine (already gone). Failures are
    /// logged: a leftover object is removed by a later start.
    pub async fn remove_set(&self, image_file: &str) {
        let keys: Vec<ObjectPath> = std::iter::once(Copy::Original)
            .chain(Variant::ALL.into_iter().map(Copy::Variant))
            .filter_map(|copy| self.key(copy, image_file))
            .collect();
        let removals = keys.iter().map(|key| self.store.delete(key));
        for (key, result) in keys
            .iter()
            .zip(futures_util::future::join_all(removals).await)
        {
            match result {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => tracing::warn!("could not remove object {key}: {e}"),
            }
        }
    }

    /// One stored copy, or what `wanted` asks of it, its body not read yet.
    pub async fn get(
        &self,
        copy: Copy,
        image_file: &str,
        wanted: Wanted,
    ) -> Result<Fetched, BucketError> {
        let Some(key) = self.key(copy, image_file) else {
            return Ok(Fetched::Missing);
        };
        if let Some(asked) = &wanted.if_none_match {
            // Judged here from the object's metadata: not every S3-compatible server honours
            // the header on GET. A conditional request costs one small request more.
            match self.store.head(&key).await {
                Ok(meta)
                    if meta
                        .e_tag
                        .as_deref()
                        .is_some_and(|e| etag_matches(asked, e)) =>
                {
                    return Ok(Fetched::NotModified);
                }
                Ok(_) => {}
                Err(object_store::Error::NotFound { .. }) => return Ok(Fetched::Missing),
                Err(e) => return Err(e.into()),
            }
        }
        let range = wanted.range;
        let options = GetOptions {
            range: range.clone(),
            head: wanted.head,
            ..GetOptions::default()
        };
        match self.store.get_opts(&key, options).await {
            Ok(found) => Ok(Fetched::Found(found)),
            Err(object_store::Error::NotFound { .. }) => Ok(Fetched::Missing),
            // A range the object does not have: say how long it is (for `416`).
            Err(e) if range.is_some() => match self.store.head(&key).await {
                Ok(meta) if !satisfiable(range.as_ref(), meta.size) => {
                    Ok(Fetched::Unsatisfiable { size: meta.size })
                }
                Err(object_store::Error::NotFound { .. }) => Ok(Fetched::Missing),
                _ => Err(e.into()),
            },
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes the objects under `{prefix}/product_images/` that no record names (`named`:
    /// every image's `image_file`) and that were last written more than `min_age` ago, so that
    /// objects another node is uploading right now (its record not committed yet) are left
    /// alone. Objects outside the prefix are never looked at. Returns how many were removed.
    pub async fn remove_orphans(
        &self,
        named: &HashSet<String>,
        min_age: Duration,
    ) -> Result<usize, BucketError> {
        let cutoff = chrono::Duration::from_std(min_age)
            .ok()
            .and_then(|age| chrono::Utc::now().checked_sub_signed(age))
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        let mut orphans = Vec::new();
        let mut listing = self.store.list(Some(&self.root));
        while let Some(meta) = listing.try_next().await? {
            if meta.last_modified > cutoff {
                continue;
            }
            let Some(relative) = meta
                .location
                .prefix_match(&self.root)
                .map(|parts| parts.map(|p| p.as_ref().to_owned()).collect::<Vec<_>>())
            else {
                continue;
            };
            if !is_named(&relative, named) {
                orphans.push(meta.location);
            }
        }
        let count = orphans.len();
        let mut removals = futures_util::stream::iter(orphans.into_iter().map(|key| async move {
            match self.store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        }))
        .buffer_unordered(8);
        while let Some(result) = removals.next().await {
            result?;
        }
        Ok(count)
    }
}

/// What a request asks of a stored copy.
#[derive(Debug, Default)]
pub struct Wanted {
    /// One range of it (`Range`, read with [`requested_range`]).
    pub range: Option<GetRange>,
    /// `If-None-Match`: nothing if it still has this `ETag`.
    pub if_none_match: Option<String>,
    /// Only its metadata (`HEAD`).
    pub head: bool,
}

/// What [`Bucket::get`] found.
pub enum Fetched {
    /// The object (or the range asked for), with its metadata and the range it holds.
    Found(GetResult),
    /// No such object.
    Missing,
    /// It still has the `ETag` the request named.
    NotModified,
    /// The object exists, but not the range asked for: it has `size` bytes.
    Unsatisfiable { size: u64 },
}

/// The one range of a `Range` header (`bytes=a-b`, `bytes=a-`, `bytes=-n`), or `None` for
/// anything else (several ranges, other units, nonsense), which is answered whole, as HTTP
/// allows.
pub fn requested_range(header: &str) -> Option<GetRange> {
    let spec = header.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let number = |text: &str| text.trim().parse::<u64>().ok();
    match (start.trim().is_empty(), end.trim().is_empty()) {
        (true, false) => number(end).filter(|&n| n > 0).map(GetRange::Suffix),
        (false, true) => number(start).map(GetRange::Offset),
        (false, false) => {
            let (start, end) = (number(start)?, number(end)?);
            (start <= end).then(|| GetRange::Bounded(start..end.saturating_add(1)))
        }
        (true, true) => None,
    }
}

/// Whether an `If-None-Match` value names `etag` (weak comparison, as RFC 9110 asks of it).
fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    let weak = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    if_none_match.trim() == "*" || if_none_match.split(',').any(|tag| weak(tag) == weak(etag))
}

/// Whether an object of `size` bytes has some of `range`.
fn satisfiable(range: Option<&GetRange>, size: u64) -> bool {
    match range {
        None => true,
        Some(GetRange::Bounded(r)) => r.start < size,
        Some(GetRange::Offset(start)) => *start < size,
        Some(GetRange::Suffix(n)) => *n > 0 && size > 0,
    }
}

/// Whether an object under `product_images/` (its path below it, by segment) is a copy of an
/// image some record names: `{image_file}` (an original) or `{variant}/{image_file}`. Both
/// readings are tried, so an object is kept if either names a record.
fn is_named(relative: &[String], named: &HashSet<String>) -> bool {
    if named.contains(&relative.join("/")) {
        return true;
    }
    match relative.split_first() {
        Some((first, rest)) if Variant::parse(first).is_some() && !rest.is_empty() => {
            named.contains(&rest.join("/"))
        }
        _ => false,
    }
}

/// The test S3 server (`s3s-fs` on loopback), shared with the integration tests.
#[cfg(test)]
#[path = "../../tests/common/s3.rs"]
mod test_s3;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::synthetic;
    use crate::server::Config;
    use crate::server::deployment::FilesAt;
    use crate::server::handlers::{PreparedPicture, store_picture};
    use crate::server::input::ImageSource;
    use crate::server::state::AppState;

    fn parts(path: &str) -> Vec<String> {
        path.split('/').map(str::to_owned).collect()
    }

    #[test]
    fn an_object_is_named_as_an_original_or_as_a_variant() {
        let named = HashSet::from(["a/001/x__00001.jpg".to_owned()]);
        assert!(is_named(&parts("a/001/x__00001.jpg"), &named));
        assert!(is_named(&parts("zoom/a/001/x__00001.jpg"), &named));
        assert!(is_named(&parts("tiny/a/001/x__00001.jpg"), &named));
        assert!(!is_named(&parts("zoom/a/001/y__00001.jpg"), &named));
        assert!(!is_named(&parts("other/a/001/x__00001.jpg"), &named));
        assert!(!is_named(&parts("zoom"), &named));
    }

    #[test]
    fn one_byte_range_is_read_from_the_range_header() {
        assert_eq!(
            requested_range("bytes=100-199"),
            Some(GetRange::Bounded(100..200))
        );
        assert_eq!(requested_range("bytes=5-"), Some(GetRange::Offset(5)));
        assert_eq!(requested_range("bytes=-20"), Some(GetRange::Suffix(20)));
        for whole in [
            "bytes=1-2,4-5",
            "items=1-2",
            "bytes=9-3",
            "bytes=-",
            "bytes=-0",
            "x",
        ] {
            assert_eq!(requested_range(whole), None, "{whole}");
        }
        assert!(etag_matches("\"a\", W/\"b\"", "\"b\""));
        assert!(etag_matches("*", "\"b\""));
        assert!(!etag_matches("\"a\"", "\"b\""));
        assert!(satisfiable(Some(&GetRange::Bounded(9..20)), 10));
        assert!(!satisfiable(Some(&GetRange::Offset(10)), 10));
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let settings = S3Settings {
            access_key_id: Some("AKIA".into()),
            secret_access_key: Some("very-secret".into()),
            session_token: Some("token-secret".into()),
            ..S3Settings::default()
        };
        let shown = format!("{settings:?}");
        assert!(
            !shown.contains("very-secret") && !shown.contains("token-secret"),
            "{shown}"
        );
        assert!(shown.contains("AKIA"), "{shown}");
    }

    #[tokio::test]
    async fn keys_follow_the_spec_and_refuse_unsafe_names() {
        // Building the client makes no request; only `open` lists the bucket.
        let store = AmazonS3Builder::new()
            .with_bucket_name("b")
            .with_region("us-east-1")
            .with_endpoint("http://127.0.0.1:1")
            .with_allow_http(true)
            .build()
            .unwrap();
        let bucket = Bucket {
            store: Arc::new(store),
            root: ObjectPath::parse("shop/eu").unwrap().child(PRODUCT_IMAGES),
        };
        assert_eq!(
            bucket
                .key(Copy::Original, "a/001/x__00001.jpg")
                .unwrap()
                .as_ref(),
            "shop/eu/product_images/a/001/x__00001.jpg"
        );
        assert_eq!(
            bucket
                .key(Copy::Variant(Variant::Thumbnail), "a/001/x__00001.jpg")
                .unwrap()
                .as_ref(),
            "shop/eu/product_images/thumbnail/a/001/x__00001.jpg"
        );
        for bad in ["", "../x.jpg", "a//b.jpg", "/a.jpg", "a/./b.jpg", "a/"] {
            assert!(bucket.key(Copy::Original, bad).is_none(), "{bad}");
        }
    }

    async fn picture(state: &Arc<AppState>, name: &str) -> PreparedPicture {
        let bytes = synthetic::jpeg(&synthetic::photo(64, 48, 7), 85, false, None);
        let source = ImageSource::Upload {
            filename: Some(name.to_owned()),
            bytes: Bytes::from(bytes),
        };
        store_picture(state, source).await.unwrap()
    }

    /// A request cut off after its objects were uploaded and before its record committed (the
    /// client went away) leaves no object behind, without waiting for a start an hour later.
    #[tokio::test]
    async fn a_picture_dropped_before_its_record_commits_leaves_no_objects() {
        let bucket = test_s3::bucket();
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::local(dir.path(), "t");
        config.files = FilesAt::S3(S3Location {
            bucket: bucket.name.clone(),
            prefix: "p".into(),
        });
        config.s3 = S3Settings {
            endpoint: Some(bucket.endpoint.clone()),
            region: Some(bucket.region.into()),
            access_key_id: Some(bucket.access_key.into()),
            secret_access_key: Some(bucket.secret_key.into()),
            ..S3Settings::default()
        };
        let state = Arc::new(AppState::open(&config).await.unwrap());
        let prepared = picture(&state, "a.jpg").await;
        assert_eq!(bucket.keys().len(), 5, "the original and four variants");
        drop(prepared);
        let started = std::time::Instant::now();
        while !bucket.keys().is_empty() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the objects of a dropped picture are still there: {:?}",
                bucket.keys()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // A kept one stays (here no record names it: a later start would sweep it).
        picture(&state, "b.jpg").await.kept();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(bucket.keys().len(), 5);
    }
}
