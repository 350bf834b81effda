"""Sync pages against a stalled writer: how much memory waiting pages can make the server hold.

A probe, not a benchmark scenario (loopback only). It makes the demo clinic in a throwaway
folder, serves it with `--tls off` on 127.0.0.1, gives one patient's conversation 500 messages
of 16,000 characters (the largest page a `sync` may ask for), opens SOCKETS sockets of that
patient, takes the database's write lock from another connection for 9 s (as a slow disk or
another program would stall the writer: a read's audit row waits for it) and has every socket
ask for that page. It prints the server's resident memory at its peak during the stall.
docs/benchmarks.md has its results.

Needs the release server (`cargo build --release -p clinic-server`) and two packages:
    python3 -m venv .venv && .venv/bin/pip install websockets requests
    .venv/bin/python bench/probes/sync_flood.py [SOCKETS=20]
(`CLINIC_SERVER_BIN` names another server binary.)
"""
import asyncio
import json
import sys
import time

import websockets

from stall import Server, seed_large

PORT = 18472
SOCKETS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
HOLD = 9.0


async def main(srv):
    tok = await seed_large(srv)
    print('seeded; rss', srv.rss_mib(), 'MiB')
    socks = []
    for _ in range(SOCKETS):
        s = await websockets.connect(srv.ws_url, max_size=None)
        await s.send(json.dumps({'type': 'authenticate', 'token': tok}))
        await s.recv()
        socks.append(s)
    lock = srv.stall()
    t0 = time.monotonic()
    for s in socks:
        await s.send(json.dumps({'type': 'sync', 'since': 0, 'limit': 500}))
    peak = 0
    while time.monotonic() - t0 < HOLD:
        peak = max(peak, srv.rss_mib())
        await asyncio.sleep(0.2)
    lock.execute('COMMIT')
    lock.close()
    print(f'{SOCKETS} sockets: peak rss during the stall {peak} MiB')


with Server(PORT) as server:
    asyncio.run(main(server))
