// `room serve`'s web server without a browser (the page in Chromium is
// test/browser/board.test.ts): its routes, what it refuses, its headers, a
// board() that throws, and --listen's grammar.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { hostAllowed, parseListen, reusedFor, startBoardServer, type BoardServer } from '../../src/room/serve.js';
import { escapeHtml, scoreboardPage } from '../../src/room/page.js';
import { BOARD_VERSION, type Board, type GroupDetail } from '../../src/room/board.js';
import { UsageError } from '../../src/errors.js';

const BOARD: Board = { version: BOARD_VERSION, room: 'net101', lab: 'vxlan', at: '', current: null, groups: [] };

describe('the board server', () => {
  let server: BoardServer;
  let failBoard = false;
  const asked: string[] = [];
  const logged: string[] = [];
  const url = (path: string) => new URL(path, server.url);

  before(async () => {
    server = await startBoardServer({
      listen: { host: '127.0.0.1', port: 0 },
      room: 'net101',
      board: async () => {
        if (failBoard) throw new Error('the grading log is unreadable');
        return BOARD;
      },
      detail: async (group): Promise<GroupDetail | undefined> => {
        asked.push(group);
        return group === 'g1' ? { version: BOARD_VERSION, room: 'net101', group: {} as never, graph: {} } : undefined;
      },
      log: (message) => logged.push(message),
    });
  });
  after(() => server.close());

  test('port 0 gives a free port, in the URL', () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:[1-9]\d*\/$/);
  });

  test('/ is the page, /board.json the board, both uncached, with the security headers', async () => {
    const page = await fetch(url('/'));
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    const html = await page.text();
    assert.equal(html, scoreboardPage('net101'));
    const board = await fetch(url('/board.json?t=1'));
    assert.equal(board.status, 200);
    assert.equal(board.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.equal(board.headers.get('cache-control'), 'no-store');
    assert.equal(board.headers.get('x-content-type-options'), 'nosniff');
    assert.deepEqual(await board.json(), BOARD);
    // The policy allows exactly the page's inline script and style, by their hashes, and nothing else.
    const policy = page.headers.get('content-security-policy')!;
    const hash = (tag: string) => {
      const inner = new RegExp(`<${tag}>([\\s\\S]*)</${tag}>`).exec(html)![1]!;
      return `'sha256-${createHash('sha256').update(inner).digest('base64')}'`;
    };
    assert.ok(policy.includes(`script-src ${hash('script')}`), policy);
    assert.ok(policy.includes(`style-src ${hash('style')}`), policy);
    assert.match(policy, /default-src 'none'/);
    assert.doesNotMatch(policy, /unsafe/);
  });

  test("a group's detail: a known group's JSON; an unknown group 404", async () => {
    asked.length = 0;
    assert.equal((await fetch(url('/groups/g1.json'))).status, 200);
    assert.equal((await fetch(url('/groups/g9.json'))).status, 404);
    assert.deepEqual(asked, ['g1', 'g9']);
  });

  test('a group name outside the grammar is 404 and never reaches detail()', async () => {
    asked.length = 0;
    for (const path of [
      '/groups/..%2Fetc.json',
      '/groups/-g1.json',
      '/groups/.g1.json',
      '/groups/%3Cimg%3E.json',
      `/groups/${'a'.repeat(33)}.json`,
      '/groups/.json',
      '/groups/a/b.json',
    ]) {
      const response = await fetch(url(path));
      assert.equal(response.status, 404, path);
      assert.equal(response.headers.get('content-type'), 'application/json; charset=utf-8');
    }
    assert.equal((await fetch(url(`/groups/${'a'.repeat(32)}.json`))).status, 404);
    assert.deepEqual(asked, ['a'.repeat(32)]);
  });

  test('any other path is 404', async () => {
    for (const path of ['/index.html', '/board.json/', '/groups/', '/favicon.ico'])
      assert.equal((await fetch(url(path))).status, 404, path);
  });

  test('read-only: any method but GET and HEAD is 405, saying which are allowed', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      const response = await fetch(url('/board.json'), { method });
      assert.equal(response.status, 405, method);
      assert.equal(response.headers.get('allow'), 'GET, HEAD');
    }
  });

  test("on loopback, only this machine's names are answered: a rebound DNS name (another site's page) is 403", async () => {
    const get = (host: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(url('/board.json'), { headers: { host } }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        });
        req.on('error', reject).end();
      });
    for (const host of ['evil.example', `evil.example:${url('/').port}`, '10.0.0.5:8088'])
      assert.deepEqual(await get(host), {
        status: 403,
        body: '{"error":"this board answers on this machine only: ask for it as localhost or 127.0.0.1"}\n',
      });
    for (const host of [`127.0.0.1:${url('/').port}`, `localhost:${url('/').port}`, 'LOCALHOST'])
      assert.equal((await get(host)).status, 200, host);
    // Listening on every interface (the room's network), any name the projector uses.
    assert.equal(hostAllowed('scoreboard.local:8088', { host: '0.0.0.0', port: 8088 }), true);
  });

  test('HEAD: the headers of GET, no body', async () => {
    const response = await fetch(url('/board.json'), { method: 'HEAD' });
    assert.equal(response.status, 200);
    assert.equal(Number(response.headers.get('content-length')), `${JSON.stringify(BOARD)}\n`.length);
    assert.equal(await response.text(), '');
  });

  test('a board() that throws: 500 with a JSON error (the cause logged, not shown), and the server goes on', async () => {
    failBoard = true;
    const failed = await fetch(url('/board.json'));
    assert.equal(failed.status, 500);
    const body = (await failed.json()) as { error: string };
    assert.match(body.error, /could not be computed: the room server's output says why/);
    assert.doesNotMatch(body.error, /grading log/);
    assert.match(logged.at(-1)!, /GET \/board\.json: the grading log is unreadable/);
    failBoard = false;
    assert.equal((await fetch(url('/board.json'))).status, 200);
  });
});

