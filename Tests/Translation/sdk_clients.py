#!/usr/bin/env python3
"""Client scenarios driven through the official OpenAI, Anthropic and Google GenAI SDKs.

Contract
========
    python3 sdk_clients.py <scenario> <base_url> <api_key> <model>

``base_url`` is a server root such as ``http://127.0.0.1:8080`` (OpenAI gets
``/v1`` appended; Anthropic and google-genai take the root, google-genai with
``api_version="v1beta"``).  Every client uses a 30 s timeout and no retries.
On success the scenario prints ``OK <scenario>`` and exits 0; on a failed
assertion or SDK error it prints ``FAIL <scenario>: <reason>`` and exits 1;
an unknown scenario exits 2.

The assertions follow the script of ``wire_mocks.py`` but never check *which*
provider answered: text answers must start with ``"Answer from "`` and contain
the user's words, tool round trips must yield get_weather with city Paris (and
Tokyo for the "parallel" prompt), the follow-up answer must start with
``"The weather is"``, and usage counts must be > 0.

Optional exact-usage checks (applied to every usage block a scenario sees, only
when the variable is set):
    EXPECT_INPUT_TOKENS      anthropic usage.input_tokens | openai prompt_tokens |
                             responses input_tokens | gemini prompt_token_count
    EXPECT_OUTPUT_TOKENS     anthropic output_tokens | openai completion_tokens |
                             responses output_tokens | gemini candidates_token_count
    EXPECT_TOTAL_TOKENS      openai total_tokens | responses total_tokens |
                             gemini total_token_count          (not for anthropic)
    EXPECT_CACHED_TOKENS     anthropic cache_read_input_tokens |
                             openai prompt_tokens_details.cached_tokens |
                             responses input_tokens_details.cached_tokens |
                             gemini cached_content_token_count
    EXPECT_REASONING_TOKENS  openai completion_tokens_details.reasoning_tokens |
                             responses output_tokens_details.reasoning_tokens |
                             gemini thoughts_token_count       (not for anthropic)
(Native values from the mock: anthropic 15/10/-/5/-, openai chat and responses
20/10/30/5/2, gemini 20/8/30/5/2.)

Scenarios: anthropic-create anthropic-stream anthropic-tools anthropic-thinking
openai-chat openai-tools openai-responses gemini-generate gemini-stream
gemini-tools; extra: anthropic-error openai-error gemini-error (expect the SDK's
rate-limit error when the model contains "error-429", its bad-request error
when it contains "error-400").  ``native-check`` is not an SDK scenario: it
prints ``SKIP native-check`` and exits 0.
"""

from __future__ import annotations

import json
import os
import sys
import traceback

TIMEOUT_S = 30.0

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "City name"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city"],
}
PARIS = {"city": "Paris", "unit": "celsius"}
TOKYO = {"city": "Tokyo", "unit": "celsius"}


class Fail(Exception):
    pass


def check(cond, msg: str) -> None:
    if not cond:
        raise Fail(msg)


def check_answer(text, words: str) -> None:
    check(isinstance(text, str), f"answer is not text: {text!r}")
    check(text.startswith("Answer from "), f"answer does not start with 'Answer from ': {text!r}")
    check(words in text, f"answer does not echo the user's words {words!r}: {text!r}")


def check_weather(text) -> None:
    check(isinstance(text, str) and text.startswith("The weather is"),
          f"final answer does not start with 'The weather is': {text!r}")


def check_usage(label: str, **counts) -> None:
    """counts: role -> value, roles input/output/total/cached/reasoning.

    input and output must be > 0; every role whose EXPECT_* env var is set
    must match exactly."""
    for role in ("input", "output"):
        if role in counts:
            check(isinstance(counts[role], int) and counts[role] > 0,
                  f"{label}: {role} tokens not > 0: {counts[role]!r}")
    for role, value in counts.items():
        env = os.environ.get(f"EXPECT_{role.upper()}_TOKENS")
        if env not in (None, ""):
            check(value == int(env), f"{label}: {role} tokens {value!r} != expected {env}")


