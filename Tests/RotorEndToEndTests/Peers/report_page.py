#!/usr/bin/env python3
"""Checks a `rotor report --html` page with tools that share no code with rotor.

  report_page.py parse PAGE
      html5lib in strict mode (any parse error fails), then: no element that fetches
      (img, link, iframe, object, embed, base, audio, video, source), no URL attribute but
      a same-page '#' link, one <style> and one <script> whose sha256 the page's
      Content-Security-Policy names. Prints what the page says as JSON.

  report_page.py browse PAGE SCREENSHOT [FRAGMENT]
      Loads the page from its file in headless Chromium, every request routed through a
      proxy on loopback that records it (loopback included), and prints the DOM after the
      page's script ran, as JSON, with the requests seen; saves a screenshot.

Exit 1 with a message on stderr when the page breaks a rule."""
import base64
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading

import html5lib

XHTML = "{http://www.w3.org/1999/xhtml}"
SVG = "{http://www.w3.org/2000/svg}"
FETCHING = {"img", "link", "iframe", "object", "embed", "base", "audio", "video", "source", "track", "frame", "input[type=image]"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "poster", "data", "srcset", "background", "ping", "xlink:href",
                  "{http://www.w3.org/1999/xlink}href", "manifest", "cite", "longdesc"}


def fail(message):
    print("report_page.py: " + message, file=sys.stderr)
    sys.exit(1)


def local(tag):
    return tag.split("}", 1)[1] if tag.startswith("{") else tag


def text(element):
    return "".join(element.itertext())


def classes(element):
    return (element.get("class") or "").split()


def describe(document):
    """What the page says, read from its DOM."""
    elements = list(document.iter())
    by_id = {e.get("id"): e for e in elements if e.get("id")}
    key_rows = [e for e in elements if local(e.tag) == "tr" and "key-row" in classes(e)]
    sections = [e for e in elements if local(e.tag) == "details" and "key" in classes(e)]
    runs = [e for e in elements if local(e.tag) == "details" and "run" in classes(e)]
    targets = []
    for section in sections:
        for row in section.iter(XHTML + "tr"):
            if "target" in classes(row):
                cells = [text(c).strip() for c in row if local(c.tag) == "td"]
                targets.append({"key": section.get("data-key"), "consumer": cells[0], "target": cells[1], "state": row.get("data-state")})
    graph = by_id.get("graph")
    return {
        "title": text(next(e for e in elements if local(e.tag) == "title")),
        "keys": [row.get("data-key") for row in key_rows],
        "overdue": [row.get("data-key") for row in key_rows if "overdue" in classes(row)],
        "hidden_keys": [row.get("data-key") for row in key_rows if row.get("hidden") is not None],
        "sections": [s.get("data-key") for s in sections],
        "open_sections": [s.get("data-key") for s in sections if s.get("open") is not None],
        "targets": targets,
        "summary": {name: text(by_id["summary-" + name]).strip() for name in ["keys", "overdue", "drifted", "pending", "audit"] if "summary-" + name in by_id},
        "audit_state": text(by_id["audit-state"]).strip() if "audit-state" in by_id else None,
        "audit_head": text(by_id["audit-head"]).strip() if "audit-head" in by_id else None,
        "runs_note": text(by_id["runs-note"]).strip() if "runs-note" in by_id else None,
        "sources": text(by_id["sources"]).strip() if "sources" in by_id else None,
        "unfinished": text(by_id["summary-unfinished"]).strip() if "summary-unfinished" in by_id else None,
        "runs": [{"text": " ".join(text(r.find(XHTML + "summary")).split()), "break_glass": "breakglass" in classes(r),
                  "hidden": r.get("hidden") is not None} for r in runs],
        "break_glass_rows": len([e for e in elements if local(e.tag) == "tr" and "breakglass" in classes(e)]),
        "graph_nodes": [text(t) for t in graph.iter(SVG + "text")] if graph is not None else [],
        "filter_visible": "filter" in by_id and by_id["filter"].get("hidden") is None,
        "filter_count": text(by_id["filter-count"]).strip() if "filter-count" in by_id else None,
        "scripts": len([e for e in elements if local(e.tag) == "script"]),
        "text": " ".join(text(document).split()),
    }


