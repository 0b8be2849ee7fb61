//! The fake's Harbor side: `/api/v2.0/projects` (listed two per page,
//! checked with `HEAD`, created with `POST`) and each project's repositories,
//! among them one whose name does not parse.

use std::collections::{BTreeSet, HashMap};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};

use super::{json, status, Fake, PER_PAGE};

impl Fake {
    pub(super) async fn api(
        &self,
        method: Method,
        api: &str,
        query: &HashMap<String, String>,
        req: Request<Incoming>,
    ) -> Response<Full<Bytes>> {
        match (method, api) {
            (Method::HEAD, "/projects") => {
                let name = query.get("project_name").cloned().unwrap_or_default();
                if self.state().projects.contains(&name) {
                    status(StatusCode::OK)
                } else {
                    status(StatusCode::NOT_FOUND)
                }
            }
            (Method::GET, "/projects") => {
                let names: Vec<String> = self.state().projects.iter().cloned().collect();
                let items: Vec<serde_json::Value> = names
                    .iter()
                    .map(|n| serde_json::json!({ "name": n, "project_id": 1 }))
                    .collect();
                self.api_page(items, "/api/v2.0/projects", query)
            }
            (Method::POST, "/projects") => {
                let body = req
                    .into_body()
                    .collect()
                    .await
                    .map(|c| c.to_bytes())
                    .unwrap_or_default();
                let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let Some(name) = json["project_name"].as_str() else {
                    return status(StatusCode::BAD_REQUEST);
                };
                let mut s = self.state();
                if !s.projects.insert(name.to_owned()) {
                    return status(StatusCode::CONFLICT);
                }
                s.created_projects.push(name.to_owned());
                status(StatusCode::CREATED)
            }
            (Method::GET, p) => {
                let Some(project) = p
                    .strip_prefix("/projects/")
                    .and_then(|p| p.strip_suffix("/repositories"))
                else {
                    return status(StatusCode::NOT_FOUND);
                };
                let mut names: BTreeSet<String> = self
                    .state()
                    .manifests
                    .keys()
                    .filter(|(r, _)| r.split('/').next() == Some(project))
                    .map(|(r, _)| r.clone())
                    .collect();
                names.insert(format!("{project}/Not A Name"));
                let items = names
                    .iter()
                    .map(|n| serde_json::json!({ "name": n }))
                    .collect();
                self.api_page(items, p, query)
            }
            _ => status(StatusCode::METHOD_NOT_ALLOWED),
        }
    }

    /// One page of a Harbor listing (`page`, `page_size`), with a `Link`
    /// to the next while there is one.
    fn api_page(
        &self,
        items: Vec<serde_json::Value>,
        path: &str,
        query: &HashMap<String, String>,
    ) -> Response<Full<Bytes>> {
        let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
        let start = (page - 1) * PER_PAGE;
        let chunk: Vec<serde_json::Value> =
            items.iter().skip(start).take(PER_PAGE).cloned().collect();
        let mut resp = json(StatusCode::OK, &serde_json::Value::Array(chunk));
        if start + PER_PAGE < items.len() {
            let path = if path.starts_with("/api") {
                path.to_owned()
            } else {
                format!("/api/v2.0{path}")
            };
            let link = format!(
                "<{path}?page={}&page_size={PER_PAGE}>; rel=\"next\"",
                page + 1
            );
            if let Ok(v) = link.parse() {
                resp.headers_mut().insert("link", v);
            }
        }
        resp
    }
}
