//! The guard in front of `/mcp`: transport checks, bearer authentication (RFC 6750 §2.1,
//! §3), per-tool scopes with step-up (MCP 2025-11-25 "Scope Challenge Handling") and the
//! session-to-subject binding. Every request runs these steps, in order:
//!
//! 1. `Host` and `Origin` allow-lists (403) — [`crate::transport`].
//! 2. A token in the query string (`access_token`), several `Authorization` headers, or a
//!    malformed `Bearer` credential: 400 `invalid_request`.
//! 3. No bearer credential: 401 with `resource_metadata` and `scope`, and no `error`
//!    (RFC 6750 §3.1).
//! 4. The token is validated ([`crate::validation`]): 401 `invalid_token` when it fails.
//! 5. `MCP-Protocol-Version` not one this server speaks: 400.
//! 6. `Mcp-Session-Id` bound to another subject: 404, exactly like an unknown session
//!    (`mcp.stateful = true` only: the stateless mode has no sessions to bind).
//! 7. A POST is read (up to the same 4 MiB rmcp allows) and every `tools/call` in it is
//!    checked against the tool's required scopes: 403 `insufficient_scope` with
//!    `scope` = granted ∪ required, decided here because rmcp turns tool errors into 200.
//! 8. The request goes to rmcp with the [`AuthContext`] in its extensions; a new session id
//!    in the answer is bound to the subject, a deleted or unknown one is forgotten.
//! 9. A GET's SSE stream ends when the token that opened it expires: a long-lived stream
//!    must not outlive its authorization (the client reconnects with a fresh token).
//!
//! With `dev.disable_authorization` (loopback only) [`open_guard`] replaces [`mcp_guard`]:
//! steps 1 and 5 only.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use http::header::{self, HeaderValue};
use http::{Method, StatusCode};
use mcp_auth_core::challenge::BearerChallenge;
use mcp_auth_core::{OAuthErrorCode, ScopeSet};
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::json;

use crate::sessions::Binding;
use crate::settings::ToolPolicy;
use crate::state::AppState;
use crate::transport::{self, MCP_SESSION_ID};
use crate::validation::{AuthContext, TokenError};

/// The largest POST body read (the same limit rmcp applies).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// A response carrying a `WWW-Authenticate: Bearer` challenge and a JSON-RPC error body.
pub fn challenge_response(status: StatusCode, challenge: &BearerChallenge) -> Response {
    let message = challenge
        .error_description
        .clone()
        .unwrap_or_else(|| "authorization required".to_owned());
    let body = json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": -32001, "message": message},
    });
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    match HeaderValue::from_str(&challenge.to_string()) {
        Ok(value) => {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        Err(_) => {
            // The challenge builder emits only visible ASCII; never expected.
            tracing::error!("could not encode a WWW-Authenticate challenge");
        }
    }
    response
}

