import assert from "node:assert/strict";
import { escapeCell, mdTable } from "../lib/io/markdown_table.ts";

Deno.test("mdTable: a GFM table with the given alignment, cells unpadded", () => {
  assert.equal(
    mdTable(["name", "value", "note"], [["a", 1.5, "x"], ["bb", 20, ""]], { align: "lr" }),
    [
      "| name | value | note |",
      "| :- | -: | - |",
      "| a | 1.5 | x |",
      "| bb | 20 | |",
    ].join("\n"),
  );
  assert.equal(mdTable(["", ""], [["k", "v"]]), "| | |\n| - | - |\n| k | v |");
});

Deno.test("escapeCell escapes pipes and flattens line breaks", () => {
  assert.equal(escapeCell("a | b\nc"), "a \\| b c");
  assert.equal(mdTable(["x"], [[escapeCell("p|q")]]), "| x |\n| - |\n| p\\|q |");
});