# --------------------------------------------------------------------------
# Anthropic
# --------------------------------------------------------------------------

def anthropic_client(base_url, api_key):
    import anthropic
    return anthropic.Anthropic(api_key=api_key, base_url=base_url, timeout=TIMEOUT_S, max_retries=0)


def anthropic_usage(label, usage):
    check(usage is not None, f"{label}: no usage")
    counts = {"input": usage.input_tokens, "output": usage.output_tokens}
    cached = getattr(usage, "cache_read_input_tokens", None)
    if cached is not None or os.environ.get("EXPECT_CACHED_TOKENS"):
        counts["cached"] = cached
    check_usage(label, **counts)


def text_of(message) -> str:
    return "".join(b.text for b in message.content if b.type == "text")


ANTHROPIC_TOOLS = [{
    "name": "get_weather",
    "description": "Get the current weather for a city",
    "input_schema": WEATHER_SCHEMA,
}]


def s_anthropic_create(base_url, api_key, model):
    client = anthropic_client(base_url, api_key)
    msg = client.messages.create(
        model=model,
        max_tokens=256,
        system="You are a concise assistant.",
        messages=[
            {"role": "user", "content": "Hello there"},
            {"role": "assistant", "content": "Hi! How can I help?"},
            {"role": "user", "content": "Tell me about lighthouses"},
        ],
    )
    check(msg.role == "assistant", f"role {msg.role!r}")
    check_answer(text_of(msg), "Tell me about lighthouses")
    check(msg.stop_reason == "end_turn", f"stop_reason {msg.stop_reason!r}")
    anthropic_usage("create", msg.usage)


def s_anthropic_stream(base_url, api_key, model):
    client = anthropic_client(base_url, api_key)
    deltas = []
    with client.messages.stream(
        model=model,
        max_tokens=256,
        system="You are a concise assistant.",
        messages=[{"role": "user", "content": "Stream me a story"}],
    ) as stream:
        for piece in stream.text_stream:
            deltas.append(piece)
        final = stream.get_final_message()
    check(len(deltas) >= 2, f"expected several text deltas, got {deltas!r}")
    check(text_of(final) == "".join(deltas), f"final text {text_of(final)!r} != deltas {''.join(deltas)!r}")
    check_answer(text_of(final), "Stream me a story")
    check(final.stop_reason == "end_turn", f"stop_reason {final.stop_reason!r}")
    anthropic_usage("stream", final.usage)


def s_anthropic_tools(base_url, api_key, model):
    client = anthropic_client(base_url, api_key)
    question = {"role": "user", "content": "What is the weather in Paris?"}
    first = client.messages.create(model=model, max_tokens=512, tools=ANTHROPIC_TOOLS, messages=[question])
    uses = [b for b in first.content if b.type == "tool_use"]
    check(first.stop_reason == "tool_use", f"stop_reason {first.stop_reason!r}")
    check(len(uses) == 1, f"expected one tool_use block, got {first.content!r}")
    check(uses[0].name == "get_weather", f"tool name {uses[0].name!r}")
    check(uses[0].input.get("city") == "Paris", f"tool input {uses[0].input!r}")
    check(uses[0].id, "tool_use without id")
    anthropic_usage("tools first", first.usage)

    second = client.messages.create(
        model=model, max_tokens=512, tools=ANTHROPIC_TOOLS,
        messages=[
            question,
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": uses[0].id, "content": "sunny"}]},
        ],
    )
    check_weather(text_of(second))
    check(second.stop_reason == "end_turn", f"second stop_reason {second.stop_reason!r}")
    anthropic_usage("tools second", second.usage)

    with client.messages.stream(
        model=model, max_tokens=512, tools=ANTHROPIC_TOOLS,
        messages=[{"role": "user", "content": "Weather in Paris and Tokyo, in parallel please"}],
    ) as stream:
        for _ in stream:
            pass
        final = stream.get_final_message()
    uses = [b for b in final.content if b.type == "tool_use"]
    check(final.stop_reason == "tool_use", f"streamed stop_reason {final.stop_reason!r}")
    check(len(uses) == 2, f"expected two streamed tool_use blocks, got {final.content!r}")
    check(all(u.name == "get_weather" for u in uses), f"tool names {[u.name for u in uses]!r}")
    check([u.input.get("city") for u in uses] == ["Paris", "Tokyo"], f"streamed inputs {[u.input for u in uses]!r}")
    check(len({u.id for u in uses}) == 2, f"tool_use ids not distinct: {[u.id for u in uses]!r}")
    anthropic_usage("tools stream", final.usage)


