#!/usr/bin/env python3
"""Scripted mock LLM upstream speaking the OpenAI, Anthropic and Gemini wire formats.

Contract
========
Run ``python3 wire_mocks.py``.  The server binds ``127.0.0.1`` on an ephemeral
port, prints exactly one line ``PORT <n>`` to stdout (flushed) and serves until
it is killed (SIGTERM / SIGINT exit cleanly with status 0).  Standard library
only; HTTP/1.1 with keep-alive: every JSON answer carries ``Content-Length``,
every stream uses ``Transfer-Encoding: chunked`` terminated by the zero chunk.

Control endpoints (not recorded):
  GET  /_requests   JSON array of every recorded request, oldest first:
                    {"method", "path", "query": {name: first value},
                     "headers": {lowercased name: value}, "body": parsed JSON
                     or null, "body_text": raw body when it is not JSON}
  POST /_reset      clears the record, answers {"ok": true}

Provider endpoints:
  POST /v1/chat/completions                  OpenAI Chat Completions
       auth  ``authorization: Bearer up-openai``          else 401
  POST /v1/responses                         OpenAI Responses API
       auth  ``authorization: Bearer up-openai``          else 401
  POST /v1/messages                          Anthropic Messages
       auth  ``x-api-key: up-anthropic`` (or ``authorization: Bearer
             up-anthropic``, which anthropic-python 2.x sends) +
             ``anthropic-version`` present                 else 401
  POST /v1beta/models/{model}:generateContent           Gemini
  POST /v1beta/models/{model}:streamGenerateContent     Gemini; SSE only with
       ``?alt=sse`` (``data: {...}\\r\\n\\r\\n``), otherwise a JSON array
       auth  ``x-goog-api-key: up-gemini`` (or ``?key=up-gemini``) else 401
  (``/v1/models/...`` is accepted for Gemini as well.)

Scripted behaviour (identical logic in every dialect; first matching rule wins)
  1. model contains ``error-429`` -> 429 + ``retry-after: 1`` in the provider's
     error shape (OpenAI rate_limit_exceeded, Anthropic rate_limit_error, Gemini
     RESOURCE_EXHAUSTED).  ``error-400`` -> 400 "mock: bad request".
  2. Anthropic ``tool_choice {"type":"tool","name":X}`` -> tool_use X with input
     {"city":"Paris"} (stop_reason tool_use)  [Anthropic JSON-mode emulation].
  3. tools offered, tool choice not "none", and the last turn is not a tool
     result -> call the first tool (or the one named by a forced tool choice)
     with {"city":"Paris","unit":"celsius"}.  If the last user text contains
     the word "parallel" -> two calls, Paris and Tokyo.
     ids: OpenAI call_mock1/2, Anthropic toolu_mock1/2, Responses call_mock1/2
     (item ids fc_mock1/2); Gemini functionCall has no id and the first call
     part carries thoughtSignature "c2lnbmF0dXJlLW1vY2s=".
     Finish: OpenAI tool_calls, Anthropic tool_use, Gemini STOP.
  4. the last turn carries tool result(s) -> text "The weather is <result>"
     where <result> is the first 60 chars of the result(s) as text (several
     results joined with "; "; structured results as compact JSON; a Gemini
     functionResponse.response that is an object with exactly one string value
     contributes that string, e.g. {"result":"sunny"} -> "sunny").
  5. JSON mode (OpenAI response_format json_object/json_schema, Responses
     text.format json_object/json_schema, Gemini responseMimeType
     application/json) -> text {"city":"Paris"}.
  6. otherwise text "Answer from <openai|anthropic|gemini> to: <first 40 chars
     of the last user text>".
  Reasoning (Anthropic thinking.type == "enabled", Gemini
  generationConfig.thinkingConfig.includeThoughts, OpenAI reasoning_effort)
  is emitted before the answer: Anthropic thinking block "Let me think." with
  signature "sig-anthropic-123"; Gemini part {"text":"Let me think.",
  "thought":true}; OpenAI message.reasoning_content / delta.reasoning_content.

  Streams split text, thinking and tool-call argument JSON into >= 3 pieces
  (Gemini sends a function call whole in one chunk).

Usage (fixed numbers)
  OpenAI chat   {"prompt_tokens":20,"completion_tokens":10,"total_tokens":30,
                 "prompt_tokens_details":{"cached_tokens":5},
                 "completion_tokens_details":{"reasoning_tokens":2}}
                stream: only when stream_options.include_usage is true, in a
                final chunk with "choices": [] (other chunks carry "usage":null)
  Responses     {"input_tokens":20,"input_tokens_details":{"cached_tokens":5},
                 "output_tokens":10,"output_tokens_details":
                 {"reasoning_tokens":2},"total_tokens":30}
  Anthropic     {"input_tokens":15,"cache_read_input_tokens":5,
                 "cache_creation_input_tokens":0,"output_tokens":10}
                stream: message_start usage input 15 / cache_read 5 /
                cache_creation 0 / output 1; message_delta usage
                {"output_tokens":10}
  Gemini        {"promptTokenCount":20,"candidatesTokenCount":8,
                 "thoughtsTokenCount":2,"cachedContentTokenCount":5,
                 "totalTokenCount":30}; stream: earlier chunks carry
                 {"promptTokenCount":20}, the last one the full block.

Request validation (400 in the provider's shape), modelled on the real APIs
  OpenAI chat: model and non-empty messages required; stream_options only with
    stream; a role "tool" message must answer a tool_call id of the preceding
    assistant message; an assistant tool_calls message must be followed by
    tool messages for each of its ids.
  Anthropic: model, max_tokens, non-empty messages; every message content
    non-empty (string or block list) and text blocks non-empty; tool_result
    ids must match tool_use ids of the immediately preceding assistant
    message, and every tool_use must be answered in the next message;
    tool_choice {"type":"tool"} must name an offered tool.
  Gemini: non-empty contents, each with non-empty parts, role user/model;
    a function declaration needs a name and may not set both parameters and
    parametersJsonSchema.  camelCase and snake_case field names are accepted.
"""

