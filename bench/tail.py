#!/usr/bin/env python3
"""The one-connection tail with analytics (issue 16): each binary runs twice with the
benchmark's features-on configuration, once with the store (every request an analytics
event) and once without it, against the same nginx mock; wrk measures one connection in
alternating rounds, with the direct mock as the machine's own jitter. Prints p50 / p99 /
p99.9 and CPU µs per request for every round.

    bench/tail.py NEW [OLD] [--seconds 12] [--rounds 3]
"""
import argparse, importlib.util, os, shutil, subprocess, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("bench_run", os.path.join(HERE, "run.py"))
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binaries", nargs="+")
    parser.add_argument("--seconds", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="llmproxy-tail-")
    procs = bench.Processes()
    try:
        mock_port, stream_port = bench.start_chat_mock(work, procs), bench.free_port()
        gateways = []
        for index, binary in enumerate(args.binaries):
            for analytics in (True, False):
                port, name = bench.free_port(), f"gw{index}{'a' if analytics else 'n'}"
                path = bench.gateway_yaml(work, name, port, mock_port, stream_port, True, store=analytics)
                proc = procs.start([binary, "start", "-c", path], os.path.join(work, name + ".log"), stdin=subprocess.DEVNULL)
                bench.wait_port(port)
                label = f"{os.path.basename(binary)}, {'analytics' if analytics else 'no store'}"
                gateways.append((label, f"http://127.0.0.1:{port}/v1/chat/completions", proc))
        time.sleep(1)
        direct = f"http://127.0.0.1:{mock_port}/v1/chat/completions"
        rows = {"direct": []}
        for round_ in range(args.rounds):
            rows["direct"].append(bench.wrk(direct, 1, args.seconds))
            for label, url, proc in (gateways if round_ % 2 == 0 else gateways[::-1]):
                bench.wrk(url, 1, 1, key=bench.CLIENT_KEY)  # warm-up
                before = bench.cpu_seconds(proc.pid)
                result = bench.wrk(url, 1, args.seconds, key=bench.CLIENT_KEY)
                result["cpu_us"] = (bench.cpu_seconds(proc.pid) - before) * 1e6 / max(1, result["requests"])
                rows.setdefault(label, []).append(result)
        print("| 1 connection | req/s | p50 ms | p99 ms | p99.9 ms | CPU µs/request |\n|---|---|---|---|---|---|")
        for label, results in rows.items():
            def each(key, scale=1000, digits=3):
                return " / ".join(f"{r[key] / scale:.{digits}f}" for r in results)
            cpu = " / ".join(f"{r['cpu_us']:.0f}" for r in results) if "cpu_us" in results[0] else ""
            print(f"| {label} | {each('rps', 1, 0)} | {each('p50_us')} | {each('p99_us')} | {each('p999_us')} | {cpu} |")
    finally:
        procs.stop_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
