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
import asyncio, json, os, sqlite3, subprocess, sys, tempfile, time, uuid

import requests
import websockets

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get('CLINIC_SERVER_BIN') or os.path.join(os.environ.get('CARGO_TARGET_DIR', os.path.join(ROOT, 'target')), 'release', 'clinic-server')
DIR = tempfile.mkdtemp(prefix='receipt-flood-')
PORT = 18471
SOCKETS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
FRAMES = int(sys.argv[2]) if len(sys.argv) > 2 else 600
HOLD = float(sys.argv[3]) if len(sys.argv) > 3 else 9.0

def rss(pid):
    for l in open(f'/proc/{pid}/status'):
        if l.startswith('VmRSS'): return int(l.split()[1]) // 1024
    return -1

async def main():
    subprocess.run([BIN, '--data-dir', DIR, 'demo'], check=True, capture_output=True)
    srv = subprocess.Popen([BIN, '--data-dir', DIR, 'serve', '--listen', f'127.0.0.1:{PORT}', '--tls', 'off'],
                           stdout=subprocess.DEVNULL, stderr=open(os.path.join(DIR, 'server.log'), 'w'))
    base = f'http://127.0.0.1:{PORT}'
    for _ in range(100):
        try:
            if requests.get(base + '/healthz', timeout=1).ok: break
        except Exception: time.sleep(0.1)
    tok = requests.post(base + '/api/auth/login', json={'username': 'alice', 'password': 'clinic-demo'}).json()['token']
    doc = requests.post(base + '/api/auth/login', json={'username': 'dr.patel', 'password': 'clinic-demo'}).json()['token']
    print('rss at start', rss(srv.pid), 'MiB')
    ids = [f'm-{uuid.uuid4()}' for _ in range(1000)]  # ids that do not exist: the server must still read them
    frame = json.dumps({'type': 'message:delivered', 'messageIds': ids})
    print('frame bytes', len(frame))
    socks = []
    for _ in range(SOCKETS):
        ws = await websockets.connect(f'ws://127.0.0.1:{PORT}/ws', max_size=None)
        await ws.send(json.dumps({'type': 'authenticate', 'token': tok}))
        socks.append(ws)
    watcher = await websockets.connect(f'ws://127.0.0.1:{PORT}/ws', max_size=None)
    await watcher.send(json.dumps({'type': 'authenticate', 'token': doc}))
    await watcher.recv()
    lock = sqlite3.connect(f'{DIR}/clinic.db', isolation_level=None, timeout=10)
    lock.execute('BEGIN IMMEDIATE')
    t0 = time.monotonic()
    sent = [0] * SOCKETS
    async def flood(i, ws):
        for _ in range(FRAMES):
            if time.monotonic() - t0 > HOLD: break
            try:
                await asyncio.wait_for(ws.send(frame), 0.5)
                sent[i] += 1
            except asyncio.TimeoutError:
                break  # the server stopped reading: backpressure
            except Exception as e:
                print('socket', i, 'closed:', type(e).__name__); break
    async def drain(ws):
        try:
            while True: await ws.recv()
        except Exception: pass
    drains = [asyncio.create_task(drain(ws)) for ws in socks]
    peak = 0
    async def sample():
        nonlocal peak
        while time.monotonic() - t0 < HOLD + 15:
            peak = max(peak, rss(srv.pid)); await asyncio.sleep(0.2)
    s = asyncio.create_task(sample())
    await asyncio.gather(*(flood(i, ws) for i, ws in enumerate(socks)))
    print(f'frames accepted before backpressure or the end of the hold: {sent} in {time.monotonic()-t0:.1f}s')
    # Another user is still served while the writer waits: a ping and typing relay.
    t = time.monotonic(); pong = await watcher.ping(); await asyncio.wait_for(pong, 5)
    print(f'watcher ping answered in {1000*(time.monotonic()-t):.1f} ms during the hold, rss {rss(srv.pid)} MiB')
    await asyncio.sleep(max(0, HOLD - (time.monotonic() - t0)))
    lock.execute('COMMIT'); lock.close()
    print(f'lock released at {time.monotonic()-t0:.1f}s, rss {rss(srv.pid)} MiB')
    await s
    print('peak rss', peak, 'MiB; after', rss(srv.pid), 'MiB; server alive:', srv.poll() is None)
    r = requests.get(base + '/healthz', timeout=5); print('healthz', r.status_code)
    for d in drains: d.cancel()
    srv.terminate(); srv.wait()
    print('errors in log:', sum(1 for l in open(os.path.join(DIR, 'server.log')) if 'ERROR' in l or 'panicked' in l))
asyncio.run(main())
subprocess.run(['rm', '-rf', DIR])
