#!/usr/bin/env python3
"""HTTP/1.1 conformance runner for `gravity proxy` (developer tool, python3 stdlib only).

    scripts/conformance.py VECTORS.json [--gravity ./build/gravity] [--only SUBSTR]...
                           [--jobs 8] [--timeout 1.5] [--json] [--keep]

VECTORS.json is a file of raw HTTP/1.1 test vectors (e.g. the outside suite's public
part); the project does not ship one and never reads one on its own. The format: a JSON
object with `vectors`, each `{id, side: request|response, raw (latin-1 string),
expect: {kind, forward, statuses, ...}, backend_close, half_close, upgrade_request}`.

How it runs
-----------
The vectors are split over --jobs shards. Each shard has its own recording target (an
asyncio server on a loopback port, plus a second one for the admin host) and its own
`gravity proxy run` with its own state dir and control socket; the target is registered
with `gravity proxy deploy` for the suite's host and for `*` (so requests with any Host
reach it), the admin target for the admin host. Health checks use a path of their own
(`/__h1suite_health`); those requests are answered and never recorded. Inside a shard the
vectors run one at a time, so whatever the target receives between the start of one
vector and the end of its canary (below) belongs to that vector.

Per vector:
  1. a fresh client connection sends the raw bytes (request vectors) or a small GET whose
     path names the vector (response vectors: the target answers it with the vector's raw
     bytes, then closes when backend_close is true, or keeps the connection open — so a
     proxy that pools it and reads leftovers shows up in step 3); with half_close the
     client shuts its write side after sending. Bytes that follow the first complete
     response in the raw bytes (backend_close false) are sent --split-delay later, when
     the proxy has finished the exchange and holds the connection idle — as a target
     sending a stray response would; likewise a CONNECT's tunnel greeting;
  2. the client reads until it is satisfied (the expected number of responses, a
     rejection, a tunnel) plus a short grace period, or until the connection ends, or
     until --timeout;
  3. a canary: `GET /__h1suite_canary/N` on a new connection must get exactly the
     target's `canary N` answer. Anything else means the vector poisoned the proxy
     (a pooled upstream connection with stray bytes, a tunnel put back into the pool, a
     crash...), and the vector fails as a desync. Then the shard recovers (more canaries,
     else a proxy restart).
The target parses what the proxy forwards (Content-Length / chunked), answers each
request with `HTTP/1.1 200 OK`, `Content-Length: 2`, `ok` (no body for HEAD), answers
CONNECT with a 200 and a greeting and then treats the connection as a tunnel, and records
complete requests, partial ones, unparseable bytes and tunnel bytes, with any framing
anomaly it saw in the forwarded head or chunked body.

Judging rules
-------------
Everywhere (request vectors): the proxy must stay up, the client's answer must be
well-formed HTTP/1.x, an HTTP/1.0 client must get no 1xx, every forwarded request must be
well-formed (a valid request line; token field names; no CR/LF/NUL/controls in values; no
obs-fold; at most one Content-Length and never with Transfer-Encoding; chunk sizes and
extensions per RFC 9112 7.1; exactly one Host when forwarded as HTTP/1.1), a request
routed to the admin target must carry the admin Host and vice versa, and the canary must
pass.
  "Forwarded as expected" means: the target received exactly the listed requests (method,
  target, decoded body), in order, and nothing else (no partial message, no stray bytes).
  A target matches if equal, or equal without its #fragment, or — when the expected one
  is absolute-form — its origin-form; for an absolute-form target the forwarded Host must
  be the target's authority (RFC 9112 3.2.2).

request / accept      forwarded as expected; the client gets one `200 ok` per forwarded
                      request and nothing more. `pending: true` means the tail of the raw
                      bytes is an unfinished message: it must not be answered within the
                      timeout; only a complete request head (a streaming body) of it may
                      have reached the target.
request / reject      forwarded as expected (usually nothing); after the answers to those,
                      the client gets one rejection whose status is in `statuses` (none
                      listed: any 4xx, 501 or 505), and the proxy closes the connection.
                      A bare close, or no answer within the timeout, fails. With
                      `alt: te_over_cl` the alternative is also accepted: the request is
                      forwarded once framed by its chunked body (Content-Length dropped),
                      answered `200 ok`, and the connection closed (RFC 9112 6.3).
                      With err_in_body (the error is inside a body), a streaming proxy
                      has already sent the head on: a request that never completes at the
                      target is fine; a complete one, or the bad bytes, are not.
request / either      as reject (with `statuses`), or accepted: forwarded as
                      `forward_if_accepted` (or, when that is empty, one request with the
                      raw request line's method and target) and answered `200 ok`.
request / close_after forwarded as expected; the client gets their `200 ok`s, then the
                      connection closes; the bytes after them get no answer.
request / incomplete  no complete request reaches the target (a streamed head is fine);
                      the client gets no answer within the timeout, or a 408. With
                      half_close (the client ended its side) a 400 or a close is fine too.
request / connect     either a 2xx and a working tunnel (the target's greeting reaches the
                      client after the 2xx head), or a 4xx/5xx refusal with nothing sent to
                      the target. The canary checks no later client gets tunnel bytes.
response / accept     the client's final response has `status` and `body`; for a 101,
                      the bytes after the head are `tunnel`; no bytes follow the response
                      on the client connection (a stray response after a 204, etc.).
response / reject     head errors (err_in_body false): the client gets a 502, and neither
                      the raw status line nor the raw body. Body errors (err_in_body true):
                      a 502, or the connection ends before a complete response — the
                      client must never get a complete response or malformed framing.
response / truncated  the client sees the connection end before a complete response (a
                      502 is fine too); it must not get a complete message of the raw
                      status.
response / either     any well-formed answer (502 or a pass-through), no hang.

Alternatives (counted in the summary as "passed by an allowed alternative"):
  - `rfc_note` says a lone LF MAY be taken as a line end (RFC 9112 2.2): the vector also
    passes when the proxy does exactly what a strict parser that takes LF as a line end
    in heads (chunked framing still needs CRLF) would do — forward those requests, then
    reject / wait for the rest; for a response, pass on its status and body.
  - a reject vector whose bytes end before the end of its head (no empty line): the proxy
    may also wait for the rest (judged as incomplete); its `+crlf` twin, with the head
    finished, checks the rejection itself.
The canary's status line must be exactly `200 OK` (stray bytes a proxy read before it
show up there).

Output: total, passed, failed, and the failures grouped by class (what went wrong + the
vector's group), each with its id, raw bytes (repr, truncated) and what happened.
--json prints the same as JSON. Exit status: 0 when everything passed, 1 otherwise.
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HEALTH_PATH = "/__h1suite_health"
CANARY_PREFIX = "/__h1suite_canary/"
RESP_PREFIX = "/__h1suite_resp/"
TUNNEL_GREETING = b"h1suite-tunnel-greeting"
OK_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
OK_HEAD_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"

TOKEN_RE = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
TCHAR = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
REQUEST_LINE_RE = re.compile(rb"^(" + TCHAR + rb"+) ([^ \x00-\x20\x7f]+) HTTP/(\d)\.(\d)$")
STATUS_LINE_RE = re.compile(rb"^HTTP/(\d)\.(\d) (\d{3})(?: ([^\r\n]*))?$")
# chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ), ext-val = token / quoted-string
CHUNK_EXT_RE = re.compile(
    rb'^(?:[ \t]*;[ \t]*' + TCHAR + rb'+(?:[ \t]*=[ \t]*(?:' + TCHAR +
    rb'+|"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"))?)*$')
MAX_HEAD = 1 << 20


# ---------------------------------------------------------------------------------------
# Parsing helpers shared by the target (requests) and the client (responses)
# ---------------------------------------------------------------------------------------

def parse_fields(lines):
    """Field lines -> (list of (lower-name, value bytes), anomalies)."""
    fields, anomalies = [], []
    for line in lines:
        if not line:
            continue
        if line[:1] in (b" ", b"\t"):
            anomalies.append("obs-fold line %r" % line[:40])
            continue
        if b"\r" in line or b"\n" in line:
            anomalies.append("bare CR/LF in field line %r" % line[:40])
        name, sep, value = line.partition(b":")
        if not sep or not TOKEN_RE.match(name):
            anomalies.append("invalid field line %r" % line[:40])
            continue
        value = bytes(value.strip(b" \t"))
        if re.search(rb"[\x00-\x08\x0a-\x1f\x7f]", value):
            anomalies.append("control character in field %r" % name)
        fields.append((bytes(name).decode("latin-1").lower(), value))
    return fields, anomalies


def field_values(fields, name):
    return [v for n, v in fields if n == name]


def decode_chunked(buf, start, anomalies):
    """Decode a chunked body at buf[start:].
    Returns ('ok', body, end) | ('need', None, None) | ('error', reason, None)."""
    pos, body = start, bytearray()
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            if len(buf) - pos > 4096:
                return ("error", "chunk-size line too long", None)
            if b"\n" in buf[pos:]:
                return ("error", "bare LF in chunk-size line", None)
            return ("need", None, None)
        line = buf[pos:eol]
        m = re.match(rb"^([0-9A-Fa-f]+)(.*)$", line, re.S)
        if not m:
            return ("error", "bad chunk-size line %r" % line[:40], None)
        ext = m.group(2)
        if ext and not CHUNK_EXT_RE.match(ext):
            anomalies.append("bad chunk extension %r" % ext[:40])
        size = int(m.group(1), 16)
        pos = eol + 2
        if size == 0:
            while True:  # trailer section
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    return ("need", None, None)
                line = buf[pos:eol]
                pos = eol + 2
                if not line:
                    return ("ok", bytes(body), pos)
                _, bad = parse_fields([line])
                anomalies.extend("trailer: " + a for a in bad)
        if len(buf) < pos + size + 2:
            return ("need", None, None)
        body += buf[pos:pos + size]
        pos += size
        if buf[pos:pos + 2] != b"\r\n":
            return ("error", "chunk data not followed by CRLF", None)
        pos += 2


def parse_request(buf):
    """One request at the start of buf (as forwarded by the proxy).
    Returns ('need',) | ('error', reason) | ('ok', request dict, consumed)."""
    anomalies = []
    lead = 0
    while buf[lead:lead + 2] == b"\r\n":
        lead += 2
    if lead:
        anomalies.append("empty line(s) before the request line")
    hend = buf.find(b"\r\n\r\n", lead)
    if hend < 0:
        if len(buf) > MAX_HEAD:
            return ("error", "no end of head in %d bytes" % len(buf))
        return ("need",)
    lines = buf[lead:hend].split(b"\r\n")
    m = REQUEST_LINE_RE.match(bytes(lines[0]))
    if not m:
        return ("error", "bad request line %r" % bytes(lines[0][:60]))
    fields, bad = parse_fields(lines[1:])
    anomalies += bad
    version = "HTTP/%s.%s" % (m.group(3).decode(), m.group(4).decode())
    req = {"method": m.group(1).decode("latin-1"), "target": m.group(2).decode("latin-1"),
           "version": version, "fields": fields, "anomalies": anomalies}
    hosts = field_values(fields, "host")
    if version == "HTTP/1.1" and len(hosts) != 1:
        anomalies.append("%d Host fields in an HTTP/1.1 request" % len(hosts))
    te, cl = field_values(fields, "transfer-encoding"), field_values(fields, "content-length")
    start = hend + 4
    if te:
        if cl:
            anomalies.append("both Transfer-Encoding and Content-Length")
        codings = [c.strip().lower() for c in b",".join(te).split(b",") if c.strip()]
        if not codings or codings[-1] != b"chunked" or codings.count(b"chunked") != 1:
            return ("error", "request Transfer-Encoding %r without a final chunked" % b",".join(te))
        r = decode_chunked(buf, start, anomalies)
        if r[0] == "need":
            return ("need",)
        if r[0] == "error":
            return ("error", r[1])
        req["body"], end = r[1], r[2]
    elif cl:
        if len(cl) > 1:
            anomalies.append("%d Content-Length fields" % len(cl))
        if not all(re.match(rb"^\d{1,15}$", v) for v in cl) or len(set(cl)) != 1:
            return ("error", "bad Content-Length %r" % cl)
        n = int(cl[0])
        if len(buf) < start + n:
            return ("need",)
        req["body"], end = bytes(buf[start:start + n]), start + n
    else:
        req["body"], end = b"", start
    req["raw"] = bytes(buf[:end])
    return ("ok", req, end)


class Resp:
    def __init__(self, status, version, reason, fields, body=b"", interim=False,
                 framing="", tunnel=None, end=None):
        self.end = end  # offset just past this message in the parsed bytes (None: unfinished)
        self.status, self.version, self.reason, self.fields = status, version, reason, fields
        self.body, self.interim, self.framing, self.tunnel = body, interim, framing, tunnel

    def short(self):
        if self.interim:
            return "%d(interim)" % self.status
        s = "%d %s" % (self.status, clip(self.body, 40) if self.body else "(no body)")
        if self.tunnel is not None:
            s += " +tunnel %s" % clip(self.tunnel, 40)
        return s


def parse_responses(data, methods, eof):
    """Parse what the client received. Returns (responses, state, detail); state is
    'ok' (all complete), 'incomplete' (a message cut short; detail says where),
    'error' (malformed; detail), or 'tunnel' (the last response switched protocols)."""
    out, pos, idx = [], 0, 0
    while pos < len(data):
        hend = data.find(b"\r\n\r\n", pos)
        if hend < 0:
            rest = data[pos:]
            if not (rest.startswith(b"HTTP/") or b"HTTP/".startswith(rest)):
                return out, "error", "bytes that are not a response: %s" % clip(rest, 60)
            return out, "incomplete", "in a head: %s" % clip(rest, 60)
        lines = data[pos:hend].split(b"\r\n")
        m = STATUS_LINE_RE.match(lines[0])
        if not m:
            return out, "error", "bad status line %s" % clip(lines[0], 60)
        fields, bad = parse_fields(lines[1:])
        if bad:
            return out, "error", "bad response head: " + "; ".join(bad)
        status = int(m.group(3))
        version = "HTTP/%s.%s" % (m.group(1).decode(), m.group(2).decode())
        reason = (m.group(4) or b"").decode("latin-1")
        method = methods[idx] if idx < len(methods) else "GET"
        start = hend + 4
        if 100 <= status < 200 and status != 101:
            out.append(Resp(status, version, reason, fields, interim=True))
            pos = start
            continue
        if status == 101 or (method == "CONNECT" and 200 <= status < 300):
            out.append(Resp(status, version, reason, fields, framing="tunnel",
                            tunnel=bytes(data[start:])))
            return out, "tunnel", ""
        te, cl = field_values(fields, "transfer-encoding"), field_values(fields, "content-length")
        if method == "HEAD" or status in (204, 304):
            body, end, framing = b"", start, "none"
        elif te:
            if cl:
                return out, "error", "response with both Transfer-Encoding and Content-Length"
            codings = [c.strip().lower() for c in b",".join(te).split(b",")]
            if codings[-1] == b"chunked":
                anomalies = []
                r = decode_chunked(data, start, anomalies)
                if r[0] == "error" or anomalies:
                    return out, "error", "bad chunked body: %s" % (r[1] if r[0] == "error"
                                                                  else "; ".join(anomalies))
                if r[0] == "need":
                    return out + [Resp(status, version, reason, fields, framing="chunked")], \
                        "incomplete", "in a chunked body"
                body, end, framing = r[1], r[2], "chunked"
            else:
                if not eof:
                    return out + [Resp(status, version, reason, fields, framing="close")], \
                        "incomplete", "in a body read until close"
                body, end, framing = bytes(data[start:]), len(data), "close"
        elif cl:
            if len(set(cl)) != 1 or not re.match(rb"^\d{1,15}$", cl[0]):
                return out, "error", "bad Content-Length %r" % cl
            n = int(cl[0])
            if len(data) < start + n:
                return out + [Resp(status, version, reason, fields, framing="length")], \
                    "incomplete", "in a Content-Length body (%d of %d bytes)" % (
                        len(data) - start, n)
            body, end, framing = bytes(data[start:start + n]), start + n, "length"
        else:
            if not eof:
                return out + [Resp(status, version, reason, fields, framing="close")], \
                    "incomplete", "in a body read until close"
            body, end, framing = bytes(data[start:]), len(data), "close"
        out.append(Resp(status, version, reason, fields, body=body, framing=framing, end=end))
        pos, idx = end, idx + 1
    return out, "ok", ""


def clip(b, n=160):
    if isinstance(b, str):
        b = b.encode("latin-1", "replace")
    r = repr(bytes(b[:n]))
    return r + ("...(%d B)" % len(b) if len(b) > n else "")


# ---------------------------------------------------------------------------------------
# The recording target
# ---------------------------------------------------------------------------------------

class TargetConn:
    def __init__(self, label):
        self.label = label
        self.buf = bytearray()
        self.reported = 0       # bytes of buf already reported as a partial message
        self.tunnel = False
        self.health = False


class Shard:
    def __init__(self, index, args, workdir):
        self.index, self.args = index, args
        self.dir = os.path.join(workdir, "shard%d" % index)
        os.makedirs(self.dir, exist_ok=True)
        self.sock = os.path.join(self.dir, "proxy.sock")
        self.log_path = os.path.join(self.dir, "proxy.log")
        self.window = []
        self.conns = set()
        self.resp_vectors = {}
        self.canary_n = 0
        self.proc = None
        self.port = None
        self.restarts = 0
        self.pending = set()

    # -- target --
    def record(self, kind, conn, **kw):
        ev = {"kind": kind, "label": conn.label}
        ev.update(kw)
        self.window.append(ev)

    async def serve(self, reader, writer, label):
        conn = TargetConn(label)
        self.conns.add(conn)
        try:
            while True:
                try:
                    data = await reader.read(65536)
                except (ConnectionError, OSError):
                    # a reset: StreamReader raises before handing out what it buffered
                    data = bytes(getattr(reader, "_buffer", b""))
                    if data:
                        reader._buffer.clear()
                        if conn.tunnel:
                            self.record("tunnel", conn, data=data)
                        else:
                            conn.buf += data
                    break
                if not data:
                    break
                if conn.tunnel:
                    self.record("tunnel", conn, data=data)
                    continue
                conn.buf += data
                close = await self.drain_requests(conn, writer)
                if close:
                    break
        finally:
            if not conn.tunnel and not conn.health and len(conn.buf) > conn.reported:
                self.record("partial", conn, data=bytes(conn.buf), closed=True)
            self.conns.discard(conn)
            try:
                writer.close()
            except Exception:
                pass

    async def drain_requests(self, conn, writer):
        """Handle every complete request in conn.buf; True when the connection must end."""
        while conn.buf and not conn.tunnel:
            r = parse_request(bytes(conn.buf))
            if r[0] == "need":
                return False
            if r[0] == "error":
                if not conn.health:
                    self.record("garbage", conn, data=bytes(conn.buf), reason=r[1])
                conn.buf.clear()
                conn.reported = 0
                writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                             b"Connection: close\r\n\r\n")
                await safe_drain(writer)
                return True
            req, used = r[1], r[2]
            del conn.buf[:used]
            conn.reported = 0
            path = req["target"]
            conn_tokens = b",".join(field_values(req["fields"], "connection")).lower()
            wants_close = b"close" in conn_tokens or (
                req["version"] == "HTTP/1.0" and b"keep-alive" not in conn_tokens)
            if path.startswith(HEALTH_PATH):
                conn.health = True
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nhealthy")
            elif path.startswith(CANARY_PREFIX):
                body = ("canary " + path[len(CANARY_PREFIX):]).encode("latin-1")
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            elif path.startswith(RESP_PREFIX):
                v = self.resp_vectors.get(path[len(RESP_PREFIX):])
                if v is None:
                    writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                else:
                    raw = v["raw"].encode("latin-1")
                    tunnel = v.get("upgrade_request") or v["expect"].get("status") == 101
                    first, rest = raw, b""
                    if not v.get("backend_close") and not tunnel and self.args.split_delay > 0:
                        rs, _, _ = parse_responses(raw, ["GET"], False)
                        fin = [x for x in rs if not x.interim and x.end is not None]
                        if fin and fin[0].end < len(raw):
                            first, rest = raw[:fin[0].end], raw[fin[0].end:]
                    writer.write(first)
                    await safe_drain(writer)
                    if rest:
                        self.later(writer, rest)
                    if v.get("backend_close"):
                        return True
                    if tunnel:
                        conn.tunnel = True
                        if conn.buf:
                            self.record("tunnel", conn, data=bytes(conn.buf))
                        return False
                    continue
            elif req["method"] == "CONNECT":
                self.record("request", conn, req=req)
                writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                self.later(writer, TUNNEL_GREETING)
                conn.tunnel = True
                if conn.buf:
                    self.record("tunnel", conn, data=bytes(conn.buf))
                await safe_drain(writer)
                return False
            else:
                self.record("request", conn, req=req)
                writer.write(OK_HEAD_RESPONSE if req["method"] == "HEAD" else OK_RESPONSE)
            await safe_drain(writer)
            if wants_close:
                return True
        return False

    def later(self, writer, data):
        """Send data after --split-delay: it then reaches a proxy that has finished the
        exchange (an idle pooled connection, or a CONNECT it did not tunnel)."""
        async def send():
            await asyncio.sleep(self.args.split_delay)
            if not writer.is_closing():
                writer.write(data)
                await safe_drain(writer)
        t = asyncio.ensure_future(send())
        self.pending.add(t)
        t.add_done_callback(self.pending.discard)

    def snapshot_partials(self):
        for conn in list(self.conns):
            if conn.tunnel or conn.health or len(conn.buf) <= conn.reported:
                continue
            if conn.buf.startswith(b"GET " + HEALTH_PATH.encode()):
                continue
            self.record("partial", conn, data=bytes(conn.buf), closed=False)
            conn.reported = len(conn.buf)

    async def start_targets(self):
        self.tserver = await asyncio.start_server(
            lambda r, w: self.serve(r, w, "main"), "127.0.0.1", 0)
        self.aserver = await asyncio.start_server(
            lambda r, w: self.serve(r, w, "admin"), "127.0.0.1", 0)
        self.tport = self.tserver.sockets[0].getsockname()[1]
        self.aport = self.aserver.sockets[0].getsockname()[1]

    # -- proxy --
    async def start_proxy(self, deploy=True):
        self.port = free_port()
        log = open(self.log_path, "ab")
        self.proc = await asyncio.create_subprocess_exec(
            self.args.gravity, "proxy", "run", "--listen", "127.0.0.1:%d" % self.port,
            "--control", self.sock, "--state-dir", self.dir, "--log-level", "warn",
            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.returncode is not None:
                raise RuntimeError("proxy exited with %s at start; log: %s" % (
                    self.proc.returncode, tail(self.log_path)))
            if os.path.exists(self.sock) and port_open(self.port):
                break
            await asyncio.sleep(0.05)
        else:
            raise RuntimeError("proxy did not start listening; log: " + tail(self.log_path))
        if not deploy:
            return
        h = self.args.host
        common = ["--health-path", HEALTH_PATH, "--health-interval", "1s",
                  "--healthy-threshold", "1", "--unhealthy-threshold", "100",
                  "--control", self.sock]
        await run_cli(self.args.gravity, "proxy", "deploy", "h1suite", "--target",
                      "127.0.0.1:%d" % self.tport, "--host", h, "--host", "*", *common)
        await run_cli(self.args.gravity, "proxy", "deploy", "h1suite-admin", "--target",
                      "127.0.0.1:%d" % self.aport, "--host", self.args.admin_host, *common)

    async def stop_proxy(self):
        if self.proc and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 3)
            except asyncio.TimeoutError:
                self.proc.kill()
                await self.proc.wait()

    async def restart_proxy(self):
        self.restarts += 1
        await self.stop_proxy()
        # Routes come back from the state dir; redeploying keeps this independent of that.
        await self.start_proxy(deploy=True)


async def safe_drain(writer):
    try:
        await writer.drain()
    except (ConnectionError, OSError):
        pass


async def run_cli(*argv):
    p = await asyncio.create_subprocess_exec(*argv, stdout=subprocess.PIPE,
                                             stderr=subprocess.STDOUT)
    out, _ = await asyncio.wait_for(p.communicate(), 60)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%s): %s" % (" ".join(argv[1:4]), p.returncode,
                                                   out.decode(errors="replace").strip()))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def tail(path, n=8):
    try:
        with open(path, "rb") as f:
            return " | ".join(f.read().decode(errors="replace").strip().splitlines()[-n:])
    except OSError:
        return "(no log)"


# ---------------------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------------------

class ClientResult:
    def __init__(self):
        self.data = b""
        self.eof = self.reset = self.timed_out = False
        self.error = None
        self.responses, self.state, self.detail = [], "ok", ""
        self.elapsed = 0.0

    def finals(self):
        return [r for r in self.responses if not r.interim]

    def ended(self):
        return self.eof or self.reset

    def describe(self):
        if self.error:
            return "client: " + self.error
        parts = [r.short() for r in self.responses]
        s = "client got " + (", ".join(parts) if parts else "no response")
        if self.state == "error":
            s += "; malformed: " + self.detail
        elif self.state == "incomplete":
            s += "; cut short " + self.detail
        elif self.detail:
            s += " (%s)" % self.detail
        if not self.responses and self.data:
            s += " (bytes %s)" % clip(self.data, 80)
        s += "; then " + ("reset" if self.reset else "closed" if self.eof
                          else "no more in %.1fs" % self.elapsed if self.timed_out
                          else "connection left open")
        return s


async def exchange(port, raw, methods, timeout, satisfied, grace, half_close=False):
    """Send raw on a fresh connection; read until satisfied (+grace), the end, or timeout.
    Plain non-blocking sockets: a reset still yields the bytes that came before it."""
    res = ClientResult()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), timeout)
    except (OSError, asyncio.TimeoutError) as e:
        sock.close()
        res.error = "cannot connect to the proxy: %r" % e
        return res
    data = bytearray()
    try:
        await asyncio.wait_for(loop.sock_sendall(sock, raw), timeout)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
    except (OSError, asyncio.TimeoutError):
        pass  # the proxy may stop reading early (a rejection); read what it answered
    deadline, sat_deadline = t0 + timeout, None
    while True:
        end = deadline if sat_deadline is None else min(deadline, sat_deadline)
        now = loop.time()
        if now >= end:
            break
        try:
            chunk = await asyncio.wait_for(loop.sock_recv(sock, 65536), end - now)
        except asyncio.TimeoutError:
            break
        except OSError:
            res.reset = True
            break
        if not chunk:
            res.eof = True
            break
        data += chunk
        if sat_deadline is None:
            rs, st, _ = parse_responses(bytes(data), methods, False)
            if satisfied(rs, st):
                sat_deadline = loop.time() + grace
    res.elapsed = loop.time() - t0
    res.timed_out = not res.ended() and sat_deadline is None
    res.data = bytes(data)
    res.responses, res.state, res.detail = parse_responses(res.data, methods, res.ended())
    sock.close()
    return res


# ---------------------------------------------------------------------------------------
# Judging
# ---------------------------------------------------------------------------------------

def first_line(raw):
    line = raw.split(b"\r\n", 1)[0].split(b"\n", 1)[0]
    parts = line.split(b" ")
    return parts


def request_version(raw):
    parts = first_line(raw.lstrip(b"\r\n"))
    return parts[-1].decode("latin-1") if len(parts) >= 3 else ""


def derived_request(raw, chunked_body=False):
    """The single request the raw bytes would be forwarded as, from its request line."""
    parts = first_line(raw)
    method = parts[0].decode("latin-1")
    target = parts[1].decode("latin-1") if len(parts) > 1 else ""
    body = b""
    hend = raw.find(b"\r\n\r\n")
    if chunked_body and hend >= 0:
        r = decode_chunked(raw, hend + 4, [])
        if r[0] == "ok":
            body = r[1]
    return {"method": method, "target": target, "body": body.decode("latin-1")}


def target_matches(got, want):
    if got == want or got == want.split("#", 1)[0]:
        return True
    m = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)(.*)$", want)
    if m:
        rest = m.group(2).split("#", 1)[0]
        origin = rest if rest.startswith("/") else "/" + rest
        return got == origin
    return False


def req_summary(ev):
    if ev["kind"] == "request":
        r = ev["req"]
        s = "%s %s %s body=%s" % (r["method"], r["target"], r["version"], clip(r["body"], 40))
        if ev["label"] != "main":
            s = "[%s] %s" % (ev["label"], s)
        return s
    return "%s%s %s" % (ev["kind"], " (%s)" % ev["reason"] if ev.get("reason") else "",
                        clip(ev["data"], 80))


def target_describe(events):
    if not events:
        return "target got nothing"
    return "target got: " + " | ".join(req_summary(e) for e in events)


def check_forwarded(events, want, allow_streamed_head=False, allow_partial=False):
    """None when the target got exactly `want`, else a (class, detail) pair."""
    reqs = [e for e in events if e["kind"] == "request"]
    other = [e for e in events if e["kind"] != "request"]
    if allow_partial:
        other = [e for e in other if e["kind"] != "partial"]
    if allow_streamed_head:
        other = [e for e in other if not (e["kind"] == "partial" and streamed_head(e["data"]))]
    if other:
        k = other[0]["kind"]
        if not want and not reqs:
            return ("sent bytes to the target that must not reach it", "")
        return ("stray bytes reached the target (%s)" % k, "")
    if len(reqs) != len(want):
        if not want:
            return ("forwarded a request that must be refused", "")
        if len(reqs) < len(want):
            return ("forwarded fewer requests than expected (%d of %d)" % (len(reqs), len(want)), "")
        return ("forwarded more requests than expected (%d, want %d)" % (len(reqs), len(want)), "")
    for ev, w in zip(reqs, want):
        r = ev["req"]
        if r["method"] != w["method"]:
            return ("forwarded with another method", "%s, want %s" % (r["method"], w["method"]))
        if not target_matches(r["target"], w["target"]):
            return ("forwarded with another request-target", "%r, want %r" % (r["target"], w["target"]))
        if r["body"] != w["body"].encode("latin-1"):
            return ("forwarded with another body", "%s, want %s" % (
                clip(r["body"], 60), clip(w["body"], 60)))
        m = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)", w["target"])
        hosts = field_values(r["fields"], "host")
        if m:
            auth = m.group(1).split("@")[-1].lower()
            if [h.lower() for h in hosts] != [auth.encode("latin-1")]:
                return ("absolute-form: forwarded Host is not the target's authority",
                        "Host %r, authority %r" % (hosts, auth))
    return None


def streamed_head(data):
    r = parse_request(bytes(data))
    if r[0] != "need":
        return False
    hend = data.find(b"\r\n\r\n")
    return hend >= 0 and REQUEST_LINE_RE.match(data.lstrip(b"\r\n").split(b"\r\n", 1)[0]) is not None


def host_name(value):
    """A Host value without its port, lowercased."""
    v = value.lower()
    if v.startswith(b"["):
        return v.split(b"]", 1)[0] + b"]"
    return v.rsplit(b":", 1)[0] if b":" in v else v


def forwarded_anomalies(events, admin_host):
    for ev in events:
        if ev["kind"] != "request":
            continue
        r = ev["req"]
        if r["anomalies"]:
            return ("forwarded a malformed request", r["anomalies"][0])
        hosts = field_values(r["fields"], "host")
        is_admin = bool(hosts) and host_name(hosts[0]) == admin_host.encode()
        if is_admin != (ev["label"] == "admin"):
            return ("routed to the service of another host",
                    "Host %r went to the %s target" % (hosts, ev["label"]))
    return None


def ok_answers(finals, want):
    """The first len(want) final responses are the target's answers to those requests."""
    if len(finals) < len(want):
        return False
    return all(r.status == 200 and r.body == (b"" if w["method"] == "HEAD" else b"ok")
               for r, w in zip(finals, want))


