//! Harbor's JSON shapes of retention policies (`RetentionPolicy`,
//! `RetentionRule`, `RetentionSelector`, `RetentionRuleTrigger`), read
//! into the core model and written back: the API's bodies and the rules
//! in the `TAG_RETENTION` payload.

use std::collections::BTreeMap;

use harbor_core::retention::{LabelDecoration, RetentionRule, RuleTemplate, TagSelector};
use harbor_core::selector::{Decoration, Selector, DOUBLESTAR};
use harbor_core::{Error, ErrorCode, PolicySpec, Result, RetentionPolicy};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Harbor's only algorithm: rules combined with OR.
pub const ALGORITHM: &str = "or";
/// Harbor's only rule action.
pub const ACTION: &str = "retain";
/// Harbor's only trigger kind.
pub const SCHEDULE: &str = "Schedule";
/// Harbor's only scope level.
pub const PROJECT: &str = "project";
/// The one scope selector key.
pub const REPOSITORY: &str = "repository";
/// The kind of label selectors.
pub const LABEL: &str = "label";

/// Harbor's `RetentionSelector`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SelectorBody {
    /// `doublestar` or `label`.
    #[serde(default)]
    pub kind: Option<String>,
    /// `matches`, `excludes`, `repoMatches`, `repoExcludes`, `withLabels`,
    /// `withoutLabels`.
    #[serde(default)]
    pub decoration: Option<String>,
    /// The pattern (or labels).
    #[serde(default)]
    pub pattern: Option<String>,
    /// `{"untagged": bool}` as a string.
    #[serde(default)]
    pub extras: Option<String>,
}

/// Harbor's `RetentionRule`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RuleBody {
    /// Its position, from 1 (Harbor numbers the rules of a policy).
    #[serde(default)]
    pub id: Option<i64>,
    /// Kept and shown.
    #[serde(default)]
    pub priority: Option<i64>,
    /// A disabled rule retains nothing.
    #[serde(default)]
    pub disabled: Option<bool>,
    /// Always `retain`.
    #[serde(default)]
    pub action: Option<String>,
    /// The template id.
    #[serde(default)]
    pub template: Option<String>,
    /// `{template: N}`.
    #[serde(default)]
    pub params: Option<serde_json::Map<String, Value>>,
    /// Tag selectors.
    #[serde(default)]
    pub tag_selectors: Option<Vec<SelectorBody>>,
    /// `{repository: [...]}`.
    #[serde(default)]
    pub scope_selectors: Option<BTreeMap<String, Vec<SelectorBody>>>,
}

/// Harbor's `RetentionRuleTrigger`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TriggerBody {
    /// Always `Schedule`.
    #[serde(default)]
    pub kind: Option<String>,
    /// `{cron: "..."}`; an empty cron is no schedule.
    #[serde(default)]
    pub settings: Option<serde_json::Map<String, Value>>,
    /// Kept empty.
    #[serde(default)]
    pub references: Option<serde_json::Map<String, Value>>,
}

/// Harbor's `RetentionPolicyScope`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScopeBody {
    /// Always `project`.
    #[serde(default)]
    pub level: Option<String>,
    /// The project's id.
    #[serde(default, rename = "ref")]
    pub reference: Option<i64>,
}

/// Harbor's `RetentionPolicy`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PolicyBody {
    /// Id.
    #[serde(default)]
    pub id: Option<i64>,
    /// Always `or`.
    #[serde(default)]
    pub algorithm: Option<String>,
    /// The rules.
    #[serde(default)]
    pub rules: Option<Vec<RuleBody>>,
    /// The schedule.
    #[serde(default)]
    pub trigger: Option<TriggerBody>,
    /// The project.
    #[serde(default)]
    pub scope: Option<ScopeBody>,
}

fn bad(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::BadRequest, message)
}

/// The project a body's scope names; `BAD_REQUEST` unless it is
/// `{level: "project", ref: <id>}`.
pub fn scope_project(body: &PolicyBody) -> Result<i64> {
    let scope = body
        .scope
        .as_ref()
        .ok_or_else(|| bad("a retention policy needs a scope"))?;
    if scope.level.as_deref() != Some(PROJECT) {
        return Err(bad(
            "the scope level of a retention policy must be \"project\"",
        ));
    }
    scope
        .reference
        .filter(|r| *r > 0)
        .ok_or_else(|| bad("the scope of a retention policy needs the project id as ref"))
}

