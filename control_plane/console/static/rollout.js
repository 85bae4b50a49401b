// The rollout page: a chosen file fills the config box, and a running rollout's figures
// are redrawn from /console/rollout/current.json every 5 s.
"use strict";

function shown(figures) {
  return {
    requests: String(figures.requests),
    error_rate: (figures.error_rate * 100).toFixed(2) + " %",
    p99_ms: figures.p99_ms.toFixed(1) + " ms",
  };
}

async function refresh(section) {
  let answer;
  try {
    answer = await fetch("/console/rollout/current.json", { cache: "no-store" });
  } catch (error) {
    return;
  }
  if (answer.redirected || !answer.ok) return;
  const { rollout } = await answer.json();
  if (rollout === null) return;
  for (const row of section.querySelectorAll("#rollout-figures tbody tr")) {
    const values = shown(rollout.figures[row.dataset.side]);
    for (const [key, text] of Object.entries(values)) row.querySelector(`.${key}`).textContent = text;
  }
  document.getElementById("rollout-state").textContent = rollout.state.replace("_", " ");
  if (rollout.state !== "running") {
    const actions = document.getElementById("rollout-actions");
    if (actions !== null) actions.hidden = true;
  }
}

window.addEventListener("DOMContentLoaded", () => {
  const file = document.getElementById("config-file");
  if (file !== null) {
    file.addEventListener("change", async () => {
      if (file.files.length === 0) return;
      document.getElementById("f-config").value = await file.files[0].text();
      document.getElementById("candidate-config").checked = true;
    });
  }
  const section = document.getElementById("rollout");
  if (section !== null && section.dataset.state === "running") {
    window.setInterval(() => refresh(section), 5000);
  }
});
