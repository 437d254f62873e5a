import assert from "node:assert/strict";
import {
  ARCH_STYLE,
  archStyle,
  MODE_STYLE,
  seriesStyle,
  type StyleMode,
  traceStyle,
} from "../lib/experiments/shared/arch_style.ts";
import { ARCHITECTURES } from "../lib/sae/mod.ts";

Deno.test("ARCH_STYLE: every registry architecture and ReLU-L1, each with its own symbol", () => {
  for (const a of [...ARCHITECTURES, "relu_l1"]) assert.ok(Object.hasOwn(ARCH_STYLE, a), a);
  const styles = Object.values(ARCH_STYLE);
  assert.equal(new Set(styles.map((s) => s.symbol)).size, styles.length, "symbols");
  assert.equal(new Set(styles.map((s) => s.color)).size, styles.length, "colours");
  assert.equal(new Set(styles.map((s) => s.name)).size, styles.length, "names");
});

Deno.test("seriesStyle: every (architecture, mode) has its own (symbol, dash) pair", () => {
  const modes = Object.keys(MODE_STYLE) as StyleMode[];
  const all = Object.keys(ARCH_STYLE).flatMap((a) => modes.map((m) => seriesStyle(a, m)));
  assert.equal(new Set(all.map((s) => `${s.symbol}|${s.dash}`)).size, all.length);
  assert.equal(new Set(all.map((s) => s.name)).size, all.length);
  assert.deepStrictEqual(seriesStyle("gsae", "plain"), {
    name: "g-SAE, plain TopK selection",
    color: ARCH_STYLE.gsae.color,
    symbol: "diamond-open",
    dash: "dash",
    pattern: ARCH_STYLE.gsae.pattern,
  });
  assert.equal(seriesStyle("topk", "selection").name, "TopK + g-SAE selection");
  // Without lines the marker alone tells the modes of a gradient-aware SAE apart.
  const gsaeModes = ["true", "plain", "sampled", "token"] as const;
  const gsae = gsaeModes.map((m) => seriesStyle("gsae", m).symbol);
  assert.equal(new Set(gsae).size, 4);
  assert.notEqual(seriesStyle("topk", "selection").symbol, seriesStyle("topk").symbol);
});

Deno.test("ARCH_STYLE: symbols have the open-dot variant the modes use", () => {
  // Plotly has no "-dot" variant of these (it would silently draw a circle).
  const noDot = ["hourglass", "bowtie", "circle-cross", "circle-x", "cross-thin", "x-thin"];
  for (const s of Object.values(ARCH_STYLE)) assert.ok(!noDot.includes(s.symbol), s.symbol);
});

Deno.test("archStyle: an unknown architecture gets a fallback under its own name", () => {
  const s = archStyle("my_new_sae");
  assert.equal(s.name, "my_new_sae");
  assert.ok(!Object.values(ARCH_STYLE).some((a) => a.symbol === s.symbol));
  assert.equal(archStyle("toString").name, "toString", "not an Object.prototype member");
  assert.equal(seriesStyle("my_new_sae", "plain").symbol, `${s.symbol}-open`);
});

Deno.test("traceStyle: line and marker from a style; open markers get an outline", () => {
  const filled = traceStyle(seriesStyle("topk"));
  assert.deepStrictEqual(filled.line, { color: ARCH_STYLE.topk.color, dash: "solid", width: 2 });
  assert.equal(filled.marker.symbol, "circle");
  assert.equal(filled.marker.line, undefined);
  const open = traceStyle(seriesStyle("topk", "sampled"), { size: 5 });
  assert.equal(open.marker.size, 5);
  assert.deepStrictEqual(open.marker.line, { color: ARCH_STYLE.topk.color, width: 2 });
});
