//! The preamble of every project-scoped handler in one place: find the
//! project named in the path (by name or id, as Harbor resolves it) and
//! check the caller's permission on it.

use axum::http::HeaderMap;
use harbor_auth::{Action, Principal, Resource};
use harbor_core::Project;

use super::{ApiResult, AppState, Caller, HarborError};

impl AppState {
    /// The project `key` names: an integer is an id unless the request says
    /// `X-Is-Resource-Name: true`, as Harbor resolves `{project_name_or_id}`.
    pub(crate) async fn find_project(&self, headers: &HeaderMap, key: &str) -> ApiResult<Project> {
        let by_name = headers
            .get("x-is-resource-name")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let store = &self.auth.identity;
        let found = match key.parse::<i64>() {
            Ok(id) if !by_name => store.project_by_id(id).await?,
            _ => store.project_by_name(key).await?,
        };
        found.ok_or_else(|| HarborError::not_found(format!("project {key} not found")))
    }

    /// Requires `action` on `resource` of `project`: 401 for anonymous
    /// callers, 403 for signed-in ones, as Harbor answers. A project the
    /// caller cannot even read is reported as not found.
    pub(crate) async fn require(
        &self,
        caller: &Caller,
        project: &Project,
        resource: Resource,
        action: Action,
    ) -> ApiResult<()> {
        let authorizer = &self.auth.authorizer;
        if authorizer
            .allowed(&caller.0, project, resource, action)
            .await?
        {
            return Ok(());
        }
        let readable = authorizer
            .allowed(&caller.0, project, Resource::Project, Action::Read)
            .await?;
        if !readable && caller.0 != Principal::Anonymous {
            return Err(HarborError::not_found(format!(
                "project {} not found",
                project.name
            )));
        }
        match caller.0 {
            Principal::Anonymous => Err(HarborError::unauthorized()),
            _ => Err(HarborError::forbidden()),
        }
    }

    /// The project `key` names, once the caller may do `action` on its
    /// `resource`.
    pub(crate) async fn project_for(
        &self,
        caller: &Caller,
        headers: &HeaderMap,
        key: &str,
        resource: Resource,
        action: Action,
    ) -> ApiResult<Project> {
        let project = self.find_project(headers, key).await?;
        self.require(caller, &project, resource, action).await?;
        Ok(project)
    }
}
