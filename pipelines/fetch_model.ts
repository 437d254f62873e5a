/**
 * `deno task fetch-model <repo>`: download a GPT-2 checkpoint from the Hugging Face hub into
 * the local hub cache (needs internet; not possible on machines that reach only npm/Debian).
 *
 * @module
 */
import { fetchModel } from "../lib/gpt2/fetch.ts";
import { gsaeCommand, parseCommandLine } from "../lib/io/cli.ts";

function command() {
  return gsaeCommand("fetch-model", {
    usage: "<repo> [--revision REV] [--endpoint URL]",
    description:
      "Downloads config.json and model.safetensors of a GPT-2 checkpoint (e.g. gpt2, gpt2-medium,\n" +
      "openai-community/gpt2-large) into the Hugging Face hub cache ($HF_HUB_CACHE, $HF_HOME/hub or\n" +
      "~/.cache/huggingface/hub), where every gsae command then finds it by name.",
  })
    .argument("<repo>", "the hub repository, e.g. gpt2")
    .option("--revision <REV>", "branch, tag or commit (default main)")
    .option("--endpoint <URL>", "hub address (default $HF_ENDPOINT or https://huggingface.co)");
}

if (import.meta.main) {
  const parsed = parseCommandLine<{ revision?: string; endpoint?: string }>(command(), Deno.args);
  if (parsed.exit !== undefined) Deno.exit(parsed.exit);
  const [repo] = parsed.args;
  try {
    const dir = await fetchModel(repo, {
      revision: parsed.options.revision,
      endpoint: parsed.options.endpoint,
    });
    console.log(`fetch-model: ${repo} is in ${dir}`);
  } catch (err) {
    console.error(`fetch-model: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
