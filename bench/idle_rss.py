"""Idle memory per connection of a running server (a quick probe until bench/ has its
Rust load generator).

Usage: python bench/idle_rss.py HOST:PORT CONNECTIONS SERVER_PID [--deflate]
  e.g. cargo build --release --example echo
       WSFRAME_ADDR=127.0.0.1:18080 ./target/release/examples/echo &
       ulimit -n 20000; .venv-py3/bin/python bench/idle_rss.py 127.0.0.1:18080 5000 $!

Opens CONNECTIONS WebSocket connections to /ws, echoes one message on each (so lazily
allocated buffers are counted), waits a second, and prints the server's RSS growth per
connection from /proc/PID/status. With --deflate each client offers permessage-deflate
as browsers do (`permessage-deflate; client_max_window_bits`) and the message is a
1 KiB chat-like JSON, so that it goes compressed both ways.
"""
import asyncio, sys, os, time
import websockets
N = int(sys.argv[2]); addr = sys.argv[1]; pid = int(sys.argv[3])
DEFLATE = "--deflate" in sys.argv[4:]
MESSAGE = ('{"type":"message","room":"general","user":"user-%d","text":"%s"}'
           % (7, "the weather, the build and the release plan " * 21)) if DEFLATE else "x"
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"): return int(line.split()[1])
async def main():
    base = rss()
    conns = []
    for i in range(N):
        conns.append(await websockets.connect(f"ws://{addr}/ws", ping_interval=None, max_size=None,
                                              compression="deflate" if DEFLATE else None))
    if DEFLATE:
        agreed = conns[0].response.headers.get("Sec-WebSocket-Extensions")
        assert agreed and agreed.startswith("permessage-deflate"), agreed
        print(f"negotiated: {agreed}")
    # exchange one message on each so buffers that are allocated lazily are counted
    for c in conns:
        await c.send(MESSAGE); assert await c.recv() == MESSAGE
    await asyncio.sleep(1)
    after = rss()
    print(f"{N} idle connections: RSS {base} KiB -> {after} KiB, {(after-base)/N:.2f} KiB per connection")
    for c in conns: await c.close()
asyncio.run(main())
