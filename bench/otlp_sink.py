"""An OTLP/HTTP trace sink for the benchmark: answers every export with 200 at once and keeps
the bodies' sizes; GET /stats decodes what it kept (with the opentelemetry-proto package when
it is installed) and reports posts, bytes and spans. Port: the first argument."""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
bodies = []
total_bytes = 0


def count_spans():
    try:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    except ImportError:
        return None
    spans = 0
    for body in bodies:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        spans += sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)
    return spans


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        global total_bytes
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        with lock:
            total_bytes += len(body)
            bodies.append(body)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def do_GET(self):
        with lock:
            answer = json.dumps({"posts": len(bodies), "bytes": total_bytes, "spans": count_spans()}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