from __future__ import annotations

import json
import re
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

# --------------------------------------------------------------------------
# Constants of the script
# --------------------------------------------------------------------------

KEY_OPENAI = "up-openai"
KEY_ANTHROPIC = "up-anthropic"
KEY_GEMINI = "up-gemini"

TOOL_ARGS = [
    {"city": "Paris", "unit": "celsius"},
    {"city": "Tokyo", "unit": "celsius"},
]
JSON_ANSWER = {"city": "Paris"}
THINKING_TEXT = "Let me think."
ANTHROPIC_SIGNATURE = "sig-anthropic-123"
GEMINI_SIGNATURE = "c2lnbmF0dXJlLW1vY2s="

USAGE_OPENAI = {
    "prompt_tokens": 20,
    "completion_tokens": 10,
    "total_tokens": 30,
    "prompt_tokens_details": {"cached_tokens": 5},
    "completion_tokens_details": {"reasoning_tokens": 2},
}
USAGE_RESPONSES = {
    "input_tokens": 20,
    "input_tokens_details": {"cached_tokens": 5},
    "output_tokens": 10,
    "output_tokens_details": {"reasoning_tokens": 2},
    "total_tokens": 30,
}
USAGE_ANTHROPIC = {
    "input_tokens": 15,
    "cache_read_input_tokens": 5,
    "cache_creation_input_tokens": 0,
    "output_tokens": 10,
}
USAGE_ANTHROPIC_START = {
    "input_tokens": 15,
    "cache_read_input_tokens": 5,
    "cache_creation_input_tokens": 0,
    "output_tokens": 1,
}
USAGE_GEMINI = {
    "promptTokenCount": 20,
    "candidatesTokenCount": 8,
    "thoughtsTokenCount": 2,
    "cachedContentTokenCount": 5,
    "totalTokenCount": 30,
}
USAGE_GEMINI_PARTIAL = {"promptTokenCount": 20}


