// End-to-end check of the mirror's control page (edge/src/control/page.html) in headless Chromium,
// driven by puppeteer-core. Run by scripts/page-check.sh, which installs puppeteer-core, starts the
// mirror and passes its address; one phase per run:
//   node scripts/page_check.mjs open    mirror without a token: page, thumbnails, live picture,
//                                        style buttons, prev/next, blank/wake, two screenshots, and
//                                        a page of another origin that tries to drive it
//   node scripts/page_check.mjs token   mirror with --api-token: 401 without it, the page's token
//                                        form (a wrong token, then the right one), cookie, a click
// Environment: PAGE_CHECK_URL (http://127.0.0.1:PORT/), PAGE_CHECK_TOKEN (token phase),
// PAGE_CHECK_NODE_DIR (the --prefix puppeteer-core is installed under), OUT_DIR, CHROMIUM, and
// PAGE_CHECK_HTML=edge/src/control/page.html to serve that file as the page (/) instead of the
// copy built into the binary: a page change can be tried without a rebuild.
import { createRequire } from "node:module";
import http from "node:http";
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";

const phase = process.argv[2];
const base = (process.env.PAGE_CHECK_URL || "").replace(/\/+$/, "");
const token = process.env.PAGE_CHECK_TOKEN || "";
const outDir = process.env.OUT_DIR || "out/page-check";
const chromium = process.env.CHROMIUM || "/usr/bin/chromium";
const nodeDir = process.env.PAGE_CHECK_NODE_DIR;
const pageHtml = process.env.PAGE_CHECK_HTML ? readFileSync(process.env.PAGE_CHECK_HTML, "utf8") : null;
if (!["open", "token"].includes(phase) || !base || !nodeDir || (phase === "token" && !token)) {
  console.error("usage: PAGE_CHECK_URL=... PAGE_CHECK_NODE_DIR=... [PAGE_CHECK_TOKEN=...] node page_check.mjs open|token");
  process.exit(2);
}
const puppeteer = createRequire(path.join(path.resolve(nodeDir), "page-check.js"))("puppeteer-core");

class CheckFailed extends Error {}
const fail = (message) => { throw new CheckFailed(message); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let passed = 0;
const ok = (what) => { passed += 1; console.log(`  ok  ${what}`); };

/** Polls `probe` until it returns something truthy; fails with `what` after `ms`. */
async function until(what, probe, ms = 5000) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try { last = await probe(); if (last) return last; } catch (e) { last = e; }
    if (Date.now() > end) {
      const seen = last instanceof Error ? `; last error: ${last.message}` : last === undefined ? "" : `; last: ${JSON.stringify(last)}`;
      fail(`${what}: not so after ${ms / 1000} s${seen}`);
    }
    await sleep(100);
  }
}