def reject_statuses(exp):
    st = exp.get("statuses")
    if st:
        return set(st), "/".join(str(s) for s in st)
    return set(range(400, 500)) | {501, 505}, "4xx/501/505"


def lf_head(buf):
    """The head at the start of buf, taking a lone LF as a line end: (the head rewritten
    with CRLFs, bytes of buf it used), or None when it does not end in buf."""
    pos, lines = 0, []
    while True:
        nl = buf.find(b"\n", pos)
        if nl < 0:
            return None
        line = buf[pos:nl]
        if line.endswith(b"\r"):
            line = line[:-1]
        pos = nl + 1
        if not line:
            if not lines:
                continue
            return b"\r\n".join(lines) + b"\r\n\r\n", pos
        lines.append(line)


def lf_note(exp):
    note = exp.get("rfc_note", "")
    return "bare LF" in note and "MAY" in note


def lf_oracle_requests(raw):
    """What a strict parser that takes a lone LF as a line end (in heads only; chunked
    framing still needs CRLF) makes of raw: (requests, 'done' | 'need' | 'error')."""
    pos, out = 0, []
    while pos < len(raw):
        rest = raw[pos:]
        h = lf_head(rest)
        if h is None:
            return out, "need"
        head, used = h
        r = parse_request(head + rest[used:])
        if r[0] == "need":
            return out, "need"
        if r[0] == "error" or [a for a in r[1]["anomalies"] if not a.startswith("empty line")]:
            return out, "error"
        req = r[1]
        out.append({"method": req["method"], "target": req["target"],
                    "body": req["body"].decode("latin-1")})
        pos += used + (r[2] - len(head))
    return out, "done"


