//! A minimal hand-written HTTP/1.1 layer: reading request heads (with keep-alive and
//! pipelining leftovers) and formatting response heads.

use tokio::io::{AsyncRead, AsyncReadExt};

/// The largest request head the fake accepts.
pub const MAX_HEAD: usize = 64 * 1024;
/// The largest request body the fake reads and discards.
pub const MAX_BODY: u64 = 1024 * 1024;

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The request target as sent: `/path?query`, `http://host/path` (to a proxy) or
    /// `host:port` (`CONNECT`).
    pub target: String,
    /// The path without the query string (of an absolute-form target too; empty for
    /// `CONNECT`).
    pub path: String,
    /// The minor HTTP version (`0` for HTTP/1.0, `1` for HTTP/1.1).
    pub minor_version: u8,
    /// Header names (lower-cased) and values (trimmed), in order.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the client wants the connection kept open after this response.
    pub fn keep_alive(&self) -> bool {
        let conn = self.header("connection").map(str::to_ascii_lowercase);
        let has = |t: &str| {
            conn.as_deref()
                .is_some_and(|c| c.split(',').any(|p| p.trim() == t))
        };
        if self.minor_version == 0 {
            has("keep-alive")
        } else {
            !has("close")
        }
    }
}

/// Why a request could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The connection closed (or failed) before a complete head arrived.
    Closed,
    /// The head is larger than [`MAX_HEAD`].
    TooLarge,
    /// The head is not valid HTTP/1.x.
    Malformed,
}

/// Read one request head from `io`, using and refilling `buf` (bytes after the head stay in
/// `buf` for the next request), then read and discard a `Content-Length` body.
pub async fn read_request<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut Vec<u8>,
) -> Result<Head, ReadError> {
    let mut searched: usize = 0;
    let end = loop {
        if let Some(pos) = find_head_end(&buf[searched.saturating_sub(3)..]) {
            break searched.saturating_sub(3) + pos;
        }
        searched = buf.len();
        if buf.len() > MAX_HEAD {
            return Err(ReadError::TooLarge);
        }
        match io.read_buf(buf).await {
            Ok(0) | Err(_) => return Err(ReadError::Closed),
            Ok(_) => {}
        }
    };
    let head = parse_head(&buf[..end]).ok_or(ReadError::Malformed)?;
    buf.drain(..end + 4);
    if head.header("transfer-encoding").is_some() {
        return Err(ReadError::Malformed);
    }
    let body_len: u64 = match head.header("content-length") {
        None => 0,
        Some(v) => v.parse().map_err(|_| ReadError::Malformed)?,
    };
    if body_len > MAX_BODY {
        return Err(ReadError::TooLarge);
    }
    let body_len = usize::try_from(body_len).map_err(|_| ReadError::TooLarge)?;
    while buf.len() < body_len {
        match io.read_buf(buf).await {
            Ok(0) | Err(_) => return Err(ReadError::Closed),
            Ok(_) => {}
        }
    }
    buf.drain(..body_len);
    Ok(head)
}

fn find_head_end(data: &[u8]) -> Option<usize> {
    data.windows(4).position(|w| w == b"\r\n\r\n")
}

/// Parse a request head (without the final blank line).
pub fn parse_head(raw: &[u8]) -> Option<Head> {
    let text = std::str::from_utf8(raw).ok()?;
    let mut lines = text.split("\r\n");
    let mut parts = lines.next()?.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let minor_version = match version {
        "HTTP/1.1" => 1,
        "HTTP/1.0" => 0,
        _ => return None,
    };
    if method.is_empty() {
        return None;
    }
    // Origin form; absolute form (what a client sends to a proxy); authority form (CONNECT).
    let origin = if target.starts_with('/') {
        target
    } else if let Some(rest) = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    {
        rest.find('/').map_or("/", |i| &rest[i..])
    } else if method == "CONNECT" && !target.is_empty() {
        ""
    } else {
        return None;
    };
    let path = origin.split_once('?').map_or(origin, |(p, _)| p);
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        if name.is_empty() || name.contains(' ') {
            return None;
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    Some(Head {
        method: method.to_owned(),
        target: target.to_owned(),
        path: path.to_owned(),
        minor_version,
        headers,
    })
}

/// The reason phrase for a status code (empty for unknown codes).
pub fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// Format a response head: status line, the given headers, and the blank line.
pub fn response_head(minor_version: u8, code: u16, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = format!("HTTP/1.{minor_version} {code} {}\r\n", reason(code));
    for (n, v) in headers {
        out.push_str(n);
        out.push_str(": ");
        out.push_str(v);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_head() {
        let h = parse_head(b"GET /api/v1/auth/me?x=1 HTTP/1.1\r\nHost: a\r\nAuthorization:  Bearer t \r\nConnection: close").unwrap();
        assert_eq!(h.method, "GET");
        assert_eq!(h.path, "/api/v1/auth/me");
        assert_eq!(h.minor_version, 1);
        assert_eq!(h.header("authorization"), Some("Bearer t"));
        assert!(!h.keep_alive());
        let h = parse_head(b"GET / HTTP/1.0").unwrap();
        assert!(!h.keep_alive());
        let h = parse_head(b"GET / HTTP/1.0\r\nConnection: Keep-Alive").unwrap();
        assert!(h.keep_alive());
        let h = parse_head(b"GET http://127.0.0.1:9/api/v1/auth/me?x=1 HTTP/1.1").unwrap();
        assert_eq!(
            (h.target.as_str(), h.path.as_str()),
            ("http://127.0.0.1:9/api/v1/auth/me?x=1", "/api/v1/auth/me")
        );
        let h = parse_head(b"CONNECT api.example.invalid:443 HTTP/1.1\r\nHost: x").unwrap();
        assert_eq!(
            (h.method.as_str(), h.target.as_str(), h.path.as_str()),
            ("CONNECT", "api.example.invalid:443", "")
        );
        assert!(parse_head(b"GET api.example.invalid:443 HTTP/1.1").is_none());
        assert!(parse_head(b"GET / HTTP/2").is_none());
        assert!(parse_head(b"GET /").is_none());
        assert!(parse_head(b"GET / HTTP/1.1\r\nbad header").is_none());
    }

    #[tokio::test]
    async fn reads_pipelined_requests_and_bodies() {
        let data: &[u8] =
            b"POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\n\r\n";
        let mut io = data;
        let mut buf = Vec::new();
        let a = read_request(&mut io, &mut buf).await.unwrap();
        assert_eq!(a.path, "/a");
        let b = read_request(&mut io, &mut buf).await.unwrap();
        assert_eq!(b.path, "/b");
        assert_eq!(
            read_request(&mut io, &mut buf).await,
            Err(ReadError::Closed)
        );
    }

    #[test]
    fn formats_a_head() {
        let h = response_head(1, 429, &[("Retry-After", "1")]);
        assert_eq!(
            h,
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\n\r\n"
        );
    }
}
