//! Which way the whoami request goes, decided here once for the one URL: direct, or through the
//! proxy the environment names. reqwest's own reading of the proxy variables is switched off
//! (`ClientBuilder::no_proxy`): it sends a loopback `http://` API URL to `HTTP_PROXY`, and its
//! `NO_PROXY=*` does not cover IP addresses (hyper-util 0.1's `NoProxy` matches `*` against
//! domain names only), so the bearer token could leave the machine in clear text.
//!
//! The rules:
//! - A loopback API URL (`localhost`, `127.0.0.0/8`, `::1`) is always direct, whatever the
//!   variables say: a proxy has no business with it, and `http://` is only allowed there.
//! - Otherwise (`https://`): `no_proxy` / `NO_PROXY` first, as curl reads it
//!   (<https://curl.se/libcurl/c/CURLOPT_NOPROXY.html>): a comma- or space-separated list;
//!   `*` matches every host; a name matches itself and its subdomains (a leading dot is
//!   ignored), without regard to case; an IP address matches itself, `ADDR/BITS` a range.
//! - Then the proxy: `https_proxy`, `HTTPS_PROXY`, `all_proxy`, `ALL_PROXY`, the first that is
//!   set and not blank (curl's order; `HTTP_PROXY` is for `http://` URLs, which are never
//!   proxied here).

use std::net::IpAddr;

use reqwest::Url;

/// The variables naming a proxy for an `https://` URL, in the order they are read.
pub(crate) const PROXY_VARS: [&str; 4] = ["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"];

/// The variables listing hosts reached directly, in the order they are read.
pub(crate) const NO_PROXY_VARS: [&str; 2] = ["no_proxy", "NO_PROXY"];

/// Where the request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// Straight to the API.
    Direct,
    /// Through the proxy at `url`, named by the variable `var`.
    Via {
        /// The variable the proxy came from.
        var: &'static str,
        /// Its value (may hold proxy credentials: never printed).
        url: String,
    },
}

/// The route for `url`, given the environment `env` (name → value).
pub(crate) fn route(url: &Url, env: &dyn Fn(&str) -> Option<String>) -> Route {
    let host = url.host_str().unwrap_or("");
    if url.scheme() != "https" || is_loopback_host(host) {
        return Route::Direct;
    }
    let first = |names: &[&'static str]| {
        names.iter().find_map(|&name| {
            env(name)
                .filter(|v| !v.trim().is_empty())
                .map(|v| (name, v))
        })
    };
    if let Some((_, list)) = first(&NO_PROXY_VARS)
        && no_proxy_matches(&list, host)
    {
        return Route::Direct;
    }
    match first(&PROXY_VARS) {
        Some((var, value)) => Route::Via {
            var,
            url: value.trim().to_owned(),
        },
        None => Route::Direct,
    }
}

/// Whether `host` (as in a URL: IPv6 in brackets) is `localhost` or a loopback address.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether the `NO_PROXY` list exempts `host` (curl's rules, see the module docs).
pub(crate) fn no_proxy_matches(list: &str, host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host_ip = host.parse::<IpAddr>().ok();
    let host = host.trim_end_matches('.');
    list.split(|c: char| c == ',' || c.is_whitespace())
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let entry = entry.trim_start_matches('[').trim_end_matches(']');
            if let Some(ip) = host_ip {
                return ip_matches(entry, ip);
            }
            let name = entry.trim_start_matches('.').trim_end_matches('.');
            if name.is_empty() {
                return false;
            }
            host.eq_ignore_ascii_case(name)
                || (host.len() > name.len()
                    && host.as_bytes()[host.len() - name.len() - 1] == b'.'
                    && host[host.len() - name.len()..].eq_ignore_ascii_case(name))
        })
}

/// Whether the entry `ADDR` or `ADDR/BITS` covers `ip`.
fn ip_matches(entry: &str, ip: IpAddr) -> bool {
    let (addr, bits) = match entry.split_once('/') {
        Some((a, b)) => match b.parse::<u32>() {
            Ok(bits) => (a, Some(bits)),
            Err(_) => return false,
        },
        None => (entry, None),
    };
    let Ok(net) = addr
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            prefix_equal(u128::from(n.to_bits()), u128::from(i.to_bits()), 32, bits)
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => prefix_equal(n.to_bits(), i.to_bits(), 128, bits),
        _ => false,
    }
}

/// Whether the top `bits` (default: all `width`) of two `width`-bit addresses agree.
fn prefix_equal(a: u128, b: u128, width: u32, bits: Option<u32>) -> bool {
    let bits = bits.unwrap_or(width);
    if bits > width {
        return false;
    }
    if bits == 0 {
        return true;
    }
    let shift = width - bits;
    (a >> shift) == (b >> shift)
}