def parse(path):
    raw = open(path, "rb").read()
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=True)
    try:
        document = parser.parse(raw)
    except Exception as error:  # html5lib's ParseError: strict mode stops at the first error
        fail(f"{path} is not valid HTML: {error} {parser.errors[:3]}")
    for element in document.iter():
        if not isinstance(element.tag, str):
            continue
        name = local(element.tag)
        if name in FETCHING or (name == "input" and element.get("type") == "image"):
            fail(f"<{name}> would fetch something")
        for attribute, value in element.attrib.items():
            bare = local(attribute)
            if bare.startswith("on"):
                fail(f"<{name}> has an event handler attribute {bare}")
            if attribute in URL_ATTRIBUTES or bare in URL_ATTRIBUTES:
                if not value.startswith("#"):
                    fail(f"<{name} {bare}={value!r}> points off the page")
            if bare == "style":
                fail(f"<{name}> has a style attribute (the CSP allows only the hashed <style>)")
    styles = [e for e in document.iter() if local(e.tag) == "style"]
    scripts = [e for e in document.iter() if local(e.tag) == "script"]
    if len(styles) != 1 or len(scripts) != 1:
        fail(f"expected one <style> and one <script>, found {len(styles)} and {len(scripts)}")
    csp = [e.get("content") for e in document.iter() if local(e.tag) == "meta" and (e.get("http-equiv") or "").lower() == "content-security-policy"]
    if len(csp) != 1:
        fail("no Content-Security-Policy")
    policy = csp[0]
    if "default-src 'none'" not in policy:
        fail(f"the policy allows fetching: {policy}")
    for element, directive in [(styles[0], "style-src"), (scripts[0], "script-src")]:
        digest = base64.b64encode(hashlib.sha256(text(element).encode()).digest()).decode()
        if f"{directive} 'sha256-{digest}'" not in policy:
            fail(f"{directive} does not name the page's own block (sha256-{digest}): {policy}")
    described = describe(document)
    described["bytes"] = len(raw)
    print(json.dumps(described))


class Recorder:
    """A proxy that answers nothing: it records the first line of every request sent through it."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        self.requests = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            connection.settimeout(2)
            try:
                line = connection.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
            except OSError:
                line = "(nothing read)"
            self.requests.append(line)
            connection.close()


# Chromium's own services, which it calls whatever page it shows (component updates, its
# clock, sign-in) and which no flag silences in headless mode: not the page's requests.
BROWSER_OWN = re.compile(r"^(CONNECT (update\.googleapis\.com|accounts\.google\.com|clients2\.google\.com):443 |"
                         r"(GET|POST) http://(update\.googleapis\.com|clients2\.google\.com)/(service/update2|time/1)/)")


def chromium():
    for name in ["chromium", "chromium-browser", "google-chrome"]:
        if shutil.which(name):
            return shutil.which(name)
    fail("no chromium on PATH (Debian: apt-get install chromium)")


def browse(path, screenshot, fragment=""):
    recorder = Recorder()
    profile = tempfile.mkdtemp(prefix="rotor-chromium-")
    url = "file://" + os.path.abspath(path) + fragment
    common = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--user-data-dir=" + profile,
              f"--proxy-server=http://127.0.0.1:{recorder.port}", "--proxy-bypass-list=<-loopback>",
              "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
              "--no-pings", "--disable-default-apps", "--disable-domain-reliability", "--disable-client-side-phishing-detection",
              "--disable-features=OptimizationHints,MediaRouter,Translate,AutofillServerCommunication,NetworkTimeServiceQuerying",
              "--virtual-time-budget=2000"]
    try:
        dom = subprocess.run(common + ["--dump-dom", url], capture_output=True, timeout=120)
        if dom.returncode != 0 or not dom.stdout:
            fail(f"chromium --dump-dom exited {dom.returncode}: {dom.stderr.decode(errors='replace')[-800:]}")
        shot = subprocess.run(common + ["--window-size=1280,1600", "--screenshot=" + os.path.abspath(screenshot), url],
                              capture_output=True, timeout=120)
        if shot.returncode != 0 or not os.path.exists(screenshot):
            fail(f"chromium --screenshot exited {shot.returncode}: {shot.stderr.decode(errors='replace')[-800:]}")
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    document = html5lib.HTMLParser(namespaceHTMLElements=True).parse(dom.stdout)
    described = describe(document)
    described["requests"] = [line for line in recorder.requests if not BROWSER_OWN.match(line)]
    described["browser_own_requests"] = len(recorder.requests) - len(described["requests"])
    described["screenshot_png"] = open(screenshot, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    print(json.dumps(described))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "parse":
        parse(sys.argv[2])
    elif len(sys.argv) in (4, 5) and sys.argv[1] == "browse":
        browse(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) == 5 else "")
    else:
        fail("usage: report_page.py parse PAGE | browse PAGE SCREENSHOT [#FRAGMENT]")
