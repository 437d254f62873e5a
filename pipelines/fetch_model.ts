/**
 * `deno task fetch-model <repo>`: download a GPT-2 checkpoint from the Hugging Face hub into
 * the local hub cache (needs internet; not possible on machines that reach only npm/Debian).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fetchModel } from "../lib/gpt2/fetch.ts";

const HELP = `Usage: deno task fetch-model <repo> [--revision REV] [--endpoint URL]

Downloads config.json and model.safetensors of a GPT-2 checkpoint (e.g. gpt2, gpt2-medium,
openai-community/gpt2-large) into the Hugging Face hub cache ($HF_HUB_CACHE, $HF_HOME/hub or
~/.cache/huggingface/hub), where every gsae command then finds it by name.

Options:
  --revision REV   branch, tag or commit (default main)
  --endpoint URL   hub address (default $HF_ENDPOINT or https://huggingface.co)
  --help           this text`;

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      revision: { type: "string" },
      endpoint: { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help || positionals.length !== 1) {
    console.log(HELP);
    Deno.exit(values.help ? 0 : 2);
  }
  try {
    const dir = await fetchModel(positionals[0], {
      revision: values.revision,
      endpoint: values.endpoint,
    });
    console.log(`fetch-model: ${positionals[0]} is in ${dir}`);
  } catch (err) {
    console.error(`fetch-model: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
