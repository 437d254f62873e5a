import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/tensor/backend.ts";
import { klDivergence } from "../lib/metrics/divergence.ts";
import { close } from "./metrics_fixtures.ts";

await initBackend();

Deno.test("klDivergence: per row, by hand; zero against itself; not symmetric", () => {
  const p = tf.log(tf.tensor2d([[0.5, 0.5], [0.1, 0.9]])) as tf.Tensor2D;
  const q = tf.log(tf.tensor2d([[0.25, 0.75], [0.1, 0.9]])) as tf.Tensor2D;
  const [pq, qp, pp] = [klDivergence(p, q), klDivergence(q, p), klDivergence(p, p)].map((t) =>
    Array.from(t.dataSync())
  );
  close(pq[0], 0.5 * Math.log(2) + 0.5 * Math.log(2 / 3));
  close(qp[0], 0.25 * Math.log(0.5) + 0.75 * Math.log(1.5));
  close(pq[1], 0);
  pp.forEach((v) => close(v, 0));
  tf.dispose([p, q]);
});
