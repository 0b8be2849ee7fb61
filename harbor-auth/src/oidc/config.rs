//! The OIDC settings, with Harbor's names and rules.

use std::collections::BTreeMap;

/// How the server talks to one OpenID Connect provider: Harbor's `oidc_*`
/// configuration items. Its `Debug` hides the client secret.
#[derive(Clone, PartialEq, Eq)]
pub struct OidcConfig {
    /// A name for the provider, shown to users (`oidc_name`).
    pub name: String,
    /// The issuer URL; its discovery document is
    /// `<endpoint>/.well-known/openid-configuration` (`oidc_endpoint`).
    pub endpoint: String,
    /// The client registered at the provider (`oidc_client_id`).
    pub client_id: String,
    /// Its secret (`oidc_client_secret`).
    pub client_secret: String,
    /// Scopes asked for; `openid` among them (`oidc_scope`, comma-separated
    /// in Harbor's API).
    pub scope: Vec<String>,
    /// Check the provider's TLS certificate (`oidc_verify_cert`).
    pub verify_cert: bool,
    /// Onboard a new user under the name its claims give, without asking
    /// (`oidc_auto_onboard`).
    pub auto_onboard: bool,
    /// The claim the username comes from; empty: `name`, then
    /// `preferred_username` (`oidc_user_claim`).
    pub user_claim: String,
    /// The claim listing the user's groups; empty: none
    /// (`oidc_groups_claim`).
    pub groups_claim: String,
    /// Members of this group are system administrators while they are
    /// (`oidc_admin_group`).
    pub admin_group: String,
    /// Only groups whose name this regular expression matches are kept
    /// (`oidc_group_filter`; empty: all).
    pub group_filter: String,
    /// Extra parameters of the authorization request
    /// (`oidc_extra_redirect_parms`).
    pub extra_redirect_parms: BTreeMap<String, String>,
}

impl std::fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcConfig")
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &if self.client_secret.is_empty() {
                    ""
                } else {
                    "***"
                },
            )
            .field("scope", &self.scope)
            .field("verify_cert", &self.verify_cert)
            .field("auto_onboard", &self.auto_onboard)
            .field("user_claim", &self.user_claim)
            .field("groups_claim", &self.groups_claim)
            .field("admin_group", &self.admin_group)
            .field("group_filter", &self.group_filter)
            .field("extra_redirect_parms", &self.extra_redirect_parms)
            .finish()
    }
}

impl Default for OidcConfig {
    fn default() -> Self {
        OidcConfig {
            name: String::new(),
            endpoint: String::new(),
            client_id: String::new(),
            client_secret: String::new(),
            scope: vec!["openid".into(), "offline_access".into()],
            verify_cert: true,
            auto_onboard: false,
            user_claim: String::new(),
            groups_claim: String::new(),
            admin_group: String::new(),
            group_filter: String::new(),
            extra_redirect_parms: BTreeMap::new(),
        }
    }
}

impl OidcConfig {
    /// Whether enough is set to start a login: an endpoint and a client id.
    pub fn is_complete(&self) -> bool {
        !self.endpoint.is_empty() && !self.client_id.is_empty()
    }

    /// Parses Harbor's comma-separated `oidc_scope`, which must include
    /// `openid`.
    pub fn parse_scope(s: &str) -> Result<Vec<String>, String> {
        let scopes: Vec<String> = s
            .split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect();
        if !scopes.iter().any(|x| x == "openid") {
            return Err("oidc_scope must include openid".into());
        }
        if scopes.iter().any(|x| x.contains(char::is_whitespace)) {
            return Err("a scope in oidc_scope contains a space".into());
        }
        Ok(scopes)
    }

    /// Checks an issuer URL as `oidc_endpoint` takes it: http(s), a host,
    /// no query or fragment.
    pub fn check_endpoint(s: &str) -> Result<(), String> {
        let u = url::Url::parse(s).map_err(|e| format!("oidc_endpoint is not a URL: {e}"))?;
        if !matches!(u.scheme(), "https" | "http") || u.host_str().is_none() {
            return Err("oidc_endpoint must be an http(s) URL with a host".into());
        }
        if u.query().is_some() || u.fragment().is_some() {
            return Err("oidc_endpoint must have no query or fragment".into());
        }
        Ok(())
    }

    /// Checks `oidc_group_filter`: a regular expression, or empty.
    pub fn check_group_filter(s: &str) -> Result<(), String> {
        if s.is_empty() {
            return Ok(());
        }
        regex::Regex::new(s)
            .map(|_| ())
            .map_err(|e| format!("oidc_group_filter is not a regular expression: {e}"))
    }

    /// Parses `oidc_extra_redirect_parms`: a JSON object of strings.
    pub fn parse_extra_parms(s: &str) -> Result<BTreeMap<String, String>, String> {
        if s.trim().is_empty() {
            return Ok(BTreeMap::new());
        }
        serde_json::from_str(s)
            .map_err(|e| format!("oidc_extra_redirect_parms must be a JSON object of strings: {e}"))
    }
}
