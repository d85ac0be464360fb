"""Idle memory per connection of a running server (a quick probe until bench/ has its
Rust load generator).

Usage: python bench/idle_rss.py HOST:PORT CONNECTIONS SERVER_PID
  e.g. cargo build --release --example echo
       WSFRAME_ADDR=127.0.0.1:18080 ./target/release/examples/echo &
       ulimit -n 20000; .venv-py3/bin/python bench/idle_rss.py 127.0.0.1:18080 5000 $!

Opens CONNECTIONS WebSocket connections to /ws, echoes one message on each (so lazily
allocated buffers are counted), waits a second, and prints the server's RSS growth per
connection from /proc/PID/status.
"""
import asyncio, sys, os, time
import websockets
N = int(sys.argv[2]); addr = sys.argv[1]; pid = int(sys.argv[3])
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"): return int(line.split()[1])
async def main():
    base = rss()
    conns = []
    for i in range(N):
        conns.append(await websockets.connect(f"ws://{addr}/ws", ping_interval=None, max_size=None, compression=None))
    # exchange one message on each so buffers that are allocated lazily are counted
    for c in conns:
        await c.send("x"); await c.recv()
    await asyncio.sleep(1)
    after = rss()
    print(f"{N} idle connections: RSS {base} KiB -> {after} KiB, {(after-base)/N:.2f} KiB per connection")
    for c in conns: await c.close()
asyncio.run(main())