def s_anthropic_thinking(base_url, api_key, model):
    client = anthropic_client(base_url, api_key)
    thinking_deltas = []
    with client.messages.stream(
        model=model,
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 2048},
        messages=[{"role": "user", "content": "Think about prime numbers"}],
    ) as stream:
        for event in stream:
            if event.type == "thinking":
                thinking_deltas.append(event.thinking)
        final = stream.get_final_message()
    types_ = [b.type for b in final.content]
    check("thinking" in types_ and "text" in types_, f"content types {types_!r}")
    check(types_.index("thinking") < types_.index("text"), f"thinking block not before text: {types_!r}")
    block = final.content[types_.index("thinking")]
    check(block.thinking, "empty thinking text")
    check(block.thinking == "".join(thinking_deltas), f"thinking {block.thinking!r} != deltas {thinking_deltas!r}")
    # Only Anthropic signs its reasoning: through a translated route the signature is the
    # empty string (present, as the SDK's type requires), unless EXPECT_SIGNATURE names one.
    expected_signature = os.environ.get("EXPECT_SIGNATURE")
    if expected_signature is not None:
        check(block.signature == expected_signature, f"signature {block.signature!r} != {expected_signature!r}")
    else:
        check(isinstance(block.signature, str), "thinking block has no signature field")
    check_answer(text_of(final), "Think about prime numbers")
    anthropic_usage("thinking", final.usage)


def s_anthropic_error(base_url, api_key, model):
    import anthropic
    client = anthropic_client(base_url, api_key)
    expect_error(model, lambda: client.messages.create(
        model=model, max_tokens=64, messages=[{"role": "user", "content": "hi"}]),
        anthropic.RateLimitError, anthropic.BadRequestError)


# --------------------------------------------------------------------------
# OpenAI
# --------------------------------------------------------------------------

def openai_client(base_url, api_key):
    import openai
    return openai.OpenAI(api_key=api_key, base_url=base_url.rstrip("/") + "/v1", timeout=TIMEOUT_S, max_retries=0)


def openai_usage(label, usage):
    check(usage is not None, f"{label}: no usage")
    counts = {"input": usage.prompt_tokens, "output": usage.completion_tokens, "total": usage.total_tokens}
    ptd = getattr(usage, "prompt_tokens_details", None)
    ctd = getattr(usage, "completion_tokens_details", None)
    if ptd is not None or os.environ.get("EXPECT_CACHED_TOKENS"):
        counts["cached"] = getattr(ptd, "cached_tokens", None)
    if ctd is not None or os.environ.get("EXPECT_REASONING_TOKENS"):
        counts["reasoning"] = getattr(ctd, "reasoning_tokens", None)
    check_usage(label, **counts)


OPENAI_TOOLS = [{
    "type": "function",
    "function": {"name": "get_weather", "description": "Get the current weather for a city",
                 "parameters": WEATHER_SCHEMA},
}]


