"""A picture of the web page: a real run served on loopback, two photos compared in Debian's
Chromium (Playwright), the page saved as a PNG. Not for the repository, which holds no images
of the data (README).

    python experiments/screenshot_service.py RUN PHOTO1 PHOTO2 --out service.png
"""

from __future__ import annotations

import argparse
import socket
import threading
import time

import uvicorn
from playwright.sync_api import sync_playwright

from siamese_faces.evaluation.runs import load_run
from siamese_faces.serving.app import create_app


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("photo1")
    ap.add_argument("photo2")
    ap.add_argument("--out", default="service.png")
    args = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(load_run(args.run).use_alignment("auto"))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 900, "height": 760})
        page.goto(f"http://127.0.0.1:{port}/")
        page.set_input_files("#image1", args.photo1)
        page.set_input_files("#image2", args.photo2)
        page.click("#verify-go")
        page.wait_for_selector("#verify-result .faces img")
        page.screenshot(path=args.out, full_page=True)
        browser.close()
    server.should_exit = True
    print(args.out)


if __name__ == "__main__":
    main()
