/**
 * `deno task gsae <command>`: look at a model from the command line.
 *
 *   info <model>                                  config, parameter count, backend, hooks
 *   loss <model> --text T                         per-token next-token loss
 *   grad <model> --hook H --text T [--full]       per-token loss and ∇ₓL at a hook
 *
 * Every command takes `--json` for machine-readable output (documented in the README).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { describeBackend, initBackend } from "../lib/tensor/backend.ts";
import { loadGPT2 } from "../lib/gpt2/checkpoint.ts";
import { parameterCount } from "../lib/gpt2/config.ts";
import { resolveModel } from "../lib/gpt2/discovery.ts";
import { backendOption } from "../lib/tensor/backend_flag.ts";
import { gsaeCommand, parseCommandLine } from "../lib/io/cli.ts";

const COMMANDS = ["info", "loss", "grad"];

function command() {
  return gsaeCommand("gsae", {
    usage: "<command> <model> [options]",
    description: `Commands:
  info <model>                               config, parameter count, backend, hook names
  loss <model> --text TEXT                   per-token next-token cross-entropy (nats)
  grad <model> --hook HOOK --text TEXT       per-token loss and the gradient of the summed
                                             loss with respect to the activation at HOOK

<model>: "default" (the default embedded model), an embedded model (sotu-2x64, sotu-4x128,
sotu-6x192), a folder with config.json + model.safetensors, or a Hugging Face name (gpt2,
gpt2-medium, ...) already in the local hub cache.`,
    after: "Environment: GSAE_BACKEND forces a backend, as --backend does.",
  })
    .argument("[command]", COMMANDS.join(" | "))
    .argument("[model]", "the model (see above)")
    .option("--text <TEXT>", "the input text (GPT-2 BPE; truncated to the model's context)")
    .option(
      "--hook <HOOK>",
      "e.g. blocks.2.hook_resid_post (kinds: resid_pre, attn_out, resid_mid, mlp_out, resid_post)",
    )
    .option(
      "--full",
      "grad: include the full gradient and activation ([tokens][d]) in --json output",
    )
    .option("--json", "print one JSON object instead of a table")
    .addOption(backendOption());
}

/** The command line (see `--help`). */
interface GsaeOptions {
  text?: string;
  hook?: string;
  full?: boolean;
  json?: boolean;
}

interface Args {
  command: string;
  model: string;
  text?: string;
  hook?: string;
  full: boolean;
  json: boolean;
}

/** The checked command line; null when help was printed, a number to exit with on a bad flag. */
function parse(): Args | number | null {
  const cmd = command();
  const parsed = parseCommandLine<GsaeOptions>(cmd, Deno.args, { badArgumentExit: 1 });
  if (parsed.exit !== undefined) return parsed.exit;
  const { options: values, args: positionals } = parsed;
  if (positionals.length === 0) {
    cmd.outputHelp();
    return null;
  }
  const [name, model] = positionals;
  if (!COMMANDS.includes(name)) {
    throw new Error(`unknown command "${name}" (${COMMANDS.join(", ")})`);
  }
  if (!model) throw new Error(`${name} needs a model (try "default")`);
  if (name !== "info" && !values.text) throw new Error(`${name} needs --text`);
  if (name === "grad" && !values.hook) {
    throw new Error(`grad needs --hook (e.g. blocks.0.hook_resid_post)`);
  }
  return {
    command: name,
    model,
    text: values.text,
    hook: values.hook,
    full: values.full ?? false,
    json: values.json ?? false,
  };
}

async function main(): Promise<number> {
  const args = parse();
  if (args === null) return 0;
  if (typeof args === "number") return args;
  await run(args);
  return 0;
}

