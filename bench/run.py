#!/usr/bin/env python3
"""LLMProxy benchmark: the gateway against nginx as a plain reverse proxy, in one run, on
this machine, over loopback. See docs/PERFORMANCE.md. Timings live here, never in tests."""
import argparse, json, os, platform, re, shutil, signal, socket, subprocess, sys, tempfile, threading, time
import ssl, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLIENT_KEY = "bench-client-key-0123456789"
UPSTREAM_KEY = "bench-upstream-key-0123456789"
TUNNEL_KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
TLS_MODEL = "tls-model"  # routed to the HTTPS mock upstream
FAILOVER_MODEL = "failover-model"  # on two upstreams, one of them failing every request
CACHED_MODEL = "cached-model"  # on the mock, with the response cache on for its route

# A realistic ~1 KB non-streaming chat completion with usage, as OpenAI sends it.
COMPLETION = json.dumps({
    "id": "chatcmpl-bench0123456789abcdefghijklmnop", "object": "chat.completion", "created": 1730000000,
    "model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_0123456789",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": (
        "Hello, benchmark! This answer stands in for a typical short completion from a chat model. "
        "It is long enough to look like real output, with a couple of sentences that a client would "
        "render in a chat window, and it carries the usage block that gateways read for accounting. "
        "Nothing in it is special: the point is a body of realistic size and shape, so that the proxy "
        "under test has to move real bytes, not an empty reply."), "refusal": None},
        "logprobs": None, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 28, "completion_tokens": 96, "total_tokens": 124,
              "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}},
}, separators=(",", ":"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"bench: nothing listens on port {port} after {timeout}s")


def with_workers(pid, children):
    """The process, and with children its child processes (nginx's workers)."""
    pids = [pid]
    if children:
        out = subprocess.run(["ps", "--ppid", str(pid), "-o", "pid="], capture_output=True, text=True).stdout
        pids += [int(p) for p in out.split()]
    return pids


def rss_kib(pid, children=False):
    """Resident memory of a process (and, for nginx, its workers) in KiB."""
    total = 0
    for p in with_workers(pid, children):
        try:
            with open(f"/proc/{p}/status") as f:
                total += int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
        except (OSError, AttributeError):
            pass
    return total


def cpu_seconds(pid, children=False):
    """User + system CPU a process (and, for nginx, its workers) has used, in seconds."""
    ticks = 0
    for p in with_workers(pid, children):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


class Sampler:
    """Samples a process's RSS in the background; keeps the maximum."""
    def __init__(self, pid, children=False):
        self.pid, self.children, self.peak, self.samples, self.running = pid, children, 0, [], True
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while self.running:
            value = rss_kib(self.pid, self.children)
            self.samples.append(value)
            self.peak = max(self.peak, value)
            time.sleep(0.2)

    def stop(self):
        self.running = False
        self.thread.join()
        return self.peak


class Processes:
    def __init__(self):
        self.items = []

    def start(self, args, log, **kwargs):
        handle = open(log, "w")
        proc = subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT, **kwargs)
        self.items.append(proc)
        return proc

    def stop(self, proc):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.items.remove(proc)

    def stop_all(self):
        for proc in list(self.items):
            self.stop(proc)


def nginx_conf(workdir, name, body):
    path = os.path.join(workdir, f"{name}.conf")
    with open(path, "w") as f:
        f.write(f"""
worker_processes {"1" if name == "mock" else "auto"};
worker_rlimit_nofile 65536;
pid {workdir}/{name}.pid;
error_log {workdir}/{name}.error.log warn;
events {{ worker_connections 16384; }}
http {{
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    client_body_temp_path {workdir}/{name}-body;
    proxy_temp_path {workdir}/{name}-proxy;
    {body}
}}
""")
    return path


def self_signed_cert(workdir):
    """A throwaway P-256 certificate for 127.0.0.1, made for this run; the gateway trusts it
    through upstream.ca_file and verifies it like any other."""
    cert, key = os.path.join(workdir, "tls.crt"), os.path.join(workdir, "tls.key")
    done = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                           "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                           "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"bench: openssl could not make the TLS mock's certificate:\n{done.stderr}")
    return cert, key


def mock_answer():
    """nginx's location block answering every request with the completion above."""
    escaped = COMPLETION.replace("\\", "\\\\").replace("'", "\\'")
    return f"location / {{ default_type application/json; return 200 '{escaped}'; }}"


def start_chat_mock(workdir, procs):
    """An nginx answering the completion on a free port of its own; returns the port."""
    port = free_port()
    conf = nginx_conf(workdir, "mock", f"server {{ listen 127.0.0.1:{port} backlog=4096; {mock_answer()} }}")
    procs.start(["nginx", "-c", conf, "-p", workdir, "-g", "daemon off;"], os.path.join(workdir, "mock.log"))
    wait_port(port)
    return port


