"""A receipt flood against a stalled writer: how much memory it can make the server hold.

A probe, not a benchmark scenario (loopback only). It makes the demo clinic in a throwaway
folder, serves it with `--tls off` on 127.0.0.1, opens SOCKETS sockets of one patient account,
takes the database's write lock from another connection for HOLD seconds (as a slow disk or
another program would stall the writer) and has every socket send up to FRAMES
`message:delivered` frames of 1,000 ids each, as fast as the server reads them. It prints the
server's resident memory before, during and after, whether another user's socket is still
answered, and whether the server still serves. docs/benchmarks.md has its results.

Needs the release server (`cargo build --release -p clinic-server`) and two packages:
    python3 -m venv .venv && .venv/bin/pip install websockets requests
    .venv/bin/python bench/probes/receipt_flood.py [SOCKETS=5] [FRAMES=600] [HOLD=9]
(`CLINIC_SERVER_BIN` names another server binary.)
"""
import asyncio
import json
import sys
import time
import uuid

import requests
import websockets

from stall import Server

PORT = 18471
SOCKETS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
FRAMES = int(sys.argv[2]) if len(sys.argv) > 2 else 600
HOLD = float(sys.argv[3]) if len(sys.argv) > 3 else 9.0


async def main(srv):
    tok, _ = srv.login('alice')
    doc, _ = srv.login('dr.patel')
    print('rss at start', srv.rss_mib(), 'MiB')
    ids = [f'm-{uuid.uuid4()}' for _ in range(1000)]  # ids of nothing: the server still reads them
    frame = json.dumps({'type': 'message:delivered', 'messageIds': ids})
    print('frame bytes', len(frame))
    socks = []
    for _ in range(SOCKETS):
        ws = await websockets.connect(srv.ws_url, max_size=None)
        await ws.send(json.dumps({'type': 'authenticate', 'token': tok}))
        socks.append(ws)
    watcher = await websockets.connect(srv.ws_url, max_size=None)
    await watcher.send(json.dumps({'type': 'authenticate', 'token': doc}))
    await watcher.recv()
    lock = srv.stall()
    t0 = time.monotonic()
    sent = [0] * SOCKETS

    async def flood(i, ws):
        for _ in range(FRAMES):
            if time.monotonic() - t0 > HOLD:
                break
            try:
                await asyncio.wait_for(ws.send(frame), 0.5)
                sent[i] += 1
            except asyncio.TimeoutError:
                break  # the server stopped reading: backpressure
            except Exception as e:
                print('socket', i, 'closed:', type(e).__name__)
                break

    async def drain(ws):
        try:
            while True:
                await ws.recv()
        except Exception:
            pass

    drains = [asyncio.create_task(drain(ws)) for ws in socks]
    peak = 0

    async def sample():
        nonlocal peak
        while time.monotonic() - t0 < HOLD + 15:
            peak = max(peak, srv.rss_mib())
            await asyncio.sleep(0.2)

    sampler = asyncio.create_task(sample())
    await asyncio.gather(*(flood(i, ws) for i, ws in enumerate(socks)))
    print(f'frames sent before backpressure or the end of the stall: {sent} in {time.monotonic() - t0:.1f}s')
    # Another user's socket is still answered while the writer waits.
    t = time.monotonic()
    pong = await watcher.ping()
    await asyncio.wait_for(pong, 5)
    print(f'watcher ping answered in {1000 * (time.monotonic() - t):.1f} ms during the stall, rss {srv.rss_mib()} MiB')
    await asyncio.sleep(max(0, HOLD - (time.monotonic() - t0)))
    lock.execute('COMMIT')
    lock.close()
    print(f'lock released at {time.monotonic() - t0:.1f}s, rss {srv.rss_mib()} MiB')
    await sampler
    print('peak rss', peak, 'MiB; after', srv.rss_mib(), 'MiB; server alive:', srv.proc.poll() is None)
    print('healthz', requests.get(srv.base + '/healthz', timeout=5).status_code)
    for d in drains:
        d.cancel()
    print('errors in log:', srv.errors_logged())


with Server(PORT) as server:
    asyncio.run(main(server))
