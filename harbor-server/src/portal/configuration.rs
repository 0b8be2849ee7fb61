//! Administration: the configuration. Authentication (the mode, and the
//! LDAP and OIDC settings with "Test LDAP Server" and "Test OIDC Server"),
//! and the system settings (who may create projects, the default project
//! quota, token and robot lifetimes, webhooks on or off, read-only mode),
//! as `/api/v2.0/configurations` has them. Secrets (the LDAP search
//! password, the OIDC client secret) are written, never shown: an empty
//! field keeps the stored one. System administrators only.

use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::error::PortalError;
use super::fields::Fields;
use super::layout::{self, Nav};
use super::viewer::{Change, Viewer};
use super::PortalState;

fn admins_only(viewer: &Viewer) -> Result<(), PortalError> {
    viewer.admin_only("Only system administrators change the configuration.")
}

/// How an authentication setting is edited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    /// A line of text.
    Text,
    /// Written, never shown: empty keeps the stored value.
    Secret,
    /// A whole number.
    Number,
    /// On or off.
    Flag,
    /// An LDAP search scope (0 base, 1 one level, 2 subtree).
    Scope,
}

/// The LDAP settings the API stores, in Harbor's order and words.
const LDAP: &[(&str, &str, Input)] = &[
    ("ldap_url", "LDAP URL", Input::Text),
    ("ldap_search_dn", "LDAP Search DN", Input::Text),
    (
        "ldap_search_password",
        "LDAP Search Password",
        Input::Secret,
    ),
    ("ldap_base_dn", "LDAP Base DN", Input::Text),
    ("ldap_filter", "LDAP Filter", Input::Text),
    ("ldap_uid", "LDAP UID", Input::Text),
    ("ldap_scope", "LDAP Scope", Input::Scope),
    (
        "ldap_timeout",
        "LDAP Connection Timeout (seconds)",
        Input::Number,
    ),
    ("ldap_verify_cert", "LDAP Verify Certificate", Input::Flag),
    ("ldap_starttls", "LDAP StartTLS", Input::Flag),
    ("ldap_group_base_dn", "LDAP Group Base DN", Input::Text),
    ("ldap_group_search_filter", "LDAP Group Filter", Input::Text),
    ("ldap_group_attribute_name", "LDAP Group GID", Input::Text),
    ("ldap_group_admin_dn", "LDAP Group Admin DN", Input::Text),
    (
        "ldap_group_membership_attribute",
        "LDAP Group Membership",
        Input::Text,
    ),
    (
        "ldap_group_search_scope",
        "LDAP Group Search Scope",
        Input::Scope,
    ),
];

/// The OIDC settings the API stores, in Harbor's order and words.
const OIDC: &[(&str, &str, Input)] = &[
    ("oidc_name", "OIDC Provider Name", Input::Text),
    ("oidc_endpoint", "OIDC Endpoint", Input::Text),
    ("oidc_client_id", "OIDC Client ID", Input::Text),
    ("oidc_client_secret", "OIDC Client Secret", Input::Secret),
    ("oidc_groups_claim", "Group Claim Name", Input::Text),
    ("oidc_admin_group", "OIDC Admin Group", Input::Text),
    ("oidc_group_filter", "OIDC Group Filter", Input::Text),
    ("oidc_scope", "OIDC Scope", Input::Text),
    ("oidc_verify_cert", "Verify Certificate", Input::Flag),
    ("oidc_auto_onboard", "Automatic onboarding", Input::Flag),
    ("oidc_user_claim", "Username Claim", Input::Text),
    (
        "oidc_extra_redirect_parms",
        "Extra redirect parameters (JSON)",
        Input::Text,
    ),
];

/// The auth modes, as Harbor names them.
const MODES: [(&str, &str); 3] = [
    ("db_auth", "Database"),
    ("ldap_auth", "LDAP"),
    ("oidc_auth", "OIDC"),
];

/// `saved=` after a change.
#[derive(Debug, Deserialize)]
pub(super) struct SavedQuery {
    saved: Option<String>,
}

/// What a "Test ... Server" button found.
struct Outcome {
    /// Which: `ldap` or `oidc`.
    which: &'static str,
    ok: bool,
    message: String,
}

