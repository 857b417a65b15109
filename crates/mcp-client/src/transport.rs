//! The HTTP client under rmcp's Streamable HTTP transport: it puts the current bearer token
//! on every request (checklist T1), refreshes once on a 401 for a token it sent, and records
//! the challenge of any 401/403 it cannot fix for the session to act on (authorize, step up).

#![allow(clippy::disallowed_types)] // rmcp's trait takes a HashMap of headers; it never leaves the process

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
};
use sse_stream::{Error as SseError, Sse};

use crate::tokens::TokenManager;

/// A refusal the transport could not resolve by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// 401 with this `WWW-Authenticate` value.
    Unauthorized(String),
    /// 403 `insufficient_scope` with this `WWW-Authenticate` value.
    InsufficientScope(String),
}

/// The authorizing HTTP client.
#[derive(Debug, Clone)]
pub struct AuthorizedHttp {
    inner: reqwest::Client,
    tokens: Arc<TokenManager>,
    failure: Arc<Mutex<Option<AuthFailure>>>,
}

type HttpError = StreamableHttpError<reqwest::Error>;

impl AuthorizedHttp {
    /// Wraps `inner` (a client without a global timeout: SSE streams live long).
    pub fn new(inner: reqwest::Client, tokens: Arc<TokenManager>) -> Self {
        Self {
            inner,
            tokens,
            failure: Arc::default(),
        }
    }

    /// Takes the last recorded refusal.
    pub fn take_failure(&self) -> Option<AuthFailure> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    fn record(&self, failure: AuthFailure) {
        *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(failure);
    }

    /// Runs `call` with the current token; on a 401 for a token we sent, refreshes once and
    /// retries; records whatever refusal remains.
    async fn authorized<T, F, Fut>(&self, call: F) -> Result<T, HttpError>
    where
        F: Fn(Option<String>) -> Fut,
        Fut: Future<Output = Result<T, HttpError>>,
    {
        let token = self.tokens.access_token().await;
        let mut result = call(token.clone()).await;
        if let (Err(StreamableHttpError::AuthRequired(_)), Some(sent)) = (&result, &token)
            && let Some(fresh) = self.tokens.after_rejection(sent).await
            && fresh != *sent
        {
            result = call(Some(fresh)).await;
        }
        match &result {
            Err(StreamableHttpError::AuthRequired(e)) => {
                self.record(AuthFailure::Unauthorized(e.www_authenticate_header.clone()));
            }
            Err(StreamableHttpError::InsufficientScope(e)) => {
                self.record(AuthFailure::InsufficientScope(
                    e.www_authenticate_header.clone(),
                ));
            }
            _ => {}
        }
        result
    }
}

impl StreamableHttpClient for AuthorizedHttp {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, HttpError> {
        self.authorized(|token| {
            self.inner.post_message(
                uri.clone(),
                message.clone(),
                session_id.clone(),
                token,
                custom_headers.clone(),
            )
        })
        .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, HttpError> {
        self.authorized(|token| {
            self.inner.post_message_with_max_sse_event_size(
                uri.clone(),
                message.clone(),
                session_id.clone(),
                token,
                custom_headers.clone(),
                max_sse_event_size,
            )
        })
        .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), HttpError> {
        let token = self.tokens.access_token().await;
        self.inner
            .delete_session(uri, session_id, token, custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, HttpError> {
        self.authorized(|token| {
            self.inner.get_stream(
                uri.clone(),
                session_id.clone(),
                last_event_id.clone(),
                token,
                custom_headers.clone(),
            )
        })
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, HttpError> {
        self.authorized(|token| {
            self.inner.get_stream_with_max_sse_event_size(
                uri.clone(),
                session_id.clone(),
                last_event_id.clone(),
                token,
                custom_headers.clone(),
                max_sse_event_size,
            )
        })
        .await
    }
}

/// The refusal carried by an error of the transport, if it is one: a 401 or a 403 that
/// rmcp's HTTP client recognised from its `WWW-Authenticate` header.
pub fn failure_in(error: &(dyn std::error::Error + 'static)) -> Option<AuthFailure> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(http) = e.downcast_ref::<HttpError>() {
            match http {
                StreamableHttpError::AuthRequired(x) => {
                    return Some(AuthFailure::Unauthorized(x.www_authenticate_header.clone()));
                }
                StreamableHttpError::InsufficientScope(x) => {
                    return Some(AuthFailure::InsufficientScope(
                        x.www_authenticate_header.clone(),
                    ));
                }
                _ => {}
            }
        }
        if let Some(dynamic) = e.downcast_ref::<rmcp::transport::DynamicTransportError>()
            && let Some(found) = failure_in(dynamic.error.as_ref())
        {
            return Some(found);
        }
        current = e.source();
    }
    None
}

/// [`failure_in`] for the error of an MCP request.
pub fn failure_of_request(error: &rmcp::ServiceError) -> Option<AuthFailure> {
    match error {
        rmcp::ServiceError::TransportSend(dynamic) => failure_in(dynamic.error.as_ref()),
        other => failure_in(other),
    }
}

/// [`failure_in`] for the error of `initialize`.
pub fn failure_of_initialize(error: &rmcp::service::ClientInitializeError) -> Option<AuthFailure> {
    match error {
        rmcp::service::ClientInitializeError::TransportError { error, .. } => {
            failure_in(error.error.as_ref())
        }
        other => failure_in(other),
    }
}

#[cfg(test)]
mod tests {
    use rmcp::transport::DynamicTransportError;
    use rmcp::transport::streamable_http_client::{AuthRequiredError, InsufficientScopeError};

    use super::*;

    fn wrapped(e: HttpError) -> rmcp::ServiceError {
        rmcp::ServiceError::TransportSend(DynamicTransportError::from_parts(
            "streamable-http",
            std::any::TypeId::of::<AuthorizedHttp>(),
            Box::new(e),
        ))
    }

    #[test]
    fn refusals_are_found_inside_request_errors() {
        let e = wrapped(StreamableHttpError::InsufficientScope(
            InsufficientScopeError::new("Bearer error=\"insufficient_scope\"".into(), None),
        ));
        assert_eq!(
            failure_of_request(&e),
            Some(AuthFailure::InsufficientScope(
                "Bearer error=\"insufficient_scope\"".into()
            ))
        );
        let e = wrapped(StreamableHttpError::AuthRequired(AuthRequiredError::new(
            "Bearer".into(),
        )));
        assert_eq!(
            failure_of_request(&e),
            Some(AuthFailure::Unauthorized("Bearer".into()))
        );
        assert_eq!(
            failure_of_request(&rmcp::ServiceError::TransportClosed),
            None
        );
    }
}
