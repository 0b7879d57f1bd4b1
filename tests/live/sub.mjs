// A graphql-ws client (the npm package, graphql-transport-ws) for the live tests: one
// connection with one subscription, each event printed as one JSON line on stdout with the
// time it arrived (ms since the epoch). Stops on stdin's end or close.
// usage: NODE_PATH=<node_modules> node sub.mjs URL TOKEN 'subscription { ... }' [VARIABLES_JSON]
import { createRequire } from "module";
const require = createRequire(process.env.LIVE_MODULES + "/");
const { createClient } = require("graphql-ws");
const WebSocket = require("ws");

const [url, token, query, variables] = process.argv.slice(2);
const say = (o) => process.stdout.write(JSON.stringify({ at: Date.now(), ...o }) + "\n");
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: token ? { Authorization: "Bearer " + token } : {},
  retryAttempts: 0,
  lazy: false,
  on: {
    connected: () => say({ connected: true }),
    closed: (e) => say({ closed: e && e.code, reason: e && e.reason }),
    ping: (received) => received && say({ ping: true }),
  },
});
client.subscribe(
  { query, variables: variables ? JSON.parse(variables) : undefined },
  {
    next: (v) => say({ next: v }),
    error: (e) => say({ error: String((e && (e.message || e.reason || e.code)) || JSON.stringify(e)) }),
    complete: () => say({ complete: true }),
  },
);
process.stdin.on("end", () => {
  client.dispose();
  setTimeout(() => process.exit(0), 50);
});
process.stdin.resume();
