#!/usr/bin/env python3
"""Time to first byte of a streamed HTTP answer, over N sequential requests (loopback only).

  ttfb.py --url http://127.0.0.1:PORT/v1/chat/completions --body FILE --count N [--timeout S]

Each request opens a new TCP connection, sends one HTTP/1.1 POST with `Connection: close`, and
records (milliseconds since just before connect): `headers_ms` (the blank line ending the response
headers arrived), `first_byte_ms` (the first byte of the body arrived — for a chunked answer, the
first chunk), `total_ms` (the answer ended: EOF, the final chunk, or Content-Length reached), plus
the status and the body size on the wire. Prints one JSON object with the samples to stdout.
A plain socket client, so the figures carry no HTTP-library buffering.
"""

import argparse
import json
import socket
import sys
import time
from urllib.parse import urlsplit

MAX_HEADER_BYTES = 64 * 1024


def one_request(host, port, path, body, timeout):
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode("ascii") + body
    start = time.perf_counter()
    sample = {"status": None, "headers_ms": None, "first_byte_ms": None, "total_ms": None,
              "body_bytes": 0, "error": None}
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(request)
            head = b""
            while b"\r\n\r\n" not in head:
                data = sock.recv(65536)
                if not data:
                    raise ConnectionError("closed before the headers ended")
                head += data
                if len(head) > MAX_HEADER_BYTES:
                    raise ConnectionError("headers too long")
            sample["headers_ms"] = (time.perf_counter() - start) * 1000
            header_text, _, body_part = head.partition(b"\r\n\r\n")
            lines = header_text.decode("latin-1").split("\r\n")
            sample["status"] = int(lines[0].split()[1])
            headers = {}
            for line in lines[1:]:
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip().lower()
            chunked = "chunked" in headers.get("transfer-encoding", "")
            length = int(headers["content-length"]) if "content-length" in headers else None
            received = len(body_part)
            tail = body_part[-5:]
            if received:
                sample["first_byte_ms"] = sample["headers_ms"]
            while True:
                if chunked and tail.endswith(b"0\r\n\r\n"):
                    break
                if length is not None and received >= length:
                    break
                data = sock.recv(65536)
                if not data:
                    break
                if sample["first_byte_ms"] is None:
                    sample["first_byte_ms"] = (time.perf_counter() - start) * 1000
                received += len(data)
                tail = (tail + data)[-5:]
            sample["total_ms"] = (time.perf_counter() - start) * 1000
            sample["body_bytes"] = received
    except (OSError, ValueError, IndexError, ConnectionError) as e:
        sample["error"] = str(e)
    return sample


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--body", required=True)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    url = urlsplit(args.url)
    if url.hostname not in ("127.0.0.1", "localhost", "::1"):
        print("ttfb.py: loopback URLs only", file=sys.stderr)
        return 2
    with open(args.body, "rb") as f:
        body = f.read()
    count = max(1, min(args.count, 10_000))
    samples = [one_request(url.hostname, url.port or 80, url.path or "/", body, args.timeout)
               for _ in range(count)]
    json.dump({"url": args.url, "count": count, "samples": samples}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
