// The status page polls /metrics and /healthz once a second, keeps the
// last minute of rates per pool and per server, and updates the page in
// place: pool sections and server rows are made once and their cells
// rewritten only when their text changes, and drawing reads no layout, so
// a refresh of 500 servers stays far inside its one-second period. What
// it shows is derived from those two documents alone.
'use strict';
(() => {
  const PERIOD = 1000; // ms between polls
  const HISTORY = 60; // samples kept per chart
  const FAILOVER_SHOWN = 60; // seconds a failover is shown as one
  const SPARK_HEIGHT = 16; // the view box height of a row's sparkline
  const SVG = 'http://www.w3.org/2000/svg';

  const byName = new Intl.Collator(undefined, { numeric: true }).compare;
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const setText = (e, text) => { if (e.textContent !== text) e.textContent = text; };
  const setAttr = (e, name, v) => { if (e.getAttribute(name) !== v) e.setAttribute(name, v); };

  // parseMetrics reads Prometheus's text format and returns the samples
  // of nutcracker's own families as {name, labels, value}. It looks for
  // delimiters with indexOf and unescapes only a label value that has a
  // backslash: a 500-server document is a megabyte a second.
  function parseMetrics(text) {
    const samples = [];
    for (let start = 0, end; start < text.length; start = end + 1) {
      end = text.indexOf('\n', start);
      if (end < 0) end = text.length;
      if (!text.startsWith('nutcracker_', start)) continue;
      const brace = text.indexOf('{', start);
      const labels = {};
      let i;
      if (brace >= 0 && brace < end) {
        i = brace + 1;
        while (i < end && text[i] !== '}') {
          const eq = text.indexOf('="', i);
          if (eq < 0 || eq >= end) break; // not the format: keep the name and value
          let close = text.indexOf('"', eq + 2);
          while (close > 0 && text[close - 1] === '\\' && !evenBackslashes(text, close - 1)) close = text.indexOf('"', close + 1);
          if (close < 0 || close >= end) break;
          const raw = text.slice(eq + 2, close);
          labels[text.slice(i, eq)] = raw.includes('\\') ? unescapeLabel(raw) : raw;
          i = close + 1;
          if (text[i] === ',') i++;
        }
        samples.push({ name: text.slice(start, brace), labels, value: number(text.slice(text.indexOf(' ', i), end)) });
      } else {
        const space = text.indexOf(' ', start);
        samples.push({ name: text.slice(start, space), labels, value: number(text.slice(space, end)) });
      }
    }
    return samples;
  }

  // evenBackslashes tells whether the run of backslashes ending at i
  // (inclusive) has an even length, so the quote after it is not escaped.
  function evenBackslashes(text, i) {
    let n = 0;
    while (text[i - n] === '\\') n++;
    return n % 2 === 0;
  }

  // number reads a sample value or a bucket bound, which may be ±Inf
  // (parseFloat knows only "Infinity"); a timestamp after it is ignored.
  function number(s) {
    s = s.trim().split(' ')[0];
    return s === '+Inf' ? Infinity : s === '-Inf' ? -Infinity : parseFloat(s);
  }

  const unescapeLabel = (raw) => raw.replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));

  const short = (name, prefix) => name.slice(prefix.length);

  // buildModel groups samples by pool and server.
  function buildModel(samples) {
    const m = { info: {}, uptime: 0, conns: 0, workers: null, restarts: new Map(), reloads: new Map(), pools: new Map() };
    const pool = (name) => {
      let p = m.pools.get(name);
      if (!p) {
        p = { name, v: {}, cluster: false, redirections: {}, servers: new Map() };
        m.pools.set(name, p);
      }
      return p;
    };
    const server = (pn, sn) => {
      const p = pool(pn);
      let s = p.servers.get(sn);
      if (!s) {
        s = { name: sn, v: {}, buckets: [], group: false, master: '' };
        p.servers.set(sn, s);
      }
      return s;
    };
    for (const { name, labels: l, value } of samples) {
      switch (name) {
        case 'nutcracker_info': m.info = l; break;
        case 'nutcracker_uptime_seconds': m.uptime = value; break;
        case 'nutcracker_curr_connections': m.conns = value; break;
        case 'nutcracker_workers': m.workers = value; break;
        case 'nutcracker_worker_restarts_total': m.restarts.set(l.worker, value); break;
        case 'nutcracker_reloads_total': m.reloads.set(l.result, value); break;
        case 'nutcracker_sentinel_master': {
          const s = server(l.pool, l.group);
          s.group = true;
          s.master = l.addr;
          break;
        }
        case 'nutcracker_pool_cluster_redirections_total':
          pool(l.pool).cluster = true;
          pool(l.pool).redirections[l.kind] = value;
          break;
        case 'nutcracker_server_request_duration_seconds_bucket':
          server(l.pool, l.server).buckets.push([number(l.le), value]);
          break;
        default:
          if (l.server !== undefined && name.startsWith('nutcracker_server_')) {
            server(l.pool, l.server).v[short(name, 'nutcracker_server_')] = value;
          } else if (l.pool !== undefined && name.startsWith('nutcracker_pool_')) {
            pool(l.pool).v[short(name, 'nutcracker_pool_')] = value;
          }
      }
    }
    return m;
  }

  // delta is how much a counter grew; a counter that went back (a
  // restart, or a server renamed by a reload) grew by nothing we know.
  const delta = (cur, prev) => (prev === undefined || cur < prev ? 0 : cur - prev);

  const serverErrors = (v) => (v.err_total || 0) + (v.eof_total || 0) + (v.timedout_total || 0);

  // quantile estimates the q-quantile of the observations counted
  // between two readings of one cumulative histogram, interpolating
  // within a bucket as Prometheus's histogram_quantile does. counts holds
  // [upper bound, count] pairs, ascending.
  function quantile(q, counts) {
    const total = counts.length ? counts[counts.length - 1][1] : 0;
    if (!(total > 0)) return null;
    const rank = q * total;
    let lower = 0, below = 0;
    for (const [le, c] of counts) {
      if (c >= rank) {
        if (le === Infinity) return lower; // past the last bound: its bound is all we know
        return lower + (le - lower) * (c > below ? (rank - below) / (c - below) : 0);
      }
      lower = le;
      below = c;
    }
    return lower;
  }

  // bucketDelta returns cur's counts less prev's (both cumulative, the
  // same bounds), or null without a comparable earlier reading.
  function bucketDelta(cur, prev) {
    if (!prev || prev.length !== cur.length) return null;
    return cur.map(([le, c], i) => [le, delta(c, prev[i][1])]);
  }

  // addBuckets adds d into sum (both cumulative, the same bounds); a
  // null sum is made from d.
  function addBuckets(sum, d) {
    if (!d) return sum;
    if (!sum) return d.map(([le, c]) => [le, c]);
    for (let i = 0; i < sum.length && i < d.length; i++) sum[i][1] += d[i][1];
    return sum;
  }

  // Formatting.
  const thousands = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });
  const fmtRate = (x) => (x === null ? '–' : x < 10 && x > 0 ? x.toFixed(1) : thousands.format(x));
  const fmtCount = (x) => (x === null || x === undefined ? '–' : thousands.format(x));
  function fmtSeconds(s) {
    if (s === null || s === undefined) return '–';
    if (s < 1e-3) return (s * 1e6).toFixed(0) + ' µs';
    if (s < 1) return (s * 1e3).toFixed(s < 0.01 ? 2 : 1) + ' ms';
    return s.toFixed(2) + ' s';
  }
  function fmtDuration(sec) {
    sec = Math.floor(sec);
    const d = Math.floor(sec / 86400), h = Math.floor(sec / 3600) % 24, m = Math.floor(sec / 60) % 60, s = sec % 60;
    return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + (d || h || m ? m + 'm ' : '') + s + 's';
  }
  const plural = (n, word) => `${fmtCount(n)} ${word}${n === 1 ? '' : 's'}`;
  const fmtTime = (sec) => new Date(sec * 1000).toLocaleTimeString();

  // colors are the page's chart colors, read from its style sheet once
  // per render rather than once per canvas.
  const colors = { s0: '', s1: '', line: '', muted: '' };
  function readColors() {
    const style = getComputedStyle(document.documentElement);
    for (const k of Object.keys(colors)) colors[k] = style.getPropertyValue('--' + k).trim();
  }

  // charts finds a Chart by its canvas; sizes keeps each chart's size,
  // so drawing reads no layout.
  const charts = new WeakMap();
  const sizes = new ResizeObserver((entries) => {
    for (const e of entries) {
      const chart = charts.get(e.target);
      chart.width = e.contentRect.width;
      chart.height = e.contentRect.height;
      chart.draw();
    }
  });

  // A Chart is a small line chart of up to two series over the last
  // HISTORY samples, drawn on a canvas.
  class Chart {
    constructor(parent, title, labels, fmt) {
      this.box = el('div', 'chart');
      const head = el('div', 'head');
      head.append(el('span', 'title', title));
      this.now = el('span', 'now', '–');
      head.append(this.now);
      this.canvas = el('canvas');
      this.canvas.setAttribute('role', 'img');
      this.canvas.setAttribute('aria-label', title);
      this.box.append(head, this.canvas);
      parent.append(this.box);
      this.labels = labels;
      this.fmt = fmt;
      this.series = labels.map(() => []);
      this.width = 0; // the canvas's size in CSS pixels, kept by sizes
      this.height = 0;
      sizes.observe(this.canvas);
      charts.set(this.canvas, this);
    }

    push(...values) {
      values.forEach((v, i) => {
        const s = this.series[i];
        s.push(v);
        if (s.length > HISTORY) s.shift();
      });
      const text = values.map((v, i) => (this.labels[i] ? this.labels[i] + ' ' : '') + this.fmt(v)).join(' · ');
      setText(this.now, text);
    }

    draw() {
      const c = this.canvas, dpr = window.devicePixelRatio || 1;
      const w = Math.round(this.width * dpr), h = Math.round(this.height * dpr);
      if (!w || !h) return; // hidden (a closed pool)
      if (c.width !== w || c.height !== h) { c.width = w; c.height = h; }
      const g = c.getContext('2d');
      g.clearRect(0, 0, w, h);
      let max = 0;
      for (const s of this.series) for (const v of s) if (v > max) max = v;
      g.strokeStyle = colors.line;
      g.lineWidth = 1;
      g.beginPath();
      g.moveTo(0, h - 0.5);
      g.lineTo(w, h - 0.5);
      g.stroke();
      g.fillStyle = colors.muted;
      g.font = `${10 * dpr}px system-ui, sans-serif`;
      g.textBaseline = 'top';
      g.fillText(max > 0 ? this.fmt(max) : '', 2 * dpr, 1 * dpr);
      if (max <= 0) max = 1;
      const top = 12 * dpr, span = h - top - 2 * dpr;
      const step = w / (HISTORY - 1);
      this.series.forEach((s, k) => {
        g.strokeStyle = k ? colors.s1 : colors.s0;
        g.lineWidth = 1.5 * dpr;
        g.beginPath();
        let pen = false;
        const x0 = w - (s.length - 1) * step;
        s.forEach((v, i) => {
          if (v === null) { pen = false; return; }
          const x = x0 + i * step, y = top + span * (1 - v / max);
          if (pen) g.lineTo(x, y); else g.moveTo(x, y);
          pen = true;
        });
        g.stroke();
      });
    }
  }

  // A ChartSet is the four charts of the page's overview and of each pool.
  class ChartSet {
    constructor(parent) {
      this.req = new Chart(parent, 'requests/s', [''], fmtRate);
      this.err = new Chart(parent, 'errors/s', [''], fmtRate);
      this.lat = new Chart(parent, 'latency', ['p50', 'p99'], fmtSeconds);
      this.conn = new Chart(parent, 'connections', ['clients', 'servers'], fmtCount);
    }
    push(t) {
      this.req.push(t.req);
      this.err.push(t.err);
      this.lat.push(t.p50, t.p99);
      this.conn.push(t.clients, t.servers);
    }
    draw() { for (const c of [this.req, this.err, this.lat, this.conn]) c.draw(); }
  }

  // drawSpark draws one series as an SVG polyline scaled by its view
  // box: setting one attribute, and reading no layout, per row.
  function drawSpark(line, series) {
    let max = 0;
    for (const v of series) if (v > max) max = v;
    if (max <= 0) max = 1;
    const x0 = HISTORY - series.length;
    let points = '';
    series.forEach((v, i) => { points += `${x0 + i},${(SPARK_HEIGHT * (1 - (v || 0) / max)).toFixed(1)} `; });
    setAttr(line, 'points', points);
  }

  // Page state kept between polls.
  const overview = new ChartSet($('overview'));
  const poolViews = new Map(); // pool name -> {section, charts, tbody, rows: Map}
  let prev = null; // the previous poll: {model, at (ms), serverTime (s)}
  const reloadsSeen = new Map(); // result -> {count, at}
  // status is what the last refresh did, for the browser test: renderMs
  // includes the layout, scriptMs is the script alone.
  const status = { polls: 0, renderMs: 0, scriptMs: 0 };
  window.nutcrackerStatus = status; // read by the browser test

  // serverState tells what a server is doing, from two readings:
  //  - ejected: out of the ring now (nutcracker_server_ejected); from a
  //    process without that gauge, ejected after the last reply seen
  //    (ejected_at is the last ejection's time);
  //  - failed: errors since the last reading, and no reply in that time
  //    or no connection now;
  //  - a sentinel group's: no master known, failed over within the last
  //    minute, or its master;
  //  - a cluster pool's: a cluster node; else live.
  function serverState(s, view, cluster, now) {
    const ejectedAt = s.v.ejected_at_seconds || 0;
    const ejected = s.v.ejected !== undefined ? s.v.ejected > 0 : ejectedAt > 0 && !(view.repliedAt >= ejectedAt);
    if (ejected) {
      return { label: 'ejected', level: 'bad', detail: ejectedAt > 0 ? 'out of the ring since ' + fmtTime(ejectedAt) : 'out of the ring' };
    }
    if (view.errRate > 0 && (view.replyRate === 0 || !s.v.connections)) {
      return { label: 'failed', level: 'bad', detail: s.v.connections ? 'errors and no reply' : 'errors and no connection' };
    }
    if (s.group) {
      if (!s.master) return { label: 'no master', level: 'bad', detail: 'sentinels know no master' };
      const detail = 'master ' + s.master + (s.v.failover_total ? ` (${plural(s.v.failover_total, 'failover')})` : '');
      if (view.failedOverAt && now - view.failedOverAt < FAILOVER_SHOWN) return { label: 'failed over', level: 'warn', detail };
      return { label: 'sentinel group', level: 'ok', detail };
    }
    return { label: cluster ? 'cluster node' : 'live', level: 'ok', detail: '' };
  }

  const COLUMNS = [
    ['server', 'name'], ['state', 'state'], ['requests/s', 'req'], ['errors/s', 'err'], ['p50', 'p50'], ['p99', 'p99'],
    ['conns', 'conns'], ['queue in/out', 'queue'], ['', 'detail'],
  ];
  const COLUMN_TITLES = {
    'errors/s': 'server errors, EOFs and timeouts per second',
    'conns': 'connections to the server',
    'queue in/out': 'requests waiting to be written / waiting for a reply',
  };

  function poolView(name) {
    let pv = poolViews.get(name);
    if (pv) return pv;
    const section = el('details', 'pool');
    section.open = true;
    section.dataset.pool = name;
    const summary = el('summary');
    const facts = {};
    summary.append(el('span', 'name', name));
    for (const k of ['kind', 'state', 'servers', 'req', 'err', 'lat', 'clients', 'extra']) {
      facts[k] = el('span', 'fact');
      summary.append(facts[k]);
    }
    facts.state.classList.add('st');
    const charts = el('div', 'charts');
    const wrap = el('div', 'table');
    const table = el('table');
    const head = el('tr');
    for (const [title, cls] of COLUMNS) {
      const th = el('th', cls, title);
      if (COLUMN_TITLES[title]) th.title = COLUMN_TITLES[title];
      head.append(th);
    }
    const thead = el('thead');
    thead.append(head);
    const tbody = el('tbody');
    table.append(thead, tbody);
    wrap.append(table);
    section.append(summary, charts, wrap);
    pv = { section, facts, charts: new ChartSet(charts), tbody, rows: new Map() };
    poolViews.set(name, pv);
    return pv;
  }

  function serverRow(pv, name) {
    let r = pv.rows.get(name);
    if (r) return r;
    const tr = el('tr', 'server');
    tr.dataset.server = name;
    const cells = {};
    for (const k of ['name', 'state', 'req', 'err', 'p50', 'p99', 'conns', 'queue', 'detail']) {
      cells[k] = el('td', k);
      tr.append(cells[k]);
    }
    cells.name.textContent = name;
    cells.name.title = name;
    const st = el('span', 'st');
    cells.state.append(st);
    const spark = document.createElementNS(SVG, 'svg');
    spark.setAttribute('class', 'spark');
    spark.setAttribute('viewBox', `0 0 ${HISTORY - 1} ${SPARK_HEIGHT}`);
    spark.setAttribute('preserveAspectRatio', 'none');
    spark.setAttribute('aria-hidden', 'true');
    const line = document.createElementNS(SVG, 'polyline');
    spark.append(line);
    const rate = el('span', 'rate');
    cells.req.append(spark, rate);
    r = { tr, cells, st, line, rate, history: [], repliedAt: undefined, failedOverAt: 0, level: 'ok', label: '' };
    pv.rows.set(name, r);
    return r;
  }

  // showRow shows or hides a server's row as the filters say, and
  // returns whether it is shown.
  function showRow(pname, sname, r) {
    const filter = $('filter').value.trim().toLowerCase();
    const shown = (!$('problems').checked || r.level !== 'ok') &&
      (!filter || sname.toLowerCase().includes(filter) || r.label.includes(filter) || pname.toLowerCase().includes(filter));
    if (r.tr.hidden === shown) r.tr.hidden = !shown;
    return shown;
  }

  function applyFilters() {
    for (const [pname, pv] of poolViews) {
      for (const [sname, r] of pv.rows) {
        if (showRow(pname, sname, r) && pv.section.open) drawSpark(r.line, r.history);
      }
    }
  }

  // render shows cur, with rates over the time since prev.
  function render(cur, prevPoll) {
    const m = cur.model;
    const dt = prevPoll ? (cur.at - prevPoll.at) / 1000 : 0;
    const rate = (c, p) => (dt > 0 && p !== undefined ? delta(c, p) / dt : null);
    const pm = prevPoll ? prevPoll.model : null;
    const info = m.info;
    setText($('source'), [info.source, info.version].filter(Boolean).join(' · '));
    setText($('uptime'), fmtDuration(m.uptime));
    setText($('connections'), fmtCount(m.conns));
    renderWorkers(m, cur.serverTime);

    readColors();
    const total = { req: 0, err: 0, clients: 0, servers: 0, buckets: null, known: !!pm };
    const poolNames = [...m.pools.keys()].sort(byName);
    const container = $('pools');
    poolNames.forEach((pname, idx) => {
      const p = m.pools.get(pname);
      const pp = pm && pm.pools.get(pname);
      const pv = poolView(pname);
      if (container.children[idx] !== pv.section) container.insertBefore(pv.section, container.children[idx] || null);
      let req = 0, err = 0, conns = 0, buckets = null, ok = 0, bad = 0;
      const names = [...p.servers.keys()].sort(byName);
      names.forEach((sname, i) => {
        const s = p.servers.get(sname);
        const ps = pp && pp.servers.get(sname);
        const r = serverRow(pv, sname);
        if (pv.tbody.children[i] !== r.tr) pv.tbody.insertBefore(r.tr, pv.tbody.children[i] || null);
        const v = s.v, pv0 = ps ? ps.v : {};
        const reqRate = rate(v.requests_total, pv0.requests_total);
        const errRate = rate(serverErrors(v), ps ? serverErrors(pv0) : undefined);
        const replyRate = rate(v.responses_total, pv0.responses_total);
        // A reply came after the previous reading was taken.
        if (replyRate > 0 && prevPoll) r.repliedAt = prevPoll.serverTime;
        if (ps && (v.failover_total || 0) > (pv0.failover_total || 0)) r.failedOverAt = cur.serverTime;
        const d = bucketDelta(s.buckets, ps && ps.buckets);
        buckets = addBuckets(buckets, d);
        const state = serverState(s, { repliedAt: r.repliedAt, errRate, replyRate, failedOverAt: r.failedOverAt }, p.cluster, cur.serverTime);
        if (state.level === 'ok') ok++;
        if (state.level === 'bad') bad++;
        req += reqRate || 0;
        err += errRate || 0;
        conns += v.connections || 0;
        r.history.push(reqRate || 0);
        if (r.history.length > HISTORY) r.history.shift();
        r.level = state.level;
        setText(r.st, state.label);
        setAttr(r.st, 'data-state', state.level);
        setAttr(r.tr, 'data-state', state.label);
        setAttr(r.tr, 'data-level', state.level);
        setText(r.rate, fmtRate(reqRate));
        setText(r.cells.err, fmtRate(errRate));
        setText(r.cells.p50, fmtSeconds(d && quantile(0.5, d)));
        setText(r.cells.p99, fmtSeconds(d && quantile(0.99, d)));
        setText(r.cells.conns, fmtCount(v.connections));
        setText(r.cells.queue, fmtCount(v.in_queue) + ' / ' + fmtCount(v.out_queue));
        setText(r.cells.detail, state.detail);
        if (r.cells.detail.title !== state.detail) r.cells.detail.title = state.detail;
        r.label = state.label;
        if (showRow(pname, sname, r) && pv.section.open) drawSpark(r.line, r.history);
      });
      for (const [sname, r] of pv.rows) {
        if (!p.servers.has(sname)) { r.tr.remove(); pv.rows.delete(sname); }
      }
      const clients = p.v.client_connections || 0;
      // A pool's errors are the requests it answered with an error.
      const fwdErr = rate(p.v.forward_error_total, pp ? pp.v.forward_error_total : undefined);
      const t = { req: pm ? req : null, err: fwdErr, p50: buckets && quantile(0.5, buckets), p99: buckets && quantile(0.99, buckets), clients, servers: conns };
      pv.charts.push(t);
      const kind = p.cluster ? 'redis cluster' : [...p.servers.values()].some((s) => s.group) ? 'sentinel groups' : '';
      const f = pv.facts;
      setText(f.kind, kind);
      setText(f.servers, `${ok}/${p.servers.size} servers ok`);
      const poolLevel = p.servers.size && bad === p.servers.size ? 'bad' : ok < p.servers.size ? 'warn' : 'ok';
      setText(f.state, poolLevel === 'bad' ? 'no live server' : poolLevel === 'warn' ? 'degraded' : 'ok');
      setAttr(f.state, 'data-state', poolLevel);
      setText(f.req, fmtRate(t.req) + ' req/s');
      setText(f.err, fmtRate(t.err) + ' err/s');
      setText(f.lat, 'p50 ' + fmtSeconds(t.p50) + ' · p99 ' + fmtSeconds(t.p99));
      setText(f.clients, plural(clients, 'client'));
      const extra = [];
      if (p.cluster) extra.push(`redirections ${fmtCount(p.redirections.moved)} moved · ${fmtCount(p.redirections.ask)} ask`);
      if (p.v.server_ejects_total) extra.push(plural(p.v.server_ejects_total, 'ejection'));
      setText(f.extra, extra.join(' · '));
      setAttr(pv.section, 'data-level', poolLevel);
      total.req += t.req || 0;
      total.err += t.err || 0;
      total.clients += clients;
      total.servers += conns;
      total.buckets = addBuckets(total.buckets, buckets);
    });
    for (const [pname, pv] of poolViews) {
      if (!m.pools.has(pname)) { pv.section.remove(); poolViews.delete(pname); }
    }
    overview.push({
      req: pm ? total.req : null, err: pm ? total.err : null,
      p50: total.buckets && quantile(0.5, total.buckets), p99: total.buckets && quantile(0.99, total.buckets),
      clients: total.clients, servers: total.servers,
    });
    overview.draw();
    for (const pv of poolViews.values()) if (pv.section.open) pv.charts.draw();
  }

  // renderWorkers shows the workers serving, their restarts and the
  // reloads by result; a process without workers serves alone.
  function renderWorkers(m, now) {
    if (m.workers === null) {
      setText($('workers'), 'none (one process)');
    } else {
      let restarts = 0;
      const who = [];
      for (const [w, n] of [...m.restarts].sort((a, b) => byName(a[0], b[0]))) {
        restarts += n;
        if (n) who.push(`#${w}×${n}`);
      }
      setText($('workers'), `${m.workers} serving` + (restarts ? `, ${plural(restarts, 'restart')} (${who.join(' ')})` : ', no restart'));
    }
    const parts = [];
    let latest = null;
    for (const result of ['ok', 'partial', 'refused']) {
      const n = m.reloads.get(result);
      if (n === undefined) continue;
      parts.push(`${fmtCount(n)} ${result}`);
      const seen = reloadsSeen.get(result);
      if (seen && n > seen.count) reloadsSeen.set(result, { count: n, at: now });
      else if (!seen) reloadsSeen.set(result, { count: n, at: 0 });
      const at = reloadsSeen.get(result).at;
      if (at && (!latest || at > latest.at)) latest = { result, at };
    }
    let text = parts.length ? parts.join(' · ') : m.workers === null ? 'not counted (one process)' : 'none yet';
    if (latest) text += ` — last: ${latest.result} at ${fmtTime(latest.at)}`;
    setText($('reloads'), text);
    setAttr($('reloads'), 'data-state', latest && latest.result !== 'ok' ? 'bad' : 'ok');
  }

  function renderHealth(ok, text) {
    const h = $('health');
    setText(h, ok ? 'healthy' : text || 'unhealthy');
    setAttr(h, 'data-state', ok ? 'ok' : 'bad');
    h.title = text;
  }

  // get fetches a path, and once more at once if the first try got no
  // HTTP answer: a browser may open a connection ahead of time and leave
  // it silent, and the stats port answers a connection silent for 50 ms
  // with twemproxy's document, which the browser rejects.
  async function get(path) {
    try {
      return await fetch(path, { cache: 'no-store' });
    } catch {
      return fetch(path, { cache: 'no-store' });
    }
  }

  async function poll() {
    const started = performance.now();
    try {
      const [metrics, health] = await Promise.all([get('metrics'), get('healthz')]);
      if (!metrics.ok) throw new Error('/metrics: HTTP ' + metrics.status);
      const text = await metrics.text();
      const healthText = (await health.text()).trim();
      const dateHeader = Date.parse(metrics.headers.get('Date'));
      const cur = {
        model: buildModel(parseMetrics(text)),
        at: started,
        serverTime: Number.isNaN(dateHeader) ? Date.now() / 1000 : dateHeader / 1000,
      };
      const t0 = performance.now();
      render(cur, prev);
      renderHealth(health.ok, healthText);
      status.scriptMs = performance.now() - t0;
      // The layout the changes need is made here rather than before the
      // next paint, so that renderMs counts it.
      void document.body.offsetHeight;
      status.renderMs = performance.now() - t0;
      status.polls++;
      prev = cur;
      setText($('updated'), 'updated ' + new Date().toLocaleTimeString());
    } catch (e) {
      renderHealth(false, 'stats port unreachable: ' + e.message);
      setText($('updated'), 'stale: ' + e.message);
    }
    setTimeout(poll, Math.max(0, PERIOD - (performance.now() - started)));
  }

  readColors();
  for (const id of ['filter', 'problems']) {
    $(id).addEventListener('input', applyFilters);
  }
  poll();
})();
