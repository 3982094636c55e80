// The dashboard in headless Chromium (Debian's, driven by playwright-core; no browser
// download) against the real platform on the local real stack: sign in, create a store and
// watch it become Ready without a reload, its detail and timeline, a 409 and validation
// errors, suspend it (a change of its desired state: generation 2), deletion until it is
// gone, sign out; as an admin, a fleet rollout started from its form, watched live, paused
// and resumed until done; axe-core on every main screen. Screenshots go
// to $STOREFLEET_SCREENSHOTS (ctest: the build folder's tests/dashboard/screenshots; by hand:
// .state/screenshots), so a test run leaves the tracked docs/screenshots alone; `make
// screenshots` (tests/dashboard/refresh-screenshots.sh) refreshes those on purpose. Needs the
// stack env (tests/with-stack); starts the platform with infra/local/platform unless
// STOREFLEET_URL points at a running one or the platform already runs. Every wait is a poll
// with a deadline.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = process.env.STOREFLEET_ROOT || join(dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(join(root, 'dashboard/package.json'));
const { chromium } = require('playwright-core');
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const shots = process.env.STOREFLEET_SCREENSHOTS || join(root, '.state/screenshots');
const chromiumPath = process.env.STOREFLEET_CHROMIUM || '/usr/bin/chromium';
const STORE_DEADLINE_MS = Number(process.env.STOREFLEET_E2E_STORE_DEADLINE_MS || 240_000);

const results = [];
let failed = false;
function log(message) {
  console.log(`[dashboard e2e ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

// ---- the platform ---------------------------------------------------------------------
const platformScript = join(root, 'infra/local/platform');
let startedPlatform = false;
function readEnvFile(path) {
  const values = {};
  if (!existsSync(path)) return values;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) values[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return values;
}
function platformRuns() {
  try {
    execFileSync('bash', [platformScript, 'status'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
function startPlatform() {
  let url = process.env.STOREFLEET_URL;
  let tokenFile = process.env.STOREFLEET_TOKEN_FILE;
  if (!url) {
    if (!platformRuns()) {
      log('starting the platform (infra/local/platform up)');
      execFileSync('bash', [platformScript, 'up'], { stdio: ['ignore', 'inherit', 'inherit'] });
      startedPlatform = true;
    }
    const state = process.env.STOREFLEET_STATE || join(root, '.state/local');
    const values = readEnvFile(join(state, 'env.d/platform'));
    url = values.STOREFLEET_URL;
    tokenFile = values.STOREFLEET_TOKEN_FILE;
  }
  if (!url) throw new Error('no platform URL (STOREFLEET_URL or the platform env file)');
  const token = tokenFile && existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : '';
  if (!token) throw new Error(`no API token in '${tokenFile}'`);
  // An admin token, where the platform makes one (its file beside the demo token's).
  const state = process.env.STOREFLEET_STATE || join(root, '.state/local');
  const adminFile = process.env.STOREFLEET_ADMIN_TOKEN_FILE ||
    readEnvFile(join(state, 'env.d/platform')).STOREFLEET_ADMIN_TOKEN_FILE || join(dirname(tokenFile), 'admin-token');
  const adminToken = existsSync(adminFile) ? readFileSync(adminFile, 'utf8').trim() : '';
  return { url: url.replace(/\/$/, ''), token, adminToken };
}
function stopPlatform() {
  if (!startedPlatform) return;
  startedPlatform = false;
  log('stopping the platform');
  try {
    execFileSync('bash', [platformScript, 'down'], { stdio: ['ignore', 'inherit', 'inherit'] });
  } catch (e) {
    console.error(`platform down failed: ${e.message}`);
  }
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    stopPlatform();
    process.exit(1);
  });
}

// ---- helpers --------------------------------------------------------------------------
async function step(name, fn) {
  const started = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    log(`ok   ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  } catch (error) {
    results.push({ name, ok: false, error });
    failed = true;
    log(`FAIL ${name}: ${error.stack || error}`);
    throw error;
  }
}
function check(condition, message) {
  if (!condition) throw new Error(message);
}
async function poll(what, fn, deadlineMs, intervalMs = 200) {
  const deadline = Date.now() + deadlineMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${deadlineMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
async function api(url, token, method, path, body, headers = {}) {
  const response = await fetch(url + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: response.status, json, headers: response.headers };
}

// Whether GET /api/v1/stores/events answers a stream (the headers are enough).
async function streamServed(url, token) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 5000);
  try {
    const response = await fetch(url + '/api/v1/stores/events', {
      headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' },
      signal: controller.signal,
    });
    return response.ok && (response.headers.get('content-type') || '').includes('text/event-stream');
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}

const axeFindings = [];
async function axe(page, screen) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() =>
    window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } }),
  );
  const violations = result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }));
  axeFindings.push({ screen, passes: result.passes.length, violations });
  for (const v of violations) log(`axe ${screen}: ${v.impact} ${v.id} (${v.nodes} nodes): ${v.help}`);
  const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  check(serious.length === 0, `axe found serious accessibility violations on ${screen}: ${serious.map((v) => v.id).join(', ')}`);
}
// At 375 px wide nothing scrolls sideways.
async function fitsPhone(page, what) {
  await page.setViewportSize({ width: 375, height: 812 });
  try {
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    // What sticks out, innermost first, so a failure names the element to fix.
    const culprits = overflow <= 1 ? [] : await page.evaluate(() =>
      [...document.querySelectorAll('body *')]
        .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1 && el.children.length === 0)
        .slice(0, 3)
        .map((el) => `<${el.tagName.toLowerCase()}${el.className ? ' class="' + el.className + '"' : ''}> "${(el.textContent || '').trim().slice(0, 60)}"`));
    check(overflow <= 1, `${what} is ${overflow}px wider than a 375px screen${culprits.length ? ': ' + culprits.join(', ') : ''}`);
  } finally {
    await page.setViewportSize({ width: 1280, height: 800 });
  }
}
async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

