#!/usr/bin/env python3
"""A webhook receiver for the end-to-end tests.

It verifies every delivery with the `standardwebhooks` package from PyPI, an implementation
of the Standard Webhooks specification independent of Zeroboard's, and prints one JSON line
per request (before answering it): the headers' id, the number of signatures, whether one
verified, the event type and the status it answered. It answers 503 to the first `--fail`
requests and 204 after. The tests' clock is fixed, so the timestamp's five-minute tolerance
is checked against `--now` (unix seconds) instead of the wall clock.
"""
import argparse
import json
import sys
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Lock

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

parser = argparse.ArgumentParser()
parser.add_argument("--secret", required=True)
parser.add_argument("--now", type=float, required=True)
parser.add_argument("--fail", type=int, default=0)
parser.add_argument("--port", type=int, default=0)
args = parser.parse_args()


class AtTestTime(Webhook):
    """The package's verifier, with its clock set to the tests' `now`."""

    def _Webhook__verify_timestamp(self, header):
        try:
            stamp = datetime.fromtimestamp(float(header), tz=timezone.utc)
        except ValueError:
            raise WebhookVerificationError("Invalid Signature Headers")
        now = datetime.fromtimestamp(args.now, tz=timezone.utc)
        if abs(stamp - now) > timedelta(minutes=5):
            raise WebhookVerificationError("Message timestamp outside the tolerance")
        return stamp


verifier = AtTestTime(args.secret)
lock = Lock()
seen = 0


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        global seen
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            event = verifier.verify(body, headers)
            verified, error = True, None
        except Exception as e:  # any failure to verify is reported, not raised
            event, verified, error = None, False, str(e)
        with lock:
            seen += 1
            status = 503 if seen <= args.fail else 204
            line = {
                "id": headers.get("webhook-id"),
                "timestamp": headers.get("webhook-timestamp"),
                "signatures": len(headers.get("webhook-signature", "").split()),
                "verified": verified,
                "error": error,
                "type": (event or {}).get("type"),
                "data": (event or {}).get("data"),
                "status": status,
            }
            print(json.dumps(line), flush=True)
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


# Dispatchers send a batch at once: a listen backlog of 5 would refuse some connections.
ThreadingHTTPServer.request_queue_size = 256
server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
print(json.dumps({"listening": server.server_port}), flush=True)
server.serve_forever()
