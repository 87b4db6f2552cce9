//! Which addresses a download may connect to: IANA's special-purpose address registries
//! (iana-ipv4-special-registry, iana-ipv6-special-registry) as one table per family, every
//! block that is not globally reachable refused. A URL must never let a client reach the
//! server's own network (loopback, private ranges, the cloud metadata address
//! 169.254.169.254), whether directly or through a translation prefix that a local NAT64, 6to4
//! relay or IPv4-mapped socket would turn back into such an address: those are judged by the
//! IPv4 address they carry.
//!
//! The most specific block containing an address decides (so that the registry's globally
//! reachable sub-blocks of 2001::/23 stay allowed); an address in no block is public.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What a block of the table says about the addresses in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Not globally reachable: refused.
    Refuse,
    /// Globally reachable, although inside a refused block.
    Allow,
    /// Carries an IPv4 address, which decides.
    Embeds(Embedded),
}

/// Where a translation prefix keeps its IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Embedded {
    /// The last 32 bits (IPv4-mapped ::ffff:0:0/96, NAT64 64:ff9b::/96).
    Last32,
    /// Bits 16..48 (6to4, 2002::/16).
    SixToFour,
}

/// One block of a registry: `prefix/len`, what it says, and why (the registry's name).
struct Block<T> {
    prefix: T,
    len: u32,
    verdict: Verdict,
    why: &'static str,
}

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u32, why: &'static str) -> Block<u32> {
    Block {
        prefix: u32::from_be_bytes([a, b, c, d]),
        len,
        verdict: Verdict::Refuse,
        why,
    }
}

const fn v6(segments: [u16; 8], len: u32, verdict: Verdict, why: &'static str) -> Block<u128> {
    let mut prefix: u128 = 0;
    let mut i = 0;
    while i < 8 {
        prefix = (prefix << 16) | segments[i] as u128;
        i += 1;
    }
    Block {
        prefix,
        len,
        verdict,
        why,
    }
}

/// IPv4: every block of the registry that is not globally reachable, plus multicast (not in
/// the registry, never a web server). All refused. 192.0.0.0/24 is refused whole although two
/// anycast addresses in it (192.0.0.9, 192.0.0.10) are global: neither serves pictures.
const IPV4_BLOCKS: [Block<u32>; 16] = [
    v4(0, 0, 0, 0, 8, "\"this network\" (RFC 791)"),
    v4(10, 0, 0, 0, 8, "private use (RFC 1918)"),
    v4(100, 64, 0, 0, 10, "shared address space, CGNAT (RFC 6598)"),
    v4(127, 0, 0, 0, 8, "loopback (RFC 1122)"),
    v4(169, 254, 0, 0, 16, "link local, cloud metadata (RFC 3927)"),
    v4(172, 16, 0, 0, 12, "private use (RFC 1918)"),
    v4(192, 0, 0, 0, 24, "IETF protocol assignments (RFC 6890)"),
    v4(192, 0, 2, 0, 24, "documentation, TEST-NET-1 (RFC 5737)"),
    v4(
        192,
        88,
        99,
        0,
        24,
        "6to4 relay anycast, deprecated (RFC 7526)",
    ),
    v4(192, 168, 0, 0, 16, "private use (RFC 1918)"),
    v4(198, 18, 0, 0, 15, "benchmarking (RFC 2544)"),
    v4(198, 51, 100, 0, 24, "documentation, TEST-NET-2 (RFC 5737)"),
    v4(203, 0, 113, 0, 24, "documentation, TEST-NET-3 (RFC 5737)"),
    v4(224, 0, 0, 0, 4, "multicast (RFC 5771)"),
    v4(240, 0, 0, 0, 4, "reserved (RFC 1112)"),
    v4(255, 255, 255, 255, 32, "limited broadcast (RFC 919)"),
];

use Verdict::{Allow, Embeds, Refuse};

