// The latent browser's page logic: hash routes (#/sae/NAME, #/sae/NAME/latent/ID, #/prompt),
// the latent list (search, sort, paging), the latent page and the prompt page, with keyboard
// navigation. Data comes as script files that call GSAE.register (see lib/browser/site.ts), so
// the same page works from the server and from file:// in an export. Cards and prompt views are
// drawn by render.js, shared with the notebooks' inline views.
(function () {
  "use strict";
  const R = globalThis.GsaeRender;
  const PAGE = 50;

  // Data loading: a script per key; the script calls GSAE.register(key, value).
  const store = new Map(), waiting = new Map();
  globalThis.GSAE = {
    register(key, value) {
      store.set(key, value);
      const w = waiting.get(key);
      if (w) (waiting.delete(key), w.resolve(value));
    },
  };
  function load(key, src) {
    if (store.has(key)) return Promise.resolve(store.get(key));
    if (waiting.has(key)) return waiting.get(key).promise;
    let resolve, reject;
    const promise = new Promise((res, rej) => (resolve = res, reject = rej));
    waiting.set(key, { promise, resolve });
    const script = document.createElement("script");
    script.src = src;
    script.onerror = () => (waiting.delete(key), reject(new Error(`cannot load ${src}`)));
    document.head.appendChild(script);
    return promise;
  }

  const state = {
    manifest: null,
    vocab: [],
    sae: null, // current SiteSAE
    list: new Map(), // per SAE: { query, sort, page, selected }
    order: [], // latent ids matching the query, in the current sort
    prompt: { text: "", html: "" },
    view: "list",
  };
  const main = () => document.getElementById("main");
  const saeByName = (name) => state.manifest.saes.find((s) => s.name === name) ?? null;
  const latentHref = (sae, id) => `#/sae/${encodeURIComponent(sae)}/latent/${id}`;
  const listState = () => {
    if (!state.list.has(state.sae.name)) {
      state.list.set(state.sae.name, { query: "", sort: "freq", page: 0, selected: 0 });
    }
    return state.list.get(state.sae.name);
  };
  const tokenOf = (id) => (id === null || id === undefined ? "" : state.vocab[id] ?? "?");

  const SORTS = {
    freq: { label: "frequency", key: (ix, i) => -ix.freq[i] },
    maxAct: { label: "max activation", key: (ix, i) => -ix.maxAct[i] },
    meanGrad: { label: "mean |∇L·d̂|", key: (ix, i) => -(ix.meanGrad[i] ?? -Infinity) },
    lens: {
      label: "logit-lens top token",
      key: (ix, i) => tokenOf(ix.lensTop[i]).trim().toLowerCase(),
    },
  };

  function matches(ix, i, query) {
    if (query === "") return true;
    if (/^#?\d+$/.test(query)) return i === Number(query.replace("#", ""));
    const q = query.toLowerCase();
    const ids = [ix.lensTop[i], ...ix.topTokens[i]];
    return ids.some((id) => id !== null && tokenOf(id).trim().toLowerCase().includes(q));
  }

  function computeOrder(ix, ls) {
    const query = ls.query.trim(), sort = SORTS[ls.sort] ?? SORTS.freq;
    const ids = [];
    for (let i = 0; i < ix.freq.length; i++) if (matches(ix, i, query)) ids.push(i);
    const keys = new Map(ids.map((i) => [i, sort.key(ix, i)]));
    ids.sort((a, b) => {
      const ka = keys.get(a), kb = keys.get(b);
      return ka < kb ? -1 : ka > kb ? 1 : a - b;
    });
    return ids;
  }

  async function showList() {
    state.view = "list";
    const sae = state.sae, ls = listState();
    const ix = await load(`index/${sae.name}`, `data/${sae.name}/index.js`);
    if (state.sae !== sae || state.view !== "list") return;
    state.order = computeOrder(ix, ls);
    const pages = Math.max(1, Math.ceil(state.order.length / PAGE));
    ls.page = Math.min(ls.page, pages - 1);
    const rows = state.order.slice(ls.page * PAGE, (ls.page + 1) * PAGE);
    ls.selected = Math.min(ls.selected, Math.max(0, rows.length - 1));
    const sortOptions = Object.entries(SORTS).map(([k, s]) =>
      `<option value="${k}"${k === ls.sort ? " selected" : ""}>${R.esc(s.label)}</option>`
    ).join("");
    const body = rows.map((i, r) =>
      `<tr data-testid="latent-row" data-latent="${i}" class="${
        r === ls.selected ? "selected" : ""
      }">` +
      `<td><a href="${latentHref(sae.name, i)}">#${i}</a></td><td>${R.pct(ix.freq[i])}</td>` +
      `<td>${R.fmt(ix.maxAct[i])}</td><td>${R.fmt(ix.meanGrad[i])}</td>` +
      `<td><code>${R.esc(R.tokenText(tokenOf(ix.lensTop[i])))}</code></td><td>${
        ix.topTokens[i].map((id) => `<code>${R.esc(R.tokenText(tokenOf(id)))}</code>`).join(" ")
      }</td></tr>`
    ).join("");
    main().innerHTML = `<div class="controls">` +
      `<input type="search" id="search" data-testid="search" placeholder="latent id or token (press /)" value="${
        R.esc(ls.query)
      }">` +
      `<label>sort by <select id="sort" data-testid="sort">${sortOptions}</select></label>` +
      `<span class="muted" data-testid="count">${state.order.length} of ${ix.freq.length} latents</span></div>` +
      `<table class="latents"><thead><tr><th>latent</th><th>frequency</th><th>max activation</th>` +
      `<th>mean |∇L·d̂| (firing)</th><th>logit-lens top token</th><th>fires most on</th></tr></thead>` +
      `<tbody>${body}</tbody></table>` +
      `<div class="pager"><button id="prev-page" data-testid="prev-page"${
        ls.page === 0 ? " disabled" : ""
      }>‹ previous</button>` +
      `<span data-testid="page">page ${ls.page + 1} of ${pages}</span>` +
      `<button id="next-page" data-testid="next-page"${
        ls.page + 1 >= pages ? " disabled" : ""
      }>next ›</button></div>`;
    const search = document.getElementById("search");
    search.addEventListener("input", () => {
      ls.query = search.value;
      ls.page = 0;
      ls.selected = 0;
      refreshList(true);
    });
    document.getElementById("sort").addEventListener("change", (e) => {
      ls.sort = e.target.value;
      ls.page = 0;
      ls.selected = 0;
      refreshList(false);
    });
    document.getElementById("prev-page").addEventListener("click", () => turnPage(-1));
    document.getElementById("next-page").addEventListener("click", () => turnPage(1));
    for (const tr of main().querySelectorAll("tbody tr")) {
      tr.addEventListener(
        "click",
        () => (location.hash = latentHref(sae.name, Number(tr.dataset.latent))),
      );
    }
  }

  async function refreshList(keepSearchFocus) {
    await showList();
    if (keepSearchFocus) {
      const s = document.getElementById("search");
      s.focus();
      s.setSelectionRange(s.value.length, s.value.length);
    }
  }

  function turnPage(delta) {
    const ls = listState(), pages = Math.max(1, Math.ceil(state.order.length / PAGE));
    const page = Math.min(pages - 1, Math.max(0, ls.page + delta));
    if (page !== ls.page) (ls.page = page, ls.selected = 0, showList());
  }

  function moveSelection(delta) {
    const ls = listState(), rows = main().querySelectorAll("tbody tr");
    if (rows.length === 0) return;
    ls.selected = Math.min(rows.length - 1, Math.max(0, ls.selected + delta));
    rows.forEach((tr, r) => tr.classList.toggle("selected", r === ls.selected));
    rows[ls.selected].scrollIntoView({ block: "nearest" });
  }

  async function showLatent(id) {
    state.view = "latent";
    const sae = state.sae;
    if (!(Number.isInteger(id) && id >= 0 && id < sae.dSae)) {
      main().innerHTML = `<p class="error">${R.esc(sae.name)} has no latent ${
        R.esc(String(id))
      } (0–${sae.dSae - 1})</p>`;
      return;
    }
    const shard = Math.floor(id / sae.shardSize);
    const latents = await load(
      `latents/${sae.name}/${shard}`,
      `data/${sae.name}/latents_${shard}.js`,
    );
    if (state.sae !== sae || state.view !== "latent") return;
    const latent = latents[id - shard * sae.shardSize];
    const card = R.latentCardHtml(latent, {
      vocab: state.vocab,
      sae,
      pair: sae.pair,
      link: (name, i) => latentHref(name, i),
    });
    main().innerHTML =
      `<div class="latent-nav"><a href="#/sae/${
        encodeURIComponent(sae.name)
      }" data-testid="back">← list</a>` +
      (id > 0
        ? `<a href="${latentHref(sae.name, id - 1)}" data-testid="prev-latent">‹ #${id - 1}</a>`
        : "") +
      (id + 1 < sae.dSae
        ? `<a href="${latentHref(sae.name, id + 1)}" data-testid="next-latent">#${id + 1} ›</a>`
        : "") +
      `<span class="muted">${R.esc(sae.description)}</span></div>${card}`;
    document.title = `${sae.name} latent ${id} · gsae latent browser`;
  }

  function showPrompt() {
    state.view = "prompt";
    if (state.manifest.mode !== "server") {
      main().innerHTML =
        `<p data-testid="prompt-unavailable">The prompt page runs the model, so it needs ` +
        `the server: <code>deno task browse</code>. This is a static export.</p>`;
      return;
    }
    main().innerHTML =
      `<p>Type a text: per token, the active latents of each SAE; for gradient-aware SAEs ` +
      `the latents the gradient swapped in or out (z: pre-activation, |d·g|: the decoder direction's ` +
      `derivative of the loss); each token's next-token loss clean and with the SAE spliced in.</p>` +
      `<textarea id="prompt-text" data-testid="prompt-text" maxlength="4000">${
        R.esc(state.prompt.text)
      }</textarea>` +
      `<p><button id="prompt-run" data-testid="prompt-run">analyse (Ctrl+Enter)</button> ` +
      `<span id="prompt-status" class="muted" data-testid="prompt-status"></span></p>` +
      `<div id="prompt-result">${state.prompt.html}</div>`;
    const area = document.getElementById("prompt-text");
    area.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) (e.preventDefault(), runPrompt());
    });
    document.getElementById("prompt-run").addEventListener("click", runPrompt);
  }

  async function runPrompt() {
    const text = document.getElementById("prompt-text").value;
    const status = document.getElementById("prompt-status");
    state.prompt.text = text;
    status.textContent = "running…";
    status.className = "muted";
    try {
      const res = await fetch("api/prompt", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ text }),
      });
      const body = await res.json();
      if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`);
      state.prompt.html = R.promptViewHtml(body, { link: latentHref });
      if (state.view !== "prompt") return;
      document.getElementById("prompt-result").innerHTML = state.prompt.html;
      status.textContent = `${body.tokens.length} tokens`;
    } catch (e) {
      status.textContent = e.message;
      status.className = "error";
    }
  }

  async function route() {
    const hash = decodeURIComponent(location.hash.replace(/^#\/?/, ""));
    const parts = hash.split("/").filter((p) => p !== "");
    try {
      if (parts[0] === "prompt") return showPrompt();
      const sae = parts[0] === "sae" ? saeByName(parts[1]) : state.manifest.saes[0];
      if (!sae) {
        main().innerHTML = `<p class="error">no SAE called ${R.esc(parts[1] ?? "")}</p>`;
        return;
      }
      state.sae = sae;
      document.getElementById("sae-select").value = sae.name;
      document.getElementById("nav-list").href = `#/sae/${encodeURIComponent(sae.name)}`;
      if (parts[2] === "latent") return await showLatent(Number(parts[3]));
      document.title = `${sae.name} · gsae latent browser`;
      return await showList();
    } catch (e) {
      main().innerHTML = `<p class="error">${R.esc(e.message)}</p>`;
    }
  }

  function onKey(e) {
    const typing = e.target instanceof HTMLElement &&
      (e.target.tagName === "INPUT" || e.target.tagName === "TEXTAREA" ||
        e.target.tagName === "SELECT");
    if (typing) {
      if (e.key === "Escape") e.target.blur();
      if (e.target.id === "search" && (e.key === "ArrowDown" || e.key === "Enter")) {
        e.target.blur();
        if (e.key === "Enter") openSelected();
        e.preventDefault();
      }
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const keys = {
      list: {
        "/": () => document.getElementById("search").focus(),
        j: () => moveSelection(1),
        ArrowDown: () => moveSelection(1),
        k: () => moveSelection(-1),
        ArrowUp: () => moveSelection(-1),
        Enter: openSelected,
        n: () => turnPage(1),
        PageDown: () => turnPage(1),
        p: () => turnPage(-1),
        PageUp: () => turnPage(-1),
        g: () => (location.hash = "#/prompt"),
      },
      latent: {
        ArrowLeft: () => stepLatent(-1),
        ArrowRight: () => stepLatent(1),
        Escape: () => (location.hash = `#/sae/${encodeURIComponent(state.sae.name)}`),
        Backspace: () => (location.hash = `#/sae/${encodeURIComponent(state.sae.name)}`),
        g: () => (location.hash = "#/prompt"),
      },
      prompt: {
        Escape:
          () => (location.hash = state.sae ? `#/sae/${encodeURIComponent(state.sae.name)}` : "#/"),
        "/": () => document.getElementById("prompt-text").focus(),
      },
    }[state.view];
    const action = keys?.[e.key];
    if (action) (e.preventDefault(), action());
  }

  function openSelected() {
    const ls = listState(), i = state.order[ls.page * PAGE + ls.selected];
    if (i !== undefined) location.hash = latentHref(state.sae.name, i);
  }

  function stepLatent(delta) {
    const id = Number(location.hash.split("/").pop()) + delta;
    if (id >= 0 && id < state.sae.dSae) location.hash = latentHref(state.sae.name, id);
  }

  async function start() {
    const style = document.createElement("style");
    style.textContent = R.CARD_CSS;
    document.head.appendChild(style);
    try {
      state.manifest = await load("saes", "data/saes.js");
      state.vocab = await load("vocab", "data/vocab.js");
    } catch (e) {
      main().innerHTML = `<p class="error">${R.esc(e.message)}: is this the browser's folder?</p>`;
      return;
    }
    const select = document.getElementById("sae-select");
    select.innerHTML = state.manifest.saes.map((s) =>
      `<option value="${R.esc(s.name)}">${R.esc(s.name)} (${s.dSae} latents)</option>`
    ).join("");
    select.addEventListener(
      "change",
      () => (location.hash = `#/sae/${encodeURIComponent(select.value)}`),
    );
    document.getElementById("model").textContent = `model ${state.manifest.model}`;
    if (state.manifest.mode !== "server") {
      document.getElementById("nav-prompt").style.display = "none";
    }
    document.addEventListener("keydown", onKey);
    addEventListener("hashchange", route);
    await route();
  }

  addEventListener("DOMContentLoaded", start);
})();