/// The core model of a body, for `project_id`; `BAD_REQUEST` naming what
/// is wrong.
pub fn policy_spec(body: &PolicyBody, project_id: i64) -> Result<PolicySpec> {
    if let Some(a) = body.algorithm.as_deref() {
        if !a.is_empty() && a != ALGORITHM {
            return Err(bad(format!(
                "unknown algorithm {a:?}: only \"or\" is supported"
            )));
        }
    }
    let rules = body
        .rules
        .iter()
        .flatten()
        .map(rule)
        .collect::<Result<Vec<_>>>()?;
    let schedule = match &body.trigger {
        None => None,
        Some(t) => {
            if let Some(kind) = t.kind.as_deref() {
                if !kind.is_empty() && kind != SCHEDULE {
                    return Err(bad(format!("unknown trigger kind {kind:?}")));
                }
            }
            match t.settings.as_ref().and_then(|s| s.get("cron")) {
                None | Some(Value::Null) => None,
                Some(Value::String(c)) if c.trim().is_empty() => None,
                Some(Value::String(c)) => Some(c.trim().to_owned()),
                Some(_) => return Err(bad("trigger.settings.cron must be a string")),
            }
        }
    };
    let spec = PolicySpec {
        project_id,
        rules,
        schedule,
    };
    spec.validate()?;
    Ok(spec)
}

fn rule(body: &RuleBody) -> Result<RetentionRule> {
    if let Some(a) = body.action.as_deref() {
        if a != ACTION {
            return Err(bad(format!("unknown rule action {a:?}: only \"retain\"")));
        }
    }
    let template = body
        .template
        .as_deref()
        .ok_or_else(|| bad("a retention rule needs a template"))?;
    let param = match body.params.as_ref().and_then(|p| p.get(template)) {
        None | Some(Value::Null) => None,
        Some(v) => Some(integer(template, v)?),
    };
    let template = RuleTemplate::from_parts(template, param)?;
    let tag_selectors = body
        .tag_selectors
        .iter()
        .flatten()
        .map(tag_selector)
        .collect::<Result<Vec<_>>>()?;
    let mut repositories = Vec::new();
    for (key, list) in body.scope_selectors.iter().flatten() {
        if key != REPOSITORY {
            return Err(bad(format!("unknown scope selector {key:?}")));
        }
        for s in list {
            let d = decoration(s, true)?;
            repositories.push(Selector::new(d, s.pattern.as_deref().unwrap_or(""))?);
        }
    }
    Ok(RetentionRule {
        priority: body.priority.unwrap_or(0),
        disabled: body.disabled.unwrap_or(false),
        template,
        tag_selectors,
        repositories,
    })
}

/// A JSON number (or numeric string, as Harbor's `ParseJSONInt`) that is
/// a whole number.
fn integer(name: &str, v: &Value) -> Result<i64> {
    let n = match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    n.ok_or_else(|| bad(format!("{name} must be an integer")))
}

fn decoration(s: &SelectorBody, repository: bool) -> Result<Decoration> {
    let kind = s.kind.as_deref().unwrap_or(DOUBLESTAR);
    if kind != DOUBLESTAR {
        return Err(bad(format!("unknown selector kind {kind:?}")));
    }
    let d = s.decoration.as_deref().unwrap_or("");
    Decoration::parse(d)
        .filter(|d| d.is_for_tags() != repository)
        .ok_or_else(|| bad(format!("unknown selector decoration {d:?}")))
}

fn tag_selector(s: &SelectorBody) -> Result<TagSelector> {
    if s.kind.as_deref() == Some(LABEL) {
        let d = s.decoration.as_deref().unwrap_or("");
        let decoration = LabelDecoration::parse(d)
            .ok_or_else(|| bad(format!("unknown label selector decoration {d:?}")))?;
        return Ok(TagSelector::Label {
            decoration,
            labels: s.pattern.clone().unwrap_or_default(),
        });
    }
    let d = decoration(s, false)?;
    let selector = Selector::new(d, s.pattern.as_deref().unwrap_or(""))?;
    // As Harbor: extras that do not parse leave the default.
    let untagged = s
        .extras
        .as_deref()
        .and_then(|e| serde_json::from_str::<Value>(e).ok())
        .and_then(|v| v.get("untagged").and_then(Value::as_bool))
        .unwrap_or_else(|| TagSelector::default_untagged(d));
    Ok(TagSelector::Doublestar { selector, untagged })
}

fn selector_json(s: &Selector) -> Value {
    json!({
        "kind": DOUBLESTAR,
        "decoration": s.decoration().as_str(),
        "pattern": s.pattern(),
        "extras": "",
    })
}

