//! Downloads `image_file` URLs without letting a client use the server to reach private
//! networks (SSRF): every hop's host is resolved by a resolver that refuses non-public addresses,
//! IP-literal hosts are checked directly, redirects are followed by hand (at most 5), and the
//! body is capped while it streams.

use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Url;

use crate::imaging::MAX_FILE_BYTES;

const TIMEOUT: Duration = Duration::from_secs(15);
const MAX_REDIRECTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("'{0}' is not a valid URL")]
    InvalidUrl(String),
    #[error("only http and https URLs can be fetched, not '{0}'")]
    Scheme(String),
    #[error("the URL's host '{0}' is a loopback, private or otherwise non-public address")]
    NonPublic(String),
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
#[error("{0} resolves to a non-public address")]
struct NonPublicHost(String);

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
        match literal {
            Some(ip) if !self.allow_private && !is_public_ip(ip) => {
                Err(FetchError::NonPublic(ip.to_string()))
            }
            _ => Ok(()),
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
        if e.downcast_ref::<NonPublicHost>().is_some() {
            return FetchError::NonPublic(url.host_str().unwrap_or_default().to_owned());
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
            if !allow_private && addrs.iter().any(|a| !is_public_ip(a.ip())) {
                return Err(Box::new(NonPublicHost(host)) as Box<dyn StdError + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Whether an address is on the public internet: not loopback, private, link-local (cloud
/// metadata `169.254.169.254` included), shared, unspecified, multicast, documentation or
/// reserved, in IPv4 or IPv6 (IPv4-mapped, NAT64 and 6to4 addresses are judged by their IPv4).
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    // NAT64 (64:ff9b::/96) embeds an IPv4 address in the last 32 bits.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(Ipv4Addr::from(
            (u32::from(segments[6]) << 16) | u32::from(segments[7]),
        ));
    }
    // 6to4 (2002::/16) embeds one in bits 16..48.
    if segments[0] == 0x2002 {
        return is_public_v4(Ipv4Addr::from(
            (u32::from(segments[1]) << 16) | u32::from(segments[2]),
        ));
    }
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local
        || (segments[0] & 0xffc0) == 0xfe80 // link-local
        || (segments[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        || segments[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible (deprecated)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(s: &str) -> bool {
        is_public_ip(s.parse().unwrap())
    }

    #[test]
    fn non_public_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
        ] {
            assert!(!public(ip), "{ip} should be refused");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for ip in [
            "1.1.1.1",
            "93.184.216.34",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(public(ip), "{ip} should be allowed");
        }
    }
}
