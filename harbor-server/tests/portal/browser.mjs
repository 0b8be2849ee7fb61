// The portal in a real browser: Debian's chromium, headless, driven by
// npm's playwright-core (no browser download). Run by tests/portal.rs,
// which starts the server and answers this script's requests on stdin:
//
//   stdout "PUSH <user> <password>"  -> the test pushes images with skopeo
//   stdin  "PUSHED <json>"            <- what it pushed (digest, names, label)
//
// Every check that fails is printed; the script exits 1 if any did.
// Environment: PORTAL_BASE (http://127.0.0.1:PORT), PORTAL_ADMIN_PASSWORD,
// PORTAL_PEER (another server to replicate to, same admin password),
// PLAYWRIGHT_MODULE (the playwright-core directory), PORTAL_AXE (axe-core's
// axe.min.js, for the accessibility crawl), PORTAL_SHOTS (where to
// keep screenshots, optional). Playwright gives chromium a fresh, temporary
// user-data-dir of its own (it refuses --user-data-dir with launch()).

import {
  base,
  adminPassword,
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

try {
  const { context, page } = await newPage();

  // / sends a browser without a session to the sign-in page.
  await page.goto(`${base}/`);
  check(page.url().startsWith(`${base}/harbor/sign-in`), "/ leads to the sign-in page");
  await shot(page, "portal-sign-in.png");

  // A wrong password is refused with a message.
  await signIn(page, "admin", "not-the-password");
  const error = await page.locator("#sign-in-error").textContent().catch(() => "");
  check(/Invalid user name or password/.test(error || ""), "a wrong password is refused with a message");
  check(page.url().startsWith(`${base}/c/login`) || page.url().includes("sign-in"), "still signing in after a wrong password");

  // The administrator signs in.
  await signIn(page, "admin", adminPassword);
  check(page.url() === `${base}/harbor/projects`, `admin lands on the projects (${page.url()})`);
  check(await page.locator("header .username").textContent() === "admin", "the header names the user");

  // Creates a project.
  await page.locator("summary", { hasText: "New Project" }).click();
  await page.getByLabel("Project Name").fill("portal-demo");
  await clickAndWait(page, page.locator("#new-project button[type=submit]"));
  check(/\/harbor\/projects\/\d+\/repositories$/.test(page.url()), `the new project opens (${page.url()})`);
  check((await page.locator("h1").textContent()) === "portal-demo", "its page is headed with its name");
  const projectUrl = page.url().replace(/\/repositories$/, "");

  // Creates two users, one with a hostile full name.
  // (Harbor refuses " , ~ # $ % in a full name.)
  const hostile = `<script>window.__xss=1</script><img src=x onerror='window.__xss=2'>'&` + "x".repeat(150);
  for (const [name, realname] of [["dev1", hostile], ["guest1", "Guest One"]]) {
    await page.goto(`${base}/harbor/users`);
    await page.locator("summary", { hasText: "New User" }).click();
    await page.getByLabel("Username").fill(name);
    await page.getByLabel("Email").fill(`${name}@example.com`);
    await page.getByLabel("First and last name").fill(realname);
    await page.getByLabel("Password").fill("Portal12345");
    await clickAndWait(page, page.locator("#new-user button[type=submit]"));
    check(await page.locator("td.user-name", { hasText: name }).count() === 1, `user ${name} is listed`);
  }
  const cell = page.locator("#users tr", { hasText: "dev1" }).locator("td").nth(3);
  check((await cell.textContent()) === hostile, "a hostile full name shows as text");

  // A group, added to the project as Maintainer.
  await page.goto(`${base}/harbor/groups`);
  await page.locator("summary", { hasText: "New Group" }).click();
  await page.getByLabel("Name").fill("qa-team");
  await clickAndWait(page, page.locator("#new-group button[type=submit]"));
  check(await page.locator("td.group-name", { hasText: "qa-team" }).count() === 1, "the group is listed");
  await page.goto(`${projectUrl}/members`);
  await page.locator("summary", { hasText: "Add a member" }).click();
  await page.getByLabel("Group name").fill("qa-team");
  await page.locator("#group-role").selectOption({ label: "Maintainer" });
  await clickAndWait(page, page.getByRole("button", { name: "Add group" }));
  const groupRow = page.locator("#members tr", { hasText: "qa-team" });
  check(await groupRow.locator("td").nth(1).textContent() === "Group", "the group is a member");
  await groupRow.locator("select").selectOption({ label: "Developer" });
  await clickAndWait(page, groupRow.getByRole("button", { name: "Change role" }));
  const newRole = await page.locator("#members tr", { hasText: "qa-team" }).locator("select")
    .evaluate((s) => s.options[s.selectedIndex].text);
  check(newRole === "Developer", `the group's role changes (${newRole})`);
  await clickAndWait(page, page.getByRole("button", { name: "Remove member qa-team" }));
  check(await page.locator("#members tr", { hasText: "qa-team" }).count() === 0, "the group is removed");

  // Adds them as Developer and Guest.
  for (const [name, role] of [["dev1", "Developer"], ["guest1", "Guest"]]) {
    await page.goto(`${projectUrl}/members`);
    await page.locator("summary", { hasText: "Add a member" }).click();
    await page.getByLabel("User name").fill(name);
    await page.locator("#member-role").selectOption({ label: role });
    await clickAndWait(page, page.getByRole("button", { name: "Add user" }));
    const row = page.locator("#members tr", { hasText: name });
    check(await row.count() === 1, `${name} is a member`);
    const selected = await row.locator("select").evaluate((s) => s.options[s.selectedIndex].text);
    check(selected === role, `${name} has role ${role} (${selected})`);
  }

  // The test pushes as dev1 (and labels the artifact with a hostile name).
  const pushed = JSON.parse((await ask("PUSH dev1 Portal12345")).replace(/^PUSHED /, ""));

  // The repository, its tag, its digest and its label in the page.
  await page.goto(`${projectUrl}/repositories`);
  const repoLink = page.getByRole("link", { name: "portal-demo/app", exact: true });
  check(await repoLink.count() === 1, "the pushed repository is listed");
  check(await page.getByText(pushed.long_repository, { exact: true }).count() === 1, "a very long repository name shows whole");
  await clickAndWait(page, repoLink);
  check(page.url().endsWith("/repositories/app/artifacts-tab"), `artifacts at Harbor's path (${page.url()})`);
  const row = page.locator("#artifacts tbody tr").first();
  check((await row.locator("span.tag").first().textContent()) === "v1", "the tag v1 shows");
  check((await row.locator("abbr.digest").getAttribute("title")) === pushed.digest, "the digest shows");
  check((await row.locator("span.label").textContent()) === pushed.label, "the hostile label shows as text");
  check(await page.evaluate(() => window.__xss) === undefined, "no hostile script ran");
  check(await page.locator("script").count() === 1, "the page holds only the portal's script");
  await shot(page, "portal-artifacts.png");

  // Copies the pull command.
  await row.getByRole("button", { name: /Copy pull command/ }).click();
  const clip = await page.evaluate(() => navigator.clipboard.readText());
  check(clip === `docker pull ${pushed.host}/portal-demo/app@${pushed.digest}`, `the pull command is copied (${clip})`);

  // The artifact's own page: its layers.
  await clickAndWait(page, row.locator("abbr.digest"));
  check((await page.locator("#artifact-digest").textContent()) === pushed.digest, "the artifact page shows its digest");
  const layers = await page.locator("#layers td.layer-digest").allTextContents();
  check(JSON.stringify(layers) === JSON.stringify(pushed.layers), `its layers show in order (${layers.length})`);
  check(await page.locator("#artifact-digest ~ dl .tag").first().textContent() === "v1", "its tag shows");

  const artifactUrl = page.url();

  // A multi-platform index: its platforms in the list and on its page,
  // each platform's image a link to its own page with its own layers.
  await page.goto(`${projectUrl}/repositories/multi/artifacts-tab`);
  const multiRow = page.locator("#artifacts tbody tr").first();
  const platforms = await multiRow.locator("td span.tag").allTextContents();
  for (const child of pushed.multi.children) {
    check(platforms.includes(child.platform), `the index row shows ${child.platform} (${platforms})`);
  }
  await clickAndWait(page, multiRow.locator("abbr.digest"));
  check((await page.locator("#artifact-digest").textContent()) === pushed.multi.digest, "the index's page shows its digest");
  const rows = await page.locator("#platforms tbody tr").allTextContents();
  check(rows.length === 2, `the index's page lists two platforms (${rows.length})`);
  await shot(page, "portal-index.png");
  const arm = pushed.multi.children.find((c) => c.platform === "linux/arm64");
  await clickAndWait(page, page.getByRole("link", { name: arm.digest }));
  check((await page.locator("#artifact-digest").textContent()) === arm.digest, "the arm64 image opens from the index");
  const armLayers = await page.locator("#layers td.layer-digest").allTextContents();
  check(JSON.stringify(armLayers) === JSON.stringify(arm.layers), `the arm64 image shows its own layers (${armLayers.length})`);

  // A project label, put on the artifact and taken off again.
  await page.goto(`${projectUrl}/labels`);
  await page.locator("summary", { hasText: "New Label" }).click();
  await page.getByLabel("Label name").fill("release");
  await clickAndWait(page, page.locator("#new-label button[type=submit]"));
  check(await page.locator("#labels span.label", { hasText: "release" }).count() === 1, "the project label is listed");
  await page.goto(artifactUrl);
  await page.getByLabel("Add label").selectOption({ label: "release" });
  await clickAndWait(page, page.locator("#add-label button[type=submit]"));
  check(await page.locator("dl span.label", { hasText: /^release$/ }).count() === 1, "the label is on the artifact");
  await clickAndWait(page, page.getByRole("button", { name: "Remove release label" }));
  check(await page.locator("dl span.label", { hasText: /^release$/ }).count() === 0, "the label is off the artifact");

  // A tag added to the artifact and deleted again.
  await page.getByLabel("Add tag").fill("stable");
  await clickAndWait(page, page.locator("#add-tag button[type=submit]"));
  check(await page.locator("dl span.tag", { hasText: /^stable$/ }).count() === 1, "the new tag is on the artifact");
  await clickAndWait(page, page.getByRole("button", { name: "Delete tag stable" }));
  check(await page.locator("dl span.tag", { hasText: /^stable$/ }).count() === 0, "the deleted tag is gone");
  check(await page.locator("dl span.tag", { hasText: /^v1$/ }).count() === 1, "v1 stays");

  // A webhook for the project, then deleted.
  await page.goto(`${projectUrl}/webhook`);
  await page.locator("summary", { hasText: "New Webhook" }).click();
  await page.getByLabel("Name").fill("notify-ci");
  await page.getByLabel("Endpoint URL").fill("http://127.0.0.1:9/hook");
  await clickAndWait(page, page.locator("#new-webhook button[type=submit]"));
  check(await page.locator("td.webhook-name", { hasText: "notify-ci" }).count() === 1, "the webhook is listed");
  await clickAndWait(page, page.getByRole("button", { name: "Delete webhook notify-ci" }));
  check(await page.locator("td.webhook-name", { hasText: "notify-ci" }).count() === 0, "the webhook is deleted");

  // An immutability rule on v*: deleting v1 is then refused, with the reason.
  await page.goto(`${projectUrl}/tag-immutability`);
  await page.locator("summary", { hasText: "Add Rule" }).click();
  await page.getByLabel("Tags pattern").fill("v*");
  await clickAndWait(page, page.locator("#new-immutable-rule button[type=submit]"));
  check((await page.locator("td.rule-tags").first().textContent()) === "matching v*", "the rule is listed");
  await page.goto(artifactUrl);
  await clickAndWait(page, page.getByRole("button", { name: "Delete tag v1" }));
  check(page.url().endsWith("/tags/v1/delete") && /immutable/i.test(await page.locator("p.error").textContent()), "deleting an immutable tag is refused with the reason");
  await page.goto(`${projectUrl}/tag-immutability`);
  await clickAndWait(page, page.getByRole("button", { name: /^Delete rule/ }));
  check(await page.locator("td.rule-tags").count() === 0, "the rule is deleted");

  // Creates a robot account: its secret is shown once, and copied.
  await page.goto(`${projectUrl}/robot-account`);
  await page.locator("summary", { hasText: "New Robot Account" }).click();
  await page.getByLabel("Name", { exact: true }).fill("ci");
  await page.getByLabel("Push").check();
  await clickAndWait(page, page.locator("#new-robot button[type=submit]"));
  const robotName = await page.locator("td.robot-name").first().textContent();
  check(robotName === "robot$portal-demo+ci", `the robot is listed (${robotName})`);
  const secret = await page.getByLabel("Secret").inputValue();
  check(secret.length >= 8, "its secret is shown");
  await page.getByRole("button", { name: "Copy secret" }).click();
  check(await page.evaluate(() => navigator.clipboard.readText()) === secret, "the secret is copied");
  const pulled = await ask(`PULL ${robotName} ${secret}`);
  check(pulled === "PULLED ok", `the robot pulls with the copied secret (${pulled})`);
  await page.goto(`${projectUrl}/robot-account`);
  check(await page.locator("#robot-secret").count() === 0, "the secret is not shown again");

  // The projects list.
  await page.goto(`${base}/harbor/projects`);
  check(await page.getByRole("link", { name: "portal-demo" }).count() === 1, "the project is listed");
  await shot(page, "portal-projects.png");

  // A POST without the CSRF token is refused, with the session.
  const forged = await context.request.post(`${base}/harbor/projects`, {
    form: { project_name: "forged" },
    maxRedirects: 0,
  });
  check(forged.status() === 403, `a form POST without the CSRF token is refused (${forged.status()})`);
  const forgedApi = await context.request.post(`${base}/api/v2.0/projects`, {
    data: { project_name: "forged" },
  });
  check(forgedApi.status() === 403, `an API POST without the CSRF header is refused (${forgedApi.status()})`);

  // The administrator deletes the long repository (confirming).
  await page.goto(`${projectUrl}/repositories`);
  await clickAndWait(page, page.getByRole("button", { name: `Delete repository ${pushed.long_repository}` }));
  check(await page.getByText(pushed.long_repository, { exact: true }).count() === 0, "the deleted repository is gone");

  // Adds the peer registry (testing the connection first), a rule copying
  // the project to it, runs it and watches it reach Succeeded.
  await page.goto(`${base}/harbor/registries`);
  await page.locator("summary", { hasText: "New Endpoint" }).click();
  await page.getByLabel("Name").fill("peer");
  await page.getByLabel("Endpoint URL").fill(peer);
  await page.getByLabel("Access ID").fill("admin");
  await page.getByLabel("Access Secret").fill(adminPassword);
  await clickAndWait(page, page.getByRole("button", { name: "Test Connection" }));
  const tested = (await page.locator("#registry-outcome").textContent()) || "";
  check(/successfully/.test(tested), `the connection test passes (${tested})`);
  await page.getByLabel("Access Secret").fill(adminPassword);
  await clickAndWait(page, page.locator("#new-registry button[value=create]"));
  check(await page.locator("td.registry-name", { hasText: "peer" }).count() === 1, "the registry is listed");
  await page.goto(`${base}/harbor/replications`);
  await page.locator("summary", { hasText: "New Replication Rule" }).click();
  await page.getByLabel("Name", { exact: true }).fill("to-peer");
  await page.getByLabel(/Source resource filter/).fill("portal-demo/app");
  await page.getByLabel(/Destination namespace/).fill("mirror");
  await clickAndWait(page, page.locator("#new-policy button[type=submit]"));
  check(await page.locator("td.policy-name", { hasText: "to-peer" }).count() === 1, "the rule is listed");
  await clickAndWait(page, page.getByRole("button", { name: "Replicate to-peer" }));
  check(/\/harbor\/replications\/executions\/\d+$/.test(page.url()), `the execution opens (${page.url()})`);
  const executionUrl = page.url();
  let execStatus = "";
  for (let i = 0; i < 120 && !["Succeeded", "Failed", "Stopped"].includes(execStatus); i++) {
    await page.goto(executionUrl);
    execStatus = (await page.locator("#execution-status").textContent()) || "";
    if (execStatus === "InProgress") await page.waitForTimeout(500);
  }
  check(execStatus === "Succeeded", `the execution succeeds (${execStatus})`);
  const taskStatuses = await page.locator("#tasks td.task-status").allTextContents();
  check(taskStatuses.length > 0 && taskStatuses.every((t) => t === "Succeeded"), `its tasks succeeded (${taskStatuses})`);
  await shot(page, "portal-replication.png");
  await clickAndWait(page, page.getByRole("link", { name: /^Log of task/ }).first());
  check(((await page.locator("#task-log").textContent()) || "").trim().length > 0, "a task's log shows");

  // Runs garbage collection, watches it end, and reads its log.
  await page.goto(`${base}/harbor/gc`);
  await page.getByLabel("Allow garbage collection on untagged artifacts").check();
  await clickAndWait(page, page.getByRole("button", { name: "GC Now" }));
  let gcStatus = "";
  for (let i = 0; i < 60 && gcStatus !== "Success"; i++) {
    await page.goto(`${base}/harbor/gc`);
    gcStatus = (await page.locator("#gc-history td.gc-status").first().textContent()) || "";
    if (gcStatus !== "Success") await page.waitForTimeout(500);
  }
  check(gcStatus === "Success", `the GC run succeeds (${gcStatus})`);
  await clickAndWait(page, page.getByRole("link", { name: /^Log of run/ }).first());
  const gcLog = (await page.locator("#gc-log").textContent()) || "";
  check(gcLog.trim().length > 0, `the GC log shows (${gcLog.split("\n")[0]})`);

  // The audit logs: the project's shows dev1's push, the system's the
  // project's creation by admin.
  await page.goto(`${projectUrl}/logs`);
  check(await page.locator("#audit-log tr", { hasText: "dev1" }).count() > 0, "the project's log shows dev1's push");
  await page.goto(`${base}/harbor/logs?username=admin`);
  check(await page.locator("#audit-log tr", { hasText: "portal-demo" }).count() > 0, "the system log shows the project's creation");

  // Only administrators may create projects from now on.
  await page.goto(`${base}/harbor/configs`);
  await page.getByLabel("Project Creation").selectOption("adminonly");
  await clickAndWait(page, page.getByRole("button", { name: "Save" }));
  check(await page.getByText("The configuration was saved.").count() === 1, "the configuration is saved");
  check(await page.getByLabel("Project Creation").inputValue() === "adminonly", "project creation is admin-only");

  // Signs out: the pages ask for signing in again.
  await clickAndWait(page, page.getByRole("link", { name: "Sign out" }));
  check(page.url().startsWith(`${base}/harbor/sign-in`), "signing out leads to the sign-in page");
  await page.goto(`${base}/harbor/projects`);
  check(page.url().startsWith(`${base}/harbor/sign-in`), "after signing out the projects need a sign-in");
  await context.close();

  // A Guest sees the artifacts but no delete buttons, and no Users page.
  const guest = await newPage();
  await signIn(guest.page, "guest1", "Portal12345");
  check(guest.page.url() === `${base}/harbor/projects`, "guest1 signs in");
  check(await guest.page.getByRole("link", { name: "Users" }).count() === 0, "a non-admin has no Users link");
  check(await guest.page.locator("summary", { hasText: "New Project" }).count() === 0, "with admin-only creation a non-admin gets no New Project");
  check(await guest.page.getByRole("link", { name: "Configuration" }).count() === 0, "a non-admin has no Configuration link");
  check(await guest.page.getByRole("link", { name: "Garbage Collection" }).count() === 0, "a non-admin has no GC link");
  check(await guest.page.getByRole("link", { name: "Replications" }).count() === 0, "a non-admin has no replication link");
  const gcPage = await guest.page.goto(`${base}/harbor/gc`);
  check(gcPage.status() === 403, `the GC page is refused to a non-admin (${gcPage.status()})`);
  await guest.page.goto(`${projectUrl}/repositories/app/artifacts-tab`);
  check(await guest.page.locator("#artifacts tbody tr").count() === 1, "the guest sees the artifact");
  check(await guest.page.getByRole("button", { name: /^Delete/ }).count() === 0, "the guest sees no delete button");
  await guest.page.goto(`${projectUrl}/repositories`);
  check(await guest.page.getByRole("button", { name: /^Delete/ }).count() === 0, "the guest sees no repository delete button");
  await guest.page.goto(`${projectUrl}/members`);
  check(await guest.page.getByRole("button", { name: /^Remove/ }).count() === 0, "the guest sees no member remove button");
  check(await guest.page.locator("summary", { hasText: "Add a member" }).count() === 0, "the guest cannot add members");
  await guest.page.goto(`${base}/harbor/projects`);
  check(await guest.page.getByRole("button", { name: /^Delete/ }).count() === 0, "the guest cannot delete the project");
  const users = await guest.page.goto(`${base}/harbor/users`);
  check(users.status() === 403, `the Users page is refused to a non-admin (${users.status()})`);
  // The guest changes its password and signs in with the new one.
  await guest.page.goto(`${base}/harbor/account`);
  await guest.page.getByLabel("Current password").fill("Portal12345");
  await guest.page.getByLabel("New password").fill("Portal54321");
  await clickAndWait(guest.page, guest.page.getByRole("button", { name: "Change password" }));
  check(await guest.page.getByText("Your password was changed.").count() === 1, "the password change is confirmed");
  await clickAndWait(guest.page, guest.page.getByRole("link", { name: "Sign out" }));
  await signIn(guest.page, "guest1", "Portal12345");
  check(guest.page.url().startsWith(`${base}/c/login`), "the old password no longer signs in");
  await signIn(guest.page, "guest1", "Portal54321");
  check(guest.page.url() === `${base}/harbor/projects`, "the new password signs in");
  await guest.context.close();

  // Every page the administrator reaches, with all the data made above,
  // checked for accessibility by axe-core and by keyboard.
  await checkAccessibility({
    browser,
    base,
    signIn: (p) => signIn(p, "admin", adminPassword),
    check,
    axePath: process.env.PORTAL_AXE,
  });
} catch (e) {
  await finish("PORTAL", e);
}
await finish("PORTAL");