/// A rule in Harbor's JSON (without its id).
pub fn rule_json(r: &RetentionRule) -> Value {
    let tags: Vec<Value> = r
        .tag_selectors
        .iter()
        .map(|t| match t {
            TagSelector::Doublestar { selector, untagged } => json!({
                "kind": DOUBLESTAR,
                "decoration": selector.decoration().as_str(),
                "pattern": selector.pattern(),
                "extras": json!({ "untagged": untagged }).to_string(),
            }),
            TagSelector::Label { decoration, labels } => json!({
                "kind": LABEL,
                "decoration": decoration.as_str(),
                "pattern": labels,
                "extras": "",
            }),
        })
        .collect();
    let mut params = serde_json::Map::new();
    if let Some(n) = r.template.param() {
        params.insert(r.template.id().to_owned(), n.into());
    }
    json!({
        "priority": r.priority,
        "disabled": r.disabled,
        "action": ACTION,
        "template": r.template.id(),
        "params": params,
        "tag_selectors": tags,
        "scope_selectors": { REPOSITORY: r.repositories.iter().map(selector_json).collect::<Vec<_>>() },
    })
}

/// A stored policy in Harbor's JSON.
pub fn policy_json(p: &RetentionPolicy) -> Value {
    let rules: Vec<Value> = p
        .spec
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut v = rule_json(r);
            v["id"] = json!(i + 1);
            v
        })
        .collect();
    json!({
        "id": p.id,
        "algorithm": ALGORITHM,
        "rules": rules,
        "trigger": {
            "kind": SCHEDULE,
            "settings": { "cron": p.spec.schedule.clone().unwrap_or_default() },
            "references": {},
        },
        "scope": { "level": PROJECT, "ref": p.spec.project_id },
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn body(v: Value) -> PolicyBody {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_harbor_policy_reads_and_writes_back() {
        let b = body(json!({
            "algorithm": "or",
            "rules": [{
                "disabled": false, "action": "retain", "template": "latestPushedK",
                "params": {"latestPushedK": 10},
                "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**", "extras": "{\"untagged\":true}"}],
                "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}
            }],
            "trigger": {"kind": "Schedule", "settings": {"cron": "0 0 0 * * *"}},
            "scope": {"level": "project", "ref": 7}
        }));
        assert_eq!(scope_project(&b).unwrap(), 7);
        let spec = policy_spec(&b, 7).unwrap();
        assert_eq!(spec.rules[0].template, RuleTemplate::LatestPushedK(10));
        assert_eq!(spec.schedule.as_deref(), Some("0 0 0 * * *"));
        let back = policy_json(&RetentionPolicy {
            id: 3,
            spec: spec.clone(),
        });
        let again = policy_spec(&body(back.clone()), 7).unwrap();
        assert_eq!(again, spec);
        assert_eq!(back["rules"][0]["params"]["latestPushedK"], 10);
        assert_eq!(back["scope"]["ref"], 7);
    }

    #[test]
    fn bad_policies_are_refused_with_bad_request() {
        let rule = |r: Value| json!({"rules": [r], "scope": {"level": "project", "ref": 1}});
        let ok_sel = json!({"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]});
        for bad_body in [
            rule(
                json!({"template": "latestPushedK", "params": {"latestPushedK": -1}, "tag_selectors": [{"decoration": "matches", "pattern": "**"}], "scope_selectors": ok_sel}),
            ),
            rule(
                json!({"template": "nope", "tag_selectors": [{"decoration": "matches", "pattern": "**"}], "scope_selectors": ok_sel}),
            ),
            rule(
                json!({"template": "always", "action": "delete", "tag_selectors": [{"decoration": "matches", "pattern": "**"}], "scope_selectors": ok_sel}),
            ),
            rule(
                json!({"template": "always", "tag_selectors": [{"kind": "label", "decoration": "withLabels", "pattern": ""}], "scope_selectors": ok_sel}),
            ),
            rule(
                json!({"template": "always", "tag_selectors": [{"decoration": "repoMatches", "pattern": "**"}], "scope_selectors": ok_sel}),
            ),
            rule(
                json!({"template": "always", "tag_selectors": [{"decoration": "matches", "pattern": "**"}]}),
            ),
        ] {
            let e = policy_spec(&body(bad_body.clone()), 1).unwrap_err();
            assert_eq!(e.code(), ErrorCode::BadRequest, "{bad_body}");
        }
        assert!(scope_project(&body(json!({"scope": {"level": "system", "ref": 1}}))).is_err());
    }
}