class HTTPError(Exception):
    """Raised by a handler to answer with a provider-shaped error."""

    def __init__(self, status: int, kind: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.kind = kind  # "auth", "rate", "invalid", "not_found"
        self.message = message
        self.headers = headers or {}


def split_pieces(text: str, n: int = 3) -> list[str]:
    """Split text into n (>= 3 when long enough) non-empty pieces."""
    if len(text) < n:
        return [text] if text else [""]
    size = -(-len(text) // n)
    return [text[i:i + size] for i in range(0, len(text), size)]


def has_word(text: str, word: str) -> bool:
    return re.search(r"\b" + re.escape(word) + r"\b", text or "", re.IGNORECASE) is not None


def compact(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def result_text(value) -> str:
    """Render a tool result (string, block list or structured value) as text."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(
        isinstance(b, dict) and b.get("type") in ("text", "input_text", "output_text") for b in value
    ):
        return "".join(b.get("text", "") for b in value)
    if value is None:
        return ""
    return compact(value)


def weather_text(results: list[str]) -> str:
    return "The weather is " + "; ".join(results)[:60]


def check_script_errors(model: str) -> None:
    if "error-429" in (model or ""):
        raise HTTPError(429, "rate", "mock: rate limited", {"retry-after": "1"})
    if "error-400" in (model or ""):
        raise HTTPError(400, "invalid", "mock: bad request")


# --------------------------------------------------------------------------
# Request record
# --------------------------------------------------------------------------

RECORD: list[dict] = []
RECORD_LOCK = threading.Lock()


# --------------------------------------------------------------------------
# HTTP handler
# --------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "wire-mocks/1.0"
    sys_version = ""

    # ---- plumbing ---------------------------------------------------------

    def log_message(self, fmt, *args):  # keep stdout/stderr quiet
        pass

    def read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            data = b""
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_json(self, status: int, obj, headers: dict | None = None) -> None:
        payload = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def start_stream(self, content_type: str = "text/event-stream") -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def write_chunk(self, data: str | bytes) -> None:
        if isinstance(data, str):
            data = data.encode()
        if not data:
            return
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    # ---- dispatch ---------------------------------------------------------

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def dispatch(self, method: str) -> None:
        raw = self.read_body()
        parts = urlsplit(self.path)
        path = parts.path
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        body = None
        body_text = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body_text = raw.decode("utf-8", "replace")

        if path == "/_requests" and method == "GET":
            with RECORD_LOCK:
                snapshot = list(RECORD)
            return self.send_json(200, snapshot)
        if path == "/_reset" and method == "POST":
            with RECORD_LOCK:
                RECORD.clear()
            return self.send_json(200, {"ok": True})

        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = value if key not in headers else headers[key] + ", " + value
        entry = {"method": method, "path": path, "query": query, "headers": headers, "body": body}
        if body_text is not None:
            entry["body_text"] = body_text
        with RECORD_LOCK:
            RECORD.append(entry)

        gemini = re.fullmatch(r"/v1(?:beta)?/models/([^/:]+):(generateContent|streamGenerateContent)", path)
        if method == "POST" and path == "/v1/chat/completions":
            route, fn = "openai", self.openai_chat
        elif method == "POST" and path == "/v1/responses":
            route, fn = "openai", self.openai_responses
        elif method == "POST" and path == "/v1/messages":
            route, fn = "anthropic", self.anthropic_messages
        elif method == "POST" and gemini:
            route = "gemini"
            model, action = unquote(gemini.group(1)), gemini.group(2)
            stream = action == "streamGenerateContent"
            fn = lambda b, h, q: self.gemini_generate(b, h, q, model, stream)  # noqa: E731
        else:
            route = "gemini" if "/models/" in path else ("anthropic" if path == "/v1/messages" else "openai")
            return self.send_error_shape(route, HTTPError(404, "not_found", f"mock: no route for {method} {path}"))

        try:
            if body_text is not None or (raw and not isinstance(body, dict)):
                raise HTTPError(400, "invalid", "mock: request body is not a JSON object")
            fn(body or {}, headers, query)
        except HTTPError as err:
            self.send_error_shape(route, err)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def send_error_shape(self, route: str, err: HTTPError) -> None:
        if route == "openai":
            kinds = {
                "auth": ("invalid_request_error", "invalid_api_key"),
                "rate": ("requests", "rate_limit_exceeded"),
                "invalid": ("invalid_request_error", None),
                "not_found": ("invalid_request_error", "unknown_url"),
            }
            etype, code = kinds[err.kind]
            obj = {"error": {"message": err.message, "type": etype, "param": None, "code": code}}
        elif route == "anthropic":
            etype = {
                "auth": "authentication_error",
                "rate": "rate_limit_error",
                "invalid": "invalid_request_error",
                "not_found": "not_found_error",
            }[err.kind]
            obj = {"type": "error", "error": {"type": etype, "message": err.message}, "request_id": "req_mock"}
        else:
            status = {
                "auth": "UNAUTHENTICATED",
                "rate": "RESOURCE_EXHAUSTED",
                "invalid": "INVALID_ARGUMENT",
                "not_found": "NOT_FOUND",
            }[err.kind]
            obj = {"error": {"code": err.status, "message": err.message, "status": status}}
        self.send_json(err.status, obj, err.headers)

    # ======================================================================
    # OpenAI Chat Completions
    # ======================================================================

    def openai_auth(self, headers: dict) -> None:
        auth = headers.get("authorization", "")
        if auth != "Bearer " + KEY_OPENAI:
            raise HTTPError(401, "auth", "Incorrect API key provided. You can find your API key at "
                                         "https://platform.openai.com/account/api-keys.")

    @staticmethod
    def openai_text(content) -> str:
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "".join(p.get("text", "") for p in content
                           if isinstance(p, dict) and p.get("type") in ("text", "input_text"))
        return ""

    def openai_validate(self, body: dict) -> None:
        if not body.get("model"):
            raise HTTPError(400, "invalid", "you must provide a model parameter")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise HTTPError(400, "invalid", "'messages' must be a non-empty array")
        if body.get("stream_options") is not None and not body.get("stream"):
            raise HTTPError(400, "invalid", "The 'stream_options' parameter is only allowed when 'stream' is enabled.")
        pending: set[str] | None = None  # tool_call ids awaiting answers
        for i, msg in enumerate(messages):
            if not isinstance(msg, dict) or msg.get("role") not in ("system", "developer", "user", "assistant", "tool"):
                raise HTTPError(400, "invalid", f"Invalid value for 'messages[{i}].role'.")
            role = msg["role"]
            if role == "tool":
                tid = msg.get("tool_call_id")
                if pending is None or tid not in pending:
                    raise HTTPError(400, "invalid", f"Invalid parameter: messages with role 'tool' must be a response "
                                                    f"to a preceeding message with 'tool_calls' (messages[{i}]).")
                pending.discard(tid)
                continue
            if pending:
                raise HTTPError(400, "invalid", "An assistant message with 'tool_calls' must be followed by tool "
                                                "messages responding to each 'tool_call_id'. The following "
                                                f"tool_call_ids did not have response messages: {sorted(pending)}")
            pending = None
            if role == "assistant" and msg.get("tool_calls"):
                pending = {tc.get("id") for tc in msg["tool_calls"] if isinstance(tc, dict)}
        if pending:
            raise HTTPError(400, "invalid", "An assistant message with 'tool_calls' must be followed by tool "
                                            "messages responding to each 'tool_call_id'. The following "
                                            f"tool_call_ids did not have response messages: {sorted(pending)}")

    def openai_chat(self, body: dict, headers: dict, query: dict) -> None:
        self.openai_auth(headers)
        self.openai_validate(body)
        model = body["model"]
        check_script_errors(model)
        messages = body["messages"]

        trailing_tool = []
        for msg in reversed(messages):
            if msg.get("role") != "tool":
                break
            trailing_tool.insert(0, result_text(msg.get("content")))
        last_user = next((self.openai_text(m.get("content")) for m in reversed(messages)
                          if m.get("role") == "user"), "")

        tools = [t for t in (body.get("tools") or []) if isinstance(t, dict) and t.get("type", "function") == "function"]
        choice = body.get("tool_choice")
        calls: list[tuple[str, str, dict]] = []  # (id, name, args)
        text = None
        if tools and choice != "none" and not trailing_tool:
            name = tools[0].get("function", {}).get("name", "")
            if isinstance(choice, dict) and choice.get("type") == "function":
                name = choice.get("function", {}).get("name", name)
            n = 2 if has_word(last_user, "parallel") else 1
            calls = [(f"call_mock{i + 1}", name, TOOL_ARGS[i]) for i in range(n)]
        elif trailing_tool:
            text = weather_text(trailing_tool)
        elif (body.get("response_format") or {}).get("type") in ("json_object", "json_schema"):
            text = compact(JSON_ANSWER)
        else:
            text = "Answer from openai to: " + last_user[:40]
        reasoning = THINKING_TEXT if body.get("reasoning_effort") else None
        finish = "tool_calls" if calls else "stop"
        created = int(time.time())

        if not body.get("stream"):
            message = {"role": "assistant", "content": text, "refusal": None}
            if reasoning:
                message["reasoning_content"] = reasoning
            if calls:
                message["tool_calls"] = [
                    {"id": cid, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
                    for cid, name, args in calls
                ]
            return self.send_json(200, {
                "id": "chatcmpl-mock",
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
                "usage": USAGE_OPENAI,
                "system_fingerprint": "fp_mock",
            })

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict, finish_reason=None, choices=True) -> None:
            obj = {
                "id": "chatcmpl-mock",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_mock",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
                if choices else [],
            }
            if include_usage:
                obj["usage"] = None if choices else USAGE_OPENAI
            self.write_chunk("data: " + json.dumps(obj) + "\n\n")

        self.start_stream()
        chunk({"role": "assistant", "content": "", "refusal": None})
        if reasoning:
            for piece in split_pieces(reasoning):
                chunk({"reasoning_content": piece})
        for i, (cid, name, args) in enumerate(calls):
            chunk({"tool_calls": [{"index": i, "id": cid, "type": "function",
                                   "function": {"name": name, "arguments": ""}}]})
            for piece in split_pieces(json.dumps(args), 4):
                chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
        if text is not None:
            for piece in split_pieces(text):
                chunk({"content": piece})
        chunk({}, finish)
        if include_usage:
            chunk({}, choices=False)
        self.write_chunk("data: [DONE]\n\n")
        self.end_stream()

    # ======================================================================
    # OpenAI Responses API
    # ======================================================================

    def openai_responses(self, body: dict, headers: dict, query: dict) -> None:
        self.openai_auth(headers)
        model = body.get("model")
        if not model:
            raise HTTPError(400, "invalid", "Missing required parameter: 'model'.")
        check_script_errors(model)
        inp = body.get("input")
        if inp is None or inp == "" or inp == []:
            raise HTTPError(400, "invalid", "Missing required parameter: 'input'.")
        items = [{"type": "message", "role": "user", "content": inp}] if isinstance(inp, str) else list(inp)

        trailing_outputs = []
        for item in reversed(items):
            if not (isinstance(item, dict) and item.get("type") == "function_call_output"):
                break
            trailing_outputs.insert(0, result_text(item.get("output")))
        call_ids = {it.get("call_id") for it in items if isinstance(it, dict) and it.get("type") == "function_call"}
        for it in items:
            if isinstance(it, dict) and it.get("type") == "function_call_output" and it.get("call_id") not in call_ids:
                raise HTTPError(400, "invalid", f"No tool call found for function call output with call_id "
                                                f"{it.get('call_id')}.")
        last_user = ""
        for it in reversed(items):
            if isinstance(it, dict) and it.get("role") == "user" and it.get("type", "message") == "message":
                last_user = self.openai_text(it.get("content"))
                break

        tools = [t for t in (body.get("tools") or []) if isinstance(t, dict) and t.get("type") == "function"]
        choice = body.get("tool_choice")
        calls = []
        text = None
        if tools and choice != "none" and not trailing_outputs:
            name = tools[0].get("name", "")
            if isinstance(choice, dict) and choice.get("type") == "function" and choice.get("name"):
                name = choice["name"]
            n = 2 if has_word(last_user, "parallel") else 1
            calls = [(f"fc_mock{i + 1}", f"call_mock{i + 1}", name, json.dumps(TOOL_ARGS[i])) for i in range(n)]
        elif trailing_outputs:
            text = weather_text(trailing_outputs)
        elif ((body.get("text") or {}).get("format") or {}).get("type") in ("json_object", "json_schema"):
            text = compact(JSON_ANSWER)
        else:
            text = "Answer from openai to: " + last_user[:40]

        created = int(time.time())

        def message_item(status: str, content_text: str | None) -> dict:
            content = [] if content_text is None else [
                {"type": "output_text", "text": content_text, "annotations": [], "logprobs": []}]
            return {"type": "message", "id": "msg_mock", "status": status, "role": "assistant", "content": content}

        def call_item(call, status: str, arguments: str) -> dict:
            item_id, call_id, name, _ = call
            return {"type": "function_call", "id": item_id, "call_id": call_id, "name": name,
                    "arguments": arguments, "status": status}

        final_output = [call_item(c, "completed", c[3]) for c in calls]
        if text is not None:
            final_output.append(message_item("completed", text))

        def response_obj(status: str, output: list, usage) -> dict:
            return {
                "id": "resp_mock",
                "object": "response",
                "created_at": created,
                "status": status,
                "background": False,
                "error": None,
                "incomplete_details": None,
                "instructions": body.get("instructions"),
                "max_output_tokens": body.get("max_output_tokens"),
                "model": model,
                "output": output,
                "parallel_tool_calls": body.get("parallel_tool_calls", True),
                "previous_response_id": body.get("previous_response_id"),
                "reasoning": {"effort": (body.get("reasoning") or {}).get("effort"), "summary": None},
                "store": body.get("store", True),
                "temperature": body.get("temperature", 1.0),
                "text": body.get("text") or {"format": {"type": "text"}},
                "tool_choice": choice if choice is not None else "auto",
                "tools": body.get("tools") or [],
                "top_p": body.get("top_p", 1.0),
                "truncation": body.get("truncation", "disabled"),
                "usage": usage,
                "user": None,
                "metadata": body.get("metadata") or {},
            }

        if not body.get("stream"):
            return self.send_json(200, response_obj("completed", final_output, USAGE_RESPONSES))

        seq = [0]

        def event(name: str, payload: dict) -> None:
            obj = {"type": name, "sequence_number": seq[0], **payload}
            seq[0] += 1
            self.write_chunk(f"event: {name}\ndata: {json.dumps(obj)}\n\n")

        self.start_stream()
        event("response.created", {"response": response_obj("in_progress", [], None)})
        event("response.in_progress", {"response": response_obj("in_progress", [], None)})
        index = 0
        for call in calls:
            item_id = call[0]
            event("response.output_item.added", {"output_index": index, "item": call_item(call, "in_progress", "")})
            for piece in split_pieces(call[3], 4):
                event("response.function_call_arguments.delta",
                      {"item_id": item_id, "output_index": index, "delta": piece})
            event("response.function_call_arguments.done",
                  {"item_id": item_id, "output_index": index, "name": call[2], "arguments": call[3]})
            event("response.output_item.done", {"output_index": index, "item": call_item(call, "completed", call[3])})
            index += 1
        if text is not None:
            event("response.output_item.added", {"output_index": index, "item": message_item("in_progress", None)})
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            event("response.content_part.added",
                  {"item_id": "msg_mock", "output_index": index, "content_index": 0, "part": part})
            for piece in split_pieces(text):
                event("response.output_text.delta", {"item_id": "msg_mock", "output_index": index,
                                                     "content_index": 0, "delta": piece, "logprobs": []})
            event("response.output_text.done", {"item_id": "msg_mock", "output_index": index,
                                                "content_index": 0, "text": text, "logprobs": []})
            event("response.content_part.done", {"item_id": "msg_mock", "output_index": index, "content_index": 0,
                                                 "part": {**part, "text": text}})
            event("response.output_item.done", {"output_index": index, "item": message_item("completed", text)})
        event("response.completed", {"response": response_obj("completed", final_output, USAGE_RESPONSES)})
        self.end_stream()

    # ======================================================================
    # Anthropic Messages
    # ======================================================================

    def anthropic_validate(self, body: dict) -> None:
        if not body.get("model"):
            raise HTTPError(400, "invalid", "model: Field required")
        if body.get("max_tokens") is None:
            raise HTTPError(400, "invalid", "max_tokens: Field required")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise HTTPError(400, "invalid", "messages: Field required" if messages is None
                            else "messages: at least one message is required")
        previous_tool_uses: set[str] = set()
        for i, msg in enumerate(messages):
            if not isinstance(msg, dict) or msg.get("role") not in ("user", "assistant"):
                raise HTTPError(400, "invalid", f"messages.{i}.role: Input should be 'user' or 'assistant'")
            content = msg.get("content")
            is_final_assistant = i == len(messages) - 1 and msg["role"] == "assistant"
            if content is None or content == "" or content == []:
                if not (is_final_assistant and content == ""):
                    raise HTTPError(400, "invalid", f"messages.{i}: all messages must have non-empty content except "
                                                    "for the optional final assistant message")
            blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
            if not isinstance(blocks, list):
                raise HTTPError(400, "invalid", f"messages.{i}.content: Input should be a valid list")
            results: set[str] = set()
            uses: set[str] = set()
            for j, block in enumerate(blocks):
                if not isinstance(block, dict) or "type" not in block:
                    raise HTTPError(400, "invalid", f"messages.{i}.content.{j}: Input should be a valid dictionary")
                btype = block["type"]
                if btype == "text" and not block.get("text") and not is_final_assistant:
                    raise HTTPError(400, "invalid", "messages: text content blocks must be non-empty")
                if btype == "tool_result":
                    if msg["role"] != "user":
                        raise HTTPError(400, "invalid", f"messages.{i}.content.{j}: tool_result blocks are only "
                                                        "allowed in user messages")
                    tid = block.get("tool_use_id")
                    if tid not in previous_tool_uses:
                        raise HTTPError(400, "invalid", f"messages.{i}.content.{j}: unexpected `tool_use_id` found in "
                                                        "`tool_result` blocks: " + str(tid) + ". Each `tool_result` "
                                                        "block must have a corresponding `tool_use` block in the "
                                                        "previous message.")
                    results.add(tid)
                if btype == "tool_use":
                    if msg["role"] != "assistant":
                        raise HTTPError(400, "invalid", f"messages.{i}.content.{j}: tool_use blocks are only allowed "
                                                        "in assistant messages")
                    uses.add(block.get("id"))
            missing = previous_tool_uses - results
            if missing:
                raise HTTPError(400, "invalid", f"messages.{i - 1}: `tool_use` ids were found without `tool_result` "
                                                f"blocks immediately after: {', '.join(sorted(missing))}. Each "
                                                "`tool_use` block must have a corresponding `tool_result` block in "
                                                "the next message.")
            previous_tool_uses = uses
        choice = body.get("tool_choice")
        if isinstance(choice, dict) and choice.get("type") == "tool":
            names = [t.get("name") for t in (body.get("tools") or []) if isinstance(t, dict)]
            if choice.get("name") not in names:
                raise HTTPError(400, "invalid", f"tool_choice: tool '{choice.get('name')}' not found in tools")

    def anthropic_messages(self, body: dict, headers: dict, query: dict) -> None:
        # The official SDK (anthropic-python 2.x) sends the API key as
        # "Authorization: Bearer <key>"; the documented header is x-api-key.
        # Both are accepted; /_requests shows which one a client used.
        if headers.get("x-api-key") != KEY_ANTHROPIC and headers.get("authorization") != "Bearer " + KEY_ANTHROPIC:
            raise HTTPError(401, "auth", "invalid x-api-key")
        if not headers.get("anthropic-version"):
            raise HTTPError(401, "auth", "anthropic-version: header is required")
        self.anthropic_validate(body)
        model = body["model"]
        check_script_errors(model)
        messages = body["messages"]

        last_user_msg = next((m for m in reversed(messages) if m["role"] == "user"), None)
        last_blocks = []
        if last_user_msg is not None:
            c = last_user_msg["content"]
            last_blocks = [{"type": "text", "text": c}] if isinstance(c, str) else c
        last_user = "".join(b.get("text", "") for b in last_blocks if b.get("type") == "text")
        tool_results = [result_text(b.get("content")) for b in last_blocks if b.get("type") == "tool_result"]
        last_is_tool_result = bool(tool_results) and messages[-1] is last_user_msg

        tools = [t for t in (body.get("tools") or []) if isinstance(t, dict) and t.get("name")]
        choice = body.get("tool_choice") or {}
        blocks: list[dict] = []
        if (body.get("thinking") or {}).get("type") == "enabled":
            blocks.append({"type": "thinking", "thinking": THINKING_TEXT, "signature": ANTHROPIC_SIGNATURE})
        if choice.get("type") == "tool":
            blocks.append({"type": "tool_use", "id": "toolu_mock1", "name": choice["name"], "input": JSON_ANSWER})
        elif tools and choice.get("type") != "none" and not last_is_tool_result:
            n = 2 if has_word(last_user, "parallel") else 1
            for i in range(n):
                blocks.append({"type": "tool_use", "id": f"toolu_mock{i + 1}", "name": tools[0]["name"],
                               "input": TOOL_ARGS[i]})
        elif last_is_tool_result:
            blocks.append({"type": "text", "text": weather_text(tool_results)})
        else:
            blocks.append({"type": "text", "text": "Answer from anthropic to: " + last_user[:40]})
        stop_reason = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"

        message = {
            "id": "msg_mock",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": blocks,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": USAGE_ANTHROPIC,
        }
        resp_headers = {"request-id": "req_mock"}
        if not body.get("stream"):
            return self.send_json(200, message, resp_headers)

        def event(name: str, payload: dict) -> None:
            self.write_chunk(f"event: {name}\ndata: {json.dumps({'type': name, **payload})}\n\n")

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("request-id", "req_mock")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        event("message_start", {"message": {**message, "content": [], "stop_reason": None,
                                            "usage": USAGE_ANTHROPIC_START}})
        event("ping", {})
        for index, block in enumerate(blocks):
            if block["type"] == "thinking":
                event("content_block_start", {"index": index, "content_block":
                                              {"type": "thinking", "thinking": "", "signature": ""}})
                for piece in split_pieces(block["thinking"]):
                    event("content_block_delta", {"index": index, "delta":
                                                  {"type": "thinking_delta", "thinking": piece}})
                event("content_block_delta", {"index": index, "delta":
                                              {"type": "signature_delta", "signature": block["signature"]}})
            elif block["type"] == "text":
                event("content_block_start", {"index": index, "content_block": {"type": "text", "text": ""}})
                for piece in split_pieces(block["text"]):
                    event("content_block_delta", {"index": index, "delta": {"type": "text_delta", "text": piece}})
            else:
                event("content_block_start", {"index": index, "content_block":
                                              {"type": "tool_use", "id": block["id"], "name": block["name"],
                                               "input": {}}})
                for piece in split_pieces(json.dumps(block["input"]), 4):
                    event("content_block_delta", {"index": index, "delta":
                                                  {"type": "input_json_delta", "partial_json": piece}})
            event("content_block_stop", {"index": index})
        event("message_delta", {"delta": {"stop_reason": stop_reason, "stop_sequence": None},
                                "usage": {"output_tokens": USAGE_ANTHROPIC["output_tokens"]}})
        event("message_stop", {})
        self.end_stream()

    # ======================================================================
    # Gemini generateContent / streamGenerateContent
    # ======================================================================

    @staticmethod
    def g(obj: dict, camel: str, default=None):
        """Read a Gemini field by its camelCase name, falling back to snake_case."""
        if not isinstance(obj, dict):
            return default
        if camel in obj:
            return obj[camel]
        snake = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), camel)
        return obj.get(snake, default)

    def gemini_validate(self, body: dict) -> list[dict]:
        g = self.g
        contents = g(body, "contents")
        if not isinstance(contents, list) or not contents:
            raise HTTPError(400, "invalid", "* GenerateContentRequest.contents: contents is not specified")
        for i, content in enumerate(contents):
            if not isinstance(content, dict):
                raise HTTPError(400, "invalid", f"Invalid value at 'contents[{i}]'")
            role = content.get("role")
            if role not in (None, "", "user", "model", "function"):
                raise HTTPError(400, "invalid", f"Please use a valid role: user, model. (contents[{i}].role={role})")
            parts = content.get("parts")
            if not isinstance(parts, list) or not parts:
                raise HTTPError(400, "invalid", f"* GenerateContentRequest.contents[{i}].parts: contents.parts must "
                                                "not be empty.")
        declarations = []
        for t, tool in enumerate(g(body, "tools") or []):
            for d, decl in enumerate(g(tool, "functionDeclarations") or []):
                if not isinstance(decl, dict) or not decl.get("name"):
                    raise HTTPError(400, "invalid", f"* GenerateContentRequest.tools[{t}].function_declarations[{d}]"
                                                    ".name: Name cannot be empty.")
                if g(decl, "parameters") is not None and g(decl, "parametersJsonSchema") is not None:
                    raise HTTPError(400, "invalid", f"* GenerateContentRequest.tools[{t}].function_declarations[{d}]"
                                                    ": parameters and parameters_json_schema cannot both be set.")
                declarations.append(decl)
        return declarations

    def gemini_generate(self, body: dict, headers: dict, query: dict, model: str, stream: bool) -> None:
        g = self.g
        key = headers.get("x-goog-api-key") or query.get("key")
        if key != KEY_GEMINI:
            raise HTTPError(401, "auth", "API key not valid. Please pass a valid API key.")
        declarations = self.gemini_validate(body)
        check_script_errors(model)
        contents = g(body, "contents")
        sse = stream and query.get("alt") == "sse"

        last_parts = contents[-1].get("parts") or []
        responses = []
        for part in last_parts:
            fr = g(part, "functionResponse")
            if isinstance(fr, dict):
                resp = fr.get("response")
                if isinstance(resp, dict) and len(resp) == 1 and isinstance(next(iter(resp.values())), str):
                    responses.append(next(iter(resp.values())))
                else:
                    responses.append(result_text(resp))
        last_user = ""
        for content in reversed(contents):
            if content.get("role") in (None, "", "user"):
                texts = [p.get("text") for p in content.get("parts") or []
                         if isinstance(p, dict) and isinstance(p.get("text"), str)]
                if texts:
                    last_user = "".join(texts)
                    break

        gen = g(body, "generationConfig") or {}
        fcc = g(g(body, "toolConfig") or {}, "functionCallingConfig") or {}
        mode = (fcc.get("mode") or "AUTO").upper()
        allowed = g(fcc, "allowedFunctionNames") or []
        thinking = bool(g(g(gen, "thinkingConfig") or {}, "includeThoughts"))

        parts: list[dict] = []
        if thinking:
            parts.append({"text": THINKING_TEXT, "thought": True})
        answer_parts: list[dict] = []
        if declarations and mode != "NONE" and not responses:
            name = allowed[0] if (mode == "ANY" and allowed) else declarations[0]["name"]
            n = 2 if has_word(last_user, "parallel") else 1
            for i in range(n):
                call_part = {"functionCall": {"name": name, "args": TOOL_ARGS[i]}}
                if i == 0:
                    call_part["thoughtSignature"] = GEMINI_SIGNATURE
                answer_parts.append(call_part)
        elif responses:
            answer_parts.append({"text": weather_text(responses)})
        elif g(gen, "responseMimeType") == "application/json":
            answer_parts.append({"text": compact(JSON_ANSWER)})
        else:
            answer_parts.append({"text": "Answer from gemini to: " + last_user[:40]})

        def response(chunk_parts: list[dict], finish: bool, usage: dict) -> dict:
            candidate = {"content": {"role": "model", "parts": chunk_parts}}
            if finish:
                candidate["finishReason"] = "STOP"
            candidate["index"] = 0
            return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": model,
                    "responseId": "resp-mock"}

        if not stream:
            return self.send_json(200, response(parts + answer_parts, True, USAGE_GEMINI))

        # Build the stream chunks: thought pieces, then text pieces or the whole call(s).
        chunks: list[list[dict]] = []
        for part in parts:
            chunks.extend([[{"text": p, "thought": True}] for p in split_pieces(part["text"])])
        if "functionCall" in answer_parts[0]:
            chunks.append(answer_parts)
        else:
            chunks.extend([[{"text": p}] for p in split_pieces(answer_parts[0]["text"])])
        objs = [response(c, i == len(chunks) - 1, USAGE_GEMINI if i == len(chunks) - 1 else USAGE_GEMINI_PARTIAL)
                for i, c in enumerate(chunks)]

        if not sse:  # streamGenerateContent without alt=sse: one JSON array
            return self.send_json(200, objs)
        self.start_stream()
        for obj in objs:
            self.write_chunk("data: " + json.dumps(obj) + "\r\n\r\n")
        self.end_stream()


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except SystemExit:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
