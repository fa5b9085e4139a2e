"""The web page in a real browser (Debian's Chromium driven by Playwright): verify two photos;
enroll a person, then identify a photo."""

import socket
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("playwright", reason="browser tests need playwright (in [test])")
CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        f"no Chromium at {CHROMIUM}: .ci/run installs Debian's chromium package",
        allow_module_level=True,
    )

import uvicorn  # noqa: E402
from playwright.sync_api import expect, sync_playwright  # noqa: E402

from siamese_faces.evaluation.runs import load_run  # noqa: E402
from siamese_faces.serving.app import create_app  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def service(run_dir, tmp_path):
    port = free_port()
    app = create_app(load_run(run_dir[0]), tmp_path / "gallery")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/", run_dir[1]
    server.should_exit = True
    thread.join(10)


def test_verify_then_enroll_and_identify_in_a_browser(service, tmp_path):
    url, data = service
    photo = lambda n, k=1: str(data / "lfw2" / n / f"{n}_{k:04d}.jpg")  # noqa: E731
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(url)
        page.set_input_files("#image1", photo("Gus_G", 1))
        page.set_input_files("#image2", photo("Gus_G", 2))
        page.click("#verify-go")
        verdict = page.locator("#verify-result .verdict")
        expect(verdict).to_be_visible()
        assert verdict.inner_text() in ("SAME person", "DIFFERENT people")
        expect(page.locator("#verify-result")).to_contain_text("threshold")
        assert page.locator("#verify-result .faces img").count() == 2

        page.click("#tab-identify")
        page.fill("#enroll-name", "Alice_A")
        page.set_input_files("#enroll-images", [photo("Alice_A", 1), photo("Alice_A", 2)])
        page.click("#enroll-go")
        expect(page.locator("#enroll-result")).to_have_text("Alice_A: 2 photo(s) enrolled")
        page.fill("#enroll-name", "<img src=x onerror=alert(1)>")  # refused, shown as text
        page.click("#enroll-go")
        expect(page.locator("#enroll-result .error")).to_contain_text("use 1-100 letters")
        page.set_input_files("#probe", photo("Alice_A", 3))
        page.click("#identify-go")
        expect(page.locator("#identify-result table")).to_contain_text("Alice_A")
        expect(page.locator("#identify-result")).to_contain_text("unknown below")
        browser.close()