/// IPv6: the registry's blocks, and the space outside global unicast (2000::/3), which holds
/// no public host. The most specific block decides.
const IPV6_BLOCKS: [Block<u128>; 30] = [
    v6(
        [0; 8],
        3,
        Refuse,
        "outside global unicast 2000::/3 (RFC 4291)",
    ),
    v6(
        [0x4000, 0, 0, 0, 0, 0, 0, 0],
        2,
        Refuse,
        "outside global unicast 2000::/3 (RFC 4291)",
    ),
    v6(
        [0x8000, 0, 0, 0, 0, 0, 0, 0],
        1,
        Refuse,
        "outside global unicast 2000::/3 (RFC 4291)",
    ),
    v6([0; 8], 128, Refuse, "unspecified (RFC 4291)"),
    v6([0, 0, 0, 0, 0, 0, 0, 1], 128, Refuse, "loopback (RFC 4291)"),
    v6([0; 8], 96, Refuse, "IPv4-compatible, deprecated (RFC 4291)"),
    v6(
        [0, 0, 0, 0, 0, 0xffff, 0, 0],
        96,
        Embeds(Embedded::Last32),
        "IPv4-mapped (RFC 4291)",
    ),
    v6(
        [0x64, 0xff9b, 0, 0, 0, 0, 0, 0],
        96,
        Embeds(Embedded::Last32),
        "NAT64 well-known prefix (RFC 6052)",
    ),
    v6(
        [0x64, 0xff9b, 1, 0, 0, 0, 0, 0],
        48,
        Refuse,
        "local-use IPv4/IPv6 translation (RFC 8215)",
    ),
    v6(
        [0x100, 0, 0, 0, 0, 0, 0, 0],
        64,
        Refuse,
        "discard-only (RFC 6666)",
    ),
    v6(
        [0x100, 0, 0, 1, 0, 0, 0, 0],
        64,
        Refuse,
        "dummy IPv6 prefix (RFC 9780)",
    ),
    v6(
        [0x2001, 0, 0, 0, 0, 0, 0, 0],
        23,
        Refuse,
        "IETF protocol assignments (RFC 2928)",
    ),
    v6(
        [0x2001, 0, 0, 0, 0, 0, 0, 0],
        32,
        Refuse,
        "TEREDO (RFC 4380)",
    ),
    v6(
        [0x2001, 1, 0, 0, 0, 0, 0, 1],
        128,
        Allow,
        "port control protocol anycast (RFC 7723)",
    ),
    v6(
        [0x2001, 1, 0, 0, 0, 0, 0, 2],
        128,
        Allow,
        "TURN anycast (RFC 8155)",
    ),
    v6(
        [0x2001, 1, 0, 0, 0, 0, 0, 3],
        128,
        Allow,
        "DNS-SD service registration anycast (RFC 9665)",
    ),
    v6(
        [0x2001, 2, 0, 0, 0, 0, 0, 0],
        48,
        Refuse,
        "benchmarking (RFC 5180)",
    ),
    v6([0x2001, 3, 0, 0, 0, 0, 0, 0], 32, Allow, "AMT (RFC 7450)"),
    v6(
        [0x2001, 4, 0x112, 0, 0, 0, 0, 0],
        48,
        Allow,
        "AS112-v6 (RFC 7535)",
    ),
    v6(
        [0x2001, 0x10, 0, 0, 0, 0, 0, 0],
        28,
        Refuse,
        "ORCHID, deprecated (RFC 4843)",
    ),
    v6(
        [0x2001, 0x20, 0, 0, 0, 0, 0, 0],
        28,
        Allow,
        "ORCHIDv2 (RFC 7343)",
    ),
    v6(
        [0x2001, 0x30, 0, 0, 0, 0, 0, 0],
        28,
        Allow,
        "drone remote ID (RFC 9374)",
    ),
    v6(
        [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0],
        32,
        Refuse,
        "documentation (RFC 3849)",
    ),
    v6(
        [0x2002, 0, 0, 0, 0, 0, 0, 0],
        16,
        Embeds(Embedded::SixToFour),
        "6to4 (RFC 3056)",
    ),
    v6(
        [0x3fff, 0, 0, 0, 0, 0, 0, 0],
        20,
        Refuse,
        "documentation (RFC 9637)",
    ),
    v6(
        [0x5f00, 0, 0, 0, 0, 0, 0, 0],
        16,
        Refuse,
        "segment routing SIDs (RFC 9602)",
    ),
    v6(
        [0xfc00, 0, 0, 0, 0, 0, 0, 0],
        7,
        Refuse,
        "unique local (RFC 4193)",
    ),
    v6(
        [0xfe80, 0, 0, 0, 0, 0, 0, 0],
        10,
        Refuse,
        "link-local unicast (RFC 4291)",
    ),
    v6(
        [0xfec0, 0, 0, 0, 0, 0, 0, 0],
        10,
        Refuse,
        "site-local, deprecated (RFC 3879)",
    ),
    v6(
        [0xff00, 0, 0, 0, 0, 0, 0, 0],
        8,
        Refuse,
        "multicast (RFC 4291)",
    ),
];