def request_alternatives(v, raw):
    """Other outcomes the rules allow besides v's own expectation: (name, expectation)."""
    exp = v["expect"]
    if lf_note(exp):
        reqs, state = lf_oracle_requests(raw)
        if state == "done":
            yield LF_ALT, {"kind": "accept", "forward": reqs, "pending": False}
        elif state == "need":
            yield LF_ALT, ({"kind": "accept", "forward": reqs, "pending": True} if reqs
                           else {"kind": "incomplete", "forward": []})
        elif reqs:
            yield LF_ALT, {"kind": "reject", "forward": reqs, "statuses": exp.get("statuses"),
                           "err_in_body": exp.get("err_in_body")}
    if exp["kind"] == "reject" and b"\r\n\r\n" not in raw and b"\n\n" not in raw \
            and not v.get("half_close"):
        yield WAIT_ALT, {"kind": "incomplete", "forward": []}


LF_ALT = "lone LF taken as a line end (RFC 9112 2.2 MAY)"
WAIT_ALT = "unfinished head: waited for its end (the +crlf twin checks the rejection)"


def judge_request(v, raw, res, events, admin_host, notes):
    verdict = judge_request_kind(v["expect"], v, raw, res, events)
    if verdict is not None:
        for name, alt in request_alternatives(v, raw):
            if judge_request_kind(alt, v, raw, res, events) is None:
                notes.append(name)
                verdict = None
                break
    bad = forwarded_anomalies(events, admin_host)
    if bad is None:
        return verdict
    if verdict is None:
        return bad
    return (verdict[0], (verdict[1] + "; " if verdict[1] else "") + "%s: %s" % bad)


