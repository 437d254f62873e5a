/**
 * Numbers from command-line options, checked before any work: `Number("")` is 0 and
 * `Number("1e")` NaN, so a plain `Number(value)` lets typos through to fail hours later, or never.
 * Every check names the option, the range and what was typed.
 *
 * @module
 */

/** Range of an option: inclusive bounds; `above` is an exclusive lower bound. */
export interface NumberRange {
  /** Smallest allowed value. */
  min?: number;
  /** Values must be strictly greater than this. */
  above?: number;
  /** Largest allowed value. */
  max?: number;
}

/** The option's text as a finite number in `range`, or an error naming `--name`. */
export function numberOption(text: string, name: string, range: NumberRange = {}): number {
  const value = text.trim() === "" ? NaN : Number(text);
  if (!Number.isFinite(value)) {
    throw new RangeError(`--${name} must be a number${describe(range)}, got "${text}"`);
  }
  return checkRange(value, text, name, range, "a number");
}

/** The option's text as a safe integer in `range` (exponent notation such as 1e6 is accepted). */
export function intOption(text: string, name: string, range: NumberRange = {}): number {
  const value = text.trim() === "" ? NaN : Number(text);
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`--${name} must be an integer${describe(range)}, got "${text}"`);
  }
  return checkRange(value, text, name, range, "an integer");
}

function checkRange(
  value: number,
  text: string,
  name: string,
  range: NumberRange,
  kind: string,
): number {
  const low = range.min !== undefined && value < range.min;
  const high = range.max !== undefined && value > range.max;
  const notAbove = range.above !== undefined && !(value > range.above);
  if (low || high || notAbove) {
    throw new RangeError(`--${name} must be ${kind}${describe(range)}, got "${text}"`);
  }
  return value;
}

function describe(range: NumberRange): string {
  const parts: string[] = [];
  if (range.min !== undefined && range.max !== undefined) {
    return ` between ${range.min} and ${range.max}`;
  }
  if (range.min !== undefined) parts.push(`>= ${range.min}`);
  if (range.above !== undefined) parts.push(`> ${range.above}`);
  if (range.max !== undefined) parts.push(`<= ${range.max}`);
  return parts.length ? ` ${parts.join(" and ")}` : "";
}