/** A JSON API call from outside the browser, with the token as a bearer header unless `auth: false`. */
async function api(route, { method = "GET", body, auth = true, bearer = token } = {}) {
  const headers = {};
  if (auth && bearer) headers.Authorization = `Bearer ${bearer}`;
  if (method !== "GET") headers["Content-Type"] = "application/json";
  const r = await fetch(`${base}/api/v1${route}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, json, text, headers: r.headers };
}
async function apiOk(route, opts) {
  const r = await api(route, opts);
  if (r.status !== 200) fail(`${opts?.method || "GET"} /api/v1${route} answered HTTP ${r.status}: ${r.text.slice(0, 200)}`);
  return r.json;
}

async function waitIn(page, what, fn, arg, ms = 20000) {
  try { await page.waitForFunction(fn, { timeout: ms, polling: 100 }, arg); }
  catch (e) { if (e?.name === "TimeoutError") fail(`${what}: not so after ${ms / 1000} s`); throw e; }
}

/** Records what goes wrong inside the page: script errors, console errors and HTTP errors. */
async function watch(page) {
  const log = { errors: [], http: [] };
  if (pageHtml !== null) {
    await page.setRequestInterception(true);
    page.on("request", (r) => {
      const url = new URL(r.url());
      if (r.isInterceptResolutionHandled()) return;
      if (url.origin === new URL(base).origin && ["/", "/index.html"].includes(url.pathname)) {
        r.respond({ status: 200, contentType: "text/html; charset=utf-8", body: pageHtml });
      } else {
        r.continue();
      }
    });
  }
  page.on("pageerror", (e) => log.errors.push(`page error: ${e.message}`));
  // Chromium asks for /favicon.ico on its own; the page does not link one, so that 404 is no error.
  const favicon = (url) => new URL(url, base).pathname === "/favicon.ico";
  page.on("console", (m) => {
    if (m.type() === "error" && !favicon(m.location()?.url || base)) log.errors.push(`console: ${m.text()}`);
  });
  page.on("response", (r) => {
    if (r.status() >= 400 && !favicon(r.url())) log.http.push(`${r.request().method()} ${r.url().replace(base, "")} → ${r.status()}`);
  });
  return log;
}

/** The page has drawn one button per style, every thumbnail has loaded, the live picture shows a frame. */
async function pageReady(page, styles) {
  await waitIn(page, `the page to show ${styles.length} style buttons`,
    (n) => document.querySelectorAll("#styles button.style").length === n, styles.length);
  const names = await page.$$eval("#styles button.style", (bs) => bs.map((b) => b.dataset.name));
  if (names.join(",") !== styles.join(",")) fail(`style buttons ${names} differ from the API's styles ${styles}`);
  ok(`${names.length} style buttons: ${names.join(", ")}`);
  await waitIn(page, "every style thumbnail to finish loading",
    () => [...document.querySelectorAll("#styles button.style img")].every((i) => i.complete));
  const thumbs = await page.$$eval("#styles button.style", (bs) => bs.map((b) => {
    const img = b.querySelector("img");
    return { name: b.dataset.name, w: img ? img.naturalWidth : 0, h: img ? img.naturalHeight : 0, src: img?.getAttribute("src") };
  }));
  const broken = thumbs.filter((t) => !(t.w > 0));
  if (broken.length) fail(`thumbnails did not load (naturalWidth 0): ${broken.map((t) => `${t.name} ${t.src}`).join(", ")}`);
  ok(`all thumbnails loaded (${thumbs[0].w}x${thumbs[0].h})`);
  await waitIn(page, "the live picture (#live, /stream) to show a frame",
    () => document.getElementById("live").naturalWidth > 0);
  const live = await page.$eval("#live", (i) => `${i.naturalWidth}x${i.naturalHeight}`);
  ok(`live picture shows frames (${live})`);
}

const onButtons = (page) => page.$$eval("#styles button.style.on", (bs) => bs.map((b) => b.dataset.name));

/** Clicks a style button other than the current one; the API and the page must follow. */
async function clickStyle(page, styles, label) {
  const before = (await apiOk("/style")).style;
  const target = [2, 3, 1, 0].map((i) => styles[i]).find((s) => s !== undefined && s !== before);
  const button = await page.$(`#styles button.style[data-name="${target}"]`);
  if (!button) fail(`no button for style ${target}`);
  await button.click();
  await until(`${label}: GET /api/v1/style to report ${target} after clicking its button (was ${before})`,
    async () => (await apiOk("/style")).style === target);
  ok(`${label}: clicking "${target}" changed the mirror's style (API: ${before} → ${target})`);
  await until(`${label}: the page to mark only the "${target}" button .on`, async () => {
    const on = await onButtons(page);
    return on.length === 1 && on[0] === target ? true : on;
  }, 5000);
  ok(`${label}: the page marks "${target}" as current`);
  return target;
}

async function launch() {
  return puppeteer.launch({
    executablePath: chromium,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
  });
}

async function openPhase(browser) {
  const status = await apiOk("/status");
  const styles = status.styles;
  if (!Array.isArray(styles) || styles.length < 3) fail(`the mirror should offer at least 3 styles, /status says ${JSON.stringify(styles)}`);
  const page = await browser.newPage();
  current.page = page;
  await page.setViewport({ width: 1280, height: 900 });
  const log = await watch(page);
  const shell = await page.goto(`${base}/`, { waitUntil: "domcontentloaded" });
  if (shell.status() !== 200) fail(`GET / answered HTTP ${shell.status()}`);
  await pageReady(page, styles);
  await until(`the page to mark the current style "${status.style_spec}" .on`, async () => {
    const on = await onButtons(page);
    return on.length === 1 && on[0] === status.style_spec ? true : on;
  });
  ok(`the page marks the current style "${status.style_spec}"`);
  await until("the header to show the status (fps)", async () => /fps/.test(await page.$eval("#status", (e) => e.textContent)));

  const target = await clickStyle(page, styles, "click");
  await until(`#message to say "style ${target}"`, async () => (await page.$eval("#message", (e) => e.textContent)) === `style ${target}`);

  const i = styles.indexOf(target);
  const next = styles[(i + 1) % styles.length];
  await page.click("#next");
  await until(`"Next" to move the style from ${target} to ${next}`, async () => (await apiOk("/style")).style === next);
  await page.click("#prev");
  await until(`"Previous" to move the style back to ${target}`, async () => (await apiOk("/style")).style === target);
  await until(`the page to mark "${target}" again`, async () => (await onButtons(page)).join() === target);
  ok(`Next → ${next}, Previous → ${target}`);

  if ((await apiOk("/status")).display_on !== true) fail("the screen should start switched on (display_on: true)");
  const displayText = () => page.$eval("#display", (e) => e.textContent.trim());
  await until('#display to read "Blank screen"', async () => (await displayText()) === "Blank screen");
  await page.click("#display");
  await until("GET /api/v1/status to report display_on: false after clicking #display", async () => (await apiOk("/status")).display_on === false);
  await until('#display to read "Wake screen"', async () => (await displayText()) === "Wake screen");
  ok("#display blanks the screen (display_on: false, button reads \"Wake screen\")");
  await page.click("#display");
  await until("GET /api/v1/status to report display_on: true after clicking #display again", async () => (await apiOk("/status")).display_on === true);
  await until('#display to read "Blank screen" again', async () => (await displayText()) === "Blank screen");
  ok("#display again wakes it (display_on: true)");

  await until("the live picture to keep showing frames", () => page.$eval("#live", (i) => i.naturalWidth > 0));
  await sleep(300);
  await page.screenshot({ path: path.join(outDir, "control-page.png"), fullPage: true });
  ok(`screenshot ${path.join(outDir, "control-page.png")}`);

  const phone = await browser.newPage();
  current.page = phone;
  const phoneLog = await watch(phone);
  await phone.setViewport({ width: 390, height: 844, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  await phone.goto(`${base}/`, { waitUntil: "domcontentloaded" });
  await pageReady(phone, styles);
  const overflow = await phone.evaluate(() => {
    const vw = document.documentElement.clientWidth;
    const wide = [...document.querySelectorAll("body *")]
      .filter((e) => e.getBoundingClientRect().right > vw + 1)
      .map((e) => e.id ? `#${e.id}` : `${e.tagName.toLowerCase()}${e.className ? "." + e.className : ""}`);
    return { vw, scroll: document.documentElement.scrollWidth, wide: wide.slice(0, 8) };
  });
  await sleep(300);
  await phone.screenshot({ path: path.join(outDir, "control-page-phone.png"), fullPage: true });
  ok(`screenshot ${path.join(outDir, "control-page-phone.png")}`);
  if (overflow.scroll > overflow.vw || overflow.wide.length) {
    fail(`on a 390 px wide phone the page is ${overflow.scroll} px wide (viewport ${overflow.vw}); too wide: ${overflow.wide.join(", ")}`);
  }
  ok("no horizontal overflow at 390x844");

  const problems = [...log.errors, ...log.http, ...phoneLog.errors, ...phoneLog.http];
  if (problems.length) fail(`the page reported errors:\n    ${problems.join("\n    ")}`);
  ok("no script errors, console errors or HTTP errors in the page");
  await crossSite(browser);
}

/** A page of another origin (what any web site the shop's browser opens could serve) tries what
 *  the adversarial test did against a mirror without a token: a `no-cors` POST with a text/plain
 *  body, which a browser sends without asking, and a read of the status. */
async function crossSite(browser) {
  const before = (await apiOk("/style")).style;
  const elsewhere = http.createServer((_, res) => {
    res.writeHead(200, { "Content-Type": "text/html" });
    res.end("<!doctype html><title>another site</title><p>another site");
  });
  await new Promise((resolve) => elsewhere.listen(0, "127.0.0.1", resolve));
  const origin = `http://localhost:${elsewhere.address().port}`;
  const page = await browser.newPage();
  current.page = page;
  await page.goto(`${origin}/`, { waitUntil: "domcontentloaded" });
  const tried = await page.evaluate(async (mirror) => {
    const out = {};
    try {
      await fetch(`${mirror}/api/v1/style/next`, { method: "POST", mode: "no-cors", headers: { "Content-Type": "text/plain" }, body: "x" });
      out.post = "sent";
    } catch (e) { out.post = `not sent: ${e}`; }
    try { out.read = `read, HTTP ${(await fetch(`${mirror}/api/v1/status`)).status}`; } catch { out.read = "blocked"; }
    return out;
  }, base);
  await sleep(500);
  elsewhere.close();
  await page.close();
  const after = (await apiOk("/style")).style;
  if (after !== before) fail(`a page at ${origin} changed the mirror's style (${before} → ${after}; its POST: ${tried.post})`);
  if (tried.read !== "blocked") fail(`a page at ${origin} could read /api/v1/status (${tried.read})`);
  ok(`a page at ${origin} neither changes the style (no-cors text/plain POST: ${tried.post}) nor reads the status`);
}

async function tokenPhase(browser) {
  const shell = await fetch(`${base}/`);
  if (shell.status !== 200) fail(`GET / (the page shell) without a token answered HTTP ${shell.status}, expected 200`);
  const anon = await api("/status", { auth: false });
  if (anon.status !== 401) fail(`GET /api/v1/status without the token answered HTTP ${anon.status}, expected 401`);
  const wrongBearer = await api("/status", { bearer: "0".repeat(token.length) });
  if (wrongBearer.status !== 401) fail(`GET /api/v1/status with a wrong token answered HTTP ${wrongBearer.status}, expected 401`);
  const stream = await fetch(`${base}/snapshot.jpg`);
  if (stream.status !== 401) fail(`GET /snapshot.jpg without the token answered HTTP ${stream.status}, expected 401`);
  const status = await apiOk("/status");
  ok("without the token: / is 200, /api/v1/status and /snapshot.jpg are 401; with Authorization: Bearer: 200");
  const styles = status.styles;

  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  current.page = page;
  await page.setViewport({ width: 1280, height: 900 });
  const log = await watch(page);
  const tokenShown = () => getComputedStyle(document.getElementById("token")).display !== "none";
  await page.goto(`${base}/`, { waitUntil: "domcontentloaded" });
  await waitIn(page, "the token form (#token) to appear when the API answers 401", tokenShown, undefined, 10000);
  const drawn = await page.$$eval("#styles button.style", (bs) => bs.length);
  if (drawn) fail(`without the token the page drew ${drawn} style buttons`);
  ok("without the token the page shows its token form and no styles");
  await page.screenshot({ path: path.join(outDir, "control-page-token.png"), fullPage: true });

  const submit = async (value) => {
    await page.$eval("#token-value", (e) => { e.value = ""; });
    await page.type("#token-value", value);
    await Promise.all([page.waitForNavigation({ waitUntil: "domcontentloaded", timeout: 10000 }), page.click("#token-form button[type=submit]")]);
  };
  await submit("f".repeat(token.length));
  await waitIn(page, "the token form to come back after a wrong token", tokenShown, undefined, 10000);
  ok("a wrong token brings the token form back");

  log.errors.length = 0; log.http.length = 0;
  await submit(token);
  const cookie = await page.evaluate(() => document.cookie);
  if (!cookie.split(";").map((c) => c.trim()).includes(`atelier_token=${token}`)) fail(`after submitting the token the cookie is "${cookie}"`);
  await pageReady(page, styles);
  if (await page.evaluate(tokenShown)) fail("the token form is still shown after the right token");
  ok("the right token sets the atelier_token cookie; after the reload the page works and hides the form");
  await clickStyle(page, styles, "with token");
  const problems = [...log.errors, ...log.http];
  if (problems.length) fail(`after unlocking, the page reported errors:\n    ${problems.join("\n    ")}`);
  ok("no script errors, console errors or HTTP errors in the page after unlocking");
  await context.close();
}

const current = { page: null };
mkdirSync(outDir, { recursive: true });
const started = Date.now();
let browser;
let code = 0;
try {
  browser = await launch();
  await (phase === "open" ? openPhase(browser) : tokenPhase(browser));
  console.log(`page-check ${phase}: ${passed} checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (e) {
  code = 1;
  const shot = path.join(outDir, `failure-${phase}.png`);
  try { if (current.page) await current.page.screenshot({ path: shot, fullPage: true }); } catch { /* page gone */ }
  console.error(`page-check ${phase}: FAILED after ${passed} checks: ${e instanceof CheckFailed ? e.message : e?.stack || e}`);
  if (current.page) console.error(`page-check ${phase}: screenshot of the page at the failure: ${shot}`);
} finally {
  if (browser) await browser.close().catch(() => {});
}
process.exit(code);