def judge_request_kind(exp, v, raw, res, events):
    kind = exp["kind"]
    want = exp.get("forward", [])
    finals = res.finals()
    if res.error:
        return ("client could not talk to the proxy", res.error)
    if res.state == "error":
        return ("malformed answer to the client", res.detail)
    if request_version(raw) == "HTTP/1.0" and any(r.interim for r in res.responses):
        return ("1xx sent to an HTTP/1.0 client", "")
    def rejected_ok(statuses, nfwd):
        if len(finals) <= nfwd:
            return None
        r = finals[nfwd]
        return r.status in statuses

    if kind == "accept":
        pending = exp.get("pending", False)
        f = check_forwarded(events, want, allow_streamed_head=pending)
        if f:
            return f
        if len(finals) < len(want):
            if finals and finals[-1].status >= 400:
                return ("refused a valid request (%d)" % finals[-1].status, "")
            if res.timed_out:
                return ("no answer within the timeout", "")
            return ("fewer answers than requests", "")
        if not ok_answers(finals, want):
            return ("the target's answer did not reach the client", "")
        if len(finals) > len(want):
            return ("answered the unfinished tail early (%d)" % finals[len(want)].status
                    if pending else "extra response to the client (%d)" % finals[len(want)].status, "")
        if res.state == "incomplete":
            return ("cut the target's answer short", res.detail)
        return None

    if kind in ("reject", "either"):
        statuses, st_text = reject_statuses(exp)
        # An error inside a body is seen after a streaming proxy sent the head on: a
        # request that never completes at the target is then fine.
        f = check_forwarded(events, want, allow_partial=bool(exp.get("err_in_body")))
        ok_reject = f is None and rejected_ok(statuses, len(want)) and ok_answers(finals, want)
        if ok_reject and res.ended():
            return None
        # the alternatives
        alt = None
        if kind == "either":
            alt = exp.get("forward_if_accepted") or [derived_request(raw)]
            alt_close = False
        elif exp.get("alt") == "te_over_cl":
            alt = [derived_request(raw, chunked_body=True)]
            alt_close = True
        if alt is not None and check_forwarded(events, alt) is None and \
                len(finals) == len(alt) and ok_answers(finals, alt):
            if not alt_close or res.ended():
                return None
            return ("TE+CL forwarded without closing the connection", "")
        if ok_reject:
            return ("rejected but kept the connection open", "")
        reqs = [e for e in events if e["kind"] == "request"]
        if f is not None and len(reqs) > len(want):
            got = finals[len(want)].status if len(finals) > len(want) else None
            if got == 200:
                return ("accepted what must be refused (forwarded, 200)", "")
            return ("forwarded what must be refused" + (" (client got %s)" % got if got else ""), "")
        if f is not None:
            return f
        if len(finals) <= len(want):
            if res.timed_out:
                return ("no answer within the timeout (want %s)" % st_text, "")
            return ("closed without an answer (want %s)" % st_text, "")
        return ("wrong status %d (want %s)" % (finals[len(want)].status, st_text), "")

    if kind == "close_after":
        f = check_forwarded(events, want)
        if f:
            return f
        if not ok_answers(finals, want):
            return ("the target's answer did not reach the client", "")
        if len(finals) > len(want):
            return ("answered the bytes after a closing message (%d)" % finals[len(want)].status, "")
        if not res.ended():
            return ("did not close after a closing message", "")
        return None

    if kind == "incomplete":
        reqs = [e for e in events if e["kind"] == "request"]
        if reqs:
            return ("forwarded an incomplete message as complete", "")
        garbage = [e for e in events if e["kind"] in ("garbage", "tunnel")]
        if garbage:
            return ("stray bytes reached the target (%s)" % garbage[0]["kind"], "")
        if not finals:
            if res.timed_out or v.get("half_close"):
                return None
            return ("closed an incomplete message before its timeout", "")
        st = finals[0].status
        if st == 408 or (v.get("half_close") and 400 <= st < 500):
            return None
        return ("answered an incomplete message early (%d)" % st, "")

    if kind == "connect":
        if not finals:
            return ("no answer to CONNECT" if res.timed_out else "closed without an answer to CONNECT", "")
        r = finals[0]
        if 200 <= r.status < 300:
            if r.tunnel is None or not r.tunnel.startswith(TUNNEL_GREETING):
                return ("2xx to CONNECT without a working tunnel", "")
            return None
        if 400 <= r.status < 600:
            if events:
                return ("refused CONNECT but sent it to the target", "")
            return None
        return ("unexpected status %d to CONNECT" % r.status, "")

    return ("unknown expectation kind %r" % kind, "")


