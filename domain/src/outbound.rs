//! The one guard for every URL the server calls on someone's say-so: connector base URLs,
//! LLM providers added by admins, embedding endpoints. A URL must be http(s) with a host, without
//! credentials, query or fragment, and must not name — literally, or through DNS at connect
//! time — an address the server should never reach for a user: link-local and cloud metadata
//! addresses always; loopback, private, shared (CGNAT) and unique-local ranges unless the
//! deployment allows them (`security.allow_private_urls`, for self-managed servers on the same
//! network). IPv4 addresses embedded in IPv6 (mapped, compatible, NAT64, 6to4) are judged as the
//! IPv4 address they carry. Redirects are never followed by the clients that use this guard, so
//! the address checked is the address called.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use url::{Host, Url};

/// Host names of cloud metadata services (compared without a trailing dot, case-insensitively).
const METADATA_HOSTS: &[&str] = &[
    "metadata.google.internal",
    "metadata",
    "metadata.azure.internal",
    "instance-data",
    "instance-data.ec2.internal",
];

/// What a deployment lets its users' URLs reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UrlPolicy {
    /// Loopback, private, CGNAT and unique-local addresses are allowed.
    pub allow_private: bool,
}

impl UrlPolicy {
    /// Only public addresses.
    pub const PUBLIC: UrlPolicy = UrlPolicy { allow_private: false };
    /// Public and private addresses (never link-local or metadata).
    pub const PRIVATE_TOO: UrlPolicy = UrlPolicy { allow_private: true };
}

/// Why a URL was refused: the rule it broke and a message for the person who supplied it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct UrlRefusal {
    /// `url`, `scheme`, `credentials`, `query`, `host`, `private_address`, `metadata`.
    pub rule: &'static str,
    /// What is wrong, and how to fix it.
    pub message: String,
}

fn refuse(rule: &'static str, message: impl Into<String>) -> UrlRefusal {
    UrlRefusal { rule, message: message.into() }
}

/// Checks a supplied base URL under `policy`; the path gets a trailing `/`.
pub fn check_url(raw: &str, policy: UrlPolicy) -> Result<Url, UrlRefusal> {
    let mut url = Url::parse(raw.trim()).map_err(|e| refuse("url", format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refuse(
            "scheme",
            format!("scheme {} is not allowed; use http or https", url.scheme()),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse(
            "credentials",
            "credentials do not belong in the URL; use the token or key setting",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(refuse("query", "a query or fragment is not allowed"));
    }
    match url.host() {
        None => return Err(refuse("host", "the URL has no host")),
        Some(Host::Ipv4(ip)) => check_ip(IpAddr::V4(ip), policy)?,
        Some(Host::Ipv6(ip)) => check_ip(IpAddr::V6(ip), policy)?,
        Some(Host::Domain(name)) => check_name(name, policy)?,
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// The origin (scheme, host, port) of a URL, to tell when a stored secret would go elsewhere.
pub fn origin(raw: &str) -> Option<String> {
    let url = Url::parse(raw.trim()).ok()?;
    Some(format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str()?.trim_end_matches('.').to_ascii_lowercase(),
        url.port_or_known_default()?
    ))
}

fn check_name(name: &str, policy: UrlPolicy) -> Result<(), UrlRefusal> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if METADATA_HOSTS.contains(&name.as_str()) {
        return Err(refuse("metadata", format!("{name} is a cloud metadata service")));
    }
    if !policy.allow_private && (name == "localhost" || name.ends_with(".localhost")) {
        return Err(private_refusal(&name));
    }
    Ok(())
}

fn private_refusal(what: &str) -> UrlRefusal {
    refuse(
        "private_address",
        format!(
            "{what} is a loopback or private-network address; an administrator can allow those \
             with security.allow_private_urls"
        ),
    )
}

/// Refuses an address the policy does not let users reach.
pub fn check_ip(ip: IpAddr, policy: UrlPolicy) -> Result<(), UrlRefusal> {
    let ip = embedded_v4(ip).map_or(ip, IpAddr::V4);
    if always_blocked(ip) {
        return Err(refuse(
            "metadata",
            format!("{ip} is a link-local, unspecified, broadcast or metadata address"),
        ));
    }
    if !policy.allow_private && is_private(ip) {
        return Err(private_refusal(&ip.to_string()));
    }
    Ok(())
}

/// The IPv4 address an IPv6 address carries: mapped (::ffff:a.b.c.d), compatible (::a.b.c.d),
/// NAT64 (64:ff9b::a.b.c.d) and 6to4 (2002:AABB:CCDD::).
fn embedded_v4(ip: IpAddr) -> Option<Ipv4Addr> {
    let IpAddr::V6(v6) = ip else { return None };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = v6.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s[..6] == [0; 6] && !(s[6] == 0 && s[7] <= 1) {
        return Some(tail);
    }
    // NAT64: the well-known prefix and the local-use one (64:ff9b:1::/48).
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || s[..3] == [0x64, 0xff9b, 1] {
        return Some(tail);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8));
    }
    None
}

fn always_blocked(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                // Reserved (240.0.0.0/4) and IETF protocol assignments (192.0.0.0/24).
                || a >= 240
                || (a == 192 && b == 0 && c == 0)
                // Alibaba Cloud's metadata service sits inside the shared range.
                || v4 == Ipv4Addr::new(100, 100, 100, 200)
        }
        IpAddr::V6(v6) => {
            const AWS_METADATA: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);
            v6.is_unspecified()
                || v6.is_multicast()
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6 == AWS_METADATA
        }
    }
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
        }
        IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