def s_openai_chat(base_url, api_key, model):
    client = openai_client(base_url, api_key)
    messages = [
        {"role": "system", "content": "You are a concise assistant."},
        {"role": "user", "content": "Hello there"},
        {"role": "assistant", "content": "Hi! How can I help?"},
        {"role": "user", "content": "Tell me about lighthouses"},
    ]
    resp = client.chat.completions.create(model=model, messages=messages, max_tokens=200)
    check(resp.object == "chat.completion", f"object {resp.object!r}")
    check(len(resp.choices) == 1, f"choices {resp.choices!r}")
    choice = resp.choices[0]
    check(choice.message.role == "assistant", f"role {choice.message.role!r}")
    check_answer(choice.message.content, "Tell me about lighthouses")
    check(choice.finish_reason == "stop", f"finish_reason {choice.finish_reason!r}")
    openai_usage("non-stream", resp.usage)

    # Streamed, with usage.
    chunks = list(client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Stream me a story"}], stream=True,
        stream_options={"include_usage": True}))
    check(chunks, "no chunks")
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    check(len(pieces) >= 2, f"expected several content deltas, got {pieces!r}")
    check_answer(text, "Stream me a story")
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    check(finishes == ["stop"], f"finish reasons {finishes!r}")
    last = chunks[-1]
    check(last.usage is not None, "last chunk carries no usage with include_usage")
    check(last.choices == [], f"usage chunk has choices {last.choices!r}")
    check(all(c.usage is None for c in chunks[:-1]), "usage on a chunk before the last")
    openai_usage("stream", last.usage)

    # Streamed, without usage.
    chunks = list(client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Another story"}], stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    check_answer(text, "Another story")
    check(all(c.usage is None for c in chunks), "a chunk carries usage although include_usage was not requested")


def s_openai_tools(base_url, api_key, model):
    client = openai_client(base_url, api_key)
    question = {"role": "user", "content": "Weather in Paris and Tokyo, in parallel please"}
    calls: dict[int, dict] = {}
    finish = None
    for chunk in client.chat.completions.create(model=model, messages=[question], tools=OPENAI_TOOLS, stream=True):
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        for tc in choice.delta.tool_calls or []:
            slot = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": "", "fragments": 0})
            if tc.id:
                slot["id"] = tc.id
            if tc.function is not None:
                if tc.function.name:
                    slot["name"] += tc.function.name
                if tc.function.arguments:
                    slot["arguments"] += tc.function.arguments
                    slot["fragments"] += 1
        finish = choice.finish_reason or finish
    check(finish == "tool_calls", f"finish_reason {finish!r}")
    check(sorted(calls) == [0, 1], f"tool call indexes {sorted(calls)!r}")
    ordered = [calls[0], calls[1]]
    for slot in ordered:
        check(slot["id"], f"tool call without id: {slot!r}")
        check(slot["name"] == "get_weather", f"tool name {slot['name']!r}")
    check(len({s["id"] for s in ordered}) == 2, "tool call ids not distinct")
    args = [json.loads(s["arguments"]) for s in ordered]
    check(args[0].get("city") == "Paris" and args[1].get("city") == "Tokyo", f"arguments {args!r}")
    check(args == [PARIS, TOKYO], f"arguments {args!r} != {[PARIS, TOKYO]!r}")

    messages = [
        question,
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": s["id"], "type": "function", "function": {"name": s["name"], "arguments": s["arguments"]}}
            for s in ordered]},
        {"role": "tool", "tool_call_id": ordered[0]["id"], "content": "sunny"},
        {"role": "tool", "tool_call_id": ordered[1]["id"], "content": "rainy"},
    ]
    resp = client.chat.completions.create(model=model, messages=messages, tools=OPENAI_TOOLS)
    check(resp.choices[0].finish_reason == "stop", f"final finish_reason {resp.choices[0].finish_reason!r}")
    check(not resp.choices[0].message.tool_calls, f"unexpected tool calls {resp.choices[0].message.tool_calls!r}")
    check_weather(resp.choices[0].message.content)
    openai_usage("tools final", resp.usage)


def responses_usage(label, usage):
    check(usage is not None, f"{label}: no usage")
    counts = {"input": usage.input_tokens, "output": usage.output_tokens, "total": usage.total_tokens}
    itd = getattr(usage, "input_tokens_details", None)
    otd = getattr(usage, "output_tokens_details", None)
    if itd is not None or os.environ.get("EXPECT_CACHED_TOKENS"):
        counts["cached"] = getattr(itd, "cached_tokens", None)
    if otd is not None or os.environ.get("EXPECT_REASONING_TOKENS"):
        counts["reasoning"] = getattr(otd, "reasoning_tokens", None)
    check_usage(label, **counts)


