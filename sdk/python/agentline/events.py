"""The live event streams (Server-Sent Events): a parser, and a generator that survives dropped
connections by reconnecting with Last-Event-ID, so the server resumes after the last durable event."""

import codecs
import collections
import http.client
import json
import random
import socket
import time
import urllib.error
import urllib.request

# The wait before reconnecting until the server's ``retry:`` says otherwise, in seconds.
DEFAULT_RETRY = 2.0
# Repeated failures back off exponentially from ``retry:`` up to this (or ``retry:`` when larger).
DEFAULT_MAX_BACKOFF = 30.0
# The server sends a comment every 15 s: this long without a byte means the connection is dead.
DEFAULT_IDLE_TIMEOUT = 45.0
_MIN_BACKOFF_BASE = 0.25
_SEEN_IDS = 256
_SEEN_CONTENT = 4096

Event = collections.namedtuple("Event", ["type", "id", "data"])
Event.__doc__ = """One message of an event stream: ``type`` (status, note, turn, partial, ended), ``id`` (the resume
cursor, None on partials and the terminal status) and ``data`` (the decoded JSON)."""


class SseParser:
    """WHATWG event-stream rules for bytes in chunks cut anywhere (inside a line, a CRLF pair or a UTF-8
    sequence). ``feed`` returns what the chunk completed, as dicts: ``{"kind": "event", "event", "data", "id",
    "lastEventId"}``, ``{"kind": "retry", "ms"}`` and ``{"kind": "comment", "text"}``."""

    def __init__(self):
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._after_cr = False
        self._at_start = True
        self._event_type = ""
        self._data = []
        self._message_id = None
        self.last_event_id = ""

    def feed(self, chunk):
        text = chunk if isinstance(chunk, str) else self._decoder.decode(chunk)
        return self._consume(text)

    def _consume(self, text):
        out = []
        if not text:
            return out
        if self._at_start:
            self._at_start = False
            if text[0] == "\ufeff":
                text = text[1:]
                if not text:
                    return out
        start = 1 if self._after_cr and text[0] == "\n" else 0
        self._after_cr = False
        i = start
        n = len(text)
        while i < n:
            c = text[i]
            if c != "\n" and c != "\r":
                i += 1
                continue
            line = self._pending + text[start:i]
            self._pending = ""
            if c == "\r":
                if i + 1 == n:
                    self._after_cr = True
                elif text[i + 1] == "\n":
                    i += 1
            i += 1
            start = i
            self._line(line, out)
        if start < n:
            self._pending += text[start:]
        return out

    def _line(self, line, out):
        if line == "":
            self._dispatch(out)
            return
        if line[0] == ":":
            text = line[1:]
            out.append({"kind": "comment", "text": text[1:] if text.startswith(" ") else text})
            return
        field, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if field == "event":
            self._event_type = value
        elif field == "data":
            self._data.append(value)
        elif field == "id":
            if "\0" not in value:
                self.last_event_id = value
                self._message_id = value
        elif field == "retry":
            if value and all("0" <= ch <= "9" for ch in value):
                out.append({"kind": "retry", "ms": int(value)})

    def _dispatch(self, out):
        data, event, message_id = self._data, self._event_type or "message", self._message_id
        self._data, self._event_type, self._message_id = [], "", None
        # A message without data is not an event, though its id still moved the cursor.
        if not data:
            return
        out.append(
            {"kind": "event", "event": event, "data": "\n".join(data), "id": message_id, "lastEventId": self.last_event_id}
        )


def _content_key(event_type, data):
    """What makes an event the same event whatever its id; None for partials and unknown types."""
    if not isinstance(data, dict):
        return None
    g = data.get
    if event_type == "turn":
        return ("turn", g("callId"), g("seq"))
    if event_type == "status":
        return ("status", g("callId"), g("at"), g("to"), g("reason"))
    if event_type == "note":
        return ("note", g("callId"), g("at"), g("status"), g("reason"))
    if event_type == "ended":
        return ("ended", g("callId"))
    return None


class _BoundedSet:
    """A set that forgets its oldest entries beyond ``limit`` (an account stream runs for days)."""

    def __init__(self, limit):
        self._items = collections.OrderedDict()
        self._limit = limit

    def __contains__(self, key):
        return key in self._items

    def add(self, key):
        self._items[key] = True
        if len(self._items) > self._limit:
            self._items.popitem(last=False)


def _retryable(err):
    return err.status == 0 or err.status in (408, 429) or err.status >= 500


