//! The settings that are secrets (`ldap_search_password`,
//! `oidc_client_secret`), kept sealed in the settings store: encrypted and
//! authenticated with a key every instance derives from the shared
//! `secret.key`, so a copy of the database does not give away the
//! directory's bind password or the provider's client secret. A stored
//! secret reads as `{"sealed": "<base64>"}`; one stored in clear by an
//! older version is read as it is and sealed at the next refresh.

use std::sync::Arc;

use harbor_auth::oidc::Sealer;
use harbor_core::SettingValues;
use serde_json::{json, Value};

/// The keys whose values are sealed.
pub(super) const SECRET_KEYS: &[&str] = &["ldap_search_password", "oidc_client_secret"];

/// Seals and opens secret settings.
#[derive(Debug, Clone)]
pub(super) struct SettingSeal {
    sealer: Arc<Sealer>,
}

impl SettingSeal {
    /// A seal with a key derived from `master_key` (32 bytes or more).
    pub(super) fn new(master_key: &[u8]) -> Result<SettingSeal, harbor_auth::AuthError> {
        Ok(SettingSeal {
            sealer: Arc::new(Sealer::derive(master_key, "settings")?),
        })
    }

    /// `value` of `key` as it is stored: sealed when `key` is a secret.
    pub(super) fn seal(&self, key: &str, value: &Value) -> Result<Value, harbor_auth::AuthError> {
        match value.as_str() {
            Some(plain) if SECRET_KEYS.contains(&key) => Ok(json!({
                "sealed": self.sealer.seal(plain.as_bytes(), key.as_bytes())?
            })),
            _ => Ok(value.clone()),
        }
    }

    /// `stored` with every sealed secret opened. A secret that does not
    /// open (another `secret.key`, an altered value) is left out, so its
    /// default stays in force, and logged.
    pub(super) fn open(&self, stored: &SettingValues) -> SettingValues {
        stored
            .iter()
            .filter_map(|(key, value)| {
                let Some(sealed) = value.get("sealed").and_then(Value::as_str) else {
                    return Some((key.clone(), value.clone()));
                };
                let plain = self
                    .sealer
                    .open(sealed, key.as_bytes())
                    .and_then(|p| String::from_utf8(p).ok());
                if plain.is_none() {
                    tracing::warn!(
                        key,
                        "a sealed setting does not open with this secret.key; its default stays"
                    );
                }
                plain.map(|p| (key.clone(), Value::String(p)))
            })
            .collect()
    }

    /// The secrets `stored` holds in clear, sealed: what to store again.
    pub(super) fn unsealed(&self, stored: &SettingValues) -> SettingValues {
        stored
            .iter()
            .filter(|(key, value)| SECRET_KEYS.contains(&key.as_str()) && value.is_string())
            .filter_map(|(key, value)| Some((key.clone(), self.seal(key, value).ok()?)))
            .collect()
    }
}

/// Sealed secrets without a seal (a server built without `secret.key`)
/// cannot be read: they are left out, and said once per refresh.
pub(super) fn without_seal(stored: &SettingValues) -> SettingValues {
    stored
        .iter()
        .filter(|(key, value)| {
            let sealed = value.get("sealed").is_some();
            if sealed {
                tracing::warn!(key, "a sealed setting cannot be read without secret.key");
            }
            !sealed
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn secrets_are_sealed_for_their_own_key_and_others_stay_as_they_are() {
        let seal = SettingSeal::new(&[7u8; 32]).unwrap();
        let sealed = seal
            .seal("ldap_search_password", &json!("bind-secret"))
            .unwrap();
        assert!(
            !sealed.to_string().contains("bind-secret"),
            "stored in clear: {sealed}"
        );
        assert_eq!(
            seal.seal("ldap_url", &json!("ldap://x")).unwrap(),
            json!("ldap://x")
        );
        let stored: SettingValues = [
            ("ldap_search_password".to_owned(), sealed.clone()),
            ("ldap_url".to_owned(), json!("ldap://x")),
            // Moved to another key: does not open there.
            ("oidc_client_secret".to_owned(), sealed),
        ]
        .into_iter()
        .collect();
        let open = seal.open(&stored);
        assert_eq!(open["ldap_search_password"], json!("bind-secret"));
        assert_eq!(open["ldap_url"], json!("ldap://x"));
        assert!(!open.contains_key("oidc_client_secret"));
        let other = SettingSeal::new(&[8u8; 32]).unwrap();
        assert!(!other.open(&stored).contains_key("ldap_search_password"));
        assert!(!without_seal(&stored).contains_key("ldap_search_password"));
    }

    #[test]
    fn secrets_stored_in_clear_are_found_for_sealing() {
        let seal = SettingSeal::new(&[7u8; 32]).unwrap();
        let stored: SettingValues = [
            ("oidc_client_secret".to_owned(), json!("in-clear")),
            ("read_only".to_owned(), json!(false)),
        ]
        .into_iter()
        .collect();
        let again = seal.unsealed(&stored);
        assert_eq!(again.len(), 1);
        assert_eq!(seal.open(&again)["oidc_client_secret"], json!("in-clear"));
    }
}
