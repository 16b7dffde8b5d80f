#!/usr/bin/env python3
"""Instructions and allocations per request (issue 16), counted by Valgrind's callgrind, so
the figure does not move with the machine's noise the way wall-clock numbers do.

Each binary runs under callgrind (a copy with its DWARF stripped: Debian's Valgrind 3.19
cannot read Swift 6's debug information, and the symbol table is all callgrind needs for
function names) with the benchmark's configuration, against the same nginx mock. After a
warm-up the counters are zeroed, one client sends --requests non-streaming chat completions
on one keep-alive connection, and the counters are dumped. Reported per request: instructions
executed by every thread of the process, calls to the allocator (malloc, calloc, realloc,
posix_memalign, aligned_alloc) and to free, and (--top) the functions that execute the most instructions themselves.

    bench/instructions.py NEW [OLD ...] [--requests 2000] [--scenario features|analytics|off] [--nginx]
"""
import argparse, http.client, importlib.util, json, os, re, shutil, subprocess, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("bench_run", os.path.join(HERE, "run.py"))
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

ALLOCATORS = {"malloc", "calloc", "realloc", "posix_memalign", "aligned_alloc", "memalign"}
BODY = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}]})


def send(port, count):
    """count requests on one keep-alive connection; each must be a 200 chat completion."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {bench.CLIENT_KEY}"}
    for _ in range(count):
        conn.request("POST", "/v1/chat/completions", BODY, headers)
        answer = conn.getresponse()
        data = answer.read()
        if answer.status != 200 or b"chat.completion" not in data:
            raise SystemExit(f"unexpected answer {answer.status}: {data[:200]!r}")
    conn.close()


def parse(path):
    """Total Ir, allocator and free calls, and each function's own Ir, from one callgrind
    dump (name compression aware)."""
    names, total, allocs, frees, target = {}, 0, 0, 0, None
    own = {}
    current = None
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith(("fn=", "cfn=")):
                key, _, rest = line.rstrip("\n").partition("=")
                match = re.match(r"\((\d+)\)(?: (.*))?", rest)
                name = rest
                if match:
                    name = match.group(2) or names.get(match.group(1), "?")
                    if match.group(2):
                        names[match.group(1)] = match.group(2)
                if key == "fn":
                    current, target = name, None
                else:
                    target = name
            elif line.startswith("calls="):
                count = int(line[6:].split()[0])
                if target in ALLOCATORS:
                    allocs += count
                elif target == "free":
                    frees += count
                # The next line is the inclusive cost of those calls, not the caller's own.
                next(f, "")
                target = None
            elif line[:1].isdigit() or line[:1] in "+-*":
                parts = line.split()
                if len(parts) >= 2 and current:
                    own[current] = own.get(current, 0) + int(parts[1])
            elif line.startswith("summary:") or line.startswith("totals:"):
                total = max(total, int(line.split()[1]))
    return total, allocs, frees, own


def measure_nginx(requests, work, procs, mock_port):
    """nginx proxying to the same mock with upstream keep-alive, as bench/run's reference
    (one process: master_process off), under callgrind the same way."""
    port = bench.free_port()
    conf = bench.nginx_conf(work, "reference", f"""upstream mock {{ server 127.0.0.1:{mock_port}; keepalive 16; }}
    server {{ listen 127.0.0.1:{port};
        location / {{ proxy_pass http://mock; proxy_http_version 1.1; proxy_set_header Connection ""; }} }}""")
    proc = procs.start(["valgrind", "--tool=callgrind", f"--callgrind-out-file={work}/cg-nginx.out", "nginx", "-c", conf, "-p", work,
                        "-g", "daemon off; master_process off;"], os.path.join(work, "reference.log"))
    bench.wait_port(port, timeout=300)
    return collect(procs, proc, port, requests, work, "cg-nginx.out", None, "nginx", "reference")


def collect(procs, proc, port, requests, work, prefix, keep, label, scenario):
    send(port, max(50, requests // 10))  # warm-up: pools, caches, lazily built tables
    time.sleep(1)
    subprocess.run(["callgrind_control", "--zero", str(proc.pid)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    send(port, requests)
    subprocess.run(["callgrind_control", "--dump=measured", str(proc.pid)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dumps = sorted(p for p in os.listdir(work) if p.startswith(prefix + "."))
    if not dumps:
        raise SystemExit(f"callgrind wrote no dump for {label}")
    total, allocs, frees, own = parse(os.path.join(work, dumps[-1]))
    if keep:
        shutil.copy(os.path.join(work, dumps[-1]), os.path.join(keep, f"callgrind.{label}.{scenario}"))
    procs.stop(proc)
    return total / requests, allocs / requests, frees / requests, own


def measure(binary, scenario, requests, work, procs, mock_port, index, keep):
    stripped = os.path.join(work, f"llm-proxy-{index}")
    shutil.copy(binary, stripped)
    subprocess.run(["objcopy", "--strip-debug", stripped], check=True)
    port, name = bench.free_port(), f"gw{index}"
    path = bench.gateway_yaml(work, name, port, mock_port, bench.free_port(), scenario != "off", store=scenario == "analytics")
    out = os.path.join(work, f"cg-{index}.out")
    proc = procs.start(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", stripped, "start", "-c", path],
                       os.path.join(work, name + ".log"), stdin=subprocess.DEVNULL)
    bench.wait_port(port, timeout=300)
    return collect(procs, proc, port, requests, work, f"cg-{index}.out", keep, os.path.basename(binary), scenario)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binaries", nargs="+")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--scenario", choices=["features", "analytics", "off"], default="analytics",
                        help="features: every guard, key, log and metrics, no store; analytics: that plus the SQLite "
                             "store writing an event per request (the benchmark's features-on configuration); off: none")
    parser.add_argument("--top", type=int, default=0, help="also print the N functions with the most instructions of their own (pipe through swift demangle)")
    parser.add_argument("--nginx", action="store_true", help="also count nginx proxying the same requests (the benchmark's reference)")
    parser.add_argument("--keep", metavar="DIR", help="copy each callgrind dump there (for callgrind_annotate --inclusive=yes)")
    args = parser.parse_args()
    for tool in ("valgrind", "callgrind_control", "objcopy"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing (apt-get install valgrind binutils)")
    work = tempfile.mkdtemp(prefix="llmproxy-cg-")
    procs = bench.Processes()
    try:
        mock_port = bench.start_chat_mock(work, procs)
        print(f"| {args.scenario}, {args.requests} requests, 1 connection | instructions / request | allocations / request | frees / request |")
        print("|---|---|---|---|")
        for index, binary in enumerate(args.binaries):
            ir, allocs, frees, own = measure(binary, args.scenario, args.requests, work, procs, mock_port, index, args.keep)
            print(f"| {os.path.basename(binary)} | {ir:,.0f} | {allocs:.1f} | {frees:.1f} |", flush=True)
            if args.top:
                for name, cost in sorted(own.items(), key=lambda kv: -kv[1])[:args.top]:
                    print(f"    {cost / args.requests:>10,.0f}  {name[:150]}")
        if args.nginx:
            ir, allocs, frees, _ = measure_nginx(args.requests, work, procs, mock_port)
            print(f"| nginx (reference proxy, access log off) | {ir:,.0f} | {allocs:.1f} | {frees:.1f} |", flush=True)
    finally:
        procs.stop_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
