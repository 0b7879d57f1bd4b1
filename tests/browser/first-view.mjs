// How long the board's first view takes, as a benchmark that prints figures (no asserts):
//
//   node first-view.mjs SERVER_URL SIGN_IN_LINK [RUNS]
//
// Signs in once by the link, then opens `/` RUNS times (default 15), each time in a fresh
// browser context (no cache) carrying only the session cookie, and measures from the
// HTML's arrival to the page's `zb:view` mark (the board drawn with its data). Prints each
// run, the median and the worst, and how many runs were under 300 ms.
//
// Environment: CHROMIUM (default /usr/bin/chromium).

import puppeteer from 'puppeteer-core';

const [serverArg, link, runsArg] = process.argv.slice(2);
if (!serverArg || !link) {
  console.error('usage: node first-view.mjs SERVER_URL SIGN_IN_LINK [RUNS]');
  process.exit(2);
}
const runs = Number(runsArg || 15);
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--no-default-browser-check'],
});
try {
  const first = await (await browser.createBrowserContext()).newPage();
  await first.goto(link, { waitUntil: 'load' });
  const cookies = await first.cookies();
  if (!cookies.some((c) => c.name === 'zb_session')) throw new Error('the link signed nobody in');
  await first.browserContext().close();

  const times = [];
  for (let i = 0; i < runs; i += 1) {
    const context = await browser.createBrowserContext();
    const page = await context.newPage();
    await page.setCookie(...cookies);
    await page.goto(serverArg, { waitUntil: 'load' });
    await page.waitForFunction(() => performance.getEntriesByName('zb:view').length > 0);
    const t = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      return performance.getEntriesByName('zb:view')[0].startTime - nav.responseEnd;
    });
    times.push(Math.round(t));
    await context.close();
  }
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  console.log(`first view, ms after the HTML arrived: ${times.join(' ')}`);
  console.log(`median ${median} ms, worst ${sorted.at(-1)} ms, ${times.filter((t) => t < 300).length} of ${runs} under 300 ms`);
} finally {
  await browser.close();
}
