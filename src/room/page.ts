// The scoreboard as a web page for the projector (`room serve`): one HTML
// document with its style and script inline, because the room's machine may
// have no internet and the page must load nothing from elsewhere. The script
// polls /board.json and rewrites the table in place (no reload, so the page
// never flashes on the projector); a click on a row fetches
// /groups/<name>.json and draws that group's lab as SVG with its failing
// checks marked. Everything that comes from data (group names, labels, check
// names) goes in with textContent and createElementNS, never as markup.
//
// The page is fixed text: the room's name is its only input, HTML-escaped.
// The server allows exactly this script and this style by their hashes
// (pagePolicy), so nothing injected could run even if escaping failed.
import { createHash } from 'node:crypto';

/** How often the page asks for the board (ms): the brief's 2 s, cheap for the server. */
export const POLL_MS = 2000;

// Sized for a projector: 30 rows of 20 px text fit a 1080-pixel-high screen
// with the header. Dark text on a light ground reads best in a lit room.
export const PAGE_STYLE = `
:root { color-scheme: light; --ink: #111; --muted: #555; --line: #ccc; }
* { box-sizing: border-box; }
body { margin: 0; padding: 12px 20px; font: 20px/1.2 system-ui, sans-serif; color: var(--ink); background: #fff; }
header { display: flex; align-items: baseline; gap: 28px; margin-bottom: 8px; }
h1 { margin: 0; font-size: 30px; }
#challenge { font-size: 24px; font-weight: 600; }
#left { font-size: 24px; }
#status { margin-left: auto; font-size: 14px; color: var(--muted); }
#status[data-problem] { color: #b42318; font-weight: 600; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th { text-align: left; font-size: 15px; color: var(--muted); border-bottom: 2px solid var(--ink); padding: 2px 10px; }
td { padding: 3px 10px; border-bottom: 1px solid var(--line); white-space: nowrap; }
.num { text-align: right; }
tbody tr { cursor: pointer; }
tbody tr:hover, tbody tr:focus { outline: 3px solid #1f6feb; outline-offset: -3px; }
tr[data-state="solved"] { background: #dcf5dc; }
tr[data-state="unreachable"], tr[data-state="down"], tr[data-state="not-started"] { background: #ececec; color: var(--muted); }
tr[data-state="rebuilt"] { background: #fff1c7; }
.yes { color: #1a7f37; font-weight: 700; }
.no { color: #b42318; font-weight: 700; }
#detail { position: fixed; inset: 4vh 4vw; background: #fff; border: 3px solid var(--ink); padding: 12px 20px;
  overflow: auto; box-shadow: 0 0 0 100vmax rgba(0, 0, 0, 0.35); }
#detail[hidden] { display: none; }
#detail header button { margin-left: auto; font-size: 18px; }
#detail svg { width: 100%; height: auto; max-height: 70vh; }
#detail svg text { font: 12px system-ui, sans-serif; fill: var(--ink); paint-order: stroke; stroke: #fff; stroke-width: 4px; }
#detail svg .cluster { fill: #f6f8fa; stroke: #888; }
#detail svg .box { fill: #fff; stroke: #333; }
#detail svg .edge { stroke: #888; }
#failing { font-size: 18px; }
`;