def judge_response(v, raw, res, notes):
    verdict = judge_response_kind(v["expect"], raw, res)
    if verdict is not None and lf_note(v["expect"]):
        h = lf_head(raw)
        if h is not None:
            rs, st, _ = parse_responses(h[0] + raw[h[1]:], ["GET"], True)
            fin = [r for r in rs if not r.interim]
            if st == "ok" and fin:
                alt = {"kind": "accept", "status": fin[0].status,
                       "body": fin[0].body.decode("latin-1")}
                if judge_response_kind(alt, raw, res) is None:
                    notes.append(LF_ALT)
                    return None
    return verdict


def judge_response_kind(exp, raw, res):
    kind = exp["kind"]
    finals = res.finals()
    final = finals[0] if finals else None
    if res.error:
        return ("client could not talk to the proxy", res.error)
    if res.state == "error":
        if res.detail.startswith("bad chunked body"):
            return ("malformed chunked framing reached the client", res.detail)
        return ("malformed answer to the client", res.detail)
    if kind == "accept":
        if final is None:
            if res.state == "incomplete":
                return ("cut a valid response short", res.detail)
            return ("no response" if res.timed_out else "closed without a response", "")
        if final.status != exp["status"]:
            return ("valid response refused (%d)" % final.status if final.status == 502
                    else "wrong status %d (want %d)" % (final.status, exp["status"]), "")
        if "tunnel" in exp:
            if final.tunnel is None:
                return ("101 not turned into a tunnel", "")
            if final.tunnel != exp["tunnel"].encode("latin-1"):
                return ("wrong bytes after 101", "got %s" % clip(final.tunnel, 60))
            return None
        if res.state == "incomplete":
            return ("cut a valid response short", res.detail)
        if final.body != exp["body"].encode("latin-1"):
            return ("wrong response body", "got %s" % clip(final.body, 60))
        if len(finals) > 1:
            return ("extra response after the complete one (desync)", "")
        return None
    if kind == "reject":
        head_end = raw.find(b"\r\n\r\n")
        body = raw[head_end + 4:] if head_end >= 0 else b""
        if final is not None and final.status == 502:
            line = raw.split(b"\r\n", 1)[0]
            if line and line in res.data:
                return ("502 but the raw status line reached the client", "")
            if len(body) >= 3 and body in res.data:
                return ("502 but the raw body reached the client", "")
            return None
        if exp.get("err_in_body") and res.state == "incomplete" and res.ended():
            return None
        if final is not None:
            return ("malformed response passed to the client (%d)" % final.status, "")
        if res.ended() and not res.data:
            return ("bare close instead of 502", "")
        if res.timed_out:
            return ("no answer within the timeout (want 502)", "")
        return ("no 502 for a malformed response", "")
    if kind == "truncated":
        if final is not None and final.status == 502:
            return None
        if not res.ended():
            return ("truncated response: client connection not ended", "")
        if final is not None and res.state != "incomplete":
            return ("truncated response delivered as complete (%d)" % final.status, "")
        return None
    if kind == "either":
        if final is None and res.timed_out:
            return ("no answer within the timeout", "")
        return None
    return ("unknown expectation kind %r" % kind, "")


