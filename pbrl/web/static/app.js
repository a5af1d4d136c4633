// pbrl labeling page: two clips side by side, answers by click or key. No build step.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const NAMES = { left: "left is better", right: "right is better", equal: "equally good", skip: "skipped" };
  const videos = [$("video-left"), $("video-right")];
  const main = $("main");

  let token = null;
  let current = null; // the query on screen
  let busy = false; // a request is in flight
  let ready = false; // the current query's clips are loaded (or known to be unplayable)
  let loadSeq = 0;
  let emptyTimer = null;

  // -- token and API (common.js) ---------------------------------------------------
  const { TOKEN_KEY, AuthError, readToken } = window.pbrlPage;
  const api = window.pbrlPage.makeApi(() => token, () => showLogin("That token is not valid for this store."));

  // -- views --------------------------------------------------------------------
  function show(which) {
    for (const id of ["login", "labeling", "empty"]) $(id).hidden = id !== which;
    $("logout").hidden = which === "login";
    $("who").hidden = which === "login";
  }

  function status(text, isError) {
    const el = $("status");
    el.textContent = text || "";
    el.classList.toggle("error", !!isError);
  }

  function setProgress(p) {
    if (!p) return;
    const done = p.labelled, left = p.queued;
    $("progress-text").textContent = `${done} labelled · ${left} queued`;
    const bar = $("progress-bar");
    bar.max = Math.max(1, done + left);
    bar.value = done;
    main.dataset.labelled = String(done);
    main.dataset.queued = String(left);
  }

  function showLogin(message) {
    stopEmptyPoll();
    pauseAll();
    current = null;
    show("login");
    $("login-error").textContent = message || "";
    $("token-input").focus();
  }

  function showEmpty(progress) {
    current = null;
    ready = false;
    main.dataset.queryId = "";
    pauseAll();
    show("empty");
    const p = progress || {};
    $("empty-text").textContent = p.total
      ? `You have answered all ${p.total} queries in this store (${p.labelled} answers, ${p.skipped} skipped).`
      : "The store holds no queries yet.";
    if (!emptyTimer) emptyTimer = setInterval(() => { if (!busy) loadNext().catch(() => {}); }, 4000);
  }

  function stopEmptyPoll() {
    if (emptyTimer) clearInterval(emptyTimer);
    emptyTimer = null;
  }

  // -- clips ----------------------------------------------------------------------
  const playable = () => videos.filter((v) => v.getAttribute("src"));

  function pauseAll() { videos.forEach((v) => v.pause()); }

  function restart() {
    const vs = playable();
    vs.forEach((v) => { v.currentTime = 0; });
    vs.forEach((v) => { v.play().catch(() => {}); });
  }

  // loop in sync: when both have ended, both start again
  videos.forEach((v) => v.addEventListener("ended", () => {
    if (playable().every((x) => x.ended)) restart();
  }));
  // keep the right clip on the left clip's clock
  videos[0].addEventListener("timeupdate", () => {
    const [a, b] = videos;
    if (!a.paused && !b.paused && b.getAttribute("src") && Math.abs(a.currentTime - b.currentTime) > 0.12) {
      b.currentTime = a.currentTime;
    }
  });

  function whenLoaded(v) {
    return new Promise((resolve) => {
      if (v.readyState >= 3) return resolve(true);
      const done = (ok) => { v.removeEventListener("canplay", yes); v.removeEventListener("error", no); resolve(ok); };
      const yes = () => done(true);
      const no = () => done(false);
      v.addEventListener("canplay", yes);
      v.addEventListener("error", no);
    });
  }

  async function clipProblem(url) {
    try {
      const res = await fetch(url, { cache: "no-store" });
      const data = await res.json();
      return data.detail || res.statusText;
    } catch (e) {
      return "the clip could not be played";
    }
  }

  function showQuery(q) {
    stopEmptyPoll();
    show("labeling");
    current = q;
    ready = false;
    const seq = ++loadSeq;
    main.dataset.queryId = String(q.id);
    main.dataset.ready = "false";
    status(q.answer ? `You answered this pair before (${NAMES[q.answer]}); it is shown again after an undo.` : "");
    const sides = [q.left, q.right];
    const waits = videos.map((v, i) => {
      const s = sides[i];
      const problem = $(i === 0 ? "problem-left" : "problem-right");
      v.pause();
      if (s.clip) {
        problem.hidden = true;
        v.hidden = false;
        v.src = s.clip;
        v.load();
        return whenLoaded(v).then(async (ok) => {
          if (!ok && seq === loadSeq) {
            problem.textContent = (await clipProblem(s.clip)) + " Press S to skip this pair.";
            problem.hidden = false;
            v.hidden = true;
            v.removeAttribute("src");
          }
        });
      }
      v.removeAttribute("src");
      v.load();
      v.hidden = true;
      problem.textContent = `${s.problem} Press S to skip this pair.`;
      problem.hidden = false;
      return Promise.resolve();
    });
    Promise.all(waits).then(() => {
      if (seq !== loadSeq) return;
      ready = true;
      main.dataset.ready = "true";
      restart();
    });
  }

  function prefetch(urls) {
    for (const url of urls || []) fetch(url).catch(() => {}); // warms the server's and the browser's cache
  }

  function render(data) {
    $("who").textContent = data.labeler ? `Labeler: ${data.labeler}` : "";
    setProgress(data.progress);
    if (!data.query) {
      showEmpty(data.progress);
      return;
    }
    showQuery(data.query);
    prefetch(data.upcoming);
  }

  async function loadNext() {
    render(await api("GET", "/api/next"));
  }

  // -- answers --------------------------------------------------------------------
  function flash(choice) {
    const btn = document.querySelector(`button[data-choice="${choice}"]`);
    if (!btn) return;
    btn.classList.add("chosen");
    setTimeout(() => btn.classList.remove("chosen"), 350);
  }

  async function answer(choice) {
    if (!current || busy || !ready) return;
    const q = current;
    busy = true;
    ready = false;
    main.dataset.ready = "false";
    flash(choice);
    let saved = false;
    try {
      const r = await api("POST", "/api/labels", { query_id: q.id, choice });
      saved = true;
      status(`Saved pair ${r.query_id}: ${NAMES[choice]}.`);
      setProgress(r.progress);
      await loadNext();
    } catch (e) {
      if (e instanceof AuthError) return;
      if (saved) {
        status(`Saved, but the next pair could not be loaded: ${e.message}. Reload the page.`, true);
      } else if (e.status === 409 || e.status === 404) {
        status(e.message, true);
        await loadNext().catch(() => {});
      } else {
        status(`Could not save the answer: ${e.message}`, true);
        ready = true;
        main.dataset.ready = "true";
      }
    } finally {
      busy = false;
    }
  }

  async function undo() {
    if (busy) return;
    busy = true;
    try {
      const r = await api("POST", "/api/undo");
      setProgress(r.progress);
      if (r.query_id === null || r.query_id === undefined) {
        status("Nothing to undo.");
        return;
      }
      const d = await api("GET", `/api/queries/${r.query_id}`);
      render(d);
      status(`Undone: pair ${r.query_id} is back — answer it again.`);
    } catch (e) {
      if (!(e instanceof AuthError)) status(`Could not undo: ${e.message}`, true);
    } finally {
      busy = false;
    }
  }

  // -- input ----------------------------------------------------------------------
  document.querySelectorAll("button[data-choice]").forEach((b) =>
    b.addEventListener("click", () => answer(b.dataset.choice)));
  $("btn-undo").addEventListener("click", undo);
  $("btn-undo-empty").addEventListener("click", undo);
  $("btn-replay").addEventListener("click", restart);

  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
    const tag = e.target && e.target.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || !$("login").hidden) return;
    const actions = {
      ArrowLeft: () => answer("left"),
      ArrowRight: () => answer("right"),
      "=": () => answer("equal"),
      s: () => answer("skip"),
      S: () => answer("skip"),
      u: undo,
      U: undo,
      r: restart,
      R: restart,
    };
    const act = actions[e.key];
    if (act) {
      e.preventDefault();
      act();
    }
  });

  $("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    token = $("token-input").value.trim();
    if (!token) return;
    try {
      await api("GET", "/api/me");
    } catch (err) {
      return;
    }
    localStorage.setItem(TOKEN_KEY, token);
    $("token-input").value = "";
    start();
  });

  $("logout").addEventListener("click", () => {
    localStorage.removeItem(TOKEN_KEY);
    token = null;
    showLogin("");
  });

  // -- start ----------------------------------------------------------------------
  async function loadTask() {
    try {
      const res = await fetch("/api/task", { cache: "no-store" });
      const t = await res.json();
      $("task-id").textContent = t.task || "";
      $("goal").textContent = t.goal
        ? `The task: ${t.goal}`
        : "The store does not name its task; judge by what the robot should be doing.";
      const p = t.playback;
      if (p) {
        $("speed").textContent = p.speed < 0.99
          ? `Clips play at ${p.speed.toFixed(2)}× real time (${Math.round(p.fps)} frames/s).`
          : `Clips play in real time (${Math.round(p.fps)} frames/s).`;
      }
    } catch (e) {
      /* the page works without it */
    }
  }

  async function start() {
    show("labeling");
    main.focus({ preventScroll: true });
    try {
      await loadNext();
    } catch (e) {
      if (!(e instanceof AuthError)) status(`Could not reach the server: ${e.message}`, true);
    }
  }

  loadTask();
  token = readToken();
  if (token) start();
  else showLogin("");
})();
