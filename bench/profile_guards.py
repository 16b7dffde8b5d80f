#!/usr/bin/env python3
"""One-connection A/B for the guards: nginx as the mock, one gateway (MODE: guards, noguards or old),
wrk -c1 for 6 s (CONN=64: 64 connections); PERF=1 also records perf-MODE.data; MANAGED=1 calls it with a managed key.
usage: NEW=path OLD=path python3 bench/profile_guards.py MODE"""
import sys, os, subprocess, time, tempfile, json
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as b
mode = sys.argv[1]  # "guards" | "noguards" | "old"
binary = os.environ.get("OLD" if mode == "old" else "NEW", "")
workdir = tempfile.mkdtemp(prefix="prof-")
procs = b.Processes()
try:
    mock_port, gw_port = b.start_chat_mock(workdir, procs), b.free_port()
    if mode == "old":
        cfg, _ = b.baseline_yaml(binary, workdir, "gw", gw_port, mock_port, mock_port, True)
        key = b.CLIENT_KEY
    else:
        omit = () if mode == "guards" else ("security", "limits", "budgets", "shedding")
        cfg = b.gateway_yaml(workdir, "gw", gw_port, mock_port, mock_port, True, omit=omit)
        key = b.CLIENT_KEY
        if os.environ.get("MANAGED"):
            out = subprocess.run([binary, "keys", "create", "-c", cfg, "--user", "bench", "--rpm", "100000000", "--tpm", "100000000000",
                                  "--token-budget", "1000000000000000", "--cost-budget", "1000000000", "--budget-period", "month"], capture_output=True, text=True)
            key = next(l for l in out.stdout.splitlines() if l.startswith("sk-"))
    gw = procs.start([binary, "start", "-c", cfg], os.path.join(workdir, "gw.log"), stdin=subprocess.DEVNULL)
    b.wait_port(gw_port)
    time.sleep(1)
    url = f"http://127.0.0.1:{gw_port}/v1/chat/completions"
    b.wrk(url, 1, 1, key)
    if os.environ.get("PERF"):
        perf = subprocess.Popen(["perf", "record", "-F", "999", "-g", "-o", f"perf-{mode}.data", "-p", str(gw.pid), "--", "sleep", "6"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    r = b.wrk(url, int(os.environ.get("CONN", "1")), 6, key)
    if os.environ.get("PERF"):
        perf.wait()
    print(mode, "managed" if os.environ.get("MANAGED") else "configured", json.dumps({k: r[k] for k in ("rps", "p50_us", "p99_us")}))
finally:
    procs.stop_all()