# ---------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------

def expected_methods(v, raw):
    exp = v["expect"]
    if v["side"] == "response":
        return ["GET"]
    want = exp.get("forward") or exp.get("forward_if_accepted") or []
    ms = [w["method"] for w in want]
    parts = first_line(raw.lstrip(b"\r\n"))
    first = parts[0].decode("latin-1") if parts else "GET"
    return ms or [first]


def satisfier(v):
    exp = v["expect"]
    kind = exp["kind"]
    if v["side"] == "response":
        tunnel = exp.get("tunnel")

        def sat(rs, st):
            if st == "error":
                return True
            if st == "tunnel":
                return tunnel is None or len(rs[-1].tunnel) >= len(tunnel)
            return any(not r.interim for r in rs) and st == "ok"
        return sat
    n = len(exp.get("forward", []))
    if kind == "incomplete":
        return lambda rs, st: st == "error"

    def sat(rs, st):
        if st in ("error", "tunnel"):
            return st == "error" or len(rs[-1].tunnel) >= len(TUNNEL_GREETING)
        fin = [r for r in rs if not r.interim]
        if st == "ok" and len(fin) > n:
            return True
        if kind == "accept" and st == "ok" and len(fin) >= n:
            return True
        return st == "ok" and any(r.status >= 400 for r in fin)
    return sat


