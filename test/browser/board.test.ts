// The room scoreboard's page in a real browser: Debian's chromium, headless,
// driven by puppeteer-core over the DevTools protocol. One browser for every
// case (a launch costs about a second). The server is the real one
// (startBoardServer on 127.0.0.1, a free port) over a board the test changes
// as it goes, so the page is seen to follow the board without a reload.
//
// The cases run in order on one page: the detail cases read g1's failing
// check before the last case solves g1.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { startBoardServer, type BoardServer } from '../../src/room/serve.js';
import { BOARD_VERSION, stateOf, type Board, type BoardGroup, type GroupDetail } from '../../src/room/board.js';
import { loadLabFile } from '../../src/lab/load.js';
import { simulatedFacts } from '../../src/underlay/simulated.js';
import { graphData } from '../../src/workshop/graph.js';
import { LABS } from '../paths.js';

/** Debian's chromium, which `netlab doctor --tests --install` installs. */
const CHROMIUM = '/usr/bin/chromium';
const IN_CI = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';
const MISSING = !existsSync(CHROMIUM);
const INSTALL = 'run `netlab doctor --tests --install` (`sudo npm run setup`), which installs it';
/** What a page could run if a label were taken for markup: it would set window.__pwned. */
const HOSTILE = '<img src=x onerror="window.__pwned=1">';
/** How long the page may take to show a change: it polls every 2 s. */
const CHANGE_MS = 10_000;

const started = new Date(Date.now() - 12 * 60_000).toISOString();
/**
 * The board's clock (board.at), from which the page counts its minutes: fixed, 12 min 10 s after the
 * challenge's start, so that "up · 12 min" and "8 min left" hold however long the browser takes to start
 * (with the time of each poll, a start slower than 20 s made them 13 and 7).
 */
const boardAt = new Date(Date.parse(started) + 12 * 60_000 + 10_000).toISOString();
const challenge = (solved: boolean, minutes: number) => ({
  id: 'wrong-vni',
  title: 'The pods cannot reach each other',
  started,
  solved,
  'solved-at': solved ? new Date().toISOString() : null,
  minutes,
  hints: 1,
  'hints-read': 0,
  resets: 0,
  attempts: 2,
  revealed: false,
  'not-started': null,
});
/** A group's row as the server makes it: its state from its condition and challenge (board.ts stateOf). */
const group = (name: string, fields: Partial<Omit<BoardGroup, 'state'>>): BoardGroup => {
  const g = {
    name,
    lab: `vxlan@${name}`,
    target: 'simulated' as const,
    condition: 'up' as const,
    since: started,
    'checked-at': new Date().toISOString(),
    challenge: challenge(false, 12),
    failing: [],
    ...fields,
  };
  return { ...g, state: stateOf(g) };
};

/** The board the server serves; the cases change it. */
const groups: BoardGroup[] = [
  group('g1', { failing: [{ number: 3, name: 'ping a0 → a1', from: 'a0', to: 'a1' }] }),
  // solved with the answer read (`challenge reveal`)
  group('g2', { challenge: { ...challenge(true, 7), revealed: true } }),
  group('g3', { condition: 'unreachable', error: 'node-0: SSH refused' }),
  group('g4', { failing: [{ number: 4, name: HOSTILE, from: 'a1', to: 'a0' }] }),
  group('g5', { challenge: { ...challenge(false, 12), 'not-started': 'node-1: the fault could not be made' } }),
  // Rebuilt by hand (down and up): its grading ran no check (grade.ts), so it has no count of failing ones.
  group('g6', { condition: 'rebuilt' }),
];
/** The schedule's minutes for the challenge (the cases change them), and whether board.json hangs (a network gone). */
const served = { minutes: 20, hang: false };
const board = async (): Promise<Board> => {
  if (served.hang) await new Promise(() => {}); // never answered (the server closes its connections at the end)
  return {
    version: BOARD_VERSION,
    room: 'net101',
    lab: 'vxlan',
    at: boardAt,
    current: {
      challenge: 'wrong-vni',
      title: 'The pods cannot reach each other',
      started,
      minutes: served.minutes,
      hints: 2,
    },
    groups: structuredClone(groups),
  };
};

