/**
 * The browser's web server (`Deno.serve`): the app's static files (only from the app's own
 * folder), the site's data files (held in memory), and `POST /api/prompt`.
 *
 * Holding up under misuse: it binds to 127.0.0.1 unless told another host; a request body over
 * {@link ServerLimits.maxBodyBytes} gets 413 and a prompt over `maxPromptChars` 413; malformed
 * requests (bad JSON, wrong fields, bad path encoding) get 400 with a message; a path outside the
 * app folder gets 403; prompts run one at a time (the model is single-threaded anyway), and when
 * `maxPending` prompt requests are already running or waiting, more get 503 with `Retry-After`
 * at once, so a flood of requests never queues unbounded work or memory.
 *
 * @module
 */
import { extname, join, normalize } from "node:path";
import type { Workspace } from "../experiments/shared/workspace.ts";
import type { BrowserSAE } from "./data.ts";
import { analysePrompt, PromptError } from "./prompt.ts";
import { APP_DIR } from "./site.ts";

/** The server's limits. */
export interface ServerLimits {
  /** Largest request body, bytes (default 16 KiB). */
  maxBodyBytes: number;
  /** Longest prompt, characters (default 4,000). */
  maxPromptChars: number;
  /** Prompt requests running or waiting before more are refused with 503 (default 8). */
  maxPending: number;
}

/** Default {@link ServerLimits}. */
export const DEFAULT_LIMITS: ServerLimits = {
  maxBodyBytes: 16 * 1024,
  maxPromptChars: 4000,
  maxPending: 8,
};

/** What the handler serves. */
export interface HandlerOptions {
  /** The workspace (model and tokenizer) for prompts; null: no prompt page (404). */
  ws: Pick<Workspace, "model" | "tokenizer"> | null;
  /** The SAEs, for prompts. */
  saes: readonly BrowserSAE[];
  /** Data files by path under the site root (`data/…`). */
  data: Readonly<Record<string, string>>;
  /** The app folder (default {@link APP_DIR}). */
  appDir?: string;
  /** Limits (defaults {@link DEFAULT_LIMITS}). */
  limits?: Partial<ServerLimits>;
}

/** Counters of a running handler. */
export interface ServerStats {
  /** Prompt requests answered 200. */
  prompts: number;
  /** Prompt requests refused with 503 (busy). */
  refused: number;
  /** Prompt requests running or waiting now. */
  pending: number;
  /** Most pending at once. */
  maxPendingSeen: number;
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
};

const SECURITY_HEADERS = {
  "x-content-type-options": "nosniff",
  "content-security-policy":
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
};

function json(status: number, value: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json", ...SECURITY_HEADERS, ...headers },
  });
}

function error(status: number, message: string, headers: Record<string, string> = {}): Response {
  return json(status, { error: message }, headers);
}

/** Reads at most `max` bytes of a body; null when it is longer. */
async function readBody(req: Request, max: number): Promise<Uint8Array | null> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > max) return null;
  if (!req.body) return new Uint8Array();
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const part of req.body) {
    size += part.length;
    if (size > max) return null;
    parts.push(part);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) (out.set(p, at), at += p.length);
  return out;
}

/**
 * The file under `root` that the URL path `path` (still percent-encoded) names, or an HTTP
 * status: 400 for a bad encoding, 403 for anything that would leave `root`.
 */
export function staticPath(root: string, path: string): string | 400 | 403 {
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return 400;
  }
  if (decoded.includes("\0") || decoded.includes("\\")) return 400;
  if (decoded.split("/").some((seg) => seg === ".." || seg === ".")) return 403;
  const full = normalize(join(root, decoded));
  return full.startsWith(root.replace(/\/+$/, "") + "/") ? full : 403;
}

