//! Where a store keeps its records and picture files, and the address its image URLs start
//! with (SPEC §3 "Past one machine"): SQLite and a local directory by default, PostgreSQL and
//! an S3-compatible bucket for a store served by several stateless nodes.
//!
//! Parsed once from the command line (`--database`, `--storage`, `--public-url`) into types,
//! so that the rest of the server matches on kinds instead of looking at URL schemes.

use std::fmt;
use std::str::FromStr;

/// Where the records (products, images, idempotency keys) live.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum RecordsAt {
    /// `imagedesk.sqlite3` in the data directory: one node.
    #[default]
    Sqlite,
    /// A PostgreSQL database shared by every node.
    Postgres(PostgresUrl),
}

/// A `postgres://` (or `postgresql://`) URL, kept whole for sqlx (`?sslmode=` and all). Its
/// password never appears in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl(String);

impl PostgresUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match url::Url::parse(&self.0) {
            Ok(mut url) => {
                if url.password().is_some() {
                    let _ = url.set_password(Some("***"));
                }
                write!(f, "{url}")
            }
            Err(_) => f.write_str("postgres://…"),
        }
    }
}

impl fmt::Debug for RecordsAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordsAt::Sqlite => f.write_str("Sqlite"),
            RecordsAt::Postgres(url) => write!(f, "Postgres({url:?})"),
        }
    }
}

/// Why a `--database`, `--storage` or `--public-url` value was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeploymentUrlError {
    #[error(
        "--database takes a PostgreSQL URL such as postgres://user:password@host:5432/imagedesk \
         (without --database the records are kept in SQLite in --data-dir)"
    )]
    NotPostgres,
    #[error(
        "--storage takes an S3 location such as s3://bucket or s3://bucket/prefix \
         (without --storage the pictures are kept in --data-dir)"
    )]
    NotS3,
    #[error("the bucket name in --storage is empty: write s3://bucket/prefix")]
    NoBucket,
    #[error(
        "--public-url takes an http:// or https:// address without a query or fragment, such \
         as https://images.example.com"
    )]
    BadPublicUrl,
}

impl FromStr for RecordsAt {
    type Err = DeploymentUrlError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let url = url::Url::parse(raw).map_err(|_| DeploymentUrlError::NotPostgres)?;
        match url.scheme() {
            "postgres" | "postgresql" if url.has_host() => {
                Ok(RecordsAt::Postgres(PostgresUrl(raw.to_owned())))
            }
            _ => Err(DeploymentUrlError::NotPostgres),
        }
    }
}

/// Where the picture files live.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum FilesAt {
    /// `images/` in the data directory: one node.
    #[default]
    Local,
    /// A bucket of S3-compatible object storage shared by every node; credentials and the
    /// endpoint come from the usual `AWS_*` environment variables.
    S3(S3Location),
}

/// `s3://bucket/prefix`: objects are stored under `prefix` (no leading or trailing `/`, may
/// be empty) as `product_images/…` (SPEC §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    pub prefix: String,
}

impl FromStr for FilesAt {
    type Err = DeploymentUrlError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let rest = raw.strip_prefix("s3://").ok_or(DeploymentUrlError::NotS3)?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(DeploymentUrlError::NoBucket);
        }
        Ok(FilesAt::S3(S3Location {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        }))
    }
}

/// The base of every `*_url` when nodes sit behind a load balancer or a CDN: `scheme://host
/// [:port][/path]`, without a trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(String);

impl PublicUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PublicUrl {
    type Err = DeploymentUrlError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let url = url::Url::parse(raw).map_err(|_| DeploymentUrlError::BadPublicUrl)?;
        let fine = matches!(url.scheme(), "http" | "https")
            && url.has_host()
            && url.query().is_none()
            && url.fragment().is_none()
            && url.username().is_empty()
            && url.password().is_none();
        if !fine {
            return Err(DeploymentUrlError::BadPublicUrl);
        }
        Ok(PublicUrl(url.as_str().trim_end_matches('/').to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_are_postgres_only() {
        assert!(matches!(
            "postgres://u:p@127.0.0.1:5432/db?sslmode=require".parse(),
            Ok(RecordsAt::Postgres(_))
        ));
        assert!(matches!(
            "postgresql://localhost/db".parse(),
            Ok(RecordsAt::Postgres(_))
        ));
        for bad in ["sqlite://x.db", "mysql://h/db", "postgres:", "", "db"] {
            assert_eq!(
                bad.parse::<RecordsAt>(),
                Err(DeploymentUrlError::NotPostgres),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_password_never_shows_in_debug_output() {
        let at: RecordsAt = "postgres://u:secret@h/db".parse().unwrap();
        let shown = format!("{at:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("u:***@h"), "{shown}");
    }

    #[test]
    fn storage_is_a_bucket_and_a_trimmed_prefix() {
        assert_eq!(
            "s3://pictures/shop/eu/".parse(),
            Ok(FilesAt::S3(S3Location {
                bucket: "pictures".into(),
                prefix: "shop/eu".into()
            }))
        );
        assert_eq!(
            "s3://pictures".parse(),
            Ok(FilesAt::S3(S3Location {
                bucket: "pictures".into(),
                prefix: String::new()
            }))
        );
        assert_eq!(
            "s3:///x".parse::<FilesAt>(),
            Err(DeploymentUrlError::NoBucket)
        );
        assert_eq!(
            "/var/pictures".parse::<FilesAt>(),
            Err(DeploymentUrlError::NotS3)
        );
    }

    #[test]
    fn public_urls_lose_their_trailing_slash_and_refuse_queries() {
        assert_eq!(
            "https://images.example.com/"
                .parse::<PublicUrl>()
                .unwrap()
                .as_str(),
            "https://images.example.com"
        );
        assert_eq!(
            "http://cdn.example.com:8443/shop/"
                .parse::<PublicUrl>()
                .unwrap()
                .as_str(),
            "http://cdn.example.com:8443/shop"
        );
        for bad in [
            "ftp://x",
            "https://x/?a=1",
            "https://x/#f",
            "https://u:p@x",
            "x.com",
        ] {
            assert_eq!(
                bad.parse::<PublicUrl>(),
                Err(DeploymentUrlError::BadPublicUrl),
                "{bad}"
            );
        }
    }
}
