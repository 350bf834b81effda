"""Sync pages asked for and never read: how much memory one client can make the server hold.

A probe, not a benchmark scenario (loopback only). It makes the demo clinic in a throwaway
folder, serves it with `--tls off` on 127.0.0.1, gives one patient's conversation 500 messages
of 16,000 characters, opens SOCKETS sockets of that patient, and has each send ASKS `sync`
frames from 0 (each answered by a page of about 1 MiB) without ever reading an answer, at the
rate the server allows (`sync` 10/s, burst 20). It prints the server's resident memory at its
peak while they wait, then reads every socket to check each still gets its answers.
docs/benchmarks.md has its results.

Needs the release server (`cargo build --release -p clinic-server`) and two packages:
    python3 -m venv .venv && .venv/bin/pip install websockets requests
    .venv/bin/python bench/probes/unread_syncs.py [SOCKETS=10] [ASKS=60]
(`CLINIC_SERVER_BIN` names another server binary.)
"""
import asyncio
import json
import sys
import time

import websockets

from stall import Server, seed_large

PORT = 18473
SOCKETS = int(sys.argv[1]) if len(sys.argv) > 1 else 10
ASKS = int(sys.argv[2]) if len(sys.argv) > 2 else 60


async def ask(s):
    # The client library reads up to 16 frames ahead of `recv`; past that, nothing is read.
    for _ in range(ASKS):
        await s.send(json.dumps({'type': 'sync', 'since': 0, 'limit': 500}))


async def main(srv):
    tok = await seed_large(srv)
    print('seeded; rss', srv.rss_mib(), 'MiB')
    socks = []
    for _ in range(SOCKETS):
        s = await websockets.connect(srv.ws_url, max_size=None, max_queue=16)
        await s.send(json.dumps({'type': 'authenticate', 'token': tok}))
        await s.recv()
        socks.append(s)
    t0 = time.monotonic()
    asking = asyncio.gather(*(ask(s) for s in socks))
    peak = 0
    while time.monotonic() - t0 < ASKS / 10 + 6:
        peak = max(peak, srv.rss_mib())
        await asyncio.sleep(0.2)
    print(f'{SOCKETS} sockets x {ASKS} unread syncs: peak rss {peak} MiB')
    # Every socket is still open and answers every sync once read.
    answered = 0
    for s in socks:
        got = 0
        while got < ASKS:
            frame = json.loads(await asyncio.wait_for(s.recv(), 60))
            if frame['type'] == 'sync:batch':
                got += 1
        answered += got
    await asking
    print(f'answered {answered} of {SOCKETS * ASKS}')


with Server(PORT) as server:
    asyncio.run(main(server))
