#!/usr/bin/env python3
"""A TCP proxy on loopback that adds a fixed one-way delay, for bench/run.sh's
"time to app in the real world": it makes a loopback server look DELAY ms away in each
direction (a round-trip time of 2 x DELAY).

    python3 bench/delay-proxy.py --target 127.0.0.1:PORT --delay-ms 10 --port-file FILE

Listens on 127.0.0.1 (an ephemeral port, written to FILE once listening) and forwards every
connection to TARGET (which must be on loopback). Every chunk read from one side is written to
the other DELAY ms after it arrived, in order, without holding back what follows it (a link
with latency, not a slow link). The TCP handshake itself is not delayed by the kernel, so the
first chunk from the client is held for one extra round trip: the server then receives it at
the time it would behind a real SYN / SYN-ACK exchange (1.5 round trips after connect()).

Only the standard library; stops on SIGTERM or SIGINT.
"""

import argparse
import asyncio
import ipaddress
import os
import signal
import sys


async def pump(reader, writer, delay, first_extra):
    """Copy reader to writer, each chunk DELAY (plus FIRST_EXTRA for the first) after it came."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def send():
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                break
            writer.write(data)
            await writer.drain()
        try:
            if writer.can_write_eof():
                writer.write_eof()
        except OSError:
            pass

    sender = asyncio.create_task(send())
    extra = first_extra
    try:
        while True:
            data = await reader.read(65536)
            now = loop.time()
            if not data:
                await queue.put((now + delay, None))
                break
            await queue.put((now + delay + extra, data))
            extra = 0.0
        await sender
    except (ConnectionError, OSError):
        sender.cancel()


async def handle(client_reader, client_writer, target, delay):
    try:
        server_reader, server_writer = await asyncio.open_connection(*target)
    except OSError:
        client_writer.close()
        return
    try:
        await asyncio.gather(
            pump(client_reader, server_writer, delay, 2 * delay),
            pump(server_reader, client_writer, delay, 0.0),
        )
    finally:
        for w in (client_writer, server_writer):
            try:
                w.close()
            except OSError:
                pass


async def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", required=True, help="HOST:PORT on loopback")
    p.add_argument("--delay-ms", type=float, default=10.0, help="one-way delay (default 10)")
    p.add_argument("--port-file", required=True, help="where to write the listening port")
    args = p.parse_args()
    host, _, port = args.target.rpartition(":")
    host = host.strip("[]")
    if not ipaddress.ip_address(host).is_loopback:
        sys.exit("delay-proxy: the target must be a loopback address")
    delay = args.delay_ms / 1000.0
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, (host, int(port)), delay), "127.0.0.1", 0
    )
    listen_port = server.sockets[0].getsockname()[1]
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{listen_port}\n")
    os.replace(tmp, args.port_file)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
