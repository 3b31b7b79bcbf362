"""`lamp ui` in a real headless browser (Debian's chromium + chromium-driver, driven by selenium).

Starts `lamp ui` on a free localhost port, uploads a rendered toy set, tunes a few dozen
steps, generates a video and checks that the page plays it; a second test checks that
an oversize upload and a server folder with '..' are refused with a message. Screenshots
go to $LAMP_UI_SCREENSHOTS (default: the test's temporary folder).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("gradio", reason="the web UI needs gradio (pip install -e '.[ui]')")
webdriver = pytest.importorskip("selenium.webdriver", reason="the browser test needs selenium (pip install selenium)")

import httpx  # noqa: E402  (gradio's own dependency)
from PIL import Image  # noqa: E402
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

from lamp_motion.data.toy.sets import make_set  # noqa: E402
from lamp_motion.video_io import read_video  # noqa: E402

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DRIVERS = ("chromedriver",)
START_SECONDS = 240  # the server imports torch and gradio: slow on a busy CPU
JOB_SECONDS = 600  # a tuning or a generation on a busy CPU


def _find(names: tuple[str, ...]) -> str | None:
    return next((path for name in names if (path := shutil.which(name))), None)


BROWSER, DRIVER = _find(BROWSERS), _find(DRIVERS)
pytestmark = pytest.mark.skipif(BROWSER is None or DRIVER is None,
                                reason="no chromium and chromedriver on PATH (Debian: apt-get install chromium "
                                       "chromium-driver; .ci/run installs them)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`lamp ui` on a free port with a 1 MB upload limit and a data root; yields (url, folder)."""
    folder = tmp_path_factory.mktemp("ui")
    (folder / "root" / "sets").mkdir(parents=True)
    port = _free_port()
    log = open(folder / "server.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "lamp_motion.cli.main", "ui", "--port", str(port),
                                "--motions", "motions", "--work", "work", "--data-root", "root", "--max-file-mb", "1"],
                               cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            urllib.request.urlopen(url, timeout=5).read()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"lamp ui did not start:\n{(folder / 'server.log').read_text()}")
            time.sleep(1)
    yield url, folder
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(argument)
    try:
        driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(DRIVER))
    except WebDriverException as error:
        pytest.skip(f"chromium did not start ({error.msg})")
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("LAMP_UI_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def wait_for(condition, timeout: float, what: str, driver=None, errors: bool = True):
    """``condition()``'s first true value; fails after ``timeout`` s, or at once when the page shows an error."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except WebDriverException:
            value = None
        if value:
            return value
        if errors and driver is not None and (shown := toasts(driver)):
            pytest.fail(f"the page shows an error while waiting for {what}: {shown}")
        time.sleep(0.5)
    page = driver.find_element(By.TAG_NAME, "body").text if driver is not None else ""
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; the page says:\n{page[-3000:]}")


def toasts(driver) -> str:
    """The text of Gradio's error pop-ups on the page."""
    return " | ".join(t.text for t in driver.find_elements(By.CSS_SELECTOR, "[data-testid='toast-body']") if t.text)


def text_of(driver, element_id: str) -> str:
    return driver.find_element(By.ID, element_id).text


def fill(driver, element_id: str, value) -> None:
    field = driver.find_element(By.CSS_SELECTOR, f"#{element_id} textarea, #{element_id} input")
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(str(value), Keys.TAB)


def upload(driver, element_id: str, paths: list[Path]) -> None:
    driver.find_element(By.CSS_SELECTOR, f"#{element_id} input[type=file]").send_keys("\n".join(map(str, paths)))


def choose(driver, element_id: str, option: str) -> None:
    driver.find_element(By.CSS_SELECTOR, f"#{element_id} input").click()
    xpath = f"//li[@role='option' and contains(., '{option}')]"
    wait_for(lambda: driver.find_elements(By.XPATH, xpath), 30, f"option {option!r} of #{element_id}", driver)[0].click()


def open_tab(driver, name: str) -> None:
    driver.find_element(By.ID, f"tab-{name}-button").click()
    time.sleep(0.5)


def screenshot(driver, path: Path) -> None:
    driver.execute_script("window.scrollTo(0, 0);")
    time.sleep(0.3)
    driver.save_screenshot(str(path))


def video_source(driver, element_id: str) -> str | None:
    videos = driver.find_elements(By.CSS_SELECTOR, f"#{element_id} video")
    return videos[0].get_attribute("src") or None if videos else None


def test_tune_then_generate_in_a_browser(server, browser, shots, tmp_path):
    url, _ = server
    paths = make_set("move_right", tmp_path / "moves_right", num_videos=4, num_frames=12, seed=0)
    browser.get(url)
    wait_for(lambda: browser.find_elements(By.ID, "tune-start"), 60, "the page", browser)

    # 1. Tune: upload the set, 24 steps of 8 frames, a validation video at the end.
    upload(browser, "tune-files", paths)
    wait_for(lambda: all(p.stem in text_of(browser, "tune-files") for p in paths), 60, "the uploads", browser)
    for element_id, value in [("tune-name", "moves_right"), ("tune-steps", 24), ("tune-frames", 8),
                              ("tune-every", 24)]:
        fill(browser, element_id, value)
    browser.find_element(By.ID, "tune-start").click()
    wait_for(lambda: "step " in text_of(browser, "tune-status"), JOB_SECONDS, "training progress", browser)
    wait_for(lambda: "done" in text_of(browser, "tune-status"), JOB_SECONDS, "the end of training", browser)
    assert "4 training videos" in text_of(browser, "tune-report")
    assert wait_for(lambda: video_source(browser, "tune-validation"), 30, "the validation video", browser)
    screenshot(browser, shots / "tune.png")

    # 2. Generate: the new motion from the library, a first frame from the base, 4 steps.
    open_tab(browser, "generate")
    choose(browser, "gen-motion", "moves_right")
    wait_for(lambda: "moves right" in text_of(browser, "gen-info"), 30, "the motion's description", browser)
    fill(browser, "gen-prompt", "a red circle moves right")
    fill(browser, "gen-steps", 4)
    browser.find_element(By.ID, "gen-run").click()
    source = wait_for(lambda: video_source(browser, "gen-video"), JOB_SECONDS, "the generated video", browser)
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#gen-sheet img"), 30, "the contact sheet", browser)
    screenshot(browser, shots / "generate.png")
    video = tmp_path / "played.mp4"
    video.write_bytes(urllib.request.urlopen(source, timeout=30).read())
    frames, _ = read_video(video)
    assert frames.shape[0] > 1
    duration = wait_for(lambda: browser.execute_script(
        "const v = document.querySelector('#gen-video video'); return v && v.readyState >= 1 ? v.duration : 0;"),
        30, "the browser to load the video", browser)
    assert duration > 0
    assert "mp4" in text_of(browser, "gen-files") and "json" in text_of(browser, "gen-files")

    # 3. Edit: a training video with its first frame recoloured, 4 steps.
    first = tmp_path / "edited.png"
    Image.fromarray(read_video(paths[0])[0][0][..., ::-1].copy()).save(first)
    open_tab(browser, "edit")
    choose(browser, "edit-motion", "moves_right")
    upload(browser, "edit-source", paths[:1])
    upload(browser, "edit-image", [first])
    fill(browser, "edit-prompt", "a circle moves right")
    fill(browser, "edit-steps", 4)
    wait_for(lambda: paths[0].stem in text_of(browser, "edit-source"), 60, "the source video upload", browser)
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#edit-image img"), 60, "the first frame upload", browser)
    browser.find_element(By.ID, "edit-run").click()
    wait_for(lambda: video_source(browser, "edit-video"), JOB_SECONDS, "the edited video", browser)
    screenshot(browser, shots / "edit.png")

    # 4. Evaluate the batch just made.
    open_tab(browser, "evaluate")
    choose(browser, "eval-batch", "videos/")
    browser.find_element(By.ID, "eval-run").click()
    wait_for(lambda: "|" in text_of(browser, "eval-table") or browser.find_elements(By.CSS_SELECTOR, "#eval-table table"),
             JOB_SECONDS, "the evaluation table", browser)
    screenshot(browser, shots / "evaluate.png")


def test_oversize_uploads_and_dot_dot_folders_are_refused(server, browser, shots, tmp_path):
    url, _ = server
    browser.get(url)
    wait_for(lambda: browser.find_elements(By.ID, "tune-start"), 60, "the page", browser)
    big = tmp_path / "big.mp4"
    big.write_bytes(os.urandom(2 * 2**20))
    upload(browser, "tune-files", [big])
    fill(browser, "tune-name", "too_big")
    browser.find_element(By.ID, "tune-start").click()
    message = wait_for(lambda: toasts(browser), 60, "a message refusing the 2 MB file", browser, errors=False)
    browser.save_screenshot(str(shots / "refused-size.png"))
    assert "maximum allowed size" in message and "big.mp4" in message
    response = httpx.post(f"{url}/gradio_api/upload", files={"files": ("big.mp4", big.read_bytes())}, timeout=30)
    assert response.status_code == 413, response.text  # refused by the server too, not only by the page

    browser.get(url)
    wait_for(lambda: browser.find_elements(By.ID, "tune-start"), 60, "the page", browser)
    fill(browser, "tune-folder", "../../etc")
    fill(browser, "tune-name", "escape")
    browser.find_element(By.ID, "tune-start").click()
    wait_for(lambda: "refused" in text_of(browser, "tune-status"), 60, "the refusal", browser)
    assert "without '..'" in text_of(browser, "tune-report")
    browser.save_screenshot(str(shots / "refused-path.png"))
