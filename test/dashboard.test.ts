// The dashboard in a real headless Chromium (playwright-core driving the system's `chromium`; no
// browser download): a 16×16 world on a laptop-sized window, every part an operator needs, and a
// screenshot in artifacts/dashboard.png.
import { mkdirSync } from 'node:fs';
import { expect } from 'chai';
import { chromium, type Browser } from 'playwright-core';
import { Mesh, waitFor } from './harness.js';
import { sharedRedis } from './setup.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const DASHBOARD_TOKEN = 'dashboard-token-0123456789';

describe('dashboard (headless Chromium)', () => {
  let mesh: Mesh;
  let browser: Browser | undefined;
  beforeEach(() => { mesh = new Mesh(sharedRedis()); });
  afterEach(async () => {
    await browser?.close();
    await mesh.close();
  });

  it('shows a 16×16 mesh on a laptop screen: coloured owners, a dead server\'s areas, nodes, rates, players, search', async function () {
    this.timeout(60_000);
    const opts = { worldCols: 16, worldRows: 16, spawnAreas: '0,0 7,7 15,15', leaseCheckMs: 60_000, dashboardToken: DASHBOARD_TOKEN };
    const [a] = [await mesh.addBridge(opts), await mesh.addBridge(opts)];
    const servers = [await mesh.addServer(a, 's1'), await mesh.addServer(a, 's2'), await mesh.addServer(a, 's3')];
    const clients = await Promise.all(['alice', 'bob', 'carol', 'dave', 'erin', 'frank'].map((p) => mesh.addClient(a, p)));
    for (const c of clients) c.send({ dx: 1, dy: 1 });
    // One server vanishes and is declared dead: its areas stay with it until someone recovers them.
    const doomed = servers.find((s) => s.sdk.areas.size > 0 && s.id !== clients[0]!.session!.server)!;
    const epoch = doomed.sdk.epoch;
    doomed.stop();
    await a.testHook.map.setServerStatus(doomed.id, epoch, 'dead');
    await waitFor(() => a.testHook.cache.servers.get(doomed.id)?.status === 'dead', 3000, 'declared dead');

    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
    await page.goto(`${mesh.url(a)}/dashboard`);
    // The operator views name every player: the page asks for a token and keeps it for the tab.
    await page.waitForSelector('#login:not([hidden])');
    expect(await page.locator('#grid .area').count()).to.equal(0);
    await page.fill('#token', 'wrong-token-0123456789');
    await page.click('#login button');
    await page.waitForFunction(() => document.querySelector('#login-why')?.textContent === 'dashboard or admin token required');
    await page.fill('#token', DASHBOARD_TOKEN);
    await page.click('#login button');
    await page.waitForSelector('#grid .area');
    expect(await page.locator('#login').isHidden()).to.equal(true);
    expect(await page.locator('#grid .area').count()).to.equal(256);
    await page.waitForFunction(() => document.querySelectorAll('#nodes tr').length === 2);
    expect(await page.locator('#servers tr').count()).to.equal(3);
    expect(await page.locator('#grid .area.dead').count()).to.be.greaterThan(0);
    expect(await page.locator('#servers td.status-dead').count()).to.equal(1);
    // A server's colour is the same in the table and on its areas.
    const live = servers.find((s) => s !== doomed && s.sdk.areas.size > 0)!;
    const liveArea = [...live.sdk.areas.keys()][0]!;
    // Both read in one evaluation: the page redraws its tables every poll.
    const [cellColour, dotColour] = await page.evaluate(([area, id]) => [
      document.querySelector(`#grid .area[data-area="${area}"]`),
      [...document.querySelectorAll('#servers tr')].find((tr) => tr.textContent?.includes(id))?.querySelector('.dot'),
    ].map((e) => (e ? getComputedStyle(e).backgroundColor : 'missing')), [liveArea, live.id] as const);
    expect(dotColour).to.equal(cellColour);
    // World data: the store's chunks, and each server's.
    expect(await live.sdk.sync.put('dash/0', Buffer.alloc(2048, 1))).to.deep.equal({ ok: true, stored: true });
    await page.waitForFunction(() => document.querySelector('#sync')?.textContent?.startsWith('1 chunks (2.0 KB) in the store'));
    expect(await page.locator('#sync').textContent()).to.match(/2\.0 KB uploaded, .*no server syncing$/);
    expect(await page.locator('#servers tr', { hasText: live.id }).locator('td').nth(6).textContent()).to.equal('1');
    // The chat pane shows the global channel as text, never as HTML.
    await clients[1]!.chat.send('global', '<img src=x onerror="document.title=\'pwned\'"> hi');
    await page.waitForFunction(() => document.querySelector('#chat')?.textContent?.includes('bob: <img'));
    expect(await page.locator('#chat img').count()).to.equal(0);
    expect(await page.title()).not.to.equal('pwned');
    // Players are dots at their positions; the search finds one.
    await page.waitForSelector('.player[data-id="alice"]');
    await page.fill('#search', 'alice');
    await page.waitForSelector('.player.found[data-id="alice"]');
    expect(await page.locator('#found').textContent()).to.match(/^alice: area \d+,\d+ on s\d/);
    // Rates become numbers after two samples; the map fits the window.
    await page.waitForFunction(() => document.querySelector('#rate-inputs b')?.textContent !== '–', undefined, { timeout: 5000 });
    const box = (await page.locator('#grid').boundingBox())!;
    expect(box.x + box.width).to.be.at.most(1366);
    expect(box.y + box.height).to.be.at.most(768);
    mkdirSync('artifacts', { recursive: true });
    await page.screenshot({ path: 'artifacts/dashboard.png' });
    // A dead server shows no load; the header counts in words that agree with the numbers.
    const deadRow = page.locator('#servers tr', { hasText: doomed.id });
    expect(await deadRow.locator('td').nth(3).textContent()).to.equal('–');
    expect(await page.locator('#world').textContent()).to.match(/: 6 players, 2 servers ready$/);
    // 1024 px wide: nothing in the side pane is cut off.
    await page.setViewportSize({ width: 1024, height: 768 });
    await page.waitForTimeout(300);
    const clipped = await page.evaluate(() => [...document.querySelectorAll('aside table')].map((t) => t.scrollWidth - t.clientWidth)
      .concat([document.querySelector('aside')!.scrollWidth - document.querySelector('aside')!.clientWidth]));
    const wide = await page.evaluate(() => [...document.querySelectorAll('aside *')].filter((e) => e.getBoundingClientRect().right > 1024)
      .slice(0, 5).map((e) => `${e.tagName}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`));
    expect(clipped.every((px) => px <= 0), `overflow in px: ${clipped.join(' ')}; ${wide.join(', ')}`).to.equal(true);
    expect((await page.locator('#servers').boundingBox())!.x + (await page.locator('#servers').boundingBox())!.width).to.be.at.most(1024);
    await page.screenshot({ path: 'artifacts/dashboard-1024.png' });
  });
});
