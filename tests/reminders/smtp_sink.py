#!/usr/bin/env python3
"""An SMTP sink for the end-to-end tests of the e-mail reminders.

It is aiosmtpd from PyPI, an SMTP server independent of Zeroboard's client, listening on
127.0.0.1:`--port`. It accepts every message and prints one JSON line per message (before
answering it): the envelope's sender and recipients, and the parsed message's subject,
Message-ID, Auto-Submitted, content type and decoded body. It prints `{"listening": PORT}`
once it answers, and runs until killed.
"""
import argparse
import json
import threading
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
args = parser.parse_args()


class Sink:
    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        line = {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "header_from": str(message["from"]),
            "header_to": str(message["to"]),
            "subject": str(message["subject"]),
            "message_id": str(message["message-id"]),
            "auto_submitted": str(message["auto-submitted"]),
            "content_type": message.get_content_type(),
            "charset": message.get_content_charset(),
            # Lines end in CRLF on the wire, as SMTP wants; compared as \n.
            "body": message.get_content().replace("\r\n", "\n"),
        }
        print(json.dumps(line), flush=True)
        return "250 OK"


controller = Controller(Sink(), hostname="127.0.0.1", port=args.port)
controller.start()
print(json.dumps({"listening": args.port}), flush=True)
threading.Event().wait()
