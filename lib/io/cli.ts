/**
 * The gsae CLIs' command lines, through commander: options declared once, with their help text,
 * defaults and checks, and `--help` generated from them. This module adds what every gsae CLI
 * shares: the `deno task <name>` usage line, the number checks of `cli_numbers.ts` as argument
 * parsers, and one way to end on a bad argument (a message naming the option, a pointer to
 * `--help`, and the CLI's exit code) instead of commander calling `process.exit` itself.
 *
 * @module
 */
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { intOption, numberOption, type NumberRange } from "./cli_numbers.ts";

export { Command, InvalidArgumentError, Option };

/** Help lines wrap at this width (the terminal's is not known under `deno task` pipes). */
const HELP_WIDTH = 100;

/**
 * A command for `deno task <task>`: usage `deno task <task> <usage>`, `description` above the
 * options and `after` (if any) below them; `-h, --help` prints the help.
 */
export function gsaeCommand(
  task: string,
  options: { usage?: string; description: string; after?: string },
): Command {
  const command = new Command(`deno task ${task}`)
    .usage(options.usage ?? "[options]")
    .description(options.description)
    .helpOption("-h, --help", "this text")
    .configureHelp({ helpWidth: HELP_WIDTH, sortOptions: false })
    .allowExcessArguments(false)
    .exitOverride();
  if (options.after) command.addHelpText("after", `\n${options.after}`);
  return command;
}

/** An argument parser for an integer option `--name` in `range` (see `cli_numbers.ts`). */
export function intArg(name: string, range: NumberRange = {}): (text: string) => number {
  return (text) => checked(() => intOption(text, name, range));
}

/** An argument parser for a number option `--name` in `range` (see `cli_numbers.ts`). */
export function numberArg(name: string, range: NumberRange = {}): (text: string) => number {
  return (text) => checked(() => numberOption(text, name, range));
}

/** An argument parser for one of `choices` (commander's `choices` with our message). */
export function choiceArg<T extends string>(
  name: string,
  choices: readonly T[],
): (text: string) => T {
  return (text) => {
    if ((choices as readonly string[]).includes(text)) return text as T;
    throw new InvalidArgumentError(`--${name} must be one of ${choices.join(", ")}, got "${text}"`);
  };
}

/** `parse()`'s error as commander's: it prints the message (our wording, no prefix). */
function checked<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

/** What {@link parseCommandLine} found: the options and positionals, or the exit code to end with. */
export type ParsedCommandLine<O> =
  | { options: O; args: string[]; exit?: undefined }
  | { exit: number };

/**
 * Parses `argv` (the arguments after the script) with `command`. `--help` prints the help and
 * gives exit 0; a bad argument prints commander's message (which names the option) and a pointer
 * to `--help` on stderr and gives `badArgumentExit` (default 2, the usual code of a usage error).
 */
export function parseCommandLine<O>(
  command: Command,
  argv: readonly string[],
  options: { badArgumentExit?: number } = {},
): ParsedCommandLine<O> {
  const name = command.name();
  command.configureOutput({
    outputError: (text, write) =>
      write(`${text.replace(/^error: /, `${name.replace(/^deno task /, "")}: `)}`),
  });
  command.showHelpAfterError(`(see ${name} --help)`);
  try {
    command.parse([...argv], { from: "user" });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    if (error.code === "commander.helpDisplayed" || error.code === "commander.version") {
      return { exit: 0 };
    }
    return { exit: options.badArgumentExit ?? 2 };
  }
  return { options: command.opts<O & Record<string, unknown>>(), args: command.args };
}
