// fdtrack's HTML report: draws the page from the JSON in #fdtrack-data (see
// report/report_html.cpp for what it holds). Plain DOM and SVG, no library:
// the page must open from disk with nothing to fetch.
//
// Every name in the data comes from the traced program (paths, functions,
// argv, thread names) and reaches the page only as text (textContent, text
// nodes, title properties), never as markup.
'use strict';

(() => {
  // A failure shows on the page, not only in the console.
  window.addEventListener('error', event => {
    const banner = document.createElement('p');
    banner.className = 'warning';
    banner.textContent = 'This page failed to draw: ' + event.message;
    document.body.insertBefore(banner, document.body.firstChild);
  });

  const SVG_NS = 'http://www.w3.org/2000/svg';  // a namespace name, never fetched
  const MAX_FD_ROWS = 1000;
  const data = JSON.parse(document.getElementById('fdtrack-data').textContent);
  const isDiff = data.page === 'diff';
  const notes = data.sites || {};  // per site id: location, growth, user_frame, native_rows

  // ---- small helpers ----------------------------------------------------------

  function $(id) { return document.getElementById(id); }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svgElement(tag, attributes, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const name in attributes) node.setAttribute(name, String(attributes[name]));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function basename(path) {
    const slash = (path || '').lastIndexOf('/');
    return slash < 0 ? (path || '') : path.slice(slash + 1);
  }

  // As format_age in report/report_text.cpp: "12.5s", "3m07s", "2h05m".
  function formatAge(seconds) {
    if (!(seconds >= 0)) seconds = 0;
    if (seconds < 60) return seconds.toFixed(1) + 's';
    const whole = Math.floor(seconds);
    const two = n => String(n).padStart(2, '0');
    if (whole < 3600) return Math.floor(whole / 60) + 'm' + two(whole % 60) + 's';
    return Math.floor(whole / 3600) + 'h' + two(Math.floor(whole / 60) % 60) + 'm';
  }

  function plural(n, one, many) { return n + ' ' + (n === 1 ? one : many); }

  function signed(n) { return (n > 0 ? '+' : '') + n; }

  // "+6.0" per minute shows as "+6", as a number.
  function perMinute(rate) { return signed(Number(rate.toFixed(1))); }

  // As describe_growth in report/growth.cpp: "grew +270 in 45m00s, +6.0/min".
  function describeGrowth(g) {
    return `grew ${signed(g.change)} in ${formatAge(g.over_s)}, ${perMinute(g.per_minute)}/min`;
  }

  // RLIM_INFINITY (2^64-1) arrives rounded; 0 when the writer could not read the limit.
  function formatLimit(limit) {
    if (limit >= 9223372036854775807) return 'unlimited';
    return limit > 0 ? String(limit) : '?';
  }

  function clockTime(unixSeconds, withDate) {
    const iso = new Date(unixSeconds * 1000).toISOString();
    return withDate ? iso.slice(5, 10) + ' ' + iso.slice(11, 16) : iso.slice(11, 19);
  }

  function note(id) { return notes[String(id)] || {}; }

  function location(id) {
    const known = notes[String(id)];
    return known ? known.location : 'site ' + id;
  }

  // ---- the rows of the site table -----------------------------------------------

  const report = isDiff ? null : data.report;
  const diff = isDiff ? data.diff : null;
  // Seconds between the two reports of a diff.
  const diffSpan = isDiff ? (Date.parse(diff.new.time) - Date.parse(diff.old.time)) / 1000 : 0;
  const fdsBySite = new Map();
  if (report) {
    for (const fd of report.fds) {
      if (fd.origin !== 'tracked' || fd.site === null) continue;
      if (!fdsBySite.has(fd.site)) fdsBySite.set(fd.site, []);
      fdsBySite.get(fd.site).push(fd);
    }
    for (const list of fdsBySite.values()) list.sort((a, b) => a.fd - b.fd);
  }

  function frameText(site) {
    const parts = [];
    for (const f of site.python) parts.push(f.function, f.file || '');
    for (const f of site.frames) parts.push(f.function, f.file || '', f.module);
    return parts.join('\n');
  }

  function makeRow(site, order) {
    const growth = note(site.id).growth || { growing: false };
    const fds = fdsBySite.get(site.id) || [];
    const kinds = Array.from(new Set(fds.map(fd => fd.kind || '?'))).sort().join(', ');
    const row = {
      id: site.id, site: site, order: order, fds: fds, kinds: kinds, growth: growth,
      count: site.count, where: location(site.id), call: site.call || '?',
    };
    row.haystack = ['#' + site.id, row.where, row.call, kinds, frameText(site)]
      .concat(fds.slice(0, MAX_FD_ROWS).map(fd => fd.target))
      .join('\n').toLowerCase();
    return row;
  }

  let rows;
  if (report) {
    rows = report.sites.filter(site => site.count > 0).map(makeRow);
    // The text report's order: growing sites first, the fastest first, then by size.
    rows.sort((a, b) => {
      if (a.growth.growing !== b.growth.growing) return a.growth.growing ? -1 : 1;
      if (a.growth.growing && a.growth.per_minute !== b.growth.per_minute) {
        return b.growth.per_minute - a.growth.per_minute;
      }
      return b.count - a.count || a.id - b.id;
    });
  } else {
    rows = diff.grown.map((grown, i) => {
      const row = makeRow(grown.site, i);
      row.count = grown.new_count;
      row.old = grown.old_count;
      row.change = grown.growth;
      row.rate = diffSpan > 0 ? row.change * 60 / diffSpan : null;
      return row;
    });
  }
  rows.forEach((row, i) => { row.order = i; });
  const rowsById = new Map(rows.map(row => [row.id, row]));

  const growing = row => row.growth.growing;
  const reportColumns = [
    { key: 'id', title: 'site', numeric: true, value: r => r.id, text: r => '#' + r.id },
    { key: 'count', title: 'open', numeric: true, value: r => r.count },
    { key: 'growth', title: 'growth', numeric: true,
      value: r => growing(r) ? r.growth.change : -Infinity,
      text: r => growing(r) ? signed(r.growth.change) : '',
      tip: r => growing(r) ? describeGrowth(r.growth) : 'not growing' },
    { key: 'rate', title: '/min', numeric: true,
      value: r => growing(r) ? r.growth.per_minute : -Infinity,
      text: r => growing(r) ? perMinute(r.growth.per_minute) : '' },
    { key: 'oldest', title: 'oldest', numeric: true,
      value: r => r.site.oldest_age_s, text: r => formatAge(r.site.oldest_age_s) },
    { key: 'call', title: 'call', value: r => r.call },
    { key: 'where', title: 'where (your code)', value: r => r.where },
    { key: 'kinds', title: 'kinds', value: r => r.kinds },
  ];
  const diffColumns = [
    reportColumns[0],
    { key: 'growth', title: 'growth', numeric: true,
      value: r => r.change, text: r => signed(r.change) },
    { key: 'old', title: 'old', numeric: true, value: r => r.old },
    { key: 'count', title: 'new', numeric: true, value: r => r.count },
    { key: 'rate', title: '/min', numeric: true,
      value: r => r.rate === null ? -Infinity : r.rate,
      text: r => r.rate === null ? '' : perMinute(r.rate),
      tip: () => 'growth per minute between the two reports' },
    reportColumns[5],
    reportColumns[6],
  ];
  const columns = isDiff ? diffColumns : reportColumns;

  // ---- state, kept in the address's #fragment so a view can be linked --------------

  const state = { sort: null, descending: true, filter: '', site: null };

  function readHash() {
    const params = new URLSearchParams(window.location.hash.slice(1));
    const sort = params.get('sort');
    state.sort = columns.some(c => c.key === sort) ? sort : null;
    state.descending = params.has('order') ? params.get('order') !== 'asc' : true;
    state.filter = params.get('filter') || '';
    const site = Number(params.get('site'));
    state.site = params.has('site') && rowsById.has(site) ? site : null;
  }

  function writeHash() {
    const params = new URLSearchParams();
    if (state.site !== null) params.set('site', state.site);
    if (state.sort) {
      params.set('sort', state.sort);
      params.set('order', state.descending ? 'desc' : 'asc');
    }
    if (state.filter) params.set('filter', state.filter);
    const hash = params.toString();
    if (window.location.hash.slice(1) !== hash) {
      window.history.replaceState(null, '', hash ? '#' + hash : window.location.pathname + window.location.search);
    }
  }

  // ---- header ---------------------------------------------------------------------

  function addFact(key, label, value) {
    const facts = $('facts');
    facts.appendChild(element('dt', null, label));
    const dd = element('dd', null, value);
    dd.dataset.fact = key;
    facts.appendChild(dd);
  }

  function drawHeader() {
    const pid = isDiff ? diff.new.pid : report.pid;
    const program = isDiff ? data.newer.program : report.program;
    const argv = isDiff ? data.newer.argv : report.argv;
    const name = basename(program) || '?';
    const title = isDiff ? `fdtrack diff: ${name} (pid ${pid})`
                         : `fdtrack: ${name} (pid ${pid}), ${report.trigger} report`;
    $('title').textContent = title;
    document.title = title;
    addFact('program', 'program', program || '?');
    if (argv && argv.length) addFact('command', 'command', argv.join(' '));
    const total = rows.reduce((sum, row) => sum + row.count, 0);
    if (isDiff) {
      const [older, newer] = [diff.old, diff.new];
      if (older.pid !== newer.pid) addFact('old-pid', 'older report', `pid ${older.pid} (another process)`);
      addFact('time', 'reports', `${older.time} → ${newer.time}`);
      addFact('open', 'open fds',
              `${older.open_count} → ${newer.open_count} (${signed(newer.open_count - older.open_count)})`);
      const grew = rows.reduce((sum, row) => sum + row.change, 0);
      const sites = plural(rows.length, 'site that grew', 'sites that grew');
      addFact('grown', 'grown', rows.length ? `${grew} more fds in ${sites}` : 'no allocation site grew');
    } else {
      addFact('time', 'time', report.time + ' (' + report.trigger + ')');
      addFact('open', 'open fds', report.open_count + ' / ' + formatLimit(report.rlimit_nofile));
      if (report.open_before_attach !== undefined) {
        addFact('before-attach', 'attached', plural(report.open_before_attach, 'fd', 'fds') + ' open before it');
      }
      addFact('tracked', 'tracked', plural(total, 'fd', 'fds') + ' from ' + plural(rows.length, 'site', 'sites'));
      const grow = rows.filter(growing).length;
      if (grow) addFact('growing', 'growing', plural(grow, 'site', 'sites'));
      if (report.user_paths) addFact('user-paths', 'user code under', report.user_paths.join(':'));
    }
    const history = isDiff ? data.newer.history : report.history;
    addFact('interval', 'history', history ? 'sampled every ' + history.interval_s + ' s'
                                           : 'none kept (FDTRACK_INTERVAL=0)');
    if (history && history.open_fds.length) {
      const figure = $('process-chart');
      figure.insertBefore(stepChart(history.open_fds, 'open fds'), figure.firstChild);
      figure.hidden = false;
    }
    $('source').textContent = isDiff ? 'fdtrack diff' : 'a ' + (report.schema || 'fdtrack/1') + ' report';
    $('sites-heading').textContent = isDiff ? 'Sites that grew' : 'Allocation sites';
    $('icicle-heading').textContent = isDiff ? 'Growth by allocation stack' : 'Open fds by allocation stack';
  }

  // ---- a step chart of a [time, count] series -----------------------------------------

  function niceStep(span, ticks, steps) {
    for (const step of steps) if (span / step <= ticks) return step;
    return steps[steps.length - 1] * Math.ceil(span / ticks / steps[steps.length - 1]);
  }

  const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
  const COUNT_STEPS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000];

  // A count holds until the next point (docs/spec.md, History); the last
  // point is the report's own moment.
  function stepChart(points, unit) {
    const width = 560, height = 210, left = 52, right = 14, top = 24, bottom = 34;
    const chart = svgElement('svg', { viewBox: '0 0 ' + width + ' ' + height, class: 'step-chart', role: 'img' });
    let t0 = points[0][0], t1 = points[points.length - 1][0];
    if (t1 === t0) { t0 -= 30; t1 += 30; }
    const maxCount = Math.max.apply(null, points.map(p => p[1]));
    const countStep = niceStep(maxCount || 1, 4, COUNT_STEPS);
    const yMax = Math.max(countStep, Math.ceil(maxCount / countStep) * countStep);
    const x = t => left + (t - t0) / (t1 - t0) * (width - left - right);
    const y = c => top + (1 - c / yMax) * (height - top - bottom);
    const withDate = t1 - t0 >= 86400;

    const add = (tag, attributes, text) => chart.appendChild(svgElement(tag, attributes, text));
    const base = height - bottom;  // the time axis
    add('title', {}, `${unit} from ${clockTime(t0, true)} to ${clockTime(t1, true)} UTC`);
    for (let c = 0; c <= yMax; c += countStep) {
      add('line', { x1: left, x2: width - right, y1: y(c), y2: y(c), class: 'grid' });
      add('text', { x: left - 6, y: y(c) + 4, class: 'tick y' }, c);
    }
    const timeStep = niceStep(t1 - t0, 5, TIME_STEPS);
    for (let t = Math.ceil(t0 / timeStep) * timeStep; t <= t1; t += timeStep) {
      add('line', { x1: x(t), x2: x(t), y1: base, y2: base + 4, class: 'axis' });
      add('text', { x: x(t), y: base + 16, class: 'tick x' }, clockTime(t, withDate));
    }
    add('line', { x1: left, x2: width - right, y1: base, y2: base, class: 'axis' });
    add('line', { x1: left, x2: left, y1: top, y2: base, class: 'axis' });
    add('text', { x: width - right, y: height - 4, class: 'axis-title x' }, 'time (UTC)');
    add('text', { x: left, y: top - 12, class: 'axis-title y' }, unit);

    let line = 'M' + x(points[0][0]) + ',' + y(points[0][1]);
    for (let i = 1; i < points.length; i++) line += 'H' + x(points[i][0]) + 'V' + y(points[i][1]);
    if (points.length === 1) line += 'H' + x(t1);
    const area = line + 'V' + y(0) + 'H' + x(points[0][0]) + 'Z';
    add('path', { d: area, class: 'area' });
    add('path', { d: line, class: 'line' });
    if (points.length <= 300) {
      for (const point of points) {
        const dot = svgElement('circle', { cx: x(point[0]), cy: y(point[1]), r: 2.5, class: 'dot' });
        dot.appendChild(svgElement('title', {}, `${clockTime(point[0], withDate)} UTC: ${point[1]} ${unit}`));
        chart.appendChild(dot);
      }
    }
    return chart;
  }

  // ---- the site table ------------------------------------------------------------------

  function sortedRows() {
    const shown = rows.filter(row => !state.filter || row.haystack.includes(state.filter.toLowerCase()));
    const column = columns.find(c => c.key === state.sort);
    if (!column) return shown;
    const direction = state.descending ? -1 : 1;
    return shown.sort((a, b) => {
      const va = column.value(a), vb = column.value(b);
      let order = 0;
      if (column.numeric) order = va === vb ? 0 : (va < vb ? -1 : 1);
      else order = String(va).localeCompare(String(vb));
      return order * direction || a.order - b.order;
    });
  }

  function drawTableHead() {
    const head = $('sites-head');
    for (const column of columns) {
      const th = element('th', column.numeric ? 'num sortable' : 'sortable', column.title);
      th.dataset.key = column.key;
      th.tabIndex = 0;
      th.title = 'Sort by ' + column.title;
      const sortBy = () => {
        if (state.sort === column.key) {
          state.descending = !state.descending;
        } else {
          state.sort = column.key;
          state.descending = !!column.numeric;  // numbers largest first, names A to Z
        }
        drawTable();
        writeHash();
      };
      th.addEventListener('click', sortBy);
      th.addEventListener('keydown', event => { if (event.key === 'Enter') sortBy(); });
      head.appendChild(th);
    }
  }

  function drawTable() {
    for (const th of $('sites-head').children) {
      const active = th.dataset.key === state.sort;
      th.setAttribute('aria-sort', active ? (state.descending ? 'descending' : 'ascending') : 'none');
    }
    const body = $('sites-body');
    body.textContent = '';
    const shown = sortedRows();
    for (const row of shown) {
      const tr = element('tr', row.id === state.site ? 'selected' : null);
      tr.dataset.site = row.id;
      tr.tabIndex = 0;
      for (const column of columns) {
        const value = column.text ? column.text(row) : column.value(row);
        const td = element('td', column.numeric ? 'num' : null, value);
        td.dataset.key = column.key;
        if (column.tip) td.title = column.tip(row);
        if (column.key === 'where' || column.key === 'call') td.classList.add('name');
        tr.appendChild(td);
      }
      tr.addEventListener('click', () => { select(row.id); });
      tr.addEventListener('keydown', event => { if (event.key === 'Enter') select(row.id); });
      body.appendChild(tr);
    }
    const all = plural(rows.length, 'site', 'sites');
    $('shown-count').textContent = state.filter ? `${shown.length} of ${all}` : all;
    const none = $('no-sites');
    none.hidden = shown.length > 0;
    none.textContent = rows.length === 0
      ? (isDiff ? 'No allocation site grew.' : 'No tracked fds open.')
      : 'No site matches the filter.';
  }

  // ---- one site: its chart, stacks and fds ---------------------------------------------

  function frameLocation(file, line) {
    if (!file) return '';
    return line ? file + ':' + line : file;
  }

  function drawStacks(row) {
    const stacks = $('stacks');
    stacks.textContent = '';
    const site = row.site, known = note(row.id), user = known.user_frame || {};
    if (site.python.length) {
      stacks.appendChild(element('h3', null, 'Python stack (innermost first)'));
      const list = element('ol', 'stack python-stack');
      site.python.forEach((frame, i) => {
        const item = element('li', 'frame python' + (user.python === i ? ' user' : ''));
        item.appendChild(element('span', 'fn', frame.function));
        item.appendChild(element('span', 'loc', frameLocation(frame.file, frame.line)));
        if (user.python === i) item.appendChild(element('span', 'badge', 'your code'));
        list.appendChild(item);
      });
      stacks.appendChild(list);
    }
    if (site.frames.length) {
      stacks.appendChild(element('h3', null, 'Native stack (innermost first)'));
      const list = element('ol', 'stack native-stack');
      for (const nrow of known.native_rows) {
        if (nrow.count > 1) {
          const modules = new Set();
          for (let i = nrow.first; i < nrow.first + nrow.count; i++) modules.add(basename(site.frames[i].module));
          list.appendChild(element('li', 'frame folded',
            '… ' + nrow.count + ' interpreter frames (' + Array.from(modules).join(', ') + ')'));
          continue;
        }
        const frame = site.frames[nrow.first];
        const item = element('li', 'frame native' + (user.native === nrow.first ? ' user' : ''));
        item.appendChild(element('span', 'num-label', '#' + nrow.first));
        item.appendChild(element('span', 'address', frame.address));
        item.appendChild(element('span', 'fn', frame.function || '???'));
        const where = frame.file ? frameLocation(frame.file, frame.line) : 'in ' + (frame.module || '?');
        item.appendChild(element('span', 'loc', where));
        if (user.native === nrow.first) item.appendChild(element('span', 'badge', 'your code'));
        list.appendChild(item);
      }
      stacks.appendChild(list);
    }
    if (!site.python.length && !site.frames.length) stacks.appendChild(element('p', 'empty', '(no stack recorded)'));
  }

  function fdState(fd) {
    const parts = [];
    if (fd.state) parts.push(fd.state);
    if (fd.at_exit) parts.push(fd.at_exit === 'never_closed' ? 'never closed' : 'held until exit');
    if (fd.suppressed) parts.push('suppressed');
    const flags = [fd.cloexec ? 'cloexec' : '', fd.nonblock ? 'nonblock' : ''].filter(Boolean).join(',');
    if (flags) parts.push('[' + flags + ']');
    return parts.join('  ');
  }

  function drawFds(row) {
    const wrap = $('site-fds-wrap');
    wrap.hidden = isDiff;
    if (isDiff) return;
    const body = $('site-fds').tBodies[0];
    body.textContent = '';
    const shown = row.fds.slice(0, MAX_FD_ROWS);
    for (const fd of shown) {
      const tr = element('tr');
      tr.dataset.fd = fd.fd;
      tr.appendChild(element('td', 'num', fd.fd));
      tr.appendChild(element('td', null, fd.kind));
      tr.appendChild(element('td', 'name', fd.target));
      tr.appendChild(element('td', null, fdState(fd)));
      tr.appendChild(element('td', 'num', formatAge(fd.age_s)));
      tr.appendChild(element('td', null, fd.tid ? fd.tid + (fd.thread ? ' ' + fd.thread : '') : ''));
      body.appendChild(tr);
    }
    $('site-fds-heading').textContent = 'Open fds (' + row.fds.length + ')';
    const more = $('site-fds-more');
    more.hidden = row.fds.length <= shown.length;
    more.textContent = '… and ' + (row.fds.length - shown.length) + ' more (the JSON report lists them all)';
  }

  function select(id) {
    state.site = id;
    const row = rowsById.get(id);
    for (const tr of $('sites-body').children) tr.classList.toggle('selected', Number(tr.dataset.site) === id);
    const section = $('site-section');
    section.hidden = !row;
    writeHash();
    if (!row) return;
    const site = row.site;
    // The text report's headline, "(socketpair)" rather than "(socketpair, socket)" though.
    const what = row.kinds && row.kinds !== row.call ? `${row.call}, ${row.kinds}` : row.call;
    const how = isDiff ? `${signed(row.change)} fds (${row.old} → ${row.count})`
                       : `${plural(row.count, 'fd', 'fds')} open`;
    $('site-heading').textContent = `${how} from ${row.where} (${what})  [site ${row.id}]`;
    let growthLine = row.growth.growing
      ? `${describeGrowth(row.growth)}, oldest ${formatAge(site.oldest_age_s)}`
      : `not growing; oldest ${formatAge(site.oldest_age_s)}, newest ${formatAge(site.newest_age_s)}`;
    if (isDiff) {
      const rate = row.rate === null ? '' : ` (${formatAge(diffSpan)} apart, ${perMinute(row.rate)}/min)`;
      growthLine = `${signed(row.change)} between the reports${rate}; in its history, ${growthLine}`;
    }
    $('site-growth').textContent = growthLine;
    const figure = $('site-chart');
    while (figure.firstChild !== figure.lastChild) figure.removeChild(figure.firstChild);
    if (site.history && site.history.length) {
      figure.insertBefore(stepChart(site.history, 'open fds'), figure.firstChild);
    } else {
      const none = 'No history of this site (FDTRACK_INTERVAL=0, or its fds came and went between samples).';
      figure.insertBefore(element('p', 'empty', none), figure.firstChild);
    }
    drawStacks(row);
    drawFds(row);
  }

  // ---- the icicle: fds by allocation stack ---------------------------------------------

  // A site's path from the root down: for a Python site its Python frames,
  // outermost first, then the native frames the innermost Python frame called
  // into (below the interpreter's); for a native site every native frame,
  // runs of interpreter frames folded as in the stack list; last, the call.
  function stackPath(site) {
    const known = note(site.id), user = known.user_frame || {};
    let native = known.native_rows;
    if (site.python.length) {
      const cut = native.findIndex(r => r.interpreter);
      if (cut >= 0) native = native.slice(0, cut);
    }
    const path = [];
    for (let i = site.python.length - 1; i >= 0; i--) {
      const f = site.python[i];
      path.push({ kind: 'python', key: 'p\u0000' + f.function + '\u0000' + f.file + '\u0000' + f.line,
                  label: f.function + ' (' + basename(f.file) + ':' + f.line + ')',
                  title: 'Python: ' + f.function + '  ' + frameLocation(f.file, f.line), user: user.python === i });
    }
    for (let r = native.length - 1; r >= 0; r--) {
      const nrow = native[r], f = site.frames[nrow.first];
      if (nrow.count > 1) {
        const label = '… ' + nrow.count + ' interpreter frames (' + basename(f.module) + ')';
        path.push({ kind: 'folded', key: 'i\u0000' + label, label: label, title: label, user: false });
        continue;
      }
      const where = f.file ? basename(f.file) + (f.line ? ':' + f.line : '') : basename(f.module);
      path.push({ kind: 'native', key: ['n', f.function, f.module, f.file, f.line || f.address].join('\u0000'),
                  label: (f.function || f.address) + ' (' + where + ')',
                  title: `native: ${f.function || '???'}  ${f.file ? frameLocation(f.file, f.line) : 'in ' + f.module}`,
                  user: user.native === nrow.first });
    }
    // Native stacks start at the caller of the hooked function: the call itself ends each path.
    const call = site.call || '?';
    path.push({ kind: 'call', key: 'c\u0000' + call, label: call + '()', user: false,
                title: 'the call that created the fds: ' + call });
    return path;
  }

  function buildTree() {
    const total = rows.reduce((sum, row) => sum + (isDiff ? row.change : row.count), 0);
    const newNode = (frame, parent) => ({
      kind: frame.kind, label: frame.label, title: frame.title, user: false, value: 0,
      children: new Map(), sites: [], parent: parent, depth: parent ? parent.depth + 1 : 0,
    });
    const root = newNode({
      kind: 'root', title: isDiff ? 'every site that grew' : 'every open tracked fd',
      label: isDiff ? `all ${total} more open fds` : `all ${plural(total, 'open tracked fd', 'open tracked fds')}`,
    }, null);
    let depth = 0;
    for (const row of rows) {
      const weight = isDiff ? row.change : row.count;
      if (weight <= 0) continue;
      let node = root;
      node.value += weight;
      for (const frame of stackPath(row.site)) {
        if (!node.children.has(frame.key)) node.children.set(frame.key, newNode(frame, node));
        node = node.children.get(frame.key);
        node.user = node.user || frame.user;
        node.value += weight;
      }
      node.sites.push(row.id);
      depth = Math.max(depth, node.depth);
    }
    root.maxDepth = depth;
    return root;
  }

  function hue(text, base, spread) {
    let hash = 0;
    for (let i = 0; i < text.length; i++) hash = (hash * 31 + text.charCodeAt(i)) | 0;
    return base + (Math.abs(hash) % spread);
  }

  const icicle = { root: null, focus: null };

  function describeNode(node) {
    const all = icicle.root.value;
    let text = `${node.title} — ${plural(node.value, 'fd', 'fds')} (${(100 * node.value / all).toFixed(1)}% of all)`;
    if (node.sites.length) text += ' — ends ' + node.sites.map(id => 'site #' + id).join(', ');
    return text;
  }

  function drawIcicle() {
    const box = $('icicle');
    box.textContent = '';
    const root = icicle.root, focus = icicle.focus || root;
    $('icicle-reset').disabled = focus === root;
    if (root.value === 0) {
      box.appendChild(element('p', 'empty', isDiff ? 'No site grew.' : 'No tracked fds open.'));
      return;
    }
    const ROW = 20;
    box.style.height = (root.maxDepth + 1) * ROW + 'px';
    const add = (node, x, width) => {
      const div = element('div', `node ${node.kind}`, node.label);
      div.classList.toggle('user', node.user);
      div.classList.toggle('focus', node === focus);
      div.style.left = (100 * x) + '%';
      div.style.width = (100 * width) + '%';
      div.style.top = node.depth * ROW + 'px';
      if (node.kind === 'python') div.style.backgroundColor = 'hsl(' + hue(node.label, 198, 30) + ', 62%, 72%)';
      if (node.kind === 'native') div.style.backgroundColor = 'hsl(' + hue(node.label, 18, 26) + ', 80%, 68%)';
      div.title = describeNode(node);
      div.dataset.value = node.value;
      div.addEventListener('mouseenter', () => { $('icicle-info').textContent = describeNode(node); });
      div.addEventListener('click', () => {
        icicle.focus = node;
        drawIcicle();
        $('icicle-info').textContent = describeNode(node);
        if (node.sites.length && node.children.size === 0) select(node.sites[0]);
      });
      box.appendChild(div);
    };
    // The focus's ancestors span the whole width, as in flamegraph.pl's zoom.
    for (let node = focus.parent; node; node = node.parent) add(node, 0, 1);
    const layout = (node, x, width) => {
      add(node, x, width);
      const children = Array.from(node.children.values()).sort((a, b) => {
        return b.value - a.value || a.label.localeCompare(b.label);
      });
      let offset = x;
      for (const child of children) {
        const w = width * child.value / node.value;
        if (w * box.clientWidth >= 1.5 || box.clientWidth === 0) layout(child, offset, w);
        offset += w;
      }
    };
    layout(focus, 0, 1);
  }

  // ---- bad closes and the fds not counted ---------------------------------------------------

  function drawBadCloses() {
    if (!report || !report.bad_closes.length) return;
    const messages = { double_close: 'closed twice', never_opened: 'closed but never opened',
                       owned_by_stream: 'closed while a FILE stream owns it' };
    const body = $('bad-closes').tBodies[0];
    for (const bad of report.bad_closes) {
      const tr = element('tr');
      tr.appendChild(element('td', 'num', bad.fd));
      tr.appendChild(element('td', null, messages[bad.error] || bad.error));
      tr.appendChild(element('td', 'name', bad.site === null ? '?' : location(bad.site)));
      tr.appendChild(element('td', 'name', bad.opened_site === null ? '' : location(bad.opened_site)));
      body.appendChild(tr);
    }
    $('bad-closes-heading').textContent = plural(report.bad_closes.length, 'bad close', 'bad closes');
    $('bad-closes-section').hidden = false;
  }

  // How the fds that are not counted came to be open, in words.
  const ORIGIN_NAMES = {unknown: 'creation not seen', before_attach: 'open before attach'};

  function drawOtherFds() {
    if (!report) return;
    const others = report.fds.filter(fd => fd.origin !== 'tracked').sort((a, b) => a.fd - b.fd);
    if (!others.length) return;
    const body = $('other-fds').tBodies[0];
    for (const fd of others.slice(0, MAX_FD_ROWS)) {
      const tr = element('tr');
      tr.appendChild(element('td', 'num', fd.fd));
      tr.appendChild(element('td', null, ORIGIN_NAMES[fd.origin] || fd.origin));
      tr.appendChild(element('td', null, fd.kind));
      tr.appendChild(element('td', 'name', fd.target));
      tr.appendChild(element('td', null, fd.state || ''));
      body.appendChild(tr);
    }
    const beforeAttach = others.filter(fd => fd.origin === 'before_attach').length;
    $('other-fds-heading').textContent = beforeAttach
      ? `Not counted: ${plural(others.length, 'fd', 'fds')}, ${beforeAttach} of them open before fdtrack attach`
      : `Not counted: ${plural(others.length, 'fd', 'fds')} inherited, or created where fdtrack did not see it`;
    $('other-fds-section').hidden = false;
  }

  // ---- putting it together ---------------------------------------------------------

  function applyState() {
    $('filter').value = state.filter;
    drawTable();
    select(state.site !== null ? state.site : (rows.length ? rows[0].id : null));
  }

  drawHeader();
  drawTableHead();
  readHash();
  icicle.root = buildTree();
  drawIcicle();
  drawBadCloses();
  drawOtherFds();
  applyState();

  $('filter').addEventListener('input', event => {
    state.filter = event.target.value;
    drawTable();
    writeHash();
  });
  $('icicle-reset').addEventListener('click', () => {
    icicle.focus = null;
    drawIcicle();
  });
  window.addEventListener('hashchange', () => {
    readHash();
    applyState();
  });
  let resizing = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizing);
    resizing = setTimeout(drawIcicle, 100);
  });
  document.body.dataset.ready = 'true';  // for tests and scripts: everything is drawn
})();
