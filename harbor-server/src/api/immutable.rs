//! `/projects/{project}/immutabletagrules[/{id}]`: a project's immutable
//! tag rules in Harbor's `ImmutableRule` shape (list, create, update or
//! toggle, delete). The engine enforces them; each change here is enforced
//! by this instance from the next request, by others within
//! [`DEFAULT_REFRESH`](harbor_core::immutable::DEFAULT_REFRESH).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use harbor_auth::{Action, Resource};
use harbor_core::selector::{Decoration, Selector, DOUBLESTAR};
use harbor_core::{ImmutableRule, ImmutableRules, Project, RuleSpec};
use serde::{Deserialize, Serialize};

use super::{created, ApiResult, AppState, Caller, HarborError, HarborJson, ListParams, Paged};

/// Harbor's only action and template for these rules.
const ACTION: &str = "immutable";
const TEMPLATE: &str = "immutable_template";
/// The one scope selectors have.
const SCOPE: &str = "repository";

/// Harbor's `ImmutableSelector`.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct SelectorBody {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    decoration: Option<String>,
    #[serde(default)]
    pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    extras: Option<String>,
}

/// Harbor's `ImmutableRule`, as sent and as answered (with `project_id`
/// added, as Harbor's stored form has it).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct RuleBody {
    #[serde(default)]
    id: Option<i64>,
    #[serde(default, skip_deserializing)]
    project_id: i64,
    #[serde(default)]
    priority: Option<i64>,
    #[serde(default)]
    disabled: Option<bool>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    template: Option<String>,
    #[serde(default)]
    params: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    tag_selectors: Option<Vec<SelectorBody>>,
    #[serde(default)]
    scope_selectors: Option<BTreeMap<String, Vec<SelectorBody>>>,
}

fn selector_body(s: &Selector) -> SelectorBody {
    SelectorBody {
        kind: Some(DOUBLESTAR.to_owned()),
        decoration: Some(s.decoration().as_str().to_owned()),
        pattern: Some(s.pattern().to_owned()),
        extras: None,
    }
}

fn rule_body(r: &ImmutableRule) -> RuleBody {
    RuleBody {
        id: Some(r.id),
        project_id: r.project_id,
        priority: Some(r.spec.priority),
        disabled: Some(r.spec.disabled),
        action: Some(ACTION.to_owned()),
        template: Some(TEMPLATE.to_owned()),
        params: Some(serde_json::Map::new()),
        tag_selectors: Some(vec![selector_body(&r.spec.tags)]),
        scope_selectors: Some(BTreeMap::from([(
            SCOPE.to_owned(),
            vec![selector_body(&r.spec.repositories)],
        )])),
    }
}

/// Checks one selector of a request: `doublestar`, a decoration for its
/// target, a valid pattern.
fn selector(s: &SelectorBody, for_tags: bool, what: &str) -> ApiResult<Selector> {
    let kind = s.kind.as_deref().unwrap_or(DOUBLESTAR);
    if kind != DOUBLESTAR {
        return Err(HarborError::bad_request(format!(
            "{what}: the kind {kind:?} is not supported, only {DOUBLESTAR:?}"
        )));
    }
    let allowed = if for_tags {
        "\"matches\" or \"excludes\""
    } else {
        "\"repoMatches\" or \"repoExcludes\""
    };
    let decoration = s
        .decoration
        .as_deref()
        .and_then(Decoration::parse)
        .filter(|d| d.is_for_tags() == for_tags)
        .ok_or_else(|| {
            HarborError::bad_request(format!("{what}: the decoration must be {allowed}"))
        })?;
    Selector::new(decoration, s.pattern.as_deref().unwrap_or(""))
        .map_err(|e| HarborError::bad_request(format!("{what}: {}", e.message())))
}