RESPONSES_TOOLS = [{
    "type": "function", "name": "get_weather", "description": "Get the current weather for a city",
    "parameters": WEATHER_SCHEMA, "strict": False,
}]


def s_openai_responses(base_url, api_key, model):
    client = openai_client(base_url, api_key)

    # Non-stream text.
    resp = client.responses.create(model=model, input="Tell me about lighthouses",
                                   instructions="You are a concise assistant.")
    check(resp.status == "completed", f"status {resp.status!r}")
    check_answer(resp.output_text, "Tell me about lighthouses")
    responses_usage("non-stream", resp.usage)

    # Streamed text.
    types_ = []
    deltas = []
    completed = None
    for event in client.responses.create(model=model, input="Stream me a story",
                                         instructions="You are a concise assistant.", stream=True):
        types_.append(event.type)
        if event.type == "response.output_text.delta":
            deltas.append(event.delta)
        elif event.type == "response.completed":
            completed = event.response
    for needed in ("response.created", "response.output_text.delta", "response.completed"):
        check(needed in types_, f"event {needed} missing from {types_!r}")
    check(types_[0] == "response.created" and types_[-1] == "response.completed", f"event order {types_!r}")
    check(len(deltas) >= 2, f"expected several text deltas, got {deltas!r}")
    check_answer("".join(deltas), "Stream me a story")
    check(completed.output_text == "".join(deltas), f"completed text {completed.output_text!r} != deltas")
    responses_usage("stream", completed.usage)

    # Same through the stream() helper (exercises the SDK's event accumulator).
    with client.responses.stream(model=model, input="Helper stream story") as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    check_answer(final.output_text, "Helper stream story")
    responses_usage("stream helper", final.usage)

    # Tools, non-stream round trip.
    question = {"role": "user", "content": "What is the weather in Paris?"}
    first = client.responses.create(model=model, input=[question], tools=RESPONSES_TOOLS)
    fcalls = [o for o in first.output if o.type == "function_call"]
    check(len(fcalls) == 1, f"expected one function_call item, got {first.output!r}")
    fc = fcalls[0]
    check(fc.name == "get_weather", f"function name {fc.name!r}")
    check(json.loads(fc.arguments).get("city") == "Paris", f"arguments {fc.arguments!r}")
    check(fc.call_id, "function_call without call_id")
    responses_usage("tools first", first.usage)
    second = client.responses.create(model=model, tools=RESPONSES_TOOLS, input=[
        question,
        {"type": "function_call", "call_id": fc.call_id, "name": fc.name, "arguments": fc.arguments},
        {"type": "function_call_output", "call_id": fc.call_id, "output": "sunny"},
    ])
    check_weather(second.output_text)
    responses_usage("tools second", second.usage)

    # Tools, streamed: argument deltas must join to valid JSON.
    arg_deltas: dict[str, list[str]] = {}
    done_args: dict[str, str] = {}
    completed = None
    for event in client.responses.create(model=model, input=[question], tools=RESPONSES_TOOLS, stream=True):
        if event.type == "response.function_call_arguments.delta":
            arg_deltas.setdefault(event.item_id, []).append(event.delta)
        elif event.type == "response.function_call_arguments.done":
            done_args[event.item_id] = event.arguments
        elif event.type == "response.completed":
            completed = event.response
    check(len(arg_deltas) == 1, f"expected argument deltas for one call, got {arg_deltas!r}")
    (item_id, pieces), = arg_deltas.items()
    # Gemini upstreams give a call whole (one fragment); the others stream it in pieces.
    check(len(pieces) >= (1 if "gemini" in model else 2), f"arguments not streamed in fragments: {pieces!r}")
    joined = "".join(pieces)
    check(json.loads(joined).get("city") == "Paris", f"streamed arguments {joined!r}")
    if item_id in done_args:
        check(done_args[item_id] == joined, f"done arguments {done_args[item_id]!r} != joined {joined!r}")
    check(completed is not None, "no response.completed")
    fcalls = [o for o in completed.output if o.type == "function_call"]
    check(len(fcalls) == 1 and json.loads(fcalls[0].arguments) == json.loads(joined),
          f"completed function_call {fcalls!r}")
    responses_usage("tools stream", completed.usage)


