#!/usr/bin/env python3
"""Normal traffic from the official SDKs, curl and python-requests: the requests real users
send, at a normal pace, including the few wrong keys and unknown models a test suite checks.
Fails (exit 1) if any request is refused as blocked, or answers with anything unexpected.

usage: normal_clients.py GATEWAY_URL CLIENT_KEY ROUNDS
"""
import json, subprocess, sys
import requests
import openai
import anthropic
from google import genai
from google.genai import types

URL, KEY, ROUNDS = sys.argv[1], sys.argv[2], int(sys.argv[3])
count = 0
problems = []


def note(what, status, expected):
    global count
    count += 1
    if status not in expected:
        problems.append(f"{what}: HTTP {status} (expected {sorted(expected)})")


oa = openai.OpenAI(api_key=KEY, base_url=URL + "/v1", max_retries=0)
an = anthropic.Anthropic(api_key=KEY, base_url=URL, max_retries=0)
gm = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=URL))
session = requests.Session()

for round in range(ROUNDS):
    reply = oa.chat.completions.create(model="m1", messages=[{"role": "user", "content": f"hello {round}"}], max_tokens=50)
    note("openai chat", 200 if reply.choices else 0, {200})
    stream = oa.chat.completions.create(model="m1", messages=[{"role": "user", "content": "stream"}], stream=True)
    note("openai stream", 200 if sum(1 for _ in stream) > 0 else 0, {200})
    message = an.messages.create(model="claude-x", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    note("anthropic messages", 200 if message.content else 0, {200})
    with an.messages.stream(model="claude-x", max_tokens=50, messages=[{"role": "user", "content": "hi"}]) as events:
        note("anthropic stream", 200 if events.get_final_text() else 0, {200})
    answer = gm.models.generate_content(model="gemini-x", contents="hi")
    note("gemini generate", 200 if answer.text else 0, {200})
    note("gemini stream", 200 if sum(1 for _ in gm.models.generate_content_stream(model="gemini-x", contents="hi")) > 0 else 0, {200})
    response = session.post(URL + "/v1/chat/completions", headers={"Authorization": f"Bearer {KEY}"}, json={"model": "m1", "messages": []})
    note("python-requests", response.status_code, {200})
    note("python-requests models", session.get(URL + "/v1/models", headers={"Authorization": f"Bearer {KEY}"}).status_code, {200})
    if round % 5 == 0:
        curl = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"Authorization: Bearer {KEY}", "-H", "Content-Type: application/json",
             "-d", json.dumps({"model": "m1", "messages": []}), URL + "/v1/chat/completions"], capture_output=True, text=True)
        note("curl", int(curl.stdout or 0), {200})
    if round % 50 == 0:
        # What a test suite checks now and then: its 401 and 404 handling.
        note("wrong key", session.post(URL + "/v1/chat/completions", headers={"Authorization": "Bearer wrong"}, json={"model": "m1"}).status_code, {401})
        note("unknown model", session.post(URL + "/v1/chat/completions", headers={"Authorization": f"Bearer {KEY}"}, json={"model": "nope"}).status_code, {404})
        try:
            openai.OpenAI(api_key="sk-wrong", base_url=URL + "/v1", max_retries=0).models.list()
            note("openai wrong key", 200, {401})
        except openai.AuthenticationError:
            note("openai wrong key", 401, {401})

if problems:
    print("\n".join(problems[:20]))
    print(f"{len(problems)} of {count} requests went wrong")
    sys.exit(1)
print(f"{count} requests, none refused")