def gateway_yaml(workdir, name, port, mock_port, stream_port, features, tls_port=None, ca_file=None, omit=(), data_dir=None, tunnel_port=None, failing_port=None,
                 cached=False, store=None):
    """The gateway's configuration. omit: keys to leave out, as the gateway names them in its
    errors ("upstream.ca_file", "providers.discover_models" for every provider), for a baseline
    binary too old to know them. data_dir: where its SQLite file goes (default: workdir).
    store: whether the database (analytics) is on; default: with the features."""
    path = os.path.join(workdir, f"{name}.yaml")
    sections = {
        "server": {"host": "127.0.0.1", "port": port, "drain_timeout": 5},
        "upstream": {"max_connections_per_host": 2048, **({"ca_file": f'"{ca_file}"'} if ca_file else {})},
        "discovery": {"local_engines": "false"},
        "logging": {"requests": "true" if features else "false", "level": "warning"},
        "database": {"enabled": "true" if (features if store is None else store) else "false", "path": f'"{data_dir or workdir}/{name}.sqlite"'},
        **({"auth": {"keys": f"[{CLIENT_KEY}]"}} if features else {}),
    }
    if features:
        # Every guard on, as a careful deployment runs them (issue 10): address lists, the
        # automatic block list (on by default), per-address, per-key and per key × model rates
        # and tokens, an owner's budget (the managed key run_benchmark creates belongs to it),
        # load shedding. The limits are far above what the benchmark sends: every guard does
        # its work on every request and none refuses one.
        sections.update({
            "security": {"allow_ips": "[127.0.0.0/8]", "deny_ips": "[192.0.2.0/24, \"2001:db8::/32\"]"},
            "limits": {"ip": "{requests_per_minute: 100000000, concurrency: 100000}",
                       "key": "{requests_per_minute: 100000000, tokens_per_minute: 100000000000, concurrency: 100000}",
                       "key_model": "{tokens_per_minute: 100000000000}"},
            "budgets": {"owners": "{bench: {tokens: 1000000000000000, cost_usd: 1000000000, period: month}}"},
            "shedding": {"max_in_flight": 100000},
        })
    if features and tunnel_port:
        # The encrypted tunnel beside the HTTP listener, in the same process (issue 13).
        sections["tunnel"] = {"enabled": "true", "host": "127.0.0.1", "port": tunnel_port, "key": f'"{TUNNEL_KEY}"'}
    providers = [
        {"name": "mock-upstream", "type": "openai", "base_url": f'"http://127.0.0.1:{mock_port}/v1"', "api_key": UPSTREAM_KEY, "models": "[gpt-4o-mini]", "discover_models": "false"},
        {"name": "stream-upstream", "type": "openai", "base_url": f'"http://127.0.0.1:{stream_port}/v1"', "api_key": UPSTREAM_KEY, "models": "[stream-model]", "discover_models": "false"},
    ]
    if failing_port:
        # One model on two upstreams, one of which answers every request with a 502 (issue 14):
        # the breaker takes it out, a probe tries it now and then, every client gets a 200.
        providers += [
            {"name": "failover-ok", "type": "openai", "base_url": f'"http://127.0.0.1:{mock_port}/v1"', "api_key": UPSTREAM_KEY, "models": f"[{FAILOVER_MODEL}]", "discover_models": "false"},
            {"name": "failover-bad", "type": "openai", "base_url": f'"http://127.0.0.1:{failing_port}/v1"', "api_key": UPSTREAM_KEY, "models": f"[{FAILOVER_MODEL}]", "discover_models": "false"},
        ]
    if cached:
        # The same mock behind a route whose answers the exact response cache keeps (issue 14):
        # wrk sends one request over and over, so all but the first are answered by the cache.
        providers.append({"name": "cached-upstream", "type": "openai", "base_url": f'"http://127.0.0.1:{mock_port}/v1"', "api_key": UPSTREAM_KEY,
                          "models": f"[{CACHED_MODEL}]", "discover_models": "false", "cache": "{enabled: true}"})
    if tls_port:
        providers.append({"name": "tls-upstream", "type": "openai", "base_url": f'"https://127.0.0.1:{tls_port}/v1"', "api_key": UPSTREAM_KEY,
                          "models": f"[{TLS_MODEL}]", "discover_models": "false"})

    def flow(section, values):
        return "{" + ", ".join(f"{key}: {value}" for key, value in values.items() if f"{section}.{key}" not in omit) + "}"
    with open(path, "w") as f:
        f.write("".join(f"{section}: {flow(section, values)}\n" for section, values in sections.items() if section not in omit))
        f.write("providers:\n" + "".join(f"  - {flow('providers', provider)}\n" for provider in providers))
    return path


def baseline_yaml(binary, *args, **kwargs):
    """The features-on configuration for the baseline (old) binary: the same file as the new
    binary's, less any key the old binary rejects as unknown (`llm-proxy config check`), which
    the report names. Any other problem stops the run."""
    omit = []
    while True:
        path = gateway_yaml(*args, omit=omit, **kwargs)
        done = subprocess.run([binary, "config", "check", "-c", path], capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if done.returncode == 0:
            return path, omit
        unknown = [re.sub(r"\[\d+\]", "", key) for key in re.findall(r"config: (\S+) is not a known key", done.stdout + done.stderr)]
        unknown = [key for key in dict.fromkeys(unknown) if key not in omit]
        if not unknown:
            raise SystemExit(f"bench: the baseline binary {binary} refuses the benchmark's configuration:\n{done.stdout}{done.stderr}")
        omit += unknown


def check_answer(url, key, model="gpt-4o-mini", ca_file=None):
    """The benchmark refuses to measure anything that does not answer a real completion."""
    request = urllib.request.Request(url, data=json.dumps({"model": model, "messages": [{"role": "user", "content": "x"}]}).encode(),
                                     headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})})
    context = ssl.create_default_context(cafile=ca_file) if ca_file else None
    with urllib.request.urlopen(request, timeout=10, context=context) as response:
        body = response.read().decode()
        if response.status != 200 or '"chat.completion"' not in body:
            raise SystemExit(f"bench: {url} answered {response.status} without a completion: {body[:200]}")


def check_translated(url, key):
    """The translated scenario measures only real Anthropic-shaped answers."""
    body = {"model": "gpt-4o-mini", "max_tokens": 64, "messages": [{"role": "user", "content": "x"}]}
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})})
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
        if response.status != 200 or '"type":"message"' not in text:
            raise SystemExit(f"bench: {url} answered {response.status} without a translated message: {text[:200]}")


def wrk(url, connections, duration, key="", model="", dialect=""):
    threads = 1 if connections == 1 else 2
    env = dict(os.environ, BENCH_CLIENT_KEY=key, BENCH_MODEL=model, BENCH_DIALECT=dialect)
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "-s", os.path.join(HERE, "chat.lua"), url],
                         capture_output=True, text=True, env=env).stdout
    match = re.search(r"RESULT (\{.*\})", out)
    if not match:
        raise SystemExit(f"bench: wrk printed no result for {url}:\n{out}")
    result = json.loads(match.group(1))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    if result["bad"] or result["socket_errors"]:
        raise SystemExit(f"bench: {url} answered {result['bad']} requests without a 200 completion and had {result['socket_errors']} socket errors: the numbers would lie")
    return result


def streams(url, count, key=""):
    out = subprocess.run([sys.executable, os.path.join(HERE, "streams.py"), url, str(count), key], capture_output=True, text=True).stdout
    match = re.search(r"RESULT (\{.*\})", out)
    if not match:
        raise SystemExit(f"bench: the stream client printed no result for {url}:\n{out}")
    result = json.loads(match.group(1))
    if result["failed"]:
        raise SystemExit(f"bench: {result['failed']} of {count} streams through {url} failed: {result['first_failures']}")
    return result


def proxied_and_dropped(port):
    """From the gateway's /metrics: proxied requests answered (every dialect) and events dropped,
    read once nothing but this scrape is in flight: when wrk stops, the gateway accounts for
    the requests its closed connections cut off a moment later."""
    deadline = time.time() + 10
    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
        in_flight = sum(int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines() if line.startswith("llmproxy_requests_in_flight"))
        if in_flight <= 1 or time.time() > deadline:
            break
        time.sleep(0.05)
    served = dropped = 0
    for line in text.splitlines():
        if line.startswith("llmproxy_requests_total{") and 'dialect="none"' not in line:
            served += int(float(line.rsplit(" ", 1)[1]))
        elif line.startswith("llmproxy_events_dropped_total"):
            dropped += int(float(line.rsplit(" ", 1)[1]))
    return served, dropped


def otlp_stats(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=60) as response:
        return json.loads(response.read().decode())


def cache_hits(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines() if line.startswith('llmproxy_cache_requests_total{result="hit"}'))


def count_events(path):
    import sqlite3
    with sqlite3.connect(path) as db:
        return db.execute("SELECT COUNT(*) FROM request_events").fetchone()[0]


