//! The immutable tag rule suite: rules are kept per project with their
//! selectors, listed by page, replaced, toggled and deleted; a rule with
//! the same selectors as another of its project is a conflict; a project
//! holds at most fifteen; enforcement reads a project's rules by its name;
//! and rules go with their project. Each test uses projects of its own.

use std::sync::atomic::{AtomicU64, Ordering};

use harbor_core::selector::{Decoration, Selector};
use harbor_core::{ErrorCode, IdentityStore, ImmutableRuleStore, NewUser, Page, RuleSpec};

use super::ok;

/// A project of its own for each test, named `prefix-N`.
async fn project(identity: &dyn IdentityStore, prefix: &str) -> (i64, String) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let owner = ok(
        "owner",
        identity
            .create_user(&NewUser {
                username: format!("{name}-owner"),
                email: format!("{name}@example.com"),
                realname: String::new(),
                comment: String::new(),
                password_hash: "pbkdf2-sha256$1$00$00".to_owned(),
                sysadmin: false,
            })
            .await,
    );
    let p = ok(
        "project",
        identity.create_project(&name, false, owner.id).await,
    );
    (p.id, name)
}

/// The error of a step that must fail.
fn refused<T: std::fmt::Debug>(r: harbor_core::Result<T>) -> harbor_core::Error {
    match r {
        Ok(v) => panic!("succeeded but must be refused: {v:?}"),
        Err(e) => e,
    }
}

fn spec(repos: &str, tags: &str) -> RuleSpec {
    RuleSpec {
        priority: 0,
        disabled: false,
        repositories: ok("selector", Selector::new(Decoration::RepoMatches, repos)),
        tags: ok("selector", Selector::new(Decoration::Matches, tags)),
    }
}

/// Runs every test of the suite; `identity` is the store holding the
/// projects `rules` refers to.
pub async fn run_all(rules: &dyn ImmutableRuleStore, identity: &dyn IdentityStore) {
    rules_read_back_as_created_and_list_by_page(rules, identity).await;
    a_rule_is_replaced_toggled_and_deleted_only_in_its_project(rules, identity).await;
    the_same_selectors_twice_in_a_project_conflict(rules, identity).await;
    a_project_holds_at_most_fifteen_rules(rules, identity).await;
    rules_go_with_their_project(rules, identity).await;
}

/// Created rules read back with their selectors and state, one by one,
/// by page (by id) and by project name.
pub async fn rules_read_back_as_created_and_list_by_page(
    rules: &dyn ImmutableRuleStore,
    identity: &dyn IdentityStore,
) {
    let (pid, name) = project(identity, "immut-list").await;
    let mut excluding = spec("app/**", "v*");
    excluding.priority = 3;
    excluding.disabled = true;
    excluding.repositories = ok("sel", Selector::new(Decoration::RepoExcludes, "tmp/**"));
    excluding.tags = ok("sel", Selector::new(Decoration::Excludes, "dev-*"));
    let a = ok(
        "create",
        rules.create_immutable_rule(pid, &spec("**", "**")).await,
    );
    let b = ok("create", rules.create_immutable_rule(pid, &excluding).await);
    let c = ok(
        "create",
        rules.create_immutable_rule(pid, &spec("x", "{a,b}")).await,
    );
    assert_eq!(a.project_id, pid);
    assert_eq!(b.spec, excluding, "selectors, priority and state kept");
    assert!(a.id < b.id && b.id < c.id);
    assert_eq!(
        ok("get", rules.immutable_rule(pid, b.id).await).as_ref(),
        Some(&b)
    );
    let (first, total) = ok(
        "list",
        rules
            .list_immutable_rules(
                pid,
                Page {
                    page: 1,
                    page_size: 2,
                },
            )
            .await,
    );
    assert_eq!(total, 3);
    assert_eq!(first, vec![a.clone(), b.clone()]);
    let (second, _) = ok(
        "list",
        rules
            .list_immutable_rules(
                pid,
                Page {
                    page: 2,
                    page_size: 2,
                },
            )
            .await,
    );
    assert_eq!(second, vec![c.clone()]);
    let (far, total) = ok(
        "list",
        rules
            .list_immutable_rules(
                pid,
                Page {
                    page: u64::MAX,
                    page_size: 2,
                },
            )
            .await,
    );
    assert!(far.is_empty(), "a page past the end is empty");
    assert_eq!(total, 3);
    assert_eq!(
        ok("by name", rules.immutable_rules_of(&name).await),
        vec![a, b, c]
    );
    assert!(ok("unknown", rules.immutable_rules_of("no-such-project").await).is_empty());
}

