// The portal's accessibility, checked by a tool: every page an
// administrator can reach by following the portal's own links is run
// through axe-core (npm, injected by playwright) against WCAG 2.1 A and AA
// (labels and accessible names, contrast, landmarks, headings, ARIA, ...),
// and the keyboard is checked on each: the first Tab reaches the "Skip to
// content" link, which moves focus to the main content.
//
// Links are followed from /harbor/projects, same-origin GET only (every
// change in the portal is a POST form, so crawling changes nothing), never
// sign-out; each path is checked once (query strings, such as a list's
// page 2, are dropped) and at most three pages of one shape (paths that
// differ only in numbers: three projects' tabs, three executions).

import { readFileSync } from "node:fs";

const WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

// One path per shape: numbers and long hex digests become placeholders.
function shapeOf(url) {
  const u = new URL(url);
  return u.pathname
    .replace(/sha256:[0-9a-f]{64}/g, "D")
    .replace(/\d+/g, "N");
}

export async function checkAccessibility({ browser, base, signIn, check, axePath, limit = 120 }) {
  const axe = readFileSync(axePath, "utf8");
  // The portal's CSP forbids injected script; the tool's script is let in
  // for this context only.
  const context = await browser.newContext({ bypassCSP: true, viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await signIn(page, "admin");
  const queue = [`${base}/harbor/projects`];
  const seen = new Set();
  const shapes = new Map();
  let checked = 0;
  while (queue.length > 0 && checked < limit) {
    const url = queue.shift();
    const path = new URL(url).pathname;
    const shape = shapeOf(url);
    if (seen.has(path) || (shapes.get(shape) || 0) >= 3) continue;
    seen.add(path);
    shapes.set(shape, (shapes.get(shape) || 0) + 1);
    const resp = await page.goto(url);
    if (!resp || resp.status() !== 200 || !page.url().startsWith(`${base}/harbor/`)) continue;
    checked += 1;
    const where = new URL(page.url()).pathname;

    await page.addScriptTag({ content: axe });
    const result = await page.evaluate(async (tags) => {
      // Closed <details> hide their forms; open them so their controls
      // are checked too.
      for (const d of document.querySelectorAll("details")) d.open = true;
      const r = await window.axe.run(document, { runOnly: { type: "tag", values: tags } });
      return r.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
      }));
    }, WCAG);
    check(result.length === 0, `${where}: no WCAG 2.1 AA violations` +
      (result.length ? ` (${result.map((v) => `${v.id} [${v.impact}] ${v.help}: ${v.nodes.join(", ")}`).join("; ")})` : ""));

    // Keyboard: the first Tab lands on the skip link, Enter moves to main.
    await page.reload();
    await page.keyboard.press("Tab");
    const first = await page.evaluate(() => document.activeElement?.textContent?.trim());
    check(first === "Skip to content", `${where}: the first Tab reaches "Skip to content" (${first})`);
    await page.keyboard.press("Enter");
    const inMain = await page.evaluate(() => location.hash === "#main" && !!document.querySelector("main#main"));
    check(inMain, `${where}: the skip link leads to the main content`);

    const links = await page.evaluate(() => Array.from(document.querySelectorAll("a[href]"), (a) => a.href));
    for (const href of links) {
      const u = new URL(href, base);
      if (u.origin !== new URL(base).origin) continue;
      if (!u.pathname.startsWith("/harbor/")) continue;
      u.hash = "";
      u.search = "";
      queue.push(u.toString());
    }
  }
  check(checked >= 15, `the accessibility crawl reached ${checked} pages (at least 15)`);
  await context.close();
  return checked;
}
