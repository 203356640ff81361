// `room serve`'s web server: the scoreboard page, its JSON and each group's
// detail, read-only (GET and HEAD, nothing else). It serves three fixed
// routes and touches no file, so no path from a request reaches the file
// system; a group's name is checked against the grammar of group names before
// detail() sees it. The board is computed per request by the caller
// (board()); a failure there is a 500 for that request, and the server goes on.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { escapeControls, shown, UsageError } from '../errors.js';
import { INSTANCE_NAME_MAX, NAME_PATTERN } from '../model/grammar.js';
import { IPV4_PATTERN } from '../net/ipv4.js';
import type { Board, GroupDetail } from './board.js';
import { pagePolicy, scoreboardPage } from './page.js';

export interface Listen {
  host: string;
  port: number;
}

export interface BoardServerOptions {
  listen: Listen;
  room: string;
  board: () => Promise<Board>;
  detail: (group: string) => Promise<GroupDetail | undefined>;
  /** where a failure of board() or detail() is told (the response says only that it failed); stderr by default */
  log?: (message: string) => void;
}

export interface BoardServer {
  /** the page's address, with the port chosen when 0 was asked for */
  url: string;
  close(): Promise<void>;
}

const LISTEN_RULE =
  '--listen takes ADDR:PORT: ADDR an IPv4 address (127.0.0.1: this machine only; 0.0.0.0: every interface) or localhost, PORT a number 0-65535 (0: any free port)';

/** `--listen ADDR:PORT`; IPv4 or localhost only, like the rest of netlab. */
export function parseListen(text: string): Listen {
  const match = /^([^:]+):(0|[1-9]\d{0,4})$/.exec(text);
  const host = match?.[1];
  const port = Number(match?.[2]);
  if (!match || !(host === 'localhost' || IPV4_PATTERN.test(host!)) || port > 65535)
    throw new UsageError(`${LISTEN_RULE}; found ${shown(text)}`);
  return { host: host!, port };
}

/** A group's name as the room file allows it: anything else is no group, and detail() never sees it. */
function isGroupName(name: string): boolean {
  return name.length <= INSTANCE_NAME_MAX && NAME_PATTERN.test(name);
}

// Every response: no sniffing a JSON body into HTML, no framing, no referrer
// leaving the page; the policy allows the page's own script and style only.
const COMMON_HEADERS = {
  'Content-Security-Policy': pagePolicy(),
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  // The page changes with the code and the board with every grading: nothing is cached.
  'Cache-Control': 'no-store',
};

function send(req: IncomingMessage, res: ServerResponse, status: number, type: string, body: string, extra = {}) {
  const bytes = Buffer.from(body, 'utf8');
  res.writeHead(status, {
    ...COMMON_HEADERS,
    'Content-Type': type,
    'Content-Length': bytes.length,
    ...extra,
  });
  // HEAD: the same headers, no body.
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

const sendJson = (req: IncomingMessage, res: ServerResponse, status: number, value: unknown, extra = {}) =>
  send(req, res, status, 'application/json; charset=utf-8', `${JSON.stringify(value)}\n`, extra);

/**
 * A server on this machine only (a loopback address) answers only requests for this machine's names: a page of
 * another site whose DNS name is made to point at 127.0.0.1 (DNS rebinding) would otherwise read the board.
 * On every interface (the room's network) the projector may use any of the machine's names.
 */
export function hostAllowed(host: string | undefined, listen: Listen): boolean {
  const loopback = listen.host === 'localhost' || listen.host.startsWith('127.');
  if (!loopback) return true;
  const name = (host ?? '').replace(/:\d+$/, '').toLowerCase();
  return name === 'localhost' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/** The routes; every answer is produced here, and any failure is a 500 with a JSON error. */
async function handle(req: IncomingMessage, res: ServerResponse, options: BoardServerOptions): Promise<void> {
  if (!hostAllowed(req.headers.host, options.listen)) {
    sendJson(req, res, 403, { error: 'this board answers on this machine only: ask for it as localhost or 127.0.0.1' });
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendJson(req, res, 405, { error: 'read-only: GET and HEAD only' }, { Allow: 'GET, HEAD' });
    return;
  }
  // The path alone, taken as sent: the routes are fixed strings, and a
  // percent-encoded or relative path simply matches none of them.
  const path = (req.url ?? '/').split('?')[0]!;
  if (path === '/') {
    send(req, res, 200, 'text/html; charset=utf-8', scoreboardPage(options.room));
    return;
  }
  if (path === '/board.json') {
    sendJson(req, res, 200, await options.board());
    return;
  }
  const group = /^\/groups\/([^/]+)\.json$/.exec(path)?.[1];
  const detail = group !== undefined && isGroupName(group) ? await options.detail(group) : undefined;
  if (detail) sendJson(req, res, 200, detail);
  else sendJson(req, res, 404, { error: group !== undefined ? 'no such group' : 'not found' });
}

/**
 * `compute` as the server's requests share it: its last value while `ms` have not passed since it was asked for,
 * then computed anew (a value that failed is asked for anew at once). The time is the monotonic clock's: a wall
 * clock set back (NTP, a VM resumed) would keep the last value for as long.
 */
export function reusedFor<T>(ms: number, compute: () => Promise<T>, now = () => performance.now()): () => Promise<T> {
  let last: { at: number; value: Promise<T> } | undefined;
  return () => {
    if (!last || now() - last.at >= ms) {
      const value = compute();
      last = { at: now(), value };
      // (a failure is the request's 500, and not kept for the next second's)
      value.catch(() => {
        if (last?.value === value) last = undefined;
      });
    }
    return last.value;
  };
}

/** What to do about the kernel's refusals of --listen's address. */
const LISTEN_ADVICE: Record<string, string> = {
  EADDRINUSE: 'another program has that port: choose another with --listen',
  EADDRNOTAVAIL:
    'no interface of this machine has that address: give one it has (`ip -br addr`), 127.0.0.1 for this machine only, or 0.0.0.0 for every interface',
  EACCES: 'a port below 1024 needs root: choose one above 1023',
};

/** Starts the server; resolves once it listens (its URL has the actual port), rejects when it cannot. */
export function startBoardServer(options: BoardServerOptions): Promise<BoardServer> {
  const log = options.log ?? ((message: string) => console.error(escapeControls(message)));
  const server = createServer((req, res) => {
    handle(req, res, options).catch((error: unknown) => {
      // The cause goes to the room's operator, not to the page: it is shown on a projector.
      log(`room serve: ${req.method} ${req.url}: ${error instanceof Error ? error.message : String(error)}`);
      if (!res.headersSent)
        sendJson(req, res, 500, { error: "it could not be computed: the room server's output says why" });
      else res.destroy();
    });
  });
  return new Promise((resolve, reject) => {
    // Before anything is graded: --listen's address is the one thing to change (exit 2).
    server.once('error', (error: NodeJS.ErrnoException) => {
      const advice = LISTEN_ADVICE[error.code ?? ''];
      reject(
        new UsageError(
          `room serve cannot listen on ${options.listen.host}:${options.listen.port}: ${error.code ?? error.message}${advice ? ` (${advice})` : ''}`,
        ),
      );
    });
    // localhost is 127.0.0.1: Node takes the first address the name has, ::1 on most machines, where the
    // page at 127.0.0.1 would be refused (and a machine without IPv6 could not listen at all).
    server.listen(options.listen.port, options.listen.host === 'localhost' ? '127.0.0.1' : options.listen.host, () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://${options.listen.host}:${port}/`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            // The page keeps its connection alive between polls: close it rather than wait for it.
            server.closeAllConnections();
          }),
      });
    });
  });
}
