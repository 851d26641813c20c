#!/usr/bin/env python3
"""A file server that honours HTTP Range and cuts its first transfer halfway.

Usage: range-server.py DIRECTORY PORT LOG. Serves DIRECTORY on 127.0.0.1:PORT.
The first GET sends half of what it promised and drops the connection (an
interrupted download); later GETs send what they promise, from the Range's
start. Each request's start offset is appended to LOG, one line each.
"""

from __future__ import annotations

import http.server
import os
import socket
import sys


class Handler(http.server.SimpleHTTPRequestHandler):
    transfers = 0

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        path = self.translate_path(self.path)
        size = os.path.getsize(path)
        wanted = self.headers.get("Range", "")
        start = int(wanted.split("=", 1)[1].split("-", 1)[0]) if wanted.startswith("bytes=") else 0
        with open(sys.argv[3], "a", encoding="ascii") as log:
            log.write(f"{start}\n")
        if start >= size:
            self.send_response(416)
            self.end_headers()
            return
        self.send_response(206 if wanted else 200)
        self.send_header("Content-Length", str(size - start))
        self.send_header("Accept-Ranges", "bytes")
        if wanted:
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        self.end_headers()
        with open(path, "rb") as model:
            model.seek(start)
            first = Handler.transfers == 0
            Handler.transfers += 1
            remaining = (size - start) // 2 if first else size - start
            while remaining > 0:
                chunk = model.read(min(remaining, 1 << 20))
                self.wfile.write(chunk)
                remaining -= len(chunk)
        if first:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)


if __name__ == "__main__":
    os.chdir(sys.argv[1])
    http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Handler).serve_forever()
