// pbrl rating and ranking views (rate.html, rank.html): keyboard first. No build step.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const VIEW = document.body.dataset.view; // "rate" or "rank"
  const main = $("main");
  let token = null;
  let current = null; // the rating query or the ranking on screen
  let busy = false;
  let ready = false;
  let loadSeq = 0;
  let emptyTimer = null;

  // -- token and API (common.js) ---------------------------------------------------
  const { TOKEN_KEY, AuthError, readToken } = window.pbrlPage;
  const api = window.pbrlPage.makeApi(() => token, () => showLogin("That token is not valid for this store."));

  // -- views ------------------------------------------------------------------------
  function show(which) {
    for (const id of ["login", "labeling", "empty"]) $(id).hidden = id !== which;
    $("logout").hidden = which === "login";
    $("who").hidden = which === "login";
  }

  function status(text, isError) {
    $("status").textContent = text || "";
    $("status").classList.toggle("error", !!isError);
  }

  function setProgress(done, left, text) {
    $("progress-text").textContent = text;
    $("progress-bar").max = Math.max(1, done + left);
    $("progress-bar").value = done;
    main.dataset.labelled = String(done);
  }

  function showLogin(message) {
    stopPoll();
    show("login");
    $("login-error").textContent = message || "";
    $("token-input").focus();
  }

  function showEmpty(text) {
    current = null;
    ready = false;
    main.dataset.itemId = "";
    document.querySelectorAll("video").forEach((v) => v.pause());
    show("empty");
    if (text) $("empty-text").textContent = text;
    if (!emptyTimer) emptyTimer = setInterval(() => { if (!busy) load().catch(() => {}); }, 4000);
  }

  function stopPoll() {
    if (emptyTimer) clearInterval(emptyTimer);
    emptyTimer = null;
  }

  // -- clips ------------------------------------------------------------------------
  function loadClip(video, problem, side) {
    video.pause();
    if (!side.clip) {
      video.removeAttribute("src");
      video.hidden = true;
      problem.textContent = `${side.problem} Press S to skip.`;
      problem.hidden = false;
      return Promise.resolve();
    }
    problem.hidden = true;
    video.hidden = false;
    video.src = side.clip;
    video.load();
    return new Promise((resolve) => {
      const done = (ok) => {
        video.removeEventListener("canplay", yes);
        video.removeEventListener("error", no);
        if (!ok) {
          problem.textContent = "The clip could not be played. Press S to skip.";
          problem.hidden = false;
          video.hidden = true;
        }
        resolve();
      };
      const yes = () => done(true);
      const no = () => done(false);
      video.addEventListener("canplay", yes);
      video.addEventListener("error", no);
    });
  }

  function showItem(item, id, clips) {
    stopPoll();
    show("labeling");
    current = item;
    ready = false;
    const seq = ++loadSeq;
    main.dataset.itemId = String(id);
    main.dataset.ready = "false";
    Promise.all(clips.map(([v, p, s]) => loadClip($(v), $(p), s))).then(() => {
      if (seq !== loadSeq) return;
      ready = true;
      main.dataset.ready = "true";
      document.querySelectorAll("video[src]").forEach((v) => { v.currentTime = 0; v.play().catch(() => {}); });
    });
  }

  // -- rating view ------------------------------------------------------------------
  function ratingProgress(p) {
    setProgress(p.labelled, p.queued, `${p.labelled} rated · ${p.queued} queued`);
  }

  function renderRating(data) {
    $("who").textContent = data.labeler ? `Labeler: ${data.labeler}` : "";
    ratingProgress(data.progress);
    const q = data.query;
    if (!q) return showEmpty(data.progress.total ? `You have rated all ${data.progress.total} clips in this store.` : "The store holds no clips to rate yet.");
    const levels = $("levels");
    if (levels.childElementCount !== q.n_classes) {
      levels.replaceChildren();
      for (let level = 1; level <= q.n_classes; level++) {
        const b = document.createElement("button");
        b.type = "button";
        b.dataset.level = String(level);
        b.setAttribute("aria-keyshortcuts", String(level % 10));
        b.innerHTML = `<kbd>${level % 10}</kbd> ${level === 1 ? "worst" : level === q.n_classes ? "best" : ""}`;
        b.addEventListener("click", () => rate(level));
        levels.appendChild(b);
      }
    }
    $("scale-text").textContent = `Press 1 (worst) to ${q.n_classes} (best).`;
    main.dataset.nClasses = String(q.n_classes);
    status(q.answer !== null && q.answer !== undefined ? "You rated this clip before; rate it again." : "");
    showItem(q, q.id, [["video-one", "problem-one", q.clip]]);
  }

  async function rate(level) {
    if (!current || busy || !ready) return;
    if (level !== null && (level < 1 || level > current.n_classes)) {
      status(`This clip is rated 1 to ${current.n_classes}.`, true);
      return;
    }
    busy = true;
    ready = false;
    main.dataset.ready = "false";
    const body = level === null ? { rating_query_id: current.id, skip: true } : { rating_query_id: current.id, rating: level };
    try {
      const r = await api("POST", "/api/ratings", body);
      status(level === null ? `Skipped clip ${r.rating_query_id}.` : `Saved: clip ${r.rating_query_id} rated ${level}.`);
      ratingProgress(r.progress);
      await load();
    } catch (e) {
      if (e instanceof AuthError) return;
      status(`Could not save the rating: ${e.message}`, true);
      ready = true;
      main.dataset.ready = "true";
    } finally {
      busy = false;
    }
  }

  // -- ranking view -----------------------------------------------------------------
  function renderRanking(data) {
    $("who").textContent = data.labeler ? `Labeler: ${data.labeler}` : "";
    const r = data.ranking;
    if (!r || r.candidate === null) return showEmpty("Every ranking in this store is finished.");
    const total = r.placed + r.pending + r.dropped;
    setProgress(r.placed + r.dropped, r.pending,
      `${r.placed} of ${total} clips placed · at most ${r.most_comparisons_left} more comparisons for this clip`);
    main.dataset.step = String(r.step);
    main.dataset.rankingId = String(r.id);
    showItem(r, `${r.id}:${r.step}`, [["video-left", "problem-left", r.reference], ["video-right", "problem-right", r.candidate]]);
  }

  async function compare(choice) {
    if (!current || busy || !ready) return;
    busy = true;
    ready = false;
    main.dataset.ready = "false";
    try {
      const r = await api("POST", "/api/ranking/answer", { ranking_id: current.id, step: current.step, choice });
      if (r.done) status(`List ${current.id} is complete: ${r.pairs} pairs saved.`);
      else status(r.placed ? "Placed. Next clip." : "Saved. Next comparison.");
      await load();
    } catch (e) {
      if (e instanceof AuthError) return;
      status(`Could not save the answer: ${e.message}`, true);
      if (e.status === 409 || e.status === 404) await load().catch(() => {});
      else { ready = true; main.dataset.ready = "true"; }
    } finally {
      busy = false;
    }
  }

  // -- both -------------------------------------------------------------------------
  async function load() {
    if (VIEW === "rate") renderRating(await api("GET", "/api/rating/next"));
    else renderRanking(await api("GET", "/api/ranking/next"));
  }

  async function undo() {
    if (busy) return;
    busy = true;
    try {
      if (VIEW === "rate") {
        const r = await api("POST", "/api/ratings/undo");
        if (r.rating_query_id === null) { status("Nothing to undo."); return; }
        renderRating({ labeler: null, query: r.query, progress: r.progress });
        status(`Undone: clip ${r.rating_query_id} is back — rate it again.`);
      } else {
        if (!current) { status("Nothing to undo."); return; }
        const r = await api("POST", "/api/ranking/undo", { ranking_id: current.id });
        if (!r.undone) { status("Nothing to undo in this list."); return; }
        renderRanking({ labeler: null, ranking: r.ranking });
        status("Undone: answer that comparison again.");
      }
    } catch (e) {
      if (!(e instanceof AuthError)) status(`Could not undo: ${e.message}`, true);
    } finally {
      busy = false;
    }
  }

  if (VIEW === "rate") {
    $("btn-skip").addEventListener("click", () => rate(null));
  } else {
    document.querySelectorAll("button[data-choice]").forEach((b) => b.addEventListener("click", () => compare(b.dataset.choice)));
  }
  $("btn-undo").addEventListener("click", undo);
  $("btn-undo-empty").addEventListener("click", undo);

  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
    const tag = e.target && e.target.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || !$("login").hidden) return;
    let act = null;
    if (e.key === "u" || e.key === "U") act = undo;
    else if (VIEW === "rate") {
      if (e.key === "s" || e.key === "S") act = () => rate(null);
      else if (/^[0-9]$/.test(e.key)) act = () => rate(e.key === "0" ? 10 : Number(e.key));
    } else {
      const keys = { ArrowLeft: "left", ArrowRight: "right", "=": "equal", s: "skip", S: "skip" };
      if (keys[e.key]) act = () => compare(keys[e.key]);
    }
    if (act) {
      e.preventDefault();
      act();
    }
  });

  $("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    token = $("token-input").value.trim();
    if (!token) return;
    try { await api("GET", "/api/me"); } catch (err) { return; }
    localStorage.setItem(TOKEN_KEY, token);
    $("token-input").value = "";
    start();
  });

  $("logout").addEventListener("click", () => {
    localStorage.removeItem(TOKEN_KEY);
    token = null;
    showLogin("");
  });

  async function start() {
    show("labeling");
    main.focus({ preventScroll: true });
    try { await load(); } catch (e) { if (!(e instanceof AuthError)) status(`Could not reach the server: ${e.message}`, true); }
  }

  fetch("/api/task", { cache: "no-store" }).then((r) => r.json()).then((t) => {
    $("task-id").textContent = t.task || "";
    $("goal").textContent = t.goal ? `The task: ${t.goal}` : "The store does not name its task; judge by what the robot should be doing.";
  }).catch(() => {});

  token = readToken();
  if (token) start();
  else showLogin("");
})();
