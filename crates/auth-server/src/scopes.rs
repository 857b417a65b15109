//! Scope policy: which requested scopes a resource understands, which ones never break a flow
//! (`openid`, `profile`, `email`, `offline_access`), and what a user may be granted.

use mcp_auth_core::ScopeSet;

use crate::settings::{ResourceSettings, Settings};

/// Governs refresh tokens.
pub const OFFLINE_ACCESS: &str = "offline_access";

/// OpenID Connect scopes some MCP clients add by default; this server is not an OpenID
/// provider, so they are accepted and dropped.
pub const IGNORED: [&str; 3] = ["openid", "profile", "email"];

/// The outcome of checking a requested scope against a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeRequest {
    /// Resource scopes requested (or the resource's defaults).
    pub resource_scopes: ScopeSet,
    /// Whether `offline_access` was requested.
    pub offline_access: bool,
}

impl ScopeRequest {
    /// The full scope set to record in a grant.
    pub fn granted(&self) -> ScopeSet {
        let mut s = self.resource_scopes.clone();
        if self.offline_access
            && let Ok(scope) = mcp_auth_core::Scope::parse(OFFLINE_ACCESS)
        {
            s.insert(scope);
        }
        s
    }
}

/// Splits a requested scope into resource scopes and the special ones. Returns the scopes
/// the resource does not know as the error.
pub fn evaluate(
    requested: Option<&ScopeSet>,
    resource: &ResourceSettings,
) -> Result<ScopeRequest, ScopeSet> {
    let Some(requested) = requested else {
        return Ok(ScopeRequest {
            resource_scopes: resource.default_scopes.clone(),
            offline_access: false,
        });
    };
    let offline_access = requested.contains(OFFLINE_ACCESS);
    let mut rest = requested.clone();
    rest.remove(OFFLINE_ACCESS);
    for ignored in IGNORED {
        rest.remove(ignored);
    }
    let unknown = rest.difference(&resource.scopes);
    if !unknown.is_empty() {
        return Err(unknown);
    }
    let resource_scopes = if rest.is_empty() {
        resource.default_scopes.clone()
    } else {
        rest
    };
    Ok(ScopeRequest {
        resource_scopes,
        offline_access,
    })
}

/// The scopes a user may be granted: their own list, else their role's (`*` = all).
pub fn user_allowed(settings: &Settings, role: &str, own: Option<&ScopeSet>) -> Option<ScopeSet> {
    if let Some(own) = own {
        return Some(own.clone());
    }
    let scopes = settings.roles.get(role)?;
    if scopes.iter().any(|s| s == "*") {
        return None;
    }
    ScopeSet::from_tokens(scopes).ok()
}

/// Restricts `request` to what the user may have (`None` = everything).
pub fn restrict(request: &ScopeSet, allowed: Option<&ScopeSet>) -> ScopeSet {
    match allowed {
        None => request.clone(),
        Some(allowed) => {
            let mut out = request.intersection(allowed);
            if request.contains(OFFLINE_ACCESS)
                && let Ok(s) = mcp_auth_core::Scope::parse(OFFLINE_ACCESS)
            {
                out.insert(s);
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_auth_core::ResourceUri;

    fn resource() -> ResourceSettings {
        ResourceSettings {
            uri: ResourceUri::parse("http://localhost:8001/mcp").unwrap(),
            scopes: ScopeSet::parse("mcp:tools weather:read mcp:admin").unwrap(),
            default_scopes: ScopeSet::parse("mcp:tools").unwrap(),
        }
    }

    #[test]
    fn missing_scope_gets_the_defaults() {
        let r = evaluate(None, &resource()).unwrap();
        assert_eq!(r.resource_scopes.to_string(), "mcp:tools");
        assert!(!r.offline_access);
    }

    #[test]
    fn oidc_and_offline_access_never_break_a_flow() {
        let requested =
            ScopeSet::parse("openid profile email offline_access weather:read").unwrap();
        let r = evaluate(Some(&requested), &resource()).unwrap();
        assert_eq!(r.resource_scopes.to_string(), "weather:read");
        assert!(r.offline_access);
        assert_eq!(r.granted().to_string(), "offline_access weather:read");
        let only_oidc = ScopeSet::parse("openid offline_access").unwrap();
        let r = evaluate(Some(&only_oidc), &resource()).unwrap();
        assert_eq!(r.resource_scopes.to_string(), "mcp:tools");
    }

    #[test]
    fn unknown_resource_scopes_are_reported() {
        let requested = ScopeSet::parse("mcp:tools files:write").unwrap();
        let err = evaluate(Some(&requested), &resource()).unwrap_err();
        assert_eq!(err.to_string(), "files:write");
    }

    #[test]
    fn restriction_keeps_offline_access() {
        let allowed = ScopeSet::parse("mcp:tools").unwrap();
        let req = ScopeSet::parse("mcp:tools mcp:admin offline_access").unwrap();
        assert_eq!(
            restrict(&req, Some(&allowed)).to_string(),
            "mcp:tools offline_access"
        );
        assert_eq!(restrict(&req, None), req);
    }
}
