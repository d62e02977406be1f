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
        content_type = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            content_type = "application/json"
        raw = self._send(method, path, data, content_type, headers)
        return json.loads(raw.decode("utf-8")) if raw else None

    def _send(self, method, path, data=None, content_type=None, headers=None, accept="application/json"):
        """One request; the answer's body as bytes. API and network failures raise AgentlineError."""
        h = {"Authorization": "Bearer " + self.api_key, "Accept": accept}
        if content_type:
            h["Content-Type"] = content_type
        if headers:
            h.update(headers)
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=self.request_timeout) as res:
                return res.read()
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
        (context, fields, webhookUrl, callerId, language, voice, maxDurationSeconds, voicemail, transfer, metadata,
        callWindow, startAt, expiresAt, retry).
        transfer (extension): {"to": "+E164" or "sip:user@host", "mode": "cold"|"warm", "when": "<condition>"};
        a call handed over ends "completed" with endedReason "transferred".
        callWindow: {"start": "HH:MM", "end": "HH:MM", "days": ["mon", ...]} in the callee's local time;
        startAt / expiresAt: ISO 8601 with an offset (not dialled before / not after; an expired call ends
        failed/expired); retry: {"maxAttempts": 1-10, "delaySeconds": 60-86400, "on": [...]}."""
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
        return self._request("GET", "/v1/agent/calls" + _query(limit=limit, cursor=cursor, status=status))

    def cancel_call(self, call_id):
        return self._request("POST", "/v1/agent/calls/" + urllib.parse.quote(call_id, safe="") + "/cancel")

    # Batches

    def create_batch(self, template, rows, idempotency_key=None, **options):
        """Places a batch: ``template`` is the shared call (objective with {{variable}} placeholders, context,
        fields, voicemail, transfer, maxDurationSeconds, webhookUrl, callerId, language, voice, metadata);
        ``rows`` a list of {"to", "variables"?, "metadata"?}. Keyword arguments are the rest of
        POST /v1/agent/batches (name, concurrency, callWindow, startAt, expiresAt, retry, metadata). The
        answer lists the accepted rows with their callId and the refused ones with the error a single call
        would have had; every row refused raises AgentlineError invalid_request (422) with details["refused"]."""
        body = dict(options)
        body["template"] = template
        body["rows"] = rows
        return self._request("POST", "/v1/agent/batches", body, _idempotency(idempotency_key))

    def create_batch_from_csv(self, csv_text, template, idempotency_key=None, **options):
        """Places a batch from CSV text: a header row, a ``to`` column, every other column a template variable
        (``metadata.<key>`` columns go to the row's metadata). Sent as JSON with the CSV in ``csv``."""
        body = dict(options)
        body["template"] = template
        body["csv"] = csv_text
        return self._request("POST", "/v1/agent/batches", body, _idempotency(idempotency_key))

    def get_batch(self, batch_id, limit=None, cursor=None):
        """One batch: counts by status, progress, the rows refused at acceptance, and one page of its calls
        (row order; ``nextCursor`` leads to the next page)."""
        return self._request("GET", "/v1/agent/batches/" + _quote(batch_id) + _query(limit=limit, cursor=cursor))

    def list_batches(self, limit=None, cursor=None):
        return self._request("GET", "/v1/agent/batches" + _query(limit=limit, cursor=cursor))

    def pause_batch(self, batch_id):
        """Its queued calls are held (not dialled) until resume_batch; live calls go on."""
        return self._request("POST", "/v1/agent/batches/" + _quote(batch_id) + "/pause")

    def resume_batch(self, batch_id):
        return self._request("POST", "/v1/agent/batches/" + _quote(batch_id) + "/resume")

    def cancel_batch(self, batch_id):
        """Its queued calls end failed/canceled and never dial; live calls finish."""
        return self._request("POST", "/v1/agent/batches/" + _quote(batch_id) + "/cancel")

    def batch_results_csv(self, batch_id):
        """The results as CSV text (str): one row per call with row, callId, to, status, endedReason, attempts,
        durationSeconds, optOut, summary, the variables and extracted.<field>."""
        raw = self._send("GET", "/v1/agent/batches/" + _quote(batch_id) + "/results.csv", accept="text/csv")
        return raw.decode("utf-8")

    def iter_batch_calls(self, batch_id, page_size=100):
        """Every call of the batch, in row order, ``page_size`` (1-1000) per request."""
        cursor = None
        while True:
            page = self.get_batch(batch_id, limit=page_size, cursor=cursor)
            for call in page.get("calls") or []:
                yield call
            cursor = page.get("nextCursor")
            if not cursor:
                return

    def wait_for_batch(self, batch_id, timeout=3600, interval=10, limit=None):
        """Polls until every call of the batch has ended (``completedAt`` set: completed, or canceled once
        its last live call ended) and returns the batch; raises AgentlineError(code="timeout") when time
        runs out."""
        deadline = time.monotonic() + timeout
        while True:
            batch = self.get_batch(batch_id, limit=limit)
            if batch.get("completedAt"):
                return batch
            left = deadline - time.monotonic()
            if left <= 0:
                progress = batch.get("progress") or {}
                raise AgentlineError(
                    "timeout",
                    "batch %s still %s (%s of %s calls ended) after %s s"
                    % (batch_id, batch.get("status"), progress.get("ended"), progress.get("total"), timeout),
                    0,
                )
            time.sleep(min(interval, left))

    # Do-not-call list

    def add_do_not_call(self, numbers, note=None):
        """Puts E.164 numbers on the account's do-not-call list: {"added", "alreadyListed", "invalid"}."""
        body = {"numbers": list(numbers)}
        if note is not None:
            body["note"] = note
        return self._request("POST", "/v1/agent/do-not-call", body)

    def import_do_not_call_csv(self, csv_text):
        """Imports CSV text (the first column, or the column ``number``) to the do-not-call list."""
        raw = self._send("POST", "/v1/agent/do-not-call", csv_text.encode("utf-8"), "text/csv")
        return json.loads(raw.decode("utf-8")) if raw else None

    def remove_do_not_call(self, number):
        """Takes a number off the account's list. Not on it: not_found (404); on the deployment's list:
        dnc_deployment_list (409)."""
        self._send("DELETE", "/v1/agent/do-not-call/" + _quote(number))

    def check_do_not_call(self, number):
        """{"number", "listed", "list": "account"|"deployment"|None, "source", "createdAt"}."""
        return self._request("GET", "/v1/agent/do-not-call/" + _quote(number))

    def list_do_not_call(self, limit=None, cursor=None):
        return self._request("GET", "/v1/agent/do-not-call" + _query(limit=limit, cursor=cursor))

    # Account defaults

    def get_settings(self):
        """The account's defaults: {"callWindow", "retryPolicy"} (None: the deployment's)."""
        return self._request("GET", "/v1/agent/settings")

    def update_settings(self, **fields):
        """Changes the account's defaults: callWindow=..., retryPolicy=...; a field left out stays, None clears it."""
        return self._request("PATCH", "/v1/agent/settings", fields)

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


def _quote(segment):
    return urllib.parse.quote(str(segment), safe="")


def _query(**params):
    q = [(k, v) for k, v in params.items() if v is not None]
    return ("?" + urllib.parse.urlencode(q)) if q else ""


def _idempotency(key):
    return {"Idempotency-Key": key} if key else None


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
