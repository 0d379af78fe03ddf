"""tools/web_demo.py: the segmenting function for each task, and the page in a real headless
Chromium (upload a generated video, wait for the result, screenshot, check its frame count).
Skipped without gradio; the browser test also without chromium + chromedriver + selenium."""

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.video_fixtures import TINY_OPTS, decode, moving_squares, write_mp4

pytest.importorskip("gradio")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(ROOT, "tools", "web_demo.py")
_spec = importlib.util.spec_from_file_location("web_demo", TOOL)
web_demo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(web_demo)
CONFIGS = {
    t: os.path.join(ROOT, "configs", "quickstart", f"synthetic_{t}.yaml")
    for t in web_demo.TASK_NAMES
}
NUM_FRAMES = 4


@pytest.fixture
def video(tmp_path):
    path = tmp_path / "clip.mp4"
    write_mp4(path, moving_squares(num_frames=NUM_FRAMES))
    return str(path)


@pytest.mark.parametrize("task", ["vis", "vps", "vss"])
def test_segmenter_returns_the_drawn_video(task, video):
    seen = []
    segment = web_demo.Segmenter(TINY_OPTS)
    out = segment(video, CONFIGS[task], "", 0.0, lambda f, desc="": seen.append(f))
    frames = decode(out)
    assert frames.shape[0] == NUM_FRAMES and frames.shape[1:3] == (40, 56)
    assert seen[-1] == 1.0  # the progress bar reached the end


def test_undecodable_and_missing_videos_are_one_line(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    segment = web_demo.Segmenter(TINY_OPTS)
    with pytest.raises(ValueError, match="broken.mp4") as info:
        segment(str(bad), CONFIGS["vis"], "", 0.5)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="no video"):
        segment(None, CONFIGS["vis"], "", 0.5)


def _browser_tools():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip(
            "chromium / chromedriver not installed (apt-get install chromium chromium-driver)"
        )
    pytest.importorskip("selenium")
    return chromium, driver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_page_in_headless_chromium(tmp_path, video):
    chromium, driver_path = _browser_tools()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    port = _free_port()
    env = dict(os.environ, OMP_NUM_THREADS="1", GRADIO_ANALYTICS_ENABLED="False")
    server = subprocess.Popen(
        [sys.executable, TOOL, "--config", CONFIGS["vis"], "--port", str(port), *TINY_OPTS],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}/"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1280,1000",
    ):
        options.add_argument(flag)
    browser = None
    try:
        deadline = time.time() + 180
        while True:  # the server is up when the page answers
            if server.poll() is not None:
                pytest.fail(f"web demo exited: {server.stdout.read()[-2000:]}")
            try:
                urllib.request.urlopen(url, timeout=5)
                break
            except OSError:
                if time.time() > deadline:
                    pytest.fail("web demo did not start within 180 s")
                time.sleep(1)
        browser = webdriver.Chrome(service=Service(driver_path), options=options)
        browser.get(url)
        wait = WebDriverWait(browser, 240)
        upload = wait.until(
            ec.presence_of_element_located((By.CSS_SELECTOR, "#upload input[type=file]"))
        )
        upload.send_keys(video)
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#upload video")))
        wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "#segment"))).click()
        result = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#result video[src]")))
        browser.save_screenshot(str(tmp_path / "web_demo.png"))
        assert (tmp_path / "web_demo.png").stat().st_size > 0
        src = result.get_attribute("src")
        downloaded = tmp_path / "result.mp4"
        with urllib.request.urlopen(src, timeout=60) as r:
            downloaded.write_bytes(r.read())
        assert decode(downloaded).shape[0] == NUM_FRAMES
    finally:
        if browser is not None:
            browser.quit()
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
