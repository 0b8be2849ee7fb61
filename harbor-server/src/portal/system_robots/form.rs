//! The system robot form's parts (expiration, projects, project and system
//! permissions), what the form asks for in Harbor's shapes, and the edit
//! page.

use harbor_auth::system::{robot_may_hold, ROBOT_SYSTEM, SYSTEM_KIND, SYSTEM_NAMESPACE};

use super::*;

/// Days until expiry, or never.
pub(super) fn expiration_fields(days: i64, never: bool) -> Markup {
    html! {
        fieldset {
            legend { "Expiration time" }
            div.row {
                div {
                    label for="robot-days" { "Days" }
                    input type="number" id="robot-days" name="duration" min="1" value=(days.max(1));
                }
                label.check {
                    input type="checkbox" name="never" value="true" checked[never];
                    "Never expired"
                }
            }
        }
    }
}

/// The projects covered (all of them, or those checked), the access every
/// covered project gets, and the system permissions (those a robot may
/// hold, from the table every system-level check uses).
pub(super) fn permission_fields(
    projects: &[String],
    chosen: &[String],
    granted: &[(&str, &str)],
    all: bool,
    system_granted: &[(String, String)],
) -> Markup {
    html! {
        fieldset {
            legend { "Projects" }
            label.check {
                input type="checkbox" name="all_projects" value="true" checked[all];
                "Cover all projects (now and future)"
            }
            div.checks {
                @for p in projects {
                    label.check {
                        input type="checkbox" name="project" value=(p) checked[chosen.contains(p)];
                        (p)
                    }
                    " "
                }
                @for p in chosen.iter().filter(|c| !projects.contains(c)) {
                    label.check {
                        input type="checkbox" name="project" value=(p) checked;
                        (p)
                    }
                    " "
                }
            }
        }
        fieldset {
            legend { "Permissions (for every project above)" }
            @for (resource, action, what) in GRANTS {
                label.check {
                    input type="checkbox" name="grant" value=(format!("{resource}:{action}"))
                        checked[granted.contains(&(resource, action))];
                    (what)
                }
                " "
            }
        }
        fieldset id="system-permissions" {
            legend { "System permissions" }
            p.muted { "What the robot account may do across the registry (registries, projects, users, ...), as a system administrator would." }
            @for (resource, actions) in ROBOT_SYSTEM {
                div.checks {
                    @for action in *actions {
                        @let checked = system_granted.iter().any(|(r, a)| r == resource && a == action);
                        label.check {
                            input type="checkbox" name="system" value=(format!("{resource}:{action}")) checked[checked];
                            (resource) ":" (action)
                        }
                        " "
                    }
                }
            }
        }
    }
}

