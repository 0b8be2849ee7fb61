// A project's pages in a real browser (Debian's chromium through npm's
// playwright-core): the summary, the configuration, tag retention under
// the Policy tab, Administration -> Project Quotas and label colour chips.
// Run by tests/portal_projects.rs, which starts the server, creates the
// project (PORTAL_PROJECT_ID, "shelf", with members dev1 Developer and
// guest1 Guest, password Portal12345) and answers this script's requests on
// stdin, one line each:
//
//   "PUSH"     -> "PUSHED <json>"   four ~5 MiB images in shelf/app
//                                   (drop-1, drop-2, keep-1, keep-2) and a
//                                   label with a hostile colour on keep-1
//   "ANONPULL" -> "PULLED ok|<why>" skopeo pulls shelf/app:keep-1 anonymously
//   "TAGS"     -> "TAGS a,b"        the tags of shelf/app in the registry
//   "PUSHMORE" -> "PUSHEDMORE ok|refused <why>" one more ~5 MiB image
//
// Every failed check is printed; the script exits 1 if any did.
// Environment: PORTAL_BASE, PORTAL_ADMIN_PASSWORD, PORTAL_PROJECT_ID,
// PLAYWRIGHT_MODULE, PORTAL_SHOTS (where to keep screenshots, optional).

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
  api,
  until,
  finish,
} from "./lib.mjs";
import { checkAccessibility } from "./a11y.mjs";

const projectId = process.env.PORTAL_PROJECT_ID;

