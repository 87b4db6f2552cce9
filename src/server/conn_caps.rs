//! Caps on open connections, in total and per client IP: a slot is taken when a connection is
//! accepted and given back when its task ends (finished, failed or cut at shutdown).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

#[derive(Debug, Default)]
struct Open {
    total: u32,
    per_ip: HashMap<IpAddr, u32>,
}

/// Counts open connections against the two caps.
#[derive(Debug)]
pub struct ConnectionCaps {
    max_total: u32,
    max_per_ip: u32,
    open: Mutex<Open>,
}

/// One admitted connection; dropping it frees its slot.
#[derive(Debug)]
pub struct Slot {
    caps: Arc<ConnectionCaps>,
    ip: IpAddr,
}

impl ConnectionCaps {
    pub fn new(max_total: u32, max_per_ip: u32) -> Arc<Self> {
        Arc::new(Self {
            max_total,
            max_per_ip,
            open: Mutex::new(Open::default()),
        })
    }

    /// A slot for a connection from `ip`, or `None` when either cap is reached.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        // An IPv4 client reaching an IPv6 socket arrives as ::ffff:a.b.c.d; count it as itself.
        let ip = ip.to_canonical();
        // The counts stay consistent even if a holder panicked: each change is one statement.
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let from_ip = open.per_ip.get(&ip).copied().unwrap_or(0);
        if open.total >= self.max_total || from_ip >= self.max_per_ip {
            return None;
        }
        open.total += 1;
        open.per_ip.insert(ip, from_ip + 1);
        Some(Slot {
            caps: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .caps
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        open.total = open.total.saturating_sub(1);
        if let Some(count) = open.per_ip.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                // No entry outlives its last connection, so the map is bounded by the total cap.
                open.per_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_total_and_per_ip_and_frees_on_drop() {
        let caps = ConnectionCaps::new(3, 2);
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let a1 = caps.admit(a).unwrap();
        let _a2 = caps.admit(a).unwrap();
        assert!(caps.admit(a).is_none(), "per-IP cap");
        let _b1 = caps.admit(b).unwrap();
        assert!(caps.admit(b).is_none(), "total cap");
        drop(a1);
        assert!(caps.admit(a).is_some(), "a freed slot is reusable");
    }

    #[test]
    fn mapped_ipv4_counts_as_ipv4() {
        let caps = ConnectionCaps::new(10, 1);
        let v4: IpAddr = [127, 0, 0, 1].into();
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let _slot = caps.admit(v4).unwrap();
        assert!(caps.admit(mapped).is_none());
    }
}
