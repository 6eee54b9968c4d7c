#!/usr/bin/env python3
"""An upstream for `paks outdated --recipes` tests and bench: serves DIR on N loopback
ports (one thread per request), each request held DELAY seconds, and logs every request
with how many were in flight on its port and on all ports at that moment.

usage: upstream.py DIR LOG N [DELAY]   (prints the N ports on one line, then serves)
Log lines: `PORT PATH IN_FLIGHT_ON_PORT IN_FLIGHT_ON_ALL`.
"""

import functools
import http.server
import sys
import threading
import time

root, log_path, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
delay = float(sys.argv[4]) if len(sys.argv) > 4 else 0.05
lock = threading.Lock()
in_flight = {}
log = open(log_path, "a", buffering=1)


class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        port = self.server.server_address[1]
        with lock:
            in_flight[port] = in_flight.get(port, 0) + 1
            log.write(f"{port} {self.path} {in_flight[port]} {sum(in_flight.values())}\n")
        try:
            time.sleep(delay)
            super().do_GET()
        finally:
            with lock:
                in_flight[port] -= 1

    def log_message(self, *args):
        pass


servers = []
for _ in range(count):
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=root)
    )
    servers.append(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
print(" ".join(str(s.server_address[1]) for s in servers), flush=True)
threading.Event().wait()