/// What the `Authorization` header and query string hold.
#[derive(Debug, PartialEq, Eq)]
pub enum Credential<'a> {
    /// No bearer credential (no header, or another scheme).
    None,
    /// A bearer token, borrowed from the header.
    Bearer(&'a str),
    /// A malformed request (400 `invalid_request`), with the reason.
    Malformed(&'static str),
}

/// Whether `b` may stand in the body of an RFC 6750 §2.1 `b64token`: `ALPHA / DIGIT / "-" /
/// "." / "_" / "~" / "+" / "/"` (the trailing `"="`s are handled apart). Comparisons only,
/// no branch and no table, so that a loop over a token compiles to SIMD.
const fn is_b64token_byte(b: u8) -> bool {
    let alpha = (b | 0x20).wrapping_sub(b'a') < 26;
    let digit = b.wrapping_sub(b'0') < 10;
    let dash_dot_slash = b.wrapping_sub(b'-') < 3;
    alpha | digit | dash_dot_slash | (b == b'_') | (b == b'~') | (b == b'+')
}

/// RFC 6750 §2.1 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
/// The answers for every byte are and-ed with no early exit: a token (some 700 bytes for a
/// JWT) is checked 16 bytes at a time, without a branch per byte.
fn is_b64token(token: &[u8]) -> bool {
    let padding = token.iter().rev().take_while(|&&b| b == b'=').count();
    let body = &token[..token.len() - padding];
    !body.is_empty() && body.iter().fold(true, |ok, &b| ok & is_b64token_byte(b))
}

/// Reads the credential of a request (RFC 6750 §2: header only; MCP forbids the query).
/// The token is borrowed from the header, not copied.
pub fn credential(request: &Request) -> Credential<'_> {
    if let Some(query) = request.uri().query()
        && url::form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "access_token")
    {
        return Credential::Malformed(
            "access tokens are accepted only in the Authorization header",
        );
    }
    let mut values = request.headers().get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Credential::None;
    };
    if values.next().is_some() {
        return Credential::Malformed("more than one Authorization header");
    }
    let bytes = value.as_bytes();
    let (scheme, rest) = match bytes.iter().position(|&b| b == b' ') {
        Some(space) => (&bytes[..space], &bytes[space + 1..]),
        None => (bytes, &[][..]),
    };
    let not_visible_ascii = || value.to_str().is_err();
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        if not_visible_ascii() {
            return Credential::Malformed("the Authorization header is not visible ASCII");
        }
        // Another scheme carries no bearer credential: challenge without an error.
        return Credential::None;
    }
    let start = rest.iter().take_while(|&&b| b == b' ').count();
    let token = &rest[start..];
    // A b64token is ASCII, so the conversion cannot fail once the check passed.
    if is_b64token(token)
        && let Ok(token) = std::str::from_utf8(token)
    {
        return Credential::Bearer(token);
    }
    if not_visible_ascii() {
        return Credential::Malformed("the Authorization header is not visible ASCII");
    }
    Credential::Malformed("the Bearer credential is malformed")
}

/// The scopes a JSON-RPC body needs: the union over its `tools/call`s (a batch may hold
/// several), or `None` when it calls no tool.
pub fn required_scopes(policy: &ToolPolicy, body: &[u8]) -> Option<(ScopeSet, Vec<String>)> {
    let tools = called_tools(body);
    (!tools.is_empty()).then(|| {
        (
            union_of_required(policy, &tools),
            tools.iter().map(|t| (**t).to_owned()).collect(),
        )
    })
}

/// The names of the tools a JSON-RPC body calls (`tools/call` with a string
/// `params.name`), single message or batch, borrowed from the body where no escape had to
/// be decoded. A body that is not JSON calls nothing here (rmcp answers it). Only `method`
/// and `params.name` are decoded; everything else is skipped unparsed, and a member of
/// another type, a non-object message and a repeated key (the last one counts) read as
/// `serde_json::Value` would read them.
pub fn called_tools(body: &[u8]) -> Vec<Cow<'_, str>> {
    match serde_json::from_slice::<Messages<'_>>(body) {
        Ok(Messages(calls)) => calls
            .into_iter()
            .filter_map(|call| match call {
                Call {
                    method: Some(method),
                    name: Some(name),
                } if method == "tools/call" => Some(name),
                _ => None,
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The union of the scopes `tools` need.
fn union_of_required(policy: &ToolPolicy, tools: &[Cow<'_, str>]) -> ScopeSet {
    tools.iter().fold(ScopeSet::new(), |required, tool| {
        required.union(policy.required_for(tool))
    })
}

/// Visitor methods reading every JSON scalar (null, boolean, number) as `$value`.
macro_rules! scalars_read_as {
    ($value:expr) => {
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
}

/// Visitor methods reading every JSON scalar, strings included, as `$value`.
macro_rules! other_values_read_as {
    ($value:expr) => {
        scalars_read_as!($value);
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
}

/// A JSON-RPC body read for the scope check: one message, or a batch (an array) of them.
/// Any other JSON value holds no call.
struct Messages<'a>(Vec<Call<'a>>);

/// What the scope check reads of one message: `method` and `params.name`, when strings.
#[derive(Default)]
struct Call<'a> {
    method: Option<Cow<'a, str>>,
    name: Option<Cow<'a, str>>,
}

/// A JSON string, or `None` for a value of any other type (skipped unparsed).
struct MaybeStr<'a>(Option<Cow<'a, str>>);

/// `params` as far as its `name` goes.
struct ParamsName<'a>(Option<Cow<'a, str>>);

/// The members of a message the scope check reads.
enum Member {
    Method,
    Params,
    Other,
}

impl<'de> Deserialize<'de> for Messages<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MessagesVisitor;
        impl<'de> Visitor<'de> for MessagesVisitor {
            type Value = Messages<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON-RPC message or batch")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                Ok(Messages(vec![CallVisitor.visit_map(map)?]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut calls = Vec::new();
                while let Some(call) = seq.next_element::<Call<'de>>()? {
                    calls.push(call);
                }
                Ok(Messages(calls))
            }
            other_values_read_as!(Messages(Vec::new()));
        }
        deserializer.deserialize_any(MessagesVisitor)
    }
}