/// One authentication setting's control, showing `value`.
fn control(key: &str, label: &str, input: Input, value: &Value) -> Markup {
    html! {
        @match input {
            Input::Flag => {
                label.check {
                    input type="checkbox" id=(key) name=(key) value="true"
                        checked[value.as_bool().unwrap_or(false)];
                    (label)
                }
            }
            Input::Scope => {
                div {
                    label for=(key) { (label) }
                    select id=(key) name=(key) {
                        @for (v, name) in [(0, "Base"), (1, "OneLevel"), (2, "Subtree")] {
                            option value=(v) selected[value.as_i64() == Some(v)] { (name) }
                        }
                    }
                }
            }
            Input::Number => {
                div {
                    label for=(key) { (label) }
                    input type="number" id=(key) name=(key) min="1" value=(value.as_i64().unwrap_or(5));
                }
            }
            Input::Secret => {
                div {
                    label for=(key) { (label) }
                    // Never filled in: the API does not show it.
                    input type="password" id=(key) name=(key) autocomplete="new-password"
                        placeholder="unchanged when empty";
                }
            }
            Input::Text => {
                div {
                    label for=(key) { (label) }
                    input type="text" id=(key) name=(key) value=(value.as_str().unwrap_or_default());
                }
            }
        }
    }
}

fn outcome_line(outcome: Option<&Outcome>, which: &str) -> Markup {
    html! {
        @if let Some(o) = outcome.filter(|o| o.which == which) {
            p id=(format!("{which}-ping-result")) role="status"
                class=(if o.ok { "notice" } else { "error" }) {
                (o.message)
            }
        }
    }
}

/// The page, showing `shown` (the stored values, or those a test button
/// was pressed with).
async fn render(
    state: &PortalState,
    viewer: &Viewer,
    saved: bool,
    typed: Option<&Map<String, Value>>,
    outcome: Option<&Outcome>,
) -> Result<Response, PortalError> {
    let c: Value = state
        .api
        .get(&viewer.call_as, "/api/v2.0/configurations")
        .await?
        .json()?;
    let value = |k: &str| {
        typed
            .and_then(|t| t.get(k).cloned())
            .unwrap_or_else(|| c[k]["value"].clone())
    };
    let editable = |k: &str| c[k]["editable"].as_bool().unwrap_or(false);
    let auth_mode = value("auth_mode").as_str().unwrap_or("db_auth").to_owned();
    let restriction = value("project_creation_restriction")
        .as_str()
        .unwrap_or("everyone")
        .to_owned();
    let quota = value("storage_per_project").as_i64().unwrap_or(-1);
    let quota_gib = if quota < 0 { -1 } else { quota >> 30 };
    let stored = |k: &str| c.get(k).is_some() || k.ends_with("_password") || k.ends_with("_secret");
    let body = html! {
        h1 { "Configuration" }
        @if saved { p.notice role="status" { "The configuration was saved." } }
        form.panel id="configuration" method="post" action="/harbor/configs" {
            (layout::csrf_field(&viewer.csrf))
            // Enter in a field saves (the first submit button is the
            // form's default), not "Test LDAP Server" further down.
            button.default-submit type="submit" tabindex="-1" aria-hidden="true" { "Save" }
            h2 { "Authentication" }
            div.row {
                div {
                    label for="auth_mode" { "Auth Mode" }
                    select id="auth_mode" name="auth_mode" disabled[!editable("auth_mode")]
                        aria-describedby="auth-mode-rule" {
                        @for (v, label) in MODES {
                            option value=(v) selected[auth_mode == v] { (label) }
                        }
                    }
                    p.muted id="auth-mode-rule" {
                        @if editable("auth_mode") {
                            "The auth mode can change only while no user but admin exists."
                        } @else {
                            "The auth mode can no longer change: users other than admin exist (Harbor changes it only while admin is the only user)."
                        }
                    }
                }
            }
            fieldset id="ldap-settings" {
                legend { "LDAP" }
                div.row {
                    @for (key, label, input) in LDAP.iter().filter(|(k, _, _)| stored(k)) {
                        (control(key, label, *input, &value(key)))
                    }
                }
                button.secondary type="submit" formaction="/harbor/configs/ldap-ping" { "Test LDAP Server" }
                (outcome_line(outcome, "ldap"))
            }
            fieldset id="oidc-settings" {
                legend { "OIDC" }
                div.row {
                    @for (key, label, input) in OIDC.iter().filter(|(k, _, _)| stored(k)) {
                        (control(key, label, *input, &value(key)))
                    }
                }
                button.secondary type="submit" formaction="/harbor/configs/oidc-ping" { "Test OIDC Server" }
                (outcome_line(outcome, "oidc"))
            }
            h2 { "System Settings" }
            div.row {
                div {
                    label for="project_creation_restriction" { "Project Creation" }
                    select id="project_creation_restriction" name="project_creation_restriction" {
                        @for (v, label) in [("everyone", "Everyone"), ("adminonly", "Admin Only")] {
                            option value=(v) selected[restriction == v] { (label) }
                        }
                    }
                }
                div {
                    label for="storage_per_project" { "Default quota per project (GiB, -1 unlimited)" }
                    input type="number" id="storage_per_project" name="storage_per_project" min="-1"
                        value=(quota_gib);
                }
                div {
                    label for="token_expiration" { "Token expiration (minutes)" }
                    input type="number" id="token_expiration" name="token_expiration" min="1"
                        value=(value("token_expiration").as_i64().unwrap_or(30));
                }
                div {
                    label for="robot_token_duration" { "Robot token expiration (days)" }
                    input type="number" id="robot_token_duration" name="robot_token_duration" min="1"
                        value=(value("robot_token_duration").as_i64().unwrap_or(30));
                }
            }
            div.row {
                label.check {
                    input type="checkbox" name="notification_enable" value="true"
                        checked[value("notification_enable").as_bool().unwrap_or(true)];
                    "Webhooks enabled"
                }
                label.check {
                    input type="checkbox" id="read_only" name="read_only" value="true"
                        checked[value("read_only").as_bool().unwrap_or(false)];
                    "Repository read only (pushes and deletes refused)"
                }
            }
            button type="submit" { "Save" }
        }
    };
    Ok(layout::html(layout::page(
        "Configuration",
        Some(viewer),
        Nav::Configuration,
        body,
    )))
}

