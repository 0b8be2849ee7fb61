// What the portal's browser scripts share: Debian's chromium launched
// headless through npm's playwright-core (no browser download, flags that
// keep it off the closed network), the check-and-report pattern, the
// question-and-answer protocol with the Rust test on stdin/stdout, and
// the usual page steps (sign in, click and wait, screenshots, API reads).
//
// Environment: PORTAL_BASE (http://127.0.0.1:PORT), PORTAL_ADMIN_PASSWORD,
// PLAYWRIGHT_MODULE (the playwright-core directory), PORTAL_SHOTS (where to
// keep screenshots, optional). Playwright gives chromium a fresh, temporary
// user-data-dir of its own (it refuses --user-data-dir with launch()).

import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { join } from "node:path";

export const base = process.env.PORTAL_BASE;
export const adminPassword = process.env.PORTAL_ADMIN_PASSWORD;
const shots = process.env.PORTAL_SHOTS || "";
const { chromium } = await import(
  pathToFileURL(join(process.env.PLAYWRIGHT_MODULE, "index.mjs")).href
);

// Every check that failed, printed at the end.
export const failures = [];

// Prints `ok: what` or `FAILED: what` (and remembers the failure).
export function check(ok, what) {
  if (ok) {
    console.log(`ok: ${what}`);
  } else {
    console.log(`FAILED: ${what}`);
    failures.push(what);
  }
}

const lines = createInterface({ input: process.stdin });
const pending = [];
lines.on("line", (line) => {
  const waiter = pending.shift();
  if (waiter) waiter(line);
});

// Asks the Rust test for work (one line on stdout) and answers its reply
// (one line on stdin).
export function ask(request) {
  return new Promise((resolve) => {
    pending.push(resolve);
    console.log(request);
  });
}

export const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

// A fresh browser context (its own cookies) and page, with clipboard
// access. Only the portal's own confirmations may open a dialog: an alert
// would be script that should never have run.
export async function newPage({ height = 800 } = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height } });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  const page = await context.newPage();
  page.on("dialog", async (dialog) => {
    if (dialog.type() === "confirm") {
      await dialog.accept();
    } else {
      failures.push(`unexpected ${dialog.type()} dialog: ${dialog.message()}`);
      await dialog.dismiss();
    }
  });
  page.on("pageerror", (e) => failures.push(`script error: ${e.message}`));
  return { context, page };
}

// Keeps a screenshot as `name` when PORTAL_SHOTS is set.
export async function shot(page, name, fullPage = false) {
  if (shots) await page.screenshot({ path: join(shots, name), fullPage });
}

// Clicks what submits a form or follows a link, and waits for the page
// that answers.
export async function clickAndWait(page, locator) {
  await Promise.all([page.waitForNavigation(), locator.click()]);
}

// Signs `user` in through the sign-in page.
export async function signIn(page, user, password) {
  await page.goto(`${base}/harbor/sign-in`);
  await page.getByLabel("Username").fill(user);
  await page.getByLabel("Password").fill(password);
  await clickAndWait(page, page.getByRole("button", { name: "Log in" }));
}

// `GET /api/v2.0<path>` as the page's browser (its session cookie).
export async function api(page, path) {
  const r = await page.request.get(`${base}/api/v2.0${path}`);
  return { status: r.status(), json: r.ok() ? await r.json().catch(() => null) : null };
}

// Reloads `url` until `done(page)` holds (or about 30 s pass).
export async function until(page, url, done) {
  for (let i = 0; i < 60; i++) {
    await page.goto(url);
    if (await done(page)) return true;
    await page.waitForTimeout(500);
  }
  return false;
}

// Ends the script: closes the browser, prints every failure (and
// `error`, an exception that stopped the script) and `<name> OK` or
// `<name> FAILED (n)`, and exits 0 only if nothing failed.
export async function finish(name, error) {
  if (error) failures.push(`exception: ${error.stack || error}`);
  await browser.close();
  for (const f of failures) console.log(`FAILED: ${f}`);
  console.log(failures.length === 0 ? `${name} OK` : `${name} FAILED (${failures.length})`);
  process.exit(failures.length === 0 ? 0 : 1);
}