def file_digest(path):
    import hashlib
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]


def before_after(scenarios, gateways, rounds, duration):
    """Old and new gateway side by side in one run. For each scenario: a 1-second warm-up of
    the reference and both gateways, then `rounds` rounds of `duration` seconds; each round
    measures the reference first, then the two gateways, old first in odd rounds and new first
    in even ones (old, new, new, old, ...), so drift and noise on the machine hit both alike.
    Kept: every round, their mean, and each gateway's peak RSS under 64 connections."""
    out = {}
    for label, connections, reference, model in scenarios:
        sides = {"reference": (reference, "", "", None), **{side: (url, key, model, pid) for side, (url, pid, key) in gateways.items()}}
        for url, client_key, m, _ in sides.values():
            wrk(url, connections, 1, client_key, m)  # warm-up
        runs = {side: [] for side in sides}
        peaks = {}
        for i in range(rounds):
            for side in ["reference"] + (["old", "new"] if i % 2 == 0 else ["new", "old"]):
                url, client_key, m, pid = sides[side]
                sampler = Sampler(pid) if pid and connections == 64 else None
                runs[side].append(wrk(url, connections, duration, client_key, m))
                if sampler:
                    peaks[side] = max(peaks.get(side, 0), sampler.stop())
        out[label] = {"connections": connections, "tls": reference.startswith("https:")}
        for side, results in runs.items():
            mean = {k: sum(r[k] for r in results) / len(results) for k in ("rps", "p50_us", "p99_us", "p999_us")}
            out[label][side] = {**mean, "rounds": results, **({"rss_peak_kib": peaks[side]} if side in peaks else {})}
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build/release/llm-proxy"))
    parser.add_argument("--duration", type=float, default=15, help="seconds per throughput run")
    parser.add_argument("--soak", type=float, default=300, help="seconds of the soak run")
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--smoke", action="store_true", help="tiny run that checks the benchmark works (used by the test suite)")
    parser.add_argument("--out", default=None)
    parser.add_argument("--baseline", metavar="PATH", default=None,
                        help="an older llm-proxy binary: also measure it side by side with --binary (features on, 1 and 64 connections, plain and TLS upstream)")
    parser.add_argument("--rounds", type=int, default=2, help="with --baseline: measured rounds per scenario and side (default 2)")
    args = parser.parse_args()
    if args.smoke:
        args.duration, args.soak, args.streams = 1, 2, 20
    duration = max(1, int(args.duration))
    if args.baseline and not (os.path.isfile(args.baseline) and os.access(args.baseline, os.X_OK)):
        raise SystemExit(f"bench: --baseline {args.baseline} is not an executable file")
    if args.rounds < 1:
        raise SystemExit("bench: --rounds must be at least 1")
    # The TLS-upstream scenario needs openssl for its throwaway certificate; only a smoke run
    # may go without it.
    tls = shutil.which("openssl") is not None
    if not tls and not args.smoke:
        raise SystemExit("bench: the TLS-upstream scenario needs the openssl command (Debian: apt-get install openssl)")

    workdir = tempfile.mkdtemp(prefix="llmproxy-bench-")
    os.makedirs(os.path.join(workdir, "logs"))
    procs = Processes()
    results = {"machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
               "date": time.strftime("%Y-%m-%d %H:%M:%S"), "duration_s": duration, "soak_s": args.soak, "streams": args.streams}
    try:
        mock_port, nginx_port, nginx_stream_port, stream_port, gw_port, tls_port, base_port = (free_port() for _ in range(7))
        nginx_tls_port, gw_tls_http_port, gw_tls_port = (free_port() for _ in range(3))
        tunnel_port, tunnel_client_port = free_port(), free_port()
        failing_port = free_port()
        # The non-streaming mock upstream: nginx answering the completion above, over plain
        # HTTP and (same worker) over HTTPS with a throwaway self-signed certificate.
        answer = mock_answer()
        ca_file = None
        mock_servers = f"server {{ listen 127.0.0.1:{mock_port} backlog=4096; {answer} }}"
        failing = "location / { default_type application/json; return 502 '{\"error\":{\"message\":\"bench: a failing upstream\"}}'; }"
        mock_servers += f"\n    server {{ listen 127.0.0.1:{failing_port} backlog=4096; {failing} }}"
        if tls:
            ca_file, tls_key = self_signed_cert(workdir)
            mock_servers += (f"\n    server {{ listen 127.0.0.1:{tls_port} ssl backlog=4096; ssl_certificate {ca_file}; ssl_certificate_key {tls_key}; "
                             f"ssl_protocols TLSv1.2 TLSv1.3; {answer} }}")
        mock_conf = nginx_conf(workdir, "mock", mock_servers)
        mock = procs.start(["nginx", "-c", mock_conf, "-p", workdir, "-g", "daemon off;"], os.path.join(workdir, "mock.log"))
        # The streaming mock upstream: the gateway's own mock provider (N SSE chunks, with a pause).
        chunks, delay = (5, 20) if args.smoke else (40, 100)
        stream_yaml = os.path.join(workdir, "stream-mock.yaml")
        with open(stream_yaml, "w") as f:
            f.write(f"server: {{host: 127.0.0.1, port: {stream_port}}}\ndiscovery: {{local_engines: false}}\nlogging: {{requests: false, level: warning}}\ndatabase: {{enabled: false}}\n"
                    f"providers:\n  - {{name: sse, type: mock, mock: {{chunks: {chunks}, chunk_delay_ms: {delay}}}}}\n")
        streamer = procs.start([args.binary, "start", "-c", stream_yaml], os.path.join(workdir, "stream-mock.log"))
        # nginx as the reference reverse proxy, with upstream keep-alive.
        proxy_conf = nginx_conf(workdir, "proxy", f"""
    upstream mock {{ server 127.0.0.1:{mock_port}; keepalive 256; }}
    upstream streamer {{ server 127.0.0.1:{stream_port}; keepalive 256; }}
    server {{ listen 127.0.0.1:{nginx_port} backlog=4096;
        location / {{ proxy_pass http://mock; proxy_http_version 1.1; proxy_set_header Connection ""; }} }}
    server {{ listen 127.0.0.1:{nginx_stream_port} backlog=4096;
        location / {{ proxy_pass http://streamer; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }} }}"""
            + (f"""
    server {{ listen 127.0.0.1:{nginx_tls_port} ssl backlog=4096; ssl_certificate {ca_file}; ssl_certificate_key {tls_key};
        ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache shared:bench:1m;
        location / {{ proxy_pass http://mock; proxy_http_version 1.1; proxy_set_header Connection ""; }} }}""" if tls else ""))
        nginx = procs.start(["nginx", "-c", proxy_conf, "-p", workdir, "-g", "daemon off;"], os.path.join(workdir, "proxy.log"))
        for port in (mock_port, stream_port, nginx_port, nginx_stream_port) + ((tls_port, nginx_tls_port) if tls else ()):
            wait_port(port)

        def start_gateway(features):
            config = gateway_yaml(workdir, "gateway-on" if features else "gateway-off", gw_port, mock_port, stream_port, features,
                                  tls_port if tls else None, ca_file, tunnel_port=tunnel_port, failing_port=failing_port if features else None,
                                  cached=features)
            proc = procs.start([args.binary, "start", "-c", config], os.path.join(workdir, "gateway.log"), stdin=subprocess.DEVNULL)
            wait_port(gw_port)
            return proc

        direct = f"http://127.0.0.1:{mock_port}/v1/chat/completions"
        via_nginx = f"http://127.0.0.1:{nginx_port}/v1/chat/completions"
        via_gateway = f"http://127.0.0.1:{gw_port}/v1/chat/completions"

        # The features-on gateway is called with a managed key that has its own rates and a
        # budget (so the key, limit and budget guards all work per request); the baseline binary
        # keeps the configured key.
        on_yaml = gateway_yaml(workdir, "gateway-on", gw_port, mock_port, stream_port, True, tls_port if tls else None, ca_file, tunnel_port=tunnel_port,
                               failing_port=failing_port, cached=True)
        created = subprocess.run([args.binary, "keys", "create", "-c", on_yaml, "--user", "bench", "--rpm", "100000000", "--tpm", "100000000000",
                                  "--token-budget", "1000000000000000", "--cost-budget", "1000000000", "--budget-period", "month"],
                                 capture_output=True, text=True, stdin=subprocess.DEVNULL)
        gateway_key = next((line for line in created.stdout.splitlines() if line.startswith("sk-")), None)
        if created.returncode != 0 or not gateway_key:
            raise SystemExit(f"bench: cannot create the benchmark's managed key:\n{created.stdout}{created.stderr}")
        gateway = start_gateway(features=True)
        time.sleep(1)
        results["rss_idle_kib"] = {"gateway": rss_kib(gateway.pid), "nginx": rss_kib(nginx.pid, children=True)}
        check_answer(direct, "")
        check_answer(via_nginx, "")
        check_answer(via_gateway, gateway_key)
        key = {"direct": "", "nginx": "", "gateway": gateway_key}
        urls = {"direct": direct, "nginx": via_nginx, "gateway": via_gateway}

        # Before / after: the baseline (old) binary with the same features-on configuration, on
        # its own port and with its own data directory, measured side by side with the new one
        # while both are fresh; then stopped, so the rest of the run is as without --baseline.
        if args.baseline:
            base_dir = os.path.join(workdir, "baseline")
            os.makedirs(base_dir)
            base_yaml, omitted = baseline_yaml(args.baseline, workdir, "baseline-on", base_port, mock_port, stream_port, True,
                                               tls_port if tls else None, ca_file, data_dir=base_dir)
            baseline = procs.start([args.baseline, "start", "-c", base_yaml], os.path.join(workdir, "baseline.log"), stdin=subprocess.DEVNULL)
            wait_port(base_port)
            time.sleep(1)
            via_baseline = f"http://127.0.0.1:{base_port}/v1/chat/completions"
            check_answer(via_baseline, CLIENT_KEY)
            scenarios = [("plain_c64", 64, direct, ""), ("plain_c1", 1, direct, "")]
            if tls:
                direct_tls = f"https://127.0.0.1:{tls_port}/v1/chat/completions"
                check_answer(direct_tls, "", ca_file=ca_file)
                check_answer(via_baseline, CLIENT_KEY, model=TLS_MODEL)
                check_answer(via_gateway, gateway_key, model=TLS_MODEL)
                scenarios += [("tls_c64", 64, direct_tls, TLS_MODEL), ("tls_c1", 1, direct_tls, TLS_MODEL)]
            ab = {"old_binary": os.path.abspath(args.baseline), "new_binary": os.path.abspath(args.binary),
                  "old_sha256": file_digest(args.baseline), "new_sha256": file_digest(args.binary), "omitted_keys": omitted,
                  "rounds": args.rounds, "rss_idle_kib": {"old": rss_kib(baseline.pid), "new": rss_kib(gateway.pid)}}
            ab["scenarios"] = before_after(scenarios, {"old": (via_baseline, baseline.pid, CLIENT_KEY), "new": (via_gateway, gateway.pid, gateway_key)}, args.rounds, duration)
            try:
                served, dropped = proxied_and_dropped(base_port)
                procs.stop(baseline)
                ab["old_events"] = {"served": served, "stored": count_events(os.path.join(base_dir, "baseline-on.sqlite")), "dropped": dropped}
            except Exception as error:  # an old binary may name its metrics or tables otherwise: report, do not fail
                ab["old_events"] = {"error": str(error)}
            if baseline in procs.items:
                procs.stop(baseline)
            results["before_after"] = ab

        for connections in (1, 64):
            for name in ("direct", "nginx", "gateway"):
                wrk(urls[name], connections, 1, key[name])  # warm-up
                samplers = {"gateway": Sampler(gateway.pid), "nginx": Sampler(nginx.pid, True)} if connections == 64 else {}
                # CPU per request: the proxy's own CPU time over the run, divided by the
                # requests it served (nginx: master and workers).
                proxy = {"gateway": (gateway.pid, False), "nginx": (nginx.pid, True)}.get(name)
                cpu_before = cpu_seconds(*proxy) if proxy else 0
                results[f"c{connections}_{name}"] = wrk(urls[name], connections, duration, key[name])
                if proxy:
                    measured = results[f"c{connections}_{name}"]
                    measured["cpu_us_per_request"] = (cpu_seconds(*proxy) - cpu_before) * 1e6 / max(1, measured["requests"])
                for who, sampler in samplers.items():
                    peak = sampler.stop()
                    if who == name:
                        results.setdefault("rss_load_kib", {})[who] = peak

        # Failover: the same requests for a model on two upstreams, one failing every request.
        check_answer(via_gateway, gateway_key, model=FAILOVER_MODEL)
        for connections in (1, 64):
            wrk(via_gateway, connections, 1, key["gateway"], FAILOVER_MODEL)  # warm-up
            results[f"c{connections}_failover"] = wrk(via_gateway, connections, duration, key["gateway"], FAILOVER_MODEL)

        # Cache hits: the same request for a model whose route caches answers; every answer after
        # the first comes from the gateway's memory. The hit counter must account for them.
        check_answer(via_gateway, gateway_key, model=CACHED_MODEL)
        hits_before = cache_hits(gw_port)
        for connections in (1, 64):
            wrk(via_gateway, connections, 1, key["gateway"], CACHED_MODEL)  # warm-up
            results[f"c{connections}_cached"] = wrk(via_gateway, connections, duration, key["gateway"], CACHED_MODEL)
        hits = cache_hits(gw_port) - hits_before
        measured = sum(results[f"c{c}_cached"]["requests"] for c in (1, 64))
        if hits < measured:
            raise SystemExit(f"bench: {measured} requests for the cached model but only {hits} cache hits")

        # Translated: an Anthropic Messages client against the same OpenAI-type upstream, so
        # the difference to the untranslated rows is what translation costs.
        via_messages = via_gateway.replace("/v1/chat/completions", "/v1/messages")
        check_translated(via_messages, gateway_key)
        for connections in (1, 64):
            wrk(via_messages, connections, 1, key["gateway"], dialect="anthropic")  # warm-up
            results[f"c{connections}_translated"] = wrk(via_messages, connections, duration, key["gateway"], dialect="anthropic")

        # Tunnel: wrk → `llm-proxy tunnel client` (local HTTP) → protocol v2 → the gateway's
        # tunnel → the same upstream, so the difference to the plain rows is what the tunnel
        # (a second process, AES-GCM both ways, framing) costs.
        wait_port(tunnel_port)
        tunnel_client = procs.start([args.binary, "tunnel", "client", "--listen", f"127.0.0.1:{tunnel_client_port}", "--server", f"127.0.0.1:{tunnel_port}",
                                     "--upstream", f"http://127.0.0.1:{mock_port}"], os.path.join(workdir, "tunnel-client.log"),
                                    stdin=subprocess.DEVNULL, env=dict(os.environ, LLMPROXY_TUNNEL_KEY=TUNNEL_KEY))
        wait_port(tunnel_client_port)
        via_tunnel = f"http://127.0.0.1:{tunnel_client_port}/v1/chat/completions"
        check_answer(via_tunnel, "")
        for connections in (1, 64):
            wrk(via_tunnel, connections, 1)  # warm-up
            results[f"c{connections}_tunnel"] = wrk(via_tunnel, connections, duration)
        procs.stop(tunnel_client)

        # TLS upstream: the gateway (plain HTTP to the client, HTTPS to the mock, verifying its
        # certificate) against wrk on nginx's HTTPS port directly, so nginx's own TLS is the reference.
        if tls:
            direct_tls = f"https://127.0.0.1:{tls_port}/v1/chat/completions"
            check_answer(direct_tls, "", ca_file=ca_file)
            check_answer(via_gateway, gateway_key, model=TLS_MODEL)
            for connections in (1, 64):
                for name, url, client_key, model in (("tls_direct", direct_tls, "", ""), ("tls_gateway", via_gateway, gateway_key, TLS_MODEL)):
                    wrk(url, connections, 1, client_key, model)  # warm-up
                    sampler = Sampler(gateway.pid) if connections == 64 and name == "tls_gateway" else None
                    results[f"c{connections}_{name}"] = wrk(url, connections, duration, client_key, model)
                    if sampler:
                        results.setdefault("rss_load_kib", {})["gateway_tls"] = sampler.stop()

        for count in sorted({32, args.streams}):
            for name, url in (("direct", f"http://127.0.0.1:{stream_port}/v1/chat/completions"),
                              ("nginx", f"http://127.0.0.1:{nginx_stream_port}/v1/chat/completions"),
                              ("gateway", via_gateway)):
                sampler = Sampler(gateway.pid) if name == "gateway" else Sampler(nginx.pid, True) if name == "nginx" else None
                results[f"streams{count}_{name}"] = streams(url, count, key[name])
                if sampler:
                    peak = sampler.stop()
                    if count == args.streams:
                        results.setdefault("rss_streams_kib", {})[name] = peak

        # Soak: sustained load, then compare memory at its start and end.
        soak_sampler = Sampler(gateway.pid)
        results["soak"] = wrk(via_gateway, 64, max(1, int(args.soak)), gateway_key)
        soak_sampler.stop()
        third = max(1, len(soak_sampler.samples) // 3)
        results["rss_soak_kib"] = {"first_third_max": max(soak_sampler.samples[:third]), "last_third_max": max(soak_sampler.samples[-third:]),
                                   "after": rss_kib(gateway.pid)}
        served, dropped = proxied_and_dropped(gw_port)
        procs.stop(gateway)
        # Features on includes analytics: every proxied request must be in the store, none dropped.
        stored = count_events(os.path.join(workdir, "gateway-on.sqlite"))
        results["events"] = {"served": served, "stored": stored, "dropped": dropped}
        if dropped or stored != served:
            raise SystemExit(f"bench: the gateway served {served} proxied requests but stored {stored} events and dropped {dropped}")

        # Features off: no client keys, no request log.
        gateway = start_gateway(features=False)
        check_answer(via_gateway, "")
        wrk(via_gateway, 64, 1)
        results["c64_gateway_off"] = wrk(via_gateway, 64, duration)
        results["c1_gateway_off"] = wrk(via_gateway, 1, duration)
        procs.stop(gateway)

        # Tracing (issue 15): features on with OpenTelemetry off, at 1 % and at 100 % sampling,
        # exporting over OTLP/HTTP to a sink that answers at once, one after the other on the
        # same data directory (the managed key is there), so the rows differ only by tracing.
        sink_port = free_port()
        procs.start([sys.executable, os.path.join(HERE, "otlp_sink.py"), str(sink_port)], os.path.join(workdir, "otlp-sink.log"))
        wait_port(sink_port)
        for label, ratio in (("untraced", None), ("traced1", 0.01), ("traced100", 1.0)):
            config = gateway_yaml(workdir, "gateway-on", gw_port, mock_port, stream_port, True)
            if ratio is not None:
                with open(config, "a") as f:
                    f.write(f'tracing: {{enabled: true, endpoint: "http://127.0.0.1:{sink_port}", sample_ratio: {ratio}, export_interval: 1}}\n')
            before = otlp_stats(sink_port)
            gateway = procs.start([args.binary, "start", "-c", config], os.path.join(workdir, f"gateway-{label}.log"), stdin=subprocess.DEVNULL)
            wait_port(gw_port)
            check_answer(via_gateway, gateway_key)
            for connections in (64, 1):
                wrk(via_gateway, connections, 1, gateway_key)  # warm-up
                results[f"c{connections}_{label}"] = wrk(via_gateway, connections, duration, gateway_key)
            results.setdefault("rss_traced_kib", {})[label] = rss_kib(gateway.pid)
            procs.stop(gateway)  # the last spans are exported on the way out
            after = otlp_stats(sink_port)
            results[f"otlp_{label}"] = {key: None if after[key] is None else after[key] - (before[key] or 0) for key in ("posts", "bytes", "spans")}

        # TLS listener: the gateway terminating TLS itself (https mode, the run's certificate,
        # HTTP/1.1 keep-alive from wrk, features on with the configured key) against nginx
        # terminating TLS with the same certificate in front of the same mock.
        if tls:
            tls_yaml = gateway_yaml(workdir, "gateway-tls", gw_tls_http_port, mock_port, stream_port, True)
            with open(tls_yaml, "a") as f:
                f.write(f'tls: {{mode: https, cert_file: "{ca_file}", key_file: "{tls_key}", https_port: {gw_tls_port}}}\n')
            gateway = procs.start([args.binary, "start", "-c", tls_yaml], os.path.join(workdir, "gateway-tls.log"), stdin=subprocess.DEVNULL)
            wait_port(gw_tls_port)
            via_nginx_tls = f"https://127.0.0.1:{nginx_tls_port}/v1/chat/completions"
            via_gateway_tls = f"https://127.0.0.1:{gw_tls_port}/v1/chat/completions"
            check_answer(via_nginx_tls, "", ca_file=ca_file)
            check_answer(via_gateway_tls, CLIENT_KEY, ca_file=ca_file)
            for connections in (1, 64):
                for name, url, client_key in (("tlsl_nginx", via_nginx_tls, ""), ("tlsl_gateway", via_gateway_tls, CLIENT_KEY)):
                    wrk(url, connections, 1, client_key)  # warm-up
                    results[f"c{connections}_{name}"] = wrk(url, connections, duration, client_key)
            procs.stop(gateway)
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)

    report = render(results, smoke=args.smoke)
    print(report)
    out = args.out or os.path.join(HERE, "results", time.strftime("%Y%m%d-%H%M%S") + (".smoke" if args.smoke else "") + ".md")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        f.write(report + "\n<!-- raw\n" + json.dumps(results, indent=1) + "\n-->\n")
    print(f"written to {out}")