def s_openai_error(base_url, api_key, model):
    import openai
    client = openai_client(base_url, api_key)
    expect_error(model, lambda: client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi"}]),
        openai.RateLimitError, openai.BadRequestError)


# --------------------------------------------------------------------------
# Gemini
# --------------------------------------------------------------------------

def gemini_client(base_url, api_key):
    from google import genai
    from google.genai import types
    return genai.Client(api_key=api_key, http_options=types.HttpOptions(
        base_url=base_url, api_version="v1beta", timeout=int(TIMEOUT_S * 1000),
        retry_options=types.HttpRetryOptions(attempts=1)))


def gemini_usage(label, um):
    check(um is not None, f"{label}: no usage_metadata")
    counts = {"input": um.prompt_token_count, "output": um.candidates_token_count, "total": um.total_token_count}
    if um.cached_content_token_count is not None or os.environ.get("EXPECT_CACHED_TOKENS"):
        counts["cached"] = um.cached_content_token_count
    if um.thoughts_token_count is not None or os.environ.get("EXPECT_REASONING_TOKENS"):
        counts["reasoning"] = um.thoughts_token_count
    check_usage(label, **counts)


def s_gemini_generate(base_url, api_key, model):
    from google.genai import types
    client = gemini_client(base_url, api_key)
    resp = client.models.generate_content(
        model=model,
        contents=[
            types.Content(role="user", parts=[types.Part(text="Hello there")]),
            types.Content(role="model", parts=[types.Part(text="Hi! How can I help?")]),
            types.Content(role="user", parts=[types.Part(text="Tell me about lighthouses")]),
        ],
        config=types.GenerateContentConfig(system_instruction="You are a concise assistant.",
                                           temperature=0.2, max_output_tokens=200),
    )
    check_answer(resp.text, "Tell me about lighthouses")
    check(resp.candidates and resp.candidates[0].finish_reason == types.FinishReason.STOP,
          f"finish_reason {resp.candidates and resp.candidates[0].finish_reason!r}")
    check(resp.usage_metadata is not None and (resp.usage_metadata.prompt_token_count or 0) > 0,
          f"usage_metadata {resp.usage_metadata!r}")
    gemini_usage("generate", resp.usage_metadata)


def s_gemini_stream(base_url, api_key, model):
    from google.genai import types
    client = gemini_client(base_url, api_key)
    chunks = list(client.models.generate_content_stream(
        model=model, contents="Stream me a story",
        config=types.GenerateContentConfig(system_instruction="You are a concise assistant.",
                                           max_output_tokens=200)))
    check(len(chunks) >= 2, f"expected several chunks, got {len(chunks)}")
    text = "".join(c.text or "" for c in chunks)
    check_answer(text, "Stream me a story")
    last = chunks[-1]
    check(last.candidates and last.candidates[0].finish_reason == types.FinishReason.STOP,
          f"last chunk finish_reason {last.candidates and last.candidates[0].finish_reason!r}")
    gemini_usage("stream final chunk", last.usage_metadata)


