// pbrl labeling statistics page (read-only).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const pct = (x) => (x === null || x === undefined ? "–" : `${(100 * x).toFixed(1)} %`);
  const when = (t) => (t ? new Date(t * 1000).toLocaleString() : "–");

  function fill(tableId, rows, cells, emptyText, leftCols) {
    const body = $(tableId).querySelector("tbody");
    body.replaceChildren();
    if (!rows.length) {
      const tr = body.insertRow();
      const td = tr.insertCell();
      td.colSpan = $(tableId).querySelectorAll("th").length;
      td.className = "left";
      td.textContent = emptyText;
      return;
    }
    for (const row of rows) {
      const tr = body.insertRow();
      cells(row).forEach((value, i) => {
        const td = tr.insertCell();
        td.textContent = String(value);
        if (leftCols.includes(i)) td.className = "left";
      });
    }
  }

  async function load() {
    try {
      const [stats, task] = await Promise.all([
        fetch("/api/stats", { cache: "no-store" }).then((r) => r.json()),
        fetch("/api/task", { cache: "no-store" }).then((r) => r.json()),
      ]);
      $("task-id").textContent = task.task || "";
      const s = stats.store;
      $("store-line").textContent =
        `${s.queries} queries: ${s.open} open, ${s.labelled} labelled, ${s.skipped} skipped · ${s.labels} labels, ${s.skips} skips · ${s.labelers} registered labelers`;
      fill("labelers", stats.labelers, (r) => [r.labeler, r.kind, r.answers, r.left, r.right, r.equal, r.skipped, when(r.last)], "No answers yet.", [0, 1, 7]);
      fill("agreement", stats.agreement, (r) => [r.a, r.b, r.shared, r.agree, pct(r.agreement)], "No query has been answered by two labelers yet.", [0, 1]);
      fill("oracle", stats.oracle, (r) => [r.labeler, r.compared, r.agree, pct(r.agreement), r.equal], "No labelled query with known true rewards yet.", [0]);
      const rt = stats.ratings;
      $("rating-line").textContent =
        `${rt.queries} rating queries: ${rt.open} open, ${rt.rated} rated, ${rt.skipped} skipped · ${rt.ratings} ratings, ${rt.skips} skips · ${rt.rated_segments} segments rated`;
      const levels = (counts) => counts.map((n, i) => `${i + 1}: ${n}`).join(" · ") || "–";
      fill("raters", rt.labelers, (r) => [r.labeler, r.kind, r.ratings, r.skipped, levels(r.levels), when(r.last)], "No ratings yet.", [0, 1, 4, 5]);
      const rk = stats.rankings;
      $("ranking-line").textContent =
        `${rk.lists} ranked lists finished, ${rk.open} open · ${rk.ranked_segments} segments ranked · ${rk.comparisons} comparisons`;
      fill("rankers", rk.labelers, (r) => [r.labeler, r.kind, r.lists, r.in_progress, r.segments, r.comparisons], "No rankings yet.", [0, 1]);
      $("status").textContent = `Updated ${new Date().toLocaleTimeString()}.`;
    } catch (e) {
      $("status").textContent = `Could not load the statistics: ${e.message}`;
    }
  }

  load();
  setInterval(load, 10000);
})();
