//! The token service and the `/v2/` guard over HTTP: challenges, token
//! issuance, Bearer and Basic access, scope checks, catalog visibility, mount
//! restrictions and long uploads with expired tokens.

mod common;

use std::time::{Duration, SystemTime};

use base64::Engine;
use common::{digest, TestServer, ADMIN_PASSWORD};
use harbor_core::media_type::{OCI_CONFIG, OCI_MANIFEST};
use harbor_core::{Descriptor, ImageManifestBuilder, Role};

const PASSWORD: &str = "Passw0rdPassw0rd";

/// Gets a token for `scopes` with `creds` (or anonymously).
async fn token(s: &TestServer, creds: Option<(&str, &str)>, scopes: &[&str]) -> String {
    let mut path = "/service/token?service=harbor-registry".to_owned();
    for sc in scopes {
        path.push_str(&format!("&scope={}", sc.replace(' ', "%20")));
    }
    let auth = creds.map(|(u, p)| common::basic(u, p));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    let r = s.send("GET", &path, &headers, vec![]).await;
    assert_eq!(
        r.status,
        200,
        "token request: {}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()["token"].as_str().unwrap_or_default().to_owned()
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

/// A project `team` (private) with a developer `dev` and a guest `guest`.
async fn team(s: &TestServer) -> (i64, i64, i64) {
    let project = s.create_project("team", false).await;
    let dev = s.create_user("dev", PASSWORD).await;
    let guest = s.create_user("guest", PASSWORD).await;
    s.add_member(project, dev, Role::Developer).await;
    s.add_member(project, guest, Role::Guest).await;
    (project, dev, guest)
}

async fn push_blob(s: &TestServer, repo: &str, auth: &str, data: &[u8]) -> u16 {
    let d = digest(data);
    s.send(
        "POST",
        &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
        &[("authorization", auth)],
        data.to_vec(),
    )
    .await
    .status
}

#[tokio::test]
async fn unauthenticated_requests_get_a_bearer_challenge_naming_the_scope() {
    let s = TestServer::start_with_auth().await;
    let realm = format!("{}/service/token", s.base);
    let r = s.get("/v2/").await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some(format!("Bearer realm=\"{realm}\",service=\"harbor-registry\"").as_str())
    );
    assert_eq!(r.error_code(), "UNAUTHORIZED");
    let r = s.get("/v2/library/app/manifests/latest").await;
    assert_eq!(
        r.header("www-authenticate"),
        Some(format!("Bearer realm=\"{realm}\",service=\"harbor-registry\",scope=\"repository:library/app:pull\"").as_str())
    );
    let r = s
        .send("POST", "/v2/library/app/blobs/uploads/", &[], vec![])
        .await;
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .is_some_and(|h| h.contains("scope=\"repository:library/app:pull,push\"")));
    let r = s
        .send(
            "DELETE",
            &format!("/v2/library/app/manifests/{}", digest(b"x")),
            &[],
            vec![],
        )
        .await;
    assert!(r
        .header("www-authenticate")
        .is_some_and(|h| h.contains("scope=\"repository:library/app:delete\"")));
    // Health stays open.
    assert_eq!(s.get("/api/v2.0/health").await.status, 200);
}