def _backoff(retry, failures, max_backoff):
    if failures <= 1:
        return retry
    # A ``retry: 0`` server still gets a growing pause while it keeps failing.
    base = max(retry, _MIN_BACKOFF_BASE)
    delay = min(max(max_backoff, retry), base * 2 ** (failures - 1))
    # Jitter keeps many clients of a restarted server from reconnecting in step.
    return delay * (0.5 + random.random() * 0.5)


def _open(client, path, cursor, timeout):
    """One connection: the response with a text/event-stream body, or None for 204 (nothing more to stream)."""
    headers = {
        "Authorization": "Bearer " + client.api_key,
        "Accept": "text/event-stream",
        "Cache-Control": "no-cache",
    }
    if cursor:
        headers["Last-Event-ID"] = cursor
    req = urllib.request.Request(client.base_url + path, method="GET", headers=headers)
    try:
        # The timeout bounds each socket read, so it is also how long the stream may stay silent.
        res = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        raise client._error_from_http(e)
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        raise client._network_error(e)
    if res.status == 204:
        res.close()
        return None
    ctype = res.headers.get("Content-Type") or ""
    if not ctype.lower().startswith("text/event-stream"):
        res.close()
        from . import AgentlineError

        raise AgentlineError(
            "invalid_response", "expected an event stream, got %s" % (ctype or "no content type"), res.status
        )
    return res


def _read_chunk(res):
    read1 = getattr(res, "read1", None)
    return read1(65536) if read1 else res.read(1)


def stream_events(
    client,
    path,
    last_event_id=None,
    stop_after_ended=False,
    idle_timeout=DEFAULT_IDLE_TIMEOUT,
    max_backoff=DEFAULT_MAX_BACKOFF,
    deadline=None,
    before_reconnect=None,
    _sleep=time.sleep,
):
    """Yields Event tuples. Errors before the first stream opens are raised as AgentlineError (404, 401,
    network_error); later, drops and 5xx/429 answers are retried with Last-Event-ID and a bounded backoff.
    ``deadline`` (time.monotonic()) raises AgentlineError(code="timeout") when reached; ``before_reconnect``
    returning True ends the iteration instead of reconnecting. Closing the generator (``break``, ``close()``)
    closes the connection."""
    from . import AgentlineError

    cursor = last_event_id or None
    retry = DEFAULT_RETRY
    failures = 0
    opened = False
    seen_ids = collections.deque(maxlen=_SEEN_IDS)
    seen_content = _BoundedSet(_SEEN_CONTENT)

    def time_left():
        if deadline is None:
            return None
        left = deadline - time.monotonic()
        if left <= 0:
            raise AgentlineError("timeout", "the event stream ran out of time", 0)
        return left

    def pause():
        delay = _backoff(retry, failures, max_backoff)
        left = time_left()
        _sleep(delay if left is None else min(delay, left))

    while True:
        left = time_left()
        try:
            res = _open(client, path, cursor, idle_timeout if left is None else min(idle_timeout, left))
        except AgentlineError as e:
            if not opened or not _retryable(e):
                raise
            failures += 1
            pause()
            continue
        if res is None:
            return
        opened = True
        failures = 0
        parser = SseParser()
        try:
            while True:
                try:
                    chunk = _read_chunk(res)
                except (socket.timeout, OSError, http.client.HTTPException, ValueError):
                    break
                if not chunk:
                    break
                for item in parser.feed(chunk):
                    if item["kind"] == "retry":
                        retry = item["ms"] / 1000.0
                    if item["kind"] != "event":
                        continue
                    if item["id"] is not None:
                        if item["id"]:
                            cursor = item["id"]
                        if item["id"] in seen_ids:
                            continue
                        seen_ids.append(item["id"])
                    try:
                        data = json.loads(item["data"])
                    except ValueError:
                        data = item["data"]
                    # A resume may repeat what was already delivered under another id: the terminal status
                    # (it has none) before "ended", and on the account stream a few messages sent while
                    # another call's write was committing. What an event says tells the copy apart.
                    key = _content_key(item["event"], data)
                    if key is not None:
                        if key in seen_content:
                            continue
                        seen_content.add(key)
                    yield Event(item["event"], item["id"], data)
                    if stop_after_ended and item["event"] == "ended":
                        return
        finally:
            res.close()
        failures += 1
        if before_reconnect is not None and before_reconnect():
            return
        pause()
