//! Downloads `image_file` URLs without letting a client use the server to reach private
//! networks (SSRF): every hop's host is resolved by a resolver that refuses non-public addresses,
//! IP-literal hosts are checked directly, redirects are followed by hand (at most 5), and the
//! body is capped while it streams.

use std::error::Error as StdError;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Url;

use crate::imaging::MAX_FILE_BYTES;

mod special_addresses;

pub use special_addresses::{is_public_ip, refusal};

const TIMEOUT: Duration = Duration::from_secs(15);
const MAX_REDIRECTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("'{0}' is not a valid URL")]
    InvalidUrl(String),
    #[error("only http and https URLs can be fetched, not '{0}'")]
    Scheme(String),
    /// The host is, or resolves to, an address of a special-purpose block (`why` names it).
    #[error("the URL's host '{host}' is not a public address: {why}")]
    NonPublic { host: String, why: &'static str },
    #[error("more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects,
    #[error("the remote server answered {0}")]
    Status(u16),
    #[error("the download is larger than {MAX_FILE_BYTES} bytes")]
    TooLarge,
    #[error("the download took longer than {} seconds", TIMEOUT.as_secs())]
    TimedOut,
    #[error("the download failed: {0}")]
    Transport(String),
}

/// Refusal raised inside the resolver; found again in reqwest's error chain.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to a non-public address ({why})")]
struct NonPublicHost {
    host: String,
    why: &'static str,
}

#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    allow_private: bool,
}

impl Fetcher {
    pub fn new(allow_private: bool) -> anyhow::Result<Fetcher> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(TIMEOUT)
            .user_agent(concat!("imagedesk/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver { allow_private }))
            .build()?;
        Ok(Fetcher {
            client,
            allow_private,
        })
    }

    /// Downloads `url`, returning the body and the last URL (whose last segment names the file).
    pub async fn fetch(&self, url: &str) -> Result<(Vec<u8>, Url), FetchError> {
        tokio::time::timeout(TIMEOUT, self.fetch_following_redirects(url))
            .await
            .map_err(|_| FetchError::TimedOut)?
    }

    async fn fetch_following_redirects(&self, url: &str) -> Result<(Vec<u8>, Url), FetchError> {
        let mut url = Url::parse(url).map_err(|_| FetchError::InvalidUrl(url.to_owned()))?;
        for _ in 0..=MAX_REDIRECTS {
            self.check_hop(&url)?;
            let response = self
                .client
                .get(url.clone())
                .send()
                .await
                .map_err(|e| transport_error(&url, &e))?;
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or(FetchError::Status(status.as_u16()))?;
                url = url
                    .join(location)
                    .map_err(|_| FetchError::InvalidUrl(location.to_owned()))?;
                continue;
            }
            if !status.is_success() {
                return Err(FetchError::Status(status.as_u16()));
            }
            return read_capped(response).await.map(|bytes| (bytes, url));
        }
        Err(FetchError::TooManyRedirects)
    }

    fn check_hop(&self, url: &Url) -> Result<(), FetchError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::Scheme(url.scheme().to_owned()));
        }
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => None,
            None => return Err(FetchError::InvalidUrl(url.to_string())),
        };
        match literal
            .filter(|_| !self.allow_private)
            .and_then(|ip| refusal(ip).map(|why| (ip, why)))
        {
            Some((ip, why)) => Err(FetchError::NonPublic {
                host: ip.to_string(),
                why,
            }),
            None => Ok(()),
        }
    }
}

async fn read_capped(response: reqwest::Response) -> Result<Vec<u8>, FetchError> {
    if response
        .content_length()
        .is_some_and(|len| len > MAX_FILE_BYTES as u64)
    {
        return Err(FetchError::TooLarge);
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| FetchError::Transport(e.to_string()))?;
        if body.len() + chunk.len() > MAX_FILE_BYTES {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn transport_error(url: &Url, err: &reqwest::Error) -> FetchError {
    let mut source: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<NonPublicHost>() {
            return FetchError::NonPublic {
                host: url.host_str().unwrap_or(&refused.host).to_owned(),
                why: refused.why,
            };
        }
        source = e.source();
    }
    if err.is_timeout() {
        return FetchError::TimedOut;
    }
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        message = format!("{message}: {e}");
        source = e.source();
    }
    FetchError::Transport(message)
}

/// Resolves host names and refuses those with any non-public address, so that the address
/// checked is the address connected to (no DNS rebinding between check and use).
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let refused = addrs.iter().find_map(|a| refusal(a.ip()));
            if let Some(why) = refused.filter(|_| !allow_private) {
                return Err(
                    Box::new(NonPublicHost { host, why }) as Box<dyn StdError + Send + Sync>
                );
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}