fn contains_v4(block: &Block<u32>, address: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - block.len).unwrap_or(0);
    address & mask == block.prefix & mask
}

fn contains_v6(block: &Block<u128>, address: u128) -> bool {
    let mask = u128::MAX.checked_shl(128 - block.len).unwrap_or(0);
    address & mask == block.prefix & mask
}

/// Whether a download may connect to `ip`: no block of the registries that is not globally
/// reachable contains it (for translation prefixes: nor the IPv4 address it carries).
pub fn is_public_ip(ip: IpAddr) -> bool {
    refusal(ip).is_none()
}

/// Why a download may not connect to `ip` (the deciding block's registry entry), or `None`
/// if it may.
pub fn refusal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => refusal_v6(v6),
    }
}

fn refusal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let address = u32::from(ip);
    IPV4_BLOCKS
        .iter()
        .filter(|block| contains_v4(block, address))
        .max_by_key(|block| block.len)
        .map(|block| block.why)
}

fn refusal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let address = u128::from(ip);
    let deciding = IPV6_BLOCKS
        .iter()
        .filter(|block| contains_v6(block, address))
        .max_by_key(|block| block.len)?;
    match deciding.verdict {
        Allow => None,
        Refuse => Some(deciding.why),
        Embeds(embedded) => {
            let shift = match embedded {
                Embedded::Last32 => 0,
                Embedded::SixToFour => 80,
            };
            // Truncation keeps exactly the 32 bits shifted down.
            refusal_v4(Ipv4Addr::from((address >> shift) as u32))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(s: &str) -> bool {
        is_public_ip(s.parse().unwrap())
    }

    /// Each block's first and last address, and the addresses just outside it (where those are
    /// public), as registry edges are where an off-by-one mask would show.
    #[test]
    fn edges_of_every_block() {
        let table: &[(&str, bool)] = &[
            // IPv4
            ("0.0.0.0", false),
            ("0.255.255.255", false),
            ("1.0.0.0", true),
            ("9.255.255.255", true),
            ("10.0.0.0", false),
            ("10.255.255.255", false),
            ("11.0.0.0", true),
            ("100.63.255.255", true),
            ("100.64.0.0", false),
            ("100.127.255.255", false),
            ("100.128.0.0", true),
            ("126.255.255.255", true),
            ("127.0.0.0", false),
            ("127.255.255.255", false),
            ("128.0.0.0", true),
            ("169.253.255.255", true),
            ("169.254.0.0", false),
            ("169.254.169.254", false),
            ("169.254.255.255", false),
            ("169.255.0.0", true),
            ("172.15.255.255", true),
            ("172.16.0.0", false),
            ("172.31.255.255", false),
            ("172.32.0.0", true),
            ("191.255.255.255", true),
            ("192.0.0.0", false),
            ("192.0.0.255", false),
            ("192.0.1.0", true),
            ("192.0.2.0", false),
            ("192.0.2.255", false),
            ("192.0.3.0", true),
            ("192.88.98.255", true),
            ("192.88.99.0", false),
            ("192.88.99.255", false),
            ("192.88.100.0", true),
            ("192.167.255.255", true),
            ("192.168.0.0", false),
            ("192.168.255.255", false),
            ("192.169.0.0", true),
            ("198.17.255.255", true),
            ("198.18.0.0", false),
            ("198.19.255.255", false),
            ("198.20.0.0", true),
            ("198.51.99.255", true),
            ("198.51.100.0", false),
            ("198.51.100.255", false),
            ("198.51.101.0", true),
            ("203.0.112.255", true),
            ("203.0.113.0", false),
            ("203.0.113.255", false),
            ("203.0.114.0", true),
            ("223.255.255.255", true),
            ("224.0.0.0", false),
            ("239.255.255.255", false),
            ("240.0.0.0", false),
            ("255.255.255.254", false),
            ("255.255.255.255", false),
            ("1.1.1.1", true),
            ("93.184.216.34", true),
            // IPv6: outside global unicast
            ("::", false),
            ("::1", false),
            ("::2", false),
            ("::127.0.0.1", false),
            ("::8.8.8.8", false),
            ("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("2000::", true),
            ("3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true),
            ("4000::", false),
            ("8000::", false),
            // IPv4-mapped and NAT64: the IPv4 address decides
            ("::ffff:0.0.0.0", false),
            ("::ffff:127.0.0.1", false),
            ("::ffff:169.254.169.254", false),
            ("::ffff:8.8.8.8", true),
            ("::ffff:255.255.255.255", false),
            ("::fffe:808:808", false),
            ("::1:ffff:808:808", false),
            ("64:ff9b::8.8.8.8", true),
            ("64:ff9b::169.254.169.254", false),
            ("64:ff9b::10.0.0.1", false),
            ("64:ff9b::1:0:0", false),
            ("64:ff9b:1::", false),
            ("64:ff9b:1::8.8.8.8", false),
            ("64:ff9b:1:ffff:ffff:ffff:ffff:ffff", false),
            ("64:ff9b:2::8.8.8.8", false),
            // discard-only and dummy prefixes
            ("100::", false),
            ("100::ffff:ffff:ffff:ffff", false),
            ("100:0:0:1::", false),
            ("100:0:0:2::", false),
            // 2001::/23 and its sub-blocks
            ("2001::", false),
            ("2001:0:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("2001:1::", false),
            ("2001:1::1", true),
            ("2001:1::2", true),
            ("2001:1::3", true),
            ("2001:1::4", false),
            ("2001:2::", false),
            ("2001:2:0:ffff:ffff:ffff:ffff:ffff", false),
            ("2001:2:1::", false),
            ("2001:3::", true),
            ("2001:3:ffff:ffff:ffff:ffff:ffff:ffff", true),
            ("2001:4:112::1", true),
            ("2001:4:113::1", false),
            ("2001:10::", false),
            ("2001:1f:ffff::", false),
            ("2001:20::", true),
            ("2001:2f:ffff::", true),
            ("2001:30::", true),
            ("2001:3f:ffff::", true),
            ("2001:40::", false),
            ("2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("2001:200::", true),
            ("2001:4860:4860::8888", true),
            // documentation
            ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", true),
            ("2001:db8::", false),
            ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("2001:db9::", true),
            ("3ffe:ffff::", true),
            ("3fff::", false),
            ("3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("3fff:1000::", true),
            // 6to4: the IPv4 address decides
            ("2002:808:808::", true),
            ("2002:7f00:1::", false),
            ("2002:a9fe:a9fe::1", false),
            ("2002:c0a8:101::", false),
            // segment routing, unique local, link-local, site-local, multicast
            ("5eff:ffff::", false),
            ("5f00::", false),
            ("5f00:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("fbff:ffff::", false),
            ("fc00::", false),
            ("fd00::1", false),
            ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("fe80::", false),
            ("fe80::1", false),
            ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("fec0::", false),
            ("feff:ffff::", false),
            ("ff00::", false),
            ("ff02::1", false),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("2606:4700::1111", true),
        ];
        for (ip, expected) in table {
            assert_eq!(public(ip), *expected, "{ip}");
        }
    }

    /// Every refusing block, whatever the table above says, refuses its first and last address
    /// unless a more specific block allows it (or, for translation prefixes, the IPv4 inside).
    #[test]
    fn every_refusing_block_refuses_its_edges() {
        for block in &IPV4_BLOCKS {
            let mask = u32::MAX.checked_shl(32 - block.len).unwrap_or(0);
            for address in [block.prefix, block.prefix | !mask] {
                let ip = IpAddr::V4(Ipv4Addr::from(address));
                assert!(!is_public_ip(ip), "{ip} ({})", block.why);
            }
        }
        for block in IPV6_BLOCKS.iter().filter(|b| b.verdict == Refuse) {
            let mask = u128::MAX.checked_shl(128 - block.len).unwrap_or(0);
            for address in [block.prefix, block.prefix | !mask] {
                let ip = IpAddr::V6(Ipv6Addr::from(address));
                assert!(!is_public_ip(ip), "{ip} ({})", block.why);
            }
        }
    }

    #[test]
    fn blocks_are_written_at_their_prefix() {
        // A prefix with bits past its length would be a typo in the table.
        for block in &IPV4_BLOCKS {
            let mask = u32::MAX.checked_shl(32 - block.len).unwrap_or(0);
            assert_eq!(block.prefix & !mask, 0, "{}", block.why);
        }
        for block in &IPV6_BLOCKS {
            let mask = u128::MAX.checked_shl(128 - block.len).unwrap_or(0);
            assert_eq!(block.prefix & !mask, 0, "{}", block.why);
        }
    }
}
