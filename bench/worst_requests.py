#!/usr/bin/env python3
"""The most expensive requests we can build within the limits, timed against the release binary.

Usage: python3 bench/worst_requests.py [path/to/zeroboard]   (default: target/release/zeroboard)

Starts `zeroboard serve --demo --no-scheduler` on a fresh SQLite file and a free port, sends each
request a few times as the demo admin, and prints the slowest time, the status, the error code
(if refused) and the answer's size. Every request here is either refused in milliseconds or
answered within the limits; the table is what the hardening note reports.
"""
import json, os, re, socket, subprocess, sys, tempfile, time, urllib.request

binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/zeroboard"
tmp = tempfile.mkdtemp(prefix="zb-worst-")
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
env = dict(os.environ, ZEROBOARD_DATABASE_URL=f"sqlite://{tmp}/zb.db?mode=rwc", ZEROBOARD_BIND=f"127.0.0.1:{port}", ZEROBOARD_LOG="warn")
server = subprocess.Popen([binary, "serve", "--demo", "--no-scheduler"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
tokens = {}
deadline = time.time() + 120
while time.time() < deadline and "admin" not in tokens:
    line = server.stdout.readline()
    m = re.match(r"\s+(employee|manager|admin|payroll)\s+(zb_\S+)", line)
    if m:
        tokens[m.group(1)] = m.group(2)
if "admin" not in tokens:
    server.kill(); sys.exit("the server printed no admin token")
base = f"http://127.0.0.1:{port}/graphql"


def send(body, token):
    req = urllib.request.Request(base, data=body.encode(), method="POST", headers={
        "Content-Type": "application/json", "Accept": "application/graphql-response+json", "Authorization": "Bearer " + token})
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    return time.perf_counter() - t, status, raw


def q(query, variables=None):
    return json.dumps({"query": query, "variables": variables or {}})


chain = lambda n, leaf: " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(n)) + f" fragment F{n} on Query {{ {leaf} }}"
summary = "summary { toAccept { count } duties { total done remaining overdue } additional { total } currentKpi averageKpi knowledgeBaseNew { count } proposalsToVote { count } }"
cases = [
    ("20,000 repeats of one field", q("{ me { " + "name " * 19990 + "} }")),
    ("16,384 fields through 14 doubling fragments", q("query { ...F0 } " + chain(14, "__typename"))),
    ("2^40 fields through 40 doubling fragments", q("query { ...F0 } " + chain(40, "__typename"))),
    ("a list 29 deep (inside the nesting limit; validation refuses it)", q("{ node(id: " + "[" * 29 + "1" + "]" * 29 + ") { id } }")),
    ("100 employees with every tile and 60 KPI results each", q("{ employees(first: 100) { nodes { name department { name } manager { name } " + summary + " kpiHistory(first: 60) { nodes { kpi period { startsOn } } } } } }")),
    ("100 assignments with events, people and their tiles", q("{ assignments(first: 100) { totalCount nodes { title events { actor { name } } assignee { name " + summary + " } controller { name } period { startsOn } } } }")),
    ("the three reports with 100 assignments a row", q("{ a: assignmentReport(by: ASSIGNEE) { employee { name } total assignments(first: 100) { nodes { title } } } b: assignmentReport(by: CONTROLLER) { awaitingFrom { count } assignments(first: 100) { nodes { title } } } c: assignmentReport(by: DEBTORS) { overdue assignments(first: 100) { nodes { title } } } }")),
    ("a batch of 10 pages of 100 employees with tiles", "[" + ",".join([q("{ employees(first: 100) { nodes { name " + summary + " } } }")] * 10) + "]"),
    ("kpiHistory nested 5 deep x 10 aliases (the issue's 25 s request)", q("{ me { " + " ".join(f"h{i}: " + "kpiHistory(first: 100) { nodes { kpi employee { " * 4 + "kpiHistory(first: 100) { nodes { kpi } }" + " } } }" * 4 for i in range(10)) + " } }")),
    ("9,000 same-named fields with different arguments", q("{ " + " ".join(f'node(id: "{i}") {{ id }}' for i in range(9000)) + " }")),
    ("a batch of 2 x 20,000 fields (the body limit)", "[" + ",".join([q("{ me { " + "name " * 19990 + "} }")] * 2) + "]"),
    ("100 employees with every tile and 20 KPI results each", q("{ employees(first: 100) { nodes { name department { name } manager { name } " + summary + " kpiHistory(first: 20) { nodes { kpi } } } } }")),
    ("a 250 KB string argument", q('mutation { createDepartment(name: "' + "x" * 250_000 + '") { id } }')),
]
print(f"{'request':<62} {'worst ms':>9} {'status':>6} {'code':<16} {'bytes':>9}")
try:
    for label, body in cases:
        worst, status, raw = 0.0, 0, b""
        for _ in range(3):
            dt, status, raw = send(body, tokens["admin"])
            worst = max(worst, dt)
        try:
            errors = json.loads(raw)
            errors = errors[0] if isinstance(errors, list) else errors
            code = ((errors.get("errors") or [{}])[0].get("extensions") or {}).get("code") or "-"
        except ValueError:
            code = "?"
        print(f"{label:<62} {worst * 1000:>9.1f} {status:>6} {code:<16} {len(raw):>9}")
finally:
    server.terminate()
    server.wait(timeout=20)
