/**
 * `deno task train-lm`: train one of the embedded tiny GPT-2 models on the State of the Union
 * corpus and write it, with its training report, to `outputs/models/<name>/`.
 *
 * The default pipeline never runs this: the trained checkpoints are committed.
 *
 * @module
 */
import { basename } from "node:path";
import { describeBackend, initBackend } from "../lib/tensor/backend.ts";
import { loadCorpus, unigramEntropy, VALIDATION_FROM_YEAR } from "../lib/data/corpus.ts";
import { loadGPT2, saveGPT2 } from "../lib/gpt2/checkpoint.ts";
import { generate } from "../lib/gpt2/generate.ts";
import {
  type EvalPoint,
  evaluateCE,
  type LMTrainConfig,
  totalSteps,
  trainLM,
} from "../lib/gpt2/lm_train.ts";
import { writeFileAtomic, writeJsonAtomic } from "../lib/io/atomic_write.ts";
import { callerPath } from "../lib/io/caller_path.ts";
import { intOption } from "../lib/io/cli_numbers.ts";
import { gsaeCommand, intArg, numberArg, parseCommandLine } from "../lib/io/cli.ts";
import { readJsonFileIfExists, z } from "../lib/io/json_file.ts";
import { mdTable } from "../lib/io/markdown_table.ts";
import { checkWritable, guardCommitted } from "../lib/io/output_guard.ts";
import { VocabMap } from "../lib/data/tokenizer.ts";
import { formatDuration } from "../lib/io/progress.ts";
import { LM_PRESETS, REPO_ROOT, SAMPLE_PROMPT, VOCAB_SIZE } from "../lib/gpt2/embedded_models.ts";
import { backendOption } from "../lib/tensor/backend_flag.ts";

function command() {
  return gsaeCommand("train-lm", {
    usage: "<preset> [options]",
    description:
      `Train an embedded tiny GPT-2 on the State of the Union corpus (validation: addresses from
${VALIDATION_FROM_YEAR} on) and write outputs/models/<preset>/ (config.json, model.safetensors,
vocab_map.json, training_report.{json,md}).`,
  })
    .argument("[preset]", Object.keys(LM_PRESETS).join(" | "))
    // Its lower bound (one optimiser step) depends on the preset.
    .option("--tokens <N>", "training tokens (default: the preset's)")
    .option("--seed <N>", "seed for weights and batch order", intArg("seed", { min: 0 }), 0)
    .option(
      "--lr <X>",
      "peak learning rate (default: the preset's)",
      numberArg("lr", { above: 0, max: 1 }),
    )
    .option("--resume", "continue from .cache/train/<preset>/state.safetensors")
    .option(
      "--out <DIR>",
      "output folder (default outputs/models/<preset>, the committed model: writing there needs " +
        "--force or --out naming it)",
    )
    .option("--force", "overwrite the committed model in the default output folder")
    .option(
      "--report-only",
      "do not train: rewrite the report of the model already in the output folder (validation " +
        "CE and samples; the training history is kept)",
    )
    .addOption(backendOption());
}

/** The command line (see `--help`). */
interface TrainLMOptions {
  tokens?: string;
  seed: number;
  lr?: number;
  resume?: boolean;
  out?: string;
  force?: boolean;
  reportOnly?: boolean;
}

/** What `--report-only` reads back from a previous report: the training history. */
const previousReportSchema = z.object({
  val_ce_history: z.array(z.object({
    step: z.number().int().nonnegative(),
    tokens: z.number().int().nonnegative(),
    valCE: z.number(),
    trainLoss: z.number(),
  })),
  steps: z.number().int().nonnegative(),
  wall_seconds: z.number().nonnegative(),
});