struct CallVisitor;

impl<'de> Visitor<'de> for CallVisitor {
    type Value = Call<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC message")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut call = Call::default();
        while let Some(member) = map.next_key::<Member>()? {
            match member {
                Member::Method => call.method = map.next_value::<MaybeStr<'de>>()?.0,
                Member::Params => call.name = map.next_value::<ParamsName<'de>>()?.0,
                Member::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(call)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_seq(seq)?;
        Ok(Call::default())
    }
    other_values_read_as!(Call::default());
}

impl<'de> Deserialize<'de> for Call<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CallVisitor)
    }
}

impl<'de> Deserialize<'de> for ParamsName<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ParamsVisitor;
        impl<'de> Visitor<'de> for ParamsVisitor {
            type Value = ParamsName<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("tools/call params")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut name = None;
                while let Some(key) = map.next_key::<MaybeStr<'de>>()? {
                    if key.0.as_deref() == Some("name") {
                        name = map.next_value::<MaybeStr<'de>>()?.0;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(ParamsName(name))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                IgnoredAny.visit_seq(seq)?;
                Ok(ParamsName(None))
            }
            other_values_read_as!(ParamsName(None));
        }
        deserializer.deserialize_any(ParamsVisitor)
    }
}

impl<'de> Deserialize<'de> for MaybeStr<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor;
        impl<'de> Visitor<'de> for StrVisitor {
            type Value = MaybeStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(MaybeStr(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(MaybeStr(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                IgnoredAny.visit_map(map)?;
                Ok(MaybeStr(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                IgnoredAny.visit_seq(seq)?;
                Ok(MaybeStr(None))
            }
            scalars_read_as!(MaybeStr(None));
        }
        deserializer.deserialize_any(StrVisitor)
    }
}

impl<'de> Deserialize<'de> for Member {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MemberVisitor;
        impl Visitor<'_> for MemberVisitor {
            type Value = Member;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(match v {
                    "method" => Member::Method,
                    "params" => Member::Params,
                    _ => Member::Other,
                })
            }
        }
        deserializer.deserialize_str(MemberVisitor)
    }
}

