// Peer "node-ws": Node's `ws` with permessage-deflate, the reference for deflate's cost.
//
// usage: node bench/node-ws/server.mjs HOST:PORT
//
// `/ws` echoes every message as it came (text stays text). `perMessageDeflate: true`
// takes ws's own defaults for it: server and client context takeover, 15-bit windows,
// zlib level 6 (Z_DEFAULT_COMPRESSION), messages under 1 KiB sent uncompressed
// (threshold 1024), at most 10 zlib jobs at once. ws sets TCP_NODELAY on every socket
// (WebSocket.setSocket calls socket.setNoDelay()).
import { WebSocketServer } from 'ws';

const [host, port] = (process.argv[2] ?? '127.0.0.1:9010').split(':');
const server = new WebSocketServer({ host, port: Number(port), path: '/ws', perMessageDeflate: true });
server.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
server.on('listening', () => console.log(`listening on ${host}:${port}`));
