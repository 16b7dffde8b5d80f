#!/usr/bin/env python3
"""The admin UI in a real browser: headless Chromium, driven over the DevTools protocol on
a pipe (no extra packages). Signs in, creates a key, uses it through the gateway, finds the
request in analytics, revokes the key. Saves a screenshot of each step and fails on any
JavaScript error.

usage: admin_flow.py GATEWAY_URL ADMIN_USER ADMIN_PASSWORD ARTIFACTS_DIR
"""
import base64, json, os, shutil, subprocess, sys, tempfile, time, urllib.error, urllib.request

GATEWAY, USER, PASSWORD, ARTIFACTS = sys.argv[1:5]
os.makedirs(ARTIFACTS, exist_ok=True)


class Browser:
    def __init__(self):
        binary = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
        if not binary:
            sys.exit("browser test: chromium not found; install Debian's chromium package (scripts/test does)")
        self.profile = tempfile.mkdtemp(prefix="llmproxy-chromium-")
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()
        # Chromium reads commands on fd 3 and writes replies on fd 4.
        def child_fds():
            # dup2 onto itself keeps close-on-exec: make both inheritable explicitly.
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)
        self.process = subprocess.Popen(
            [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--remote-debugging-pipe", f"--user-data-dir={self.profile}", "--window-size=1280,900", "about:blank"],
            # close_fds would close 3 and 4 again after the dup2s.
            preexec_fn=child_fds, close_fds=False, stdout=subprocess.DEVNULL, stderr=open(os.path.join(ARTIFACTS, "chromium.log"), "w"))
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.buffer = b""
        self.next_id = 0
        self.events = []
        self.session = None
        target = self.call("Target.createTarget", {"url": "about:blank"}, browser=True)["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True}, browser=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def send(self, message):
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")

    def receive(self, deadline):
        while b"\0" not in self.buffer:
            if time.time() > deadline:
                raise TimeoutError("the browser stopped answering")
            chunk = os.read(self.from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("the browser exited")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method, params=None, browser=False, timeout=30):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if self.session and not browser:
            message["sessionId"] = self.session
        self.send(message)
        deadline = time.time() + timeout
        while True:
            reply = self.receive(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluating {expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression, what, timeout=15, poke=None):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if self.evaluate(expression):
                    return
            except RuntimeError:
                pass  # the page is still loading
            if poke:
                self.evaluate(poke)
            time.sleep(0.2)
        self.screenshot("failed")
        raise TimeoutError(f"timed out waiting for {what}")

    def screenshot(self, name):
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        with open(os.path.join(ARTIFACTS, f"{name}.png"), "wb") as file:
            file.write(base64.b64decode(data))

    def errors(self):
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(params["exceptionDetails"].get("exception", {}).get("description") or params["exceptionDetails"].get("text"))
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                found.append(" ".join(str(arg.get("value", arg.get("description"))) for arg in params.get("args", [])))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                text = params["entry"].get("text", "")
                # Expected: the 401 of the page's check for a session, and the /favicon.ico
                # headless Chromium asks for on its own (the page links its icon).
                url = params["entry"].get("url", "")
                if "401" not in text and not url.endswith("/favicon.ico"):
                    found.append(f"{text} ({params['entry'].get('url', '')})")
        return found

    def close(self):
        try:
            self.call("Browser.close", browser=True, timeout=5)
        except Exception:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


def chat(key):
    request = urllib.request.Request(f"{GATEWAY}/v1/chat/completions",
                                     data=json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}).encode(),
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def js(text):
    return json.dumps(text)


browser = Browser()
try:
    browser.call("Page.navigate", {"url": f"{GATEWAY}/admin"})
    browser.wait_for("!document.getElementById('login').classList.contains('hidden')", "the sign-in form")
    browser.evaluate(f"document.getElementById('login-user').value = {js(USER)}; document.getElementById('login-password').value = {js(PASSWORD)}; true")
    browser.screenshot("1-sign-in")
    browser.evaluate("document.getElementById('login-submit').click(); true")
    browser.wait_for("!document.getElementById('app').classList.contains('hidden')", "the signed-in app")

    browser.evaluate("document.querySelector('details.limits').open = true; document.getElementById('create-rpm').value = '600'; "
                     "document.getElementById('create-cost-budget').value = '5'; document.getElementById('create-budget-period').value = 'month'; true")
    browser.evaluate("document.getElementById('create-user').value = 'browser-user'; document.getElementById('create-name').value = 'e2e'; document.getElementById('create-submit').click(); true")
    browser.wait_for("!document.getElementById('new-key').classList.contains('hidden')", "the new key")
    key = browser.evaluate("document.getElementById('new-key-value').textContent")
    assert key.startswith("sk-") and len(key) == 67, f"unexpected key {key!r}"
    browser.wait_for("document.querySelectorAll('#keys-body tr').length > 0", "the key in the list")
    browser.evaluate("document.getElementById('copy-key').click(); true")
    limits = browser.evaluate("document.querySelector('#keys-body tr td:nth-child(4)').textContent")
    assert "600 req/min" in limits and "$5.00 per month" in limits, f"the key list shows limits {limits!r}"
    browser.screenshot("2-key-created")

    status = chat(key)
    assert status == 200, f"the new key got {status} from the gateway"

    browser.evaluate("document.getElementById('tab-analytics').click(); true")
    # Events are written in batches: ask again until the request shows up, in the list and in
    # the summary (two requests per load, which may each read before or after the write).
    browser.wait_for("document.querySelectorAll('#records-body tr').length > 0 && !['–', '0'].includes(document.getElementById('stat-requests').textContent)",
                     "the request in analytics", timeout=20, poke="document.getElementById('analytics-load').click()")
    requests = browser.evaluate("document.getElementById('stat-requests').textContent")
    assert requests not in ("–", "0"), f"summary shows {requests!r} requests"
    tokens = browser.evaluate("document.getElementById('stat-tokens').textContent")
    assert tokens not in ("–", "0"), f"summary shows {tokens!r} tokens"
    browser.wait_for("document.querySelectorAll('#chart rect.bar').length > 0", "the chart")
    browser.screenshot("3-analytics")

    browser.evaluate("document.getElementById('tab-upstreams').click(); true")
    browser.wait_for("document.querySelectorAll('#upstreams-body tr').length > 0", "the upstream list")
    browser.wait_for("document.querySelector('#upstreams-body tr').textContent.includes('closed')", "the breaker state in the upstream list")
    browser.screenshot("4-upstreams")

    # Twenty-odd probes from this address put it on the block list; the Blocks tab lifts it.
    for path in ["/.env", "/.git/config", "/wp-login.php", "/phpmyadmin/index.php", "/xmlrpc.php", "/admin.php", "/cgi-bin/test"] * 4:
        try:
            urllib.request.urlopen(GATEWAY + path, timeout=10).close()
        except urllib.error.HTTPError:
            pass
    assert chat(key) == 403, "the probing address was not blocked"
    browser.evaluate("document.getElementById('tab-blocks').click(); true")
    browser.wait_for("document.querySelector('#blocks-body tr[data-block=\"127.0.0.1\"]') !== null", "the block in the list",
                     timeout=20, poke="document.getElementById('blocks-refresh').click()")
    browser.screenshot("4b-blocks")
    browser.evaluate("document.querySelector('#blocks-body button[data-lift]').click(); true")
    browser.wait_for("document.querySelector('#blocks-body tr[data-block=\"127.0.0.1\"]') === null", "the lifted block to go")
    status = chat(key)
    assert status == 200, f"after the lift the key got {status}"

    browser.evaluate("document.getElementById('tab-keys').click(); true")
    browser.wait_for("(document.querySelector('#keys-body td[data-spend]') || {}).textContent?.includes('$')", "the key's spend",
                     timeout=20, poke="document.getElementById('tab-keys').click()")
    spend = browser.evaluate("document.querySelector('#keys-body td[data-spend]').textContent")
    assert "tokens" in spend and float(spend.split("$")[1]) > 0, f"the key's spend shows {spend!r}"
    browser.wait_for("document.querySelector('#keys-body button[data-revoke]') !== null", "the revoke button")
    browser.evaluate("document.getElementById('key-search').value = 'browser'; document.getElementById('key-search').dispatchEvent(new Event('input')); document.querySelector('#keys-body button[data-revoke]').click(); true")
    browser.wait_for("!document.getElementById('confirm').classList.contains('hidden')", "the confirmation")
    browser.screenshot("5-confirm-revoke")
    browser.evaluate("document.getElementById('confirm-ok').click(); true")
    browser.wait_for("[...document.querySelectorAll('#keys-body .badge')].some(b => b.textContent === 'revoked')", "the revoked badge")
    browser.screenshot("6-revoked")

    status = chat(key)
    assert status == 401, f"the revoked key got {status} from the gateway"

    errors = browser.errors()
    assert not errors, f"JavaScript errors: {errors}"
    print(f"browser test passed; screenshots in {ARTIFACTS}")
finally:
    browser.close()