/// The guard middleware (see the module docs for the steps).
pub async fn mcp_guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let settings = &state.settings;
    let prm_url = state.resource_metadata_url.as_str();

    // 1. Host and Origin.
    if let Err(response) =
        transport::check_host_and_origin(&settings.security, request.headers(), request.uri())
    {
        return response;
    }

    // 2–3. The credential.
    let token = match credential(&request) {
        Credential::Bearer(token) => token,
        Credential::None => {
            let challenge = BearerChallenge::unauthenticated(
                prm_url,
                Some(settings.resource.scopes_supported.clone()),
            );
            return challenge_response(StatusCode::UNAUTHORIZED, &challenge);
        }
        Credential::Malformed(reason) => {
            tracing::info!(reason, "rejected a malformed authorization request");
            let challenge = BearerChallenge {
                error: Some(OAuthErrorCode::InvalidRequest),
                resource_metadata: Some(prm_url.to_owned()),
                error_description: Some(reason.to_owned()),
                ..BearerChallenge::default()
            };
            return challenge_response(StatusCode::BAD_REQUEST, &challenge);
        }
    };

    // 4. The token.
    let auth: Arc<AuthContext> = match state.validator.validate(token).await {
        Ok(auth) => auth,
        Err(TokenError::Invalid(reason)) => {
            tracing::info!(reason = %reason, "rejected an access token");
            let mut challenge = BearerChallenge::invalid_token(prm_url, reason);
            challenge.scope = Some(settings.resource.scopes_supported.clone());
            return challenge_response(StatusCode::UNAUTHORIZED, &challenge);
        }
        Err(TokenError::Unavailable) => {
            let mut response = transport::jsonrpc_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the authorization server cannot be reached to validate the token",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            return response;
        }
    };

    // 5. The protocol version.
    if let Err(response) = transport::check_protocol_version(request.headers()) {
        return response;
    }

    // 6. The session belongs to this subject. In stateless mode rmcp issues no session id
    //    and ignores one sent anyway, so there is nothing to bind or check. A session bound
    //    to nobody (unknown, deleted, or evicted from the full binding table) gets the same
    //    404: a session whose binding is gone is never open to any subject.
    let session_id = request
        .headers()
        .get(&MCP_SESSION_ID)
        .filter(|_| settings.mcp.stateful)
        .cloned();
    if let Some(id) = &session_id {
        let binding = id.to_str().map_or(Binding::Unknown, |id| {
            state.sessions.check(id, &auth.subject)
        });
        match binding {
            Binding::Same => {}
            Binding::Other => {
                tracing::warn!(subject = %auth.subject, "refused a session created by another subject");
                return session_not_found();
            }
            Binding::Unknown => return session_not_found(),
        }
    }

    // 7. Per-tool scopes.
    let method = request.method().clone();
    let mut request = if method == Method::POST {
        let (parts, body) = request.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
            return transport::jsonrpc_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the request body is too large or could not be read",
            );
        };
        // Each called tool's scopes are checked in place; the union (what the challenge
        // names) is built only for a refusal.
        let tools = called_tools(&bytes);
        if !tools
            .iter()
            .all(|tool| settings.tools.required_for(tool).is_subset(&auth.scopes))
        {
            let required = union_of_required(&settings.tools, &tools);
            let missing = required.difference(&auth.scopes);
            tracing::info!(subject = %auth.subject, tools = ?tools, missing = %missing, "insufficient scope");
            let challenge = BearerChallenge::insufficient_scope(
                prm_url,
                auth.scopes.union(&required),
                format!("{} requires the scope {missing}", tools.join(", ")),
            );
            return challenge_response(StatusCode::FORBIDDEN, &challenge);
        }
        Request::from_parts(parts, Body::from(bytes))
    } else {
        request
    };

    // 8. Forward, then keep the binding table in step.
    request.extensions_mut().insert(auth.clone());
    let mut response = next.run(request).await;
    if method == Method::GET && response.status().is_success() && auth.expires_at > 0 {
        let remaining = auth.expires_at.saturating_sub(state.clock.now()).max(0);
        response = end_stream_after(response, Duration::from_secs(remaining.unsigned_abs()));
    }
    match &session_id {
        None if !settings.mcp.stateful => {}
        None => {
            if response.status().is_success()
                && let Some(new_id) = response
                    .headers()
                    .get(&MCP_SESSION_ID)
                    .and_then(|v| v.to_str().ok())
            {
                state.sessions.bind(new_id, &auth.subject);
            }
        }
        Some(id) => {
            let deleted = method == Method::DELETE && response.status().is_success();
            if deleted || response.status() == StatusCode::NOT_FOUND {
                state.sessions.unbind(id.to_str().unwrap_or_default());
            }
        }
    }
    response
}

/// 404 for a session this subject may not use: the answer rmcp gives an unknown session.
fn session_not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found: Session not found").into_response()
}

/// The guard when `dev.disable_authorization` is on (loopback only, benchmarks and
/// development): step 1 (`Host`, `Origin`) and step 5 (protocol version) still run; no
/// credential is read and no [`AuthContext`] is inserted, so the tools see an anonymous
/// caller and check no scope.
pub async fn open_guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Err(response) =
        transport::check_host_and_origin(&state.settings.security, request.headers(), request.uri())
    {
        return response;
    }
    if let Err(response) = transport::check_protocol_version(request.headers()) {
        return response;
    }
    next.run(request).await
}