def render(r, smoke):
    def ms(us): return f"{us / 1000:.3f}"
    def ratio(a, b): return f"{a / b:.2f}" if b else "n/a"
    lines = [f"# LLMProxy benchmark{' (smoke run: numbers mean nothing)' if smoke else ''}", "",
             f"- machine: {r['machine']}", f"- date: {r['date']}; {r['duration_s']} s per throughput run, soak {r['soak_s']} s", "",
             "## Non-streaming chat completions", "",
             "| scenario | direct | nginx | gateway | gateway (features off) | gateway / nginx |", "|---|---|---|---|---|---|"]
    for c in (1, 64):
        d, n, g, o = r[f"c{c}_direct"], r[f"c{c}_nginx"], r[f"c{c}_gateway"], r[f"c{c}_gateway_off"]
        lines.append(f"| {c} conn: req/s | {d['rps']:.0f} | {n['rps']:.0f} | {g['rps']:.0f} | {o['rps']:.0f} | {ratio(g['rps'], n['rps'])} |")
        for p in ("p50", "p99", "p999"):
            lines.append(f"| {c} conn: {p} ms | {ms(d[p + '_us'])} | {ms(n[p + '_us'])} | {ms(g[p + '_us'])} | {ms(o[p + '_us'])} | {ratio(g[p + '_us'], n[p + '_us'])} |")
        for p in ("p50", "p99"):
            lines.append(f"| {c} conn: added {p} ms (over direct) | | {ms(n[p + '_us'] - d[p + '_us'])} | {ms(g[p + '_us'] - d[p + '_us'])} | {ms(o[p + '_us'] - d[p + '_us'])} | |")
        if "cpu_us_per_request" in g and "cpu_us_per_request" in n:
            lines.append(f"| {c} conn: CPU µs per request | | {n['cpu_us_per_request']:.1f} | {g['cpu_us_per_request']:.1f} | | {ratio(g['cpu_us_per_request'], n['cpu_us_per_request'])} |")
    if "c64_tunnel" in r:
        lines += ["", "Tunnel (wrk → `llm-proxy tunnel client` → protocol v2 → the gateway's tunnel → upstream; features on):", "",
                  "| scenario | nginx | gateway, plain HTTP | gateway, through the tunnel | tunnel / plain HTTP | tunnel / nginx |", "|---|---|---|---|---|---|"]
        for c in (1, 64):
            n, g, t = r[f"c{c}_nginx"], r[f"c{c}_gateway"], r[f"c{c}_tunnel"]
            lines.append(f"| c{c} req/s | {n['rps']:.0f} | {g['rps']:.0f} | {t['rps']:.0f} | {ratio(t['rps'], g['rps'])} | {ratio(t['rps'], n['rps'])} |")
            lines.append(f"| c{c} p50 / p99 ms | {ms(n['p50_us'])} / {ms(n['p99_us'])} | {ms(g['p50_us'])} / {ms(g['p99_us'])} | {ms(t['p50_us'])} / {ms(t['p99_us'])} | | |")
    if "c64_failover" in r:
        lines += ["", "## One of two upstreams failing", "",
                  "A model served by two upstreams, one answering every request with a 502: retried on the other, its breaker opened, probed every so often; no client sees a failure (wrk counts any non-200 as a failed run).", "",
                  "| scenario | gateway, one upstream | gateway, one of two failing | failing / one upstream |", "|---|---|---|---|"]
        for c in (1, 64):
            g, f_ = r[f"c{c}_gateway"], r[f"c{c}_failover"]
            lines.append(f"| {c} conn: req/s | {g['rps']:.0f} | {f_['rps']:.0f} | {ratio(f_['rps'], g['rps'])} |")
            for p in ("p50", "p99"):
                lines.append(f"| {c} conn: {p} ms | {ms(g[p + '_us'])} | {ms(f_[p + '_us'])} | {ratio(f_[p + '_us'], g[p + '_us'])} |")
    if "c64_cached" in r:
        lines += ["", "## Cache hits", "",
                  "The same request for a model whose route has the exact response cache on: every answer after the first is replayed from memory (no upstream); the hit counter is checked against the requests sent.", "",
                  "| scenario | nginx | gateway, forwarded | gateway, cache hit | hit / forwarded | hit / nginx |", "|---|---|---|---|---|---|"]
        for c in (1, 64):
            n, g, h = r[f"c{c}_nginx"], r[f"c{c}_gateway"], r[f"c{c}_cached"]
            lines.append(f"| {c} conn: req/s | {n['rps']:.0f} | {g['rps']:.0f} | {h['rps']:.0f} | {ratio(h['rps'], g['rps'])} | {ratio(h['rps'], n['rps'])} |")
            for p in ("p50", "p99"):
                lines.append(f"| {c} conn: {p} ms | {ms(n[p + '_us'])} | {ms(g[p + '_us'])} | {ms(h[p + '_us'])} | {ratio(h[p + '_us'], g[p + '_us'])} | |")
    if "c64_translated" in r:
        lines += ["", "## Translated: Anthropic Messages client → OpenAI-type upstream", "",
                  "The same request and mock as above, sent by an Anthropic client to /v1/messages: the gateway translates it to Chat Completions and the answer back.", "",
                  "| scenario | nginx | gateway, untranslated | gateway, translated | translated / untranslated | translated / nginx |", "|---|---|---|---|---|---|"]
        for c in (1, 64):
            n, g, t = r[f"c{c}_nginx"], r[f"c{c}_gateway"], r[f"c{c}_translated"]
            lines.append(f"| {c} conn: req/s | {n['rps']:.0f} | {g['rps']:.0f} | {t['rps']:.0f} | {ratio(t['rps'], g['rps'])} | {ratio(t['rps'], n['rps'])} |")
            for p in ("p50", "p99"):
                lines.append(f"| {c} conn: {p} ms | {ms(n[p + '_us'])} | {ms(g[p + '_us'])} | {ms(t[p + '_us'])} | {ratio(t[p + '_us'], g[p + '_us'])} | |")
    if "c64_traced100" in r:
        lines += ["", "## Tracing: OpenTelemetry at 1 % and 100 % sampling", "",
                  "Features on, the same managed key and data directory; tracing off, then on at 1 % and at 100 % of requests (a server span and a client span each), "
                  "exported over OTLP/HTTP (protobuf, batches every second) to a sink that answers at once.", "",
                  "| scenario | nginx | gateway, untraced | traced 1 % | traced 100 % | 1 % / untraced | 100 % / untraced |", "|---|---|---|---|---|---|---|"]
        for c in (1, 64):
            n, u, t1, t100 = r[f"c{c}_nginx"], r[f"c{c}_untraced"], r[f"c{c}_traced1"], r[f"c{c}_traced100"]
            lines.append(f"| {c} conn: req/s | {n['rps']:.0f} | {u['rps']:.0f} | {t1['rps']:.0f} | {t100['rps']:.0f} | {ratio(t1['rps'], u['rps'])} | {ratio(t100['rps'], u['rps'])} |")
            for p in ("p50", "p99"):
                lines.append(f"| {c} conn: {p} ms | {ms(n[p + '_us'])} | {ms(u[p + '_us'])} | {ms(t1[p + '_us'])} | {ms(t100[p + '_us'])} | {ratio(t1[p + '_us'], u[p + '_us'])} | {ratio(t100[p + '_us'], u[p + '_us'])} |")
        for label, name in (("traced1", "1 %"), ("traced100", "100 %")):
            sent = sum(r[f"c{c}_{label}"]["requests"] for c in (1, 64))
            got = r[f"otlp_{label}"]
            lines.append(f"\nAt {name}: {got['spans'] if got['spans'] is not None else 'n/a (no opentelemetry-proto)'} spans in {got['posts']} exports "
                         f"({got['bytes'] / 1024:.0f} KiB) for {sent} measured requests (plus warm-ups and checks); RSS after the load {r['rss_traced_kib'][label] / 1024:.1f} MB "
                         f"against {r['rss_traced_kib']['untraced'] / 1024:.1f} MB untraced.")
    if "c64_tls_gateway" in r:
        lines += ["", "## Non-streaming chat completions, TLS upstream", "",
                  "nginx, HTTPS direct: wrk on the mock's HTTPS port (nginx's own TLS is the reference). Gateway: plain HTTP from wrk, HTTPS to the mock, certificate verified.", "",
                  "| scenario | nginx, HTTPS direct | gateway, TLS upstream | gateway, plain upstream | gateway TLS / nginx HTTPS |", "|---|---|---|---|---|"]
        for c in (1, 64):
            d, g, p_ = r[f"c{c}_tls_direct"], r[f"c{c}_tls_gateway"], r[f"c{c}_gateway"]
            lines.append(f"| {c} conn: req/s | {d['rps']:.0f} | {g['rps']:.0f} | {p_['rps']:.0f} | {ratio(g['rps'], d['rps'])} |")
            for p in ("p50", "p99", "p999"):
                lines.append(f"| {c} conn: {p} ms | {ms(d[p + '_us'])} | {ms(g[p + '_us'])} | {ms(p_[p + '_us'])} | {ratio(g[p + '_us'], d[p + '_us'])} |")
            for p in ("p50", "p99"):
                lines.append(f"| {c} conn: added {p} ms (over nginx HTTPS direct) | | {ms(g[p + '_us'] - d[p + '_us'])} | | |")
    else:
        lines += ["", "TLS-upstream scenario skipped: no openssl command to make its certificate (smoke runs only)."]
    if "c64_tlsl_gateway" in r:
        lines += ["", "## Non-streaming chat completions, TLS listener", "",
                  "wrk over HTTPS (keep-alive) to nginx terminating TLS in front of the mock, and to the gateway terminating TLS itself (https mode, the same certificate, features on).", "",
                  "| scenario | nginx, TLS | gateway, TLS | gateway / nginx |", "|---|---|---|---|"]
        for c in (1, 64):
            n, g = r[f"c{c}_tlsl_nginx"], r[f"c{c}_tlsl_gateway"]
            lines.append(f"| {c} conn: req/s | {n['rps']:.0f} | {g['rps']:.0f} | {ratio(g['rps'], n['rps'])} |")
            for p in ("p50", "p99", "p999"):
                lines.append(f"| {c} conn: {p} ms | {ms(n[p + '_us'])} | {ms(g[p + '_us'])} | {ratio(g[p + '_us'], n[p + '_us'])} |")
    if "before_after" in r:
        lines += render_before_after(r["before_after"], r["duration_s"])
    lines += ["", "## Streaming (SSE)", "", "| streams | direct TTFB p50 / p99 ms | nginx | gateway | added TTFB p50 gateway vs nginx ms | failed |", "|---|---|---|---|---|---|"]
    for count in sorted({32, r["streams"]}):
        d, n, g = r[f"streams{count}_direct"], r[f"streams{count}_nginx"], r[f"streams{count}_gateway"]
        lines.append(f"| {count} | {d['ttfb_p50_ms']} / {d['ttfb_p99_ms']} | {n['ttfb_p50_ms']} / {n['ttfb_p99_ms']} | {g['ttfb_p50_ms']} / {g['ttfb_p99_ms']} | "
                     f"{g['ttfb_p50_ms'] - d['ttfb_p50_ms']:.2f} vs {n['ttfb_p50_ms'] - d['ttfb_p50_ms']:.2f} | {d['failed'] + n['failed'] + g['failed']} |")
    idle, load, st, soak = r["rss_idle_kib"], r.get("rss_load_kib", {}), r.get("rss_streams_kib", {}), r["rss_soak_kib"]
    lines += ["", "## Memory (RSS, MB)", "", "| state | nginx (master + workers) | gateway |", "|---|---|---|",
              f"| idle | {idle['nginx'] / 1024:.1f} | {idle['gateway'] / 1024:.1f} |",
              f"| 64 connections | {load.get('nginx', 0) / 1024:.1f} | {load.get('gateway', 0) / 1024:.1f} |",
              *([f"| 64 connections, TLS upstream | | {load['gateway_tls'] / 1024:.1f} |"] if "gateway_tls" in load else []),
              f"| {r['streams']} open streams | {st.get('nginx', 0) / 1024:.1f} | {st.get('gateway', 0) / 1024:.1f} |",
              f"| soak: first third / last third / after | | {soak['first_third_max'] / 1024:.1f} / {soak['last_third_max'] / 1024:.1f} / {soak['after'] / 1024:.1f} |",
              "", f"Soak: {r['soak']['requests']} requests at {r['soak']['rps']:.0f} req/s, every one a 200 completion.", "",
              f"Analytics (features on): {r['events']['served']} proxied requests, {r['events']['stored']} events stored, {r['events']['dropped']} dropped.", ""]
    g64, n64, g1, d1 = r["c64_gateway"], r["c64_nginx"], r["c1_gateway"], r["c1_direct"]
    targets = [
        ("throughput at 64 connections, features on >= 0.9 x nginx", g64["rps"] >= 0.9 * n64["rps"], f"{ratio(g64['rps'], n64['rps'])} x"),
        ("added latency at 1 connection p50 <= 0.1 ms", g1["p50_us"] - d1["p50_us"] <= 100, f"{ms(g1['p50_us'] - d1['p50_us'])} ms"),
        ("added latency at 1 connection p99 <= 0.5 ms", g1["p99_us"] - d1["p99_us"] <= 500, f"{ms(g1['p99_us'] - d1['p99_us'])} ms"),
        ("RSS idle <= 30 MB", idle["gateway"] <= 30 * 1024, f"{idle['gateway'] / 1024:.1f} MB"),
        ("RSS at 64 connections <= 80 MB", load.get("gateway", 0) <= 80 * 1024, f"{load.get('gateway', 0) / 1024:.1f} MB"),
        (f"RSS with {r['streams']} streams <= 200 MB", st.get("gateway", 0) <= 200 * 1024, f"{st.get('gateway', 0) / 1024:.1f} MB"),
        ("RSS flat over the soak (last third <= first third + 10%)", soak["last_third_max"] <= soak["first_third_max"] * 1.1, f"{soak['first_third_max'] / 1024:.1f} -> {soak['last_third_max'] / 1024:.1f} MB"),
    ]
    if "c64_tlsl_gateway" in r:
        tn, tg = r["c64_tlsl_nginx"], r["c64_tlsl_gateway"]
        targets.append(("TLS listener at 64 connections >= 0.5 x nginx with TLS", tg["rps"] >= 0.5 * tn["rps"], f"{ratio(tg['rps'], tn['rps'])} x"))
    for count in sorted({32, r["streams"]}):
        d, n, g = r[f"streams{count}_direct"], r[f"streams{count}_nginx"], r[f"streams{count}_gateway"]
        targets.append((f"TTFB added at {count} streams <= nginx's", g["ttfb_p50_ms"] - d["ttfb_p50_ms"] <= n["ttfb_p50_ms"] - d["ttfb_p50_ms"],
                        f"{g['ttfb_p50_ms'] - d['ttfb_p50_ms']:.2f} vs {n['ttfb_p50_ms'] - d['ttfb_p50_ms']:.2f} ms"))
    lines += ["## Targets", "", "| target | met | measured |", "|---|---|---|"]
    lines += [f"| {name} | {'yes' if ok else 'NO'} | {value} |" for name, ok, value in targets]
    return "\n".join(lines)


