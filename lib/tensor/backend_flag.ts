/**
 * The `--backend B` flag every gsae CLI accepts, in one place: a commander option whose value,
 * once checked against the known backends, becomes `GSAE_BACKEND` for this process and for every
 * process it starts (notebook kernels, workers), so that `initBackend` honours it wherever it
 * runs.
 *
 * @module
 */
import { InvalidArgumentError, Option } from "commander";
import { BACKEND_NAMES, parseBackendName } from "./backend.ts";

/**
 * The flag as a commander option: its value is checked against the known backends and set as
 * `GSAE_BACKEND` when the command line is parsed (the last occurrence wins). An unknown or empty
 * name is commander's invalid-argument error, naming the flag.
 */
export function backendOption(): Option {
  return new Option(
    "--backend <B>",
    `compute backend: ${BACKEND_NAMES.join(", ")} (default: the first that starts; ` +
      "GSAE_BACKEND does the same; webgpu needs deno's --unstable-webgpu, which the deno tasks pass)",
  )
    .argParser((value: string) => {
      let name;
      try {
        name = parseBackendName(value, "--backend");
      } catch (error) {
        throw new InvalidArgumentError((error as Error).message);
      }
      if (!name) {
        throw new InvalidArgumentError(`--backend wants a name: ${BACKEND_NAMES.join(", ")}`);
      }
      Deno.env.set("GSAE_BACKEND", name);
      return name;
    });
}
