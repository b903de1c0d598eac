"""Screenshots of the dashboard over a store, for the README.

    python scripts/dashboard_screenshots.py --store tunelab.db --study digits-mlp-hyperband \\
        --out docs/img/dashboard

Serves the dashboard on a free loopback port, opens the studies page and the study's
tabs in headless Chromium (/usr/bin/chromium) and saves one PNG per view.
"""

from __future__ import annotations

import argparse
import socket
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright

from tunelab.dashboard import create_app

VIEWS = {
    "studies": "#/",
    "trials": "#/study/{study}",
    "curves": "#/study/{study}?tab=curves",
    "rungs": "#/study/{study}?tab=rungs",
    "parallel": "#/study/{study}?tab=parallel",
    "importance": "#/study/{study}?tab=importance",
    "trial": "#/study/{study}/trial/{trial}",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default="tunelab.db")
    parser.add_argument("--study", required=True)
    parser.add_argument("--trial", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("docs/img/dashboard"))
    args = parser.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(args.store), host="127.0.0.1",
                                           port=port, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1280, "height": 820})
        for name, route in VIEWS.items():
            page.goto(f"http://127.0.0.1:{port}/" + route.format(study=args.study,
                                                                 trial=args.trial))
            page.wait_for_timeout(2500)  # plots drawn, the first poll done
            path = args.out / f"{name}.png"
            page.screenshot(path=str(path))
            print(f"wrote {path}")
        browser.close()
    server.should_exit = True


if __name__ == "__main__":
    main()
