import assert from "node:assert/strict";
import { intOption, numberOption } from "../lib/io/cli_numbers.ts";

Deno.test("intOption accepts integers in range and names the option otherwise", () => {
  assert.equal(intOption("32", "k", { min: 1, max: 512 }), 32);
  assert.equal(intOption("1e6", "tokens", { min: 1 }), 1_000_000);
  assert.throws(
    () => intOption("0", "k", { min: 1, max: 512 }),
    /^RangeError: --k must be an integer between 1 and 512, got "0"$/,
  );
  assert.throws(() => intOption("abc", "seed"), /--seed must be an integer, got "abc"/);
  assert.throws(() => intOption("", "seed"), /--seed must be an integer, got ""/);
  assert.throws(
    () => intOption("2.5", "expansion", { min: 1 }),
    /--expansion must be an integer >= 1, got "2.5"/,
  );
  assert.throws(() => intOption("1e300", "tokens", { min: 1 }), /--tokens must be an integer/);
});

Deno.test("numberOption accepts finite numbers in range", () => {
  assert.equal(numberOption("1e-2", "lr", { above: 0 }), 0.01);
  assert.throws(
    () => numberOption("-1", "lr", { above: 0 }),
    /--lr must be a number > 0, got "-1"/,
  );
  assert.throws(() => numberOption("0", "lr", { above: 0 }), /--lr must be a number > 0, got "0"/);
  assert.throws(() => numberOption("Infinity", "beta"), /--beta must be a number, got "Infinity"/);
  assert.throws(() => numberOption(" ", "beta"), /--beta must be a number/);
});
