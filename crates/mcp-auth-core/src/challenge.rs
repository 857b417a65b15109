//! `WWW-Authenticate: Bearer` challenges (RFC 6750 §3, RFC 9728 §5.1, MCP 2025-11-25).
//!
//! Building: [`BearerChallenge`]'s `Display` produces one `Bearer` challenge with the
//! parameters in a fixed order (`realm`, `error`, `scope`, `resource_metadata`,
//! `error_description`), every value quoted, and `scope`/`error_description` restricted to
//! the characters RFC 6750 §3 allows. The string starts with `Bearer `, which is all that the
//! TypeScript SDK accepts (checklist D6).
//!
//! Parsing: [`BearerChallenge::parse`] reads a whole header value with the RFC 7235 challenge
//! parser of the `http-auth` crate, so it copes with several challenges in one header,
//! lowercase `bearer`, extra spaces and unquoted (token) values, and takes the first `Bearer`
//! challenge.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::OAuthErrorCode;
use crate::scope::ScopeSet;

/// One `Bearer` challenge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BearerChallenge {
    /// `realm` (RFC 6750 §3).
    pub realm: Option<String>,
    /// `error` (RFC 6750 §3.1). Absent when the request carried no credentials.
    pub error: Option<OAuthErrorCode>,
    /// `scope`: the scopes the request needs (RFC 6750 §3, MCP scope challenge).
    pub scope: Option<ScopeSet>,
    /// `resource_metadata`: the protected resource metadata URL (RFC 9728 §5.1).
    pub resource_metadata: Option<String>,
    /// `error_description`.
    pub error_description: Option<String>,
    /// Any other parameters, kept when parsing.
    pub extra: BTreeMap<String, String>,
}

impl BearerChallenge {
    /// The challenge for a request without credentials: `resource_metadata` and `scope`,
    /// no `error` (RFC 6750 §3.1).
    pub fn unauthenticated(resource_metadata: impl Into<String>, scope: Option<ScopeSet>) -> Self {
        Self {
            resource_metadata: Some(resource_metadata.into()),
            scope,
            ..Self::default()
        }
    }

    /// The challenge for an unusable token: `error="invalid_token"` (401).
    pub fn invalid_token(
        resource_metadata: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Self {
            error: Some(OAuthErrorCode::InvalidToken),
            resource_metadata: Some(resource_metadata.into()),
            error_description: Some(description.into()),
            ..Self::default()
        }
    }

    /// The step-up challenge (403): `error="insufficient_scope"` with the scopes the client
    /// should hold afterwards.
    pub fn insufficient_scope(
        resource_metadata: impl Into<String>,
        scope: ScopeSet,
        description: impl Into<String>,
    ) -> Self {
        Self {
            error: Some(OAuthErrorCode::InsufficientScope),
            scope: Some(scope),
            resource_metadata: Some(resource_metadata.into()),
            error_description: Some(description.into()),
            ..Self::default()
        }
    }

    /// The first `Bearer` challenge in a `WWW-Authenticate` header value, if any.
    ///
    /// Challenges after a syntax error are not seen, but those before it are.
    pub fn parse(header: &str) -> Option<Self> {
        let header = collapse_whitespace(header);
        for challenge in http_auth::parser::ChallengeParser::new(&header) {
            let Ok(challenge) = challenge else {
                return None;
            };
            if !challenge.scheme.eq_ignore_ascii_case("bearer") {
                continue;
            }
            let mut out = Self::default();
            for (name, value) in challenge.params {
                let value = value.to_unescaped();
                match name.to_ascii_lowercase().as_str() {
                    "realm" => out.realm = Some(value),
                    "error" => out.error = Some(OAuthErrorCode::parse(&value)),
                    // A scope that breaks the grammar is kept raw rather than lost.
                    "scope" => match ScopeSet::parse(&value) {
                        Ok(scope) => out.scope = Some(scope),
                        Err(_) => {
                            out.extra.insert("scope".to_owned(), value);
                        }
                    },
                    "resource_metadata" => out.resource_metadata = Some(value),
                    "error_description" => out.error_description = Some(value),
                    other => {
                        out.extra.insert(other.to_owned(), value);
                    }
                }
            }
            return Some(out);
        }
        None
    }
}

/// Collapses runs of spaces and tabs outside quoted strings into one space. RFC 7235 wants
/// exactly one space after the scheme; servers in the wild send more, and tabs.
fn collapse_whitespace(header: &str) -> String {
    let mut out = String::with_capacity(header.len());
    let (mut quoted, mut escaped, mut in_space) = (false, false, false);
    for c in header.trim().chars() {
        if quoted {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => quoted = false,
                _ => {}
            }
            continue;
        }
        if c == ' ' || c == '\t' {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
            continue;
        }
        in_space = false;
        quoted = c == '"';
        out.push(c);
    }
    out
}