test('an address this machine does not have is refused as bad input (exit 2), saying what to give', async () => {
  // 192.0.2.1: TEST-NET-1, documentation only, on no interface here (nothing is sent: the bind is refused)
  const attempt = startBoardServer({
    listen: { host: '192.0.2.1', port: 0 },
    room: 'r',
    board: async () => BOARD,
    detail: async () => undefined,
  });
  try {
    await assert.rejects(
      attempt,
      (error: Error) =>
        error instanceof UsageError &&
        /cannot listen on 192\.0\.2\.1:0: EADDRNOTAVAIL \(no interface of this machine has that address: .*0\.0\.0\.0/.test(
          error.message,
        ),
    );
  } finally {
    // (a machine that has the address after all: its server closed, or the test's process would not end)
    await attempt.then(
      (server) => server.close(),
      () => {},
    );
  }
});

test('a port in use is refused with a message naming --listen', async () => {
  const first = await startBoardServer({
    listen: { host: '127.0.0.1', port: 0 },
    room: 'r',
    board: async () => BOARD,
    detail: async () => undefined,
  });
  try {
    const port = Number(new URL(first.url).port);
    await assert.rejects(
      startBoardServer({
        listen: { host: '127.0.0.1', port },
        room: 'r',
        board: async () => BOARD,
        detail: async () => undefined,
      }),
      (error: Error) =>
        error instanceof UsageError && /cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE .*--listen/.test(error.message),
    );
  } finally {
    // (also when the assertion fails: a server left listening would keep the test's process running)
    await first.close();
  }
});

test('the board is folded at most once a second, however many requests ask and however often the log grows; a fold that failed is done anew at the next request', async () => {
  let clock = 0;
  let folds = 0;
  let fail = false;
  const board = reusedFor(
    1000,
    async () => {
      folds++;
      if (fail) throw new Error('unreadable');
      return folds;
    },
    () => clock,
  );
  assert.deepEqual(await Promise.all([board(), board(), board()]), [1, 1, 1]);
  clock = 999;
  assert.equal(await board(), 1, 'within the second: the same board');
  clock = 1000;
  assert.equal(await board(), 2, 'a second later: folded again');
  fail = true;
  clock = 2000;
  await assert.rejects(board(), /unreadable/);
  fail = false;
  assert.equal(await board(), 4, 'not the failure again');
  assert.equal(folds, 4);
});

test('the page: the room name escaped, nothing loaded from elsewhere', () => {
  const html = scoreboardPage('<b>"r"&');
  assert.ok(html.includes('<h1 id="room">&lt;b&gt;&quot;r&quot;&amp;</h1>'));
  assert.ok(!html.includes('<b>'));
  // No src= or href= at all: the only URL in it is the SVG namespace, a name and no request.
  assert.doesNotMatch(html, /\b(src|href)\s*=/i);
  assert.deepEqual(html.match(/\w+:\/\/[^'"\s]*/g), ['http://www.w3.org/2000/svg']);
  assert.equal(escapeHtml(`<>&"'`), '&lt;&gt;&amp;&quot;&#39;');
});

test('--listen localhost: the page answers at 127.0.0.1 (Node alone would take ::1, where this machine has it)', async () => {
  const server = await startBoardServer({
    listen: { host: 'localhost', port: 0 },
    room: 'net101',
    board: async () => BOARD,
    detail: async () => undefined,
  });
  try {
    const port = new URL(server.url).port;
    assert.equal(server.url, `http://localhost:${port}/`);
    assert.equal((await fetch(`http://127.0.0.1:${port}/board.json`)).status, 200);
  } finally {
    await server.close();
  }
});

test('--listen: ADDR:PORT with an IPv4 address or localhost, port 0-65535', () => {
  assert.deepEqual(parseListen('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
  assert.deepEqual(parseListen('0.0.0.0:0'), { host: '0.0.0.0', port: 0 });
  assert.deepEqual(parseListen('localhost:65535'), { host: 'localhost', port: 65535 });
  assert.deepEqual(parseListen('10.0.0.255:1'), { host: '10.0.0.255', port: 1 });
  for (const bad of [
    '',
    '8080',
    ':8080',
    '127.0.0.1',
    '127.0.0.1:',
    '127.0.0.1:65536',
    '127.0.0.1:99999',
    '127.0.0.1:080',
    '127.0.0.1:-1',
    '127.0.0.1:80a',
    '256.0.0.1:80',
    '127.0.0.01:80',
    '127.0.0:80',
    'example.com:80',
    '[::1]:80',
    '::1:80',
    'localhost:80:80',
    ' 127.0.0.1:80',
  ])
    assert.throws(
      () => parseListen(bad),
      (error: Error) =>
        error instanceof UsageError &&
        error.message.includes('--listen takes ADDR:PORT') &&
        error.message.includes('localhost') &&
        error.message.includes('0-65535') &&
        error.message.endsWith(`found ${JSON.stringify(bad)}`),
      bad,
    );
});
