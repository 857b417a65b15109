//! One persistent HTTP/1.1 keep-alive connection (hyper's client connection over a tokio
//! `TcpStream`, the leanest client there is), plus request builders that reuse pre-built
//! headers and bodies so that the generator does little work per request.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A request body.
pub type Body = Full<Bytes>;

/// A keep-alive connection to one server.
#[derive(Debug)]
pub struct Http {
    addr: SocketAddr,
    host: HeaderValue,
    sender: SendRequest<Body>,
}

/// A response read to its end.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl Reply {
    /// 2xx or 3xx: what the generator counts as success.
    pub fn is_success(&self) -> bool {
        self.status.is_success() || self.status.is_redirection()
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON.
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body).context("the response body is not JSON")
    }

    /// A short description for error messages (status and the start of the body).
    pub fn describe(&self) -> String {
        let body = String::from_utf8_lossy(&self.body);
        let body: String = body.chars().take(200).collect();
        format!("{} {body}", self.status)
    }
}

impl Http {
    /// Opens a connection (`TCP_NODELAY`, as every HTTP client does).
    pub async fn connect(addr: SocketAddr, host: &str) -> Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP/1.1 handshake")?;
        tokio::spawn(async move {
            // Ends when the server closes or the sender is dropped; errors surface on the
            // next request through `send`.
            let _ = connection.await;
        });
        Ok(Self {
            addr,
            host: HeaderValue::from_str(host).context("host header")?,
            sender,
        })
    }

    /// A new connection to the same server (after a transport error).
    pub async fn reconnect(&mut self) -> Result<()> {
        let host = self.host.to_str().unwrap_or_default().to_owned();
        *self = Self::connect(self.addr, &host).await?;
        Ok(())
    }

    /// The `Host` header value this connection sends.
    pub fn host(&self) -> &HeaderValue {
        &self.host
    }

    /// Sends a request and reads the whole response.
    pub async fn send(&mut self, request: Request<Body>) -> Result<Reply> {
        self.sender.ready().await.context("the connection closed")?;
        let response: Response<hyper::body::Incoming> = self
            .sender
            .send_request(request)
            .await
            .context("sending the request")?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .context("reading the response body")?
            .to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    /// `GET path` with the connection's `Host` and `extra` headers.
    pub fn get(&self, path: &Uri, extra: &HeaderMap) -> Request<Body> {
        self.request(Method::GET, path, extra, Bytes::new())
    }

    /// `POST path` with `body` and `extra` headers (which carry the content type).
    pub fn post(&self, path: &Uri, extra: &HeaderMap, body: Bytes) -> Request<Body> {
        self.request(Method::POST, path, extra, body)
    }

    fn request(&self, method: Method, path: &Uri, extra: &HeaderMap, body: Bytes) -> Request<Body> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = path.clone();
        let headers = request.headers_mut();
        headers.reserve(extra.len() + 1);
        headers.insert(header::HOST, self.host.clone());
        for (name, value) in extra {
            headers.append(name, value.clone());
        }
        request
    }
}

/// Headers of a form POST.
pub fn form_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    headers
}

/// Headers of a JSON POST.
pub fn json_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    headers
}

/// A path (and query) as a request target.
pub fn path(p: &str) -> Result<Uri> {
    p.parse::<Uri>()
        .with_context(|| format!("not a request target: {p}"))
}
