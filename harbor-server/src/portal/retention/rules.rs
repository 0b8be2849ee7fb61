//! Tag retention's rules: adding, editing, disabling or enabling and
//! deleting one. The whole policy is written back with `PUT
//! /retentions/{id}`; the first rule creates it with `POST /retentions`.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::portal::error::PortalError;
use crate::portal::viewer::Change;
use crate::portal::PortalState;

use super::*;

/// The rule form as sent.
#[derive(Debug, Deserialize)]
pub(in crate::portal) struct RuleForm {
    repo_decoration: String,
    repo_pattern: String,
    template: String,
    param: Option<String>,
    tag_decoration: String,
    tag_pattern: String,
    untagged: Option<String>,
}

impl RuleForm {
    /// The rule in Harbor's JSON, checked against the templates; the
    /// label selectors of `old` (which the form does not show) are kept.
    fn rule(&self, templates: &[Value], old: Option<&Value>) -> Result<Value, PortalError> {
        let bad = |m: String| PortalError::new(StatusCode::BAD_REQUEST, m);
        let t = templates
            .iter()
            .find(|t| t["rule_template"] == self.template.as_str())
            .ok_or_else(|| bad(format!("unknown rule template {:?}", self.template)))?;
        let mut params = serde_json::Map::new();
        if t["params"].as_array().is_some_and(|p| !p.is_empty()) {
            let raw = self.param.as_deref().unwrap_or_default().trim();
            let n: u32 = raw.parse().map_err(|_| {
                bad(format!(
                    "\"{}\" needs a whole number of 0 or more in place of #",
                    t["display_text"].as_str().unwrap_or_default()
                ))
            })?;
            params.insert(self.template.clone(), json!(n));
        }
        if !matches!(
            self.repo_decoration.as_str(),
            "repoMatches" | "repoExcludes"
        ) {
            return Err(bad("repositories matching or excluding".into()));
        }
        if !matches!(self.tag_decoration.as_str(), "matches" | "excludes") {
            return Err(bad("tags matching or excluding".into()));
        }
        let (repo, tag) = (self.repo_pattern.trim(), self.tag_pattern.trim());
        if repo.is_empty() || tag.is_empty() {
            return Err(bad(
                "the repository and tag patterns are required (** for all)".into(),
            ));
        }
        let mut tags = vec![json!({
            "kind": "doublestar",
            "decoration": self.tag_decoration,
            "pattern": tag,
            "extras": json!({ "untagged": self.untagged.as_deref() == Some("true") }).to_string(),
        })];
        if let Some(old) = old {
            tags.extend(
                old["tag_selectors"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|s| s["kind"] == "label")
                    .cloned(),
            );
        }
        // The form edits the first repository selector; others stay.
        let mut repos = vec![json!({
            "kind": "doublestar",
            "decoration": self.repo_decoration,
            "pattern": repo,
        })];
        if let Some(old) = old {
            repos.extend(
                old["scope_selectors"]["repository"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .skip(1)
                    .cloned(),
            );
        }
        Ok(json!({
            "disabled": old.and_then(|o| o["disabled"].as_bool()).unwrap_or(false),
            "action": "retain",
            "template": self.template,
            "params": params,
            "tag_selectors": tags,
            "scope_selectors": { "repository": repos },
        }))
    }
}

/// Sends `policy` (changed) back with `PUT /retentions/{rid}`, then the
/// browser to the page.
pub(super) async fn put_policy(
    state: &PortalState,
    change: &Change<impl Sized>,
    id: i64,
    rid: i64,
    policy: Value,
) -> Result<Response, PortalError> {
    change
        .forward(
            &state.api,
            Method::PUT,
            &format!("/api/v2.0/retentions/{rid}"),
            Some(policy),
            &base(id),
        )
        .await
}

/// `POST .../tag-retention/rules`: a new rule (the project's policy is
/// created with it when it has none).
pub(in crate::portal) async fn add_rule(
    State(state): State<PortalState>,
    Path(id): Path<i64>,
    change: Change<RuleForm>,
) -> Result<Response, PortalError> {
    retention_frame(&state, &change.viewer, id).await?;
    let templates = templates(&state, &change.viewer).await?;
    let rule = change.form.rule(&templates, None)?;
    match policy(&state, &change.viewer, id).await? {
        Some((rid, mut policy)) => {
            match policy["rules"].as_array_mut() {
                Some(rules) => rules.push(rule),
                None => policy["rules"] = json!([rule]),
            }
            put_policy(&state, &change, id, rid, policy).await
        }
        None => {
            let body = json!({
                "algorithm": "or",
                "rules": [rule],
                "trigger": { "kind": "Schedule", "settings": { "cron": "" }, "references": {} },
                "scope": { "level": "project", "ref": id },
            });
            change
                .forward(
                    &state.api,
                    Method::POST,
                    "/api/v2.0/retentions",
                    Some(body),
                    &base(id),
                )
                .await
        }
    }
}

/// Rule `index` of `policy`, mutable; 404 when there is none.
fn rule_mut(policy: &mut Value, index: usize) -> Result<&mut Value, PortalError> {
    policy["rules"]
        .as_array_mut()
        .and_then(|r| r.get_mut(index))
        .ok_or_else(|| PortalError::new(StatusCode::NOT_FOUND, "no such rule"))
}

/// `POST .../tag-retention/rules/{rule}`: the rule changed.
pub(in crate::portal) async fn edit_rule(
    State(state): State<PortalState>,
    Path((id, index)): Path<(i64, usize)>,
    change: Change<RuleForm>,
) -> Result<Response, PortalError> {
    retention_frame(&state, &change.viewer, id).await?;
    let templates = templates(&state, &change.viewer).await?;
    let (rid, mut policy) = existing_policy(&state, &change.viewer, id).await?;
    let old = rule_mut(&mut policy, index)?;
    let new = change.form.rule(&templates, Some(old))?;
    *old = new;
    put_policy(&state, &change, id, rid, policy).await
}

/// `POST .../tag-retention/rules/{rule}/toggle`: disabled if enabled, and
/// the other way round.
pub(in crate::portal) async fn toggle_rule(
    State(state): State<PortalState>,
    Path((id, index)): Path<(i64, usize)>,
    change: Change<Value>,
) -> Result<Response, PortalError> {
    retention_frame(&state, &change.viewer, id).await?;
    let (rid, mut policy) = existing_policy(&state, &change.viewer, id).await?;
    let rule = rule_mut(&mut policy, index)?;
    let disabled = rule["disabled"].as_bool().unwrap_or(false);
    rule["disabled"] = json!(!disabled);
    put_policy(&state, &change, id, rid, policy).await
}

/// `POST .../tag-retention/rules/{rule}/delete`.
pub(in crate::portal) async fn delete_rule(
    State(state): State<PortalState>,
    Path((id, index)): Path<(i64, usize)>,
    change: Change<Value>,
) -> Result<Response, PortalError> {
    retention_frame(&state, &change.viewer, id).await?;
    let (rid, mut policy) = existing_policy(&state, &change.viewer, id).await?;
    rule_mut(&mut policy, index)?;
    if let Some(rules) = policy["rules"].as_array_mut() {
        rules.remove(index);
    }
    put_policy(&state, &change, id, rid, policy).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_read_in_harbors_words() {
        let templates = vec![
            json!({"rule_template": "latestPushedK", "display_text": "retain the most recently pushed # artifacts", "params": [{"type": "int"}]}),
        ];
        let rule = json!({
            "template": "latestPushedK", "params": {"latestPushedK": 3},
            "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**", "extras": "{\"untagged\":false}"}],
            "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]},
        });
        let text = rule_text(&rule, &templates).into_string();
        assert_eq!(
            text,
            "<span class=\"rule-text\">For the repositories matching <code>**</code>, retain the most recently pushed 3 artifacts with tags matching <code>**</code></span>"
        );
        assert_eq!(schedule_of(""), ("None", ""));
        assert_eq!(schedule_of("0 0 0 * * *"), ("Daily", "0 0 0 * * *"));
        assert_eq!(schedule_of("0 5 * * * *").0, "Custom");
    }

    #[test]
    fn a_rule_form_becomes_harbors_rule_or_a_clear_refusal() {
        let templates = vec![
            json!({"rule_template": "latestPushedK", "display_text": "retain the most recently pushed # artifacts", "params": [{"type": "int"}]}),
            json!({"rule_template": "always", "display_text": "retain always", "params": []}),
        ];
        let form = |template: &str, param: &str| RuleForm {
            repo_decoration: "repoExcludes".into(),
            repo_pattern: "tmp/**".into(),
            template: template.into(),
            param: Some(param.into()),
            tag_decoration: "matches".into(),
            tag_pattern: "v*".into(),
            untagged: Some("true".into()),
        };
        let r = form("latestPushedK", "3").rule(&templates, None).unwrap();
        assert_eq!(r["params"]["latestPushedK"], 3);
        assert_eq!(
            r["scope_selectors"]["repository"][0]["decoration"],
            "repoExcludes"
        );
        assert_eq!(r["tag_selectors"][0]["extras"], "{\"untagged\":true}");
        let r = form("always", "").rule(&templates, None).unwrap();
        assert_eq!(r["params"], json!({}));
        assert!(form("latestPushedK", "").rule(&templates, None).is_err());
        assert!(form("latestPushedK", "-1").rule(&templates, None).is_err());
        assert!(form("nope", "1").rule(&templates, None).is_err());
    }
}
