"""Render a static HTML page in headless Chromium (Debian's ``chromium``) and report which images loaded."""
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run")
CHECK = """<script>window.addEventListener("load", () => {
  const bad = [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute("src"));
  document.body.setAttribute("data-check", JSON.stringify({images: document.images.length, broken: bad,
    tables: document.querySelectorAll("table").length}));
});</script>"""


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def render(page: Path, workdir: Path) -> dict:
    """{"images": n, "broken": [src, ...], "tables": n} after Chromium loaded ``page`` (a copy with a checking
    script and a <base> pointing at the page's folder is rendered, so the report itself is left as it is)."""
    page, workdir = page.resolve(), workdir.resolve()
    text = page.read_text()
    text = text.replace("<head>", f'<head><base href="{page.parent.as_uri()}/">', 1).replace("</body>", CHECK + "</body>", 1)
    copy = workdir / "check.html"
    copy.write_text(text)
    out = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={workdir / 'profile'}", "--virtual-time-budget=20000",
                          "--dump-dom", copy.as_uri()], capture_output=True, text=True, timeout=120)
    found = re.search(r'data-check="([^"]*)"', out.stdout)
    assert found, f"chromium rendered no check result (rc {out.returncode}): {out.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1)))