/// Update replaces selectors and state, the toggle changes only the state,
/// delete removes; none of them reaches a rule through another project.
pub async fn a_rule_is_replaced_toggled_and_deleted_only_in_its_project(
    rules: &dyn ImmutableRuleStore,
    identity: &dyn IdentityStore,
) {
    let (pid, _) = project(identity, "immut-change").await;
    let (other, _) = project(identity, "immut-other").await;
    let r = ok(
        "create",
        rules.create_immutable_rule(pid, &spec("**", "v*")).await,
    );
    let changed = spec("app", "release-*");
    assert!(!ok(
        "foreign update",
        rules.update_immutable_rule(other, r.id, &changed).await
    ));
    assert!(ok(
        "update",
        rules.update_immutable_rule(pid, r.id, &changed).await
    ));
    let now = ok("get", rules.immutable_rule(pid, r.id).await);
    assert_eq!(now.map(|r| r.spec), Some(changed.clone()));
    assert!(!ok(
        "foreign toggle",
        rules.set_immutable_rule_disabled(other, r.id, true).await
    ));
    assert!(ok(
        "toggle",
        rules.set_immutable_rule_disabled(pid, r.id, true).await
    ));
    let now = ok("get", rules.immutable_rule(pid, r.id).await);
    let now = now.map(|r| r.spec);
    assert_eq!(now.as_ref().map(|s| s.disabled), Some(true));
    assert_eq!(
        now.map(|s| s.tags),
        Some(changed.tags.clone()),
        "selectors untouched"
    );
    assert!(ok("foreign get", rules.immutable_rule(other, r.id).await).is_none());
    assert!(!ok(
        "foreign delete",
        rules.delete_immutable_rule(other, r.id).await
    ));
    assert!(ok("delete", rules.delete_immutable_rule(pid, r.id).await));
    assert!(!ok("again", rules.delete_immutable_rule(pid, r.id).await));
    assert!(ok("gone", rules.immutable_rule(pid, r.id).await).is_none());
    assert!(!ok(
        "update gone",
        rules.update_immutable_rule(pid, r.id, &changed).await
    ));
}

/// A second rule with the same selectors in one project is `CONFLICT`
/// (whether created or updated into it) and stores nothing; another
/// project may have it.
pub async fn the_same_selectors_twice_in_a_project_conflict(
    rules: &dyn ImmutableRuleStore,
    identity: &dyn IdentityStore,
) {
    let (pid, _) = project(identity, "immut-dup").await;
    let (other, _) = project(identity, "immut-dup").await;
    ok(
        "create",
        rules.create_immutable_rule(pid, &spec("**", "v*")).await,
    );
    let mut same = spec("**", "v*");
    same.disabled = true;
    same.priority = 9;
    let e = refused(rules.create_immutable_rule(pid, &same).await);
    assert_eq!(e.code(), ErrorCode::Conflict);
    let (_, total) = ok(
        "list",
        rules.list_immutable_rules(pid, Page::default()).await,
    );
    assert_eq!(total, 1, "nothing stored");
    let second = ok(
        "create",
        rules.create_immutable_rule(pid, &spec("**", "x")).await,
    );
    let e = refused(rules.update_immutable_rule(pid, second.id, &same).await);
    assert_eq!(e.code(), ErrorCode::Conflict);
    ok("elsewhere", rules.create_immutable_rule(other, &same).await);
}

/// The sixteenth rule of a project is `BAD_REQUEST`; a rule for a project
/// that does not exist is `NOT_FOUND`.
pub async fn a_project_holds_at_most_fifteen_rules(
    rules: &dyn ImmutableRuleStore,
    identity: &dyn IdentityStore,
) {
    let (pid, _) = project(identity, "immut-limit").await;
    for i in 0..harbor_core::immutable::MAX_RULES_PER_PROJECT {
        ok(
            "create",
            rules
                .create_immutable_rule(pid, &spec("**", &format!("t{i}")))
                .await,
        );
    }
    let e = refused(
        rules
            .create_immutable_rule(pid, &spec("**", "one-more"))
            .await,
    );
    assert_eq!(e.code(), ErrorCode::BadRequest);
    let (_, total) = ok(
        "list",
        rules.list_immutable_rules(pid, Page::default()).await,
    );
    assert_eq!(total, 15);
    let e = refused(
        rules
            .create_immutable_rule(i64::MAX, &spec("**", "x"))
            .await,
    );
    assert_eq!(e.code(), ErrorCode::NotFound);
}

/// Deleting a project deletes its rules.
pub async fn rules_go_with_their_project(
    rules: &dyn ImmutableRuleStore,
    identity: &dyn IdentityStore,
) {
    let (pid, name) = project(identity, "immut-gone").await;
    let r = ok(
        "create",
        rules.create_immutable_rule(pid, &spec("**", "**")).await,
    );
    assert!(ok("delete project", identity.delete_project(pid).await));
    assert!(ok("rule", rules.immutable_rule(pid, r.id).await).is_none());
    assert!(ok("by name", rules.immutable_rules_of(&name).await).is_empty());
    let (_, total) = ok(
        "list",
        rules.list_immutable_rules(pid, Page::default()).await,
    );
    assert_eq!(total, 0);
}
