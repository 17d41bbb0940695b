/**
 * `lgpo-run dashboard`: a local web server (hono on Node's http) that shows the report page of
 * the given run directories and keeps it current while they train. It listens on 127.0.0.1 only,
 * answers GET and HEAD only, accepts only a loopback Host header (no DNS rebinding), and serves
 * no file by path: runs are addressed by their index on the command line, and the only files read
 * are their metrics.jsonl and samples.jsonl (refused when they resolve outside the run directory).
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";

import { serve } from "@hono/node-server";
import { Hono } from "hono";

import { renderPage } from "../report/html.js";
import { type PageOptions, pageData } from "../report/page_builder.js";
import { checkRunDir } from "../report/run_dir.js";
import { RefusedPathError } from "./run_files.js";
import { RunFollower } from "./run_follower.js";

/** Options of the dashboard. */
export interface DashboardOptions extends PageOptions {
  /** TCP port on 127.0.0.1; 0 picks a free one. Default 6150. */
  port?: number;
}

/** A running dashboard. */
export interface Dashboard {
  url: string;
  port: number;
  /** The address the server bound, as Node reports it (127.0.0.1, IPv4). */
  address: AddressInfo;
  close(): Promise<void>;
}

export const DEFAULT_PORT = 6150;
const MAX_SAMPLES = 200;

const HEADERS = {
  "X-Content-Type-Options": "nosniff",
  "Cache-Control": "no-store",
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
};

/** A non-negative integer query value, else `fallback`. */
function count(text: string | undefined, fallback: number): number {
  return text !== undefined && /^\d{1,12}$/.test(text) ? Number(text) : fallback;
}

/** The dashboard's request handler for `dirs`; `port()` gives the port it listens on (for the Host check). */
export function dashboardApp(dirs: string[], options: PageOptions, port: () => number): Hono {
  for (const dir of dirs) checkRunDir(dir);
  const followers = dirs.map((dir) => new RunFollower(dir));
  const app = new Hono();

  app.use("*", async (c, next) => {
    const allowed = [`127.0.0.1:${port()}`, `localhost:${port()}`];
    if (!allowed.includes(c.req.header("host") ?? "")) return c.json({ error: "forbidden host" }, 403, HEADERS);
    if (c.req.method !== "GET" && c.req.method !== "HEAD") {
      return c.json({ error: "read-only server" }, 405, { ...HEADERS, Allow: "GET, HEAD" });
    }
    await next();
    for (const [name, value] of Object.entries(HEADERS)) c.header(name, value);
  });

  app.get("/", (c) => c.html(renderPage(pageData("dashboard", dirs, options))));

  const follower = (run: string) => (/^\d{1,6}$/.test(run) ? followers[Number(run)] : undefined);

  app.get("/api/runs/:run/metrics", (c) => {
    const run = follower(c.req.param("run"));
    if (run === undefined) return c.json({ error: "no such run" }, 404);
    return c.json(run.metrics(count(c.req.query("from"), 0), count(c.req.query("generation"), -1)));
  });

  app.get("/api/runs/:run/samples", (c) => {
    const run = follower(c.req.param("run"));
    if (run === undefined) return c.json({ error: "no such run" }, 404);
    return c.json({ samples: run.samples(Math.min(count(c.req.query("limit"), 16), MAX_SAMPLES)) });
  });

  app.notFound((c) => c.json({ error: "not found" }, 404, HEADERS));
  app.onError((error, c) => {
    const status = error instanceof RefusedPathError ? 403 : 500;
    return c.json({ error: error.message.split("\n")[0] }, status, HEADERS);
  });
  return app;
}

/** Starts the dashboard on 127.0.0.1. */
export async function startDashboard(dirs: string[], options: DashboardOptions = {}): Promise<Dashboard> {
  let port = options.port ?? DEFAULT_PORT;
  const app = dashboardApp(dirs, options, () => port);
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, port, hostname: "127.0.0.1" }, (info: AddressInfo) => {
      port = info.port;
      resolve({
        url: `http://127.0.0.1:${port}/`,
        port,
        address: server.address() as AddressInfo,
        close: () =>
          new Promise((done) => {
            server.close(() => done());
            (server as Server).closeAllConnections?.();
          }),
      });
    });
    server.once("error", reject);
  });
}
