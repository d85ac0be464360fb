#!/usr/bin/env python3
"""Independent black-box client for the wsframe example echo server.

Usage:
    .venv-py3/bin/python tests/python/echo_client.py 127.0.0.1:PORT [--timeout 10] [-k NAME]

Uses the `websockets` library (pinned in .ci/setup-python; the asyncio client
API `websockets.asyncio.client.connect`, which is the non-deprecated one since
websockets 13/14) for the normal traffic, and a raw socket where the library
would refuse to produce the bytes we need (invalid UTF-8 in a text frame) or
where no WebSocket handshake is wanted at all (plain HTTP GET).

Contract of examples/echo being checked:
  * ws://HOST/ws        echoes text and binary messages; max message 1 MiB
  * ws://HOST/ws/large  echoes too; max message 64 MiB
  * unknown path        handshake answered with HTTP 404
  * plain GET /ws       HTTP 426 + "Upgrade: websocket"
  * foreign Origin      HTTP 403; no Origin or same origin accepted
  * message > 1 MiB     server closes with 1009
  * invalid UTF-8 text  server closes with 1007

Prints one line per check ("ok  name" / "FAIL name: why") and finally
"N passed, M failed" alone on a line. Exit status 0 only if nothing failed.
Every check has its own time limit, so the script cannot hang.
"""

import argparse
import asyncio
import base64
import http.client
import os
import socket
import struct
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

MIB = 1 << 20
SMALL_LIMIT = MIB  # /ws
LARGE_LIMIT = 64 * MIB  # /ws/large


class CheckFailed(Exception):
    pass


def expect(cond, why):
    if not cond:
        raise CheckFailed(why)


def describe(data):
    """Short description of a message for failure output."""
    kind = "text" if isinstance(data, str) else "binary"
    head = data[:32]
    return f"{kind} len={len(data)} head={head!r}"


