// Shared by the labeling pages (app.js: pairs; feedback.js: rating and ranking): the token and the JSON API.
"use strict";

window.pbrlPage = (() => {
  const TOKEN_KEY = "pbrl-label-token";

  class AuthError extends Error {}

  // the token from ?token=... (kept out of the address bar) or from an earlier visit
  function readToken() {
    const url = new URL(window.location.href);
    const fromUrl = url.searchParams.get("token");
    if (fromUrl) {
      localStorage.setItem(TOKEN_KEY, fromUrl);
      url.searchParams.delete("token");
      history.replaceState(null, "", url.pathname + url.search + url.hash);
    }
    return localStorage.getItem(TOKEN_KEY);
  }

  // api(method, path, body) -> the JSON answer; a 401 calls onUnauthorized and throws AuthError,
  // other errors throw an Error with the server's detail and .status
  function makeApi(getToken, onUnauthorized) {
    return async function api(method, path, body) {
      const headers = { Authorization: "Bearer " + getToken() };
      const init = { method, headers, cache: "no-store" };
      if (body !== undefined) {
        headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(body);
      }
      const res = await fetch(path, init);
      let data = null;
      try { data = await res.json(); } catch (e) { data = null; }
      if (res.status === 401) {
        onUnauthorized();
        throw new AuthError("unauthorized");
      }
      if (!res.ok) {
        const detail = data && data.detail !== undefined ? data.detail : res.statusText;
        const err = new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
        err.status = res.status;
        throw err;
      }
      return data;
    };
  }

  return { TOKEN_KEY, AuthError, readToken, makeApi };
})();