#[tokio::test]
async fn the_token_endpoint_answers_in_the_docker_and_oauth2_forms() {
    let s = TestServer::start_with_auth().await;
    team(&s).await;
    // Anonymous with a scope: a token granting pull on the public library.
    let r = s
        .get("/service/token?service=harbor-registry&scope=repository:library/app:pull,push")
        .await;
    assert_eq!(r.status, 200);
    let j = r.json();
    assert_eq!(j["expires_in"], 1800);
    // The Docker form, as Harbor answers it: `token`, not OAuth2's `access_token`.
    assert!(j["token"].as_str().is_some_and(|t| t.len() > 100), "{j}");
    assert!(j.get("access_token").is_none(), "{j}");
    assert!(
        j["issued_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z') && t.contains('T')),
        "{j}"
    );
    assert!(j.get("refresh_token").is_none());

    // Anonymous without a scope is `docker login` without credentials.
    let r = s.get("/service/token?service=harbor-registry").await;
    assert_eq!(r.status, 401);

    let dev = common::basic("dev", PASSWORD);
    let r = s
        .send(
            "GET",
            "/service/token?service=harbor-registry&offline_token=true",
            &[("authorization", &dev)],
            vec![],
        )
        .await;
    assert_eq!(r.status, 200);
    let refresh = r.json()["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!refresh.is_empty());

    let wrong = common::basic("dev", "nope");
    let r = s
        .send(
            "GET",
            "/service/token?service=harbor-registry",
            &[("authorization", &wrong)],
            vec![],
        )
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (401, "UNAUTHORIZED"));
    let r = s
        .send(
            "GET",
            "/service/token?service=another&scope=repository:team/a:pull",
            &[("authorization", &dev)],
            vec![],
        )
        .await;
    assert_eq!(r.status, 400);

    // OAuth2: password grant, then refresh grant.
    let form = format!(
        "grant_type=password&username=dev&password={PASSWORD}&service=harbor-registry&scope=repository:team/app:pull&client_id=test&access_type=offline"
    );
    let r = s
        .send(
            "POST",
            "/service/token",
            &[("content-type", "application/x-www-form-urlencoded")],
            form,
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let j = r.json();
    assert!(j["access_token"].is_string() && j["refresh_token"].is_string());
    assert_eq!(j["scope"], "repository:team/app:pull");
    let form = format!("grant_type=refresh_token&refresh_token={refresh}&service=harbor-registry&scope=repository:team/app:pull");
    let r = s.send("POST", "/service/token", &[], form).await;
    assert_eq!(r.status, 200);
    let claims = s.auth.as_ref().map(|a| {
        a.tokens.verify(
            r.json()["access_token"].as_str().unwrap_or_default(),
            harbor_auth::Expiry::Enforce,
        )
    });
    let claims = claims
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("refreshed token does not verify"));
    assert_eq!(claims.sub, "dev");
    assert_eq!(claims.access[0].actions, ["pull"]);
    let r = s
        .send(
            "POST",
            "/service/token",
            &[],
            "grant_type=refresh_token&refresh_token=forged",
        )
        .await;
    assert_eq!(r.status, 401);
    let r = s
        .send(
            "POST",
            "/service/token",
            &[],
            "grant_type=client_credentials",
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn a_developer_pushes_with_a_bearer_token_and_a_guest_token_only_pulls() {
    let s = TestServer::start_with_auth().await;
    team(&s).await;
    let dev_token = token(
        &s,
        Some(("dev", PASSWORD)),
        &["repository:team/app:pull,push"],
    )
    .await;
    let auth = bearer(&dev_token);
    assert_eq!(
        s.send("GET", "/v2/", &[("authorization", &auth)], vec![])
            .await
            .status,
        200
    );
    let config = br#"{"os":"linux"}"#;
    assert_eq!(push_blob(&s, "team/app", &auth, config).await, 201);
    let manifest = ImageManifestBuilder::oci(Descriptor::for_blob(OCI_CONFIG, config))
        .build()
        .unwrap()
        .into_bytes();
    let r = s
        .send(
            "PUT",
            "/v2/team/app/manifests/v1",
            &[("authorization", &auth), ("content-type", OCI_MANIFEST)],
            manifest.clone(),
        )
        .await;
    assert_eq!(r.status, 201);

    // The developer's token does not cover another repository.
    let r = s.get_with("/v2/team/other/tags/list", &auth).await;
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .is_some_and(|h| h.contains("error=\"insufficient_scope\"")));

    // A guest asking for push gets a pull-only token: pulls work, pushes do not.
    let guest_token = token(
        &s,
        Some(("guest", PASSWORD)),
        &["repository:team/app:pull,push"],
    )
    .await;
    let gauth = bearer(&guest_token);
    let r = s.get_with("/v2/team/app/manifests/v1", &gauth).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.as_ref(), manifest.as_ref());
    assert_eq!(push_blob(&s, "team/app", &gauth, b"guest layer").await, 401);
    let r = s
        .send(
            "DELETE",
            &format!("/v2/team/app/manifests/{}", digest(&manifest)),
            &[("authorization", &gauth)],
            vec![],
        )
        .await;
    assert_eq!(r.status, 401);

    // Anonymous callers get nothing from a private project, even with a token.
    let anon = bearer(&token(&s, None, &["repository:team/app:pull"]).await);
    assert_eq!(
        s.get_with("/v2/team/app/manifests/v1", &anon).await.status,
        401
    );
}

#[tokio::test]
async fn forged_tampered_and_expired_tokens_are_refused() {
    let s = TestServer::start_with_auth().await;
    team(&s).await;
    let good = token(&s, Some(("guest", PASSWORD)), &["repository:team/app:pull"]).await;
    let parts: Vec<&str> = good.split('.').collect();
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[1])
        .unwrap_or_default();
    let forged = String::from_utf8_lossy(&payload).replace("\"pull\"", "\"pull\",\"push\"");
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged);
    let tampered = format!("{}.{}.{}", parts[0], forged, parts[2]);
    let none_alg = format!(
        "{}.{}.",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"none"}"#),
        forged
    );
    for bad in [tampered.as_str(), none_alg.as_str(), "not-a-token"] {
        let r = s
            .send(
                "POST",
                "/v2/team/app/blobs/uploads/",
                &[("authorization", &bearer(bad))],
                vec![],
            )
            .await;
        assert_eq!(r.status, 401, "{bad}");
        assert!(r
            .header("www-authenticate")
            .is_some_and(|h| h.contains("error=\"invalid_token\"")));
    }
    // A token signed by our key but expired long ago.
    let expired = sign_expired(&s, "guest", "team/app", &["pull"], 3600);
    let r = s
        .get_with("/v2/team/app/tags/list", &bearer(&expired))
        .await;
    assert_eq!(r.status, 401);
}

