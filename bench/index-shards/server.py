#!/usr/bin/env python3
"""A static HTTP server on 127.0.0.1 for bench/index-shards: serves DIR, prints its port on
stdout, and appends one JSON line per request to LOG (path, status, body bytes sent), so the
bench can count what each client step fetched.

    server.py DIR LOG
"""
import http.server
import json
import sys
import threading

root, log_path = sys.argv[1], sys.argv[2]
log = open(log_path, "a", buffering=1)
lock = threading.Lock()


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real static host

    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=root, **kwargs)

    def do_GET(self):
        self.sent, self.code = 0, 0
        super().do_GET()
        with lock:
            log.write(json.dumps({"path": self.path, "status": self.code, "bytes": self.sent}) + "\n")

    def send_response(self, code, message=None):
        self.code = code
        super().send_response(code, message)

    def copyfile(self, source, outputfile):
        while chunk := source.read(1 << 20):
            outputfile.write(chunk)
            self.sent += len(chunk)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