/// A proxy URL for messages: scheme, host and port, never user info or a path.
pub(crate) fn shown(proxy: &str) -> String {
    let parsed = Url::parse(proxy)
        .ok()
        .filter(Url::has_host)
        .or_else(|| Url::parse(&format!("http://{proxy}")).ok());
    match parsed {
        Some(u) => {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}://{}{port}", u.scheme(), u.host_str().unwrap_or(""))
        }
        None => "(not a URL)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    fn via(url: &str, vars: &[(&str, &str)]) -> Route {
        route(&Url::parse(url).unwrap(), &env(vars))
    }

    const EVERY_PROXY: [(&str, &str); 8] = [
        ("HTTP_PROXY", "http://127.0.0.1:9"),
        ("http_proxy", "http://127.0.0.1:9"),
        ("HTTPS_PROXY", "http://127.0.0.1:9"),
        ("https_proxy", "http://127.0.0.1:9"),
        ("ALL_PROXY", "http://127.0.0.1:9"),
        ("all_proxy", "http://127.0.0.1:9"),
        ("NO_PROXY", ""),
        ("no_proxy", ""),
    ];

    #[test]
    fn a_loopback_api_url_never_goes_through_a_proxy() {
        for url in [
            "http://127.0.0.1:8080",
            "http://localhost:8080",
            "http://LOCALHOST:1",
            "https://localhost:8443",
            "http://[::1]:8080",
            "https://127.9.9.9",
        ] {
            assert_eq!(via(url, &EVERY_PROXY), Route::Direct, "{url}");
        }
    }

    #[test]
    fn https_uses_the_https_or_all_proxy_in_curls_order() {
        let api = "https://api.systemprompt.io";
        assert_eq!(via(api, &[]), Route::Direct);
        assert_eq!(via(api, &[("HTTP_PROXY", "http://p:1")]), Route::Direct);
        assert_eq!(
            via(api, &[("ALL_PROXY", "http://all:1")]),
            Route::Via {
                var: "ALL_PROXY",
                url: "http://all:1".into()
            }
        );
        assert_eq!(
            via(
                api,
                &[
                    ("ALL_PROXY", "http://all:1"),
                    ("HTTPS_PROXY", "http://upper:1"),
                    ("https_proxy", " http://lower:1 ")
                ]
            ),
            Route::Via {
                var: "https_proxy",
                url: "http://lower:1".into()
            }
        );
        assert_eq!(
            via(
                api,
                &[("https_proxy", "  "), ("HTTPS_PROXY", "http://upper:1")]
            ),
            Route::Via {
                var: "HTTPS_PROXY",
                url: "http://upper:1".into()
            }
        );
    }

    #[test]
    fn no_proxy_is_honoured_as_curl_does() {
        let p = ("HTTPS_PROXY", "http://proxy:3128");
        for (list, url) in [
            ("*", "https://api.systemprompt.io"),
            ("*", "https://10.1.2.3"),
            ("*", "https://[2001:db8::1]"),
            ("example.com,*", "https://api.systemprompt.io"),
            ("systemprompt.io", "https://api.systemprompt.io"),
            (".systemprompt.io", "https://api.systemprompt.io"),
            ("SystemPrompt.IO", "https://api.systemprompt.io:8443"),
            ("api.systemprompt.io", "https://api.systemprompt.io"),
            ("a.b, api.systemprompt.io", "https://api.systemprompt.io"),
            ("a.b api.systemprompt.io", "https://api.systemprompt.io"),
            ("10.1.2.3", "https://10.1.2.3"),
            ("10.0.0.0/8", "https://10.1.2.3"),
            ("2001:db8::/32", "https://[2001:db8::1]"),
            ("[2001:db8::1]", "https://[2001:db8::1]"),
        ] {
            assert_eq!(
                via(url, &[p, ("NO_PROXY", list)]),
                Route::Direct,
                "{list} / {url}"
            );
        }
        for (list, url) in [
            ("prompt.io", "https://api.systemprompt.io"),
            ("example.com", "https://api.systemprompt.io"),
            ("10.1.2.4", "https://10.1.2.3"),
            ("11.0.0.0/8", "https://10.1.2.3"),
            ("10.0.0.0/x", "https://10.1.2.3"),
            ("10.0.0.0/33", "https://10.1.2.3"),
            ("*.systemprompt.io", "https://api.systemprompt.io"),
            (".", "https://api.systemprompt.io"),
        ] {
            assert!(
                matches!(via(url, &[p, ("NO_PROXY", list)]), Route::Via { .. }),
                "{list} / {url}"
            );
        }
        // The lowercase list is read first.
        assert_eq!(
            via(
                "https://api.systemprompt.io",
                &[p, ("no_proxy", "*"), ("NO_PROXY", "x.y")]
            ),
            Route::Direct
        );
    }

    #[test]
    fn proxies_are_shown_without_credentials() {
        assert_eq!(
            shown("http://user:secret@proxy.corp:3128/x"),
            "http://proxy.corp:3128"
        );
        assert_eq!(shown("proxy.corp:3128"), "http://proxy.corp:3128");
        assert_eq!(shown("::::"), "(not a URL)");
    }
}
