// The web page in a real browser (headless Debian chromium), with no network beyond the
// server under test, driven as people use it:
//
//   node board.mjs SERVER_URL EMPLOYEE_LINK MANAGER_LINK ADMIN_LINK PAYROLL_LINK
//
// The employee signs in by link and sees the board, opens "My duties" and submits one; the
// manager, in a second browser session, sees it to accept, accepts it, and both boards
// change (the employee's live, pushed by its subscription, without a reload). Then every
// view is opened (queue, the three reports, my KPI; payroll as the payroll
// clerk, who sees no reports; people as the admin, who adds a person), a report's CSV is downloaded, the language is switched, and the employee signs out
// and finds the old session refused. On every view axe-core runs (failing on a serious or
// critical finding) and screenshots are taken at 360 and 1280 px. Every request to another
// origin, CSP violation, script error or failed request fails the test. No sleeps: each
// step waits for what the page shows.
//
// Prints timings (first view after the HTML arrived; the page's own code and styles,
// compressed) and `browser: N passed, M failed`.
//
// Environment: CHROMIUM (default /usr/bin/chromium), OUT (screenshots and downloads;
// default /tmp/zeroboard-browser).

import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const [serverArg, employeeLink, managerLink, adminLink, payrollLink] = process.argv.slice(2);
if (!serverArg || !employeeLink || !managerLink || !adminLink || !payrollLink) {
  console.error('usage: node board.mjs SERVER_URL EMPLOYEE_LINK MANAGER_LINK ADMIN_LINK PAYROLL_LINK');
  process.exit(2);
}
const server = new URL(serverArg);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const out = process.env.OUT || '/tmp/zeroboard-browser';
mkdirSync(out, { recursive: true });
const TIMEOUT = 20_000;

let passed = 0;
let failed = 0;
const problems = [];
const step = async (label, fn) => {
  const before = problems.length;
  try {
    const note = await fn();
    if (problems.length > before) throw new Error(problems.slice(before).join('; '));
    passed += 1;
    console.log(`ok   ${label}${note ? `: ${note}` : ''}`);
  } catch (e) {
    failed += 1;
    console.log(`FAIL ${label}: ${e.stack || e}`);
  }
};

/** A page in its own browser context (its own cookies), watched for what must not happen. */
async function newPage(browser, who) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  await page.setViewport({ width: 1280, height: 900 });
  await page.setRequestInterception(true);
  page.on('request', (req) => {
    const url = new URL(req.url());
    if (url.protocol === 'data:' || url.protocol === 'blob:') return req.continue();
    if (url.origin !== server.origin) {
      problems.push(`${who}: request to another origin: ${req.url()}`);
      return req.abort('blockedbyclient');
    }
    return req.continue();
  });
  page.on('pageerror', (e) => problems.push(`${who}: script error: ${e.message}`));
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(`${who}: ${m.text()}`);
  });
  page.on('response', (res) => {
    // A spent link's page (410) and a signed-out request (401) are expected where tested.
    if (res.status() >= 400 && !res.url().includes('/login/') && res.status() !== 401) problems.push(`${who}: ${res.status()} for ${res.url()}`);
  });
  page.on('requestfailed', (req) => {
    const url = new URL(req.url());
    if (url.origin === server.origin && !url.protocol.startsWith('blob')) problems.push(`${who}: request failed: ${req.url()} (${req.failure()?.errorText})`);
  });
  return page;
}

/**
 * Clicks the element `find` returns; when a live redraw replaced it between finding and
 * clicking (puppeteer: "detached"), finds it again, a few times at most.
 */
async function clickFresh(find) {
  for (let tries = 1; ; tries += 1) {
    try {
      return await (await find()).click();
    } catch (e) {
      if (tries >= 5 || !/detached/i.test(String(e))) throw e;
    }
  }
}

/** Waits for a view's heading and no request in flight for it. */
async function viewShown(page, heading) {
  await page.waitForFunction((text) => {
    const h1 = document.querySelector('main h1');
    return h1 && h1.textContent.includes(text) && !document.querySelector('main[aria-busy]');
  }, {}, heading);
}

const count = (page, tile) => page.$eval(`#tile-${tile} .count`, (n) => Number(n.textContent.replace(/\D/g, '')));
const note = (page, tile) => page.$eval(`#tile-${tile}`, (n) => n.querySelector('.note')?.textContent ?? '');

/** axe-core on the page as it is: serious and critical findings are failures. */
async function axe(page, label) {
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }));
  });
  const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  if (bad.length) problems.push(`axe on ${label}: ${bad.map((v) => `${v.impact} ${v.id} (${v.nodes}): ${v.help}`).join('; ')}`);
  return result.length ? `axe: ${result.map((v) => `${v.impact} ${v.id}`).join(', ')}` : 'axe: clean';
}