/// A token for `user` on `repo` that expired `ago` seconds before now, valid for an hour before that.
fn sign_expired(s: &TestServer, user: &str, repo: &str, actions: &[&str], ago: u64) -> String {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let claims = harbor_auth::Claims {
        iss: "harbor-token-issuer".into(),
        sub: user.into(),
        aud: "harbor-registry".into(),
        exp: now - ago,
        nbf: now - ago - 3600,
        iat: now - ago - 3600,
        jti: "expired".into(),
        access: vec![harbor_auth::Access {
            kind: "repository".into(),
            name: repo.into(),
            actions: actions
                .iter()
                .filter_map(|a| harbor_auth::ScopeAction::parse(a))
                .collect(),
        }],
    };
    let key = s
        .auth
        .as_ref()
        .map(|a| a.tokens.key())
        .unwrap_or_else(|| panic!("no auth"));
    harbor_auth::token::jwt::sign(key, &claims).expect("test setup")
}

#[tokio::test]
async fn an_upload_begun_under_a_valid_token_finishes_after_it_expires() {
    let s = TestServer::start_with_auth().await;
    team(&s).await;
    // An upload session that began 2000 s ago, while the token (expired 1000 s
    // ago, valid for the hour before) was still good.
    let repo = harbor_core::RepositoryName::parse("team/app").unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    s.registry.blob_store().create_upload(&id).await.unwrap();
    let session = harbor_core::UploadSession {
        id: id.clone(),
        repository: repo,
        started_at: SystemTime::now() - Duration::from_secs(2000),
    };
    s.registry
        .meta_store()
        .create_upload(&session)
        .await
        .unwrap();
    let expired = bearer(&sign_expired(
        &s,
        "dev",
        "team/app",
        &["pull", "push"],
        1000,
    ));
    let location = format!("/v2/team/app/blobs/uploads/{id}");
    let data = vec![9u8; 100_000];
    let r = s
        .send(
            "PATCH",
            &location,
            &[("authorization", &expired)],
            data.clone(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let r = s
        .send(
            "PUT",
            &format!("{location}?digest={}", digest(&data)),
            &[("authorization", &expired)],
            vec![],
        )
        .await;
    assert_eq!(r.status, 201);
    // The expired token grants nothing else.
    let r = s
        .get_with(&format!("/v2/team/app/blobs/{}", digest(&data)), &expired)
        .await;
    assert_eq!(r.status, 401);
    let r = s
        .send(
            "POST",
            "/v2/team/app/blobs/uploads/",
            &[("authorization", &expired)],
            vec![],
        )
        .await;
    assert_eq!(r.status, 401);
    // A token that expired before the session began does not carry it.
    let r = s
        .send(
            "POST",
            "/v2/team/app/blobs/uploads/",
            &[("authorization", &common::basic("dev", PASSWORD))],
            vec![],
        )
        .await;
    let fresh_location = r.header("location").unwrap_or_default().to_owned();
    let r = s
        .send(
            "PATCH",
            &fresh_location,
            &[("authorization", &expired)],
            b"x".to_vec(),
        )
        .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn basic_credentials_work_on_v2_and_pushes_outside_projects_are_refused() {
    let s = TestServer::start_with_auth().await;
    team(&s).await;
    let admin = common::basic("admin", ADMIN_PASSWORD);
    assert_eq!(
        push_blob(&s, "library/direct", &admin, b"by admin").await,
        201
    );
    assert_eq!(
        push_blob(&s, "team/app", &common::basic("dev", PASSWORD), b"by dev").await,
        201
    );
    assert_eq!(
        push_blob(
            &s,
            "team/app",
            &common::basic("guest", PASSWORD),
            b"by guest"
        )
        .await,
        401
    );
    let r = s
        .send(
            "POST",
            "/v2/nosuchproject/app/blobs/uploads/",
            &[("authorization", &admin)],
            vec![],
        )
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (404, "NAME_UNKNOWN"));
    let r = s
        .send(
            "POST",
            "/v2/nosuchproject/app/blobs/uploads/",
            &[("authorization", &common::basic("dev", PASSWORD))],
            vec![],
        )
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (404, "NAME_UNKNOWN"));
    let r = s
        .send(
            "GET",
            "/v2/",
            &[("authorization", &common::basic("dev", "wrong"))],
            vec![],
        )
        .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn the_catalog_lists_only_what_the_caller_may_see() {
    let s = TestServer::start_with_auth().await;
    team(&s).await;
    s.create_project("secret", false).await;
    let admin = common::basic("admin", ADMIN_PASSWORD);
    for repo in ["library/pub", "team/app", "secret/x"] {
        assert_eq!(push_blob(&s, repo, &admin, repo.as_bytes()).await, 201);
    }
    let list = |auth: String| {
        let s = &s;
        async move {
            let r = s.get_with("/v2/_catalog", &auth).await;
            assert_eq!(r.status, 200);
            r.json()["repositories"].clone()
        }
    };
    assert_eq!(
        list(admin.clone()).await,
        serde_json::json!(["library/pub", "secret/x", "team/app"])
    );
    assert_eq!(
        list(common::basic("dev", PASSWORD)).await,
        serde_json::json!(["library/pub", "team/app"])
    );
    let anon = bearer(&token(&s, None, &["registry:catalog:*"]).await);
    assert_eq!(list(anon).await, serde_json::json!(["library/pub"]));
    let r = s.get("/v2/_catalog").await;
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .is_some_and(|h| h.contains("registry:catalog:*")));
}

#[tokio::test]
async fn a_mount_needs_pull_on_the_source_or_becomes_an_upload() {
    let s = TestServer::start_with_auth().await;
    team(&s).await;
    s.create_project("secret", false).await;
    let admin = common::basic("admin", ADMIN_PASSWORD);
    assert_eq!(
        push_blob(&s, "secret/x", &admin, b"secret layer").await,
        201
    );
    assert_eq!(push_blob(&s, "team/base", &admin, b"team layer").await, 201);
    let dev = common::basic("dev", PASSWORD);
    let secret = digest(b"secret layer");
    for query in [
        format!("mount={secret}&from=secret/x"),
        format!("mount={secret}"),
    ] {
        let r = s
            .send(
                "POST",
                &format!("/v2/team/app/blobs/uploads/?{query}"),
                &[("authorization", &dev)],
                vec![],
            )
            .await;
        assert_eq!(
            r.status, 202,
            "{query}: no mount from where the developer cannot read"
        );
    }
    let r = s
        .get_with(&format!("/v2/team/app/blobs/{secret}"), &dev)
        .await;
    assert_eq!(r.status, 404);
    let team_layer = digest(b"team layer");
    let r = s
        .send(
            "POST",
            &format!("/v2/team/app/blobs/uploads/?mount={team_layer}&from=team/base"),
            &[("authorization", &dev)],
            vec![],
        )
        .await;
    assert_eq!(r.status, 201);
}
