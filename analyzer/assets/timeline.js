// The HTML timeline's front end. Reads the view model embedded by
// analyzer/src/render/html.rs (shape documented there) and draws it on one
// canvas, so 100,000 records stay fluid. All user text reaches the DOM via
// textContent, never parsed as markup.
(function () {
  "use strict";
  var T0 = performance.now();
  var data = JSON.parse(document.getElementById("timeline-data").textContent);
  if (data.version >= 3) expandCompact(data);

  // Streamed pages (version 3) write scenarios as rows and markers as one
  // array per field, their repeated text once in `strings` (three times
  // fewer bytes); expanded here into the objects the rest of the page reads.
  function expandCompact(d) {
    var S = d.strings || [], O = d.outcomes || [], K = (d.lod && d.lod.kinds) || [], t = 0, i;
    var rows = d.scenarios, sc = new Array(rows.length);
    for (i = 0; i < rows.length; i++) {
      var r = rows[i];
      t += r[6];
      sc[i] = { id: r[0], proc: r[1], lane: r[2], feature: S[r[3]], name: r[4], outcome: O[r[5]], start_us: t, end_us: t + r[7] };
      if (r.length > 8) sc[i].error = r[8];
    }
    d.scenarios = sc;
    var c = d.markers, n = c.t_us.length, mk = new Array(n);
    for (t = 0, i = 0; i < n; i++) {
      t += c.t_us[i];
      mk[i] = { proc: c.proc[i], scenario: c.scenario[i] < 0 ? null : c.scenario[i], lane: c.lane[i], kind: K[c.kind[i]],
        action: S[c.action[i]], t_us: t, details: S[c.details[i]] };
    }
    d.markers = mk;
  }

  // ---- constants -------------------------------------------------------
  // A row: the scenario bar on top (name inside), its actions in a strip below.
  var GUTTER = 190, AXIS = 26, ROW = 30, BAR_TOP = 3, BAR = 15, MARK_Y = 24, PROC_GAP = 6, BUCKET = 4, PAGE = 100;
  var OUTCOMES = ["passed", "failed", "skipped", "unfinished"];
  var OUTCOME_FILL = { passed: "#8fd19e", failed: "#f08c8c", skipped: "#cfd4dc", unfinished: "#f6c760" };
  var OUTCOME_EDGE = { passed: "#3f8f52", failed: "#b3261e", skipped: "#8d96a5", unfinished: "#b07a00" };
  // Draw order when aggregated: the most telling kind wins a bucket.
  var KINDS = ["cleanup", "schema", "secret", "config", "write", "http", "custom", "read", "tx"];
  var KIND_COLOR = { cleanup: "#d62728", schema: "#7b3fbf", secret: "#d63fa4", config: "#8c564b", write: "#f07f0e",
    http: "#1597a8", custom: "#2f6fdf", read: "#8a929e", tx: "#9a9b1a" };
  var KIND_LABEL = { cleanup: "cleanup", schema: "schema", secret: "secret", config: "config", write: "write",
    http: "HTTP", custom: "custom", read: "read", tx: "transaction" };
  var KIND_RANK = {};
  KINDS.forEach(function (k, i) { KIND_RANK[k] = i; });

  var procs = data.processes, scen = data.scenarios, marks = data.markers, finds = data.findings;
  // Streamed pages list scenarios as they ended, each with its id: index them by id.
  if (scen.length && scen[0].id !== undefined) {
    var byId = new Array(scen.length);
    scen.forEach(function (s) { byId[s.id] = s; });
    scen = byId;
  }
  // Aggregates (level of detail): [proc, lane, t0, t1, scenario|-1, scenarios, count per lod.kinds…].
  var lod = data.lod || null, aggs = data.aggregates || [], AGG_KINDS = lod ? lod.kinds : [];

  // ---- small DOM helpers (text only) ----------------------------------
  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  // ---- time formatting -------------------------------------------------
  var originUs = (function () {
    var m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(data.origin || "");
    if (!m) return 0;
    var frac = ((m[2] || "") + "000000").slice(0, 6);
    return Date.parse(m[1] + "Z") * 1000 + Number(frac);
  })();
  function pad(n, w) { var s = String(n); while (s.length < w) s = "0" + s; return s; }
  function wall(tUs) {
    var abs = originUs + tUs, ms = Math.floor(abs / 1000);
    var iso = new Date(ms).toISOString();
    return iso.slice(0, 19) + "." + pad(((abs % 1000000) + 1000000) % 1000000, 6) + "Z";
  }
  function dur(us) {
    var a = Math.abs(us);
    if (a < 1000) return us.toFixed(0) + " µs";
    if (a < 1e6) return (us / 1000).toFixed(a < 1e4 ? 2 : 1) + " ms";
    if (a < 6e7) return (us / 1e6).toFixed(a < 1e7 ? 3 : 2) + " s";
    return (us / 6e7).toFixed(1) + " min";
  }
  function rel(us) { return "+" + dur(us); }

  // ---- derived indexes ---------------------------------------------------
  var features = [];
  (function () {
    var seen = {};
    for (var i = 0; i < scen.length; i++) {
      var f = scen[i].feature;
      if (!Object.prototype.hasOwnProperty.call(seen, f)) { seen[f] = 1; features.push(f); }
    }
    features.sort();
  })();

  // Per (proc, lane): scenario indices by start and marker indices by time.
  var laneScen = [], laneMark = [];
  procs.forEach(function (p, i) {
    laneScen[i] = []; laneMark[i] = [];
    for (var l = 0; l < Math.max(1, p.lanes); l++) { laneScen[i].push([]); laneMark[i].push([]); }
  });
  function laneOf(list, proc, lane) {
    var arr = list[proc];
    if (!arr) return null;
    while (arr.length <= lane) arr.push([]);
    return arr[lane];
  }
  for (var si = 0; si < scen.length; si++) {
    var ls = laneOf(laneScen, scen[si].proc, scen[si].lane);
    if (ls) ls.push(si);
  }
  for (var mi = 0; mi < marks.length; mi++) {
    var lm = laneOf(laneMark, marks[mi].proc, marks[mi].lane);
    if (lm) lm.push(mi);
  }
  var laneAgg = [];
  procs.forEach(function (p, i) { laneAgg[i] = []; });
  for (var ai = 0; ai < aggs.length; ai++) {
    var la = laneOf(laneAgg, aggs[ai][0], aggs[ai][1]);
    if (la) la.push(ai);
  }
  laneAgg.forEach(function (lanes) { lanes.forEach(function (a) { a.sort(function (x, y) { return aggs[x][2] - aggs[y][2]; }); }); });
  laneScen.forEach(function (lanes) { lanes.forEach(function (a) { a.sort(function (x, y) { return scen[x].start_us - scen[y].start_us; }); }); });
  laneMark.forEach(function (lanes) { lanes.forEach(function (a) { a.sort(function (x, y) { return marks[x].t_us - marks[y].t_us; }); }); });
  // Markers of the same scenario, for the bar tooltip's count.
  var scenMarkCount = new Uint32Array(scen.length);
  for (mi = 0; mi < marks.length; mi++) if (marks[mi].scenario !== null) scenMarkCount[marks[mi].scenario]++;

  // ---- state -------------------------------------------------------------
  var span = Math.max(data.span_us, 1);
  var view = { t0: -span * 0.02, t1: span * 1.02, scrollY: 0 };
  var filter = { proc: "", feature: "", outcomes: {}, kinds: {}, search: "", rule: "" };
  OUTCOMES.forEach(function (o) { filter.outcomes[o] = true; });
  KINDS.forEach(function (k) { filter.kinds[k] = true; });
  var selected = -1, hover = null, searchHits = [], searchPos = -1;
  var rows = [], procRow = [], rowsHeight = 0;
  var stats = { bars: 0, markers: 0, arrows: 0, aggregates: 0, draws: 0 };

  var canvas = $("timeline"), ctx = canvas.getContext("2d"), wrap = $("timeline-wrap"), tip = $("tooltip");
  var W = 800, H = 300, dpr = window.devicePixelRatio || 1;

  function layout() {
    rows = []; procRow = [];
    var y = 0;
    procs.forEach(function (p, i) {
      if (filter.proc !== "" && String(i) !== filter.proc) { procRow[i] = -1; return; }
      procRow[i] = rows.length;
      var n = Math.max(1, p.lanes, laneScen[i].length);
      for (var l = 0; l < n; l++) { rows.push({ proc: i, lane: l, y: y }); y += ROW; }
      y += PROC_GAP;
    });
    rowsHeight = y;
  }
  function rowIndex(proc, lane) {
    var r = procRow[proc];
    return r === undefined || r < 0 ? -1 : r + lane;
  }
  function scenVisible(i) {
    var s = scen[i];
    if (procRow[s.proc] < 0) return false;
    if (filter.feature !== "" && s.feature !== filter.feature) return false;
    return !!filter.outcomes[s.outcome];
  }
  function markVisible(i) {
    var m = marks[i];
    if (!filter.kinds[m.kind] || procRow[m.proc] < 0) return false;
    return m.scenario === null ? filter.feature === "" : scenVisible(m.scenario);
  }

  function resize() {
    dpr = window.devicePixelRatio || 1;
    W = Math.max(320, wrap.clientWidth);
    var want = AXIS + rowsHeight + 10;
    H = Math.max(120, Math.min(want, Math.round(window.innerHeight * 0.62)));
    canvas.width = Math.round(W * dpr); canvas.height = Math.round(H * dpr);
    canvas.style.height = H + "px";
    clampScroll();
  }
  function clampScroll() {
    var maxY = Math.max(0, rowsHeight - (H - AXIS - 4));
    view.scrollY = Math.min(Math.max(0, view.scrollY), maxY);
  }
  function X(t) { return GUTTER + (t - view.t0) * (W - GUTTER - 8) / (view.t1 - view.t0); }
  function Tx(x) { return view.t0 + (x - GUTTER) * (view.t1 - view.t0) / (W - GUTTER - 8); }
  function rowY(r) { return AXIS + rows[r].y - view.scrollY; }

  // First index in `idx` (sorted by key) whose key is >= value.
  function lowerBound(idx, key, value) {
    var lo = 0, hi = idx.length;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (key(idx[mid]) < value) lo = mid + 1; else hi = mid; }
    return lo;
  }
  function sEnd(i) { return scen[i].end_us; }
  function aEnd(i) { return aggs[i][3]; }
  function aggTotal(a) { var n = 0; for (var k = 6; k < a.length; k++) n += a[k]; return n; }
  // The most telling kind an aggregate holds that the kind filter shows, or null.
  function aggKind(a) {
    var best = null;
    for (var k = 6; k < a.length; k++) {
      var kind = AGG_KINDS[k - 6];
      if (a[k] > 0 && filter.kinds[kind] && (best === null || KIND_RANK[kind] < KIND_RANK[best])) best = kind;
    }
    return best;
  }
  function aggVisible(i) {
    var a = aggs[i];
    if (procRow[a[0]] < 0 || aggKind(a) === null) return false;
    return a[4] < 0 || !scen[a[4]] || filter.feature === "" || scenVisible(a[4]);
  }
  function mT(i) { return marks[i].t_us; }

  // ---- drawing -------------------------------------------------------------
  var pending = false;
  function redraw() { if (!pending) { pending = true; requestAnimationFrame(function () { pending = false; draw(); }); } }

  function niceStep(spanUs, px) {
    var raw = spanUs / Math.max(1, px / 110), p = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= raw) return steps[i] * p;
    return 10 * p;
  }

  function draw() {
    stats.bars = 0; stats.markers = 0; stats.arrows = 0; stats.aggregates = 0; stats.draws++;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, W, H);
    ctx.font = "11px system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif";
    ctx.textBaseline = "middle";
    var searchLower = filter.search.toLowerCase();
    // The selected finding's polluter and victim bars get an outline.
    var selBars = [-1, -1];
    if (selected >= 0) {
      var sf = finds[selected];
      if (sf.polluter && sf.polluter.scenario !== null) selBars[0] = sf.polluter.scenario;
      if (sf.victim && sf.victim.scenario !== null) selBars[1] = sf.victim.scenario;
    }

    // Row backgrounds, one shade per process.
    ctx.save();
    ctx.beginPath(); ctx.rect(0, AXIS, W, H - AXIS); ctx.clip();
    for (var r = 0; r < rows.length; r++) {
      var y = rowY(r);
      if (y + ROW < AXIS || y > H) continue;
      var row = rows[r];
      ctx.fillStyle = row.proc % 2 ? "#f7f9fc" : "#ffffff";
      ctx.fillRect(0, y, W, ROW);
      if (row.lane === 0) { ctx.fillStyle = "#dfe3ea"; ctx.fillRect(0, y - PROC_GAP / 2 - 0.5, W, 1); }
    }

    // Scenario bars.
    ctx.save();
    ctx.beginPath(); ctx.rect(GUTTER, AXIS, W - GUTTER, H - AXIS); ctx.clip();
    for (r = 0; r < rows.length; r++) {
      y = rowY(r);
      if (y + ROW < AXIS || y > H) continue;
      var lane = laneScen[rows[r].proc][rows[r].lane] || [];
      var by = y + BAR_TOP, lastPx = -1e9;
      for (var k = lowerBound(lane, sEnd, view.t0); k < lane.length; k++) {
        var i = lane[k], s = scen[i];
        if (s.start_us > view.t1) break;
        if (!scenVisible(i)) continue;
        var x0 = X(s.start_us), x1 = X(s.end_us), w = x1 - x0;
        // Sub-pixel bars in the same pixel column as the previous one add nothing.
        if (w < 1 && Math.floor(x0) <= lastPx && s.outcome === "passed") continue;
        lastPx = Math.floor(Math.max(x0, x1));
        var dim = searchLower && s.name.toLowerCase().indexOf(searchLower) < 0;
        ctx.globalAlpha = dim ? 0.25 : 1;
        ctx.fillStyle = OUTCOME_FILL[s.outcome] || "#ccc";
        var bw = Math.max(2, w);
        ctx.fillRect(x0, by, bw, BAR);
        if (bw > 3) {
          ctx.strokeStyle = OUTCOME_EDGE[s.outcome] || "#888"; ctx.lineWidth = 1;
          if (s.outcome === "unfinished") ctx.setLineDash([3, 2]);
          ctx.strokeRect(x0 + 0.5, by + 0.5, bw - 1, BAR - 1);
          ctx.setLineDash([]);
        }
        if ((hover && hover.type === "scenario" && hover.index === i) || i === selBars[0] || i === selBars[1]) {
          ctx.strokeStyle = "#1d2330"; ctx.lineWidth = 2; ctx.strokeRect(x0, by, bw, BAR);
        }
        if (bw > 34) {
          var vis0 = Math.max(x0, GUTTER) + 4, room = Math.min(x1, W) - vis0 - 4;
          if (room > 16) {
            ctx.fillStyle = "#1d2330";
            ctx.fillText(fit(s.name, room), vis0, by + BAR / 2 + 0.5);
          }
        }
        ctx.globalAlpha = 1;
        stats.bars++;
      }
    }

    // Aggregates: a translucent band in the action strip over the time they
    // span, merged when they touch on screen. Drawn under the markers.
    for (r = 0; r < rows.length; r++) {
      y = rowY(r);
      if (y + ROW < AXIS || y > H) continue;
      var al = laneAgg[rows[r].proc][rows[r].lane] || [];
      var ax0 = null, ax1 = 0, akind = null;
      var aflush = function () {
        if (ax0 === null) return;
        ctx.globalAlpha = 0.35; ctx.fillStyle = KIND_COLOR[akind] || "#8a929e";
        ctx.fillRect(ax0, y + MARK_Y - 3, Math.max(2, ax1 - ax0), 6);
        ctx.globalAlpha = 1;
        stats.aggregates++;
      };
      for (k = lowerBound(al, aEnd, view.t0); k < al.length; k++) {
        var ag = aggs[al[k]];
        if (ag[2] > view.t1) break;
        if (!aggVisible(al[k])) continue;
        var gx0 = X(ag[2]), gx1 = Math.max(X(ag[3]), gx0 + 2), gk = aggKind(ag);
        if (ax0 !== null && gx0 <= ax1 + 1) {
          ax1 = Math.max(ax1, gx1);
          if (KIND_RANK[gk] < KIND_RANK[akind]) akind = gk;
        } else { aflush(); ax0 = gx0; ax1 = gx1; akind = gk; }
      }
      aflush();
    }

    // Markers, aggregated per BUCKET px when several fall together.
    for (r = 0; r < rows.length; r++) {
      y = rowY(r);
      if (y + ROW < AXIS || y > H) continue;
      var ml = laneMark[rows[r].proc][rows[r].lane] || [];
      var cy = y + MARK_Y, bucket = null, bestKind = null, count = 0;
      var flush = function () {
        if (count === 0) return;
        drawMarker((bucket + 0.5) * BUCKET, cy, bestKind, count);
        stats.markers++;
      };
      var tStart = Tx(GUTTER - 6);
      for (k = lowerBound(ml, mT, tStart); k < ml.length; k++) {
        var m = marks[ml[k]];
        if (m.t_us > view.t1) break;
        if (!markVisible(ml[k])) continue;
        var b = Math.floor(X(m.t_us) / BUCKET);
        if (b !== bucket) { flush(); bucket = b; bestKind = m.kind; count = 0; }
        if (KIND_RANK[m.kind] < KIND_RANK[bestKind]) bestKind = m.kind;
        count++;
      }
      flush();
    }

    // Finding arrows: polluter's mutation -> victim.
    for (var f = 0; f < finds.length; f++) if (f !== selected) drawFinding(f, false);
    if (selected >= 0) drawFinding(selected, true); // on top
    ctx.restore();

    // Gutter labels.
    ctx.fillStyle = "rgba(255,255,255,0.96)"; ctx.fillRect(0, AXIS, GUTTER - 2, H - AXIS);
    ctx.fillStyle = "#dfe3ea"; ctx.fillRect(GUTTER - 2, AXIS, 1, H - AXIS);
    for (r = 0; r < rows.length; r++) {
      y = rowY(r);
      if (y + ROW < AXIS || y > H) continue;
      row = rows[r];
      var p = procs[row.proc];
      if (row.lane === 0) {
        ctx.font = "600 12px system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif";
        ctx.fillStyle = "#1d2330";
        var label = "pid " + p.pid + " · " + p.label;
        var room2 = GUTTER - 12 - (p.crashed ? 56 : 0);
        ctx.fillText(fit(label, room2), 8, y + BAR_TOP + BAR / 2);
        if (p.crashed) {
          ctx.fillStyle = "#b3261e"; ctx.font = "600 10px system-ui, sans-serif";
          ctx.fillText("✖ crashed", GUTTER - 60, y + BAR_TOP + BAR / 2);
        }
        ctx.font = "11px system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif";
      } else {
        ctx.fillStyle = "#8a929e";
        ctx.fillText("  ↳ overlap lane " + (row.lane + 1), 8, y + BAR_TOP + BAR / 2);
      }
    }
    ctx.restore();

    drawAxis();
    drawScrollbar();
    updateStatus();
  }

  // Cuts text to fit `room` px in the current font, with an ellipsis.
  function fit(text, room) {
    if (ctx.measureText(text).width <= room) return text;
    var lo = 0, hi = text.length;
    while (lo < hi) {
      var mid = (lo + hi + 1) >> 1;
      if (ctx.measureText(text.slice(0, mid) + "…").width <= room) lo = mid; else hi = mid - 1;
    }
    return lo === 0 ? "" : text.slice(0, lo) + "…";
  }

  function drawMarker(x, cy, kind, count) {
    var color = KIND_COLOR[kind] || "#555";
    if (count > 1) {
      // An aggregate: a tick whose height grows with the number of actions.
      var h = Math.min(10, 4 + Math.log2(count) * 1.6);
      ctx.fillStyle = color; ctx.fillRect(x - 1.5, cy + 5 - h, 3, h);
      return;
    }
    ctx.beginPath();
    ctx.moveTo(x, cy - 4.5); ctx.lineTo(x + 4, cy); ctx.lineTo(x, cy + 4.5); ctx.lineTo(x - 4, cy); ctx.closePath();
    ctx.fillStyle = color; ctx.fill();
    ctx.strokeStyle = "#ffffff"; ctx.lineWidth = 1; ctx.stroke();
  }

  function endPoint(e) {
    if (!e || e.proc === null || e.proc === undefined) return null;
    var lane = e.scenario !== null && e.scenario !== undefined ? scen[e.scenario].lane : 0;
    var r = rowIndex(e.proc, lane);
    if (r < 0) return null;
    return { x: X(e.t_us), y: rowY(r) + BAR_TOP + BAR / 2 };
  }

  function drawFinding(f, isSel) {
    var fd = finds[f];
    if (filter.rule && fd.rule !== filter.rule) return;
    var a = endPoint(fd.polluter), b = endPoint(fd.victim);
    var color = fd.severity === "error" ? "#c0392b" : "#d9822b";
    if (!b) return;
    if ((a ? Math.max(a.x, b.x) : b.x) < GUTTER - 20 || (a ? Math.min(a.x, b.x) : b.x) > W + 20) return;
    stats.arrows++;
    ctx.save();
    if (isSel) { ctx.shadowColor = "rgba(29,35,48,.55)"; ctx.shadowBlur = 6; }
    // With many findings, the likely causes stand out and the rest recede.
    ctx.globalAlpha = isSel ? 1 : fd.likely_cause && fd.severity === "error" ? 0.8 : 0.35;
    ctx.strokeStyle = color; ctx.fillStyle = color; ctx.lineWidth = isSel ? 2.6 : 1.3;
    if (!a) {
      // No polluter (unfinished scenario, crash): a badge on the victim.
      ctx.beginPath(); ctx.arc(b.x, b.y - 7, isSel ? 7 : 5.5, 0, Math.PI * 2); ctx.fill();
      ctx.fillStyle = "#fff"; ctx.font = "bold 9px system-ui, sans-serif"; ctx.textAlign = "center";
      ctx.fillText("!", b.x, b.y - 6.5); ctx.textAlign = "start";
      ctx.restore();
      return;
    }
    // An S-curve from the mutation to the victim; nearly vertical ones (same
    // instant) bow sideways so they stay visible next to the bars' edges.
    var dx = b.x - a.x, dy = b.y - a.y;
    var bow = Math.abs(dx) < 14 ? Math.max(10, Math.min(36, Math.abs(dy) * 0.3)) : 0;
    var c1x = a.x + dx * 0.5 + bow, c1y = a.y + dy * 0.15, c2x = a.x + dx * 0.5 + bow, c2y = b.y - dy * 0.15;
    if (bow === 0) { c1y = a.y; c2y = b.y; }
    ctx.beginPath(); ctx.moveTo(a.x, a.y); ctx.bezierCurveTo(c1x, c1y, c2x, c2y, b.x, b.y); ctx.stroke();
    ctx.beginPath(); ctx.arc(a.x, a.y, isSel ? 4.5 : 3, 0, Math.PI * 2); ctx.fill();
    // Arrow head along the curve's final tangent.
    var ang = Math.atan2(b.y - c2y, b.x - c2x), hl = isSel ? 10 : 7;
    ctx.beginPath(); ctx.moveTo(b.x, b.y);
    ctx.lineTo(b.x - hl * Math.cos(ang - 0.42), b.y - hl * Math.sin(ang - 0.42));
    ctx.lineTo(b.x - hl * Math.cos(ang + 0.42), b.y - hl * Math.sin(ang + 0.42));
    ctx.closePath(); ctx.fill();
    ctx.restore();
  }

  function drawAxis() {
    ctx.fillStyle = "#ffffff"; ctx.fillRect(0, 0, W, AXIS);
    ctx.fillStyle = "#dfe3ea"; ctx.fillRect(0, AXIS - 1, W, 1);
    var step = niceStep(view.t1 - view.t0, W - GUTTER);
    var first = Math.ceil(view.t0 / step) * step;
    ctx.fillStyle = "#6b7280"; ctx.font = "11px system-ui, sans-serif"; ctx.textBaseline = "middle";
    for (var t = first; t <= view.t1; t += step) {
      var x = X(t);
      if (x < GUTTER) continue;
      ctx.fillRect(x, AXIS - 6, 1, 6);
      ctx.fillText(rel(Math.round(t)), x + 3, AXIS / 2 - 1);
      ctx.save(); ctx.fillStyle = "rgba(0,0,0,0.045)"; ctx.fillRect(x, AXIS, 1, H - AXIS); ctx.restore();
    }
    ctx.fillStyle = "#1d2330"; ctx.font = "600 11px system-ui, sans-serif";
    ctx.fillText("process / lane", 8, AXIS / 2 - 1);
  }

  function drawScrollbar() {
    var viewH = H - AXIS;
    if (rowsHeight <= viewH) return;
    var th = Math.max(24, viewH * viewH / rowsHeight), ty = AXIS + (viewH - th) * view.scrollY / (rowsHeight - viewH + 4);
    ctx.fillStyle = "rgba(29,35,48,0.25)"; ctx.fillRect(W - 6, ty, 4, th);
  }

  function updateStatus() {
    var parts = ["Showing " + rel(Math.max(0, Math.round(view.t0))) + " … " + rel(Math.round(view.t1)) + " of " + dur(data.span_us)];
    if (filter.search) parts.push(searchHits.length + " scenario(s) match");
    parts.push("wheel: zoom · drag: pan · shift+wheel: scroll lanes · double-click: reset · click a finding to jump to it");
    $("status").textContent = parts.join("  ·  ");
  }

  // ---- hit testing & tooltip --------------------------------------------
  function hitTest(x, y) {
    if (x < GUTTER || y < AXIS) return null;
    // Finding endpoints first: they are small and on top.
    for (var f = 0; f < finds.length; f++) {
      if (filter.rule && finds[f].rule !== filter.rule) continue;
      var a = endPoint(finds[f].polluter), b = endPoint(finds[f].victim);
      if ((a && Math.abs(a.x - x) < 6 && Math.abs(a.y - y) < 6) || (b && Math.abs(b.x - x) < 7 && Math.abs(b.y - y) < 9))
        return { type: "finding", index: f };
    }
    var r = -1;
    for (var i = 0; i < rows.length; i++) { var ry = rowY(i); if (y >= ry && y < ry + ROW) { r = i; break; } }
    if (r < 0) return null;
    var row = rows[r], t = Tx(x), tol = (view.t1 - view.t0) / (W - GUTTER) * BUCKET;
    var inStrip = y >= rowY(r) + BAR_TOP + BAR + 1;
    var findMarks = function () {
      var ml = laneMark[row.proc][row.lane] || [], hits = [];
      for (var k = lowerBound(ml, mT, t - tol * 1.5); k < ml.length && marks[ml[k]].t_us <= t + tol * 1.5; k++)
        if (markVisible(ml[k])) hits.push(ml[k]);
      return hits.length ? { type: "markers", list: hits } : null;
    };
    var findBar = function () {
      var lane = laneScen[row.proc][row.lane] || [];
      var pxTol = (view.t1 - view.t0) / (W - GUTTER) * 2;
      for (var k = lowerBound(lane, sEnd, t - pxTol); k < lane.length; k++) {
        var s = scen[lane[k]];
        if (s.start_us > t + pxTol) break;
        if (scenVisible(lane[k])) return { type: "scenario", index: lane[k] };
      }
      return null;
    };
    var findAgg = function () {
      var al = laneAgg[row.proc][row.lane] || [], hits = [];
      var pxTol = (view.t1 - view.t0) / (W - GUTTER) * 2;
      for (var k = lowerBound(al, aEnd, t - pxTol); k < al.length && aggs[al[k]][2] <= t + pxTol; k++)
        if (aggVisible(al[k])) hits.push(al[k]);
      return hits.length ? { type: "aggregate", list: hits } : null;
    };
    return inStrip ? findMarks() || findAgg() || findBar() : findBar() || findMarks() || findAgg();
  }

  function ttRow(parent, key, val) {
    var d = el("div", "tt-row");
    d.appendChild(el("span", "tt-key", key));
    d.appendChild(el("span", "tt-val", val));
    parent.appendChild(d);
  }
  function procName(i) { var p = procs[i]; return p ? "pid " + p.pid + " · " + p.label : "?"; }
  function endName(e) {
    if (!e) return "—";
    return (e.feature ? e.feature + " / " : "") + e.name + " (pid " + e.pid + ")";
  }

  function showTip(h, mx, my) {
    tip.textContent = "";
    if (h.type === "scenario") {
      var s = scen[h.index];
      tip.appendChild(el("div", "tt-title", s.name || "(unnamed scenario)"));
      ttRow(tip, "feature", s.feature || "—");
      ttRow(tip, "process", procName(s.proc) + (s.lane ? " · overlap lane " + (s.lane + 1) : ""));
      ttRow(tip, "outcome", s.outcome.toUpperCase());
      ttRow(tip, "start", rel(s.start_us) + "  (" + wall(s.start_us) + ")");
      ttRow(tip, "end", rel(s.end_us) + (s.outcome === "unfinished" ? " (last record; never ended)" : ""));
      ttRow(tip, "duration", dur(s.end_us - s.start_us));
      ttRow(tip, "actions", String(scenMarkCount[h.index]));
      if (s.error) ttRow(tip, "error", s.error);
    } else if (h.type === "markers") {
      var list = h.list, m = marks[list[0]];
      if (list.length === 1) {
        tip.appendChild(el("div", "tt-title", m.action));
      } else {
        var byAction = {};
        list.forEach(function (j) { byAction[marks[j].action] = (byAction[marks[j].action] || 0) + 1; });
        tip.appendChild(el("div", "tt-title", list.length + " actions: " + Object.keys(byAction).map(function (a) { return byAction[a] + "× " + a; }).join(", ")));
      }
      ttRow(tip, "scenario", m.scenario === null ? "(outside any scenario)" : scen[m.scenario].name);
      ttRow(tip, "process", procName(m.proc));
      ttRow(tip, "time", rel(m.t_us) + "  (" + wall(m.t_us) + ")");
      list.slice(0, 6).forEach(function (j) {
        if (marks[j].details) ttRow(tip, marks[j].action, marks[j].details);
      });
      if (list.length > 6) ttRow(tip, "", "… " + (list.length - 6) + " more; zoom in to separate them");
    } else if (h.type === "aggregate") {
      // What the page really holds for this stretch: counts, kinds, time span.
      var total = 0, byKind = {}, t0 = Infinity, t1 = -Infinity, scens = 0, first = -1;
      h.list.forEach(function (j) {
        var a = aggs[j];
        for (var k = 6; k < a.length; k++) if (a[k]) { byKind[AGG_KINDS[k - 6]] = (byKind[AGG_KINDS[k - 6]] || 0) + a[k]; total += a[k]; }
        t0 = Math.min(t0, a[2]); t1 = Math.max(t1, a[3]); scens += a[5];
        if (first < 0 && a[4] >= 0) first = a[4];
      });
      tip.appendChild(el("div", "tt-title", total + " actions aggregated"));
      ttRow(tip, "kinds", KINDS.filter(function (k) { return byKind[k]; }).map(function (k) { return byKind[k] + " " + KIND_LABEL[k]; }).join(", "));
      ttRow(tip, "process", procName(aggs[h.list[0]][0]));
      ttRow(tip, "from", rel(t0) + "  (" + wall(t0) + ")");
      ttRow(tip, "to", rel(t1) + "  (" + dur(t1 - t0) + ")");
      if (first >= 0 && scen[first]) ttRow(tip, "scenario", scen[first].name + (scens > 1 ? "  (+" + (scens - 1) + " more)" : ""));
      tip.appendChild(el("div", "tt-expl", "Counted, not drawn one by one (level of detail). Zooming in shows this same aggregate; run with --detail full to draw each action."));
    } else if (h.type === "finding") {
      var fd = finds[h.index];
      tip.appendChild(el("div", "tt-title", fd.rule + " · " + fd.severity + (fd.likely_cause ? " · likely cause" : "")));
      ttRow(tip, "polluter", endName(fd.polluter));
      ttRow(tip, "victim", endName(fd.victim));
      ttRow(tip, "resource", fd.resource || "—");
      ttRow(tip, "at", rel(fd.at_us) + "  (" + wall(fd.at_us) + ")");
      if (fd.occurrences > 1) ttRow(tip, "times", String(fd.occurrences));
      tip.appendChild(el("div", "tt-expl", fd.explanation));
      if (fd.evidence) tip.appendChild(el("div", "tt-expl", "Evidence: " + fd.evidence));
      if (fd.history) tip.appendChild(el("div", "tt-expl", "History: " + fd.history));
      if (fd.verdict) tip.appendChild(el("div", "tt-expl", "Confirmed by reruns? " + fd.verdict));
      if (fd.reproduce) tip.appendChild(el("div", "tt-expl", "Reproduce: " + fd.reproduce));
    }
    tip.hidden = false;
    var bw = wrap.clientWidth, tw = tip.offsetWidth, th = tip.offsetHeight;
    var left = mx + 14, top = my + 14;
    if (left + tw > bw - 4) left = Math.max(4, mx - tw - 14);
    if (top + th > wrap.clientHeight - 4) top = Math.max(4, my - th - 14);
    tip.style.left = left + "px"; tip.style.top = top + "px";
  }
  function hideTip() { tip.hidden = true; }

  // ---- navigation ------------------------------------------------------------
  function setView(t0, t1) {
    var minSpan = 5, maxSpan = span * 1.5;
    var s = Math.min(Math.max(t1 - t0, minSpan), maxSpan), mid = (t0 + t1) / 2;
    view.t0 = mid - s / 2; view.t1 = mid + s / 2;
    redraw();
  }
  function resetView() { view.scrollY = 0; setView(-span * 0.02, span * 1.02); }

  canvas.addEventListener("wheel", function (e) {
    e.preventDefault();
    hideTip();
    var unit = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? H : 1;
    if (e.shiftKey) { view.scrollY += (e.deltaY || e.deltaX) * unit; clampScroll(); redraw(); return; }
    if (Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
      var dt = e.deltaX * unit * (view.t1 - view.t0) / (W - GUTTER);
      setView(view.t0 + dt, view.t1 + dt); return;
    }
    var rect = canvas.getBoundingClientRect(), x = Math.max(GUTTER, e.clientX - rect.left), at = Tx(x);
    var k = Math.exp(e.deltaY * unit * 0.0015);
    setView(at - (at - view.t0) * k, at + (view.t1 - at) * k);
  }, { passive: false });

  var drag = null;
  canvas.addEventListener("mousedown", function (e) {
    drag = { x: e.clientX, y: e.clientY, t0: view.t0, t1: view.t1, sy: view.scrollY, moved: false };
    canvas.classList.add("dragging");
  });
  window.addEventListener("mouseup", function (e) {
    if (!drag) return;
    var d = drag; drag = null; canvas.classList.remove("dragging");
    if (!d.moved) {
      var rect = canvas.getBoundingClientRect(), h = hitTest(e.clientX - rect.left, e.clientY - rect.top);
      if (h && h.type === "finding") selectFinding(h.index, false);
    }
  });
  window.addEventListener("mousemove", function (e) {
    var rect = canvas.getBoundingClientRect(), x = e.clientX - rect.left, y = e.clientY - rect.top;
    if (drag) {
      var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
      var dt = dx * (drag.t1 - drag.t0) / (W - GUTTER - 8);
      view.t0 = drag.t0 - dt; view.t1 = drag.t1 - dt; view.scrollY = drag.sy - dy; clampScroll();
      hideTip(); redraw(); return;
    }
    if (x < 0 || y < 0 || x > W || y > H) { if (hover) { hover = null; hideTip(); redraw(); } return; }
    var h = hitTest(x, y);
    var changed = JSON.stringify(h && { t: h.type, i: h.index }) !== JSON.stringify(hover && { t: hover.type, i: hover.index });
    hover = h;
    if (h) showTip(h, x, y); else hideTip();
    if (changed) redraw();
  });
  canvas.addEventListener("mouseleave", function () { if (!drag) { hover = null; hideTip(); redraw(); } });
  canvas.addEventListener("dblclick", resetView);
  canvas.addEventListener("keydown", function (e) {
    var s = view.t1 - view.t0, mid = (view.t0 + view.t1) / 2;
    if (e.key === "+" || e.key === "=") setView(mid - s / 3, mid + s / 3);
    else if (e.key === "-") setView(mid - s * 0.75, mid + s * 0.75);
    else if (e.key === "ArrowLeft") setView(view.t0 - s / 5, view.t1 - s / 5);
    else if (e.key === "ArrowRight") setView(view.t0 + s / 5, view.t1 + s / 5);
    else if (e.key === "ArrowUp") { view.scrollY -= ROW * 3; clampScroll(); redraw(); }
    else if (e.key === "ArrowDown") { view.scrollY += ROW * 3; clampScroll(); redraw(); }
    else if (e.key === "0") resetView();
    else return;
    e.preventDefault();
  });
  $("reset-view").addEventListener("click", resetView);

  // Scrolls so that rows ra..rb are in view (as far as they fit).
  function revealRows(ra, rb) {
    if (ra < 0 && rb < 0) return;
    if (ra < 0) ra = rb; if (rb < 0) rb = ra;
    var top = Math.min(rows[ra].y, rows[rb].y), bottom = Math.max(rows[ra].y, rows[rb].y) + ROW;
    var viewH = H - AXIS - 4;
    view.scrollY = bottom - top <= viewH ? (top + bottom) / 2 - viewH / 2 : top;
    clampScroll();
  }

  function selectFinding(i, fromTable) {
    var fd = finds[i];
    if (!fd) return;
    selected = i;
    // Make sure both ends are on screen: drop a filter that hides them.
    [fd.polluter, fd.victim].forEach(function (e) {
      if (e && e.proc !== null && procRow[e.proc] < 0) { filter.proc = ""; $("filter-process").value = ""; layout(); resize(); }
    });
    // Frame the mutation and where it hit the victim (and the victim's start),
    // not whole bars: a scenario can last minutes around a 1 ms cleanup.
    var ts = [fd.at_us];
    if (fd.polluter) ts.push(fd.polluter.t_us);
    if (fd.victim) {
      ts.push(fd.victim.t_us);
      if (fd.victim.scenario !== null && fd.victim.scenario !== undefined) {
        var vs = scen[fd.victim.scenario];
        ts.push(vs.start_us);
        if (!fd.polluter) ts.push(vs.end_us);
      }
    }
    // Centre the view on the mutation, wide enough to show the rest.
    var lo = Math.min.apply(null, ts), hi = Math.max.apply(null, ts), at = fd.polluter ? fd.polluter.t_us : fd.at_us;
    var half = Math.max(at - lo, hi - at) * 1.15 + Math.max(span * 0.004, 200);
    setView(at - half, at + half);
    var rp = fd.polluter && fd.polluter.proc !== null ? rowIndex(fd.polluter.proc, fd.polluter.scenario !== null ? scen[fd.polluter.scenario].lane : 0) : -1;
    var rv = fd.victim && fd.victim.proc !== null ? rowIndex(fd.victim.proc, fd.victim.scenario !== null ? scen[fd.victim.scenario].lane : 0) : -1;
    revealRows(rp, rv);
    markSelectedRow();
    if (fromTable) wrap.scrollIntoView({ block: "nearest", behavior: "auto" });
    else {
      var tr = document.querySelector('tr[data-finding="' + i + '"]');
      if (tr) tr.scrollIntoView({ block: "nearest" });
    }
    redraw();
  }

  // ---- header, filters --------------------------------------------------------
  function chip(label, value, cls) {
    var c = el("span", "chip" + (cls ? " " + cls : ""));
    c.appendChild(el("span", null, label));
    c.appendChild(el("b", null, value));
    return c;
  }
  // A summarised page says so, and how to get everything.
  function buildLodNote() {
    if (!lod || lod.detail !== "summary") return;
    var note = $("lod-note"), kinds = Object.keys(lod.aggregated_by_kind || {});
    note.textContent = "Level of detail: " + lod.aggregated.toLocaleString("en") + " of this run's actions (" +
      kinds.map(function (k) { return lod.aggregated_by_kind[k].toLocaleString("en") + " " + (KIND_LABEL[k] || k); }).join(", ") +
      ") are aggregated into time buckets per lane (translucent bands; hover for counts). Every scenario, every finding, every action of a failed or unfinished scenario and every mutation of shared state are drawn one by one" +
      (lod.over_budget ? " up to " + lod.marker_budget.toLocaleString("en") + " markers (" + lod.over_budget.toLocaleString("en") + " more aggregated)" : "") +
      ". To draw every action: trace-analyzer report … --format html --detail full (about " + Math.ceil(lod.full_estimate_bytes / 1e6) +
      " MB; pages over ~100 MB may not open in a browser).";
    note.hidden = false;
  }
  function buildHeader() {
    document.title = "State timeline · " + data.run_id;
    $("run-id").textContent = data.run_id || "(no run id)";
    $("run-id").title = data.run_id || "";
    $("origin").textContent = data.origin ? "started " + data.origin.replace("T", " ") + " · " + dur(data.span_us) : "";
    var sm = data.summary, box = $("summary");
    box.appendChild(chip("processes", sm.processes));
    box.appendChild(chip("scenarios", sm.scenarios));
    box.appendChild(chip("failures", sm.failures, sm.failures ? "bad" : ""));
    if (sm.unfinished) box.appendChild(chip("unfinished", sm.unfinished, "warn"));
    box.appendChild(chip("records", sm.records));
    var crashed = procs.filter(function (p) { return p.crashed; }).length;
    if (crashed) box.appendChild(chip("crashed processes", crashed, "bad"));
    var rules = Object.keys(sm.findings_by_rule || {});
    box.appendChild(chip("findings", finds.length, finds.length ? "warn" : ""));
    rules.forEach(function (r) {
      var c = chip(r, sm.findings_by_rule[r], "rule");
      c.setAttribute("role", "button"); c.setAttribute("aria-pressed", "false"); c.tabIndex = 0;
      c.dataset.rule = r;
      var toggle = function () {
        filter.rule = filter.rule === r ? "" : r;
        document.querySelectorAll(".chip.rule").forEach(function (x) { x.setAttribute("aria-pressed", String(x.dataset.rule === filter.rule)); });
        buildFindings(); redraw();
      };
      c.addEventListener("click", toggle);
      c.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); toggle(); } });
      box.appendChild(c);
    });
  }

  function toggleChip(parent, label, color, checked, onChange, diamond) {
    var l = el("label", "toggle"), cb = el("input");
    cb.type = "checkbox"; cb.checked = checked;
    cb.addEventListener("change", function () { onChange(cb.checked); });
    var sw = el("span", "swatch" + (diamond ? " diamond" : ""));
    sw.style.background = color;
    l.appendChild(cb); l.appendChild(sw); l.appendChild(el("span", null, label));
    parent.appendChild(l);
    return cb;
  }
  function buildFilters() {
    var ps = $("filter-process");
    procs.forEach(function (p, i) {
      var o = el("option", null, "pid " + p.pid + " · " + p.label + (p.crashed ? " (crashed)" : ""));
      o.value = String(i); ps.appendChild(o);
    });
    ps.addEventListener("change", function () { filter.proc = ps.value; layout(); resize(); view.scrollY = 0; redraw(); });
    var fs = $("filter-feature");
    features.forEach(function (f) { var o = el("option", null, f || "(no feature)"); o.value = f; fs.appendChild(o); });
    fs.addEventListener("change", function () { filter.feature = fs.value; runSearch(); redraw(); });
    OUTCOMES.forEach(function (o) {
      toggleChip($("filter-outcome"), o, OUTCOME_FILL[o], true, function (on) { filter.outcomes[o] = on; runSearch(); redraw(); });
    });
    var present = {};
    marks.forEach(function (m) { present[m.kind] = true; });
    Object.keys((lod && lod.aggregated_by_kind) || {}).forEach(function (k) { present[k] = true; });
    KINDS.forEach(function (k) {
      if (!present[k]) return;
      toggleChip($("filter-kind"), KIND_LABEL[k], KIND_COLOR[k], true, function (on) { filter.kinds[k] = on; redraw(); }, true);
    });
    var search = $("search");
    search.addEventListener("input", function () { filter.search = search.value; runSearch(); redraw(); });
    search.addEventListener("keydown", function (e) {
      if (e.key !== "Enter" || !searchHits.length) return;
      searchPos = (searchPos + 1) % searchHits.length;
      var s = scen[searchHits[searchPos]], pad1 = Math.max((s.end_us - s.start_us) * 0.5, 1000);
      setView(s.start_us - pad1, s.end_us + pad1);
      var r = rowIndex(s.proc, s.lane); revealRows(r, r); redraw();
    });
  }
  function runSearch() {
    searchHits = []; searchPos = -1;
    var q = filter.search.toLowerCase();
    if (q) for (var i = 0; i < scen.length; i++) if (scenVisible(i) && scen[i].name.toLowerCase().indexOf(q) >= 0) searchHits.push(i);
    $("search-count").textContent = q ? searchHits.length + " match" + (searchHits.length === 1 ? "" : "es") : "";
  }

  // ---- findings table (rendered a page at a time) -----------------------------
  var shown = 0, ordered = [];
  function buildFindings() {
    ordered = [];
    for (var i = 0; i < finds.length; i++) if (!filter.rule || finds[i].rule === filter.rule) ordered.push(i);
    $("findings-body").textContent = "";
    shown = 0;
    $("findings-count").textContent = "(" + ordered.length + (filter.rule ? " of " + finds.length + ", rule " + filter.rule : "") + ")";
    $("findings-empty").hidden = finds.length > 0;
    $("findings-table").hidden = finds.length === 0;
    showMore();
  }
  function endCell(td, e) {
    if (!e) { td.textContent = "—"; return; }
    td.appendChild(el("span", null, e.name || "(unnamed)"));
    td.appendChild(el("span", "sub", (e.feature ? e.feature + " · " : "") + "pid " + e.pid));
  }
  function showMore() {
    var body = $("findings-body"), end = Math.min(ordered.length, shown + PAGE);
    var frag = document.createDocumentFragment();
    for (var n = shown; n < end; n++) {
      var i = ordered[n], fd = finds[i];
      var tr = el("tr", "main"); tr.dataset.finding = String(i);
      tr.appendChild(el("td", null, n + 1));
      var sev = el("td"); sev.appendChild(el("span", "sev " + (fd.severity === "error" ? "error" : "warning"), fd.severity));
      if (fd.likely_cause) sev.appendChild(el("span", "likely", "likely cause"));
      tr.appendChild(sev);
      var tdrule = el("td", null, fd.rule);
      if (fd.occurrences > 1) tdrule.appendChild(el("span", "sub", "×" + fd.occurrences + " (first shown)"));
      tr.appendChild(tdrule);
      var tdp = el("td"); endCell(tdp, fd.polluter); tr.appendChild(tdp);
      var tdv = el("td"); endCell(tdv, fd.victim); tr.appendChild(tdv);
      var tdr = el("td", null, fd.resource || "—"); tdr.title = fd.resource || ""; tr.appendChild(tdr);
      tr.appendChild(el("td", null, rel(fd.at_us)));
      var ex = el("tr", "expl"); ex.dataset.finding = String(i);
      ex.appendChild(el("td"));
      var tde = el("td", "expl-cell", fd.explanation); tde.colSpan = 6; ex.appendChild(tde);
      if (fd.evidence) tde.appendChild(el("span", "evidence", "Evidence: " + fd.evidence));
      if (fd.history) tde.appendChild(el("span", "evidence", "History: " + fd.history));
      if (fd.verdict) tde.appendChild(el("span", "evidence", "Confirmed by reruns? " + fd.verdict));
      if (fd.reproduce) tde.appendChild(el("span", "repro", "Reproduce: " + fd.reproduce));
      frag.appendChild(tr); frag.appendChild(ex);
    }
    body.appendChild(frag);
    shown = end;
    var more = $("findings-more");
    more.hidden = shown >= ordered.length;
    more.textContent = "Show " + Math.min(PAGE, ordered.length - shown) + " more (" + (ordered.length - shown) + " left)";
    markSelectedRow();
  }
  $("findings-more").addEventListener("click", showMore);
  $("findings-body").addEventListener("click", function (e) {
    var tr = e.target.closest("tr[data-finding]");
    if (tr) selectFinding(Number(tr.dataset.finding), true);
  });
  function markSelectedRow() {
    document.querySelectorAll("#findings-body tr.selected").forEach(function (t) { t.classList.remove("selected"); });
    if (selected >= 0) document.querySelectorAll('#findings-body tr[data-finding="' + selected + '"]').forEach(function (t) { t.classList.add("selected"); });
  }

  // ---- start -------------------------------------------------------------------
  buildHeader();
  buildLodNote();
  buildFilters();
  buildFindings();
  layout();
  resize();
  draw();
  window.addEventListener("resize", function () { resize(); redraw(); });

  // A small hook for the browser test and the render benchmark.
  var firstDrawMs = performance.now();
  window.__timeline = {
    firstDrawMs: firstDrawMs,
    scriptMs: firstDrawMs - T0,
    counts: { processes: procs.length, scenarios: scen.length, markers: marks.length, aggregates: aggs.length, findings: finds.length, rows: rows.length },
    lod: lod,
    // The view model as the page reads it (a compact page's expanded).
    data: data,
    drawn: stats,
    view: function () { return { t0: view.t0, t1: view.t1, scrollY: view.scrollY, selected: selected }; },
    selectFinding: function (i) { selectFinding(i, true); draw(); },
    findingRows: function () { return document.querySelectorAll("#findings-body tr.main").length; },
    hitTest: hitTest,
    findingEnds: function (i) { return { polluter: endPoint(finds[i].polluter), victim: endPoint(finds[i].victim) }; },
    reset: function () { resetView(); draw(); },
    project: function (tUs, proc, lane) { var r = rowIndex(proc, lane || 0); return r < 0 ? null : { x: X(tUs), y: rowY(r) + BAR_TOP + BAR / 2, markY: rowY(r) + MARK_Y }; },
    draw: draw
  };
  document.body.dataset.ready = "1";
  document.body.dataset.firstDrawMs = String(Math.round(firstDrawMs));
})();
