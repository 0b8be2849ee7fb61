// The portal's administration pages in a real browser (Debian's chromium,
// headless, through npm's playwright-core), run by tests/portal_admin.rs,
// which starts the servers and answers this script's requests on stdin:
//
//   stdout "PUSH <user> <secret> <repo:tag>" -> skopeo pushes as that user
//   stdin  "PUSHED ok" or "PUSHED <why not>"
//   stdout "REPOS"      -> stdin "REPOS <json list of repository names>"
//   stdout "OLD-AUDIT"  -> stdin "OLD-AUDIT <count of the seeded old entries>"
//   stdout "POLICIES"   -> stdin "POLICIES <json of the replication policies>"
//
// Every failed check is printed; the script exits 1 if any failed.
// Environment: PORTAL_BASE, PORTAL_ADMIN_PASSWORD, PORTAL_PEER (a second
// server holding src/app and src/other), PORTAL_LDAP (slapd's settings as
// JSON), PORTAL_LDAP_CLOSED (an LDAP URL on a closed port),
// PORTAL_LDAP_GROUP (a group's DN), PLAYWRIGHT_MODULE, PORTAL_SHOTS,
// PORTAL_AXE (axe-core's axe.min.js, for the accessibility crawl).

import {
  base,
  adminPassword,
  failures,
  check,
  ask,
  browser,
  newPage,
  shot,
  clickAndWait,
  signIn,
  finish,
} from "./lib.mjs";
import { checkAccessibility } from "./a11y.mjs";

const peer = process.env.PORTAL_PEER;
const ldap = JSON.parse(process.env.PORTAL_LDAP);
const ldapClosed = process.env.PORTAL_LDAP_CLOSED;
const ldapGroup = process.env.PORTAL_LDAP_GROUP;

async function askValue(word) {
  const answer = await ask(word);
  return answer.slice(word.length + 1);
}
async function push(user, secret, target) {
  const answer = await ask(`PUSH ${user} ${secret} ${target}`);
  return answer.slice("PUSHED ".length);
}

// Fills the LDAP fields of the configuration form with `settings`.
async function fillLdap(page, settings) {
  for (const [key, value] of Object.entries(settings)) {
    const field = page.locator(`#${key}`);
    if ((await field.count()) === 0) {
      failures.push(`the configuration page has no ${key}`);
      continue;
    }
    if (key.endsWith("_scope")) {
      await field.selectOption(String(value));
    } else if (typeof value === "boolean") {
      await field.setChecked(value);
    } else {
      await field.fill(String(value));
    }
  }
}

