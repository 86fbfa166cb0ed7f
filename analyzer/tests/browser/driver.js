#!/usr/bin/env node
// Drives Debian's headless Chromium over the HTML timeline report.
//
//   node driver.js check FILE.html SCREENSHOT.png [SEARCH] -> JSON observations on stdout
//   node driver.js bench FILE.html [RUNS]           -> JSON load-to-first-draw times
//   node driver.js shot FILE.html OUT.png [ROW]     -> screenshots for the docs (ROW: finding to click)
//   node driver.js lod FILE.html SCREENSHOT.png     -> observations of a page drawn with a level of detail
//   node driver.js findings FILE.html SCREENSHOT.png -> the same without hovering every aggregate (big pages)
//
// It only observes and reports; analyzer/tests/browser.rs decides what passes.
// Chromium comes from the system (CHROMIUM, else /usr/bin/chromium), never a download.
"use strict";
const path = require("path");
const { chromium } = require("playwright-core");

const EXECUTABLE = process.env.CHROMIUM || "/usr/bin/chromium";
const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--disable-dev-shm-usage",
];

async function open(browser, file, width) {
  const context = await browser.newContext({ viewport: { width: width || 1400, height: 900 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const seen = { console: [], pageErrors: [], dialogs: [], requests: [] };
  page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") seen.console.push(m.type() + ": " + m.text()); });
  page.on("pageerror", (e) => seen.pageErrors.push(String(e)));
  page.on("dialog", async (d) => { seen.dialogs.push(d.type() + ": " + d.message()); await d.dismiss(); });
  page.on("request", (r) => seen.requests.push(r.url()));
  const url = "file://" + path.resolve(file);
  await page.goto(url, { waitUntil: "load", timeout: 60000 });
  await page.waitForFunction(() => document.body && document.body.dataset.ready === "1", null, { timeout: 60000 });
  seen.url = url;
  return { context, page, seen };
}

// The final screenshot, and what went wrong in the page (errors, dialogs,
// requests leaving it), added to the observations.
async function screenshotAndProblems(page, seen, screenshot, out) {
  await page.screenshot({ path: screenshot, fullPage: true });
  out.console = seen.console;
  out.pageErrors = seen.pageErrors;
  out.dialogs = seen.dialogs;
  out.foreignRequests = seen.requests.filter((u) => u !== seen.url);
  return out;
}

async function check(browser, file, screenshot, search) {
  const { page, seen } = await open(browser, file);
  const out = {};
  out.counts = await page.evaluate(() => window.__timeline.counts);
  out.drawn = await page.evaluate(() => Object.assign({}, window.__timeline.drawn));
  out.findingRows = await page.evaluate(() => window.__timeline.findingRows());
  out.imgElements = await page.evaluate(() => document.querySelectorAll("img").length);
  out.scriptElements = await page.evaluate(() => document.querySelectorAll("script").length);
  out.title = await page.title();
  out.runIdText = await page.evaluate(() => document.getElementById("run-id").textContent);
  out.summaryText = await page.evaluate(() => document.getElementById("summary").textContent);
  out.findingsText = await page.evaluate(() => document.getElementById("findings-body").textContent);

  // Hover every scenario bar's middle and collect the tooltip titles: proves
  // the bars are drawn where the model says and that names stay text.
  out.tooltips = await page.evaluate(() => {
    const data = window.__timeline.data;
    const t = window.__timeline, canvas = document.getElementById("timeline"), r = canvas.getBoundingClientRect();
    const titles = [];
    data.scenarios.forEach((s, i) => {
      const p = t.project((s.start_us + s.end_us) / 2, s.proc, s.lane);
      if (!p) return;
      const h = t.hitTest(p.x, p.y);
      titles.push({ index: i, hit: h && h.type === "scenario" ? h.index : null });
    });
    return { titles, rect: { x: r.x, y: r.y } };
  });
  // A real mouse hover over the hostile-named bar (the driver is told nothing:
  // it hovers every bar and records the tooltip text).
  out.hoverTexts = [];
  const bars = await page.evaluate(() => {
    const data = window.__timeline.data;
    const t = window.__timeline, r = document.getElementById("timeline").getBoundingClientRect();
    return data.scenarios.map((s) => {
      const p = t.project((s.start_us + s.end_us) / 2, s.proc, s.lane);
      return p && { x: r.x + p.x, y: r.y + p.y };
    });
  });
  for (const b of bars) {
    if (!b) { out.hoverTexts.push(null); continue; }
    await page.mouse.move(b.x, b.y);
    out.hoverTexts.push(await page.evaluate(() => {
      const tip = document.getElementById("tooltip");
      return tip.hidden ? null : (tip.querySelector(".tt-title") || tip).textContent;
    }));
  }
  await page.mouse.move(5, 5);

  // Click the first finding row: the view must move (zoom/scroll) to it.
  out.viewBefore = await page.evaluate(() => window.__timeline.view());
  const row = await page.$("#findings-body tr.main");
  if (row) {
    await row.click();
    await page.waitForTimeout(100);
  }
  out.viewAfter = await page.evaluate(() => window.__timeline.view());
  out.drawnAfterClick = await page.evaluate(() => { window.__timeline.draw(); return Object.assign({}, window.__timeline.drawn); });
  out.selectedRow = await page.evaluate(() => {
    const tr = document.querySelector("#findings-body tr.main.selected");
    return tr ? Number(tr.dataset.finding) : null;
  });

  // Wheel zooms around the pointer; dragging pans.
  const c = await page.evaluate(() => { const r = document.getElementById("timeline").getBoundingClientRect(); return { x: r.x + r.width * 0.6, y: r.y + 40 }; });
  await page.mouse.move(c.x, c.y);
  const spanOf = (v) => v.t1 - v.t0;
  const v0 = await page.evaluate(() => window.__timeline.view());
  await page.mouse.wheel(0, -400);
  await page.waitForTimeout(50);
  const v1 = await page.evaluate(() => window.__timeline.view());
  out.wheelZoomedIn = spanOf(v1) < spanOf(v0);
  await page.mouse.down();
  await page.mouse.move(c.x - 200, c.y, { steps: 4 });
  await page.mouse.up();
  const v2 = await page.evaluate(() => window.__timeline.view());
  out.dragPannedLater = v2.t0 > v1.t0 && Math.abs(spanOf(v2) - spanOf(v1)) < 1e-6 * spanOf(v1) + 1e-9;
  // The process filter leaves one process's lanes: bars drawn per choice.
  out.barsByProcess = {};
  const options = await page.evaluate(() => Array.from(document.querySelectorAll("#filter-process option")).map((o) => [o.value, o.textContent]));
  for (const [value, label] of options) {
    if (!value) continue;
    await page.selectOption("#filter-process", value);
    out.barsByProcess[label] = await page.evaluate(() => { window.__timeline.draw(); return window.__timeline.drawn.bars; });
  }
  await page.selectOption("#filter-process", "");

  // Filters and search work on the real DOM controls.
  await page.fill("#search", search || "");
  out.searchCount = await page.evaluate(() => document.getElementById("search-count").textContent);
  await page.fill("#search", "");

  return screenshotAndProblems(page, seen, screenshot, out);
}

// Screenshots for the docs: the whole page, then the view after clicking
// the first finding (SHOT-finding.png), so a reader sees both.
async function shot(browser, file, png, rowIndex) {
  const { page, seen } = await open(browser, file);
  await page.screenshot({ path: png, fullPage: false });
  const rows = await page.$$("#findings-body tr.main");
  const row = rows[Number(rowIndex || 0)];
  let zoomed = null;
  if (row) {
    await row.click();
    await page.waitForTimeout(100);
    const box = await page.evaluate(() => {
      const f = window.__timeline.data.findings[window.__timeline.view().selected];
      const t = window.__timeline, r = document.getElementById("timeline").getBoundingClientRect();
      const v = f.victim;
      const p = v && v.proc !== null && t.project(v.t_us, v.proc, 0);
      return { top: r.y + window.scrollY, x: p ? r.x + p.x : null, y: p ? r.y + p.y : null };
    });
    await page.evaluate((y) => window.scrollTo(0, Math.max(0, y - 150)), box.top);
    zoomed = png.replace(/\.png$/, "-finding.png");
    await page.screenshot({ path: zoomed, fullPage: false });
  }
  return { png, zoomed, errors: seen.pageErrors.concat(seen.console) };
}

// A page with aggregates: is every finding drawn and clickable, where are
// the aggregates around it, and what do their tooltips say when hovered?
async function lod(browser, file, screenshot, hoverAggregates) {
  const { page, seen } = await open(browser, file);
  const out = {};
  out.counts = await page.evaluate(() => window.__timeline.counts);
  out.lod = await page.evaluate(() => window.__timeline.lod);
  out.drawn = await page.evaluate(() => { window.__timeline.draw(); return Object.assign({}, window.__timeline.drawn); });
  out.note = await page.evaluate(() => { const n = document.getElementById("lod-note"); return n.hidden ? null : n.textContent; });
  // Each finding: clicking its row selects it and zooms onto it; there,
  // hit-testing its victim end finds it (or a finding with an end at that
  // very point); and how many aggregates of the victim's lane lie before
  // and after it.
  out.findings = [];
  out.selectedAfterClick = [];
  // The table shows 100 rows at a time: show them all, so every finding is clicked.
  while (await page.evaluate(() => { const b = document.getElementById("findings-more"); return !b.hidden && (b.click(), true); }));
  const rows = await page.$$("#findings-body tr.main");
  for (let i = 0; i < rows.length; i++) {
    await rows[i].click();
    await page.waitForTimeout(50);
    out.selectedAfterClick.push(await page.evaluate(() => window.__timeline.view().selected));
    out.findings.push(await page.evaluate((i) => {
      const data = window.__timeline.data, t = window.__timeline;
      t.draw();
      const f = data.findings[i], v = f.victim, byId = {};
      data.scenarios.forEach((s) => { byId[s.id] = s; });
      const p = t.findingEnds(i).victim, h = p && t.hitTest(p.x, p.y);
      const same = (e) => e && p && Math.abs(e.x - p.x) < 1 && Math.abs(e.y - p.y) < 1;
      const shared = h && h.type === "finding" && h.index !== i &&
        (same(t.findingEnds(h.index).victim) || same(t.findingEnds(h.index).polluter));
      const lane = v && v.scenario !== null ? byId[v.scenario].lane : 0;
      const around = data.aggregates.filter((a) => v && a[0] === v.proc && a[1] === lane);
      return {
        hit: h && h.type === "finding" ? (shared ? i : h.index) : null,
        aggregatesBefore: around.filter((a) => a[3] < v.t_us).length,
        aggregatesAfter: around.filter((a) => a[2] > v.t_us).length,
      };
    }, i));
  }
  await page.evaluate(() => window.__timeline.reset());
  await page.evaluate(() => document.getElementById("timeline").scrollIntoView());
  // Hover the middle of every aggregate with the real mouse; keep the tooltip text.
  const points = !hoverAggregates ? [] : await page.evaluate(() => {
    const data = window.__timeline.data, t = window.__timeline;
    const r = document.getElementById("timeline").getBoundingClientRect();
    return data.aggregates.map((a) => {
      const p = t.project((a[2] + a[3]) / 2, a[0], a[1]);
      return p && { x: r.x + p.x, y: r.y + p.markY };
    });
  });
  out.aggregateTips = [];
  for (const p of points) {
    if (!p) continue;
    await page.mouse.move(p.x, p.y);
    const tip = await page.evaluate(() => {
      const tip = document.getElementById("tooltip");
      if (tip.hidden) return null;
      return { title: (tip.querySelector(".tt-title") || tip).textContent, text: tip.textContent,
        rows: Array.from(tip.querySelectorAll(".tt-row")).map((r) => r.textContent), elements: tip.querySelectorAll("*").length };
    });
    if (tip && out.aggregateTips.every((t) => t.text !== tip.text)) out.aggregateTips.push(tip);
  }
  await page.mouse.move(5, 5);
  out.imgElements = await page.evaluate(() => document.querySelectorAll("img").length);
  return screenshotAndProblems(page, seen, screenshot, out);
}

async function bench(browser, file, runs) {
  const times = [];
  for (let i = 0; i < runs; i++) {
    const { context, page } = await open(browser, file);
    const t = await page.evaluate(() => {
      const tl = window.__timeline;
      // Redraw cost when fully zoomed out (the worst case: everything visible).
      const n = 20, t0 = performance.now();
      for (let k = 0; k < n; k++) tl.draw();
      return { firstDrawMs: tl.firstDrawMs, scriptMs: tl.scriptMs, redrawMs: (performance.now() - t0) / n, counts: tl.counts };
    });
    times.push(t);
    await context.close();
  }
  return times;
}

(async () => {
  const [mode, file, arg, extra] = process.argv.slice(2);
  if (!mode || !file) {
    console.error("usage: driver.js check FILE.html SCREENSHOT.png | bench FILE.html [RUNS]");
    process.exit(2);
  }
  const browser = await chromium.launch({ executablePath: EXECUTABLE, headless: true, args: ARGS });
  try {
    const result = mode === "bench" ? await bench(browser, file, Number(arg || 5))
      : mode === "shot" ? await shot(browser, file, arg, extra)
      : mode === "lod" ? await lod(browser, file, arg, true)
      : mode === "findings" ? await lod(browser, file, arg, false)
      : await check(browser, file, arg, extra);
    process.stdout.write(JSON.stringify(result) + "\n");
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error("driver failed: " + (e && e.stack || e));
  process.exit(1);
});
