"""A small OTLP/HTTP trace receiver for the end-to-end tests.

Takes POST /v1/traces in protobuf (decoded with the opentelemetry-proto package) or JSON,
keeps every span, and serves them back at GET /spans as JSON: ids in hex, attributes as a
plain mapping, plus the raw export bodies (base64) so a test can search all the bytes the
gateway sent. Listens on 127.0.0.1, port chosen by the system, written to the file given as
the first argument once it listens.
"""
import base64
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

lock = threading.Lock()
spans = []
posts = []


def any_value(value):
    kind = value.WhichOneof("value")
    if kind in ("string_value", "int_value", "double_value", "bool_value"):
        return getattr(value, kind)
    return str(value)


def json_value(value):
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in value:
            return value[key]
    if "intValue" in value:
        return int(value["intValue"])
    return str(value)


def from_protobuf(body):
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    found = []
    for resource_spans in request.resource_spans:
        resource = {a.key: any_value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                found.append({
                    "trace_id": span.trace_id.hex(),
                    "span_id": span.span_id.hex(),
                    "parent_span_id": span.parent_span_id.hex(),
                    "name": span.name,
                    "kind": int(span.kind),
                    "start": span.start_time_unix_nano,
                    "end": span.end_time_unix_nano,
                    "attributes": {a.key: any_value(a.value) for a in span.attributes},
                    "status": {"code": int(span.status.code), "message": span.status.message},
                    "resource": resource,
                })
    return found


def from_json(body):
    # OTLP/JSON writes ids as hex strings and enums as numbers.
    document = json.loads(body)
    found = []
    for resource_spans in document.get("resourceSpans", []):
        resource = {a["key"]: json_value(a["value"]) for a in resource_spans.get("resource", {}).get("attributes", [])}
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                found.append({
                    "trace_id": span.get("traceId", "").lower(),
                    "span_id": span.get("spanId", "").lower(),
                    "parent_span_id": span.get("parentSpanId", "").lower(),
                    "name": span.get("name", ""),
                    "kind": int(span.get("kind", 0)),
                    "start": int(span.get("startTimeUnixNano", 0)),
                    "end": int(span.get("endTimeUnixNano", 0)),
                    "attributes": {a["key"]: json_value(a["value"]) for a in span.get("attributes", [])},
                    "status": {"code": int(span.get("status", {}).get("code", 0)), "message": span.get("status", {}).get("message", "")},
                    "resource": resource,
                })
    return found


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        content_type = self.headers.get("content-type", "")
        try:
            found = from_json(body) if "json" in content_type else from_protobuf(body)
        except Exception as error:  # a malformed export is a test failure, reported back
            self.send_response(400)
            self.end_headers()
            self.wfile.write(str(error).encode())
            return
        with lock:
            spans.extend(found)
            posts.append({"path": self.path, "content_type": content_type, "body": base64.b64encode(body).decode()})
        if "json" in content_type:
            answer, answer_type = b"{}", "application/json"
        else:
            answer, answer_type = ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf"
        self.send_response(200)
        self.send_header("content-type", answer_type)
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_GET(self):
        with lock:
            answer = json.dumps({"spans": spans, "posts": posts}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1] + ".tmp", "w") as out:
    out.write(str(server.server_address[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
server.serve_forever()