/** The vxlan lab's real graph; g4's has markup in pod a1's label. */
const model = loadLabFile(join(LABS, 'vxlan.yaml')).model;
const vxlanGraph = graphData(model, simulatedFacts(model));
const hostileGraph = {
  ...vxlanGraph,
  nodes: vxlanGraph.nodes.map((n) => ({
    ...n,
    boxes: n.boxes.map((b) => (b.id === 'pod_a1' ? { ...b, label: `pod a1\n${HOSTILE}` } : b)),
  })),
};
const detail = async (name: string): Promise<GroupDetail | undefined> => {
  const g = groups.find((x) => x.name === name);
  return g && { version: BOARD_VERSION, room: 'net101', group: g, graph: name === 'g4' ? hostileGraph : vxlanGraph };
};

const rowStates = (page: Page) =>
  page.$$eval('#groups tr', (trs) => trs.map((tr) => [tr.dataset.group, tr.dataset.state]));

/** Opens a group's detail by clicking its row, and waits for its graph (a detail left open by a failed case closed first). */
async function openDetail(page: Page, name: string): Promise<void> {
  await page.keyboard.press('Escape');
  await page.click(`tr[data-group="${name}"]`);
  await page.waitForSelector(`#detail[data-group="${name}"] svg`, { timeout: CHANGE_MS });
}

// In CI the setup installs chromium: there a missing one is a failure (counted as one), never a skip.
if (MISSING && IN_CI) test(`${CHROMIUM} is installed`, () => assert.fail(`${CHROMIUM} is missing: ${INSTALL}`));

