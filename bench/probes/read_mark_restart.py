"""The first "read up to" of a long conversation after a restart: does it walk the conversation?

A probe, not a benchmark scenario (loopback only). It makes the demo clinic in a throwaway
folder, serves it with `--tls off` on 127.0.0.1, gives alice's conversation with dr.patel
MESSAGES messages (pipelined over one socket), and has dr.patel read them all (`message:read`
of the last one). Then, ROUNDS times: the server is stopped (SIGTERM) and started again on the
same folder, alice sends one message, and dr.patel reads up to it twice in a row with a message
of alice's in between; each time it prints how long `message:read` took until dr.patel's
`message:read:confirmed` came back: the first mark after the start, and one after it.
Before schema v22 a reader's mark lived in the writer's memory only, so the first mark after a
start looked at every message of the conversation from its first; since, the mark is saved.
docs/benchmarks.md has its results.

Needs the release server (`cargo build --release -p clinic-server`) and two packages:
    python3 -m venv .venv && .venv/bin/pip install websockets requests
    .venv/bin/python bench/probes/read_mark_restart.py [MESSAGES=100000] [ROUNDS=5]
(`CLINIC_SERVER_BIN` names another server binary.)
"""
import asyncio
import json
import statistics
import sys
import time
import uuid

import websockets

from stall import Server

PORT = 18475
MESSAGES = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
WINDOW = 256


async def connect(srv, tok):
    ws = await websockets.connect(srv.ws_url, max_size=None)
    await ws.send(json.dumps({'type': 'authenticate', 'token': tok}))
    await ws.recv()
    return ws


async def until(ws, kind):
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
        if frame['type'] == 'error':
            raise RuntimeError(frame)
        if frame['type'] == kind:
            return frame


async def send(ws, conv, count):
    """`count` messages from alice, WINDOW in flight at a time; returns the last one's id."""
    last, in_flight, sent = None, 0, 0
    while sent < count or in_flight:
        while sent < count and in_flight < WINDOW:
            await ws.send(json.dumps({'type': 'message:send', 'clientId': str(uuid.uuid4()),
                                      **conv, 'content': f'message {sent}',
                                      'messageType': 'TEXT'}))
            sent += 1
            in_flight += 1
        last = (await until(ws, 'message:ack'))['message']['id']
        in_flight -= 1
    return last


async def read_up_to(doc_ws, conv, message_id):
    """Milliseconds from dr.patel's `message:read` to its confirmation."""
    t0 = time.perf_counter()
    await doc_ws.send(json.dumps({'type': 'message:read', 'messageId': message_id, **conv}))
    await until(doc_ws, 'message:read:confirmed')
    return (time.perf_counter() - t0) * 1000


async def main(srv):
    tok, me = srv.login('alice')
    doc_tok, doc = srv.login('dr.patel')
    conv = {'patientId': me['id'], 'doctorId': doc['id']}
    ws = await connect(srv, tok)
    t0 = time.monotonic()
    last = await send(ws, conv, MESSAGES)
    print(f'seeded {MESSAGES} messages in {time.monotonic() - t0:.1f} s')
    doc_ws = await connect(srv, doc_tok)
    print(f'all read at once: {await read_up_to(doc_ws, conv, last):.1f} ms')
    await ws.close()
    await doc_ws.close()
    first, next_ = [], []
    for _ in range(ROUNDS):
        srv.restart()
        ws = await connect(srv, tok)
        doc_ws = await connect(srv, doc_tok)
        first.append(await read_up_to(doc_ws, conv, await send(ws, conv, 1)))
        next_.append(await read_up_to(doc_ws, conv, await send(ws, conv, 1)))
        await ws.close()
        await doc_ws.close()
    fmt = ' '.join
    print('first mark after a start, ms:', fmt(f'{x:.1f}' for x in first),
          f'(median {statistics.median(first):.1f})')
    print('the mark after it, ms:       ', fmt(f'{x:.1f}' for x in next_),
          f'(median {statistics.median(next_):.1f})')


if __name__ == '__main__':
    with Server(PORT) as server:
        asyncio.run(main(server))
        print('errors logged:', server.errors_logged())