async function shots(page, name) {
  for (const width of [360, 1280]) {
    await page.setViewport({ width, height: 900 });
    await page.screenshot({ path: path.join(out, `${name}-${width}.png`), fullPage: true });
  }
  await page.setViewport({ width: 1280, height: 900 });
}

const browser = await puppeteer.launch({
  executablePath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--no-default-browser-check'],
});
try {
  const employee = await newPage(browser, 'employee');
  const manager = await newPage(browser, 'manager');
  let title = '';
  let before = {};

  await step('the employee signs in by link and sees the board', async () => {
    await employee.goto(employeeLink, { waitUntil: 'load' });
    if (new URL(employee.url()).pathname !== '/') throw new Error(`landed on ${employee.url()}`);
    await viewShown(employee, 'My board');
    const name = await employee.$eval('#who', (n) => n.textContent);
    if (!name) throw new Error('no name in the header');
    const timing = await employee.evaluate(() => {
      // The script and the styles come inside the HTML; any others would be /web/ files.
      const nav = performance.getEntriesByType('navigation')[0];
      const own = performance.getEntriesByType('resource').filter((r) => /\/web\/app\.[0-9a-f]+\.(js|css)$/.test(r.name));
      const drawn = performance.getEntriesByName('zb:view')[0];
      const api = performance.getEntriesByType('resource').find((r) => /\/graphql$/.test(r.name));
      const since = (t) => (t - nav.responseEnd).toFixed(0);
      return {
        render: drawn.startTime - nav.responseEnd,
        detail: `GraphQL ${since(api.startTime)}–${since(api.responseEnd)} ms`,
        bytes: nav.encodedBodySize + own.reduce((s, r) => s + r.encodedBodySize, 0), files: 1 + own.length };
    });
    await shots(employee, 'board');
    return `${name}; first view ${timing.render.toFixed(0)} ms after the HTML arrived (${timing.detail}); page, own code and styles ${(timing.bytes / 1024).toFixed(1)} KiB compressed (${timing.files} files); ${await axe(employee, 'board')}`;
  });

  await step('a spent link signs nobody in', async () => {
    const page = await newPage(browser, 'replay');
    const res = await page.goto(employeeLink, { waitUntil: 'load' });
    if (res.status() !== 410) throw new Error(`status ${res.status()}`);
    const cookies = await page.cookies();
    if (cookies.length) throw new Error(`cookies: ${cookies.map((c) => c.name)}`);
    await page.browserContext().close();
  });

  await step('the employee opens "My duties" and submits one', async () => {
    before.duties = await count(employee, 'duties');
    before.note = await note(employee, 'duties');
    await clickFresh(() => employee.waitForSelector('#tile-duties'));
    await employee.waitForSelector('#list-title');
    await shots(employee, 'board-duties');
    const axeNote = await axe(employee, 'board with duties open');
    const item = await employee.waitForSelector('#list li:has(button:not(.quiet))');
    title = await item.$eval('.item-title', (n) => n.textContent);
    await clickFresh(async () => {
      const row = await employee.waitForFunction((t) => [...document.querySelectorAll('#list li')]
        .find((li) => li.querySelector('.item-title')?.textContent === t), {}, title);
      return row.asElement().$('button:not(.quiet)');
    });
    await employee.waitForFunction((t) => {
      const row = [...document.querySelectorAll('#list li')].find((li) => li.querySelector('.item-title')?.textContent === t);
      return row && !row.querySelector('button') && !document.querySelector('main[aria-busy]');
    }, {}, title);
    const after = await count(employee, 'duties');
    if (after !== before.duties - 1) throw new Error(`duties left ${before.duties} -> ${after}`);
    before.submitted = await note(employee, 'duties');
    return `"${title}": ${before.duties} -> ${after} left (${before.note} -> ${await note(employee, 'duties')}); ${axeNote}`;
  });

  await step('the manager sees it to accept, accepts it, and both boards change', async () => {
    await manager.goto(managerLink, { waitUntil: 'load' });
    await viewShown(manager, 'My board');
    const waiting = await count(manager, 'toAccept');
    await clickFresh(() => manager.waitForSelector('#tile-toAccept'));
    await manager.waitForSelector('#list-title');
    // Others may have a duty of the same title: the one from this employee.
    const name = await employee.$eval('#who', (n) => n.textContent);
    // A pushed board redraws the list, so a row found a moment ago may be gone by the click:
    // find it again then, as a person would.
    await clickFresh(async () => {
      const row = await manager.waitForFunction((t, who) => [...document.querySelectorAll('#list li')]
        .find((li) => li.querySelector('.item-title')?.textContent === t && li.querySelector('.meta')?.textContent.includes(who)), {}, title, name);
      return row.asElement().$('button:not(.quiet)');
    });
    await manager.waitForFunction((n) => {
      const c = document.querySelector('#tile-toAccept .count');
      return c && Number(c.textContent.replace(/\D/g, '')) === n && !document.querySelector('main[aria-busy]');
    }, {}, waiting - 1);
    await shots(manager, 'manager-board');
    // The employee's board changes live (its subscription), with no reload: the duty is
    // no longer waiting for acceptance; and so it stays after a reload.
    const waitingNote = before.submitted;
    const started = Date.now();
    await employee.waitForFunction((n) => {
      const c = document.querySelector('#tile-duties');
      const now = c ? (c.querySelector('.note')?.textContent ?? '') : n;
      return now !== n && !document.querySelector('main[aria-busy]');
    }, { timeout: 5000 }, waitingNote);
    const live = Date.now() - started;
    const pushed = await note(employee, 'duties');
    await employee.goto(new URL('/#/', server).toString(), { waitUntil: 'load' });
    await viewShown(employee, 'My board');
    const changed = await note(employee, 'duties');
    if (changed === waitingNote) throw new Error(`the employee's board still says ${changed}`);
    if (changed !== pushed) throw new Error(`pushed "${pushed}", reloaded "${changed}"`);
    return `manager ${waiting} -> ${waiting - 1} to accept; employee "${waitingNote}" -> "${changed}", live within ${live} ms of the accept's answer`;
  });

  const views = [
    [manager, '#/queue', 'To accept', 'queue'],
    [manager, '#/reports', 'Reports', 'reports-assignee'],
    [manager, '#/reports?by=CONTROLLER', 'Reports', 'reports-controller'],
    [manager, '#/reports?by=DEBTORS', 'Reports', 'reports-debtors'],
    [employee, '#/kpi', 'My KPI', 'kpi'],
  ];
  for (const [page, hash, heading, name] of views) {
    await step(`view ${hash}`, async () => {
      await page.goto(new URL(`/${hash}`, server).toString(), { waitUntil: 'load' });
      await viewShown(page, heading);
      await shots(page, name);
      return axe(page, hash);
    });
  }

  await step('a report downloads as CSV', async () => {
    await manager.goto(new URL('/#/reports?by=ASSIGNEE', server).toString(), { waitUntil: 'load' });
    await viewShown(manager, 'Reports');
    const rows = await manager.$$eval('tbody tr', (trs) => trs.length);
    const dir = path.join(out, 'downloads');
    mkdirSync(dir, { recursive: true });
    const cdp = await browser.target().createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: dir, eventsEnabled: true, browserContextId: manager.browserContext().id });
    const done = new Promise((resolve, reject) => {
      cdp.on('Browser.downloadProgress', (e) => {
        if (e.state === 'completed') resolve();
        if (e.state === 'canceled') reject(new Error('download canceled'));
      });
    });
    await manager.click('#csv');
    await done;
    const file = readdirSync(dir).find((f) => f.endsWith('.csv'));
    const lines = readFileSync(path.join(dir, file), 'utf8').trim().split(/\r?\n/);
    if (lines.length !== rows + 1) throw new Error(`${lines.length} lines for ${rows} rows`);
    return `${file}: ${rows} rows and a header`;
  });

  await step('payroll, as the payroll clerk signed in by link', async () => {
    const clerk = await newPage(browser, 'payroll');
    await clerk.goto(payrollLink, { waitUntil: 'load' });
    await viewShown(clerk, 'My board');
    const nav = await clerk.$$eval('#nav a', (as) => as.map((a) => a.getAttribute('href')));
    if (!nav.includes('#/payroll') || nav.includes('#/reports') || nav.includes('#/people')) throw new Error(`the clerk's views: ${nav}`);
    await clerk.goto(new URL('/#/payroll', server).toString(), { waitUntil: 'load' });
    await viewShown(clerk, 'Payroll');
    const links = await clerk.$$eval('a[href^="/export/bonus.csv"]', (as) => as.map((a) => a.getAttribute('href')));
    if (!links.length) throw new Error('no closed period to download');
    const csv = await clerk.evaluate(async (href) => {
      const res = await fetch(href, { credentials: 'same-origin' });
      return `${res.status} ${await res.text()}`;
    }, links[0]);
    const lines = csv.trim().split(/\r?\n/);
    if (!lines[0].startsWith('200 ') || lines.length < 2) throw new Error(`the bonus CSV: ${csv.slice(0, 120)}`);
    await shots(clerk, 'payroll');
    const axeNote = await axe(clerk, 'payroll');
    await clerk.browserContext().close();
    return `${links.length} closed periods, the first's CSV has ${lines.length - 1} rows; ${axeNote}`;
  });

  const admin = await newPage(browser, 'admin');
  await step('the admin signs in by link', async () => {
    await admin.goto(adminLink, { waitUntil: 'load' });
    await viewShown(admin, 'My board');
  });

  await step('people, as the admin: a person added by the form, named with markup', async () => {
    await admin.goto(new URL('/#/people', server).toString(), { waitUntil: 'load' });
    await viewShown(admin, 'People');
    const before = await admin.$$eval('main ul.items > li', (lis) => lis.length);
    const name = '<script>window.__pwned=5</script> New Person';
    await admin.type('#p-name', name);
    await admin.type('#p-email', 'new.person@zeroboard.demo');
    await admin.click('form button[type=submit]');
    await admin.waitForFunction((n) => document.querySelectorAll('main ul.items > li').length === n && !document.querySelector('main[aria-busy]'), {}, before + 1);
    const seen = await admin.evaluate((text) => ({
      shown: [...document.querySelectorAll('main .item-title')].some((n) => n.textContent === text),
      scripts: document.querySelectorAll('main script').length,
      pwned: window.__pwned,
    }), name);
    if (!seen.shown || seen.scripts || seen.pwned !== undefined) throw new Error(JSON.stringify(seen));
    await shots(admin, 'people');
    return `${before} -> ${before + 1} people; ${await axe(admin, 'people')}`;
  });

  await step('what people type is shown as text, and runs nothing', async () => {
    // The admin's page asks the API as the page does (same origin, the cookie, the header).
    const ask = (query, variables) => admin.evaluate(async (q, v) => {
      const res = await fetch('/graphql', {
        method: 'POST', credentials: 'same-origin',
        headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', 'x-zeroboard-csrf': '1' },
        body: JSON.stringify({ query: q, variables: v }),
      });
      return res.json();
    }, query, variables);
    const hostile = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>';
    const people = await ask('{ currentPeriod { endsAt } employees(first: 100) { nodes { id name } } }', {});
    const dueAt = new Date(Date.parse(people.data.currentPeriod.endsAt) - 3600_000).toISOString();
    const me = await employee.$eval('#who', (n) => n.textContent);
    const target = people.data.employees.nodes.find((p) => p.name === me);
    const made = await ask('mutation($i: AssignmentFields!) { createAssignment(input: $i) { id } }', { i: { assigneeId: target.id, title: hostile, dueAt } });
    if (made.errors) throw new Error(JSON.stringify(made.errors));
    const js = await ask('mutation { publishArticle(input: { title: "x", link: "javascript:window.__pwned=3" }) { id } }', {});
    if (!js.errors) throw new Error('a javascript: link was stored');
    await employee.goto(new URL('/#/board/additional', server).toString(), { waitUntil: 'load' });
    await employee.waitForSelector('#list-title');
    const seen = await employee.evaluate((text) => ({
      shown: [...document.querySelectorAll('#list .item-title')].some((n) => n.textContent === text),
      img: document.querySelectorAll('main img, main script').length,
      pwned: window.__pwned,
    }), hostile);
    if (!seen.shown || seen.img || seen.pwned !== undefined) throw new Error(JSON.stringify(seen));
    await admin.browserContext().close();
    return 'an assignment titled with <img onerror> and <script> shows as text; a javascript: link is refused';
  });

  await step('the language switches to Russian and stays', async () => {
    await employee.goto(new URL('/#/', server).toString(), { waitUntil: 'load' });
    await viewShown(employee, 'My board');
    await employee.select('#lang', 'ru');
    await viewShown(employee, 'Моя доска');
    await employee.reload({ waitUntil: 'load' });
    await viewShown(employee, 'Моя доска');
    await shots(employee, 'board-ru');
    const axeNote = await axe(employee, 'board in Russian');
    await employee.select('#lang', 'en');
    await viewShown(employee, 'My board');
    return axeNote;
  });

  await step('signing out ends the session', async () => {
    const cookies = await employee.cookies();
    const session = cookies.find((c) => c.name === 'zb_session');
    if (!session || !session.httpOnly || session.sameSite !== 'Strict') throw new Error(`cookie ${JSON.stringify(session)}`);
    await employee.click('#signout');
    await viewShown(employee, 'You are signed out');
    // The old cookie, put back, is refused by the server.
    await employee.setCookie(session);
    await employee.reload({ waitUntil: 'load' });
    await viewShown(employee, 'You are signed out');
    await shots(employee, 'signed-out');
    return axe(employee, 'signed out');
  });
} finally {
  await browser.close();
}
console.log(`screenshots: ${out}`);
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
