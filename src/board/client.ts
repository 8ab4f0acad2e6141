// The board page's script, served as /board.js: plain browser JavaScript, no libraries. It keeps one
// EventSource on /api/stream for the ticked runs (the server sends each run's records, then the
// lines appended since, and the run list when it changes), draws the charts as SVG and fetches
// /api/compare for the recipe diff. Everything inserted as HTML is escaped first.
// (Kept free of backquotes and dollar-brace: it lives inside a template string.)
export const BOARD_JS = `'use strict';
(function () {
  var PALETTE = ['#0969da', '#cf222e', '#1a7f37', '#8250df', '#bc4c00', '#1b7c83', '#bf3989', '#57606a'];
  var state = { runs: [], selected: [], data: {}, es: null, showSame: false, diff: null, metric: '' };
  var $ = function (id) { return document.getElementById(id); };

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  function num(v, digits) {
    if (typeof v !== 'number' || !isFinite(v)) return '–';
    if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5)) return v.toExponential(2);
    return v.toFixed(digits === undefined ? 4 : digits);
  }
  function ago(t) {
    if (!t) return '–';
    var s = Math.max(0, Date.now() / 1000 - t);
    if (s < 60) return Math.round(s) + ' s ago';
    if (s < 3600) return Math.round(s / 60) + ' min ago';
    if (s < 86400) return (s / 3600).toFixed(1) + ' h ago';
    return new Date(t * 1000).toISOString().slice(0, 16).replace('T', ' ');
  }
  function colorOf(id) { return PALETTE[Math.max(0, state.selected.indexOf(id)) % PALETTE.length]; }

  // ---- selection, kept in the address (#run=a&run=b) so a reload shows the same runs ----
  function readHash() {
    var p = new URLSearchParams(location.hash.slice(1));
    state.selected = p.getAll('run');
  }
  function writeHash() {
    var p = new URLSearchParams();
    state.selected.forEach(function (id) { p.append('run', id); });
    history.replaceState(null, '', state.selected.length ? '#' + p.toString() : location.pathname);
  }

  // ---- the live connection ----
  function connect() {
    if (state.es) state.es.close();
    var p = new URLSearchParams();
    state.selected.forEach(function (id) { p.append('run', id); });
    var es = new EventSource('/api/stream?' + p.toString());
    state.es = es;
    es.addEventListener('open', function () { setConn('live', true); });
    es.addEventListener('error', function () {
      setConn('reconnecting…', false);
      // the browser retries a dropped stream itself, but not one that was refused (the board restarting)
      if (es.readyState === 2) setTimeout(function () { if (state.es === es) connect(); }, 2000);
    });
    es.addEventListener('problem', function (ev) { setConn('problem: ' + JSON.parse(ev.data).message, false); });
    es.addEventListener('runs', function (ev) {
      state.runs = JSON.parse(ev.data);
      // a selected run that is gone (folder deleted) is dropped
      var ids = state.runs.map(function (r) { return r.id; });
      var kept = state.selected.filter(function (id) { return ids.indexOf(id) >= 0; });
      if (kept.length !== state.selected.length) { state.selected = kept; writeHash(); connect(); loadDiff(); }
      renderRuns();
      scheduleView(); // the results table shows each run's status
    });
    es.addEventListener('metrics', function (ev) {
      var m = JSON.parse(ev.data);
      var d = state.data[m.run];
      if (!d || m.reset) d = state.data[m.run] = { records: [], warnings: [] };
      Array.prototype.push.apply(d.records, m.records);
      Array.prototype.push.apply(d.warnings, m.warnings);
      scheduleView();
    });
  }
  function setConn(text, live) {
    var c = $('conn');
    c.textContent = text;
    c.className = live ? 'conn live' : 'conn';
  }

  // ---- the run list ----
  function latestText(r) {
    if (!r.latest) return '–';
    return Object.keys(r.latest).slice(0, 3).map(function (k) {
      var v = r.latest[k];
      var pct = /accuracy|top5|macroF1/.test(k);
      return esc(k) + ' ' + (pct ? num(v * 100, 2) + '%' : num(v));
    }).join(', ');
  }
  function renderRuns() {
    var body = $('runs').tBodies[0];
    if (!state.runs.length) {
      body.innerHTML = '<tr><td colspan="11" class="muted">no run folders here yet (graft train --out writes one)</td></tr>';
      return;
    }
    body.innerHTML = state.runs.map(function (r) {
      var on = state.selected.indexOf(r.id) >= 0;
      var warn = r.warningCount ? '<span class="badge-warn" title="lines of metrics.jsonl that are not records">⚠ ' + r.warningCount + ' bad line' + (r.warningCount > 1 ? 's' : '') + '</span>' : '';
      var report = r.hasReport ? '<a href="/report?run=' + encodeURIComponent(r.id) + '" target="_blank" rel="noopener">report</a>' : '<span class="muted">–</span>';
      return '<tr data-run="' + esc(r.id) + '">' +
        '<td><input type="checkbox" aria-label="select ' + esc(r.id) + '"' + (on ? ' checked' : '') + '></td>' +
        '<td class="run">' + esc(r.id) + warn + '</td>' +
        '<td><span class="status status-' + esc(r.status) + '" title="' + esc(r.statusNote || '') + '">' + esc(r.status) + '</span></td>' +
        '<td>' + esc(r.model || '–') + '</td>' +
        '<td>' + esc(r.phase || '–') + '</td>' +
        '<td>' + r.epochsDone + (r.epochs ? ' / ' + r.epochs : '') + '</td>' +
        '<td>' + r.step + '</td>' +
        '<td>' + num(r.loss) + '</td>' +
        '<td>' + latestText(r) + '</td>' +
        '<td>' + ago(r.updated) + '</td>' +
        '<td>' + report + '</td></tr>';
    }).join('');
  }
  function toggle(id, on) {
    var i = state.selected.indexOf(id);
    if (on && i < 0) state.selected.push(id);
    if (!on && i >= 0) state.selected.splice(i, 1);
    writeHash();
    connect();
    loadDiff();
    renderRuns();
    scheduleView();
  }

  // ---- series from records ----
  function stepSeries(recs, pick) {
    var pts = [];
    recs.forEach(function (r) {
      if (r.type !== 'step') return;
      var v = pick(r);
      if (typeof v === 'number' && isFinite(v)) pts.push([r.step, v]);
    });
    return pts;
  }
  function epochSeries(recs, name) {
    var dot = name.indexOf('.');
    var split = name.slice(0, dot), key = name.slice(dot + 1);
    var pts = [];
    recs.forEach(function (r) {
      if (r.type !== 'epoch' || !r[split]) return;
      var v = r[split][key];
      if (typeof v === 'number' && isFinite(v)) pts.push([r.epoch + 1, v]);
    });
    return pts;
  }
  function metricNames() {
    var seen = {};
    state.selected.forEach(function (id) {
      var d = state.data[id];
      if (!d) return;
      d.records.forEach(function (r) {
        if (r.type !== 'epoch') return;
        ['train', 'eval'].forEach(function (s) {
          if (!r[s]) return;
          Object.keys(r[s]).forEach(function (k) {
            if (k !== 'loss' && k !== 'items' && typeof r[s][k] === 'number') seen[s + '.' + k] = true;
          });
        });
      });
    });
    return Object.keys(seen).sort(function (a, b) { return (a.indexOf('eval') === 0 ? 0 : 1) - (b.indexOf('eval') === 0 ? 0 : 1) || (a < b ? -1 : 1); });
  }

  // ---- SVG line charts ----
  // about n round ticks over [lo, hi] (whole numbers only on a count axis), and their decimals
  function ticks(lo, hi, n, whole) {
    if (lo === hi) { lo -= Math.abs(lo) * 0.1 || 1; hi += Math.abs(hi) * 0.1 || 1; }
    var raw = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / mag;
    var step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
    if (whole) step = Math.max(1, Math.round(step));
    // the axis spans whole ticks, so every point lies inside it
    lo = Math.floor(lo / step + 1e-9) * step;
    hi = Math.ceil(hi / step - 1e-9) * step;
    var out = [];
    for (var v = lo; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
    var digits = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
    return { lo: lo, hi: hi, ticks: out, label: function (t) { return Math.abs(t) >= 1e5 || (t !== 0 && Math.abs(t) < 1e-3) ? t.toExponential(1) : t.toFixed(digits); } };
  }
  // a long run's path keeps about 1500 of its points (every k-th, and the last): light to redraw
  function thin(pts) {
    if (pts.length <= 1500) return pts;
    var k = Math.ceil(pts.length / 1500);
    var out = pts.filter(function (_, i) { return i % k === 0; });
    if (out[out.length - 1] !== pts[pts.length - 1]) out.push(pts[pts.length - 1]);
    return out;
  }
  function chart(key, title, xLabel, series) {
    var W = 520, H = 210, L = 58, R = 12, T = 10, B = 32;
    var all = [];
    series.forEach(function (s) { all = all.concat(s.points); });
    var head = '<figure class="chart" data-chart="' + key + '" data-points="' + all.length + '"><figcaption>' + esc(title) + '</figcaption>';
    if (!all.length) return head + '<p class="muted">no data yet</p></figure>';
    var xs = all.map(function (p) { return p[0]; }), ys = all.map(function (p) { return p[1]; });
    var tx = ticks(Math.min.apply(null, xs), Math.max.apply(null, xs), 6, true);
    var ty = ticks(Math.min.apply(null, ys), Math.max.apply(null, ys), 5, false);
    var sx = function (x) { return L + (x - tx.lo) / (tx.hi - tx.lo) * (W - L - R); };
    var sy = function (y) { return H - B - (y - ty.lo) / (ty.hi - ty.lo) * (H - T - B); };
    var g = ['<svg viewBox="0 0 ' + W + ' ' + H + '" width="' + W + '" height="' + H + '" role="img" aria-label="' + esc(title) + '">'];
    ty.ticks.forEach(function (v) {
      g.push('<line x1="' + L + '" x2="' + (W - R) + '" y1="' + sy(v) + '" y2="' + sy(v) + '" stroke="#eee"/>');
      g.push('<text x="' + (L - 5) + '" y="' + (sy(v) + 3) + '" text-anchor="end">' + esc(ty.label(v)) + '</text>');
    });
    tx.ticks.forEach(function (v) {
      g.push('<text x="' + sx(v) + '" y="' + (H - B + 14) + '" text-anchor="middle">' + esc(tx.label(v)) + '</text>');
    });
    g.push('<line x1="' + L + '" x2="' + (W - R) + '" y1="' + (H - B) + '" y2="' + (H - B) + '" stroke="#999"/>');
    g.push('<text x="' + ((L + W - R) / 2) + '" y="' + (H - 4) + '" text-anchor="middle">' + esc(xLabel) + '</text>');
    series.forEach(function (s) {
      if (!s.points.length) return;
      var d = thin(s.points).map(function (p, i) { return (i ? 'L' : 'M') + sx(p[0]).toFixed(1) + ' ' + sy(p[1]).toFixed(1); }).join(' ');
      g.push('<path class="series" data-series="' + esc(s.name) + '" d="' + d + '" fill="none" stroke="' + s.color + '" stroke-width="1.6"' + (s.dash ? ' stroke-dasharray="5 3"' : '') + '/>');
      if (s.points.length <= 60)
        s.points.forEach(function (p) {
          g.push('<circle cx="' + sx(p[0]).toFixed(1) + '" cy="' + sy(p[1]).toFixed(1) + '" r="2.2" fill="' + s.color + '"><title>' + esc(s.name + ': ' + xLabel + ' ' + p[0] + ', ' + num(p[1])) + '</title></circle>');
        });
    });
    g.push('</svg>');
    var legend = '<div class="legend">' + series.filter(function (s) { return s.points.length; }).map(function (s) {
      return '<span><svg width="18" height="6"><line x1="0" x2="18" y1="3" y2="3" stroke="' + s.color + '" stroke-width="2"' + (s.dash ? ' stroke-dasharray="4 2"' : '') + '/></svg>' + esc(s.name) + '</span>';
    }).join('') + '</div>';
    return head + g.join('') + legend + '</figure>';
  }

  // ---- the selected runs: charts, tables, warnings ----
  var viewQueued = false;
  function scheduleView() {
    if (viewQueued) return;
    viewQueued = true;
    requestAnimationFrame(function () { viewQueued = false; renderView(); });
  }
  function renderView() {
    var view = $('view');
    view.hidden = state.selected.length === 0;
    if (view.hidden) return;
    var runs = state.selected.filter(function (id) { return state.data[id]; });
    var many = state.selected.length > 1;
    var label = function (id, what) { return many ? id + (what ? ' · ' + what : '') : what || id; };
    var names = metricNames();
    var sel = $('metric');
    if (names.indexOf(state.metric) < 0) state.metric = names[0] || '';
    sel.innerHTML = names.map(function (n) { return '<option' + (n === state.metric ? ' selected' : '') + '>' + esc(n) + '</option>'; }).join('');
    sel.parentNode.hidden = names.length === 0;

    var loss = [], epochLoss = [], metric = [], lr = [];
    runs.forEach(function (id) {
      var recs = state.data[id].records, c = colorOf(id);
      loss.push({ name: label(id, 'train loss'), color: c, points: stepSeries(recs, function (r) { return r.loss; }) });
      epochLoss.push({ name: label(id, 'train'), color: many ? c : PALETTE[0], dash: true, points: epochSeries(recs, 'train.loss') });
      epochLoss.push({ name: label(id, 'eval'), color: many ? c : PALETTE[1], points: epochSeries(recs, 'eval.loss') });
      if (state.metric) metric.push({ name: label(id, state.metric), color: c, points: epochSeries(recs, state.metric) });
      var groups = 0;
      recs.forEach(function (r) { if (r.type === 'step' && r.lr) groups = Math.max(groups, r.lr.length); });
      for (var gi = 0; gi < (many ? Math.min(groups, 1) : groups); gi++)
        (function (gi) {
          lr.push({ name: label(id, groups > 1 ? 'group ' + gi : 'lr'), color: many ? c : PALETTE[gi % PALETTE.length], points: stepSeries(recs, function (r) { return r.lr && r.lr[gi]; }) });
        })(gi);
    });
    $('charts').innerHTML =
      chart('loss', 'training loss by step', 'step', loss) +
      chart('epoch-loss', 'loss by epoch (dashed: train)', 'epoch', epochLoss) +
      (state.metric ? chart('metric', state.metric + ' by epoch', 'epoch', metric) : '') +
      chart('lr', many ? 'learning rate (first group)' : 'learning rate', 'step', lr);

    var warns = [];
    runs.forEach(function (id) {
      state.data[id].warnings.slice(0, 5).forEach(function (w) {
        warns.push('<div class="warn" data-warning="' + esc(id) + '">' + esc(id) + ': metrics.jsonl line ' + w.line + ' skipped: ' + esc(w.message) + '</div>');
      });
      var more = state.data[id].warnings.length - 5;
      if (more > 0) warns.push('<div class="warn">' + esc(id) + ': ' + more + ' more bad lines</div>');
    });
    $('warnings').innerHTML = warns.join('');
    $('table').innerHTML = many ? resultsTable(runs) : epochsTable(runs[0]);
    renderDiff();
  }
  function splitCells(m) {
    if (!m) return '<td>–</td>';
    var keys = Object.keys(m).filter(function (k) { return typeof m[k] === 'number' && k !== 'items'; });
    return '<td>' + keys.map(function (k) { return esc(k) + ' ' + num(m[k]); }).join(', ') + '</td>';
  }
  function epochsTable(id) {
    if (!id) return '';
    var rows = state.data[id].records.filter(function (r) { return r.type === 'epoch'; });
    if (!rows.length) return '<h2>Epochs</h2><p class="muted">no epoch finished yet</p>';
    return '<h2>Epochs</h2><table id="epochs"><thead><tr><th>epoch</th><th>phase</th><th>step</th><th>train</th><th>eval</th><th>seconds</th><th>best</th></tr></thead><tbody>' +
      rows.map(function (r) {
        return '<tr><td>' + (r.epoch + 1) + '</td><td>' + esc(r.phase || '–') + '</td><td>' + r.step + '</td>' + splitCells(r.train) + splitCells(r.eval) +
          '<td>' + num(r.seconds, 1) + '</td><td>' + (r.best ? '★' : '') + '</td></tr>';
      }).join('') + '</tbody></table>';
  }
  function resultsTable(ids) {
    var head = '<tr><th>run</th><th>epochs</th><th>last train loss</th><th>last eval loss</th>' + (state.metric ? '<th>best ' + esc(state.metric) + '</th>' : '') + '<th>status</th></tr>';
    var body = ids.map(function (id) {
      var recs = state.data[id].records;
      var tl = epochSeries(recs, 'train.loss'), el = epochSeries(recs, 'eval.loss');
      var m = state.metric ? epochSeries(recs, state.metric).map(function (p) { return p[1]; }) : [];
      var lower = /loss|perplexity/.test(state.metric);
      var best = m.length ? (lower ? Math.min.apply(null, m) : Math.max.apply(null, m)) : undefined;
      var info = state.runs.filter(function (r) { return r.id === id; })[0];
      return '<tr><td class="value">' + esc(id) + '</td><td>' + Math.max(tl.length, el.length) + '</td><td>' + num(tl.length ? tl[tl.length - 1][1] : undefined) +
        '</td><td>' + num(el.length ? el[el.length - 1][1] : undefined) + '</td>' + (state.metric ? '<td>' + num(best) + '</td>' : '') +
        '<td>' + esc(info ? info.status : '–') + '</td></tr>';
    }).join('');
    return '<h2>Results</h2><table id="results"><thead>' + head + '</thead><tbody>' + body + '</tbody></table>';
  }

  // ---- the recipe diff (two or more runs) ----
  function loadDiff() {
    state.diff = null;
    if (state.selected.length < 2) { $('diff').innerHTML = ''; return; }
    var p = new URLSearchParams();
    state.selected.forEach(function (id) { p.append('run', id); });
    var want = p.toString();
    fetch('/api/compare?' + want).then(function (r) { return r.json(); }).then(function (d) {
      var now = new URLSearchParams();
      state.selected.forEach(function (id) { now.append('run', id); });
      if (now.toString() !== want) return; // the selection changed meanwhile
      state.diff = d;
      renderDiff();
    });
  }
  function renderDiff() {
    var d = state.diff, box = $('diff');
    if (!d || state.selected.length < 2) { box.innerHTML = ''; return; }
    var differ = d.rows.filter(function (r) { return !r.same; });
    var shown = state.showSame ? d.rows : differ;
    var html = '<h2>Recipes <span class="muted">' + differ.length + (differ.length === 1 ? ' key differs, ' : ' keys differ, ') + (d.rows.length - differ.length) + ' equal</span></h2>';
    if (d.error) html += '<div class="warn">' + esc(d.error) + '</div>';
    if (d.missing.length) html += '<div class="warn">no recipe.yaml: ' + d.missing.map(esc).join(', ') + '</div>';
    html += '<label><input type="checkbox" id="show-same"' + (state.showSame ? ' checked' : '') + '> show equal keys</label>';
    html += '<table id="recipe-diff"><thead><tr><th>key</th>' + d.runs.map(function (id) { return '<th>' + esc(id) + '</th>'; }).join('') + '</tr></thead><tbody>' +
      shown.map(function (r) {
        return '<tr data-key="' + esc(r.key) + '"' + (r.same ? '' : ' class="differs"') + '><td class="key">' + esc(r.key) + '</td>' + r.values.map(function (v) {
          return v === null ? '<td class="value absent">(absent)</td>' : '<td class="value' + (r.same ? '' : ' differs') + '">' + esc(v) + '</td>';
        }).join('') + '</tr>';
      }).join('') + '</tbody></table>';
    box.innerHTML = html;
  }

  // ---- wiring ----
  document.addEventListener('change', function (ev) {
    var t = ev.target;
    if (t.id === 'metric') { state.metric = t.value; renderView(); return; }
    if (t.id === 'show-same') { state.showSame = t.checked; renderDiff(); return; }
    var row = t.closest && t.closest('#runs tr[data-run]');
    if (row && t.type === 'checkbox') toggle(row.getAttribute('data-run'), t.checked);
  });
  setInterval(renderRuns, 10000); // the 'updated' column ages
  readHash();
  connect();
  loadDiff();
})();
`;
