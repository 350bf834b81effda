"""History pages asked for and never read: how much memory one client can make the server hold.

A probe, not a benchmark scenario (loopback only). It makes the demo clinic in a throwaway
folder, serves it with `--tls off` on 127.0.0.1, gives one patient's conversation 500 messages
of 16,000 characters, then opens CONNECTIONS plain HTTP connections that each ask for the
largest history page (`GET /api/chat/messages?limit=500`) and read nothing of the answer. It
prints the server's resident memory at its peak while they wait, then reads every answer and
counts the messages in it.
docs/benchmarks.md has its results.

Needs the release server (`cargo build --release -p clinic-server`) and two packages:
    python3 -m venv .venv && .venv/bin/pip install websockets requests
    .venv/bin/python bench/probes/unread_history.py [CONNECTIONS=100]
(`CLINIC_SERVER_BIN` names another server binary.)
"""
import asyncio
import json
import sys
import time

from stall import Server, seed_large

PORT = 18474
CONNECTIONS = int(sys.argv[1]) if len(sys.argv) > 1 else 100
HOLD = 6.0


async def ask(srv, tok, path):
    reader, writer = await asyncio.open_connection('127.0.0.1', srv.port, limit=2**16)
    writer.write((f'GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n'
                  f'Authorization: Bearer {tok}\r\nConnection: close\r\n\r\n').encode())
    await writer.drain()
    return reader, writer


async def main(srv):
    tok = await seed_large(srv)
    _, me = srv.login('alice')
    _, doc = srv.login('dr.patel')
    path = f"/api/chat/messages?patientId={me['id']}&doctorId={doc['id']}&limit=500"
    print('seeded; rss', srv.rss_mib(), 'MiB')
    asked = [await ask(srv, tok, path) for _ in range(CONNECTIONS)]
    t0 = time.monotonic()
    peak = 0
    while time.monotonic() - t0 < HOLD:
        peak = max(peak, srv.rss_mib())
        await asyncio.sleep(0.2)
    print(f'{CONNECTIONS} unread history pages: peak rss {peak} MiB')
    counts = []
    for reader, writer in asked:
        answer = await asyncio.wait_for(reader.read(), 60)
        head, _, body = answer.partition(b'\r\n\r\n')
        if b'chunked' in head.lower():
            # Join the chunks: size line, data, CRLF.
            data, rest = b'', body
            while rest:
                size_line, _, rest = rest.partition(b'\r\n')
                size = int(size_line, 16)
                if size == 0:
                    break
                data, rest = data + rest[:size], rest[size + 2:]
            body = data
        counts.append(len(json.loads(body)))
        writer.close()
    print(f'messages per page: {sorted(set(counts))}')


with Server(PORT) as server:
    asyncio.run(main(server))
