//! Network ACLs, like a VPC's: per listener, an ordered list of allow/deny rules on the
//! peer's address, checked when a connection is accepted — before any TLS or HTTP
//! work, so a denied address costs one comparison per rule and a `close`. The first
//! rule that matches decides; an address no rule matches is allowed (end a list with
//! `{ action = "deny", cidr = "0.0.0.0/0" }` and `"::/0"` to deny by default).

use std::net::IpAddr;

/// One rule: allow or deny a CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NaclRule {
    pub allow: bool,
    pub net: IpAddr,
    pub prefix: u8,
}

impl NaclRule {
    /// Parses `action` (`allow`|`deny`) and `cidr` (`10.0.0.0/8`, `2001:db8::/32`, or one
    /// address); the error says which part is wrong.
    pub fn parse(action: &str, cidr: &str) -> Result<NaclRule, (&'static str, String)> {
        let allow = match action {
            "allow" => true,
            "deny" => false,
            other => return Err(("action", format!("`{other}` is not `allow` or `deny`"))),
        };
        let bad = || {
            (
                "cidr",
                format!("`{cidr}` is not an IP address or CIDR block such as 10.0.0.0/8"),
            )
        };
        let (addr, prefix) = match cidr.split_once('/') {
            Some((a, p)) => (
                a.parse::<IpAddr>().map_err(|_| bad())?,
                Some(p.parse::<u8>().map_err(|_| bad())?),
            ),
            None => (cidr.parse::<IpAddr>().map_err(|_| bad())?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(NaclRule {
            allow,
            net: addr,
            prefix,
        })
    }

    /// Whether `ip` is in this rule's block (IPv4-mapped IPv6 peers count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (ip, self.net) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(a) & mask == u32::from(b) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(a) & mask == u128::from(b) & mask
            }
            _ => false,
        }
    }
}

/// Network ACLs of the listeners (`[network_acls]`; read at start).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkAcls {
    pub http: Vec<NaclRule>,
    pub https: Vec<NaclRule>,
    pub admin: Vec<NaclRule>,
}

/// Whether `rules` let `ip` connect: the first matching rule decides, no match allows.
pub fn permits(rules: &[NaclRule], ip: IpAddr) -> bool {
    rules
        .iter()
        .find(|r| r.contains(ip))
        .is_none_or(|r| r.allow)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(list: &[(&str, &str)]) -> Vec<NaclRule> {
        list.iter()
            .map(|(a, c)| NaclRule::parse(a, c).unwrap())
            .collect()
    }

    #[test]
    fn first_match_decides_and_no_match_allows() {
        let r = rules(&[
            ("allow", "10.1.0.0/16"),
            ("deny", "10.0.0.0/8"),
            ("deny", "2001:db8::/32"),
        ]);
        assert!(permits(&r, "10.1.2.3".parse().unwrap()));
        assert!(!permits(&r, "10.2.0.1".parse().unwrap()));
        assert!(!permits(&r, "::ffff:10.2.0.1".parse().unwrap()));
        assert!(!permits(&r, "2001:db8::5".parse().unwrap()));
        assert!(permits(&r, "192.0.2.1".parse().unwrap()));
        let all = rules(&[("deny", "0.0.0.0/0")]);
        assert!(!permits(&all, "127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn bad_rules_name_the_part() {
        assert_eq!(
            NaclRule::parse("drop", "10.0.0.0/8").unwrap_err().0,
            "action"
        );
        assert_eq!(
            NaclRule::parse("deny", "10.0.0.0/33").unwrap_err().0,
            "cidr"
        );
        assert_eq!(NaclRule::parse("deny", "ten").unwrap_err().0, "cidr");
    }
}