/// `GET /harbor/configs`.
pub(super) async fn page(
    State(state): State<PortalState>,
    viewer: Viewer,
    Query(q): Query<SavedQuery>,
) -> Result<Response, PortalError> {
    admins_only(&viewer)?;
    render(&state, &viewer, q.saved.is_some(), None, None).await
}

/// A field's value as sent (untrimmed: a setting may keep its spaces).
fn field<'a>(form: &'a Fields, key: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn number(name: &str, v: &str) -> Result<i64, PortalError> {
    v.trim()
        .parse()
        .map_err(|_| PortalError::bad_request(format!("{name} must be a whole number")))
}

/// The authentication settings the form holds, as the API takes them;
/// an empty secret is left out (the stored one stays).
fn auth_settings(form: &Fields) -> Result<Map<String, Value>, PortalError> {
    let mut out = Map::new();
    if let Some(mode) = field(form, "auth_mode") {
        if !MODES.iter().any(|(m, _)| *m == mode) {
            return Err(PortalError::bad_request(format!(
                "unknown auth mode {mode:?}"
            )));
        }
        out.insert("auth_mode".into(), json!(mode));
    }
    for (key, label, input) in LDAP.iter().chain(OIDC) {
        let raw = field(form, key);
        let v = match input {
            Input::Flag => json!(raw == Some("true")),
            // Not in the form (an older page): leave the setting alone.
            _ if raw.is_none() => continue,
            Input::Secret => match raw.filter(|s| !s.is_empty()) {
                Some(s) => json!(s),
                None => continue,
            },
            Input::Text => json!(raw.unwrap_or_default().trim()),
            Input::Number | Input::Scope => json!(number(label, raw.unwrap_or_default())?),
        };
        out.insert((*key).to_owned(), v);
    }
    Ok(out)
}

/// `POST /harbor/configs`: the settings that changed.
pub(super) async fn save(
    State(state): State<PortalState>,
    change: Change<Fields>,
) -> Result<Response, PortalError> {
    admins_only(&change.viewer)?;
    let f = &change.form;
    let text = |k: &str| field(f, k).unwrap_or_default();
    let gib = number("The default quota", text("storage_per_project"))?;
    let bytes = if gib < 0 {
        -1
    } else {
        gib.checked_mul(1 << 30)
            .ok_or_else(|| PortalError::bad_request("the default quota is too large"))?
    };
    let stored: Value = state
        .api
        .get(&change.viewer.call_as, "/api/v2.0/configurations")
        .await?
        .json()?;
    let mut body = Map::new();
    // Authentication settings are sent only when changed: the API checks
    // each one sent (an OIDC endpoint, say), and the mode only may change
    // while admin is the only user.
    for (k, v) in auth_settings(f)? {
        if stored[&k]["value"] != v {
            body.insert(k, v);
        }
    }
    body.insert(
        "project_creation_restriction".into(),
        json!(text("project_creation_restriction")),
    );
    body.insert("storage_per_project".into(), json!(bytes));
    body.insert(
        "token_expiration".into(),
        json!(number("The token expiration", text("token_expiration"))?),
    );
    body.insert(
        "robot_token_duration".into(),
        json!(number(
            "The robot token expiration",
            text("robot_token_duration")
        )?),
    );
    body.insert(
        "notification_enable".into(),
        json!(field(f, "notification_enable").is_some()),
    );
    body.insert("read_only".into(), json!(field(f, "read_only").is_some()));
    change
        .forward(
            &state.api,
            Method::PUT,
            "/api/v2.0/configurations",
            Some(Value::Object(body)),
            "/harbor/configs?saved=1",
        )
        .await
}

/// The settings typed in, to show again after a test (secrets never).
fn typed(form: &Fields) -> Result<Map<String, Value>, PortalError> {
    let mut t = auth_settings(form)?;
    t.retain(|k, _| !k.ends_with("_password") && !k.ends_with("_secret"));
    Ok(t)
}

