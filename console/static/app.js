// licensor console. Plain JavaScript, no framework and nothing loaded
// from elsewhere: the console must work on an air-gapped site. Pages are
// drawn from the JSON under api/; gauges and charts are inline SVG.
'use strict';

(function () {
  const SVGNS = 'http://www.w3.org/2000/svg';
  const main = document.getElementById('main');
  const state = {
    session: null,
    codes: null,
    seats: null,
    sort: { key: 'product', dir: 1 },
    filter: '',
    product: '',
    kind: '',
    range: 'day',
    notice: '',
  };

  // el builds an element: attributes (class, id, href, data-*, …) and
  // children (nodes or text). No HTML is ever parsed from data.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }

  function svg(tag, attrs, ...children) {
    const e = document.createElementNS(SVGNS, tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }

  function setAttrs(e, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
  }

  function append(e, children) {
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      e.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
    }
  }

  // ApiError is a failure body: {code, name, message, fix}.
  class ApiError extends Error {
    constructor(body, status) {
      super(body.message || ('HTTP ' + status));
      this.code = body.code;
      this.name = body.name || 'error';
      this.fix = body.fix || '';
    }
  }

  async function api(path, opts) {
    const resp = await fetch('api/' + path, Object.assign({ credentials: 'same-origin', headers: { Accept: 'application/json' } }, opts || {}));
    let body = {};
    try {
      body = await resp.json();
    } catch (e) {
      body = { code: -1, name: 'unknown', message: 'the answer is not JSON (HTTP ' + resp.status + ')' };
    }
    if (!resp.ok) throw new ApiError(body, resp.status);
    return body;
  }

  // Times are RFC 3339 in UTC; a person reads "2026-12-01 21:13 UTC".
  function fmtTime(iso) {
    if (!iso) return '';
    return iso.replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, ' UTC');
  }

  function fmtAgo(iso, now) {
    const s = Math.round((Date.parse(now) - Date.parse(iso)) / 1000);
    return span(s) + ' ago';
  }

  function fmtIn(iso, now) {
    const s = Math.round((Date.parse(iso) - Date.parse(now)) / 1000);
    return s < 0 ? span(-s) + ' ago' : 'in ' + span(s);
  }

  function span(s) {
    if (s < 90) return s + ' s';
    if (s < 5400) return Math.round(s / 60) + ' min';
    if (s < 172800) return Math.round(s / 3600) + ' h';
    return Math.round(s / 86400) + ' days';
  }

  function daysClass(d) {
    return d < 0 ? 'bad' : d < 30 ? 'warn' : 'ok';
  }

  function codeLink(code, name) {
    return el('a', { href: '#codes/' + code, class: 'mono', 'data-code': code }, code + ' ' + (name || ''));
  }

  function card(title, ...body) {
    return el('section', { class: 'card' }, el('h2', {}, title), body);
  }

  function errorBox(err) {
    return el('div', { class: 'error', id: 'page-error' },
      err.code !== undefined ? codeLink(err.code, err.name) : null, ' ', err.message,
      err.fix ? el('div', { class: 'small' }, 'Fix: ', err.fix) : null);
  }

  function show(title, ...nodes) {
    main.replaceChildren(el('h1', {}, title), ...nodes.flat().filter((n) => n));
  }

  // Overview: the license, the certificates, a gauge per product, the
  // recent denials.
  async function overview() {
    const o = await api('overview');
    const lic = o.license;
    const products = el('table', {},
      el('thead', {}, el('tr', {}, ['Product', 'Functions', 'Instances', 'QPS', 'Valid from', 'Until', 'Days left'].map((h) => el('th', {}, h)))),
      el('tbody', {}, lic.products.map((p) => el('tr', {},
        el('td', {}, p.subject), el('td', {}, p.functions.join(', ')), el('td', { class: 'num' }, p.instances),
        el('td', { class: 'num' }, p.qps || '—'), el('td', {}, fmtTime(p.not_before)), el('td', {}, fmtTime(p.not_after)),
        el('td', { class: 'num ' + daysClass(p.days_left), id: 'days-' + p.subject }, p.days_left)))));
    const licCard = el('section', { class: 'card wide' }, el('h2', {}, 'License'),
      el('dl', { class: 'facts' },
        el('dt', {}, 'Holder'), el('dd', { id: 'license-holder' }, lic.holder),
        el('dt', {}, 'License id'), el('dd', { class: 'mono', id: 'license-id' }, lic.id),
        el('dt', {}, 'Issuer'), el('dd', {}, lic.issuer),
        el('dt', {}, 'Issued'), el('dd', {}, fmtTime(lic.issued)),
        el('dt', {}, 'Bound to'), el('dd', {}, lic.binding)),
      products);

    const certs = card('Certificates', el('table', {}, el('tbody', {}, o.certificates.map((c) => el('tr', {},
      el('td', {}, c.role === 'ca' ? 'Site CA' : 'Server'), el('td', {}, c.subject), el('td', {}, fmtTime(c.not_after)),
      el('td', { class: 'num ' + daysClass(c.days_left), id: 'cert-days-' + c.role }, c.days_left + ' days'))))));
    const side = [certs];
    if (o.upstream) {
      side.push(card('Vendor service', el('dl', { class: 'facts' },
        el('dt', {}, 'Grant'), el('dd', { class: daysClass(o.upstream.days_left) }, o.upstream.days_left + ' days left'),
        el('dt', {}, 'Last contact'), el('dd', {}, o.upstream.last_contact ? fmtTime(o.upstream.last_contact) : 'never'))));
    }
    if (o.nodes && o.nodes.length) {
      side.push(card('Nodes', el('table', {}, el('tbody', {}, o.nodes.map((n) => el('tr', {},
        el('td', {}, n.name, n.name === o.node ? ' (this one)' : ''), el('td', { class: 'mono' }, n.address),
        el('td', { class: 'num' }, n.seats + ' seats'), el('td', {}, n.last_seen ? fmtAgo(n.last_seen, o.now) : 'never')))))));
    }

    const gauges = o.pools.map(gauge);
    for (const x of o.unlicensed_pools || []) {
      gauges.push(card(x.product, el('p', { class: 'warn' }, x.held + ' seats held in a product the license no longer has; they lapse or can be revoked.')));
    }

    const denials = o.denials.length === 0
      ? el('p', { class: 'muted', id: 'no-denials' }, 'No denials since ' + fmtTime(o.denials_since) + '.')
      : el('table', { id: 'denials' },
        el('thead', {}, el('tr', {}, el('th', {}, 'Code'), el('th', { class: 'num' }, 'Denials'), el('th', {}, 'Last'), el('th', {}, 'Meaning'))),
        el('tbody', {}, o.denials.map((d) => el('tr', {},
          el('td', {}, codeLink(d.code, d.name)), el('td', { class: 'num' }, d.count), el('td', {}, fmtTime(d.last)),
          el('td', { class: 'small' }, meaning(d.code))))));
    show('Overview',
      el('div', { class: 'grid' }, licCard),
      el('div', { class: 'grid' }, gauges),
      el('div', { class: 'grid' }, side, el('section', { class: 'card span2' }, el('h2', {}, 'Denials in the last 24 hours'), denials)));
  }

  function meaning(code) {
    const c = (state.codes || []).find((x) => x.code === code);
    return c ? c.meaning : '';
  }

  // arc is the path of the gauge's arc from fraction f0 to f1 of a half
  // circle, left to right.
  function arc(cx, cy, r, f0, f1) {
    const pt = (f) => [cx - r * Math.cos(Math.PI * f), cy - r * Math.sin(Math.PI * f)];
    const [x0, y0] = pt(f0);
    const [x1, y1] = pt(f1);
    return 'M' + x0.toFixed(2) + ' ' + y0.toFixed(2) + ' A' + r + ' ' + r + ' 0 0 1 ' + x1.toFixed(2) + ' ' + y1.toFixed(2);
  }

  function gauge(p) {
    const limit = Math.max(p.limit, 1);
    const fi = Math.min(p.instances / limit, 1);
    const fk = Math.min((p.instances + p.keyfile_hosts) / limit, 1);
    const fig = svg('svg', { width: 150, height: 92, viewBox: '0 0 150 92', role: 'img', 'aria-label': p.held + ' of ' + p.limit + ' seats held' },
      svg('path', { class: 'gauge-track', d: arc(75, 78, 60, 0, 1) }),
      fi > 0 ? svg('path', { class: 'gauge-inst', d: arc(75, 78, 60, 0, fi) }) : null,
      fk > fi ? svg('path', { class: 'gauge-kf', d: arc(75, 78, 60, fi, fk) }) : null,
      svg('text', { class: 'gauge-value', x: 75, y: 72, 'text-anchor': 'middle' }, p.held + '/' + p.limit),
      svg('text', { class: 'gauge-label', x: 75, y: 90, 'text-anchor': 'middle' }, 'seats held'));
    const facts = el('div', {},
      el('div', {}, el('strong', { id: 'held-' + p.product, 'data-held': p.held }, p.held), ' of ',
        el('strong', { id: 'limit-' + p.product }, p.limit), ' seats held'),
      el('div', { class: 'legend' },
        el('span', {}, el('span', { class: 'swatch inst' }), el('span', { id: 'inst-' + p.product }, p.instances), ' instances'),
        el('span', {}, el('span', { class: 'swatch kf' }), el('span', { id: 'kf-' + p.product }, p.keyfile_hosts), ' key-file hosts')),
      el('div', { class: 'small ' + (p.held >= p.limit ? 'bad' : 'muted') }, p.held >= p.limit ? 'At the limit: new instances get 501.' : (p.limit - p.held) + ' free'));
    const body = [el('div', { class: 'gauge-figure' }, fig, facts)];
    if (p.qps > 0) {
      const f = Math.min(p.qps_used / p.qps, 1);
      body.push(el('div', { class: 'small', id: 'qps-' + p.product }, 'QPS ', p.qps_used.toFixed(1), ' of ', p.qps, ' licensed'),
        svg('svg', { width: '100%', height: 10, viewBox: '0 0 100 10', preserveAspectRatio: 'none' },
          svg('rect', { class: 'bar-track', x: 0, y: 0, width: 100, height: 10, rx: 2 }),
          svg('rect', { class: 'bar-fill' + (p.qps_used > p.qps ? ' over' : ''), x: 0, y: 0, width: (100 * f).toFixed(1), height: 10, rx: 2 })));
    } else {
      body.push(el('div', { class: 'small muted' }, 'No QPS control.'));
    }
    return el('section', { class: 'card gauge', id: 'gauge-' + p.product }, el('h2', {}, p.product), body);
  }

  // Seats: who holds what, sortable and filterable, with revoke.
  const seatColumns = [
    { key: 'product', title: 'Product' },
    { key: 'instance_id', title: 'Instance' },
    { key: 'kind', title: 'Kind' },
    { key: 'holder', title: 'Holder' },
    { key: 'host', title: 'Host' },
    { key: 'since', title: 'Since' },
    { key: 'renewed', title: 'Last renewed' },
    { key: 'expires', title: 'Expires' },
    { key: 'node', title: 'Node', nodes: true },
  ];
  const maxRows = 500;

  async function seats() {
    state.seats = await api('seats');
    drawSeats();
  }

  function drawSeats() {
    const s = state.seats;
    const cols = seatColumns.filter((c) => !c.nodes || s.nodes);
    const products = [...new Set(s.seats.map((x) => x.product))].sort();
    const q = state.filter.toLowerCase();
    let rows = s.seats.filter((x) => (!state.product || x.product === state.product) && (!state.kind || x.kind === state.kind) &&
      (!q || cols.some((c) => String(x[c.key] || '').toLowerCase().includes(q))));
    const { key, dir } = state.sort;
    rows.sort((a, b) => (String(a[key] || '') < String(b[key] || '') ? -dir : String(a[key] || '') > String(b[key] || '') ? dir : 0));
    const inst = rows.filter((x) => x.kind === 'instance').length;
    const shown = rows.slice(0, maxRows);

    const filter = el('input', { type: 'search', id: 'seat-filter', placeholder: 'Filter: id, holder, host…', value: state.filter });
    filter.addEventListener('input', () => { state.filter = filter.value; redraw(); });
    const product = el('select', { id: 'seat-product' }, el('option', { value: '' }, 'All products'),
      products.map((p) => el('option', { value: p, selected: p === state.product }, p)));
    product.addEventListener('change', () => { state.product = product.value; redraw(); });
    const kind = el('select', { id: 'seat-kind' }, el('option', { value: '' }, 'Both kinds'),
      el('option', { value: 'instance', selected: state.kind === 'instance' }, 'Instances'),
      el('option', { value: 'keyfile', selected: state.kind === 'keyfile' }, 'Key-file hosts'));
    kind.addEventListener('change', () => { state.kind = kind.value; redraw(); });

    const head = el('tr', {}, cols.map((c) => el('th', {
      class: 'sortable', 'data-key': c.key,
      onclick: () => { state.sort = { key: c.key, dir: state.sort.key === c.key ? -state.sort.dir : 1 }; redraw(); },
    }, c.title, state.sort.key === c.key ? (state.sort.dir > 0 ? ' ▲' : ' ▼') : '')), el('th', {}, ''));
    const body = el('tbody', {}, shown.map((x) => el('tr', { class: 'seat', 'data-product': x.product, 'data-instance': x.instance_id, 'data-kind': x.kind },
      cols.map((c) => seatCell(c.key, x, s.now)), el('td', {}, revokeCell(x)))));
    const table = el('table', { id: 'seats' }, el('thead', {}, head), body);
    const nodes = [
      state.notice ? el('div', { class: 'notice', id: 'notice' }, state.notice) : null,
      el('p', { class: 'rule', id: 'keyfile-rule' }, s.keyfile_rule),
      el('div', { class: 'toolbar' }, filter, product, kind,
        el('span', { class: 'muted', id: 'seat-count' }, rows.length + ' seats: ' + inst + ' instances, ' + (rows.length - inst) + ' key-file hosts'),
        el('button', { type: 'button', id: 'seats-refresh', onclick: () => route() }, 'Refresh')),
      el('section', { class: 'card' }, table,
        rows.length > maxRows ? el('p', { class: 'muted small' }, 'Showing the first ' + maxRows + ' of ' + rows.length + '; narrow the filter to see the others.') : null,
        rows.length === 0 ? el('p', { class: 'muted', id: 'no-seats' }, 'No seat matches.') : null),
    ];
    const focused = document.activeElement && document.activeElement.id;
    show('Seats', nodes);
    if (focused === 'seat-filter') {
      const f = document.getElementById('seat-filter');
      f.focus();
      f.setSelectionRange(f.value.length, f.value.length);
    }
  }

  function redraw() {
    state.notice = '';
    drawSeats();
  }

  function seatCell(key, x, now) {
    switch (key) {
      case 'kind':
        return el('td', {}, el('span', { class: 'pill ' + x.kind }, x.kind === 'keyfile' ? 'key file' : 'instance'));
      case 'instance_id':
        return el('td', { class: 'mono' }, x.kind === 'keyfile' ? 'keyfile:' + x.host.slice(0, 8) + '…' : x.instance_id);
      case 'host':
        return el('td', { class: 'mono' }, x.host || '');
      case 'since':
        return el('td', {}, fmtTime(x.since));
      case 'renewed':
        return el('td', {}, fmtAgo(x.renewed, now));
      case 'expires':
        return el('td', {}, fmtIn(x.expires, now), x.revoked ? el('div', { class: 'small warn' }, 'revoked by ' + x.revoked_by + '; counted until then') : null);
      default:
        return el('td', {}, x[key] || '');
    }
  }

  function revokeCell(x) {
    if (x.revoked) return el('span', { class: 'small muted' }, 'revoked');
    return el('button', { type: 'button', class: 'small revoke', onclick: () => askRevoke(x) }, 'Revoke…');
  }

  // askRevoke asks for confirmation and a reason, then revokes through
  // the server's admin revoke, with a fresh CSRF token.
  function askRevoke(x) {
    const dlg = document.getElementById('revoke-dialog');
    const form = document.getElementById('revoke-form');
    const reason = document.getElementById('revoke-reason');
    const errBox = document.getElementById('revoke-error');
    const rule = document.getElementById('revoke-rule');
    document.getElementById('revoke-what').replaceChildren(
      'Revoke the seat of ', el('strong', { class: 'mono' }, x.kind === 'keyfile' ? 'key-file host ' + x.host : x.instance_id),
      ' in ', el('strong', {}, x.product), ', held by ', el('strong', {}, x.holder), '?');
    if (x.kind === 'keyfile') {
      rule.hidden = false;
      rule.textContent = state.seats.keyfile_rule + ' This one stays counted until ' + fmtTime(x.expires) + '.';
    } else {
      rule.hidden = true;
    }
    reason.value = '';
    errBox.hidden = true;
    form.onsubmit = async (ev) => {
      ev.preventDefault();
      if (!reason.value.trim()) {
        errBox.hidden = false;
        errBox.textContent = 'Give a reason: the audit log keeps it.';
        return;
      }
      try {
        const sess = await api('session');
        const body = await api('revoke', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-Console-CSRF': sess.csrf },
          body: JSON.stringify({ product: x.product, instance_id: x.instance_id, reason: reason.value.trim() }),
        });
        dlg.close();
        state.seats = await api('seats');
        state.notice = body.message;
        drawSeats();
      } catch (err) {
        errBox.hidden = false;
        errBox.replaceChildren(err.code !== undefined ? codeLink(err.code, err.name) : '', ' ', err.message);
      }
    };
    document.getElementById('revoke-cancel').onclick = () => dlg.close();
    dlg.showModal();
    reason.focus();
  }

  // History: seats held over time per product with the limit, denials
  // over time, and the report downloads.
  async function history() {
    const h = await api('history?range=' + encodeURIComponent(state.range));
    const ranges = ['day', 'week', 'month'].map((r) => el('button', {
      type: 'button', id: 'range-' + r, class: r === state.range ? 'current' : '',
      onclick: () => { state.range = r; route(); },
    }, 'Last ' + r));
    const downloads = el('div', { class: 'toolbar', id: 'downloads' }, el('span', { class: 'muted' }, 'Report for this period:'),
      h.downloads.map((d) => el('a', { class: 'button', href: d.href, download: d.file, id: 'download-' + d.format }, d.title)));
    const charts = h.products.map((p) => el('section', { class: 'card wide', id: 'history-' + p.product },
      el('h2', {}, p.product, el('span', { class: 'muted small' }, '  peak ' + p.peak + ' of ' + p.limit + ', average ' + p.average.toFixed(1))),
      el('div', { class: 'legend' },
        el('span', {}, el('span', { class: 'swatch inst' }), 'seats held'),
        el('span', {}, el('span', { class: 'swatch kf' }), 'of which key-file hosts'),
        el('span', {}, el('span', { class: 'swatch limit' }), 'licensed limit')),
      lineChart(p, h)));
    const denials = el('section', { class: 'card wide', id: 'history-denials' }, el('h2', {}, 'Denials'),
      el('div', { class: 'legend' }, el('span', {}, el('span', { class: 'swatch deny' }), 'denials per ' + h.bucket)),
      barChart(h.denials, h),
      h.denial_codes.length ? el('p', { class: 'small' }, h.denial_codes.map((d) => el('span', {}, codeLink(d.code, d.name), ' × ' + d.count + '  '))) : el('p', { class: 'muted small' }, 'No denials in this period.'));
    show('History', el('div', { class: 'toolbar' }, ranges), downloads, el('div', { class: 'grid' }, charts, denials));
  }

  const W = 900, H = 220, PAD = { l: 40, r: 12, t: 10, b: 28 };

  function scaleX(h) {
    const t0 = Date.parse(h.from), t1 = Date.parse(h.to);
    return (iso) => PAD.l + (W - PAD.l - PAD.r) * (Date.parse(iso) - t0) / Math.max(t1 - t0, 1);
  }

  function axes(h, ymax) {
    const sx = scaleX(h);
    const step = Math.max(1, Math.ceil(ymax / 4));
    const top = step * Math.max(1, Math.ceil(ymax / step));
    const sy = (v) => H - PAD.b - (H - PAD.t - PAD.b) * v / top;
    const g = [svg('line', { class: 'axis', x1: PAD.l, y1: H - PAD.b, x2: W - PAD.r, y2: H - PAD.b })];
    for (let v = 0; v <= top; v += step) {
      g.push(svg('line', { class: 'grid-line', x1: PAD.l, y1: sy(v), x2: W - PAD.r, y2: sy(v) }),
        svg('text', { class: 'tick', x: PAD.l - 6, y: sy(v) + 3, 'text-anchor': 'end' }, v));
    }
    const t0 = Date.parse(h.from), t1 = Date.parse(h.to);
    for (let i = 0; i <= 6; i++) {
      const t = new Date(t0 + (t1 - t0) * i / 6).toISOString();
      g.push(svg('text', { class: 'tick', x: sx(t), y: H - 8, 'text-anchor': 'middle' }, h.bucket === 'hour' && h.range === 'day' ? t.slice(11, 16) : t.slice(5, 10)));
    }
    return { g, sx, sy };
  }

  function lineChart(p, h) {
    const ymax = Math.max(p.limit, ...p.points.map((x) => x.peak), 1);
    const { g, sx, sy } = axes(h, ymax);
    const path = (f) => p.points.map((x, i) => (i ? 'L' : 'M') + sx(x.start).toFixed(1) + ' ' + sy(f(x)).toFixed(1)).join(' ');
    return svg('svg', { class: 'chart', viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': 'seats of ' + p.product + ' over time' }, g,
      p.points.length ? svg('path', { class: 'line-held', d: path((x) => x.peak) }) : null,
      p.points.length ? svg('path', { class: 'line-kf', d: path((x) => x.keyfile_peak) }) : null,
      svg('line', { class: 'line-limit', x1: PAD.l, y1: sy(p.limit), x2: W - PAD.r, y2: sy(p.limit) }));
  }

  function barChart(points, h) {
    const ymax = Math.max(1, ...points.map((x) => x.count));
    const { g, sx, sy } = axes(h, ymax);
    const bw = Math.max(1, (W - PAD.l - PAD.r) / Math.max(points.length, 1) - 1);
    return svg('svg', { class: 'chart', viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': 'denials over time' }, g,
      points.filter((x) => x.count > 0).map((x) => svg('rect', { class: 'bar-deny', x: sx(x.start).toFixed(1), y: sy(x.count).toFixed(1), width: bw.toFixed(1), height: (H - PAD.b - sy(x.count)).toFixed(1) })));
  }

  // Health: the server's own checks, each with its code and fix.
  async function health() {
    const h = await api('health');
    const rows = h.checks.map((c) => el('div', { class: 'check', id: 'check-' + c.name, 'data-status': c.status },
      el('span', {}, el('span', { class: 'pill ' + c.status }, c.status)),
      el('strong', {}, c.name),
      el('span', {}, c.code ? codeLink(c.code, codeName(c.code)) : null, c.code ? ' ' : null, c.found),
      c.fix ? el('span', { class: 'fix' }, 'Fix: ' + c.fix) : null));
    show('Health', el('div', { class: 'toolbar' }, el('span', { class: 'muted' }, 'Checked ' + fmtTime(h.now)),
      el('button', { type: 'button', onclick: () => route() }, 'Check again')), el('section', { class: 'card' }, rows));
  }

  function codeName(code) {
    const c = (state.codes || []).find((x) => x.code === code);
    return c ? c.name : '';
  }

  // Codes: one code's meaning and fix, from the server's table.
  function codes(arg) {
    const all = state.codes || [];
    if (arg !== undefined && arg !== '') {
      const c = all.find((x) => String(x.code) === arg);
      if (!c) {
        show('Code ' + arg, el('p', {}, 'licensor knows no code ' + arg + '.'));
        return;
      }
      show('Code ' + c.code, el('section', { class: 'card code-card', id: 'code-' + c.code },
        el('h2', {}, c.code + ' ' + c.name),
        el('dl', { class: 'facts' }, el('dt', {}, 'Meaning'), el('dd', { id: 'code-meaning' }, c.meaning),
          el('dt', {}, 'Fix'), el('dd', { id: 'code-fix' }, c.fix),
          c.http_status ? el('dt', {}, 'HTTP status') : null, c.http_status ? el('dd', {}, c.http_status) : null)),
      el('p', {}, el('a', { href: '#codes' }, 'Every code')));
      return;
    }
    show('Codes', el('section', { class: 'card' }, el('table', {}, el('tbody', {}, all.filter((c) => !c.never_emitted).map((c) => el('tr', {},
      el('td', {}, codeLink(c.code, c.name)), el('td', { class: 'small' }, c.meaning)))))));
  }

  const pages = { overview, seats, history, health, codes };

  async function route() {
    const [page, arg] = (location.hash.replace(/^#\/?/, '') || 'overview').split('/');
    const fn = pages[page] || overview;
    for (const a of document.querySelectorAll('header.top nav a')) {
      a.classList.toggle('current', a.id === 'nav-' + (page === 'codes' ? '' : page || 'overview'));
    }
    document.body.dataset.page = page;
    document.body.dataset.ready = '';
    try {
      await fn(arg);
    } catch (err) {
      show(page.charAt(0).toUpperCase() + page.slice(1), errorBox(err));
    }
    document.body.dataset.ready = page;
  }

  async function start() {
    try {
      const [sess, table] = await Promise.all([api('session'), api('codes')]);
      state.session = sess;
      state.codes = table;
      document.getElementById('who').textContent = 'as ' + sess.admin + (sess.node ? ' · node ' + sess.node : '');
    } catch (err) {
      main.replaceChildren(errorBox(err));
      document.body.dataset.ready = 'error';
      return;
    }
    window.addEventListener('hashchange', route);
    route();
  }

  start();
})();