async function run(args: Args): Promise<void> {
  // Reads tensors synchronously (dataSync, arraySync): a CPU backend unless forced.
  const backend = await initBackend({ syncReads: true });
  const resolved = await resolveModel(args.model);
  const { model, tokenizer, vocabMap } = await loadGPT2(resolved.dir);
  const base = {
    model: resolved.name,
    source: resolved.source,
    dir: resolved.dir,
    backend: backend.name,
  };
  const status = (line: string) => args.json ? undefined : console.log(line);
  status(describeBackend(backend));

  if (args.command === "info") {
    const info = {
      ...base,
      config: model.config,
      parameters: parameterCount(model.config),
      vocabulary: vocabMap
        ? `${vocabMap.size} ids mapped to GPT-2 ids (vocab_map.json)`
        : "GPT-2 BPE",
      hooks: model.hookNames(),
    };
    if (args.json) return console.log(JSON.stringify(info));
    console.log(`model ${info.model} (${info.source}: ${info.dir})`);
    console.log(
      `  layers ${model.config.n_layer}, width ${model.config.n_embd}, heads ${model.config.n_head}, ` +
        `context ${model.config.n_positions}, vocabulary ${model.config.vocab_size}`,
    );
    console.log(
      `  parameters ${info.parameters.toLocaleString("en-US")}; vocabulary: ${info.vocabulary}`,
    );
    console.log(
      `  hooks: blocks.<0..${
        model.config.n_layer - 1
      }>.hook_{resid_pre,attn_out,resid_mid,mlp_out,resid_post}`,
    );
    return;
  }

  const ids = Array.from(tokenizer.encode(args.text!)).slice(0, model.config.n_positions);
  if (ids.length < 2) {
    throw new Error("--text must have at least two tokens (a loss needs a next token)");
  }
  const outside = ids.find((id) => id >= model.config.vocab_size);
  if (outside !== undefined) {
    throw new Error(
      `token id ${outside} is outside the model's vocabulary of ${model.config.vocab_size} ids ` +
        `(a reduced vocabulary needs a vocab_map.json beside config.json)`,
    );
  }
  const idsTensor = tf.tensor2d(ids, [1, ids.length], "int32");
  const tokens = ids.map((id) => ({ id, text: tokenizer.decode([id]) }));
  let losses: number[],
    gradNorms: number[] | undefined,
    full: { gradient: number[][]; activation: number[][] } | undefined;
  if (args.command === "loss") {
    losses = Array.from(model.tokenLosses(idsTensor, model.finalResidual(idsTensor)).dataSync());
  } else {
    const g = model.gradAtHook(idsTensor, args.hook!);
    losses = Array.from(g.losses.dataSync());
    gradNorms = Array.from(tf.norm(g.gradient, "euclidean", 2).dataSync());
    if (args.full) {
      full = {
        gradient: (g.gradient.arraySync() as number[][][])[0],
        activation: (g.activation.arraySync() as number[][][])[0],
      };
    }
  }
  const mean = losses.reduce((a, b) => a + b, 0) / losses.length;
  if (args.json) {
    return console.log(JSON.stringify({
      ...base,
      ...(args.hook ? { hook: args.hook } : {}),
      tokens,
      losses,
      mean_loss: mean,
      ...(gradNorms ? { grad_norms: gradNorms } : {}),
      ...(full ?? {}),
    }));
  }
  console.log(
    `${"pos".padStart(4)}  ${"token".padEnd(18)} ${"next token".padEnd(18)} ${"loss".padStart(8)}` +
      (gradNorms ? `  ${"|grad|".padStart(10)}` : ""),
  );
  tokens.forEach((t, i) => {
    const next = i + 1 < tokens.length ? JSON.stringify(tokens[i + 1].text) : "";
    const loss = i < losses.length ? losses[i].toFixed(4) : "";
    const grad = gradNorms ? `  ${gradNorms[i].toExponential(3).padStart(10)}` : "";
    console.log(
      `${String(i).padStart(4)}  ${JSON.stringify(t.text).padEnd(18)} ${next.padEnd(18)} ${
        loss.padStart(8)
      }${grad}`,
    );
  });
  console.log(`mean loss ${mean.toFixed(4)} nats over ${losses.length} predictions`);
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (err) {
    console.error(`gsae: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
