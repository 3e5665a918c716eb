#!/usr/bin/env python3
"""A TCP proxy on loopback that adds a fixed one-way delay, for bench/run.sh's
"time to app in the real world": it makes a loopback server look DELAY ms away in each
direction (a round-trip time of 2 x DELAY).

    python3 bench/delay-proxy.py --target 127.0.0.1:PORT --delay-ms 10 --port-file FILE \
        [--dns-name NAME]

Listens on 127.0.0.1 (an ephemeral port, written to FILE once listening) and forwards every
connection to TARGET (which must be on loopback). Every chunk read from one side is written to
the other DELAY ms after it arrived, in order, without holding back what follows it (a link
with latency, not a slow link). The TCP handshake itself is not delayed by the kernel, so the
first chunk from the client is held for one extra round trip: the server then receives it at
the time it would behind a real SYN / SYN-ACK exchange (1.5 round trips after connect()).

With --dns-name, it also answers DNS queries on 127.0.0.1:53 (UDP), one round trip
(2 x DELAY) after they arrive: NAME has the A record 127.0.0.1 and no AAAA record; any other
name does not exist. Point a resolver at it with `nameserver 127.0.0.1` (bench/run.sh
bind-mounts such a resolv.conf in a private mount namespace).

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


class Dns(asyncio.DatagramProtocol):
    """A one-name DNS server that answers one round trip late."""

    def __init__(self, name, rtt):
        self.name = name.lower().rstrip(".")
        self.rtt = rtt
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        reply = self.answer(data)
        if reply is not None:
            asyncio.get_running_loop().call_later(self.rtt, self.transport.sendto, reply, addr)

    def answer(self, q):
        if len(q) < 12:
            return None
        i, labels = 12, []
        while i < len(q) and q[i] != 0:
            n = q[i]
            labels.append(q[i + 1 : i + 1 + n].decode("ascii", "replace"))
            i += 1 + n
        end = i + 5  # the zero byte, QTYPE, QCLASS
        if end > len(q):
            return None
        qtype = int.from_bytes(q[i + 1 : i + 3], "big")
        known = ".".join(labels).lower() == self.name
        a = known and qtype == 1
        # ID, flags (response, recursion desired and available, NOERROR or NXDOMAIN), counts.
        flags = 0x8180 if known else 0x8183
        head = q[:2] + flags.to_bytes(2, "big") + b"\x00\x01" + (b"\x00\x01" if a else b"\x00\x00") + b"\x00\x00\x00\x00"
        body = q[12:end]
        if a:
            body += b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x7f\x00\x00\x01"
        return head + body


async def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", required=True, help="HOST:PORT on loopback")
    p.add_argument("--delay-ms", type=float, default=10.0, help="one-way delay (default 10)")
    p.add_argument("--port-file", required=True, help="where to write the listening port")
    p.add_argument("--dns-name", help="also serve DNS on 127.0.0.1:53 for this name")
    args = p.parse_args()
    host, _, port = args.target.rpartition(":")
    host = host.strip("[]")
    if not ipaddress.ip_address(host).is_loopback:
        sys.exit("delay-proxy: the target must be a loopback address")
    delay = args.delay_ms / 1000.0
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, (host, int(port)), delay), "127.0.0.1", 0
    )
    loop = asyncio.get_running_loop()
    if args.dns_name:
        try:
            await loop.create_datagram_endpoint(
                lambda: Dns(args.dns_name, 2 * delay), local_addr=("127.0.0.1", 53)
            )
        except OSError as e:
            print(f"delay-proxy: no DNS server: {e}", file=sys.stderr)
    listen_port = server.sockets[0].getsockname()[1]
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{listen_port}\n")
    os.replace(tmp, args.port_file)
    stop = asyncio.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