// ---- the run --------------------------------------------------------------------------
async function run() {
  check(existsSync(join(root, 'dashboard/dist/index.html')), 'dashboard/dist is not built: run make build');
  check(existsSync(chromiumPath), `${chromiumPath} is missing: infra/deps/apt.sh installs chromium`);
  mkdirSync(shots, { recursive: true });
  log(`screenshots to ${shots}`);
  const { url, token, adminToken } = startPlatform();
  log(`platform at ${url}`);

  const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: ['--no-sandbox'] });
  const problems = [];
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    // Chromium logs every non-2xx fetch as "Failed to load resource"; the statuses the
    // test provokes on purpose (401 wrong token, 404 no stream or admin API, 409, 403, 400,
    // 422) are expected. Anything else said on the console fails the run.
    const expected = /Failed to load resource: the server responded with a status of (400|401|403|404|409|422)\b/;
    page.on('console', (m) => {
      if ((m.type() === 'error' || m.type() === 'warning') && !expected.test(m.text())) problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    const requests = [];
    page.on('request', (r) => {
      requests.push({ method: r.method(), url: r.url(), headers: r.headers() });
    });

    const name = `e2e-${Date.now().toString(36)}`;
    let storeId = '';

    await step('sign-in screen, a refused token explained', async () => {
      await page.goto(url + '/');
      await page.getByRole('heading', { name: 'storefleet' }).waitFor();
      await axe(page, 'sign-in');
      await page.getByLabel('API token').fill('not-a-real-token');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByText('This token was refused').waitFor();
      await shot(page, 'signin');
    });

    await step('sign in with the demo token; the token stays out of URLs and localStorage', async () => {
      // By keyboard: the token field, then Enter.
      await page.getByLabel('API token').fill(token);
      await page.getByLabel('API token').press('Enter');
      await page.getByRole('heading', { name: 'Stores', level: 1 }).waitFor();
      // A reload keeps the session (this tab's sessionStorage); on the fresh page the first
      // Tab reaches the skip link, which leads past the navigation.
      await page.reload();
      await page.getByRole('heading', { name: 'Stores', level: 1 }).waitFor();
      await page.keyboard.press('Tab');
      check((await page.evaluate(() => document.activeElement?.textContent)) === 'Skip to content', 'the first Tab stop is not the skip link');
      await page.keyboard.press('Enter');
      check((await page.evaluate(() => document.activeElement?.id)) === 'main', 'the skip link does not move focus to the content');
      check(!page.url().includes(token), 'the token is in the page URL');
      check(requests.every((r) => !r.url.includes(token)), 'the token was sent in a URL');
      const local = await page.evaluate(() => JSON.stringify(localStorage));
      check(!local.includes(token), 'the token is in localStorage');
      await page.evaluate(() => {
        window.__e2eNoReload = true; // gone if the page reloads
      });
    });

    await step('inline validation mirrors intake: nothing is sent, the server agrees', async () => {
      await page.getByRole('link', { name: 'New store', exact: true }).first().click();
      await page.getByRole('heading', { name: 'New store', level: 1 }).waitFor();
      const posts = () => requests.filter((r) => r.method === 'POST').length;
      const before = posts();
      for (const bad of ['-starts-with-dash', 'Has Capitals', 'x'.repeat(41)]) {
        await page.getByLabel('Name').fill(bad);
        await page.getByLabel('Admin e-mail (optional)').fill('not-an-email');
        await page.getByRole('button', { name: 'Create store' }).click();
        await page.locator('#name-error').waitFor();
        await page.locator('#admin_email-error').waitFor();
        check((await page.getByLabel('Name').getAttribute('aria-invalid')) === 'true', `'${bad}' not marked invalid`);
        // The same input straight to the API is refused too, on the same field (a problem's
        // errors[].field, docs/openapi.yaml Problem).
        const answer = await api(url, token, 'POST', '/api/v1/stores', { name: bad, engine: 'woocommerce' });
        check(answer.status === 400 || answer.status === 422, `the API answered ${answer.status} to name '${bad}'`);
        const fields = answer.json?.errors?.map((e) => e.field) ?? [];
        check(fields.includes('name'), `the API did not name the field: ${JSON.stringify(answer.json)}`);
      }
      check(posts() === before, 'the dashboard sent an invalid form');
      await shot(page, 'create-validation');
      await axe(page, 'create with errors');
    });

    await step('create a store (a double click creates one), then watch it become Ready live', async () => {
      await page.getByLabel('Name').fill(name);
      await page.getByLabel('Admin e-mail (optional)').fill('owner@example.com');
      await page.getByLabel(/WooCommerce/).check();
      await page.getByRole('button', { name: 'Create store' }).dblclick();
      await page.waitForURL(/\/stores\/[0-9a-f-]{36}$/);
      storeId = page.url().split('/').pop();
      const posts = requests.filter((r) => r.method === 'POST' && r.url.endsWith('/api/v1/stores'));
      check(posts.length >= 1 && posts.every((p) => p.headers['idempotency-key'] === posts[0].headers['idempotency-key']),
        'the create was not sent with one Idempotency-Key');
      // The listing reads the read model, which has the store once the projector saw it.
      const named = await poll('the store in the listing', async () => {
        const list = await api(url, token, 'GET', `/api/v1/stores?name_prefix=${name}`);
        check(list.status === 200, `listing answered ${list.status}`);
        const found = list.json.items.filter((s) => s.name === name);
        return found.length > 0 ? found : null;
      }, 30_000);
      check(named.length === 1 && named[0].id === storeId, `not exactly one store named ${name}: ${JSON.stringify(named)}`);
      check((await page.getByRole('alert').count()) === 0, 'the double click showed an error');

      await page.getByRole('heading', { name, level: 1 }).waitFor();
      const seen = [];
      const badge = page.locator('.title-row .badge');
      await poll('the store to become Ready on the open page', async () => {
        const status = await badge.getAttribute('data-status');
        if (seen.at(-1) !== status) seen.push(status);
        return status === 'ready';
      }, STORE_DEADLINE_MS);
      const mode = await page.locator('.live').getAttribute('data-mode');
      log(`statuses seen on the page: ${seen.join(' → ')} (updates: ${mode === 'live' ? 'Server-Sent Events' : 'polling'})`);
      // Where the front door serves the event stream, the dashboard must be using it.
      if (await streamServed(url, token)) check(mode === 'live', `the front door serves the event stream but the page is in '${mode}' mode`);
      check(seen[0] !== 'ready', 'the store was Ready before the page showed anything else (nothing changed live)');
      check(await page.evaluate(() => window.__e2eNoReload === true), 'the page reloaded');
    });

    await step('detail: URLs with the simulated note, plan, timeline with step durations', async () => {
      await page.getByText(/Ready .* after it was requested/).waitFor();
      const storefront = page.locator('dt:has-text("Storefront") + dd a');
      check((await storefront.count()) === 1, 'no storefront link');
      check(/^https?:\/\//.test(await storefront.getAttribute('href')), 'the storefront link is not a URL');
      await page.getByTestId('simulated-note').waitFor();
      check((await page.locator('dt:has-text("Plan") + dd').innerText()).trim() === 'small', 'plan not shown');
      // The chart version: what GET says, the one it runs and, while they differ, the one asked.
      const got = (await api(url, token, 'GET', `/api/v1/stores/${storeId}`)).json;
      check(got && 'chart_version' in got && got.desired && 'chart_version' in got.desired,
        `GET shows no chart versions: ${JSON.stringify(got)}`);
      const observed = got?.chart_version ?? null;
      const desired = got?.desired?.chart_version ?? null;
      const expected = !observed ? (desired ? `${desired}, not converged yet` : '—')
        : !desired || desired === observed ? observed : `${observed} → ${desired}`;
      const chart = (await page.getByTestId('chart-version').innerText()).trim();
      check(chart === expected, `the chart version shows '${chart}', not '${expected}' (GET: ${observed}, desired ${desired})`);
      log(`chart version shown: ${chart}`);
      const events = page.locator('ol.timeline > li');
      await poll('the timeline to show the steps', async () => (await events.count()) >= 3, 30_000);
      check((await page.locator('.event-duration').count()) >= 2, 'the timeline shows no step durations');
      check((await page.locator('.event-ready').count()) >= 1, 'the timeline has no ready event');
      await shot(page, 'detail-timeline');
      await axe(page, 'detail');
      await fitsPhone(page, 'the detail page');
    });

    await step('list: the store with its badge; filters and search; a phone-wide layout', async () => {
      await page.getByRole('link', { name: 'Stores', exact: true }).first().click();
      const row = page.locator(`tr[data-store-name="${name}"]`);
      await row.waitFor();
      check((await row.locator('.badge').getAttribute('data-status')) === 'ready', 'the list does not show it Ready');
      await page.getByLabel('Search by name').fill(name);
      await poll('the search to narrow the list to the store', async () => (await page.locator('tbody tr').count()) === 1, 10_000);
      await page.getByLabel('Status').selectOption('failed');
      await poll('the status filter to hide the store', async () => (await row.count()) === 0, 10_000);
      await page.getByLabel('Status').selectOption('');
      await page.getByLabel('Search by name').fill('');
      await row.waitFor();
      await shot(page, 'list');
      await axe(page, 'list');
      await page.setViewportSize({ width: 375, height: 812 });
      await row.waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      check(overflow <= 1, `the list is ${overflow}px wider than a 375px screen`);
      await shot(page, 'list-375px');
      await page.setViewportSize({ width: 1280, height: 800 });
    });

    await step('409: the same name again is refused next to the name field', async () => {
      await page.getByRole('link', { name: 'New store', exact: true }).first().click();
      await page.getByLabel('Name').fill(name);
      await page.getByLabel(/Medusa/).check();
      await page.getByRole('button', { name: 'Create store' }).click();
      await page.locator('#name-error').filter({ hasText: /name is taken/i }).waitFor();
      check((await page.getByLabel('Name').getAttribute('aria-invalid')) === 'true', 'name not marked invalid on 409');
      check(page.url().endsWith('/stores/new'), 'a 409 left the form');
      await shot(page, 'create-409');
      await fitsPhone(page, 'the create form');
    });

    await step('suspend from the detail page: the change is accepted as generation 2', async () => {
      await page.goto(`${url}/stores/${storeId}`); // a deep link works (nginx serves index.html)
      await page.getByRole('heading', { name, level: 1 }).waitFor();
      const generation = page.getByTestId('generation');
      check(/^generation 1, converged 1$/.test((await generation.innerText()).trim()),
        `a Ready store shows '${await generation.innerText()}', not generation 1 converged`);
      check((await page.locator('dt:has-text("Condition") + dd .condition').getAttribute('data-condition')) === 'in_sync',
        'a Ready store is not shown in sync');
      const patches = () => requests.filter((r) => r.method === 'PATCH' && r.url.endsWith(`/api/v1/stores/${storeId}`));
      await page.getByRole('button', { name: 'Suspend' }).click();
      await page.getByText('Change accepted as generation 2').waitFor();
      check(patches().length === 1, `the dashboard sent ${patches().length} PATCH requests`);
      check(patches()[0].headers['if-match'] === '"g1"', `If-Match was ${patches()[0].headers['if-match']}, not the store's desired_etag`);
      check((patches()[0].headers['content-type'] || '').startsWith('application/merge-patch+json'), 'the PATCH is not a merge patch');
      await poll('the page to show generation 2', async () => /^generation 2\b/.test((await generation.innerText()).trim()), 10_000);
      // The API agrees once the read model has the change.
      const read = await poll('GET to show generation 2, suspended', async () => {
        const answer = await api(url, token, 'GET', `/api/v1/stores/${storeId}`);
        return answer.json?.generation === 2 ? answer.json : null;
      }, 30_000);
      check(read.desired?.suspended === true && read.desired_etag === '"g2"', `GET shows ${JSON.stringify(read)}`);
      check((await page.getByRole('button', { name: 'Resume' }).count()) === 1, 'no Resume for a suspended store');
      await shot(page, 'detail-suspend');
      await axe(page, 'detail after a change');
    });

    await step('delete with confirmation, and watch it go', async () => {
      await page.goto(`${url}/stores/${storeId}`);
      await page.getByRole('heading', { name, level: 1 }).waitFor();
      await page.getByRole('button', { name: 'Delete store' }).click();
      const dialog = page.getByRole('alertdialog');
      await dialog.waitFor();
      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'detached' });
      const kept = (await api(url, token, 'GET', `/api/v1/stores/${storeId}`)).json.status;
      check(kept !== 'deleting' && kept !== 'deleted', `cancel deleted the store (${kept})`);
      await page.getByRole('button', { name: 'Delete store' }).click();
      await dialog.getByRole('button', { name: 'Delete' }).click();
      await page.getByText('Deleting this store').waitFor();
      await shot(page, 'detail-deleting');
      await page.getByText('This store was deleted').waitFor({ timeout: STORE_DEADLINE_MS });
      const after = await api(url, token, 'GET', `/api/v1/stores/${storeId}`);
      check(after.status === 404 || after.json?.status === 'deleted', `the API still has the store: ${after.status} ${after.json?.status}`);
      await page.getByRole('link', { name: 'Back to stores' }).first().click();
      await page.getByRole('heading', { name: 'Stores', level: 1 }).waitFor();
      await poll('the list to drop the deleted store', async () => (await page.locator(`tr[data-store-name="${name}"]`).count()) === 0, 10_000);
    });

    await step('admin view: a clear state for what the server offers', async () => {
      await page.goto(`${url}/admin`);
      await page.getByRole('heading', { name: 'Admin', level: 1 }).waitFor();
      await poll('every admin section to settle', async () => (await page.locator('[aria-busy="true"]').count()) === 0, 15_000);
      const text = await page.locator('main').innerText();
      check(/Not available|needs an admin token|Stores by status/.test(text), 'the admin view shows no state');
      await shot(page, 'admin');
      await axe(page, 'admin');
    });

    await step('sign out forgets the token', async () => {
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByLabel('API token').waitFor();
      const session = await page.evaluate(() => JSON.stringify(sessionStorage));
      check(!session.includes(token), 'the token is still in sessionStorage');
      await page.goto(url + '/');
      await page.getByLabel('API token').waitFor();
    });

    if (adminToken) {
      await step('admin token: the Admin view with every tenant\'s stores, or a clear "not available"', async () => {
        // A tenant id as long as intake allows (30 characters), so the phone-width check below
        // covers the widest id whatever other tests left in the tables.
        const longTenant = `wide-${name}`.slice(0, 30).replace(/-+$/, '').padEnd(30, 'x');
        const made = await api(url, adminToken, 'POST', '/api/v1/admin/tenants', { id: longTenant, store_quota: 1 });
        check(made.status === 201 || made.status === 409, `the 30-character tenant was not made (${made.status})`);
        await page.getByLabel('API token').fill(adminToken);
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.getByRole('link', { name: 'Admin', exact: true }).click();
        await page.getByRole('heading', { name: 'Admin', level: 1 }).waitFor();
        await poll('every admin section to settle', async () => (await page.locator('[aria-busy="true"]').count()) === 0, 15_000);
        const text = await page.locator('main').innerText();
        check(!/needs an admin token/.test(text), 'an admin token was refused by the admin API');
        check(/Not available|Stores by status/.test(text), 'the admin view shows no state');
        // The platform figures: the store of this run became Ready within the hour, so the
        // POST-to-Ready and throughput charts have a point, and Kafka is up, so lag shows.
        const figures = page.locator('.figures');
        await figures.getByText('POST to Ready, percentiles over time').waitFor();
        await poll('a POST-to-Ready point in the chart', async () => (await figures.locator('.dot.series-p50').count()) >= 1, 30_000);
        check(/[1-9]\d* Ready and \d+ Failed in this window/.test(await figures.innerText()), 'the throughput chart counts no Ready store');
        check((await figures.getByRole('img', { name: /provisioner on store-commands/ }).count()) === 1, 'no lag chart for the provisioner');
        await page.locator('h2', { hasText: 'Platform figures' }).scrollIntoViewIfNeeded();
        await figures.screenshot({ path: join(shots, 'admin-charts.png') });
        await shot(page, 'admin');
        await fitsPhone(page, 'the admin view with its charts');
        // The charts' numbers too (closed <details> are not rendered, so axe would skip them).
        for (const summary of await figures.locator('summary').all()) await summary.click();
        await axe(page, 'admin (admin token)');
      });

      await step('rollouts: start one from the form, watch it live, pause, resume, see it done', async () => {
        // Six WooCommerce stores of this run, Ready, moved to the catalogue's other version.
        const prefix = `${name}-ro`;
        const ids = [];
        for (let i = 0; i < 6; i++) {
          const created = await api(url, token, 'POST', '/api/v1/stores', { name: `${prefix}${i}`, engine: 'woocommerce' }, {
            'Idempotency-Key': `${prefix}${i}`,
          });
          check(created.status === 202, `store ${prefix}${i} was not accepted (${created.status})`);
          ids.push(created.json.id);
        }
        const stores = await poll('the rollout\'s six stores to be Ready', async () => {
          const read = await Promise.all(ids.map((id) => api(url, token, 'GET', `/api/v1/stores/${id}`)));
          return read.every((r) => r.status === 200 && r.json.status === 'ready') ? read.map((r) => r.json) : null;
        }, STORE_DEADLINE_MS, 1000);
        const from = stores[0].chart_version;
        const target = from === '0.2.0' ? '0.1.0' : '0.2.0';

        await page.getByRole('link', { name: 'Rollouts', exact: true }).click();
        await page.getByRole('heading', { name: 'Rollouts', level: 1 }).waitFor();
        await page.getByText('Start a rollout', { exact: true }).click();
        await page.getByLabel('Engine').selectOption('woocommerce');
        await page.getByLabel('Target version').selectOption(target);
        await page.getByLabel('Store ids (comma-separated)').fill(ids.join(', '));
        await page.getByLabel('Canary stores').fill('1');
        await page.getByLabel('At most in flight').fill('1');
        await page.getByLabel('Ready within (seconds)').fill('120');
        // The API's validation, shown by the field: waves must end at 100.
        await page.getByLabel('Waves (cumulative %, comma-separated)').fill('50');
        await page.getByRole('button', { name: 'Start rollout' }).click();
        const refused = page.getByRole('alert');
        await refused.waitFor();
        check(/strategy\.waves/.test(await refused.innerText()), `the API's validation error is not shown: ${await refused.innerText()}`);
        check((await page.locator('.field-error').count()) >= 1, 'the validation error is not next to its field');
        await page.getByLabel('Waves (cumulative %, comma-separated)').fill('50, 100');
        await page.getByRole('button', { name: 'Start rollout' }).click();
        await page.waitForURL(/\/admin\/rollouts\/[0-9a-f-]{36}$/);
        const rolloutId = page.url().split('/').pop();
        await page.getByRole('heading', { name: new RegExp(`Rollout of woocommerce to ${target.replace(/\./g, '\\.')}`), level: 1 }).waitFor();
        const all = page.getByRole('img', { name: /^All stores: / });
        check(/^All stores: 6 stores/.test(await all.getAttribute('aria-label')), `not six stores: ${await all.getAttribute('aria-label')}`);

        // Progress arrives on the open page; then a pause holds it.
        await poll('the canary to start, on the open page', async () => /upgrad/.test(await all.getAttribute('aria-label')), 60_000);
        await page.getByRole('button', { name: 'Pause' }).click();
        await page.getByRole('alertdialog').getByRole('button', { name: 'Pause' }).click();
        await page.getByRole('heading', { name: /Paused/, level: 1 }).waitFor();
        await poll('the store under way to finish while paused', async () => !/upgrading/.test(await all.getAttribute('aria-label')), 120_000, 500);
        const paused = await all.getAttribute('aria-label');
        check(/pending/.test(paused), `the pause did not hold the rest back: ${paused}`);
        await shot(page, 'rollout');
        await axe(page, 'rollout');
        await fitsPhone(page, 'the rollout page');

        await page.getByRole('button', { name: 'Resume' }).click();
        await page.getByRole('alertdialog').getByRole('button', { name: 'Resume' }).click();
        const seen = [];
        await poll('the rollout to be done, on the open page', async () => {
          const label = await all.getAttribute('aria-label');
          if (seen.at(-1) !== label) seen.push(label);
          return (await page.getByRole('heading', { name: /Done/, level: 1 }).count()) === 1;
        }, STORE_DEADLINE_MS, 250);
        log(`rollout progress seen on the page: ${seen.map((l) => l.replace('All stores: 6 stores: ', '')).join(' → ')}`);
        check(/^All stores: 6 stores: 6 upgraded$/.test(await all.getAttribute('aria-label')), `not every store upgraded: ${await all.getAttribute('aria-label')}`);
        check(seen.length >= 3, `the progress did not change step by step on the page: ${seen.join(' | ')}`);
        const mode = await page.locator('.live').getAttribute('data-mode');
        const reads = requests.filter((r) => r.method === 'GET' && r.url.endsWith(`/api/v1/admin/rollouts/${rolloutId}`)).length;
        log(`the rollout page read the rollout ${reads} times (updates: ${mode === 'live' ? 'Server-Sent Events' : 'polling'})`);
        // Live, the page reads the rollout once (and again only when the stream reconnects):
        // what it showed came from the stream's rollout events.
        if (await streamServed(url, adminToken)) {
          check(mode === 'live', `the stream is served but the rollout page is in '${mode}' mode`);
          check(reads <= 2, `the live rollout page read the rollout ${reads} times: it polled`);
        }
        const done = await api(url, adminToken, 'GET', `/api/v1/admin/rollouts/${rolloutId}`);
        check(done.json.state === 'done' && done.json.counts.upgraded === 6, `the API disagrees: ${JSON.stringify(done.json.counts)}`);
        await page.getByRole('link', { name: 'All rollouts' }).click();
        const row = page.locator(`tr[data-rollout="${rolloutId}"]`);
        await row.waitFor();
        check(/Done/.test(await row.innerText()), `the list does not show it done: ${await row.innerText()}`);
        await page.getByRole('button', { name: 'Sign out' }).click();
      });
    } else {
      log('no admin token on this platform: the admin view was checked with the tenant token only');
    }

    await step('no console errors or warnings', async () => {
      check(problems.length === 0, `the console said:\n${problems.join('\n')}`);
    });
  } finally {
    await browser.close();
  }
}

try {
  await run();
} catch (error) {
  failed = true;
  if (!results.some((r) => !r.ok)) log(`FAIL ${error.stack || error}`);
} finally {
  stopPlatform();
}
const passes = axeFindings.reduce((n, f) => n + f.passes, 0);
const violations = axeFindings.reduce((n, f) => n + f.violations.length, 0);
log(`axe-core: ${axeFindings.length} screens, ${passes} rules passed, ${violations} violations (any impact)`);
const passed = results.filter((r) => r.ok).length;
console.log(`dashboard e2e: ${passed} passed, ${results.length - passed} failed`);
process.exit(failed ? 1 : 0);
