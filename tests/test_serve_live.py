"""A live `localrag serve` on loopback: the official openai client, and a real browser on the web page."""

from __future__ import annotations

import base64
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import QUERY_PHOTO, ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(indexed_home: Path, tmp_path_factory: pytest.TempPathFactory):
    """`localrag serve` over a copy of the indexed sample manual, until the module ends."""
    home = tmp_path_factory.mktemp("live")
    shutil.copytree(indexed_home / "data", home / "data")
    port = _free_port()
    log = (home / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "localrag", "--data-dir", str(home / "data"), "serve", "--port", str(port)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as res:
                if res.status == 200:
                    break
        except OSError:
            if proc.poll() is not None:
                pytest.fail((home / "serve.log").read_text())
            time.sleep(0.1)
    yield {"url": url, "home": home}
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def test_openai_client_text_and_image_streaming_and_not(server):
    from openai import OpenAI

    client = OpenAI(base_url=f"{server['url']}/v1", api_key="unused-on-loopback")
    assert [m.id for m in client.models.list().data] == ["localrag"]

    resp = client.chat.completions.create(
        model="localrag", messages=[{"role": "user", "content": "What fuse does the unit use?"}]
    )
    content = resp.choices[0].message.content or ""
    assert re.search(r"\[\d+\]", content) and "Sources:" in content
    cites = resp.model_extra["citations"]
    assert cites and {"n", "source", "page", "figure", "figure_url", "page_url"} <= set(cites[0])

    stream = client.chat.completions.create(
        model="localrag", stream=True, messages=[{"role": "user", "content": "What fuse does the unit use?"}]
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == content
    assert chunks[-1].model_extra["citations"] == cites

    photo = base64.b64encode(QUERY_PHOTO.read_bytes()).decode()
    msg = [
        {"type": "text", "text": "Which fuse is in this circuit?"},
        {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{photo}"}},
    ]
    resp = client.chat.completions.create(model="localrag", messages=[{"role": "user", "content": msg}])
    assert any(c["page"] == 4 and c["figure"] for c in resp.model_extra["citations"])
    streamed = list(
        client.chat.completions.create(
            model="localrag", stream=True, messages=[{"role": "user", "content": msg}]
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in streamed) == resp.choices[0].message.content
    assert streamed[-1].model_extra["citations"] == resp.model_extra["citations"]

    off = client.chat.completions.create(
        model="localrag", messages=[{"role": "user", "content": "What is the capital of France?"}]
    )
    assert off.choices[0].message.content == "Not found in the documents." and off.model_extra["refused"]


def test_binding_beyond_loopback_needs_a_token(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "localrag", "--data-dir", str(tmp_path), "serve", "--host", "0.0.0.0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "--token" in out.stderr


def _browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("chromium and chromium-driver are not installed (scripts/setup.sh installs them as root)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1200,1600",
    ):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(driver), options=opts)


def test_web_page_answers_a_photo_and_shows_the_cited_figure(server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser = _browser()
    try:
        browser.get(server["url"] + "/")
        browser.find_element(By.ID, "question").send_keys("Which fuse is in this circuit?")
        browser.find_element(By.ID, "photo").send_keys(str(QUERY_PHOTO))
        browser.find_element(By.ID, "ask-button").click()
        wait = WebDriverWait(browser, 120)
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#citations li a")))
        answer = browser.find_element(By.ID, "answer").text
        assert "[" in answer and "Not found" not in answer
        cite = next(a for a in browser.find_elements(By.CSS_SELECTOR, "#citations a") if "page 4" in a.text)
        cite.click()
        wait.until(
            lambda b: b.execute_script(
                "const i = document.getElementById('figure-img'); return i.complete && i.naturalWidth > 0"
            )
        )
        wait.until(
            lambda b: b.execute_script(
                "const i = document.getElementById('page-img'); return i.complete && i.naturalWidth > 0"
            )
        )
        assert "page 4" in browser.find_element(By.ID, "page-caption").text
        browser.save_screenshot(str(tmp_path / "answer.png"))
        assert (tmp_path / "answer.png").stat().st_size > 10_000

        browser.find_element(By.ID, "tab-library").click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#documents tbody tr")))
        assert "aquapure-300-manual.pdf" in browser.find_element(By.ID, "documents").text
        wait.until(lambda b: "Models:" in b.find_element(By.ID, "facts").text)
    finally:
        browser.quit()