def render_before_after(ab, duration):
    def ms(us): return f"{us / 1000:.3f}"
    def ratio(a, b): return f"{a / b:.2f}" if b > 0 else "n/a"
    lines = ["", "## Before / after (same run)", "",
             f"- old: `{ab['old_binary']}` (sha256 {ab['old_sha256']}); new: `{ab['new_binary']}` (sha256 {ab['new_sha256']})",
             "- both with features on (client key, request log, metrics, analytics; the new binary with every guard of issue 10 as well: "
             "address lists, automatic blocking, rates and tokens per address, key and key × model, an owner budget, shedding, called with a managed key "
             "that has its own rates and budget), the same configuration file "
             + (f"except {', '.join(f'`{k}`' for k in ab['omitted_keys'])}, unknown to the old binary and left out of its copy"
                if ab["omitted_keys"] else "(the old binary accepts every key)")
             + "; each on its own port with its own SQLite file, both started before the rest of the run",
             f"- per scenario: 1 s warm-up each, then {ab['rounds']} rounds of {duration} s; each round measures the reference, then old and new "
             "(old first in odd rounds, new first in even ones). Figures are the **mean of the rounds**; req/s of each round in brackets.",
             "- added = gateway minus the reference in the same rounds: nginx serving the mock directly (plain), nginx's HTTPS port directly (TLS upstream).", "",
             "| scenario | measure | reference | old | new | new / old |", "|---|---|---|---|---|---|"]
    for label, sc in ab["scenarios"].items():
        name = f"{sc['connections']} conn, {'TLS' if sc['tls'] else 'plain'} upstream"
        ref, old, new = sc["reference"], sc["old"], sc["new"]
        def rounds(side): return " (" + ", ".join(f"{x['rps']:.0f}" for x in side["rounds"]) + ")" if len(side["rounds"]) > 1 else ""
        lines.append(f"| {name} | req/s | {ref['rps']:.0f}{rounds(ref)} | {old['rps']:.0f}{rounds(old)} | {new['rps']:.0f}{rounds(new)} | {ratio(new['rps'], old['rps'])} |")
        for p in ("p50", "p99"):
            lines.append(f"| {name} | {p} ms | {ms(ref[p + '_us'])} | {ms(old[p + '_us'])} | {ms(new[p + '_us'])} | {ratio(new[p + '_us'], old[p + '_us'])} |")
        for p in ("p50", "p99"):
            a, b = old[p + "_us"] - ref[p + "_us"], new[p + "_us"] - ref[p + "_us"]
            lines.append(f"| {name} | added {p} ms | | {ms(a)} | {ms(b)} | {ratio(b, a)} |")
    idle = ab["rss_idle_kib"]
    lines += ["", "| RSS, MB | old | new |", "|---|---|---|", f"| idle | {idle['old'] / 1024:.1f} | {idle['new'] / 1024:.1f} |"]
    for label, sc in ab["scenarios"].items():
        if "rss_peak_kib" in sc["old"]:
            lines.append(f"| peak, {sc['connections']} conn, {'TLS' if sc['tls'] else 'plain'} upstream | {sc['old']['rss_peak_kib'] / 1024:.1f} | {sc['new']['rss_peak_kib'] / 1024:.1f} |")
    ev = ab.get("old_events", {})
    lines += ["", f"Old binary's analytics: {ev['served']} proxied requests, {ev['stored']} events stored, {ev['dropped']} dropped "
                  "(the new binary's are in the totals below)." if "served" in ev else f"Old binary's analytics not read: {ev.get('error')}"]
    return lines


if __name__ == "__main__":
    main()