/// The response with its body cut off after `after` (for SSE streams).
fn end_stream_after(response: Response, after: Duration) -> Response {
    let (parts, body) = response.into_parts();
    let stream = body
        .into_data_stream()
        .take_until(tokio::time::sleep(after));
    Response::from_parts(parts, Body::from_stream(stream))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn request(uri: &str, authorization: &[&str]) -> Request {
        let mut builder = Request::builder().uri(uri);
        for a in authorization {
            builder = builder.header(header::AUTHORIZATION, *a);
        }
        builder.body(Body::empty()).unwrap()
    }

    #[test]
    fn credentials_are_read_from_the_header_only() {
        assert_eq!(credential(&request("/mcp", &[])), Credential::None);
        assert_eq!(
            credential(&request("/mcp", &["Bearer abc.def-ghi_~+/=="])),
            Credential::Bearer("abc.def-ghi_~+/==")
        );
        assert_eq!(
            credential(&request("/mcp", &["bearer abc"])),
            Credential::Bearer("abc")
        );
        assert_eq!(
            credential(&request("/mcp", &["Basic dXNlcjpwYXNz"])),
            Credential::None
        );
        for bad in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer a\"b",
            "Bearer =abc",
        ] {
            assert!(
                matches!(
                    credential(&request("/mcp", &[bad])),
                    Credential::Malformed(_)
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            credential(&request("/mcp", &["Bearer a", "Bearer b"])),
            Credential::Malformed(_)
        ));
        assert!(matches!(
            credential(&request("/mcp?access_token=abc", &[])),
            Credential::Malformed(_)
        ));
        assert!(matches!(
            credential(&request("/mcp?x=1&access_token=abc", &["Bearer abc"])),
            Credential::Malformed(_)
        ));
    }

    /// RFC 6750 §2.1 `b64token`, written as the grammar reads.
    fn b64token_by_the_grammar(s: &[u8]) -> bool {
        let body_char = |b: &u8| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        };
        let body_len = s.iter().take_while(|b| body_char(b)).count();
        body_len > 0 && s[body_len..].iter().all(|&b| b == b'=')
    }

    #[test]
    fn the_b64token_check_follows_the_grammar_for_every_byte() {
        let mut cases: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"=".to_vec(),
            b"==".to_vec(),
            b"a=".to_vec(),
            b"a==".to_vec(),
            b"a=b".to_vec(),
            b"=a".to_vec(),
        ];
        for b in 0..=u8::MAX {
            cases.push(vec![b]);
            cases.push(vec![b'a', b, b'z']);
            cases.push(vec![b'a', b, b'=']);
            cases.push(vec![b'a', b'=', b]);
        }
        for case in &cases {
            assert_eq!(
                is_b64token(case),
                b64token_by_the_grammar(case),
                "{:?}",
                String::from_utf8_lossy(case)
            );
        }
    }

    #[test]
    fn the_bearer_token_is_borrowed_from_the_header() {
        let request = request("/mcp", &["Bearer  abc.def"]);
        let header = request.headers()[header::AUTHORIZATION]
            .as_bytes()
            .as_ptr_range();
        let Credential::Bearer(token) = credential(&request) else {
            panic!("a bearer token");
        };
        assert_eq!(token, "abc.def");
        assert!(header.contains(&token.as_ptr()), "no copy");
    }

    #[test]
    fn a_header_that_is_not_visible_ascii_is_named_as_such() {
        for raw in [&b"Bearer abc\xff"[..], b"Basic \xffabc", b"Bearer\xff abc"] {
            let mut request = request("/mcp", &[]);
            request
                .headers_mut()
                .insert(header::AUTHORIZATION, HeaderValue::from_bytes(raw).unwrap());
            assert_eq!(
                credential(&request),
                Credential::Malformed("the Authorization header is not visible ASCII"),
                "{raw:?}"
            );
        }
    }

    fn policy() -> ToolPolicy {
        let mut scopes = BTreeMap::new();
        scopes.insert("whoami".to_owned(), ScopeSet::parse("mcp:tools").unwrap());
        scopes.insert(
            "get_weather".to_owned(),
            ScopeSet::parse("weather:read").unwrap(),
        );
        ToolPolicy {
            default_scope: ScopeSet::parse("mcp:tools").unwrap(),
            scopes,
        }
    }

    #[test]
    fn tool_calls_need_their_tools_scopes_including_in_batches() {
        let p = policy();
        let call = |name: &str| json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":name}});
        let (s, tools) = required_scopes(&p, call("get_weather").to_string().as_bytes()).unwrap();
        assert_eq!(s.to_string(), "weather:read");
        assert_eq!(tools, ["get_weather"]);
        let (s, _) = required_scopes(&p, call("other").to_string().as_bytes()).unwrap();
        assert_eq!(
            s.to_string(),
            "mcp:tools",
            "unlisted tools need the default scope"
        );
        let batch = json!([call("whoami"), call("get_weather")]).to_string();
        let (s, _) = required_scopes(&p, batch.as_bytes()).unwrap();
        assert_eq!(s.to_string(), "mcp:tools weather:read");
        let list = json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}).to_string();
        assert!(required_scopes(&p, list.as_bytes()).is_none());
        assert!(required_scopes(&p, b"not json").is_none());
    }

    /// What the scope check read before it was a borrowed parse: the whole body as a
    /// `serde_json::Value`. The typed parse must find exactly the same calls.
    fn called_tools_via_value(body: &[u8]) -> Vec<String> {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
            return Vec::new();
        };
        let messages = match &value {
            serde_json::Value::Array(items) => items.iter().collect::<Vec<_>>(),
            other => vec![other],
        };
        messages
            .into_iter()
            .filter(|m| m.get("method").and_then(|v| v.as_str()) == Some("tools/call"))
            .filter_map(|m| m.get("params")?.get("name")?.as_str().map(str::to_owned))
            .collect()
    }

    #[test]
    fn the_borrowed_parse_finds_the_calls_a_full_parse_finds() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let cases: Vec<String> = [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{"a":[1,{"b":null}]}}}"#,
            r#"{"params":{"arguments":{},"name":"get_weather"},"method":"tools/call","id":"x"}"#,
            r#"[{"method":"tools/call","params":{"name":"whoami"}},{"method":"tools/call","params":{"name":"admin_stats"}}]"#,
            // anything that is not an object in a batch is skipped, the rest still counts
            r#"[1, "tools/call", null, [{"method":"tools/call","params":{"name":"nested"}}], {"method":"tools/call","params":{"name":"admin_stats"}}]"#,
            // repeated keys: the last one counts
            r#"{"method":"tools/list","method":"tools/call","params":{"name":"a"},"params":{"name":"admin_stats"}}"#,
            r#"{"method":"tools/call","params":{"name":"admin_stats"},"method":"tools/list"}"#,
            r#"{"method":"tools/call","params":{"name":"admin_stats","name":"whoami"}}"#,
            r#"{"method":"tools/call","params":{"name":"admin_stats"},"params":{}}"#,
            // escapes are decoded, in values and in member names
            r#"{"method":"tools\/call","params":{"n\u0061me":"admin\u005fstats"}}"#,
            r#"{"meth\u006fd":"tools/call","params":{"name":"admin_stats"}}"#,
            // members of other types
            r#"{"method":7,"params":{"name":"admin_stats"}}"#,
            r#"{"method":"tools/call","params":{"name":["admin_stats"]}}"#,
            r#"{"method":"tools/call","params":["admin_stats"]}"#,
            r#"{"method":"tools/call","params":"admin_stats"}"#,
            r#"{"method":"tools/call","params":null}"#,
            r#"{"method":"tools/call"}"#,
            r#"{"method":["tools/call"],"params":{"name":"admin_stats"}}"#,
            r#"{"method":{"x":"tools/call"},"params":{"name":"admin_stats"}}"#,
            // not a message, not JSON, more than one value, too deep
            r#""tools/call""#,
            "42",
            "null",
            "[]",
            "{}",
            "",
            "not json",
            r#"{"method":"tools/call","params":{"name":"admin_stats"}"#,
            r#"{"method":"tools/call","params":{"name":"admin_stats"}} {}"#,
            r#"{"method":"tools/call","params":{"name":"admin_stats"}} "#,
            r#"[{"method":"tools/call","params":{"name":"admin_stats"}},]"#,
            &deep,
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        for case in &cases {
            let typed: Vec<String> = called_tools(case.as_bytes())
                .into_iter()
                .map(|t| t.into_owned())
                .collect();
            assert_eq!(typed, called_tools_via_value(case.as_bytes()), "{case}");
        }
        assert_eq!(called_tools(cases[2].as_bytes()), ["whoami", "admin_stats"]);
        assert!(
            matches!(called_tools(cases[0].as_bytes())[0], Cow::Borrowed(_)),
            "no copy without escapes"
        );
    }
}
