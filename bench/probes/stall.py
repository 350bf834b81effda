"""What the memory probes share (receipt_flood.py, sync_flood.py, unread_syncs.py,
unread_history.py): the release server serving the demo clinic from a throwaway folder on
127.0.0.1 with `--tls off`, its resident memory, logins, a conversation of large messages, and
the database's write lock taken from another connection, as a slow disk or another program
would stall the server's writer.
"""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
import uuid

import requests
import websockets

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.environ.get('CARGO_TARGET_DIR', os.path.join(ROOT, 'target'))
BIN = os.environ.get('CLINIC_SERVER_BIN') or os.path.join(TARGET, 'release', 'clinic-server')


class Server:
    """`with Server(port) as srv:` serves the demo clinic until the block ends, whatever happens."""

    def __init__(self, port):
        self.port = port
        self.base = f'http://127.0.0.1:{port}'
        self.ws_url = f'ws://127.0.0.1:{port}/ws'
        self.dir = tempfile.mkdtemp(prefix='clinic-stall-')
        self.log = os.path.join(self.dir, 'server.log')
        self.proc = None

    def __enter__(self):
        subprocess.run([BIN, '--data-dir', self.dir, 'demo'], check=True, capture_output=True)
        self.serve()
        return self

    def serve(self):
        """Starts serving the folder and waits until the server answers."""
        self.proc = subprocess.Popen(
            [BIN, '--data-dir', self.dir, 'serve', '--listen', f'127.0.0.1:{self.port}',
             '--tls', 'off', '--max-connections-per-address', '0'],
            stdout=subprocess.DEVNULL, stderr=open(self.log, 'a'))
        for _ in range(100):
            try:
                if requests.get(self.base + '/healthz', timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError('the server did not start: see ' + self.log)

    def restart(self):
        """Stops the server cleanly (SIGTERM) and serves the same folder again."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        self.serve()

    def __exit__(self, *exc):
        if self.proc:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def rss_mib(self):
        with open(f'/proc/{self.proc.pid}/status') as status:
            for line in status:
                if line.startswith('VmRSS'):
                    return int(line.split()[1]) // 1024
        return -1

    def login(self, username):
        """The demo account's token and user."""
        answer = requests.post(self.base + '/api/auth/login',
                               json={'username': username, 'password': 'clinic-demo'}).json()
        return answer['token'], answer['user']

    def stall(self):
        """Takes the database's write lock; `.execute('COMMIT')` on the result lets it go."""
        lock = sqlite3.connect(os.path.join(self.dir, 'clinic.db'), isolation_level=None, timeout=10)
        lock.execute('BEGIN IMMEDIATE')
        return lock

    def errors_logged(self):
        with open(self.log) as log:
            return sum(1 for line in log if 'ERROR' in line or 'panicked' in line)


async def seed_large(srv, count=500):
    """`count` messages of 16,000 characters from alice to dr.patel; returns alice's token.

    One at a time: the acks carry the message and, unread, would fill the socket's queue."""
    tok, me = srv.login('alice')
    _, doc = srv.login('dr.patel')
    ws = await websockets.connect(srv.ws_url, max_size=None)
    await ws.send(json.dumps({'type': 'authenticate', 'token': tok}))
    await ws.recv()
    big = 'x' * 16000
    for _ in range(count):
        await ws.send(json.dumps({'type': 'message:send', 'clientId': str(uuid.uuid4()),
                                  'patientId': me['id'], 'doctorId': doc['id'],
                                  'content': big, 'messageType': 'TEXT'}))
        while True:
            answer = json.loads(await ws.recv())
            if answer['type'] == 'message:ack':
                break
            if answer['type'] == 'error':
                raise RuntimeError(answer)
    await ws.close()
    return tok
