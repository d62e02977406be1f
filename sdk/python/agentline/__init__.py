"""Zero-dependency client for the agentline calls API (Python >= 3.8, standard library only)."""

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request

from .events import DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_BACKOFF, Event, SseParser, stream_events

__all__ = ["Client", "AgentlineError", "Event", "SseParser", "verify_webhook"]
__version__ = "0.1.0"

TERMINAL_STATUSES = frozenset(["completed", "no_answer", "voicemail", "declined", "failed"])


class AgentlineError(Exception):
    """Every failure. ``code`` is the API's error token (or ``network_error`` / ``timeout``);
    ``status`` is the HTTP status, 0 when there was none."""

    def __init__(self, code, message, status=0, details=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.details = details

    def __repr__(self):
        return "AgentlineError(code=%r, status=%r, message=%r)" % (self.code, self.status, self.message)


class Client:
    def __init__(self, api_key, base_url="http://127.0.0.1:8080", request_timeout=30.0):
        if not api_key:
            raise AgentlineError("unauthorized", "an API key is required", 0)
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.request_timeout = request_timeout

    def _request(self, method, path, body=None, headers=None):
        data = None
        h = {"Authorization": "Bearer " + self.api_key, "Accept": "application/json"}
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            h["Content-Type"] = "application/json"
        if headers:
            h.update(headers)
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=self.request_timeout) as res:
                raw = res.read()
                return json.loads(raw.decode("utf-8")) if raw else None
        except urllib.error.HTTPError as e:
            raise self._error_from_http(e)
        except (urllib.error.URLError, OSError) as e:
            raise self._network_error(e)

    @staticmethod
    def _error_from_http(e):
        """The AgentlineError for an HTTP error answer: the API's {"error": {code, message, details}} when sent."""
        raw = e.read()
        err = {}
        try:
            err = json.loads(raw.decode("utf-8")).get("error") or {}
        except (ValueError, AttributeError):
            err = {}
        return AgentlineError(
            err.get("code", "http_error"), err.get("message", "HTTP %d" % e.code), e.code, err.get("details")
        )

    @staticmethod
    def _network_error(e):
        return AgentlineError("network_error", "request failed: %s" % (getattr(e, "reason", None) or e), 0)

    def place_call(self, to, objective, idempotency_key=None, **fields):
        """Places a call. Keyword arguments are the other fields of POST /v1/agent/calls
        (context, fields, webhookUrl, callerId, language, voice, maxDurationSeconds, voicemail, transfer, metadata).
        transfer (extension): {"to": "+E164" or "sip:user@host", "mode": "cold"|"warm", "when": "<condition>"};
        a call handed over ends "completed" with endedReason "transferred"."""
        body = dict(fields)
        body["to"] = to
        body["objective"] = objective
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self._request("POST", "/v1/agent/calls", body, headers)

    def get_call(self, call_id):
        """One call. Its "events" (extension) list the status changes and notes such as why it failed,
        oldest first: {"at", "from", "to", "reason"}."""
        return self._request("GET", "/v1/agent/calls/" + urllib.parse.quote(call_id, safe=""))

    def list_calls(self, limit=None, cursor=None, status=None):
        q = {k: v for k, v in (("limit", limit), ("cursor", cursor), ("status", status)) if v is not None}
        suffix = ("?" + urllib.parse.urlencode(q)) if q else ""
        return self._request("GET", "/v1/agent/calls" + suffix)

    def cancel_call(self, call_id):
        return self._request("POST", "/v1/agent/calls/" + urllib.parse.quote(call_id, safe="") + "/cancel")

    def call_events(self, call_id, last_event_id=None, idle_timeout=DEFAULT_IDLE_TIMEOUT, max_backoff=DEFAULT_MAX_BACKOFF):
        """The live events of one call (Server-Sent Events), a generator of Event(type, id, data): the call's
        history from the start (or after ``last_event_id``), then each status change, turn and partial as it
        happens, and last "ended", after which it stops. A dropped connection is resumed with Last-Event-ID,
        without loss or repeats. ``break`` (or ``close()``) closes the connection. Errors before the stream
        opens raise AgentlineError (not_found 404, unauthorized 401, network_error 0)."""
        path = "/v1/agent/calls/" + urllib.parse.quote(call_id, safe="") + "/events"
        return stream_events(self, path, last_event_id, True, idle_timeout, max_backoff)

    def account_events(self, last_event_id=None, idle_timeout=DEFAULT_IDLE_TIMEOUT, max_backoff=DEFAULT_MAX_BACKOFF):
        """The live events of every call of the account, from now (or after ``last_event_id``); it never ends
        by itself. Same reconnect and close rules as call_events."""
        return stream_events(self, "/v1/agent/events", last_event_id, False, idle_timeout, max_backoff)

    def wait_for_call(self, call_id, timeout=180, interval=5, stream=True):
        """Waits until the call is in a terminal status and returns it; raises AgentlineError(code='timeout')
        when time runs out. It follows the call's event stream, so it returns as soon as the call ends, and
        polls every ``interval`` seconds where the server has no event stream (404) or ``stream`` is False."""
        deadline = time.monotonic() + timeout
        call = self.get_call(call_id)
        if stream and call.get("status") not in TERMINAL_STATUSES:
            # Before each reconnect (the stream dropped, or stayed silent past the idle timeout) one poll
            # makes sure a stream held back between client and server cannot hide the end.
            def ended_meanwhile():
                return self.get_call(call_id).get("status") in TERMINAL_STATUSES

            path = "/v1/agent/calls/" + urllib.parse.quote(call_id, safe="") + "/events"
            events = stream_events(self, path, stop_after_ended=True, deadline=deadline, before_reconnect=ended_meanwhile)
            try:
                for event in events:
                    if event.type == "ended":
                        break
            except AgentlineError:
                # No stream (an older server answers 404), or out of time: the polling below reports the
                # outcome, the timeout, or a real error (401, the call gone) itself.
                pass
            finally:
                events.close()
            call = self.get_call(call_id)
        while True:
            if call.get("status") in TERMINAL_STATUSES:
                return call
            left = deadline - time.monotonic()
            if left <= 0:
                raise AgentlineError(
                    "timeout", "call %s still %s after %s s" % (call_id, call.get("status"), timeout), 0
                )
            time.sleep(min(interval, left))
            call = self.get_call(call_id)


def verify_webhook(raw_body, signature_header, secret, tolerance_seconds=300):
    """True when ``X-BYS-Signature`` (``t=<unix>,v1=<hex>``) matches the raw body and is recent enough."""
    if not signature_header or not secret:
        return False
    t = None
    sigs = []
    for part in signature_header.split(","):
        k, sep, v = part.strip().partition("=")
        if not sep:
            continue
        if k == "t" and v.isdigit():
            t = int(v)
        elif k == "v1" and len(v) == 64:
            sigs.append(v.lower())
    if t is None or not sigs:
        return False
    if abs(int(time.time()) - t) > tolerance_seconds:
        return False
    if isinstance(raw_body, str):
        raw_body = raw_body.encode("utf-8")
    expected = hmac.new(secret.encode("utf-8"), str(t).encode("ascii") + b"." + raw_body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, s) for s in sigs)
