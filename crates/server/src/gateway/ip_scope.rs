//! Client IP scopes of API keys: single addresses or CIDR ranges, v4 and v6.

use ipnet::IpNet;
use std::net::IpAddr;

/// `203.0.113.7` (a /32 or /128) or `203.0.113.0/24`.
pub fn parse_net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

/// True when `ip` is inside any of the ranges (IPv4-mapped IPv6 addresses count as IPv4).
pub fn allowed(ranges: &[IpNet], ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    ranges.iter().any(|r| r.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let nets: Vec<IpNet> = ["10.0.0.0/8", "2001:db8::/32", "127.0.0.1"]
            .iter()
            .filter_map(|s| parse_net(s))
            .collect();
        assert_eq!(nets.len(), 3);
        assert!(allowed(
            &nets,
            "10.1.2.3".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
        ));
        assert!(allowed(
            &nets,
            "::ffff:127.0.0.1"
                .parse()
                .unwrap_or(IpAddr::from([0, 0, 0, 0]))
        ));
        assert!(!allowed(
            &nets,
            "11.0.0.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
        ));
        assert!(parse_net("not an ip").is_none());
    }
}
