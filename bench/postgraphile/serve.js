// PostGraphile 4 with @graphile/pg-aggregates over a Zeroboard database, one worker process
// per core (node's cluster), for the company-scale benchmark (examples/scale.rs).
//
// Environment: DATABASE_URL, PORT, POOL_SIZE (connections over all workers; default 16,
// Zeroboard's own pool on PostgreSQL), WORKERS (default: the machine's cores).
// Prints "worker <pid>" for each worker, then "ready <url>" once every worker listens.
// Read-only: no mutations are exposed. SIGTERM stops the workers, then the primary.

"use strict";

const cluster = require("node:cluster");
const http = require("node:http");
const os = require("node:os");

const workers = Number(process.env.WORKERS) || os.availableParallelism();
const poolSize = Number(process.env.POOL_SIZE) || 16;
const port = Number(process.env.PORT);
const url = process.env.DATABASE_URL;
if (!url || !port) {
  console.error("set DATABASE_URL and PORT");
  process.exit(2);
}

if (cluster.isPrimary) {
  let stopping = false;
  let listening = 0;
  for (let i = 0; i < workers; i++) {
    const worker = cluster.fork();
    console.log(`worker ${worker.process.pid}`);
    worker.on("listening", () => {
      listening += 1;
      if (listening === workers) {
        console.log(`ready http://127.0.0.1:${port}/graphql`);
      }
    });
  }
  cluster.on("exit", (worker, code, signal) => {
    if (!stopping) {
      console.error(`worker ${worker.process.pid} exited (${signal || code})`);
      process.exit(1);
    }
  });
  process.on("SIGTERM", () => {
    stopping = true;
    for (const worker of Object.values(cluster.workers)) {
      worker.kill("SIGTERM");
    }
    setTimeout(() => process.exit(0), 200);
  });
} else {
  const { Pool } = require("pg");
  const { postgraphile } = require("postgraphile");
  const { default: PgAggregatesPlugin } = require("@graphile/pg-aggregates");
  const pool = new Pool({ connectionString: url, max: Math.max(1, Math.ceil(poolSize / workers)) });
  const handler = postgraphile(pool, "public", {
    appendPlugins: [PgAggregatesPlugin],
    disableDefaultMutations: true,
    disableQueryLog: true,
    ignoreRBAC: true,
    retryOnInitFail: false,
    graphqlRoute: "/graphql",
  });
  http.createServer(handler).listen(port, "127.0.0.1");
  process.on("disconnect", () => process.exit(0));
}
