/**
 * The status page in a real browser (Debian's chromium, driven by
 * Playwright) with scripts turned off: what a person sees is the buckets,
 * their figures and the connections. A screenshot is left in the test's
 * temporary folder for a person to look at.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { BucketClient } from '../../src/client/client.js';
import { startServer, tempDir } from '../helpers/server.js';

const CHROMIUM = '/usr/bin/chromium';
const missing = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} not found (npm test installs it as root: apt-get install chromium)`;
if (missing) console.warn(`SKIPPED: the status page browser test: ${missing}`);

test('the status page reads right in chromium with scripts off', { skip: missing }, async () => {
  const server = await startServer({ args: ['--http-port', '0'] });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    // As root, chromium runs only without its sandbox.
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
  try {
    const client = await BucketClient.connect({ port: server.port });
    await client.createBucket('holiday-photos');
    for (const [name, text] of [
      ['beach.jpg', 'sand and sea'],
      ['sunset.jpg', 'orange'],
    ]) {
      await client.upload('holiday-photos', name!, Readable.from([Buffer.from(text!)]), Buffer.byteLength(text!));
    }
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    const response = await page.goto(`http://127.0.0.1:${server.httpPort}/`);
    assert.equal(response?.status(), 200);
    assert.equal(await page.title(), 'bucketd status');
    assert.match(await page.locator('h1').innerText(), /^bucketd \d+\.\d+\.\d+/);
    const row = page.locator('#buckets tbody tr', { hasText: 'holiday-photos' });
    assert.deepEqual(await row.locator('td').allInnerTexts(), ['holiday-photos', '2', '18', '18 B']);
    assert.equal(await page.locator('#connections').innerText(), '1');
    assert.equal(await page.locator('#state').innerText(), 'serving');
    const screenshot = path.join(await tempDir('bucketd-status-page-'), 'status.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    assert.ok(existsSync(screenshot));
    console.log(`status page screenshot: ${screenshot}`);
    await client.exit();
  } finally {
    await browser.close();
    await server.stop();
  }
});