/// The system accesses a robot's permission list grants.
pub(super) fn system_granted(perms: &[Value]) -> Vec<(String, String)> {
    perms
        .iter()
        .filter(|p| p["kind"] == SYSTEM_KIND)
        .flat_map(|p| p["access"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| {
            Some((
                a["resource"].as_str()?.to_owned(),
                a["action"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// The permissions the form asks for, in Harbor's `RobotPermission` shape.
pub(super) fn permissions(form: &Fields) -> Result<Vec<Value>, PortalError> {
    let access: Vec<Value> = form
        .iter()
        .filter(|(k, _)| k == "grant")
        .filter_map(|(_, v)| v.split_once(':'))
        .filter(|(r, a)| GRANTS.iter().any(|(gr, ga, _)| gr == r && ga == a))
        .map(|(resource, action)| json!({ "resource": resource, "action": action }))
        .collect();
    let system: Vec<Value> = form
        .iter()
        .filter(|(k, _)| k == "system")
        .filter_map(|(_, v)| v.split_once(':'))
        .filter(|(r, a)| robot_may_hold(r, a))
        .map(|(resource, action)| json!({ "resource": resource, "action": action }))
        .collect();
    let system = (!system.is_empty())
        .then(|| json!({ "kind": SYSTEM_KIND, "namespace": SYSTEM_NAMESPACE, "access": system }));
    let projects_chosen = field(form, "all_projects") == "true"
        || form
            .iter()
            .any(|(k, v)| k == "project" && !v.trim().is_empty());
    if access.is_empty() {
        // System permissions alone are enough; projects chosen need access.
        return match system {
            Some(system) if !projects_chosen => Ok(vec![system]),
            _ => Err(PortalError::bad_request(
                "give the robot account at least one permission (for the projects chosen)",
            )),
        };
    }
    let namespaces: Vec<String> = if field(form, "all_projects") == "true" {
        vec!["*".into()]
    } else {
        let mut names: Vec<String> = form
            .iter()
            .filter(|(k, v)| k == "project" && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
            .collect();
        names.dedup();
        names
    };
    if namespaces.is_empty() {
        return Err(PortalError::bad_request(
            "choose the projects the robot account covers, or all",
        ));
    }
    Ok(namespaces
        .into_iter()
        .map(|ns| json!({ "kind": "project", "namespace": ns, "access": access }))
        .chain(system)
        .collect())
}

/// The expiration the form asks for: -1 (never) or days from 1.
pub(super) fn duration(form: &Fields) -> Result<i64, PortalError> {
    if field(form, "never") == "true" {
        return Ok(-1);
    }
    field(form, "duration")
        .parse::<i64>()
        .ok()
        .filter(|d| *d >= 1)
        .ok_or_else(|| {
            PortalError::bad_request("the expiration must be a number of days from 1, or never")
        })
}

/// `GET /harbor/robot-accounts/{rid}/edit`: the form, filled in.
pub(in crate::portal) async fn edit_page(
    State(state): State<PortalState>,
    viewer: Viewer,
    Path(rid): Path<i64>,
) -> Result<Response, PortalError> {
    admins_only(&viewer)?;
    let r: Value = state
        .api
        .get(&viewer.call_as, &format!("/api/v2.0/robots/{rid}"))
        .await?
        .json()?;
    if r["level"].as_str() != Some("system") {
        return Err(PortalError::new(
            StatusCode::NOT_FOUND,
            "This is a project's robot account: edit it in its project.",
        ));
    }
    let projects = project_names(&state, &viewer).await?;
    let all_perms = r["permissions"].as_array().cloned().unwrap_or_default();
    let system = system_granted(&all_perms);
    let perms: Vec<Value> = all_perms
        .into_iter()
        .filter(|p| p["kind"] != SYSTEM_KIND)
        .collect();
    let all = perms.iter().any(|p| p["namespace"] == "*");
    let chosen: Vec<String> = perms
        .iter()
        .filter_map(|p| p["namespace"].as_str())
        .filter(|ns| *ns != "*")
        .map(str::to_owned)
        .collect();
    let mut granted: Vec<(&str, &str)> = Vec::new();
    for p in &perms {
        for a in p["access"].as_array().into_iter().flatten() {
            if let Some(g) = GRANTS.iter().find(|(res, act, _)| {
                a["resource"].as_str() == Some(res) && a["action"].as_str() == Some(act)
            }) {
                if !granted.contains(&(g.0, g.1)) {
                    granted.push((g.0, g.1));
                }
            }
        }
    }
    // The form gives every project the same access; say so when this
    // robot's projects differ.
    let uniform = perms.windows(2).all(|w| w[0]["access"] == w[1]["access"]);
    let name = r["name"].as_str().unwrap_or_default();
    let days = r["duration"].as_i64().unwrap_or(-1);
    let body = html! {
        p { a href=(BASE) { "Robot Accounts" } " /" }
        h1 { "Edit robot account " span.robot-name { (name) } }
        form.panel id="edit-robot" method="post" action=(format!("{BASE}/{rid}/edit")) {
            (layout::csrf_field(&viewer.csrf))
            div.row {
                div {
                    label for="robot-description" { "Description" }
                    input type="text" id="robot-description" name="description"
                        value=(r["description"].as_str().unwrap_or_default());
                }
            }
            (expiration_fields(if days < 0 { 30 } else { days }, days < 0))
            p.muted { "Days count from the robot account's creation." }
            @if !uniform {
                p.notice role="note" {
                    "This robot account's projects have different access; saving gives every project chosen the access checked below."
                }
            }
            (permission_fields(&projects, &chosen, &granted, all, &system))
            button type="submit" { "Save" }
        }
    };
    Ok(layout::html(layout::page(
        &format!("Edit {name}"),
        Some(&viewer),
        Nav::Robots,
        body,
    )))
}

/// `POST /harbor/robot-accounts/{rid}/edit`.
pub(in crate::portal) async fn edit(
    State(state): State<PortalState>,
    Path(rid): Path<i64>,
    change: Change<Fields>,
) -> Result<Response, PortalError> {
    admins_only(&change.viewer)?;
    let form = &change.form;
    let body = json!({
        "description": field(form, "description"),
        "duration": duration(form)?,
        "permissions": permissions(form)?,
    });
    change
        .forward(
            &state.api,
            Method::PUT,
            &format!("/api/v2.0/robots/{rid}"),
            Some(body),
            BASE,
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portal::fields::of as form;

    #[test]
    fn the_form_becomes_one_permission_per_project_with_the_same_access() {
        let f = form(&[
            ("project", "a"),
            ("project", "b"),
            ("grant", "repository:push"),
            ("grant", "bogus:push"),
        ]);
        let p = permissions(&f).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[1]["namespace"], "b");
        assert_eq!(
            p[0]["access"],
            json!([{"resource": "repository", "action": "push"}])
        );
        let all = form(&[
            ("all_projects", "true"),
            ("project", "a"),
            ("grant", "repository:pull"),
        ]);
        assert_eq!(permissions(&all).unwrap()[0]["namespace"], "*");
        assert!(
            permissions(&form(&[("project", "a")])).is_err(),
            "no access"
        );
        assert!(
            permissions(&form(&[("grant", "repository:pull")])).is_err(),
            "no project"
        );
        assert_eq!(
            duration(&form(&[("never", "true"), ("duration", "x")])).unwrap(),
            -1
        );
        assert_eq!(duration(&form(&[("duration", "7")])).unwrap(), 7);
    }

    #[test]
    fn system_boxes_become_one_system_permission_of_known_accesses() {
        let f = form(&[
            ("project", "a"),
            ("grant", "repository:pull"),
            ("system", "registry:create"),
            ("system", "project:list"),
            ("system", "spaceship:fly"),
        ]);
        let p = permissions(&f).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(
            p[1],
            json!({"kind": "system", "namespace": "/", "access": [
                {"resource": "registry", "action": "create"},
                {"resource": "project", "action": "list"}]})
        );
        let only = permissions(&form(&[("system", "user:list")])).unwrap();
        assert_eq!(only.len(), 1);
        assert_eq!(only[0]["kind"], "system");
        assert!(
            permissions(&form(&[("project", "a"), ("system", "user:list")])).is_err(),
            "projects chosen without access"
        );
        assert!(permissions(&form(&[("system", "spaceship:fly")])).is_err());
        assert_eq!(
            system_granted(&only),
            vec![("user".to_owned(), "list".to_owned())]
        );
        assert!(duration(&form(&[("duration", "0")])).is_err());
    }
}