try {
  const { page } = await newPage();
  await signIn(page, "admin", adminPassword);
  check(page.url() === `${base}/harbor/projects`, `admin signs in (${page.url()})`);

  // ---- Configuration: LDAP, tested in the page, then in force. ----
  await page.goto(`${base}/harbor/configs`);
  const modes = await page.locator("#auth_mode option").allTextContents();
  check(modes.includes("LDAP") && modes.includes("OIDC"), `the auth modes offered (${modes})`);
  check(/only while no user but admin exists/.test(await page.locator("#auth-mode-rule").textContent()),
    "the page states Harbor's auth mode rule");
  await fillLdap(page, ldap);
  await clickAndWait(page, page.getByRole("button", { name: "Test LDAP Server" }));
  let pinged = (await page.locator("#ldap-ping-result").textContent()) || "";
  check(/succeeded/.test(pinged), `Test LDAP Server succeeds against slapd (${pinged})`);
  check(!(await page.content()).includes(ldap.ldap_search_password), "the tested password is not echoed");
  check((await page.locator("#ldap_url").inputValue()) === ldap.ldap_url, "the typed settings stay in the form");
  await page.locator("#ldap_url").fill(ldapClosed);
  await clickAndWait(page, page.getByRole("button", { name: "Test LDAP Server" }));
  pinged = (await page.locator("#ldap-ping-result").textContent()) || "";
  check(/failed/.test(pinged) && /cannot reach/.test(pinged), `a closed port fails with a clear message (${pinged})`);
  await fillLdap(page, ldap);
  await page.locator("#auth_mode").selectOption("ldap_auth");
  // Enter in a field saves; the button does too.
  await Promise.all([page.waitForNavigation(), page.locator("#ldap_base_dn").press("Enter")]);
  check(await page.getByText("The configuration was saved.").count() === 1, "Enter in a field saves");
  await fillLdap(page, ldap);
  await clickAndWait(page, page.getByRole("button", { name: "Save", exact: true }));
  check(await page.getByText("The configuration was saved.").count() === 1, "the LDAP settings are saved");
  check((await page.locator("#auth_mode").inputValue()) === "ldap_auth", "the auth mode is LDAP");
  check(!(await page.content()).includes(ldap.ldap_search_password), "the saved password is not shown");
  await shot(page, "portal-configuration-ldap.png");

  // An LDAP user signs in to the portal, and sees no administration.
  const alice = await newPage();
  await signIn(alice.page, "alice", "alice-pw");
  check(alice.page.url() === `${base}/harbor/projects`, `an LDAP user signs in (${alice.page.url()})`);
  check((await alice.page.locator("header .username").textContent()) === "alice", "the header names alice");
  for (const name of ["Robot Accounts", "Configuration", "Users", "Garbage Collection", "Clean Up"]) {
    check(await alice.page.getByRole("link", { name, exact: true }).count() === 0, `a non-admin has no ${name} link`);
  }
  for (const path of ["/harbor/robot-accounts", "/harbor/configs", "/harbor/clearing-job/audit-log-purge", "/harbor/gc"]) {
    const r = await alice.page.goto(`${base}${path}`);
    check(r.status() === 403, `a non-admin gets 403 at ${path} (${r.status()})`);
  }
  await alice.context.close();

  // Now that another user exists, the mode is fixed, and the page says why.
  await page.goto(`${base}/harbor/configs`);
  check(await page.locator("#auth_mode").isDisabled(), "the auth mode is fixed once users exist");
  check(/no longer change/.test(await page.locator("#auth-mode-rule").textContent()), "the page says why");

  // ---- LDAP users and groups. ----
  await page.goto(`${base}/harbor/users`);
  check(await page.locator("summary", { hasText: "New User" }).count() === 0, "no New User in LDAP mode");
  await page.locator("summary", { hasText: "Import LDAP users" }).click();
  await page.getByLabel(/Search the directory/).fill("bob");
  await clickAndWait(page, page.locator("#ldap-import button[type=submit]", { hasText: "Search" }));
  check(await page.locator("#ldap-users td.ldap-user-name", { hasText: "bob" }).count() === 1, "the directory search finds bob");
  await page.getByLabel("Import bob").check();
  await clickAndWait(page, page.getByRole("button", { name: "Import", exact: true }));
  check(await page.getByText("1 LDAP users imported.").count() === 1, "the import is confirmed");
  check(await page.locator("td.user-name", { hasText: "bob" }).count() === 1, "bob is a user now");
  // Importing bob again is refused, with the directory's reason.
  await page.goto(`${base}/harbor/users?ldap=bob`);
  await page.getByLabel("Import bob").check();
  const again = await Promise.all([page.waitForNavigation(), page.getByRole("button", { name: "Import", exact: true }).click()]);
  const refusal = (await page.locator("main").textContent()) || "";
  check(again[0].status() === 404 && /bob: the user already exists in Harbor/.test(refusal),
    `a second import says why it failed (${again[0].status()} ${refusal})`);
  await page.goto(`${base}/harbor/groups`);
  await page.locator("summary", { hasText: "Import LDAP group" }).click();
  await page.getByLabel("LDAP Group DN").fill("cn=nobody,ou=groups,dc=example,dc=com");
  const missing = await Promise.all([page.waitForNavigation(), page.locator("#import-group button[type=submit]").click()]);
  check(missing[0].status() === 404 && /cn=nobody/.test(await page.locator("main").textContent()),
    `a DN the directory lacks is refused (${missing[0].status()})`);
  await page.goto(`${base}/harbor/groups`);
  await page.locator("summary", { hasText: "Import LDAP group" }).click();
  await page.getByLabel("LDAP Group DN").fill(ldapGroup);
  await clickAndWait(page, page.locator("#import-group button[type=submit]"));
  const groupRow = page.locator("#groups tr", { hasText: "harbor-admins" });
  check(await groupRow.count() === 1 && /LDAP/.test(await groupRow.textContent()),
    `the LDAP group is imported (${page.url()}: ${await page.locator("main").textContent()})`);

  // ---- System robot accounts. ----
  await page.goto(`${base}/harbor/robot-accounts`);
  const hostile = `<script>window.__xss=1</script>"'&` + "d".repeat(120);
  await page.locator("summary", { hasText: "New Robot Account" }).click();
  await page.locator("#robot-name").fill("ci");
  await page.locator("#robot-description").fill(hostile);
  await page.locator("#robot-days").fill("10");
  await page.getByLabel("alpha", { exact: true }).check();
  await page.getByLabel("beta", { exact: true }).check();
  await page.getByLabel("Push repository").check();
  await clickAndWait(page, page.locator("#new-robot button[type=submit]"));
  const secret = await page.locator("#robot-secret").inputValue();
  check(secret.length >= 16, "the new robot's secret is shown");
  check(await page.locator("#new-robot-secret button[data-copy]").isVisible(), "with a copy button");
  await shot(page, "portal-robot-accounts.png");
  const desc = await page.locator("td.robot-description").first().textContent();
  check(desc === hostile, "the hostile description renders as text");
  check(await page.evaluate(() => window.__xss) === undefined, "no injected script ran");
  check(/push/.test(await page.locator("#robots").textContent()), "its permissions are listed");
  let pushed = await push("robot$ci", secret, "alpha/app:v1");
  check(pushed === "ok", `the robot pushes to alpha (${pushed})`);
  pushed = await push("robot$ci", secret, "beta/app:v1");
  check(pushed === "ok", `the robot pushes to beta (${pushed})`);
  pushed = await push("robot$ci", secret, "gamma/app:v1");
  check(pushed !== "ok", "the robot is refused in gamma");

  // Disabled, it is refused; enabled again, it pushes.
  await page.goto(`${base}/harbor/robot-accounts`);
  await clickAndWait(page, page.getByRole("button", { name: "Disable robot account robot$ci" }));
  check((await page.locator("td.robot-status").first().textContent()) === "Disabled", "the robot is disabled");
  pushed = await push("robot$ci", secret, "alpha/app:v2");
  check(pushed !== "ok", "a disabled robot is refused");
  await clickAndWait(page, page.getByRole("button", { name: "Enable robot account robot$ci" }));
  check((await page.locator("td.robot-status").first().textContent()) === "Enabled", "the robot is enabled again");

  // A refreshed secret replaces the old one.
  await page.getByText("Refresh Secret").click();
  await clickAndWait(page, page.getByRole("button", { name: "Refresh", exact: true }));
  const fresh = await page.locator("#robot-secret").inputValue();
  check(fresh.length >= 16 && fresh !== secret, "a new secret is shown once");
  pushed = await push("robot$ci", secret, "alpha/app:v3");
  check(pushed !== "ok", "the old secret is refused");
  pushed = await push("robot$ci", fresh, "alpha/app:v3");
  check(pushed === "ok", `the new secret pushes (${pushed})`);

  // Edited to cover gamma too.
  await page.goto(`${base}/harbor/robot-accounts`);
  await clickAndWait(page, page.getByRole("link", { name: "Edit robot account robot$ci" }));
  check(await page.getByLabel("alpha", { exact: true }).isChecked(), "the edit form has the robot's projects");
  check(await page.getByLabel("Push repository").isChecked(), "and its access");
  await page.getByLabel("gamma", { exact: true }).check();
  await clickAndWait(page, page.getByRole("button", { name: "Save" }));
  pushed = await push("robot$ci", fresh, "gamma/app:v1");
  check(pushed === "ok", `after the edit the robot pushes to gamma (${pushed})`);

  // Searched by name.
  await page.locator("#robot-filter").fill("nomatch");
  await clickAndWait(page, page.locator("#robot-search button"));
  check(await page.locator("td.robot-name").count() === 0, "a search without match lists none");
  await page.locator("#robot-filter").fill("c");
  await clickAndWait(page, page.locator("#robot-search button"));
  check(await page.locator("td.robot-name", { hasText: "robot$ci" }).count() === 1, "a search by name finds it");

  // ---- Clean Up: GC and Log Rotation. ----
  await page.goto(`${base}/harbor/gc`);
  check(await page.locator("nav.tabs a", { hasText: "Garbage Collection" }).getAttribute("aria-current") === "page",
    "GC is the current Clean Up tab");
  await clickAndWait(page, page.getByRole("link", { name: "Log Rotation" }));
  check(page.url() === `${base}/harbor/clearing-job/audit-log-purge`, `the Log Rotation tab opens (${page.url()})`);
  async function fillPurge() {
    await page.getByLabel("Keep records in").fill("2");
    await page.getByLabel("Unit").selectOption("days");
    for (const [op, on] of [["Create", true], ["Delete", false], ["Pull", true], ["Update", false]]) {
      await page.getByLabel(op, { exact: true }).setChecked(on);
    }
  }
  async function lastRunStatus() {
    let status = "";
    for (let i = 0; i < 60; i++) {
      await page.goto(`${base}/harbor/clearing-job/audit-log-purge`);
      status = (await page.locator("#purge-history td.gc-status").first().textContent()) || "";
      if (["Success", "Error", "Stopped"].includes(status)) break;
      await page.waitForTimeout(300);
    }
    return status;
  }
  await fillPurge();
  await clickAndWait(page, page.getByRole("button", { name: "Dry Run" }));
  check((await lastRunStatus()) === "Success", "the dry run succeeds");
  check((await askValue("OLD-AUDIT")) === "4", "a dry run deletes nothing");
  await fillPurge();
  await clickAndWait(page, page.getByRole("button", { name: "Purge Now" }));
  check((await lastRunStatus()) === "Success", "the purge succeeds");
  check((await askValue("OLD-AUDIT")) === "1", "the purge deleted the old pulls and creates, not the delete");
  await clickAndWait(page, page.getByRole("link", { name: /^Log of run/ }).first());
  check(((await page.locator("#purge-log").textContent()) || "").trim().length > 0, "the purge's log reads");

  // ---- Replication: a pull-mode rule, run, edited, run again. ----
  await page.goto(`${base}/harbor/registries`);
  await page.locator("summary", { hasText: "New Endpoint" }).click();
  await page.getByLabel("Name").fill("peer");
  await page.getByLabel("Endpoint URL").fill(peer);
  await page.getByLabel("Access ID").fill("admin");
  await page.getByLabel("Access Secret").fill(adminPassword);
  await clickAndWait(page, page.locator("#new-registry button[value=create]"));
  check(await page.locator("td.registry-name", { hasText: "peer" }).count() === 1, "the peer registry is added");
  await page.goto(`${base}/harbor/replications`);
  await page.locator("summary", { hasText: "New Replication Rule" }).click();
  await page.locator("#policy-name").fill("pull-src");
  await page.getByLabel(/Pull-based/).check();
  await page.locator("#policy-filter").fill("src/app");
  await page.locator("#policy-namespace").fill("pulled");
  await page.locator("#policy-flatten").selectOption("-1");
  await clickAndWait(page, page.locator("#new-policy button[type=submit]"));
  const row = page.locator("#policies tr", { hasText: "pull-src" });
  check(await row.count() === 1, "the pull rule is listed");
  check((await row.locator("td.policy-source").textContent()) === "peer", "its source is the peer");
  async function replicate() {
    await page.goto(`${base}/harbor/replications`);
    await clickAndWait(page, page.getByRole("button", { name: "Replicate pull-src" }));
    const url = page.url();
    let status = "";
    for (let i = 0; i < 120 && !["Succeeded", "Failed", "Stopped"].includes(status); i++) {
      await page.goto(url);
      status = (await page.locator("#execution-status").textContent()) || "";
      if (!["Succeeded", "Failed", "Stopped"].includes(status)) await page.waitForTimeout(500);
    }
    return status;
  }
  let status = await replicate();
  check(status === "Succeeded", `the pull execution succeeds (${status})`);
  let repos = JSON.parse(await askValue("REPOS"));
  check(repos.includes("pulled/app") && !repos.includes("pulled/other"),
    `only the matching repository was pulled (${repos})`);

  await page.goto(`${base}/harbor/replications`);
  await clickAndWait(page, page.getByRole("link", { name: "Edit rule pull-src" }));
  check((await page.locator("#policy-filter").inputValue()) === "src/app", "the edit form has the rule's filter");
  check(await page.getByLabel(/Pull-based/).isChecked(), "and its mode");
  check((await page.locator("#policy-namespace").inputValue()) === "pulled", "and its namespace");
  await page.locator("#policy-filter").fill("src/other");
  await clickAndWait(page, page.locator("#edit-policy button[type=submit]"));
  const policies = JSON.parse(await askValue("POLICIES"));
  const edited = policies.find((p) => p.name === "pull-src");
  check(edited && edited.filters.some((f) => f.type === "name" && f.value === "src/other"),
    `the API holds the edited filter (${JSON.stringify(edited && edited.filters)})`);
  check(edited && edited.src_registry.name === "peer" && edited.dest_namespace === "pulled",
    "and the rest of the rule");
  status = await replicate();
  check(status === "Succeeded", `the edited rule's execution succeeds (${status})`);
  repos = JSON.parse(await askValue("REPOS"));
  check(repos.includes("pulled/other"), `the next run applies the new filter (${repos})`);

  await page.goto(`${base}/harbor/replications`);
  await clickAndWait(page, page.getByRole("button", { name: "Disable rule pull-src" }));
  const disabled = JSON.parse(await askValue("POLICIES")).find((p) => p.name === "pull-src");
  check(disabled && disabled.enabled === false && disabled.filters.length === 1, "the rule is disabled, nothing else changed");
  await clickAndWait(page, page.getByRole("button", { name: "Enable rule pull-src" }));
  check(/Enabled/.test(await page.locator("#policies tr", { hasText: "pull-src" }).textContent()), "and enabled again");

  // ---- Accessibility: every page an administrator reaches, with the
  // robots, rules, settings and runs made above, by axe-core and keyboard.
  await checkAccessibility({
    browser,
    base,
    signIn: (p) => signIn(p, "admin", adminPassword),
    check,
    axePath: process.env.PORTAL_AXE,
  });
} catch (e) {
  await finish("ADMIN PORTAL", e);
}
await finish("ADMIN PORTAL");
