-- wrk script: a realistic non-streaming chat request. Counts every answer that is not a 200
-- carrying a chat completion, so a fast error can never pass for speed.
wrk.method = "POST"
local model = os.getenv("BENCH_MODEL")
if not model or model == "" then model = "gpt-4o-mini" end
-- BENCH_DIALECT=anthropic: the same request as an Anthropic Messages client sends it (the
-- translated scenario: the gateway maps it to the OpenAI-type upstream and the answer back).
local dialect = os.getenv("BENCH_DIALECT")
local marker = '"chat.completion"'
if dialect == "anthropic" then
  wrk.body = '{"model":"' .. model .. '","max_tokens":64,"system":"You are a helpful assistant.","messages":[{"role":"user","content":"Say hello to the benchmark."}],"temperature":0.2}'
  marker = '"type":"message"'
else
  wrk.body = '{"model":"' .. model .. '","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Say hello to the benchmark."}],"temperature":0.2}'
end
wrk.headers["Content-Type"] = "application/json"
local key = os.getenv("BENCH_CLIENT_KEY")
if key and key ~= "" then wrk.headers["Authorization"] = "Bearer " .. key end

local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0 end
function response(status, headers, body)
  if status ~= 200 or not string.find(body, marker, 1, true) then bad = bad + 1 end
end
function done(summary, latency, requests)
  local b = 0
  for _, t in ipairs(threads) do b = b + t:get("bad") end
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"socket_errors":%d,"bad":%d,"p50_us":%.1f,"p99_us":%.1f,"p999_us":%.1f,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, b + e.status,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.mean))
end