/// A DNS resolver for reqwest that drops addresses the policy refuses, so a name that passed
/// [`check_url`] cannot be pointed (rebound) at a forbidden address later.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver(pub UrlPolicy);

impl GuardedResolver {
    /// The resolver, ready for `reqwest::ClientBuilder::dns_resolver`.
    pub fn shared(policy: UrlPolicy) -> Arc<Self> {
        Arc::new(Self(policy))
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        let policy = self.0;
        Box::pin(async move {
            let addrs = resolve_allowed(&host, policy).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The addresses `host` resolves to that `policy` allows; an error when none is left.
pub async fn resolve_allowed(
    host: &str,
    policy: UrlPolicy,
) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
    check_name(host, policy)?;
    let mut refused = None;
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
        .await?
        .filter(|a| match check_ip(a.ip(), policy) {
            Ok(()) => true,
            Err(e) => {
                refused = Some(e);
                false
            }
        })
        .collect();
    if addrs.is_empty() {
        return Err(match refused {
            Some(e) => format!("{host} resolves only to refused addresses: {e}").into(),
            None => format!("{host} has no address").into(),
        });
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|_| unreachable!("{s}"))
    }

    #[test]
    fn metadata_and_link_local_are_refused_under_every_policy() {
        for policy in [UrlPolicy::PUBLIC, UrlPolicy::PRIVATE_TOO] {
            for bad in [
                "http://169.254.169.254/",
                "http://[::ffff:169.254.169.254]/",
                "http://[::ffff:a9fe:a9fe]/",
                "http://[64:ff9b::169.254.169.254]/",
                "http://[2002:a9fe:a9fe::]/",
                "http://[fe80::1]/",
                "http://[fd00:ec2::254]/",
                "http://metadata.google.internal./",
                "http://METADATA.google.internal/",
                "http://0.0.0.0:6379/",
                "http://[::]/",
                "http://255.255.255.255/",
                "http://0.1.2.3/",
                "http://100.100.100.200/latest/meta-data/",
                "http://[64:ff9b:1::a9fe:a9fe]/",
                "http://240.0.0.1/",
                "http://192.0.0.170/",
                "http://2852039166/",
                "http://0xa9.0xfe.0xa9.0xfe/",
                "ftp://example.com/",
                "http://user:pw@example.com/",
                "http://example.com/?x=1",
            ] {
                assert!(check_url(bad, policy).is_err(), "{bad} under {policy:?}");
            }
        }
    }

    #[test]
    fn private_ranges_need_the_setting() {
        for private in [
            "http://127.0.0.1:8080/",
            "http://localhost:11434",
            "http://LOCALHOST./",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://100.64.0.1/",
            "http://[::1]/",
            "http://[fd12::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:10.0.0.1]/",
        ] {
            let err = check_url(private, UrlPolicy::PUBLIC).err();
            assert_eq!(err.map(|e| e.rule), Some("private_address"), "{private}");
            assert!(check_url(private, UrlPolicy::PRIVATE_TOO).is_ok(), "{private}");
        }
        assert!(check_url("https://confluence.example.com/wiki", UrlPolicy::PUBLIC).is_ok());
        assert!(check_url("http://8.8.8.8/", UrlPolicy::PUBLIC).is_ok());
        assert!(check_ip(ip("2001:4860::8888"), UrlPolicy::PUBLIC).is_ok());
    }

    #[test]
    fn the_path_gets_a_trailing_slash_and_origins_compare_normalised() {
        let url = check_url("https://x.example/wiki", UrlPolicy::PUBLIC)
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(url.as_str(), "https://x.example/wiki/");
        assert_eq!(origin("https://X.example./a"), origin("https://x.example:443/b"));
        assert_ne!(origin("https://x.example/"), origin("http://x.example/"));
        assert_ne!(origin("https://x.example/"), origin("https://x.example:8443/"));
    }

    #[tokio::test]
    async fn the_resolver_drops_refused_addresses() {
        assert!(
            resolve_allowed("metadata.google.internal.", UrlPolicy::PRIVATE_TOO).await.is_err()
        );
        assert!(resolve_allowed("localhost", UrlPolicy::PUBLIC).await.is_err());
        let local = resolve_allowed("localhost", UrlPolicy::PRIVATE_TOO).await.unwrap_or_default();
        assert!(!local.is_empty() && local.iter().all(|a| a.ip().is_loopback()), "{local:?}");
    }
}
