// The overview's live parts: three SVG charts of the last 15 minutes and the nodes table,
// redrawn from /console/fleet.json every few seconds. Plain DOM calls, no library, no
// inline code (the console's CSP allows neither).
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const WINDOW = 15 * 60; // seconds shown
const WIDTH = 300, HEIGHT = 120, LEFT = 4, TOP = 14, BOTTOM = 4;

function svg(name, attrs) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

function shown(value, unit) {
  if (value === null || value === undefined) return "-";
  if (unit === "%") return (value * 100).toFixed(2) + " %";
  if (unit === "ms") return value.toFixed(1) + " ms";
  return value.toFixed(value < 10 ? 2 : 0) + " " + unit;
}

function drawChart(figure, samples, now) {
  const key = figure.dataset.series, unit = figure.dataset.unit;
  const chart = figure.querySelector("svg");
  const points = samples.filter((s) => s[key] !== null && s.t >= now - WINDOW);
  const top = Math.max(...points.map((s) => s[key]), unit === "%" ? 0.01 : 1) * 1.15;
  const x = (t) => LEFT + ((t - (now - WINDOW)) / WINDOW) * (WIDTH - LEFT);
  const y = (v) => HEIGHT - BOTTOM - (v / top) * (HEIGHT - TOP - BOTTOM);
  chart.replaceChildren(
    svg("line", { x1: LEFT, y1: HEIGHT - BOTTOM, x2: WIDTH, y2: HEIGHT - BOTTOM, class: "axis" }),
    svg("line", { x1: LEFT, y1: TOP, x2: WIDTH, y2: TOP, class: "grid" }),
  );
  const scale = svg("text", { x: LEFT + 2, y: TOP - 3, class: "scale" });
  scale.textContent = shown(top, unit);
  chart.append(scale);
  if (points.length > 0) {
    const line = points.map((s) => `${x(s.t).toFixed(1)},${y(s[key]).toFixed(1)}`).join(" ");
    chart.append(svg("polyline", { points: line, class: "line" }));
  }
  const last = points.length > 0 ? points[points.length - 1][key] : null;
  figure.querySelector(".now").textContent = shown(last, unit);
}

function cell(row, text, tag = "td") {
  const node = document.createElement(tag);
  if (tag === "th") node.setAttribute("scope", "row");
  node.textContent = text;
  row.append(node);
  return node;
}

function drawNodes(nodes, total) {
  const body = document.querySelector("#nodes tbody");
  document.getElementById("nodes-table").hidden = nodes.length === 0;
  document.getElementById("no-nodes").hidden = nodes.length > 0;
  document.getElementById("nodes-more").hidden = total <= nodes.length;
  document.getElementById("nodes-count").textContent = String(total);
  body.replaceChildren(
    ...nodes.map((node) => {
      const row = document.createElement("tr");
      cell(row, node.id, "th");
      const labels = cell(row, "");
      for (const [key, value] of Object.entries(node.labels).sort()) {
        const label = document.createElement("span");
        label.className = "label";
        label.textContent = `${key}=${value}`;
        labels.append(label, " ");
      }
      const status = document.createElement("span");
      status.className = `status status-${node.status.toLowerCase()}`;
      status.textContent = node.status;
      cell(row, "").append(status);
      cell(row, node.applied_version ? `v${node.applied_version}` : "-");
      cell(row, node.candidate_version ? `v${node.candidate_version}` : "-");
      cell(row, node.last_seen.slice(0, 19).replace("T", " "));
      cell(row, node.last_error || "").className = "wrap";
      return row;
    }),
  );
}

function drawRelease(release) {
  document.getElementById("release-line").hidden = release === null;
  document.getElementById("no-release").hidden = release !== null;
  if (release === null) return;
  const link = document.getElementById("current-release");
  link.textContent = `v${release.version}`;
  link.setAttribute("href", `/console/releases/${release.version}`);
  document.getElementById("release-made").textContent = release.created_at.slice(0, 19).replace("T", " ");
  document.getElementById("release-author").textContent = release.author;
  document.getElementById("release-hash").textContent = release.hash.slice(0, 12);
}

async function refresh(charts) {
  let answer;
  try {
    answer = await fetch("/console/fleet.json", { credentials: "same-origin", cache: "no-store" });
  } catch (error) {
    return; // the control plane is restarting: try again at the next tick
  }
  if (answer.redirected || answer.status === 401) {
    window.location.assign("/console/sign-in"); // the session ended
    return;
  }
  if (!answer.ok) return;
  const fleet = await answer.json();
  const now = Date.now() / 1000;
  for (const figure of charts.querySelectorAll("figure.chart")) drawChart(figure, fleet.samples, now);
  drawNodes(fleet.nodes, fleet.total_nodes);
  drawRelease(fleet.release);
  document.getElementById("updated").textContent = new Date().toLocaleTimeString();
}

window.addEventListener("DOMContentLoaded", () => {
  const charts = document.getElementById("charts");
  if (charts === null) return;
  const every = Number(charts.dataset.interval) * 1000 || 5000;
  refresh(charts);
  window.setInterval(() => refresh(charts), every);
});