/** A request handler for the browser (see the module doc) and its counters. */
export function browserHandler(
  options: HandlerOptions,
): { handler: (req: Request) => Promise<Response>; stats: ServerStats } {
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const appDir = options.appDir ?? APP_DIR;
  const stats: ServerStats = { prompts: 0, refused: 0, pending: 0, maxPendingSeen: 0 };
  let queue: Promise<unknown> = Promise.resolve();

  async function serveStatic(path: string): Promise<Response> {
    const file = staticPath(appDir, path === "/" ? "/index.html" : path.slice("/app".length));
    if (file === 400) return error(400, `malformed path ${path}`);
    if (file === 403) return error(403, `${path} is outside the app folder`);
    const type = TYPES[extname(file)];
    if (!type) return error(404, `no such file: ${path}`);
    try {
      // realPath: a symlink in the app folder must not lead outside it either.
      const real = await Deno.realPath(file);
      if (!real.startsWith((await Deno.realPath(appDir)) + "/")) {
        return error(403, `${path} is outside the app folder`);
      }
      return new Response(await Deno.readFile(real), {
        headers: { "content-type": type, ...SECURITY_HEADERS },
      });
    } catch {
      return error(404, `no such file: ${path}`);
    }
  }

  async function prompt(req: Request): Promise<Response> {
    if (!options.ws) return error(404, "this browser has no prompt page (a static export)");
    if (!(req.headers.get("content-type") ?? "").includes("application/json")) {
      return error(415, 'send the prompt as JSON: {"text": "…"}');
    }
    const body = await readBody(req, limits.maxBodyBytes);
    if (body === null) return error(413, `request body over ${limits.maxBodyBytes} bytes`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(new TextDecoder().decode(body));
    } catch (e) {
      return error(400, `malformed JSON: ${(e as Error).message}`);
    }
    const p = parsed as { text?: unknown; saes?: unknown };
    if (!p || typeof p !== "object" || Array.isArray(p) || typeof p.text !== "string") {
      return error(400, 'the body must be a JSON object with a string field "text"');
    }
    if (p.text.length > limits.maxPromptChars) {
      return error(
        413,
        `prompt of ${p.text.length} characters; the limit is ${limits.maxPromptChars}`,
      );
    }
    let saes = options.saes;
    if (p.saes !== undefined) {
      if (!Array.isArray(p.saes) || !p.saes.every((s) => typeof s === "string")) {
        return error(400, '"saes" must be a list of SAE names');
      }
      const unknown = p.saes.filter((n) => !options.saes.some((s) => s.name === n));
      if (unknown.length > 0) {
        return error(
          400,
          `unknown SAE ${unknown.join(", ")}; known: ${options.saes.map((s) => s.name).join(", ")}`,
        );
      }
      saes = options.saes.filter((s) => (p.saes as string[]).includes(s.name));
    }
    if (stats.pending >= limits.maxPending) {
      stats.refused++;
      return error(503, "busy: too many prompts waiting; retry shortly", { "retry-after": "1" });
    }
    stats.pending++;
    stats.maxPendingSeen = Math.max(stats.maxPendingSeen, stats.pending);
    const text = p.text;
    const run = queue.then(() => analysePrompt(options.ws!, text, { saes }));
    queue = run.catch(() => {});
    try {
      const result = await run;
      stats.prompts++;
      return json(200, result);
    } catch (e) {
      if (e instanceof PromptError) return error(422, e.message);
      throw e;
    } finally {
      stats.pending--;
    }
  }

  async function handler(req: Request): Promise<Response> {
    let url: URL;
    try {
      url = new URL(req.url);
    } catch {
      return error(400, "malformed URL");
    }
    const path = url.pathname;
    try {
      if (path === "/api/prompt") {
        if (req.method !== "POST") return error(405, "POST a JSON body to /api/prompt");
        return await prompt(req);
      }
      if (path === "/api/health") return json(200, { ok: true, ...stats });
      if (req.method !== "GET" && req.method !== "HEAD") {
        return error(405, `${req.method} is not served here`);
      }
      if (path.startsWith("/data/")) {
        let key: string;
        try {
          key = decodeURIComponent(path.slice(1));
        } catch {
          return error(400, `malformed path ${path}`);
        }
        const text = options.data[key];
        return text === undefined ? error(404, `no such data file: ${path}`) : new Response(text, {
          headers: { "content-type": TYPES[".js"], ...SECURITY_HEADERS },
        });
      }
      if (path === "/" || path === "/index.html" || path.startsWith("/app/")) {
        return await serveStatic(path === "/index.html" ? "/" : path);
      }
      return error(404, `no such page: ${path}`);
    } catch (e) {
      return error(500, `internal error: ${(e as Error).message}`);
    }
  }

  return { handler, stats };
}

/** A running browser server. */
export interface BrowserServer {
  /** Its URL, e.g. `http://127.0.0.1:8123/`. */
  url: string;
  /** Its counters. */
  stats: ServerStats;
  /** Stops it. */
  shutdown(): Promise<void>;
  /** Resolves when it has stopped. */
  finished: Promise<void>;
}

/** Starts the server on `host` (default 127.0.0.1) and `port` (default 8123; 0: any free one). */
export function startBrowserServer(
  options: HandlerOptions,
  listen: { host?: string; port?: number; onListen?: (url: string) => void } = {},
): BrowserServer {
  const { handler, stats } = browserHandler(options);
  const hostname = listen.host ?? "127.0.0.1";
  let url = "";
  const server = Deno.serve({
    hostname,
    port: listen.port ?? 8123,
    onListen: (addr) => {
      const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
      url = `http://${host}:${addr.port}/`;
      listen.onListen?.(url);
    },
  }, handler);
  return {
    get url() {
      return url;
    },
    stats,
    shutdown: () => server.shutdown(),
    finished: server.finished,
  };
}