def s_gemini_tools(base_url, api_key, model):
    from google.genai import types
    client = gemini_client(base_url, api_key)
    decl = types.FunctionDeclaration(name="get_weather", description="Get the current weather for a city",
                                     parameters=WEATHER_SCHEMA)
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[decl])],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    question = types.Content(role="user", parts=[types.Part(text="What is the weather in Paris?")])
    first = client.models.generate_content(model=model, contents=[question], config=config)
    fcs = first.function_calls
    check(fcs and len(fcs) == 1, f"expected one function call, got {fcs!r}")
    check(fcs[0].name == "get_weather", f"function name {fcs[0].name!r}")
    check(dict(fcs[0].args or {}).get("city") == "Paris", f"function args {fcs[0].args!r}")
    gemini_usage("tools first", first.usage_metadata)

    second = client.models.generate_content(model=model, config=config, contents=[
        question,
        first.candidates[0].content,  # keeps the functionCall part (and any thoughtSignature)
        types.Content(role="user", parts=[types.Part.from_function_response(
            name=fcs[0].name, response={"result": "sunny"})]),
    ])
    check(not second.function_calls, f"unexpected function calls {second.function_calls!r}")
    check_weather(second.text)
    gemini_usage("tools second", second.usage_metadata)


def s_gemini_error(base_url, api_key, model):
    from google.genai import errors
    client = gemini_client(base_url, api_key)

    def call():
        client.models.generate_content(model=model, contents="hi")

    try:
        call()
    except errors.ClientError as err:
        want = 429 if "error-429" in model else 400 if "error-400" in model else None
        check(want is not None, f"unexpected error {err!r}")
        check(err.code == want, f"status {err.code} != {want}")
        check(err.status == ("RESOURCE_EXHAUSTED" if want == 429 else "INVALID_ARGUMENT"), f"status {err.status!r}")
        return
    raise Fail("no error raised; the model name must contain error-429 or error-400")


def expect_error(model, call, rate_cls, bad_cls):
    if "error-429" in model:
        want = rate_cls
    elif "error-400" in model:
        want = bad_cls
    else:
        raise Fail("the model name must contain error-429 or error-400")
    try:
        call()
    except want as err:
        check(err.status_code == (429 if want is rate_cls else 400), f"status {err.status_code}")
        if want is rate_cls:
            check(err.response.headers.get("retry-after") == "1",
                  f"retry-after {err.response.headers.get('retry-after')!r}")
        return
    raise Fail(f"expected {want.__name__}")


# --------------------------------------------------------------------------

SCENARIOS = {
    "anthropic-create": s_anthropic_create,
    "anthropic-stream": s_anthropic_stream,
    "anthropic-tools": s_anthropic_tools,
    "anthropic-thinking": s_anthropic_thinking,
    "anthropic-error": s_anthropic_error,
    "openai-chat": s_openai_chat,
    "openai-tools": s_openai_tools,
    "openai-responses": s_openai_responses,
    "openai-error": s_openai_error,
    "gemini-generate": s_gemini_generate,
    "gemini-stream": s_gemini_stream,
    "gemini-tools": s_gemini_tools,
    "gemini-error": s_gemini_error,
}


def main(argv) -> int:
    """``<scenario>[,<scenario>…] <base_url> <api_key> <model>[,<model>…]``: every scenario
    against every model, in one process (the SDKs take a second to import); all failures
    are reported, then the exit status is 1 if any failed."""
    if len(argv) >= 2 and argv[1] == "native-check":
        print("SKIP native-check")
        return 0
    scenarios = argv[1].split(",") if len(argv) == 5 else []
    if not scenarios or any(s not in SCENARIOS for s in scenarios):
        print(f"usage: {argv[0]} <scenario>[,<scenario>...] <base_url> <api_key> <model>[,<model>...]\nscenarios: "
              + " ".join(SCENARIOS), file=sys.stderr)
        return 2
    base_url, api_key = argv[2], argv[3]
    failed = 0
    for model in argv[4].split(","):
        for scenario in scenarios:
            try:
                SCENARIOS[scenario](base_url, api_key, model)
            except Fail as err:
                print(f"FAIL {scenario} ({model}): {err}")
                failed += 1
                continue
            except Exception as err:  # SDK errors, JSON errors, attribute errors...
                print(f"FAIL {scenario} ({model}): {type(err).__name__}: {err}")
                traceback.print_exc(file=sys.stdout)
                failed += 1
                continue
            print(f"OK {scenario} ({model})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