async function main(): Promise<number> {
  const parsed = parseCommandLine<TrainLMOptions>(command(), Deno.args, { badArgumentExit: 1 });
  if (parsed.exit !== undefined) return parsed.exit;
  const { options: values, args: positionals } = parsed;
  const name = positionals[0];
  const preset = name ? LM_PRESETS[name] : undefined;
  if (!preset) {
    throw new Error(
      `unknown or missing preset "${name ?? ""}"; choose one of ${
        Object.keys(LM_PRESETS).join(", ")
      }`,
    );
  }

  // Everything the run needs is checked before the corpus is tokenised or a step is taken.
  const config: LMTrainConfig = {
    ...preset.train,
    tokens: values.tokens !== undefined
      ? intOption(values.tokens, "tokens", {
        min: preset.train.batchSize * preset.train.model.n_positions, // one optimiser step
      })
      : preset.train.tokens,
    seed: values.seed,
    lr: values.lr ?? preset.train.lr,
  };
  const outDir = values.out ? callerPath(values.out) : `${REPO_ROOT}/outputs/models/${name}`;
  await guardCommitted(outDir, {
    command: `train-lm ${name}`,
    explicit: values.out !== undefined,
    force: values.force ?? false,
  });
  // --report-only keeps the training history of the report it rewrites: read (and check) it now.
  const previous = values.reportOnly
    ? await readJsonFileIfExists(`${outDir}/training_report.json`, previousReportSchema)
    : null;
  if (values.reportOnly && !previous) {
    throw new Error(`--report-only: ${outDir}/training_report.json does not exist`);
  }
  await checkWritable(outDir, { flag: "--out" });
  // One resumable state per output folder, so a sweep into other folders keeps its own.
  const workDir = `${REPO_ROOT}/.cache/train/${basename(outDir)}`;
  if (values.resume) await checkWritable(workDir);

  // LM training reads tensors synchronously (lib/gpt2/lm_train.ts): a CPU backend unless forced.
  const backend = await initBackend({ syncReads: true });
  console.log(describeBackend(backend));
  const corpus = await loadCorpus({ log: console.log });
  const vocabMap = VocabMap.fromFrequencies(corpus.train, VOCAB_SIZE);
  const data = { train: vocabMap.toModel(corpus.train), val: vocabMap.toModel(corpus.val) };
  console.log(
    `train-lm ${name}: ${totalSteps(config)} steps, ${
      config.tokens.toLocaleString("en-US")
    } tokens`,
  );

  let training: { history: EvalPoint[]; steps: number; seconds: number };
  if (previous) {
    training = {
      history: previous.val_ce_history,
      steps: previous.steps,
      seconds: previous.wall_seconds,
    };
  } else {
    const result = await trainLM(config, data, {
      workDir,
      resume: values.resume ?? false,
      label: `train-lm ${name}`,
    });
    await saveGPT2(result.model, outDir, {
      dtype: "F16",
      vocabMap,
      metadata: { trained_by: "gsae train-lm", preset: name, seed: String(config.seed) },
    });
    result.model.dispose();
    training = { history: result.history, steps: result.steps, seconds: result.seconds };
  }

  // The report describes the committed (F16) weights, so measure them as a user loads them.
  const { model, tokenizer } = await loadGPT2(outDir);
  const valCE = evaluateCE(model, data.val);
  const entropy = unigramEntropy(data.val, VOCAB_SIZE);
  const prompt = tokenizer.encode(SAMPLE_PROMPT);
  const samples = {
    prompt: SAMPLE_PROMPT,
    note: "the out-of-vocabulary id is excluded while sampling",
    greedy: tokenizer.decode(
      generate(model, prompt, { maxNewTokens: 48, excludeIds: [vocabMap.oovId] }),
    ),
    temperature_0_8: tokenizer.decode(
      generate(model, prompt, {
        maxNewTokens: 48,
        temperature: 0.8,
        seed: 1,
        excludeIds: [vocabMap.oovId],
      }),
    ),
  };
  const report = {
    model: name,
    config: config.model,
    train: config,
    backend: describeBackend(backend),
    tokens_seen: training.steps * config.batchSize * config.model.n_positions,
    steps: training.steps,
    wall_seconds: Math.round(training.seconds),
    val_ce_history: training.history,
    final_val_ce: valCE,
    val_tokens: data.val.length,
    val_oov_fraction: data.val.filter((id) => id === vocabMap.oovId).length / data.val.length,
    train_oov_fraction: data.train.filter((id) => id === vocabMap.oovId).length / data.train.length,
    val_unigram_entropy: entropy,
    ce_below_unigram: entropy - valCE,
    validation_split: `State of the Union addresses from ${VALIDATION_FROM_YEAR} on`,
    samples,
    // The command that reproduces these weights (resuming does not change them).
    command: `deno task train-lm ${
      Deno.args.filter((a) => a !== "--resume" && a !== "--report-only").join(" ")
    }`,
  };
  await writeJsonAtomic(`${outDir}/training_report.json`, report);
  await writeFileAtomic(`${outDir}/training_report.md`, reportMarkdown(report));
  console.log(
    `wrote ${outDir}: final val CE ${valCE.toFixed(4)} nats (unigram entropy ${
      entropy.toFixed(4)
    })`,
  );
  return 0;
}

function reportMarkdown(
  r: Record<string, unknown> & {
    val_ce_history: { step: number; tokens: number; valCE: number; trainLoss: number }[];
    samples: Record<string, string>;
  },
): string {
  const table = mdTable(
    ["step", "tokens", "train loss", "val CE"],
    r.val_ce_history.map((p) => [
      p.step,
      p.tokens.toLocaleString("en-US"),
      p.trainLoss.toFixed(4),
      p.valCE.toFixed(4),
    ]),
    { align: "rrrr" },
  );
  return `# Training report: ${r.model}

Command: \`${r.command}\` (${r.backend}).

- Tokens seen: ${(r.tokens_seen as number).toLocaleString("en-US")} in ${
    (r.steps as number).toLocaleString("en-US")
  } steps; wall time ${formatDuration(r.wall_seconds as number)}
- Final validation CE (all ${
    (r.val_tokens as number).toLocaleString("en-US")
  } validation tokens, F16 weights as committed): **${(r.final_val_ce as number).toFixed(4)} nats**
- Unigram entropy of the validation split under the same vocabulary: ${
    (r.val_unigram_entropy as number).toFixed(4)
  } nats (the model is ${(r.ce_below_unigram as number).toFixed(3)} nats below it)
- Validation split: ${r.validation_split}
- Out-of-vocabulary tokens (one shared id for every GPT-2 id outside the 4,095 kept): ${
    (100 * (r.val_oov_fraction as number)).toFixed(1)
  } % of validation, ${(100 * (r.train_oov_fraction as number)).toFixed(1)} % of training tokens

## Samples (prompt: "${r.samples.prompt}"; the out-of-vocabulary id is excluded while sampling)

Greedy:

> ${r.samples.greedy.replaceAll("\n", " ")}

Temperature 0.8 (seed 1):

> ${r.samples.temperature_0_8.replaceAll("\n", " ")}

## Validation CE during training (periodic points use the first validation sequences)

${table}
`;
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (err) {
    console.error(`train-lm: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