class Client:
    def __init__(self, server, timeout):
        host, _, port = server.rpartition(":")
        if not host or not port.isdigit():
            raise SystemExit(f"server must be HOST:PORT, got {server!r}")
        self.server = server
        self.host = host
        self.port = int(port)
        self.timeout = timeout

    def url(self, path):
        return f"ws://{self.server}{path}"

    def connect(self, path="/ws", **kwargs):
        # compression=None: the checks must not depend on whether the server
        # implements permessage-deflate (one separate check offers it).
        opts = dict(
            compression=None,
            max_size=None,  # we receive what the server echoes, however big
            open_timeout=self.timeout,
            close_timeout=min(3, self.timeout),
            ping_interval=None,
        )
        opts.update(kwargs)
        return connect(self.url(path), **opts)

    # --- helpers -----------------------------------------------------------

    async def roundtrip(self, path, messages, **kwargs):
        async with self.connect(path, **kwargs) as ws:
            for msg in messages:
                await ws.send(msg)
                got = await ws.recv()
                expect(type(got) is type(msg), f"sent {describe(msg)}, got {describe(got)}")
                expect(got == msg, f"sent {describe(msg)}, got different {describe(got)}")

    async def expect_close_code(self, path, message, code):
        async with self.connect(path) as ws:
            try:
                await ws.send(message)
                got = await ws.recv()
            except ConnectionClosed as exc:
                rcvd = exc.rcvd
                expect(
                    rcvd is not None,
                    f"connection dropped without a close frame from the server ({exc})",
                )
                expect(
                    rcvd.code == code,
                    f"server closed with {rcvd.code} {rcvd.reason!r}, expected {code}",
                )
                return
            raise CheckFailed(f"server did not close; it answered {describe(got)}")

    async def expect_handshake_status(self, path, status, **kwargs):
        try:
            async with self.connect(path, **kwargs):
                pass
        except InvalidStatus as exc:
            got = exc.response.status_code
            expect(got == status, f"handshake answered with HTTP {got}, expected {status}")
            return
        raise CheckFailed(f"handshake accepted (101), expected HTTP {status}")

    # --- raw socket pieces -------------------------------------------------

    def raw_upgrade(self, path):
        """Open a TCP connection and perform the opening handshake by hand."""
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = (
            f"GET {path} HTTP/1.1\r\n"
            f"Host: {self.server}\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            "\r\n"
        )
        sock.sendall(req.encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(4096)
            if not chunk:
                sock.close()
                raise CheckFailed(f"connection closed during handshake; got {buf!r}")
            buf += chunk
            if len(buf) > 65536:
                sock.close()
                raise CheckFailed("handshake response too long")
        head, _, rest = buf.partition(b"\r\n\r\n")
        status_line = head.split(b"\r\n", 1)[0]
        if not status_line.startswith(b"HTTP/1.1 101"):
            sock.close()
            raise CheckFailed(f"raw handshake not accepted: {status_line!r}")
        return sock, rest

    @staticmethod
    def masked_frame(opcode, payload, fin=True):
        first = (0x80 if fin else 0) | opcode
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", first, 0x80 | n)
        elif n < 1 << 16:
            header = struct.pack("!BBH", first, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", first, 0x80 | 127, n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return header + mask + masked

    @staticmethod
    def read_frame(sock, buf):
        """Read one (unmasked, server-to-client) frame. Returns (opcode, payload, rest)."""

        def need(n):
            nonlocal buf
            while len(buf) < n:
                chunk = sock.recv(65536)
                if not chunk:
                    raise CheckFailed("server closed TCP without sending a close frame")
                buf += chunk

        need(2)
        b0, b1 = buf[0], buf[1]
        opcode = b0 & 0x0F
        expect(not b1 & 0x80, "server sent a masked frame")
        n = b1 & 0x7F
        off = 2
        if n == 126:
            need(4)
            n = struct.unpack("!H", buf[2:4])[0]
            off = 4
        elif n == 127:
            need(10)
            n = struct.unpack("!Q", buf[2:10])[0]
            off = 10
        need(off + n)
        return opcode, buf[off : off + n], buf[off + n :]

    def raw_expect_close(self, path, frames, code):
        sock, buf = self.raw_upgrade(path)
        try:
            sock.sendall(b"".join(frames))
            while True:
                opcode, payload, buf = self.read_frame(sock, buf)
                if opcode == 0x8:
                    break
                # anything else (e.g. an echo) means the server accepted it
                raise CheckFailed(f"expected a close frame, got opcode {opcode:#x} payload {payload[:32]!r}")
            expect(len(payload) >= 2, f"close frame without a status code: {payload!r}")
            got = struct.unpack("!H", payload[:2])[0]
            expect(got == code, f"server closed with {got} {payload[2:]!r}, expected {code}")
            # complete the closing handshake politely
            try:
                sock.sendall(self.masked_frame(0x8, payload[:2]))
            except OSError:
                pass
        finally:
            sock.close()


# --- checks ------------------------------------------------------------------

CHECKS = []


def check(name):
    def deco(fn):
        CHECKS.append((name, fn))
        return fn

    return deco


@check("echo text")
async def _(c):
    await c.roundtrip("/ws", ["hello", "Hello, wsframe! \u00e9\u00e8 \u2713 \U0001f600"])


@check("echo binary")
async def _(c):
    await c.roundtrip("/ws", [b"\x00\x01\x02\xff", os.urandom(1000)])


@check("echo empty text")
async def _(c):
    await c.roundtrip("/ws", [""])


@check("echo empty binary")
async def _(c):
    await c.roundtrip("/ws", [b""])


@check("echo 64 KiB text")
async def _(c):
    unit = "wsframe \u00e9\u2713 "  # mixes 1-, 2- and 3-byte UTF-8 sequences
    text = (unit * (65536 // len(unit.encode()) + 1))
    await c.roundtrip("/ws", [text])


@check("echo 64 KiB binary")
async def _(c):
    await c.roundtrip("/ws", [os.urandom(65536)])


@check("echo exactly 1 MiB binary on /ws (at the limit)")
async def _(c):
    await c.roundtrip("/ws", [os.urandom(SMALL_LIMIT)])


@check("echo 100 messages in order")
async def _(c):
    async with c.connect("/ws") as ws:
        msgs = [f"msg {i}" if i % 2 else f"msg {i}".encode() for i in range(100)]
        for m in msgs:
            await ws.send(m)
        for m in msgs:
            got = await ws.recv()
            expect(got == m, f"expected {describe(m)}, got {describe(got)}")


@check("echo fragmented text")
async def _(c):
    parts = ["frag", "mented ", "\u00e9\u2713", ""]
    async with c.connect("/ws") as ws:
        await ws.send(parts)  # an iterable is sent as one fragmented message
        got = await ws.recv()
        expect(got == "".join(parts), f"got {describe(got)}")


@check("ping answered with pong")
async def _(c):
    async with c.connect("/ws") as ws:
        waiter = await ws.ping(b"wsframe-ping")
        await asyncio.wait_for(waiter, c.timeout / 2)


@check("clean close answered with 1000")
async def _(c):
    async with c.connect("/ws") as ws:
        await ws.send("bye")
        await ws.recv()
        await ws.close(1000, "done")
        expect(ws.close_code == 1000, f"server's close code was {ws.close_code}")


@check("permessage-deflate negotiated as websockets offers it, echo both ways")
async def _(c):
    # websockets offers "permessage-deflate; client_max_window_bits" by default.
    async with c.connect("/ws", compression="deflate") as ws:
        answered = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        expect(
            answered.startswith("permessage-deflate; server_no_context_takeover"),
            f"server answered extensions {answered!r}",
        )
        # Compressible text, incompressible binary, a small one under the threshold,
        # and a message the client compresses with reference to the ones before.
        for msg in ["deflate? " * 1000, os.urandom(4096), "hi", '{"a":"deflate? "}' * 50]:
            await ws.send(msg)
            got = await ws.recv()
            expect(got == msg, f"sent {describe(msg)}, got {describe(got)}")


@check("echo 2 MiB binary on /ws/large")
async def _(c):
    await c.roundtrip("/ws/large", [os.urandom(2 * MIB)])


@check("echo 1 MiB + 1 text on /ws/large")
async def _(c):
    await c.roundtrip("/ws/large", ["x" * (SMALL_LIMIT + 1)])


@check("text over 1 MiB on /ws closed with 1009")
async def _(c):
    await c.expect_close_code("/ws", "x" * (SMALL_LIMIT + 1), 1009)


@check("binary over 1 MiB on /ws closed with 1009")
async def _(c):
    await c.expect_close_code("/ws", b"\x00" * (SMALL_LIMIT + 1), 1009)


@check("invalid UTF-8 text closed with 1007")
async def _(c):
    await asyncio.to_thread(
        c.raw_expect_close, "/ws", [Client.masked_frame(0x1, b"\xff\xfe")], 1007
    )


@check("unknown path rejected with 404")
async def _(c):
    await c.expect_handshake_status("/nope", 404)


@check("plain GET answered with 426 + Upgrade: websocket")
async def _(c):
    def run():
        conn = http.client.HTTPConnection(c.host, c.port, timeout=c.timeout)
        try:
            conn.request("GET", "/ws")
            resp = conn.getresponse()
            resp.read()
            expect(resp.status == 426, f"got HTTP {resp.status} {resp.reason}, expected 426")
            upgrade = resp.getheader("Upgrade")
            expect(
                upgrade is not None and upgrade.strip().lower() == "websocket",
                f"Upgrade header is {upgrade!r}, expected 'websocket'",
            )
        finally:
            conn.close()

    await asyncio.to_thread(run)


@check("foreign Origin rejected with 403")
async def _(c):
    await c.expect_handshake_status("/ws", 403, origin="http://evil.example")


@check("no Origin accepted")
async def _(c):
    await c.roundtrip("/ws", ["no origin"])


@check("same Origin accepted")
async def _(c):
    await c.roundtrip("/ws", ["same origin"], origin=f"http://{c.server}")


async def run_check(c, fn):
    try:
        await asyncio.wait_for(fn(c), c.timeout)
    except CheckFailed as exc:
        return str(exc)
    except (asyncio.TimeoutError, TimeoutError):
        return f"timed out after {c.timeout:g} s"
    except InvalidStatus as exc:
        return f"handshake rejected: HTTP {exc.response.status_code}"
    except ConnectionClosed as exc:
        return f"connection closed unexpectedly: {exc}"
    except Exception as exc:  # noqa: BLE001 - report anything as a failure
        return f"{type(exc).__name__}: {exc}"
    return None


async def main_async(args):
    c = Client(args.server, args.timeout)
    passed = failed = 0
    for name, fn in CHECKS:
        if args.k and not any(k.lower() in name.lower() for k in args.k):
            continue
        why = await run_check(c, fn)
        if why is None:
            passed += 1
            print(f"ok  {name}", flush=True)
        else:
            failed += 1
            print(f"FAIL {name}: {why}", flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 and passed > 0 else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("server", help="HOST:PORT of the echo server, e.g. 127.0.0.1:9001")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per check (default 10)")
    p.add_argument("-k", action="append", help="only run checks whose name contains this (repeatable)")
    args = p.parse_args()
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
