/**
 * Markdown (GFM) tables through the `markdown-table` package: one call per table instead of
 * hand-joined `| a | b |` lines, with column alignment given as a short string.
 *
 * @module
 */
import { markdownTable } from "markdown-table";

/** Options of {@link mdTable}. */
export interface MdTableOptions {
  /** One letter per column: `l` left, `r` right, `c` centre, `-` none (default: none). */
  align?: string;
}

/**
 * `head` and `rows` as a GFM table, one line per row, cells separated by ` | ` and not padded to
 * a common width (diffs of reports stay small). Cells are written as given: escape a `|` in
 * text with {@link escapeCell}.
 */
export function mdTable(
  head: readonly string[],
  rows: readonly (readonly (string | number)[])[],
  options: MdTableOptions = {},
): string {
  const align = [...(options.align ?? "")].map((a) => (a === "-" ? "" : a));
  return markdownTable([head, ...rows.map((row) => row.map(String))], {
    align,
    alignDelimiters: false,
  });
}

/** `text` safe inside a table cell: `|` escaped, line breaks as spaces. */
export function escapeCell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\r?\n/g, " ");
}
