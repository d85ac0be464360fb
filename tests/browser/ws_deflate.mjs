// Node's `ws` library, with permessage-deflate on as its users turn it on, against the
// echo example: it negotiates the extension and messages go both ways.
//
// usage: node ws_deflate.mjs ws://HOST:PORT/ws
// Prints one line per check and "N passed, M failed"; exit status 0 only if all passed.
import { check, finish } from "./check.mjs";
import WebSocket from "ws";
import { randomBytes } from "node:crypto";

const url = process.argv[2];
if (!url) {
  console.error("usage: node ws_deflate.mjs ws://HOST:PORT/ws");
  process.exit(2);
}
const TIMEOUT = 10000;

function within(promise, what) {
  return Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), TIMEOUT)),
  ]);
}

function open(options) {
  const ws = new WebSocket(url, options);
  const messages = [];
  const waiting = [];
  ws.on("message", (data, isBinary) => {
    const message = { data: isBinary ? Buffer.from(data) : data.toString(), isBinary };
    const next = waiting.shift();
    if (next) next(message);
    else messages.push(message);
  });
  const opened = new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  const next = () =>
    messages.length > 0 ? Promise.resolve(messages.shift()) : new Promise((r) => waiting.push(r));
  return { ws, opened, next };
}

// As ws documents it: compress every message (threshold 0), context takeover both ways.
const conn = open({ perMessageDeflate: { threshold: 0 } });
await check("the handshake negotiates permessage-deflate", async () => {
  await within(conn.opened, "open");
  if (!conn.ws.extensions.includes("permessage-deflate")) {
    throw new Error(`negotiated extensions: ${JSON.stringify(conn.ws.extensions)}`);
  }
});
await check("text, JSON and binary echo both ways, compressed", async () => {
  const json = JSON.stringify({ type: "chat", user: "ada", text: "deflate me ".repeat(40) });
  const sent = [
    { data: json, isBinary: false },
    { data: json.replace("ada", "bob"), isBinary: false },
    { data: "short", isBinary: false },
    { data: randomBytes(3000), isBinary: true },
  ];
  for (const message of sent) {
    conn.ws.send(message.data, { binary: message.isBinary });
    const got = await within(conn.next(), "echo");
    const same = message.isBinary
      ? got.isBinary && Buffer.compare(got.data, message.data) === 0
      : !got.isBinary && got.data === message.data;
    if (!same) throw new Error(`sent ${message.data.length} bytes, got ${got.data.length}`);
  }
});
await check("a clean close", async () => {
  const closed = new Promise((resolve) => conn.ws.once("close", (code) => resolve(code)));
  conn.ws.close(1000, "done");
  const code = await within(closed, "close");
  if (code !== 1000) throw new Error(`closed with ${code}`);
});
finish();
