// The latent browser's one renderer: HTML strings for the latent card and the prompt view.
// The web app (app.js) and the notebooks' inline views (lib/browser/inline.ts, which imports this
// file in Deno) both call it, so a card looks the same everywhere. A classic script, not an ES
// module, so the exported site works from file:// (browsers refuse module scripts there); it
// defines globalThis.GsaeRender. Output is static HTML with inline shading and hover titles, no
// script, so notebooks viewed without a kernel (e.g. on GitHub) still show it.
(function (root) {
  "use strict";

  /** HTML-escapes text. */
  function esc(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  }

  /** A token's visible text: newlines as ↵, tabs as →, the empty string as ∅. */
  function tokenText(text) {
    const s = String(text).replace(/\n/g, "↵").replace(/\t/g, "→");
    return s.length > 0 ? s : "∅";
  }

  /** A number for people: 3 significant digits, exponent form when tiny or huge. */
  function fmt(v) {
    if (v === null || v === undefined || Number.isNaN(v)) return "–";
    if (v === 0) return "0";
    const a = Math.abs(v);
    return a < 1e-3 || a >= 1e5 ? v.toExponential(2) : String(Number(v.toPrecision(3)));
  }

  /** A percentage with enough digits for rare latents. */
  function pct(f) {
    return f === 0 ? "0 %" : `${Number((100 * f).toPrecision(3))} %`;
  }

  function link(opts, sae, id, text) {
    const href = opts.link ? opts.link(sae, id) : null;
    return href
      ? `<a class="gsae-latent-link" href="${esc(href)}">${esc(text)}</a>`
      : `<span>${esc(text)}</span>`;
  }

  /** One context: every token shaded by the latent's activation, the value on hover. */
  function contextHtml(ctx, maxAct, vocab) {
    const spans = ctx.t.map((id, i) => {
      const value = (ctx.a[i] / 1000) * maxAct;
      const alpha = Math.min(1, ctx.a[i] / 1000);
      const style = alpha > 0 ? ` style="background:rgba(255,112,0,${alpha.toFixed(3)})"` : "";
      const cls = i === ctx.at ? "gsae-tok gsae-tok-at" : "gsae-tok";
      return `<span class="${cls}"${style} title="${esc(JSON.stringify(vocab[id] ?? "?"))}: ${
        fmt(value)
      }">${esc(tokenText(vocab[id] ?? "?"))}</span>`;
    }).join("");
    const own = (ctx.a[ctx.at] / 1000) * maxAct;
    return `<div class="gsae-ctx"><span class="gsae-ctx-act">${fmt(own)}</span>` +
      `<span class="gsae-ctx-text">${spans}</span></div>`;
  }

  /** A histogram as an inline SVG bar chart over [0, max]. */
  function histogramSvg(hist, title, color) {
    const w = 260, h = 90, pad = 14, n = hist.counts.length;
    const top = Math.max(1, ...hist.counts), bw = (w - 2) / Math.max(1, n);
    const bars = hist.counts.map((c, i) => {
      const bh = (c / top) * (h - pad - 14);
      const lo = (i / n) * hist.max, hi = ((i + 1) / n) * hist.max;
      return `<rect x="${(1 + i * bw).toFixed(1)}" y="${(h - pad - bh).toFixed(1)}" width="${
        Math.max(1, bw - 1).toFixed(1)
      }" height="${bh.toFixed(1)}" fill="${color}"><title>${fmt(lo)}–${
        fmt(hi)
      }: ${c}</title></rect>`;
    }).join("");
    return `<figure class="gsae-hist"><figcaption>${esc(title)}</figcaption>` +
      `<svg width="${w}" height="${h}" role="img" aria-label="${esc(title)}">${bars}` +
      `<text x="0" y="${h - 2}" font-size="10">0</text>` +
      `<text x="${w}" y="${h - 2}" font-size="10" text-anchor="end">${fmt(hist.max)}</text>` +
      `<text x="0" y="10" font-size="10">max count ${top}</text></svg></figure>`;
  }

  function tokenList(pairs, vocab) {
    return `<ol class="gsae-list">${
      pairs.map(([id, score]) =>
        `<li><code>${esc(tokenText(vocab[id] ?? "?"))}</code> <small>${fmt(score)}</small></li>`
      ).join("")
    }</ol>`;
  }

  function neighbourList(pairs, sae, opts) {
    if (!sae || pairs.length === 0) return "<p><small>none</small></p>";
    return `<ol class="gsae-list">${
      pairs.map(([id, cos]) =>
        `<li>${link(opts, sae, id, `#${id}`)} <small>cos ${fmt(cos)}</small></li>`
      )
        .join("")
    }</ol>`;
  }

  /**
   * The latent card. `latent`: a site latent record; `opts`: { vocab, sae (its SiteSAE), pair
   * (the paired SAE's name or null), link(saeName, id) → href or null }.
   */
  function latentCardHtml(latent, opts) {
    const vocab = opts.vocab, sae = opts.sae;
    const quantiles = latent.quantiles.map((q) =>
      `<h4>quantile range ${fmt(q.q[0])}–${fmt(q.q[1])} of its firings (activation ${fmt(q.lo)}–${
        fmt(q.hi)
      })</h4>` +
      q.contexts.map((c) => contextHtml(c, latent.maxAct, vocab)).join("")
    ).join("");
    const top = latent.top.map((c) => contextHtml(c, latent.maxAct, vocab)).join("");
    return `<div class="gsae-card" data-testid="latent-card" data-latent="${latent.id}">` +
      `<h2>${esc(sae.name)} · latent ${latent.id}</h2>` +
      `<p class="gsae-stats">fires on <b data-testid="frequency">${pct(latent.freq)}</b> of ${
        sae.tokens.toLocaleString("en-US")
      } validation tokens · max activation <b>${
        fmt(latent.maxAct)
      }</b> · mean |∇L·d̂| when firing <b>${fmt(latent.meanGrad)}</b> · ${esc(sae.architecture)}${
        sae.k ? `, k = ${sae.k}` : ""
      }</p>` +
      `<div class="gsae-row">` +
      histogramSvg(latent.hist, "activation (firing tokens)", "#e86a10") +
      histogramSvg(latent.gradHist, "|∇L·d̂| (firing tokens)", "#3a6fd8") +
      `</div><div class="gsae-row">` +
      `<div class="gsae-col"><h3>logit lens: promoted</h3>${
        tokenList(latent.lens.top, vocab)
      }</div>` +
      `<div class="gsae-col"><h3>logit lens: suppressed</h3>${
        tokenList(latent.lens.bottom, vocab)
      }</div>` +
      `<div class="gsae-col"><h3>nearest in ${esc(sae.name)}</h3>${
        neighbourList(latent.near, sae.name, opts)
      }</div>` +
      `<div class="gsae-col"><h3>nearest in ${esc(opts.pair ?? "a second SAE")}</h3>${
        neighbourList(latent.nearOther ?? [], opts.pair, opts)
      }</div></div>` +
      `<h3>top activations</h3><div data-testid="top-contexts">${
        top || "<p><small>never fired on the probed tokens</small></p>"
      }</div>` +
      `<h3>sampled from activation quantiles</h3><div data-testid="quantile-contexts">${
        quantiles || "<p><small>no firings beyond the top ones</small></p>"
      }</div></div>`;
  }

  function swappedList(list, sae, opts) {
    if (list.length === 0) return "";
    return list.map((s) =>
      `${link(opts, sae, s.id, `#${s.id}`)}<small> a ${fmt(s.act)}, z ${fmt(s.z)}, |d·g| ${
        fmt(s.dg)
      }</small>`
    ).join(", ");
  }

  /**
   * The prompt view: per SAE, a row per token with its clean and spliced loss, its active
   * latents and (gradient-aware SAEs) the latents the gradient swapped in and out.
   * `opts`: { link(saeName, id) → href or null, maxShown (active latents shown per token) }.
   */
  function promptViewHtml(result, opts) {
    const maxShown = opts.maxShown ?? 8;
    const strip = result.tokens.map((t, i) =>
      `<span class="gsae-tok" title="${esc(JSON.stringify(t.text))} #${i}: loss ${
        fmt(t.lossClean)
      }">${esc(tokenText(t.text))}</span>`
    ).join("");
    const sections = result.saes.map((view) => {
      const rows = view.tokens.map((tv, i) => {
        const t = result.tokens[i];
        const delta = t.lossClean === null || tv.lossSpliced === null
          ? null
          : tv.lossSpliced - t.lossClean;
        const shade = delta === null
          ? ""
          : ` style="background:rgba(${delta > 0 ? "220,40,40" : "40,160,60"},${
            Math.min(1, Math.abs(delta) / 2).toFixed(3)
          })"`;
        const active = tv.active.slice(0, maxShown).map(([id, a]) =>
          `${link(opts, view.name, id, `#${id}`)}<small> ${fmt(a)}</small>`
        ).join(", ") +
          (tv.active.length > maxShown ? ` <small>+${tv.active.length - maxShown}</small>` : "");
        const swaps = view.gradientAware
          ? `<td>${swappedList(tv.swappedIn, view.name, opts)}</td><td>${
            swappedList(tv.swappedOut, view.name, opts)
          }</td>`
          : "";
        return `<tr data-testid="prompt-token"><td>${i}</td><td><code>${
          esc(tokenText(t.text))
        }</code></td>` +
          `<td>${fmt(t.lossClean)}</td><td${shade}>${fmt(tv.lossSpliced)}</td>` +
          `<td>${active}</td>${swaps}</tr>`;
      }).join("");
      const swapHead = view.gradientAware
        ? "<th>swapped in by the gradient</th><th>swapped out</th>"
        : "";
      return `<section class="gsae-prompt-sae" data-sae="${esc(view.name)}"><h3>${esc(view.name)}${
        view.gradientAware ? " (gradient-aware)" : ""
      }</h3><p>mean next-token loss: clean ${fmt(result.meanLossClean)}, spliced ${
        fmt(view.meanLossSpliced)
      }</p><div class="gsae-scroll"><table class="gsae-table"><thead><tr><th>#</th><th>token</th>` +
        `<th>loss clean</th><th>loss spliced</th><th>active latents (activation)</th>${swapHead}` +
        `</tr></thead><tbody>${rows}</tbody></table></div></section>`;
    }).join("");
    return `<div class="gsae-prompt" data-testid="prompt-view"><div class="gsae-ctx-text">${strip}</div>${sections}</div>`;
  }

  /** The card and prompt view's styles (the app adds them once; inline views embed them). */
  const CARD_CSS = `
.gsae-card, .gsae-prompt { font-family: system-ui, sans-serif; font-size: 14px; color: #222; }
.gsae-card h2 { font-size: 18px; margin: 4px 0; }
.gsae-card h3, .gsae-prompt h3 { font-size: 14px; margin: 10px 0 4px; }
.gsae-card h4 { font-size: 12px; margin: 8px 0 2px; color: #555; font-weight: normal; }
.gsae-row { display: flex; flex-wrap: wrap; gap: 16px; }
.gsae-col { min-width: 150px; }
.gsae-hist { margin: 0; }
.gsae-hist figcaption { font-size: 12px; color: #555; }
.gsae-list { margin: 0; padding-left: 22px; }
.gsae-ctx { display: flex; gap: 8px; margin: 2px 0; font-family: ui-monospace, monospace; font-size: 13px; }
.gsae-ctx-act { min-width: 56px; text-align: right; color: #777; }
.gsae-ctx-text { white-space: pre-wrap; font-family: ui-monospace, monospace; }
.gsae-tok { border-radius: 2px; }
.gsae-tok-at { outline: 1px solid #333; }
.gsae-table { border-collapse: collapse; font-size: 13px; }
.gsae-table td, .gsae-table th { border-bottom: 1px solid #ddd; padding: 2px 6px; text-align: left; vertical-align: top; }
.gsae-scroll { overflow-x: auto; }
`;

  root.GsaeRender = {
    esc,
    tokenText,
    fmt,
    pct,
    contextHtml,
    histogramSvg,
    latentCardHtml,
    promptViewHtml,
    CARD_CSS,
  };
})(globalThis);