async def canary(shard, timeout):
    shard.canary_n += 1
    token = "%d-%d" % (shard.index, shard.canary_n)
    raw = ("GET %s%s HTTP/1.1\r\nHost: %s\r\n\r\n" % (CANARY_PREFIX, token, shard.args.host)).encode()
    res = await exchange(shard.port, raw, ["GET"], timeout,
                         lambda rs, st: st != "incomplete" and bool(rs), 0.05)
    finals = res.finals()
    good = (res.state == "ok" and len(finals) == 1 and finals[0].status == 200
            and finals[0].reason == "OK" and finals[0].body == ("canary " + token).encode())
    if not good and res.state == "ok" and len(finals) == 1 and finals[0].reason != "OK":
        res.detail = "status line %r" % ("%d %s" % (finals[0].status, finals[0].reason))
    return good, res


async def run_vector(shard, v, args):
    raw = v["raw"].encode("latin-1")
    shard.window = []
    if v["side"] == "response":
        token = "%d-%d" % (shard.index, len(shard.resp_vectors))
        shard.resp_vectors[token] = v
        extra = "Connection: Upgrade\r\nUpgrade: h2c\r\n" if v.get("upgrade_request") else ""
        sent = ("GET %s%s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (
            RESP_PREFIX, token, args.host, extra)).encode()
    else:
        sent = raw
    res = await exchange(shard.port, sent, expected_methods(v, raw), args.timeout,
                         satisfier(v), args.grace, half_close=bool(v.get("half_close")))
    await asyncio.sleep(0.02)
    verdict = None
    notes = []
    crashed = shard.proc.returncode is not None
    can_ok, can_res = (False, None) if crashed else await canary(shard, args.timeout)
    shard.snapshot_partials()
    events = shard.window
    shard.window = []
    if crashed or shard.proc.returncode is not None:
        verdict = ("proxy died (exit %s)" % shard.proc.returncode, tail(shard.log_path, 3))
    elif v["side"] == "response":
        verdict = judge_response(v, raw, res, notes)
    else:
        verdict = judge_request(v, raw, res, events, args.admin_host, notes)
    if verdict is None and not can_ok:
        verdict = ("desync: the next client got a wrong answer", "canary " + can_res.describe())
    elif verdict is not None and not can_ok and not crashed:
        verdict = (verdict[0], (verdict[1] + "; " if verdict[1] else "")
                   + "and the next client got: " + can_res.describe())
    if not can_ok or shard.proc.returncode is not None:
        await recover(shard, args)
    return {
        "id": v["id"], "side": v["side"], "kind": v["expect"]["kind"],
        "group": group_of(v), "ok": verdict is None,
        "failure": verdict[0] if verdict else None,
        "detail": verdict[1] if verdict else "",
        "raw": clip(raw, args.raw_chars),
        "client": res.describe(),
        "target": target_describe(events) if v["side"] == "request" else "",
        "elapsed": round(res.elapsed, 3),
        "passed_as": notes[0] if notes and verdict is None else "",
    }