// The browser's half, as plain JavaScript (no build step, and no template
// literals of its own: it sits inside one here, whose only substitution is
// POLL_MS). String.raw keeps its backslashes as written ('\n' splits labels),
// so characters beyond ASCII are written as \u escapes, which the browser reads
// in its strings: the bundle is ASCII (scripts/bundle.mjs), and a raw template's
// text is the one thing its build cannot escape.
export const PAGE_SCRIPT = String.raw`
'use strict';
(function () {
  var POLL_MS = ${POLL_MS};
  var SVG = 'http://www.w3.org/2000/svg';
  var rows = new Map();
  var openGroup = null;

  /** An HTML element with text: data only ever reaches the page through textContent. */
  function el(tag, text) {
    var e = document.createElement(tag);
    e.textContent = text;
    return e;
  }
  /** An SVG element with attributes (setAttribute: values, never markup). */
  function svg(tag, attrs) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs) e.setAttribute(k, String(attrs[k]));
    return e;
  }
  function minutesBetween(from, to) {
    return Math.max(0, Math.round((Date.parse(to) - Date.parse(from)) / 60000));
  }

  /** The cells of a group's row, as [text, class]; times are from the board's own clock (board.at). */
  function cellsOf(g, at) {
    var c = g.challenge;
    var since = g.since ? ' \u00b7 ' + minutesBetween(g.since, at) + ' min' : '';
    var hints = c ? String(c.hints) + (c['hints-read'] === null ? '' : ' (' + c['hints-read'] + ' read)') : '\u2014';
    return [
      [g.name, ''],
      [g.condition + since, ''],
      !c ? ['\u2014', ''] : g.state === 'not-started' ? ['\u2717 start failed', 'no']
        : [(c.solved ? '\u2713 ' : '\u2717 ') + Math.round(c.minutes) + ' min' + (c.solved && c.revealed ? ' (revealed)' : ''),
          c.solved ? 'yes' : 'no'],
      [hints, 'num'],
      [c ? String(c.resets) : '\u2014', 'num'],
      [c ? String(c.attempts) : '\u2014', 'num'],
      // Checks ran only where the lab was up: a lab rebuilt, down or unreachable (or not graded yet) has no count.
      [g.condition === 'up' && !g.error ? String(g.failing.length) : '\u2014', 'num'],
    ];
  }

  /** The group's row, made once and then only changed: the projector shows no flicker. */
  function rowOf(name) {
    var tr = rows.get(name);
    if (tr) return tr;
    tr = document.createElement('tr');
    tr.dataset.group = name;
    tr.tabIndex = 0;
    for (var i = 0; i < 7; i++) tr.appendChild(document.createElement('td'));
    tr.addEventListener('click', function () { openDetail(name); });
    tr.addEventListener('keydown', function (e) { if (e.key === 'Enter') openDetail(name); });
    rows.set(name, tr);
    return tr;
  }

  function renderRow(g, at) {
    var tr = rowOf(g.name);
    tr.dataset.state = g.state;
    cellsOf(g, at).forEach(function (cell, i) {
      var td = tr.cells[i];
      if (td.textContent !== cell[0]) td.textContent = cell[0];
      td.className = cell[1];
    });
    return tr;
  }

  function renderHeader(board) {
    document.getElementById('room').textContent = board.room;
    var cur = board.current;
    document.getElementById('challenge').textContent = cur ? cur.title : 'no challenge running';
    var left = '';
    if (cur && cur.minutes !== null) {
      // (in whole minutes, rounded up: time is up only once it is; a schedule's minutes may have decimals)
      var rest = cur.minutes * 60000 - (Date.parse(board.at) - Date.parse(cur.started));
      left = rest > 0 ? Math.ceil(rest / 60000) + ' min left' : 'time is up';
    } else if (cur) left = 'started ' + minutesBetween(cur.started, board.at) + ' min ago';
    document.getElementById('left').textContent = left;
  }

  /**
   * The whole board, in place: rows kept, in the board's order, gone groups
   * removed. A row is moved only when out of place (a move would take the
   * keyboard focus off it).
   */
  function render(board) {
    renderHeader(board);
    var body = document.getElementById('groups');
    var seen = new Set();
    board.groups.forEach(function (g, i) {
      seen.add(g.name);
      var tr = renderRow(g, board.at);
      if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] || null);
    });
    rows.forEach(function (tr, name) {
      if (!seen.has(name)) { tr.remove(); rows.delete(name); }
    });
  }

  function setStatus(text, problem) {
    var s = document.getElementById('status');
    s.textContent = text;
    if (problem) s.dataset.problem = ''; else delete s.dataset.problem;
  }

  async function getJson(path) {
    // A request that hangs (the projector's network gone) fails in 10 s: the status says so, and the next poll comes.
    // (an AbortController of its own: AbortSignal.timeout is younger than some projectors' browsers)
    var stop = new AbortController();
    var timer = setTimeout(function () { stop.abort(); }, 10000);
    try {
      var response = await fetch(path, { cache: 'no-store', signal: stop.signal });
      if (response.status === 404) return undefined;
      if (!response.ok) throw new Error('HTTP ' + response.status);
      return await response.json();
    } finally {
      clearTimeout(timer);
    }
  }

  /** One poll after the other (never two at once), the detail refreshed with the board while it is open. */
  async function poll() {
    try {
      render(await getJson('/board.json'));
      setStatus('updated ' + new Date().toLocaleTimeString(), false);
      if (openGroup) await loadDetail(openGroup).catch(detailFailed);
    } catch (e) {
      setStatus('the board could not be read (' + e.message + '): trying again', true);
    }
    setTimeout(poll, POLL_MS);
  }

  // ---- the detail: a group's lab as a graph, its failing checks marked ----

  var BOX_W = 280, LINE_H = 16, PAD = 12, HEAD = 28, COL_GAP = 40, ROW_GAP = 50, MARGIN = 16;

  function boxHeight(label) {
    return String(label).split('\n').length * LINE_H + 12;
  }
  function list(x) {
    return Array.isArray(x) ? x : [];
  }

  /**
   * Positions by simple rules: each node a column with its boxes stacked in it,
   * the underlay (or the networks) in a row below, routers and the outside host
   * in a row below that. Returns the placed boxes by id, the clusters, the size.
   */
  function layout(graph) {
    var boxes = new Map(), clusters = [];
    var colW = BOX_W + 2 * PAD, bottom = MARGIN;
    list(graph.nodes).forEach(function (node, i) {
      var x = MARGIN + i * (colW + COL_GAP), y = MARGIN + HEAD;
      list(node.boxes).forEach(function (b) {
        var h = boxHeight(b.label);
        boxes.set(b.id, { x: x + PAD, y: y, w: BOX_W, h: h, label: b.label, shape: b.shape });
        y += h + PAD;
      });
      var cluster = { id: node.id, x: x, y: MARGIN, w: colW, h: y - MARGIN, label: node.label };
      clusters.push(cluster);
      bottom = Math.max(bottom, cluster.y + cluster.h);
    });
    var rowsBelow = [
      graph.underlay ? [graph.underlay] : list(graph.networks),
      list(graph.routers).concat(graph.outside ? [graph.outside] : []),
    ];
    // As wide as the columns, or as the widest row below them.
    var widest = Math.max(1, rowsBelow[0].length, rowsBelow[1].length);
    var width = 2 * MARGIN + Math.max(clusters.length * (colW + COL_GAP) - COL_GAP, widest * (BOX_W + PAD));
    rowsBelow.forEach(function (row) {
      if (!row.length) return;
      var y = bottom + ROW_GAP, h = 0;
      // A lone underlay spans the columns; several boxes share the width evenly.
      var wide = row.length === 1 && row === rowsBelow[0];
      var step = (width - 2 * MARGIN) / row.length;
      row.forEach(function (b, i) {
        var w = wide ? width - 2 * MARGIN : Math.min(BOX_W, step - PAD);
        var bh = boxHeight(b.label);
        boxes.set(b.id, { x: MARGIN + i * step + (step - w) / 2, y: y, w: w, h: bh, label: b.label, shape: b.shape, wide: wide });
        h = Math.max(h, bh);
      });
      bottom = y + h;
    });
    return { boxes: boxes, clusters: clusters, width: width, height: bottom + MARGIN };
  }

  /** Where a line meets a box: its centre, or for the wide underlay the point below the other end. */
  function anchor(box, other) {
    var x = box.x + box.w / 2;
    if (box.wide && other) x = Math.min(Math.max(other.x + other.w / 2, box.x + 10), box.x + box.w - 10);
    return { x: x, y: box.y + box.h / 2 };
  }

  function labelled(group, x, y, label) {
    var text = svg('text', { x: x, y: y, 'text-anchor': 'middle' });
    String(label).split('\n').forEach(function (line, i) {
      var span = svg('tspan', { x: x, dy: i === 0 ? 0 : LINE_H });
      span.textContent = line;
      text.appendChild(span);
    });
    group.appendChild(text);
  }

  function line(a, b, attrs) {
    var p = anchor(a, b), q = anchor(b, a);
    return svg('line', Object.assign({ x1: p.x, y1: p.y, x2: q.x, y2: q.y }, attrs));
  }

  /** The end of a failing check on the graph: a pod's box, else a node's column (ids as graph.ts makes them). */
  function endOf(name, placed) {
    var id = String(name).replace(/[^A-Za-z0-9_]/g, '_');
    var pod = placed.boxes.get('pod_' + id);
    if (pod) return pod;
    return placed.clusters.find(function (c) { return c.id === 'node_' + id; });
  }

  function drawGraph(graph, failing) {
    var placed = layout(graph);
    var root = svg('svg', { viewBox: '0 0 ' + placed.width + ' ' + placed.height, role: 'img' });
    placed.clusters.forEach(function (c) {
      root.appendChild(svg('rect', { x: c.x, y: c.y, width: c.w, height: c.h, rx: 6, class: 'cluster' }));
      labelled(root, c.x + c.w / 2, c.y + 18, c.label);
    });
    // Edges under the boxes: a line between centres shows only between the boxes.
    list(graph.edges).forEach(function (e) {
      var a = placed.boxes.get(e.from), b = placed.boxes.get(e.to);
      if (!a || !b) return;
      var l = line(a, b, { class: 'edge', 'stroke-width': 2 });
      if (e.label) l.appendChild(svg('title', {})).textContent = e.label;
      root.appendChild(l);
    });
    placed.boxes.forEach(function (b, id) {
      var round = b.shape === 'ellipse' ? b.h / 2 : b.shape === 'cylinder' ? 12 : 3;
      root.appendChild(svg('rect', { x: b.x, y: b.y, width: b.w, height: b.h, rx: round, class: 'box', 'data-box': id }));
    });
    // The failing checks over the boxes but under their labels (which keep a white
    // halo, so they stay readable): red dashed, each named in its tooltip.
    failing.forEach(function (check) {
      var a = check.from && endOf(check.from, placed), b = check.to && endOf(check.to, placed);
      if (!a || !b || a === b) return;
      var l = line(a, b, { class: 'failing', stroke: '#d1242f', 'stroke-width': 4, 'stroke-dasharray': '10 7' });
      l.dataset.check = String(check.number);
      l.appendChild(svg('title', {})).textContent = check.name;
      root.appendChild(l);
    });
    placed.boxes.forEach(function (b) {
      labelled(root, b.x + b.w / 2, b.y + 6 + LINE_H - 4, b.label);
    });
    return root;
  }

  function renderDetail(name, detail) {
    var box = document.getElementById('detail');
    var title = document.getElementById('detail-title');
    var graph = document.getElementById('graph');
    var checks = document.getElementById('failing');
    var checksTitle = document.getElementById('failing-title');
    box.dataset.group = name;
    graph.replaceChildren();
    checks.replaceChildren();
    checksTitle.textContent = '';
    if (!detail) {
      title.textContent = name + ': no detail';
      return;
    }
    var g = detail.group;
    title.textContent = g.name + ' \u00b7 ' + g.state + ' \u00b7 ' + g.lab;
    graph.appendChild(drawGraph(detail.graph || {}, list(g.failing)));
    checksTitle.textContent = g.failing.length ? 'failing checks'
      : g.condition === 'up' ? 'no failing checks'
      : g.condition === 'unknown' ? 'not graded yet'
      : 'no checks ran at the last grading: the lab was ' + g.condition;
    g.failing.forEach(function (check) {
      checks.appendChild(el('li', check.number + '. ' + check.name));
    });
  }

  async function loadDetail(name) {
    var detail = await getJson('/groups/' + encodeURIComponent(name) + '.json');
    // A click on another row while this one loaded: the newer one wins.
    if (openGroup === name) renderDetail(name, detail);
  }

  function openDetail(name) {
    openGroup = name;
    document.getElementById('detail').hidden = false;
    loadDetail(name).catch(detailFailed);
  }

  function detailFailed(e) {
    setStatus('the detail could not be read (' + e.message + ')', true);
  }

  function closeDetail() {
    openGroup = null;
    var box = document.getElementById('detail');
    box.hidden = true;
    delete box.dataset.group;
  }

  document.getElementById('close').addEventListener('click', closeDetail);
  document.addEventListener('keydown', function (e) { if (e.key === 'Escape') closeDetail(); });
  poll();
})();
`;

