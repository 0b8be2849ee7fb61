//! The `oidc_*` keys of `/configurations`, in Harbor's names and types.

use harbor_auth::oidc::OidcConfig;
use serde_json::{json, Value};

use crate::api::HarborError;

/// Sets `key` of `config` to `value`, checked.
pub(crate) fn apply(config: &mut OidcConfig, key: &str, value: &Value) -> Result<(), HarborError> {
    let bad = |what: &str| HarborError::bad_request(format!("{key} must be {what}, not {value}"));
    let text = || {
        value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| bad("a string"))
    };
    let flag = || value.as_bool().ok_or_else(|| bad("true or false"));
    match key {
        "oidc_name" => config.name = text()?,
        "oidc_endpoint" => {
            let endpoint = text()?;
            if !endpoint.is_empty() {
                OidcConfig::check_endpoint(&endpoint).map_err(HarborError::bad_request)?;
            }
            config.endpoint = endpoint.trim_end_matches('/').to_owned();
        }
        "oidc_client_id" => config.client_id = text()?,
        "oidc_client_secret" => config.client_secret = text()?,
        "oidc_scope" => {
            config.scope = OidcConfig::parse_scope(&text()?).map_err(HarborError::bad_request)?
        }
        "oidc_verify_cert" => config.verify_cert = flag()?,
        "oidc_auto_onboard" => config.auto_onboard = flag()?,
        "oidc_user_claim" => config.user_claim = text()?,
        "oidc_groups_claim" => config.groups_claim = text()?,
        "oidc_admin_group" => config.admin_group = text()?,
        "oidc_group_filter" => {
            let filter = text()?;
            OidcConfig::check_group_filter(&filter).map_err(HarborError::bad_request)?;
            config.group_filter = filter;
        }
        "oidc_extra_redirect_parms" => {
            config.extra_redirect_parms =
                OidcConfig::parse_extra_parms(&text()?).map_err(HarborError::bad_request)?
        }
        _ => return Err(HarborError::bad_request(format!("{key} is not a setting"))),
    }
    Ok(())
}

/// The value `GET /configurations` shows for `key` (never the client secret).
pub(crate) fn value(config: &OidcConfig, key: &str) -> Value {
    match key {
        "oidc_name" => json!(config.name),
        "oidc_endpoint" => json!(config.endpoint),
        "oidc_client_id" => json!(config.client_id),
        "oidc_scope" => json!(config.scope.join(",")),
        "oidc_verify_cert" => json!(config.verify_cert),
        "oidc_auto_onboard" => json!(config.auto_onboard),
        "oidc_user_claim" => json!(config.user_claim),
        "oidc_groups_claim" => json!(config.groups_claim),
        "oidc_admin_group" => json!(config.admin_group),
        "oidc_group_filter" => json!(config.group_filter),
        "oidc_extra_redirect_parms" => json!(if config.extra_redirect_parms.is_empty() {
            String::new()
        } else {
            serde_json::to_string(&config.extra_redirect_parms).unwrap_or_default()
        }),
        _ => json!(""),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn oidc_settings_are_checked_as_harbor_checks_them() {
        let mut c = OidcConfig::default();
        assert!(
            apply(&mut c, "oidc_scope", &json!("profile,email")).is_err(),
            "no openid"
        );
        apply(
            &mut c,
            "oidc_scope",
            &json!("openid, profile ,offline_access"),
        )
        .unwrap();
        assert_eq!(
            value(&c, "oidc_scope"),
            json!("openid,profile,offline_access")
        );
        assert!(apply(&mut c, "oidc_endpoint", &json!("ftp://x")).is_err());
        apply(&mut c, "oidc_endpoint", &json!("https://idp.example/")).unwrap();
        assert_eq!(c.endpoint, "https://idp.example");
        assert!(apply(&mut c, "oidc_group_filter", &json!("(")).is_err());
        assert!(apply(&mut c, "oidc_verify_cert", &json!("no")).is_err());
        assert!(apply(&mut c, "oidc_extra_redirect_parms", &json!("[1]")).is_err());
        apply(
            &mut c,
            "oidc_extra_redirect_parms",
            &json!("{\"audience\":\"x\"}"),
        )
        .unwrap();
        assert_eq!(
            value(&c, "oidc_extra_redirect_parms"),
            json!("{\"audience\":\"x\"}")
        );
    }
}