try {
  const { page } = await newPage();
  const projectUrl = `${base}/harbor/projects/${projectId}`;
  await signIn(page, "admin", adminPassword);
  const pushed = JSON.parse((await ask("PUSH")).replace(/^PUSHED /, ""));

  // The project opens on its summary: one repository, the storage used of
  // an unlimited quota, one developer and one guest.
  await page.goto(projectUrl);
  check(page.url() === `${projectUrl}/summary`, `a project opens on its summary (${page.url()})`);
  check(await page.locator("nav.tabs a[aria-current=page]").textContent() === "Summary", "the Summary tab is current");
  check((await page.locator("dd.repo-count").textContent()).trim() === "1", "the summary counts one repository");
  check(await page.locator("dd[data-role=developer_count]").textContent() === "1", "one developer");
  check(await page.locator("dd[data-role=guest_count]").textContent() === "1", "one guest");
  const used = await page.locator("#project-quota .quota-used").textContent();
  check(/^2\d\.\d\d MiB$/.test(used), `about 20 MiB used after four pushes (${used})`);
  check(await page.locator("#project-quota .quota-limit").textContent() === "unlimited", "the quota is unlimited");
  check(await page.locator("#quota-bar").count() === 0, "no bar for an unlimited quota");
  check((await page.locator("dd.access-level").textContent()) === "Private", "the project is private");

  // Configuration: made public, which the API and an anonymous pull see.
  const before = await ask("ANONPULL");
  check(before !== "PULLED ok", "an anonymous pull of the private project is refused");
  await page.getByRole("navigation", { name: "Project" }).getByRole("link", { name: "Configuration" }).click();
  await page.waitForURL(`${projectUrl}/configs`);
  await page.getByLabel("Public").check();
  await clickAndWait(page, page.locator("#project-config button[type=submit]"));
  check(await page.getByLabel("Public").isChecked(), "the configuration shows the project public");
  const proj = await api(page, `/projects/${projectId}`);
  check(proj.json?.metadata?.public === "true", "the API says public");
  const after = await ask("ANONPULL");
  check(after === "PULLED ok", `an anonymous pull now works (${after})`);

  // Tag retention under the Policy tab: a rule retaining keep-* only.
  await page.getByRole("navigation", { name: "Project" }).getByRole("link", { name: "Policy" }).click();
  await page.waitForURL(`${projectUrl}/tag-strategy/tag-retention`);
  check(await page.locator("nav.subtabs a", { hasText: "Tag Immutability" }).count() === 1, "Policy shows tag immutability too");
  await page.locator("summary", { hasText: "Add Rule" }).click();
  const form = page.locator("#new-retention-rule");
  await form.getByLabel("For the repositories").selectOption("repoMatches");
  await form.getByLabel("Repository pattern").fill("**");
  await form.getByLabel("By artifact count or number of days").selectOption({ label: "retain always" });
  await form.getByLabel("Tags", { exact: true }).selectOption("matches");
  await form.getByLabel("Tag pattern").fill("keep-*");
  await clickAndWait(page, form.getByRole("button", { name: "Add" }));
  const ruleText = await page.locator("#retention-rules .rule-text").first().textContent();
  check(ruleText === "For the repositories matching **, retain always with tags matching keep-*", `the rule reads in Harbor's words (${ruleText})`);
  const rid = (await api(page, `/projects/${projectId}`)).json?.metadata?.retention_id;
  const policy = (await api(page, `/retentions/${rid}`)).json;
  const rule = policy?.rules?.[0];
  check(rule?.template === "always" && rule?.scope_selectors?.repository?.[0]?.decoration === "repoMatches"
    && rule?.scope_selectors?.repository?.[0]?.pattern === "**"
    && rule?.tag_selectors?.[0]?.decoration === "matches" && rule?.tag_selectors?.[0]?.pattern === "keep-*",
    `the API holds the rule the form sent (${JSON.stringify(rule)})`);

  // A second rule, edited, disabled, enabled and deleted.
  await page.locator("summary", { hasText: "Add Rule" }).click();
  await form.getByLabel("By artifact count or number of days").selectOption("latestPushedK");
  await form.getByLabel("Count or days (#)").fill("3");
  await form.getByLabel("Tag pattern").fill("**");
  await clickAndWait(page, form.getByRole("button", { name: "Add" }));
  const second = await page.locator("#retention-rules .rule-text").nth(1).textContent();
  check(second === "For the repositories matching **, retain the most recently pushed 3 artifacts with tags matching **", `a count rule reads as Harbor's (${second})`);
  await clickAndWait(page, page.getByRole("link", { name: "Edit rule 2" }));
  await page.locator("#edit-retention-rule").getByLabel("Count or days (#)").fill("5");
  await clickAndWait(page, page.locator("#edit-retention-rule").getByRole("button", { name: "Save" }));
  check((await api(page, `/retentions/${rid}`)).json?.rules?.[1]?.params?.latestPushedK === 5, "the edit reaches the API");
  await clickAndWait(page, page.getByRole("button", { name: "Disable rule 2" }));
  check(await page.locator("#retention-rules tr[data-rule='1'] .rule-status").textContent() === "Disabled", "the rule is disabled");
  check((await api(page, `/retentions/${rid}`)).json?.rules?.[1]?.disabled === true, "the API has it disabled");
  await clickAndWait(page, page.getByRole("button", { name: "Enable rule 2" }));
  check((await api(page, `/retentions/${rid}`)).json?.rules?.[1]?.disabled === false, "enabled again");
  await clickAndWait(page, page.getByRole("button", { name: "Delete rule 2" }));
  check((await api(page, `/retentions/${rid}`)).json?.rules?.length === 1, "the second rule is deleted");

  // A daily schedule.
  await page.getByLabel("Schedule").selectOption("Daily");
  await clickAndWait(page, page.getByRole("button", { name: "Save schedule" }));
  check((await api(page, `/retentions/${rid}`)).json?.trigger?.settings?.cron === "0 0 0 * * *", "the daily schedule reaches the API");
  await page.getByLabel("Schedule").selectOption("None");
  await clickAndWait(page, page.getByRole("button", { name: "Save schedule" }));

  // Dry run: nothing deleted, the execution Succeeded, its task says 2 of 4.
  const retention = `${projectUrl}/tag-strategy/tag-retention`;
  await clickAndWait(page, page.getByRole("button", { name: "Dry run" }));
  check(await until(page, retention, async (p) =>
    (await p.locator("#retention-executions .execution-status").first().textContent()) === "Succeeded"),
    "the dry run is listed as Succeeded");
  check(await page.locator("#retention-executions tbody tr").first().locator("td").nth(2).textContent() === "Yes", "it is marked a dry run");
  check(await ask("TAGS") === "TAGS drop-1,drop-2,keep-1,keep-2", "a dry run deletes nothing");
  await shot(page, "portal-tag-retention.png", true);
  await clickAndWait(page, page.locator("#retention-executions tbody tr").first().locator("a").first());
  const counts = await page.locator("#retention-tasks tr[data-repository='shelf/app'] .task-counts").textContent().catch(() => "");
  check(counts === "2 / 4", `the task retains 2 of 4 (${counts})`);
  await clickAndWait(page, page.getByRole("link", { name: "Log of shelf/app" }));
  const log = await page.locator("#retention-log").textContent();
  check(/drop-1/.test(log) && log.length > 20, `the task log is readable (${log.slice(0, 120)})`);

  // Run now: exactly drop-1 and drop-2 are deleted.
  await page.goto(retention);
  await clickAndWait(page, page.getByRole("button", { name: "Run now" }));
  check(await until(page, retention, async (p) => {
    const first = p.locator("#retention-executions tbody tr").first();
    return (await first.locator(".execution-status").textContent()) === "Succeeded"
      && (await first.locator("td").nth(2).textContent()) === "No";
  }), "the run is listed as Succeeded");
  const left = await ask("TAGS");
  check(left === "TAGS keep-1,keep-2", `the run deleted exactly drop-1 and drop-2 (${left})`);

  // Project Quotas: the limit set below the usage; a push is refused.
  await page.getByRole("link", { name: "Project Quotas" }).click();
  await page.waitForURL(`${base}/harbor/project-quotas`);
  const row = page.locator("#project-quotas tr[data-project='shelf']");
  check(await row.locator(".quota-limit").textContent() === "unlimited", "the list shows the unlimited quota");
  await row.getByLabel("Storage limit of shelf").fill("8");
  await row.getByLabel("Unit of the limit of shelf").selectOption("MiB");
  await clickAndWait(page, row.getByRole("button", { name: "Save the quota of shelf" }));
  const quotas = (await api(page, `/quotas?reference_id=${projectId}`)).json;
  check(quotas?.[0]?.hard?.storage === 8 * 1024 * 1024, `the API has the 8 MiB limit (${JSON.stringify(quotas?.[0]?.hard)})`);
  check(await page.locator("#project-quotas tr[data-project='shelf'] .quota-limit").textContent() === "8.00 MiB", "the list shows 8 MiB");
  check(await page.locator("#project-quotas tr[data-project='shelf'] progress").count() === 1, "with a bar");
  const more = await ask("PUSHMORE");
  check(more.startsWith("PUSHEDMORE refused") && /quota/i.test(more), `a push over the quota is refused for the quota (${more.slice(-300)})`);
  await page.goto(`${projectUrl}/summary`);
  check(await page.locator("#quota-bar").count() === 1, "the summary shows the quota bar");
  check(/of the quota/.test(await page.locator("#quota-bar").getAttribute("aria-label")), "the bar has an accessible name");
  await shot(page, "portal-project-summary.png", true);
  await page.goto(`${base}/harbor/project-quotas`);
  await page.locator("#project-quotas tr[data-project='shelf']").getByLabel("Storage limit of shelf").fill("");
  await clickAndWait(page, page.locator("#project-quotas tr[data-project='shelf']").getByRole("button", { name: "Save the quota of shelf" }));
  check((await api(page, `/quotas?reference_id=${projectId}`)).json?.[0]?.hard?.storage === -1, "an empty limit is unlimited again");

  // Labels as colour chips: a yellow label gets dark text; the hostile
  // colour is the default; the chips show on the artifact list and page.
  await page.goto(`${projectUrl}/labels`);
  await page.locator("summary", { hasText: "New Label" }).click();
  await page.getByLabel("Label name").fill("sunny");
  await page.getByLabel("Color").fill("#ffee00");
  await clickAndWait(page, page.locator("#new-label button[type=submit]"));
  const sunny = page.locator("#labels .chip", { hasText: "sunny" });
  check(await sunny.locator("svg rect").getAttribute("fill") === "#ffee00", "the chip is filled with the label's colour");
  check(/dark-text/.test(await sunny.getAttribute("class")), "light colours get dark text");
  const sunnyColor = await sunny.evaluate((e) => getComputedStyle(e).color);
  check(sunnyColor === "rgb(0, 0, 0)", `its text is black (${sunnyColor})`);
  if (pushed.hostile_label) {
    const hot = page.locator("#labels .chip", { hasText: "hostile-colour" });
    check(await hot.locator("svg rect").getAttribute("fill") === "#0065AB", "a hostile colour is shown as the default");
    check(await page.locator("[onmouseover]").count() === 0, "no attribute was injected");
    await page.goto(`${projectUrl}/repositories/app/artifacts-tab`);
    const chip = page.locator(".chip", { hasText: "hostile-colour" });
    check(await chip.locator("svg rect").getAttribute("fill") === "#0065AB", "the artifact list shows the chip");
    check(/light-text/.test(await chip.getAttribute("class")), "dark colours get light text");
    const digest = (await api(page, "/projects/shelf/repositories/app/artifacts/keep-1")).json?.digest;
    await page.goto(`${projectUrl}/repositories/app/artifacts-tab/artifacts/${digest}`);
    check(await page.locator(".chip", { hasText: "hostile-colour" }).locator("svg rect").getAttribute("fill") === "#0065AB", "the artifact page shows the chip");
    await page.hover(".chip");
    check(await page.evaluate(() => window.__xss === undefined), "hovering runs no script");
  } else {
    console.log("ok: the API refused the hostile colour itself");
  }

  // A guest sees neither the Policy tab nor the configuration's Save, and
  // a hand-made POST with the right token is refused.
  const guest = await newPage();
  await signIn(guest.page, "guest1", "Portal12345");
  await guest.page.goto(`${projectUrl}/summary`);
  check(await guest.page.locator("nav.tabs a", { hasText: "Policy" }).count() === 0, "a guest sees no Policy tab");
  await guest.page.goto(`${projectUrl}/configs`);
  check(await guest.page.getByRole("button", { name: "Save" }).count() === 0, "a guest sees no Save");
  check(await guest.page.getByLabel("Public").isDisabled(), "the guest's checkbox is read-only");
  const token = await guest.page.locator("input[name=_csrf]").first().getAttribute("value");
  for (const [path, body] of [
    [`${projectUrl}/configs`, "public=false"],
    [`${retention}/run`, "dry_run=false"],
    [`${retention}/rules/0/delete`, ""],
  ]) {
    const r = await guest.page.request.post(path, {
      headers: { "content-type": "application/x-www-form-urlencoded" },
      data: `${body}&_csrf=${token}`,
      maxRedirects: 0,
    });
    check(r.status() === 403 || r.status() === 404, `a guest's hand-made POST to ${path.replace(base, "")} is refused (${r.status()})`);
  }
  check((await api(page, `/projects/${projectId}`)).json?.metadata?.public === "true", "the project is still public");
  check((await api(page, `/retentions/${rid}`)).json?.rules?.length === 1, "the rule is still there");
  // A developer: no configuration Save (Harbor gives developers retention).
  const dev = await newPage();
  await signIn(dev.page, "dev1", "Portal12345");
  await dev.page.goto(`${projectUrl}/configs`);
  check(await dev.page.getByRole("button", { name: "Save" }).count() === 0, "a developer sees no configuration Save");
  await guest.context.close();
  await dev.context.close();

  // The new pages with their data (rules, executions, quotas, chips),
  // checked by axe-core and by keyboard.
  await checkAccessibility({
    browser,
    base,
    signIn: (p) => signIn(p, "admin", adminPassword),
    check,
    axePath: process.env.PORTAL_AXE,
  });
} catch (e) {
  await finish("PROJECTS", e);
}
await finish("PROJECTS");