/** Text for HTML: the five characters that could end an element or an attribute, escaped. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** The page: the room's name escaped, everything else fixed (the script fills the table). */
export function scoreboardPage(room: string): string {
  const name = escapeHtml(room);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${name} · netlab room</title>
<style>${PAGE_STYLE}</style>
</head>
<body>
<header><h1 id="room">${name}</h1><span id="challenge"></span><span id="left"></span><span id="status">loading…</span></header>
<table>
<thead><tr><th>group</th><th>lab</th><th>challenge</th><th class="num">hints</th><th class="num">resets</th><th class="num">attempts</th><th class="num">failing</th></tr></thead>
<tbody id="groups"></tbody>
</table>
<section id="detail" hidden>
<header><h2 id="detail-title"></h2><button id="close" type="button">close (Esc)</button></header>
<div id="graph"></div>
<h3 id="failing-title"></h3>
<ul id="failing"></ul>
</section>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/**
 * The page's Content-Security-Policy: its one script and one style by their
 * hashes (no 'unsafe-inline': an injected script or event handler could not
 * run), requests only to this server, nothing else loaded, no framing.
 */
export function pagePolicy(): string {
  return [
    "default-src 'none'",
    `script-src ${sha256(PAGE_SCRIPT)}`,
    `style-src ${sha256(PAGE_STYLE)}`,
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}