async def recover(shard, args):
    for _ in range(3):
        if shard.proc.returncode is not None:
            break
        await asyncio.sleep(0.1)
        ok, _ = await canary(shard, args.timeout)
        if ok:
            return
    await shard.restart_proxy()


def group_of(v):
    exp = v["expect"]
    if v["source"] == "smuggler":
        return "smuggler: " + (v.get("rfc") or "")
    why = exp.get("why")
    if why:
        return why[:70]
    return v["title"].split(" / ")[0]


async def run_shard(shard, vectors, args, results, progress):
    for v in vectors:
        try:
            r = await run_vector(shard, v, args)
        except Exception as e:  # keep going: report it against the vector
            r = {"id": v["id"], "side": v["side"], "kind": v["expect"]["kind"],
                 "group": group_of(v), "ok": False, "failure": "runner error",
                 "detail": repr(e), "raw": clip(v["raw"].encode("latin-1"), args.raw_chars),
                 "client": "", "target": "", "elapsed": 0, "passed_as": ""}
            try:
                await shard.restart_proxy()
            except Exception:
                pass
        results.append(r)
        progress()


async def main_async(args, vectors):
    workdir = tempfile.mkdtemp(prefix="h1suite-")
    n = max(1, min(args.jobs, len(vectors)))
    shards = [Shard(i, args, workdir) for i in range(n)]
    results = []
    t0 = time.monotonic()
    done = [0]

    def progress():
        done[0] += 1
        if not args.json and sys.stderr.isatty():
            sys.stderr.write("\r%d/%d" % (done[0], len(vectors)))
            sys.stderr.flush()

    try:
        for s in shards:
            await s.start_targets()
        await asyncio.gather(*(s.start_proxy() for s in shards))
        buckets = [vectors[i::n] for i in range(n)]
        await asyncio.gather(*(run_shard(s, b, args, results, progress)
                               for s, b in zip(shards, buckets)))
    finally:
        for s in shards:
            try:
                await s.stop_proxy()
            except Exception:
                pass
        if not args.json and sys.stderr.isatty():
            sys.stderr.write("\r")
        if args.keep:
            print("work dir kept: " + workdir, file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    order = {v["id"]: i for i, v in enumerate(vectors)}
    results.sort(key=lambda r: order.get(r["id"], 0))
    return results, time.monotonic() - t0, sum(s.restarts for s in shards)


def report(results, elapsed, restarts, args):
    failed = [r for r in results if not r["ok"]]
    classes = {}
    for r in failed:
        classes.setdefault("%s — %s [%s/%s]" % (r["failure"], r["group"], r["side"], r["kind"]),
                           []).append(r)
    alts = {}
    for r in results:
        if r["ok"] and r.get("passed_as"):
            alts[r["passed_as"]] = alts.get(r["passed_as"], 0) + 1
    if args.json:
        print(json.dumps({"total": len(results), "passed": len(results) - len(failed),
                          "failed": len(failed), "seconds": round(elapsed, 1),
                          "proxy_restarts": restarts, "passed_by_alternative": alts,
                          "classes": {k: [{x: r[x] for x in ("id", "raw", "detail", "client", "target")}
                                          for r in v] for k, v in sorted(classes.items())},
                          "results": results}, indent=1))
        return
    print("HTTP/1.1 conformance: %d vectors, %d passed, %d failed (%.1fs, %d proxy restarts)"
          % (len(results), len(results) - len(failed), len(failed), elapsed, restarts))
    for name, count in sorted(alts.items()):
        print("  passed by an allowed alternative: %d x %s" % (count, name))
    for k, rs in sorted(classes.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        print("\n== %s: %d" % (k, len(rs)))
        for r in rs[:args.examples] if args.examples else rs:
            print("  %s" % r["id"])
            print("    raw:    %s" % r["raw"])
            if r["detail"]:
                print("    detail: %s" % r["detail"])
            print("    %s" % r["client"])
            if r["target"]:
                print("    %s" % r["target"])
        if args.examples and len(rs) > args.examples:
            print("  ... and %d more: %s" % (len(rs) - args.examples,
                                           " ".join(r["id"] for r in rs[args.examples:][:20])
                                           + (" ..." if len(rs) - args.examples > 20 else "")))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("vectors", help="the vectors JSON file")
    ap.add_argument("--gravity", default="./build/gravity", help="gravity binary (./build/gravity)")
    ap.add_argument("--only", action="append", default=[],
                    help="run only vectors whose id contains this (repeatable)")
    ap.add_argument("--jobs", type=int, default=8, help="proxy+target shards run in parallel (8)")
    ap.add_argument("--timeout", type=float, default=1.5, help="seconds to wait for an answer (1.5)")
    ap.add_argument("--grace", type=float, default=0.25,
                    help="seconds to keep reading once the answer is complete (0.25)")
    ap.add_argument("--split-delay", type=float, default=0.15,
                    help="seconds the target waits before sending what follows a complete "
                         "response (response vectors) or a CONNECT's 2xx (0.15; 0: no wait)")
    ap.add_argument("--examples", type=int, default=0,
                    help="failures shown per class (0: all)")
    ap.add_argument("--raw-chars", type=int, default=160, help="raw bytes shown per failure")
    ap.add_argument("--json", action="store_true", help="machine-readable output")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (proxy logs)")
    args = ap.parse_args()

    if not os.access(args.gravity, os.X_OK):
        sys.exit("conformance: %s is not an executable (build first, or pass --gravity)" % args.gravity)
    args.gravity = os.path.abspath(args.gravity)
    with open(args.vectors, encoding="utf-8") as f:
        doc = json.load(f)
    meta = doc.get("meta", {})
    args.host = meta.get("host", "h1suite.test")
    args.admin_host = meta.get("admin_host", "admin." + args.host)
    vectors = doc["vectors"]
    if args.only:
        vectors = [v for v in vectors if any(s in v["id"] for s in args.only)]
    if not vectors:
        sys.exit("conformance: no vectors selected")
    results, elapsed, restarts = asyncio.run(main_async(args, vectors))
    report(results, elapsed, restarts, args)
    sys.exit(0 if all(r["ok"] for r in results) else 1)


if __name__ == "__main__":
    main()
