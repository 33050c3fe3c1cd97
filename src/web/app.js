// SPDX-License-Identifier: MIT
// ctflive web: the page. Everything that comes from a trace or a relay
// (names, fields, messages) is untrusted: it is only ever put in the page
// with textContent or as element properties, never parsed as HTML.
'use strict';

(function () {
  const MAX_DOM_ROWS = 3000;   // rows kept in the table (oldest removed)
  const MAX_PAUSED = 5000;     // rows kept while paused (beyond: not shown)
  const $ = (id) => document.getElementById(id);

  const st = {
    es: null, sessionsEs: null, current: null, state: '', paused: false,
    pending: [], queue: [], flushTimer: null, shown: 0, serverNotShown: 0, pausedDropped: 0, events: 0,
    stick: true, rowData: new WeakMap(), selected: null,
    plots: { classes: null, streams: null }, plotKeys: { classes: '', streams: '' },
    plotData: { classes: null, streams: null },
  };

  function text(el, s) { el.textContent = s == null ? '' : String(s); return el; }
  function td(tr, s, cls) {
    const c = document.createElement('td');
    text(c, s);
    if (cls) c.className = cls;
    tr.appendChild(c);
    return c;
  }

  // ---- sessions -------------------------------------------------------

  function showSessions(list) {
    text($('relay'), list.relay || '');
    text($('relay-error'), list.error ? 'relay: ' + list.error : '');
    const body = $('sessions').tBodies[0];
    body.replaceChildren();
    const sessions = Array.isArray(list.sessions) ? list.sessions : [];
    $('no-sessions').hidden = sessions.length > 0;
    for (const s of sessions) {
      const tr = document.createElement('tr');
      tr.dataset.host = s.host;
      tr.dataset.name = s.name;
      td(tr, s.host);
      td(tr, s.name);
      td(tr, s.format);
      td(tr, s.streams);
      td(tr, s.clients);
      td(tr, s.live_timer_us ? (s.live_timer_us / 1000) + ' ms' : 'not live');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'view-session';
      text(b, 'View');
      b.addEventListener('click', () => watch(s.host, s.name));
      td(tr, '').appendChild(b);
      if (st.current && st.current.host === s.host && st.current.name === s.name)
        tr.className = 'current';
      body.appendChild(tr);
    }
  }

  function startSessions() {
    fetch('/api/sessions', { credentials: 'same-origin' })
      .then((r) => r.ok ? r.json() : null).then((j) => { if (j) showSessions(j); })
      .catch(() => {});
    st.sessionsEs = new EventSource('/api/sessions/events');
    st.sessionsEs.addEventListener('sessions', (e) => showSessions(JSON.parse(e.data)));
  }

  // ---- one session ----------------------------------------------------

  function resetView() {
    if (st.es) st.es.close();
    st.es = null;
    st.pending = [];
    st.queue = [];
    if (st.flushTimer) clearTimeout(st.flushTimer);
    st.flushTimer = null;
    st.shown = st.serverNotShown = st.pausedDropped = st.events = 0;
    st.stick = true;
    st.selected = null;
    $('rows').tBodies[0].replaceChildren();
    $('details').hidden = true;
    for (const k of ['classes', 'streams']) {
      if (st.plots[k]) st.plots[k].destroy();
      st.plots[k] = null;
      st.plotKeys[k] = '';
      st.plotData[k] = null;
    }
    text($('view-message'), '');
    setState('connecting');
    updateCounters();
  }

  function watch(host, name) {
    resetView();
    st.current = { host, name };
    $('view').hidden = false;
    text($('view-title'), host + ' / ' + name);
    for (const tr of $('sessions').tBodies[0].rows)
      tr.className = tr.dataset.host === host && tr.dataset.name === name ? 'current' : '';
    const url = '/api/watch?host=' + encodeURIComponent(host) + '&name=' +
      encodeURIComponent(name);
    const es = new EventSource(url);
    st.es = es;
    es.addEventListener('rows', (e) => { if (st.es === es) onRows(JSON.parse(e.data).rows); });
    es.addEventListener('counts', (e) => { if (st.es === es) onCounts(JSON.parse(e.data)); });
    es.addEventListener('stats', (e) => { if (st.es === es) onStats(JSON.parse(e.data)); });
    es.addEventListener('state', (e) => { if (st.es === es) onState(JSON.parse(e.data)); });
    es.onerror = () => {
      if (st.es === es && (st.state === 'ended' || st.state === 'failed')) es.close();
    };
  }

  function setState(s) {
    st.state = s;
    const el = $('view-state');
    el.className = 'state ' + s;
    el.dataset.state = s;
    text(el, s);
  }

  function onState(m) {
    flushQueue();
    setState(m.state);
    if (m.state === 'ended') {
      text($('view-message'), 'The session ended. The page keeps what it showed.');
      st.es.close();
    } else if (m.state === 'failed') {
      text($('view-message'), 'Reading the session failed: ' + m.message +
        '. The page keeps what it showed.');
      st.es.close();
    }
  }

  function onCounts(c) {
    st.shown = c.shown;
    st.serverNotShown = c.not_shown;
    st.events = c.events;
    updateCounters();
  }

  function updateCounters() {
    const shown = st.shown - st.pausedDropped, notShown = st.serverNotShown + st.pausedDropped;
    text($('c-events'), st.events);
    text($('c-shown'), shown);
    text($('c-notshown'), notShown);
    const v = $('view');
    v.dataset.shown = shown;
    v.dataset.notShown = notShown;
    v.dataset.events = st.events;
  }

  // ---- rows -------------------------------------------------------------

  function valueText(v) {
    if (v === null || typeof v !== 'object') return JSON.stringify(v);
    if (Array.isArray(v)) return '[ ' + v.map(valueText).join(', ') + ' ]';
    if ('labels' in v && 'value' in v) return '( ' + v.labels.map((l) => JSON.stringify(l))
      .join(', ') + ' : container = ' + v.value + ' )';
    return '{ ' + Object.keys(v).map((k) => k + ' = ' + valueText(v[k])).join(', ') + ' }';
  }

  function fieldsText(r) {
    const parts = [];
    for (const k of ['stream_event_context', 'event_context', 'payload'])
      if (r[k] && Object.keys(r[k]).length) parts.push(valueText(r[k]));
    return parts.join(' ');
  }

  function makeRow(r) {
    const tr = document.createElement('tr');
    if (r.type === 'event') {
      td(tr, typeof r.time === 'string' ? r.time.replace(/^.*T/, '').replace(/Z$/, '')
        : (r.cycles != null ? r.cycles : ''));
      td(tr, r.name);
      td(tr, (r.trace ? r.trace + ' ' : '') + (r.stream || ''));
      td(tr, r.packet_context && r.packet_context.cpu_id != null ? r.packet_context.cpu_id : '');
      td(tr, (r.cut_bytes ? '(fields not shown: ' + r.cut_bytes + ' bytes) ' : '') +
        fieldsText(r), 'fields');
      tr.dataset.name = String(r.name || '').toLowerCase();
    } else {
      tr.className = 'note';
      let what;
      if (r.type === 'warning') what = 'warning: ' + r.message;
      else if (r.type === 'discarded_events')
        what = 'tracer discarded ' + (r.count == null ? 'some' : r.count) + ' events';
      else if (r.type === 'discarded_packets')
        what = (r.lost_in_transit ? 'lost in transit: ' : 'tracer discarded ') +
          (r.count == null ? 'some' : r.count) + ' packets';
      else what = r.type;
      td(tr, typeof r.end_time === 'string' ? r.end_time.replace(/^.*T/, '').replace(/Z$/, '')
        : '');
      td(tr, r.type);
      td(tr, (r.trace ? r.trace + ' ' : '') + (r.stream || ''));
      td(tr, '');
      td(tr, what, 'fields');
      tr.dataset.name = String(r.type).toLowerCase();
    }
    tr.dataset.text = tr.lastChild.textContent.toLowerCase();
    st.rowData.set(tr, r);
    applyFilter(tr);
    return tr;
  }

  function filters() {
    return [$('filter-name').value.trim().toLowerCase(),
      $('filter-text').value.trim().toLowerCase()];
  }

  function applyFilter(tr, f) {
    const [name, txt] = f || filters();
    tr.hidden = (name && !tr.dataset.name.includes(name)) ||
      (txt && !tr.dataset.text.includes(txt));
  }

  function refilter() {
    const f = filters();
    let n = 0;
    const rows = $('rows').tBodies[0].rows;
    for (const tr of rows) {
      applyFilter(tr, f);
      if (!tr.hidden) n++;
    }
    text($('matching'), f[0] || f[1] ? n + ' of ' + rows.length + ' rows match' : '');
    $('rows').dataset.visible = n;
  }

  // Rows are put in the table at most ten times a second, in one batch:
  // a busy session then costs the page one layout per batch, not per row.
  function onRows(rows) {
    if (st.paused) {
      st.pending.push(...rows);
      if (st.pending.length > MAX_PAUSED) {
        const drop = st.pending.splice(0, st.pending.length - MAX_PAUSED);
        st.pausedDropped += drop.filter((r) => r.type === 'event').length;
        updateCounters();
      }
      return;
    }
    st.queue.push(...rows);
    // rows beyond what the table keeps would leave it at once
    if (st.queue.length > MAX_DOM_ROWS) st.queue.splice(0, st.queue.length - MAX_DOM_ROWS);
    if (!st.flushTimer) st.flushTimer = setTimeout(flushQueue, 100);
  }

  function flushQueue() {
    if (st.flushTimer) clearTimeout(st.flushTimer);
    st.flushTimer = null;
    const q = st.queue;
    st.queue = [];
    if (q.length) appendRows(q);
  }

  function appendRows(rows) {
    const body = $('rows').tBodies[0];
    const frag = document.createDocumentFragment();
    for (const r of rows) frag.appendChild(makeRow(r));
    body.appendChild(frag);
    let extra = body.rows.length - MAX_DOM_ROWS;
    while (extra-- > 0) body.deleteRow(0);
    if ($('filter-name').value || $('filter-text').value) refilter();
    const box = $('rows-box');
    if (st.stick) box.scrollTop = box.scrollHeight;
    else $('jump').hidden = false;
  }

  function togglePause() {
    st.paused = !st.paused;
    text($('pause'), st.paused ? 'Resume' : 'Pause');
    $('pause').dataset.paused = st.paused;
    if (!st.paused && st.pending.length) {
      const p = st.pending;
      st.pending = [];
      onRows(p);
    }
  }

  function showDetails(tr) {
    const r = st.rowData.get(tr);
    if (!r) return;
    if (st.selected) st.selected.classList.remove('selected');
    st.selected = tr;
    tr.classList.add('selected');
    text($('details-body'), JSON.stringify(r, null, 2));
    $('details').hidden = false;
  }

  // ---- plots ------------------------------------------------------------

  const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b',
    '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

  function plotWidth() {
    return Math.max(300, Math.min(700, Math.floor(window.innerWidth / 2) - 40));
  }

  function drawPlot(kind, series, s) {
    const start = s.start, n = s.total.length;
    const xs = Array.from({ length: n }, (_, i) => start + i);
    const marks = new Array(n).fill(null);
    for (const m of s.markers || []) {
      const i = Math.floor(m.t) - start;
      if (i >= 0 && i < n) marks[i] = (marks[i] || 0) + (m.count == null ? 1 : m.count);
    }
    const data = [xs, s.total, ...series.map((x) => x.data), marks];
    const key = series.map((x) => x.name).join('\u0000');
    st.plotData[kind] = data;
    if (st.plots[kind] && st.plotKeys[kind] === key) {
      st.plots[kind].setData(data);
      return;
    }
    if (st.plots[kind]) st.plots[kind].destroy();
    st.plotKeys[kind] = key;
    const opts = {
      width: plotWidth(), height: 200,
      // at least a minute wide: a session of a few seconds stays readable
      scales: { x: { time: true, range: (u, min, max) => [min, Math.max(max, min + 60)] } },
      series: [
        {},
        { label: 'all', stroke: '#000', width: 1 },
        ...series.map((x, i) => ({ label: x.name, stroke: COLORS[i % COLORS.length], width: 1 })),
        { label: 'lost/discarded', stroke: '#d00', fill: '#d00', paths: () => null,
          points: { show: true, size: 8, stroke: '#d00', fill: '#d00' } },
      ],
      axes: [{}, { label: 'events/s', size: 70 }],
    };
    const el = $(kind === 'classes' ? 'plot-classes' : 'plot-streams');
    el.replaceChildren();
    st.plots[kind] = new uPlot(opts, data, el);
  }

  function onStats(s) {
    text($('c-rate'), Math.round(s.rate || 0));
    text($('c-disc-ev'), s.discarded_events);
    text($('c-disc-pkt'), s.discarded_packets);
    text($('c-lost'), s.lost_packets);
    if (s.events > st.events) {
      st.events = s.events;
      updateCounters();
    }
    if (s.series && s.series.total) {
      drawPlot('classes', s.series.classes || [], s.series);
      drawPlot('streams', s.series.streams || [], s.series);
    }
  }

  // Number of plotted seconds with events (for tests and the curious).
  function plotPoints() {
    const d = st.plotData.classes;
    return d ? d[1].filter((v) => v > 0).length : 0;
  }

  // ---- wiring -----------------------------------------------------------

  $('pause').addEventListener('click', togglePause);
  $('filter-name').addEventListener('input', refilter);
  $('filter-text').addEventListener('input', refilter);
  $('details-close').addEventListener('click', () => { $('details').hidden = true; });
  $('rows').tBodies[0].addEventListener('click', (e) => {
    const tr = e.target.closest('tr');
    if (tr) showDetails(tr);
  });
  $('rows-box').addEventListener('scroll', () => {
    const b = $('rows-box');
    st.stick = b.scrollTop + b.clientHeight >= b.scrollHeight - 4;
    if (st.stick) $('jump').hidden = true;
  });
  $('jump').addEventListener('click', () => {
    const b = $('rows-box');
    b.scrollTop = b.scrollHeight;
    st.stick = true;
    $('jump').hidden = true;
  });

  window.ctfliveWeb = {
    watch, plotPoints, plotData: () => st.plotData.classes,
    counts: () => ({ shown: st.shown - st.pausedDropped,
      notShown: st.serverNotShown + st.pausedDropped, events: st.events, state: st.state }),
  };
  startSessions();
})();