/// The rule a request describes: exactly one tag selector and one
/// `repository` scope selector, Harbor's action and template.
fn spec(body: &RuleBody) -> ApiResult<RuleSpec> {
    for (field, value, expected) in [
        ("action", &body.action, ACTION),
        ("template", &body.template, TEMPLATE),
    ] {
        if let Some(v) = value.as_deref().filter(|v| *v != expected) {
            return Err(HarborError::bad_request(format!(
                "{field} {v:?} is not supported, only {expected:?}"
            )));
        }
    }
    let tags = match body.tag_selectors.as_deref() {
        Some([one]) => selector(one, true, "tag_selectors")?,
        _ => {
            return Err(HarborError::bad_request(
                "tag_selectors must hold exactly one selector",
            ))
        }
    };
    let scopes = body.scope_selectors.as_ref();
    let repositories = match scopes.filter(|s| s.len() == 1).and_then(|s| s.get(SCOPE)) {
        Some(list) if list.len() == 1 => selector(&list[0], false, "scope_selectors.repository")?,
        _ => {
            return Err(HarborError::bad_request(
                "scope_selectors must hold exactly one \"repository\" selector",
            ))
        }
    };
    Ok(RuleSpec {
        priority: body.priority.unwrap_or(0),
        disabled: body.disabled.unwrap_or(false),
        repositories,
        tags,
    })
}

/// The project and the engine's rules, once the caller may do `action`.
async fn access(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    key: &str,
    action: Action,
) -> ApiResult<(Project, Arc<ImmutableRules>)> {
    let rules =
        state.registry.immutable_rules().cloned().ok_or_else(|| {
            HarborError::not_found("tag immutability is not enabled on this server")
        })?;
    let project = state
        .project_for(caller, headers, key, Resource::ImmutableTag, action)
        .await?;
    Ok((project, rules))
}

fn rule_id(id: &str) -> ApiResult<i64> {
    id.parse()
        .map_err(|_| HarborError::bad_request(format!("invalid immutable rule id {id:?}")))
}

/// `GET /projects/{project}/immutabletagrules`.
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    headers: HeaderMap,
    list: ListParams,
    uri: Uri,
) -> ApiResult<Paged<RuleBody>> {
    let (p, rules) = access(&state, &caller, &headers, &key, Action::List).await?;
    let (page, total) = rules.store().list_immutable_rules(p.id, list.page).await?;
    Ok(Paged {
        items: page.iter().map(rule_body).collect(),
        total,
        page: list.page,
        uri,
    })
}

/// `POST /projects/{project}/immutabletagrules`.
pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<HarborJson<RuleBody>, HarborError>,
) -> ApiResult {
    let (p, rules) = access(&state, &caller, &headers, &key, Action::Create).await?;
    let HarborJson(body) = body?;
    let spec = spec(&body)?;
    let rule = rules.store().create_immutable_rule(p.id, &spec).await?;
    rules.forget(&p.name);
    tracing::info!(project = %p.name, rule = rule.id, by = %caller.0, "immutable tag rule created");
    Ok(created(&format!(
        "{}/{}",
        uri.path().trim_end_matches('/'),
        rule.id
    )))
}

/// `PUT /projects/{project}/immutabletagrules/{id}`: as Harbor, a body whose
/// `disabled` differs from the rule's only enables or disables it;
/// otherwise the body replaces the rule.
pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((key, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<HarborJson<RuleBody>, HarborError>,
) -> ApiResult {
    let (p, rules) = access(&state, &caller, &headers, &key, Action::Update).await?;
    let id = rule_id(&id)?;
    let HarborJson(body) = body?;
    let store = rules.store();
    let current = store
        .immutable_rule(p.id, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    let disabled = body.disabled.unwrap_or(false);
    let changed = if disabled != current.spec.disabled {
        store
            .set_immutable_rule_disabled(p.id, id, disabled)
            .await?
    } else {
        store.update_immutable_rule(p.id, id, &spec(&body)?).await?
    };
    if !changed {
        return Err(not_found(id));
    }
    rules.forget(&p.name);
    tracing::info!(project = %p.name, rule = id, by = %caller.0, "immutable tag rule updated");
    Ok(StatusCode::OK.into_response())
}

/// `DELETE /projects/{project}/immutabletagrules/{id}`.
pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((key, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    let (p, rules) = access(&state, &caller, &headers, &key, Action::Delete).await?;
    let id = rule_id(&id)?;
    if !rules.store().delete_immutable_rule(p.id, id).await? {
        return Err(not_found(id));
    }
    rules.forget(&p.name);
    tracing::info!(project = %p.name, rule = id, by = %caller.0, "immutable tag rule deleted");
    Ok(StatusCode::OK.into_response())
}

fn not_found(id: i64) -> HarborError {
    HarborError::not_found(format!("immutable tag rule {id} not found"))
}
