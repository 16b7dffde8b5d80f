#!/usr/bin/env python3
"""Opens N concurrent SSE chat streams against a URL and reports time to first byte,
completion and failures as one JSON line. Standard library only (asyncio raw sockets)."""
import asyncio, json, sys, time

async def one(host, port, path, body, key, results, gate):
    request = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
               + (f"Authorization: Bearer {key}\r\n" if key else "")
               + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
    started = time.perf_counter()
    try:
        async with gate:
            reader, writer = await asyncio.open_connection(host, port)
        started = time.perf_counter()
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        first = await reader.read(1)
        ttfb = time.perf_counter() - started
        rest = first + await reader.read()
        writer.close()
        ok = status == 200 and b"[DONE]" in rest
        results.append((ok, ttfb, time.perf_counter() - started, status))
    except Exception as error:  # noqa: BLE001 - every failure counts
        results.append((False, 0.0, time.perf_counter() - started, repr(error)))

async def main():
    url, count = sys.argv[1], int(sys.argv[2])
    key = sys.argv[3] if len(sys.argv) > 3 else ""
    host_port, _, path = url.removeprefix("http://").partition("/")
    host, _, port = host_port.partition(":")
    body = json.dumps({"model": "stream-model", "stream": True,
                       "messages": [{"role": "user", "content": "Stream to the benchmark."}]}).encode()
    results = []
    gate = asyncio.Semaphore(200)  # connect in waves so the accept backlog is not the test
    began = time.perf_counter()
    await asyncio.gather(*(one(host, int(port), "/" + path, body, key, results, gate) for _ in range(count)))
    wall = time.perf_counter() - began
    oks = [r for r in results if r[0]]
    ttfbs = sorted(r[1] for r in oks) or [0.0]
    def pct(p): return ttfbs[min(len(ttfbs) - 1, int(len(ttfbs) * p / 100))] * 1000
    failures = [r[3] for r in results if not r[0]]
    print("RESULT " + json.dumps({"streams": count, "ok": len(oks), "failed": len(failures),
                                  "ttfb_p50_ms": round(pct(50), 2), "ttfb_p99_ms": round(pct(99), 2),
                                  "wall_s": round(wall, 2), "first_failures": [str(f) for f in failures[:3]]}))

asyncio.run(main())
