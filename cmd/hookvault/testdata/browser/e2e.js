// Drives Swagger UI at /docs in Debian's Chromium as a person would, for TestBrowserSwaggerUI
// (cmd/hookvault/browser_test.go): lists the operations, authorizes with the webhook secret
// and the read token, sends a webhook through "Try it out", lists messages, and writes a
// screenshot. It reports what it saw as one JSON object on stdout; the Go test judges it.
//
// Environment: HV_BASE_URL, HV_SECRET, HV_TOKEN, HV_MESSAGE_ID, HV_OUT_DIR, HV_EXPECTED_OPS
// (a JSON array of "METHOD /path"), HV_CHROMIUM (default /usr/bin/chromium).
'use strict';

const path = require('node:path');
const { chromium } = require('playwright-core');

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const base = env('HV_BASE_URL');
const secret = env('HV_SECRET');
const token = env('HV_TOKEN');
const id = env('HV_MESSAGE_ID');
const outDir = env('HV_OUT_DIR');
const expectedOps = JSON.parse(env('HV_EXPECTED_OPS'));
const executablePath = process.env.HV_CHROMIUM || '/usr/bin/chromium';
const timeout = 15000;

// The body is sent exactly as typed: pretty-printed, with non-ASCII text, so the test shows
// that the browser signs the bytes that go on the wire.
const body = `{
  "id": "${id}",
  "sender": "swagger-ui",
  "content": "signed in the browser ✓"
}`;

// Only the operation block for method and path, whatever its tag.
function operation(page, method, p) {
  return page.locator(`.opblock.opblock-${method.toLowerCase()}`)
    .filter({ has: page.locator(`.opblock-summary-path[data-path="${p}"]`) });
}

// Opens the operation, presses "Try it out", lets prepare edit the form, presses "Execute"
// and returns the status and body that Swagger UI shows.
async function tryItOut(page, method, p, prepare) {
  const op = operation(page, method, p);
  await op.locator('.opblock-summary').first().click();
  await op.locator('button.try-out__btn').click();
  await prepare(op);
  await op.locator('button.execute').click();
  const live = op.locator('.live-responses-table .response').first();
  await live.waitFor({ timeout });
  const status = (await live.locator('.response-col_status').innerText()).trim();
  const shown = live.locator('.response-col_description .microlight').first();
  const body = (await shown.count()) ? (await shown.innerText()).trim() : '';
  const curlBox = op.locator('.curl-command .curl').first();
  const curl = (await curlBox.count()) ? (await curlBox.innerText()).trim() : '';
  return { status, body, curl };
}

async function authorize(modal, scheme, value) {
  const box = modal.locator('.auth-container')
    .filter({ has: modal.page().locator('h4 code', { hasText: new RegExp(`^${scheme}$`) }) });
  await box.locator('input').first().fill(value);
  await box.locator('button.authorize').click();
  // Swagger UI swaps the input for a "Logout" button once the value is taken.
  await box.locator('button', { hasText: 'Logout' }).waitFor({ timeout });
}

const result = {
  browser: '', steps: [], operations: [], webhook: null, messages: null, sent: [], listed: [], prefilled: [],
  secretSeenIn: [], console: [], pageErrors: [], expectedBody: body,
  screenshot: path.join(outDir, 'swagger-ui.png'), error: '',
};

// step runs fn and records how long it took, for the test's log.
let last = Date.now();
async function step(name, fn) {
  const v = await fn();
  const now = Date.now();
  result.steps.push(`${name} ${now - last}ms`);
  last = now;
  return v;
}

// watch records every request the page sends: whether the secret is anywhere in it, and
// what went to /webhook. It returns a function that waits until all are recorded.
function watch(page) {
  const pending = [];
  page.on('request', (r) => pending.push((async () => {
    const headers = await r.allHeaders();
    const post = r.postData() || '';
    if ([r.url(), post, ...Object.values(headers)].some((v) => v.includes(secret))) {
      result.secretSeenIn.push(`${r.method()} ${r.url()}`);
    }
    const url = new URL(r.url());
    if (url.pathname === '/webhook') {
      result.sent.push({ method: r.method(), signature: headers['x-signature'] || '', body: post });
    }
    if (url.pathname === '/messages') {
      result.listed.push(url.search);
    }
  })()));
  return () => Promise.all(pending);
}

async function run(page) {
  const recorded = watch(page);
  await step('open /docs', async () => {
    await page.goto(base + '/docs');
    // The spec is rendered once as many operations as it has are listed.
    await page.locator('.opblock').nth(expectedOps.length - 1).waitFor({ timeout })
      .catch(() => {}); // fewer: the test reports which are missing
    result.operations = await page.locator('.opblock').evaluateAll((els) => els.map((e) => {
      const m = e.querySelector('.opblock-summary-method');
      const p = e.querySelector('.opblock-summary-path');
      return `${m ? m.textContent.trim() : '?'} ${p ? p.getAttribute('data-path') : '?'}`;
    }));
  });

  await step('authorize', async () => {
    await page.locator('.scheme-container button.authorize').click();
    const modal = page.locator('.modal-ux');
    await modal.waitFor();
    await authorize(modal, 'webhookSignature', secret); // the secret, not a signature
    await authorize(modal, 'bearerAuth', token);
    await modal.locator('button.btn-done').first().click();
    await modal.waitFor({ state: 'detached' });
  });

  result.webhook = await step('POST /webhook', () => tryItOut(page, 'POST', '/webhook', async (op) => {
    await op.locator('textarea.body-param__text').fill(body);
  }));
  // As a person does: "Try it out", then "Execute" without typing anything. Whatever
  // Swagger UI pre-filled goes out; the test checks that it is no filter.
  result.messages = await step('GET /messages', () => tryItOut(page, 'GET', '/messages', async (op) => {
    result.prefilled = await op.locator('.parameters input, .parameters select').evaluateAll((els) => els
      .filter((e) => e.value !== '')
      .map((e) => `${e.closest('tr') ? e.closest('tr').getAttribute('data-param-name') : '?'}=${e.value}`));
  }));

  await step('screenshot', () => page.screenshot({ path: result.screenshot, fullPage: true }));
  await step('requests recorded', recorded);
}

(async () => {
  const browser = await step('launch', () => chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  }));
  result.browser = browser.version();
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.setDefaultTimeout(timeout);
  page.on('console', (m) => result.console.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => result.pageErrors.push(e.message));
  try {
    await run(page);
  } catch (e) {
    result.error = String(e && e.stack ? e.stack : e);
    result.screenshot = path.join(outDir, 'swagger-ui-failed.png');
    await page.screenshot({ path: result.screenshot, fullPage: true }).catch(() => {});
  }
  await step('close', () => browser.close());
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(result.error ? 1 : 0);
})().catch((e) => {
  process.stderr.write(`e2e.js: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
