// The GraphiQL playground in a real browser (headless Debian chromium), with no network
// beyond the server under test.
//
//   node playground.mjs SERVER_URL TOKEN
//
// At `/graphiql`: loads the page with every request to another origin
// refused (and counted as a failure), waits for GraphiQL's editors, types the token into
// the headers editor and a query into the query editor, runs it, and checks that the
// response pane shows the employee's name (read from the API directly, as the oracle).
// Also fails on any Content-Security-Policy violation, any script error, any failed
// same-origin request, and on the token being saved in the browser's storage.
// Prints `browser: N passed, M failed` (read by .ci/run) and exits non-zero on a failure.
//
// Environment: CHROMIUM (default /usr/bin/chromium), SCREENSHOT (default
// /tmp/playground.png, taken of the first page after the query ran).

import puppeteer from 'puppeteer-core';

const [serverArg, token] = process.argv.slice(2);
if (!serverArg || !token) {
  console.error('usage: node playground.mjs SERVER_URL TOKEN');
  process.exit(2);
}
const server = new URL(serverArg);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const screenshot = process.env.SCREENSHOT || '/tmp/playground.png';
const TIMEOUT = 20_000;
const QUERY = 'query Me { me { name } }';

/** The employee's name, asked of the API directly: what the page must show. */
async function expectedName() {
  const res = await fetch(new URL('graphql', server), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: QUERY }),
  });
  const body = await res.json();
  const name = body?.data?.me?.name;
  if (typeof name !== 'string' || !name) throw new Error(`the API gave no name for the token: ${JSON.stringify(body)}`);
  return name;
}

/** Replaces the text of the CodeMirror editor under `selector` as a user would: click, select all, type. */
async function typeInto(page, selector, text) {
  await page.waitForSelector(selector, { visible: true, timeout: TIMEOUT });
  await page.click(selector);
  const selectAll = process.platform === 'darwin' ? 'Meta' : 'Control';
  await page.keyboard.down(selectAll);
  await page.keyboard.press('KeyA');
  await page.keyboard.up(selectAll);
  await page.keyboard.press('Backspace');
  // insertText, like a paste: CodeMirror's bracket auto-closing does not apply.
  await page.keyboard.sendCharacter(text);
  const value = await page.$eval(selector, (el) => el.closest('.CodeMirror').CodeMirror.getValue());
  if (value !== text) throw new Error(`the editor ${selector} holds ${JSON.stringify(value)}, not ${JSON.stringify(text)}`);
}

async function scenario(browser, path, name, takeScreenshot) {
  const problems = [];
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 800 });
  page.setDefaultTimeout(TIMEOUT);
  const graphqlAuth = [];

  await page.setRequestInterception(true);
  page.on('request', (req) => {
    const url = new URL(req.url());
    if (url.protocol === 'data:' || url.protocol === 'blob:') return req.continue();
    if (url.origin !== server.origin) {
      problems.push(`request to another origin: ${req.url()}`);
      return req.abort('blockedbyclient');
    }
    if (url.pathname.endsWith('/graphql')) graphqlAuth.push(req.headers()['authorization'] ?? null);
    return req.continue();
  });
  page.on('response', (res) => {
    if (res.status() >= 400) problems.push(`${res.status()} for ${res.url()}`);
  });
  page.on('requestfailed', (req) => {
    if (new URL(req.url()).origin === server.origin) problems.push(`request failed: ${req.url()} (${req.failure()?.errorText})`);
  });
  page.on('pageerror', (err) => problems.push(`script error: ${err.message}`));
  page.on('console', (msg) => {
    const text = msg.text();
    if (/Content Security Policy|Refused to/i.test(text)) problems.push(`CSP: ${text}`);
  });
  // The page's own report of violations (covers those the console might word differently).
  await page.evaluateOnNewDocument(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'} in ${e.sourceFile}:${e.lineNumber}`);
    });
  });

  const started = performance.now();
  const response = await page.goto(new URL(path, server).toString(), { waitUntil: 'load' });
  const csp = response.headers()['content-security-policy'] ?? '';
  if (!csp.includes("script-src 'self'")) problems.push(`the page's CSP is ${JSON.stringify(csp)}`);
  const queryEditor = '.graphiql-query-editor .CodeMirror';
  await page.waitForSelector(queryEditor, { visible: true });
  const rendered = performance.now() - started;
  const loaded = await page.evaluate(() => performance.getEntriesByType('navigation')[0].loadEventEnd);

  // defaultEditorToolsVisibility: 'headers' opens the headers pane below the query.
  await typeInto(page, '.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror', JSON.stringify({ Authorization: `Bearer ${token}` }));
  await typeInto(page, queryEditor, QUERY);
  const before = graphqlAuth.length;
  await page.click('.graphiql-execute-button');
  const shown = await page
    .waitForFunction(
      (expected) => {
        const cm = document.querySelector('.graphiql-response .CodeMirror')?.CodeMirror;
        const text = cm ? cm.getValue() : '';
        return text.includes(expected) ? text : false;
      },
      {},
      JSON.stringify(name),
    )
    .then((h) => h.jsonValue())
    .catch(async () => {
      const text = await page.evaluate(() => document.querySelector('.graphiql-response')?.innerText ?? '(no response pane)');
      problems.push(`the response pane does not show ${JSON.stringify(name)}: ${text}`);
      return null;
    });
  if (shown) {
    const data = JSON.parse(shown);
    if (data?.data?.me?.name !== name) problems.push(`the response pane shows ${shown}`);
  }
  if (!graphqlAuth.slice(before).includes(`Bearer ${token}`)) {
    problems.push(`the query was not sent with the token from the headers editor (sent: ${JSON.stringify(graphqlAuth.slice(before))})`);
  }

  // Headers are not persisted: the token must not be in the browser's storage.
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
  if (stored.includes(token)) problems.push('the token was saved in the browser storage');

  // Open the settings dialog too: GraphiQL's dialogs inject styles at run time.
  await page.click('button[aria-label="Open settings dialog"]');
  await page.waitForSelector('.graphiql-dialog', { visible: true });
  await page.keyboard.press('Escape');

  const violations = await page.evaluate(() => window.__cspViolations);
  for (const v of violations) problems.push(`CSP violation: ${v}`);
  if (takeScreenshot) await page.screenshot({ path: screenshot });
  await page.close();
  return { problems, rendered, loaded };
}

const name = await expectedName();
const browser = await puppeteer.launch({
  executablePath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--no-default-browser-check'],
});
let passed = 0;
let failed = 0;
try {
  for (const [i, path] of ['graphiql'].entries()) {
    const label = `playground at ${new URL(path, server).pathname}`;
    try {
      const { problems, rendered, loaded } = await scenario(browser, path, name, i === 0);
      if (problems.length === 0) {
        passed += 1;
        console.log(`ok   ${label}: rendered in ${rendered.toFixed(0)} ms (load event at ${loaded.toFixed(0)} ms), ran the query and showed ${name}`);
      } else {
        failed += 1;
        console.log(`FAIL ${label}:\n  - ${problems.join('\n  - ')}`);
      }
    } catch (e) {
      failed += 1;
      console.log(`FAIL ${label}: ${e.stack || e}`);
    }
  }
} finally {
  await browser.close();
}
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