/// Keeps only the characters RFC 6750 §3 allows in `error_description`
/// (`%x20-21 / %x23-5B / %x5D-7E`), replacing others with `'` or `?`.
fn sanitize_description(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

/// Quotes a value that needs no escaping (URLs, codes, scopes have no `"` or `\`).
fn quote_plain(s: &str) -> String {
    s.chars().filter(|c| *c != '"' && *c != '\\').collect()
}

impl fmt::Display for BearerChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some(realm) = &self.realm {
            params.push(("realm", quote_plain(realm)));
        }
        if let Some(error) = &self.error {
            params.push(("error", quote_plain(error.as_str())));
        }
        if let Some(scope) = &self.scope {
            params.push(("scope", scope.to_string()));
        }
        if let Some(url) = &self.resource_metadata {
            params.push(("resource_metadata", quote_plain(url)));
        }
        if let Some(description) = &self.error_description {
            params.push(("error_description", sanitize_description(description)));
        }
        f.write_str("Bearer")?;
        for (i, (name, value)) in params.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            write!(f, "{sep}{name}=\"{value}\"")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRM: &str = "http://localhost:8001/.well-known/oauth-protected-resource/mcp";

    fn scopes(s: &str) -> ScopeSet {
        ScopeSet::parse(s).unwrap()
    }

    #[test]
    fn golden_strings() {
        assert_eq!(
            BearerChallenge::unauthenticated(PRM, Some(scopes("mcp:tools"))).to_string(),
            format!(r#"Bearer scope="mcp:tools", resource_metadata="{PRM}""#)
        );
        assert_eq!(
            BearerChallenge::invalid_token(PRM, "the token has expired").to_string(),
            format!(
                r#"Bearer error="invalid_token", resource_metadata="{PRM}", error_description="the token has expired""#
            )
        );
        assert_eq!(
            BearerChallenge::insufficient_scope(
                PRM,
                scopes("mcp:tools weather:read"),
                "needs \"weather:read\""
            )
            .to_string(),
            format!(
                r#"Bearer error="insufficient_scope", scope="mcp:tools weather:read", resource_metadata="{PRM}", error_description="needs 'weather:read'""#
            )
        );
        assert_eq!(BearerChallenge::default().to_string(), "Bearer");
    }

    #[test]
    fn build_then_parse_round_trips() {
        let challenges = [
            BearerChallenge::unauthenticated(PRM, Some(scopes("a b"))),
            BearerChallenge::unauthenticated(PRM, None),
            BearerChallenge::invalid_token(PRM, "bad signature"),
            BearerChallenge::insufficient_scope(PRM, scopes("a b c"), "step up"),
            BearerChallenge {
                realm: Some("mcp".into()),
                ..BearerChallenge::default()
            },
        ];
        for challenge in challenges {
            let header = challenge.to_string();
            assert!(header.starts_with("Bearer"), "{header}");
            assert_eq!(BearerChallenge::parse(&header), Some(challenge), "{header}");
        }
    }

    #[test]
    fn parses_real_world_variants() {
        // lowercase scheme, unquoted token values, odd spacing
        let c = BearerChallenge::parse(
            "bearer   error=invalid_token ,  scope=\"files:read  files:write\",resource_metadata=\"https://h/.well-known/oauth-protected-resource\"",
        )
        .unwrap();
        assert_eq!(c.error, Some(OAuthErrorCode::InvalidToken));
        assert_eq!(c.scope, Some(scopes("files:read files:write")));
        assert_eq!(
            c.resource_metadata.as_deref(),
            Some("https://h/.well-known/oauth-protected-resource")
        );

        // several challenges: Bearer is not first
        let c = BearerChallenge::parse(
            r#"Basic realm="legacy", Bearer realm="mcp", error="insufficient_scope", scope="admin""#,
        )
        .unwrap();
        assert_eq!(c.realm.as_deref(), Some("mcp"));
        assert_eq!(c.error, Some(OAuthErrorCode::InsufficientScope));
        assert_eq!(c.scope, Some(scopes("admin")));

        // escaped quote in a quoted string; unknown parameter kept
        let c =
            BearerChallenge::parse(r#"Bearer error_description="say \"hi\"", foo=bar"#).unwrap();
        assert_eq!(c.error_description.as_deref(), Some("say \"hi\""));
        assert_eq!(c.extra.get("foo").map(String::as_str), Some("bar"));

        // a tab and a run of spaces inside a quoted value survive as they are
        let c = BearerChallenge::parse("Bearer\t error_description=\"a  b\"").unwrap();
        assert_eq!(c.error_description.as_deref(), Some("a  b"));

        // bare scheme
        assert_eq!(
            BearerChallenge::parse("Bearer"),
            Some(BearerChallenge::default())
        );
        // uppercase parameter names
        let c = BearerChallenge::parse(r#"Bearer Resource_Metadata="https://h/x""#).unwrap();
        assert_eq!(c.resource_metadata.as_deref(), Some("https://h/x"));
    }

    #[test]
    fn no_bearer_challenge_gives_none() {
        assert_eq!(BearerChallenge::parse(r#"Basic realm="x""#), None);
        assert_eq!(BearerChallenge::parse(""), None);
        assert_eq!(BearerChallenge::parse("Bearer error=\"unterminated"), None);
    }

    #[test]
    fn description_is_restricted_to_rfc6750_characters() {
        let c = BearerChallenge::invalid_token(PRM, "bad \\ \"x\" caf\u{e9}\n");
        let header = c.to_string();
        assert!(
            header.ends_with(r#"error_description="bad ' 'x' caf??""#),
            "{header}"
        );
    }
}