describe('the scoreboard page in Chromium', { skip: MISSING ? `no ${CHROMIUM}: ${INSTALL}` : false }, () => {
  let browser: Browser;
  let page: Page;
  let server: BoardServer;
  let reloads = 0;
  const problems: string[] = [];

  before(async () => {
    server = await startBoardServer({ listen: { host: '127.0.0.1', port: 0 }, room: 'net101', board, detail });
    // --no-sandbox: the tests run as root, where Chromium's sandbox refuses to start.
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    page = await browser.newPage();
    // A script error, or a policy that blocked the page's own script or style, is a failure (below).
    page.on('pageerror', (error) => problems.push(`page error: ${String(error)}`));
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) problems.push(message.text());
    });
    await page.goto(server.url);
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) reloads++;
    });
    await page.waitForFunction(() => document.querySelectorAll('#groups tr').length === 6, { timeout: CHANGE_MS });
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('every group is shown with its state, and the header names the room and the challenge', async () => {
    assert.deepEqual(await rowStates(page), [
      ['g1', 'unsolved'],
      ['g2', 'solved'],
      ['g3', 'unreachable'],
      ['g4', 'unsolved'],
      ['g5', 'not-started'],
      ['g6', 'rebuilt'],
    ]);
    const text = (selector: string) => page.$eval(selector, (e) => e.textContent);
    assert.equal(await text('#room'), 'net101');
    assert.equal(await text('#challenge'), 'The pods cannot reach each other');
    assert.equal(await text('#left'), '8 min left');
    const cells = await page.$$eval('tr[data-group="g2"] td', (tds) => tds.map((td) => td.textContent));
    assert.deepEqual(cells, ['g2', 'up · 12 min', '✓ 7 min (revealed)', '1 (0 read)', '0', '2', '0']);
    // No checks ran where the lab was rebuilt or could not be reached: no count, rather than 0.
    for (const name of ['g3', 'g6'])
      assert.equal(await text(`tr[data-group="${name}"] td:nth-child(7)`), '\u2014', name);
    assert.equal(await text('tr[data-group="g1"] td:nth-child(3)'), '✗ 12 min');
    // Its start failed: no clock runs for a challenge that is not in the lab.
    assert.equal(await text('tr[data-group="g5"] td:nth-child(3)'), '✗ start failed');
  });

  test("a click on a row shows the group's graph, its failing check a red dashed line between the two pods", async () => {
    await openDetail(page, 'g1');
    const graph = await page.$eval('#detail svg', (svg) => {
      const centre = (id: string) => {
        const r = svg.querySelector(`rect[data-box="${id}"]`)!;
        const n = (a: string) => Number(r.getAttribute(a));
        return [n('x') + n('width') / 2, n('y') + n('height') / 2];
      };
      const lines = [...svg.querySelectorAll('line.failing')];
      return {
        text: [...svg.querySelectorAll('text')].map((t) => t.textContent),
        failing: lines.map((l) => ({
          stroke: getComputedStyle(l).stroke,
          dashed: getComputedStyle(l).strokeDasharray !== 'none',
          ends: ['x1', 'y1', 'x2', 'y2'].map((a) => Number(l.getAttribute(a))),
        })),
        pods: [...centre('pod_a0'), ...centre('pod_a1')],
      };
    });
    for (const label of ['node-0', 'node-1', 'pod a010.200.0.2/24', 'pod a110.200.1.2/24', 'underlay'])
      assert.ok(graph.text.includes(label), `the graph shows ${label}: ${JSON.stringify(graph.text)}`);
    assert.equal(graph.failing.length, 1);
    assert.equal(graph.failing[0]!.stroke, 'rgb(209, 36, 47)');
    assert.ok(graph.failing[0]!.dashed);
    assert.deepEqual(graph.failing[0]!.ends, graph.pods);
    assert.deepEqual(await page.$$eval('#failing li', (lis) => lis.map((li) => li.textContent)), ['3. ping a0 → a1']);
    await page.keyboard.press('Escape');
    await page.waitForSelector('#detail', { hidden: true });
  });

  test('markup in a label or a check name is shown as text, never run', async () => {
    await openDetail(page, 'g4');
    const seen = await page.evaluate(() => ({
      tspans: [...document.querySelectorAll('#detail tspan')].map((t) => t.textContent),
      checks: [...document.querySelectorAll('#failing li')].map((li) => li.textContent),
      images: document.querySelectorAll('img').length,
      pwned: (window as unknown as { __pwned?: unknown }).__pwned,
    }));
    assert.ok(seen.tspans.includes(HOSTILE), JSON.stringify(seen.tspans));
    assert.deepEqual(seen.checks, [`4. ${HOSTILE}`]);
    assert.equal(seen.images, 0);
    assert.equal(seen.pwned, undefined);
    await page.keyboard.press('Escape');
  });

  test('a group whose last grading ran no check (its lab rebuilt) says so in its detail, not that none fails', async () => {
    await openDetail(page, 'g6');
    assert.equal(
      await page.$eval('#failing-title', (e) => e.textContent),
      'no checks ran at the last grading: the lab was rebuilt',
    );
    await page.keyboard.press('Escape');
    await openDetail(page, 'g2');
    assert.equal(await page.$eval('#failing-title', (e) => e.textContent), 'no failing checks');
    await page.keyboard.press('Escape');
  });

  test('a group that solves the challenge changes its row, without a reload', async () => {
    await page.evaluate(() => ((window as unknown as { marker: string }).marker = 'this page'));
    groups[0] = group('g1', { challenge: challenge(true, 13), failing: [] });
    await page.waitForFunction(
      () => document.querySelector<HTMLElement>('tr[data-group="g1"]')?.dataset.state === 'solved',
      { timeout: CHANGE_MS },
    );
    assert.equal(await page.evaluate(() => (window as unknown as { marker?: string }).marker), 'this page');
    assert.equal(reloads, 0);
    assert.equal(await page.$eval('tr[data-group="g1"] td:nth-child(3)', (e) => e.textContent), '✓ 13 min');
    assert.deepEqual((await rowStates(page)).length, 6);
    assert.deepEqual(problems, []);
  });

  test("the time left is in whole minutes, rounded up, and up only once it is (a schedule's minutes may have decimals)", async () => {
    const shows = async (minutes: number, expected: string) => {
      served.minutes = minutes;
      await page
        .waitForFunction(
          (text) => document.getElementById('left')!.textContent === text,
          { timeout: CHANGE_MS },
          expected,
        )
        .catch(async () => assert.equal(await page.$eval('#left', (e) => e.textContent), expected, `${minutes} min`));
    };
    // (the board's clock is 12 min 10 s after the start)
    await shows(12.3, '1 min left'); // 8 s left
    await shows(12.1, 'time is up');
    served.minutes = 20;
  });

  test('a board.json that never answers (the network gone) turns the status line red, and the next answer back', async () => {
    served.hang = true;
    const problem = () => page.$eval('#status', (e) => (e as HTMLElement).dataset.problem !== undefined);
    try {
      // The page gives a request 10 s, then polls again 2 s later.
      await page.waitForFunction(() => document.getElementById('status')!.dataset.problem !== undefined, {
        timeout: 20_000,
      });
      assert.match(
        await page.$eval('#status', (e) => e.textContent!),
        /^the board could not be read \(.+\): trying again$/,
      );
    } finally {
      served.hang = false;
    }
    await page.waitForFunction(() => document.getElementById('status')!.dataset.problem === undefined, {
      timeout: 25_000,
    });
    assert.equal(await problem(), false);
  });
});
