// The taonet coordinator dashboard. It reads the coordinator's JSON API
// (/api/summary, /api/rounds, /api/peers) every REFRESH_MS and draws the
// plots as SVG and the tables as DOM, with no library and nothing from
// another origin. Text from the API only ever goes in through textContent.
//
// What it drew is recorded for tests: <body data-state> is loading, ready
// (the last refresh rendered) or error, data-refreshes counts renders, and
// each plot's <figure> has data-series (lines with at least one point)
// and data-points (points drawn); each line is a path.series with
// data-peer and data-points.
"use strict";

const REFRESH_MS = 5000;
const ROUNDS_PLOTTED = 100;
const ROUNDS_LISTED = 20;
const SVG = "http://www.w3.org/2000/svg";
const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2",
  "#db2777", "#65a30d", "#475569", "#ea580c", "#0d9488", "#9333ea"];

// colors keeps each peer's color for the life of the page, so that a
// change in the order of the balances does not repaint the lines. The
// supply, alone in its plot, has a color of its own.
const SUPPLY = "supply";
const colors = new Map([[SUPPLY, "#e11d48"]]);
function colorOf(id) {
  if (!colors.has(id)) colors.set(id, PALETTE[(colors.size - 1) % PALETTE.length]);
  return colors.get(id);
}

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function svgEl(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

async function getJSON(path) {
  const resp = await fetch(path, { cache: "no-store", headers: { Accept: "application/json" } });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(`${path}: ${resp.status} ${body.error || resp.statusText}`);
  return body;
}

// niceStep is a round step (1, 2 or 5 times a power of ten) near span/n.
function niceStep(span, n) {
  const raw = span / n;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const f = raw / p;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

function fmtNumber(v) {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + "M";
  if (a >= 1e3) return (v / 1e3).toFixed(a >= 1e4 ? 0 : 1) + "k";
  if (a >= 10) return v.toFixed(0);
  if (a >= 1) return v.toFixed(1).replace(/\.0$/, "");
  return v.toFixed(a >= 0.1 ? 2 : 3).replace(/0+$/, "");
}

// plot draws series ({id, name, values}) over the rounds xs into fig:
// values[i] belongs to xs[i], null for no point (the line breaks there).
// opts: min and max clamp the y axis; zero starts it at 0; fmt labels it.
function plot(fig, xs, series, opts) {
  const W = 560, H = 250, L = 48, R = 12, T = 10, B = 30;
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
  const caption = fig.querySelector("figcaption");
  fig.replaceChildren(caption, svg);
  const ys = series.flatMap((s) => s.values.filter((v) => v !== null));
  if (xs.length === 0 || ys.length === 0) {
    const t = svgEl("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" });
    t.textContent = "no settled round yet";
    svg.append(t);
    fig.dataset.series = "0";
    fig.dataset.points = "0";
    return;
  }
  let lo = opts.zero ? 0 : Math.min(...ys), hi = Math.max(...ys);
  if (hi === lo) { hi += Math.abs(hi) * 0.1 || 1; lo -= opts.zero ? 0 : Math.abs(lo) * 0.1; }
  const step = niceStep(hi - lo, 4);
  lo = Math.floor(lo / step) * step;
  hi = Math.ceil(hi / step) * step;
  if (opts.min !== undefined) lo = Math.max(lo, opts.min);
  if (opts.max !== undefined) hi = Math.min(hi, opts.max);
  let x0 = xs[0], x1 = xs[xs.length - 1];
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  const px = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const py = (y) => T + (1 - (y - lo) / (hi - lo)) * (H - T - B);

  for (let y = lo; y <= hi + step / 1e6; y += step) {
    svg.append(svgEl("line", { x1: L, x2: W - R, y1: py(y), y2: py(y), class: "grid" }));
    const t = svgEl("text", { x: L - 6, y: py(y) + 4, "text-anchor": "end" });
    t.textContent = (opts.fmt || fmtNumber)(y);
    svg.append(t);
  }
  const xstep = Math.max(1, Math.ceil(niceStep(x1 - x0, 6)));
  for (let x = Math.ceil(x0 / xstep) * xstep; x <= x1; x += xstep) {
    if (x < xs[0] || x > xs[xs.length - 1]) continue;
    svg.append(svgEl("line", { x1: px(x), x2: px(x), y1: H - B, y2: H - B + 4, class: "axis" }));
    const t = svgEl("text", { x: px(x), y: H - B + 16, "text-anchor": "middle" });
    t.textContent = String(x);
    svg.append(t);
  }
  svg.append(svgEl("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, class: "axis" }));
  const xl = svgEl("text", { x: W - R, y: H - 2, "text-anchor": "end" });
  xl.textContent = "round";
  svg.append(xl);

  let drawn = 0, points = 0;
  const dots = xs.length <= 60;
  for (const s of series) {
    let d = "", n = 0, pen = false;
    const color = colorOf(s.id);
    const g = svgEl("g");
    s.values.forEach((v, i) => {
      if (v === null) { pen = false; return; }
      const x = px(xs[i]).toFixed(1), y = py(v).toFixed(1);
      d += `${pen ? "L" : "M"}${x},${y} `;
      pen = true;
      n++;
      if (dots) {
        const c = svgEl("circle", { cx: x, cy: y, r: 2.5, fill: color });
        const title = svgEl("title");
        title.textContent = `${s.name}, round ${xs[i]}: ${(opts.fmt || fmtNumber)(v)}`;
        c.append(title);
        g.append(c);
      }
    });
    if (n === 0) continue;
    const path = svgEl("path", { d: d.trim(), class: "series", stroke: color, "data-peer": s.id, "data-points": n });
    g.prepend(path);
    svg.append(g);
    drawn++;
    points += n;
  }
  fig.dataset.series = String(drawn);
  fig.dataset.points = String(points);
}

// scored says whether an evaluation has a loss and accuracy to plot: a
// duplicate's are real too (it is only not paid); a timeout's or an
// invalid answer's are not.
function scored(e) {
  return e.status === "scored" || e.status === "duplicate";
}

function renderPlots(hist) {
  const xs = hist.rounds.map((r) => r.number);
  const byPeer = (pick) => hist.peers.map((p, k) => ({
    id: p.identity,
    name: p.name,
    values: hist.rounds.map((r) => {
      const e = (r.evaluations || []).find((e) => e.identity === p.identity);
      return pick(r, e, k);
    }),
  }));
  const pct = (v) => `${Math.round(v * 100)}%`;
  plot(document.getElementById("plot-loss"), xs,
    byPeer((r, e) => (e && scored(e) ? e.loss : null)), {});
  plot(document.getElementById("plot-accuracy"), xs,
    byPeer((r, e) => (e && scored(e) ? e.accuracy : null)), { min: 0, max: 1, fmt: pct });
  plot(document.getElementById("plot-weight"), xs,
    byPeer((r, e) => (e ? e.weight : null)), { min: 0, max: 1, zero: true, fmt: pct });
  plot(document.getElementById("plot-balance"), xs,
    byPeer((r, e, k) => (r.state === "open" || !r.balances_tao ? null : parseFloat(r.balances_tao[k]))), { zero: true });
  plot(document.getElementById("plot-supply"), xs,
    [{ id: SUPPLY, name: "minted", values: hist.rounds.map((r) => (r.minted_tao ? parseFloat(r.minted_tao) : null)) }], { zero: true });

  const legend = document.getElementById("legend");
  legend.replaceChildren(...[...hist.peers].sort((a, b) => a.name.localeCompare(b.name)).map((p) => {
    const chip = el("i");
    chip.style.background = colorOf(p.identity);
    const item = el("span", { title: p.identity });
    item.append(chip, document.createTextNode(p.name));
    return item;
  }));
}

function pad(n) { return String(n).padStart(2, "0"); }

function fmtTime(iso) {
  if (!iso) return "–";
  const t = new Date(iso), now = new Date();
  const hms = `${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}`;
  if (t.toDateString() === now.toDateString()) return hms;
  return `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ${hms}`;
}

function fmtDuration(ms) {
  const s = ms / 1000;
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

function badge(state) {
  return el("span", { class: `state state-${state}` }, state);
}

function row(cells) {
  const tr = el("tr");
  for (const c of cells) {
    const td = el("td", c.num ? { class: "num" } : {});
    if (c.node) td.append(c.node); else td.textContent = c.text;
    tr.append(td);
  }
  return tr;
}

function renderRounds(hist) {
  const rounds = hist.rounds.slice(-ROUNDS_LISTED).reverse();
  document.querySelector("#rounds tbody").replaceChildren(...rounds.map((r) => {
    const status = el("span");
    status.append(badge(r.state));
    if (r.phase) status.append(document.createTextNode(` ${r.phase}`));
    const took = r.closed_at
      ? fmtDuration(new Date(r.closed_at) - new Date(r.opened_at))
      : `${fmtDuration(Date.now() - new Date(r.opened_at))} so far`;
    return row([
      { text: String(r.number), num: true },
      { node: status },
      { text: fmtTime(r.opened_at) },
      { text: took, num: true },
      { text: r.state === "open" ? "–" : `${r.scored} of ${r.evaluated}`, num: true },
      { text: r.state === "open" ? "–" : r.emission_tao, num: true },
    ]);
  }));
}

function renderDirectory(dir) {
  document.getElementById("directory-count").textContent =
    dir.peers.length < dir.total ? `(first ${dir.peers.length} of ${dir.total})` : `(${dir.total})`;
  document.querySelector("#directory tbody").replaceChildren(...dir.peers.map((p) => {
    const who = el("span");
    who.append(el("strong", {}, p.name), el("br"), el("span", { class: "id" }, p.identity));
    const model = p.architecture ? `${p.architecture} on ${p.device}` + (p.parameters ? `, ${fmtNumber(p.parameters)} params` : "") : "–";
    return row([
      { node: who },
      { node: badge(p.state) },
      { text: p.address || "–" },
      { text: model },
      { text: fmtTime(p.joined_at) },
      { text: p.balance_tao, num: true },
    ]);
  }));
}

function renderSummary(sum) {
  document.getElementById("network").textContent = `${sum.trust_domain} · task ${sum.task}`;
  const r = sum.round;
  document.getElementById("sum-round").textContent =
    r.number === 0 ? "none yet" : `${r.number} · ${r.phase || r.state}`;
  const p = sum.peers;
  document.getElementById("sum-peers").textContent =
    `${p.joined} joined` + (p.away ? `, ${p.away} away` : "") + ` of ${p.total}`;
  document.getElementById("sum-minted").textContent = `${sum.minted_tao} of ${sum.cap_tao} TAO`;
  document.getElementById("sum-emission").textContent = `${sum.emission_tao} TAO`;
  document.getElementById("updated").textContent = `updated ${fmtTime(sum.time)}`;
}

let refreshes = 0;

async function refresh() {
  const banner = document.getElementById("error");
  try {
    const [sum, hist, dir] = await Promise.all([
      getJSON("/api/summary"),
      getJSON(`/api/rounds?last=${ROUNDS_PLOTTED}`),
      getJSON("/api/peers"),
    ]);
    // Colors go to the peers by name the first time they are seen.
    [...hist.peers].sort((a, b) => a.name.localeCompare(b.name)).forEach((p) => colorOf(p.identity));
    renderSummary(sum);
    renderPlots(hist);
    renderRounds(hist);
    renderDirectory(dir);
    banner.hidden = true;
    document.body.dataset.state = "ready";
    document.body.dataset.refreshes = String(++refreshes);
  } catch (err) {
    banner.textContent = `Cannot read the coordinator: ${err.message}. Retrying every ${REFRESH_MS / 1000} s.`;
    banner.hidden = false;
    document.body.dataset.state = "error";
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

refresh();