/// `POST /harbor/configs/ldap-ping`: "Test LDAP Server" with the form's
/// settings (the stored search password when the field is empty); the
/// page again, with what the form held and the result.
pub(super) async fn ldap_ping(
    State(state): State<PortalState>,
    change: Change<Fields>,
) -> Result<Response, PortalError> {
    admins_only(&change.viewer)?;
    let s = auth_settings(&change.form)?;
    let mut conf = Map::new();
    for key in [
        "ldap_url",
        "ldap_search_dn",
        "ldap_search_password",
        "ldap_base_dn",
        "ldap_filter",
        "ldap_uid",
        "ldap_scope",
        "ldap_verify_cert",
        "ldap_starttls",
    ] {
        if let Some(v) = s.get(key) {
            conf.insert(key.into(), v.clone());
        }
    }
    if let Some(t) = s.get("ldap_timeout") {
        conf.insert("ldap_connection_timeout".into(), t.clone());
    }
    let answer = state
        .api
        .call(
            &change.viewer.call_as,
            Method::POST,
            "/api/v2.0/ldap/ping",
            Some(Value::Object(conf)),
            Some(&change.csrf),
        )
        .await?;
    let outcome = if answer.status.is_success() {
        let r: Value = answer.json()?;
        let ok = r["success"].as_bool().unwrap_or(false);
        Outcome {
            which: "ldap",
            ok,
            message: if ok {
                "Connection to the LDAP server succeeded.".into()
            } else {
                format!(
                    "Connection to the LDAP server failed: {}",
                    r["message"].as_str().unwrap_or("no reason given")
                )
            },
        }
    } else {
        let status = answer.status;
        let reason = match answer.ok() {
            Err(PortalError::Page { message, .. }) => message,
            _ => status.to_string(),
        };
        Outcome {
            which: "ldap",
            ok: false,
            message: format!("Connection to the LDAP server failed: {reason}"),
        }
    };
    render(
        &state,
        &change.viewer,
        false,
        Some(&typed(&change.form)?),
        Some(&outcome),
    )
    .await
}

/// `POST /harbor/configs/oidc-ping`: "Test OIDC Server" with the form's
/// endpoint and certificate check.
pub(super) async fn oidc_ping(
    State(state): State<PortalState>,
    change: Change<Fields>,
) -> Result<Response, PortalError> {
    admins_only(&change.viewer)?;
    let s = auth_settings(&change.form)?;
    let url = s["oidc_endpoint"].as_str().unwrap_or_default().to_owned();
    let outcome = if url.is_empty() {
        Outcome {
            which: "oidc",
            ok: false,
            message: "Give the OIDC endpoint to test.".into(),
        }
    } else {
        let answer = state
            .api
            .call(
                &change.viewer.call_as,
                Method::POST,
                "/api/v2.0/system/oidc/ping",
                Some(json!({ "url": url, "verify_cert": s["oidc_verify_cert"] })),
                Some(&change.csrf),
            )
            .await?;
        match answer.ok() {
            Ok(_) => Outcome {
                which: "oidc",
                ok: true,
                message: "Connection to the OIDC server succeeded.".into(),
            },
            Err(PortalError::Page { message, .. }) => Outcome {
                which: "oidc",
                ok: false,
                message: format!("Connection to the OIDC server failed: {message}"),
            },
            Err(e) => return Err(e),
        }
    };
    render(
        &state,
        &change.viewer,
        false,
        Some(&typed(&change.form)?),
        Some(&outcome),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portal::fields::of as form;

    #[test]
    fn an_empty_secret_keeps_the_stored_one_and_flags_are_sent_either_way() {
        let s = auth_settings(&form(&[
            ("auth_mode", "ldap_auth"),
            ("ldap_url", " ldap://x "),
            ("ldap_search_password", ""),
            ("ldap_scope", "2"),
            ("oidc_client_secret", "s3cret"),
        ]))
        .unwrap();
        assert_eq!(s["auth_mode"], "ldap_auth");
        assert_eq!(s["ldap_url"], "ldap://x");
        assert_eq!(s["ldap_scope"], 2);
        assert!(!s.contains_key("ldap_search_password"));
        assert_eq!(s["oidc_client_secret"], "s3cret");
        assert_eq!(s["ldap_verify_cert"], false);
        assert!(!s.contains_key("ldap_base_dn"), "not in the form");
        assert!(!typed(&form(&[("oidc_client_secret", "s3cret")]))
            .unwrap()
            .contains_key("oidc_client_secret"));
        assert!(auth_settings(&form(&[("auth_mode", "x")])).is_err());
        assert!(auth_settings(&form(&[("ldap_timeout", "soon")])).is_err());
    }
}
