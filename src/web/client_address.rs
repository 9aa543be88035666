//! The client's address, for throttling sign-ins. Behind a TLS-terminating proxy
//! (`serve --plain-http`) every request comes from the proxy, so every client would
//! share one address and one client's failures would lock out the rest: from a
//! trusted proxy (loopback always, others named by `serve --trusted-proxy`) the
//! `X-Forwarded-For` header names the client instead. It is read from the right, where
//! each proxy appends the address it saw; the first entry no trusted proxy wrote is the
//! client. Entries left of that come from the client and are not believed.
//!
//! Serving TLS itself, the server has no proxy that writes the header: a loopback peer
//! there is a TCP forwarder (stunnel, `ssh -L`) passing on whatever the client sent, so
//! loopback is trusted only under `--plain-http`.
//!
//! An IPv6 client counts by its /64: one host is given a whole /64, and counted by
//! single addresses it would have a fresh throttle key for every guess.

use std::net::{IpAddr, SocketAddr};

use actix_web::HttpRequest;
use actix_web::http::header::X_FORWARDED_FOR;
use ipnet::{IpNet, Ipv6Net};

/// Which peers' `X-Forwarded-For` is believed.
#[derive(Debug, Clone)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    loopback: bool,
}

/// As under `--plain-http` with no `--trusted-proxy`: a local proxy only.
impl Default for TrustedProxies {
    fn default() -> Self {
        TrustedProxies::new(Vec::new(), true)
    }
}

impl TrustedProxies {
    /// `nets` as named by `--trusted-proxy`; `behind_local_proxy` under `--plain-http`.
    pub fn new(nets: Vec<IpNet>, behind_local_proxy: bool) -> TrustedProxies {
        TrustedProxies {
            nets,
            loopback: behind_local_proxy,
        }
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        (self.loopback && ip.is_loopback()) || self.nets.iter().any(|net| net.contains(&ip))
    }

    /// Networks wide enough to hold clients (wider than /16, or /48 for IPv6): a
    /// client inside a trusted network can put any address in the header.
    pub fn wide(&self) -> impl Iterator<Item = &IpNet> {
        self.nets.iter().filter(|net| match net {
            IpNet::V4(n) => n.prefix_len() < 16,
            IpNet::V6(n) => n.prefix_len() < 48,
        })
    }

    /// The client's throttle key: its IPv4 address, or its IPv6 /64 ("" if the peer
    /// is unknown).
    pub fn client_of(&self, req: &HttpRequest) -> String {
        self.client_ip(req.peer_addr(), forwarded_for(req))
    }

    fn client_ip(&self, peer: Option<SocketAddr>, forwarded_for: Option<&str>) -> String {
        let Some(peer) = peer.map(|p| p.ip().to_canonical()) else {
            return String::new();
        };
        let Some(header) = forwarded_for.filter(|_| self.trusts(peer)) else {
            return key_of(peer);
        };
        let mut client = peer;
        for entry in header.rsplit(',') {
            // An entry that is not an address: nothing to the left of it can be placed,
            // so the last address known to be real stands.
            let Some(ip) = parse_entry(entry) else {
                break;
            };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        key_of(client)
    }
}

fn key_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => Ipv6Net::new(v6, 64)
            .map(|net| net.trunc().to_string())
            .unwrap_or_else(|_| v6.to_string()),
    }
}

/// One `X-Forwarded-For` entry, with or without a port.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let ip = entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|a| a.ip()))
        .ok()?;
    Some(ip.to_canonical())
}

/// The last `X-Forwarded-For` header: a proxy adds its entry to the end.
fn forwarded_for(req: &HttpRequest) -> Option<&str> {
    let last = req.headers().get_all(X_FORWARDED_FOR).last()?;
    last.to_str().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Option<SocketAddr> {
        s.parse().ok()
    }

    fn local_only() -> TrustedProxies {
        TrustedProxies::default()
    }

    #[test]
    fn behind_a_local_proxy_the_last_forwarded_entry_is_the_client() {
        let t = local_only();
        let proxy = addr("127.0.0.1:50000");
        let a = t.client_ip(proxy, Some("203.0.113.9"));
        let b = t.client_ip(proxy, Some("198.51.100.4"));
        assert_eq!(a, "203.0.113.9");
        assert_eq!(b, "198.51.100.4");
        // A forged first entry is the client's own text: the key does not change.
        assert_eq!(t.client_ip(proxy, Some("10.1.2.3, 203.0.113.9")), a);
        assert_eq!(t.client_ip(proxy, Some("bogus,203.0.113.9 ")), a);
        assert_eq!(
            t.client_ip(addr("[::1]:50000"), Some("[2001:db8::7]:443")),
            "2001:db8::/64"
        );
        // A host's other addresses in its /64 are the same client.
        assert_eq!(
            t.client_ip(proxy, Some("2001:db8:0:0:dead:beef:1:2")),
            t.client_ip(proxy, Some("2001:db8::9"))
        );
        assert_ne!(
            t.client_ip(proxy, Some("2001:db8:0:1::9")),
            t.client_ip(proxy, Some("2001:db8::9"))
        );
        // No header, or one that is not an address: the proxy's own address.
        assert_eq!(t.client_ip(proxy, None), "127.0.0.1");
        assert_eq!(
            t.client_ip(proxy, Some("203.0.113.9, unknown")),
            "127.0.0.1"
        );
    }

    #[test]
    fn the_header_is_ignored_from_other_peers() {
        let t = local_only();
        let direct = addr("192.0.2.7:40000");
        assert_eq!(t.client_ip(direct, Some("203.0.113.9")), "192.0.2.7");
        assert_eq!(t.client_ip(direct, None), "192.0.2.7");
        assert_eq!(t.client_ip(None, Some("203.0.113.9")), "");
    }

    #[test]
    fn serving_tls_a_loopback_peer_is_a_forwarder_not_a_proxy() {
        let t = TrustedProxies::new(Vec::new(), false);
        let forwarder = addr("127.0.0.1:50000");
        assert_eq!(t.client_ip(forwarder, Some("203.0.113.9")), "127.0.0.1");
        // A proxy named on the command line is still believed.
        let named = TrustedProxies::new(vec!["10.0.0.0/8".parse().unwrap()], false);
        assert_eq!(
            named.client_ip(addr("10.1.2.3:40000"), Some("203.0.113.9")),
            "203.0.113.9"
        );
    }

    #[test]
    fn a_named_proxy_and_a_chain_of_them_are_seen_through() {
        let t = TrustedProxies::new(vec!["10.0.0.0/8".parse().unwrap()], true);
        let balancer = addr("10.1.2.3:40000");
        assert_eq!(t.client_ip(balancer, Some("203.0.113.9")), "203.0.113.9");
        // Two proxies: the balancer appended the inner proxy's view of the client,
        // the inner one (also trusted) appended nothing the client could forge.
        assert_eq!(
            t.client_ip(balancer, Some("6.6.6.6, 203.0.113.9, 10.9.9.9")),
            "203.0.113.9"
        );
        // Only trusted hops: the leftmost is the nearest thing to the client.
        assert_eq!(t.client_ip(balancer, Some("10.7.7.7")), "10.7.7.7");
        // A peer outside the list is the client, whatever it says.
        assert_eq!(
            t.client_ip(addr("192.0.2.7:40000"), Some("203.0.113.9")),
            "192.0.2.7"
        );
    }
}
