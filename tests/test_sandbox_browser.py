"""The sandbox in a real browser: Debian's Chromium driven by Selenium clicks and types
through the first steps of the preparation, reloads, and keeps a screenshot."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bot.settings import load_settings
from sandbox import SandboxHandle, start_sandbox
from tests.fake_gtts import FakeGtts

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parent.parent / "ci-artifacts"
WAIT = 30  # seconds; the CI machine may be busy

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="needs Debian's chromium and chromium-driver (/usr/bin/chromium, "
           "/usr/bin/chromedriver): apt-get install chromium chromium-driver")

T = TypeVar("T")


class LoopThread:
    """The sandbox runs in its own event loop; Selenium blocks, so it gets a thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 90) -> T:  # noqa: ASYNC109
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    tmp = tmp_path_factory.mktemp("sandbox")
    speech = FakeGtts().start()  # speech on, without the internet
    settings = load_settings(database_url=f"sqlite+aiosqlite:///{tmp / 'sandbox.db'}",
                             data_dir=tmp / "data", speech_enabled=True,
                             gtts_base_url=speech.url, _env_file=None)
    loop = LoopThread()
    handle = loop.run(start_sandbox(settings, port=0))
    try:
        yield handle
    finally:
        loop.run(handle.stop())
        loop.close()
        speech.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="sandbox-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                 "--window-size=520,1040", "--lang=nl-NL"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def chat(driver: Any) -> list[tuple[str, str]]:
    """(sender, visible text) of every message on screen."""
    rows = driver.execute_script(
        "return [...document.querySelectorAll('#messages .msg')]"
        ".map(m => [m.classList.contains('from-me') ? 'me' : 'bot', m.innerText]);")
    return [(str(who), str(text)) for who, text in rows]


def wait_text(driver: Any, text: str, who: str = "bot") -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT).until(
        lambda d: any(w == who and text in t for w, t in chat(d)),
        message=f"no {who} message with {text!r}; on screen: {chat(driver)}")


def click_button(driver: Any, label: str) -> None:
    """Click the newest enabled button with this label (like a person would)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def find(d: Any) -> Any:
        for b in reversed(d.find_elements(By.CSS_SELECTOR, "#messages .kb-button")):
            if b.text.strip() == label and b.is_enabled():
                return b
        return False

    WebDriverWait(driver, WAIT).until(find, message=f"no button {label!r}").click()


def type_and_send(driver: Any, text: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.ID, "text")
    box.click()
    box.send_keys(text)
    box.send_keys(Keys.ENTER)  # Enter sends, like Telegram on a computer


@pytest.fixture(scope="module")
def first_steps(sandbox: SandboxHandle, browser: Any) -> list[tuple[str, str]]:
    """Open the page as the client, start, answer the first question."""
    browser.get(sandbox.url)
    wait_text(browser, "Hoi Sam")
    click_button(browser, "➡️ Beginnen")
    wait_text(browser, "Waar ben jij goed in?")
    type_and_send(browser, "Ik kan goed tekenen")
    wait_text(browser, "Ik kan goed tekenen", who="me")
    wait_text(browser, "Nog iets? Of tik op Verder.")
    return chat(browser)


def test_first_steps_reload_and_screenshot(sandbox: SandboxHandle, browser: Any,
                                           first_steps: list[tuple[str, str]]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    assert first_steps[0][0] == "me"  # the start link, tapped for the visitor
    assert not browser.find_elements(By.CSS_SELECTOR, "#messages script, #messages iframe")
    browser.refresh()
    wait_text(browser, "Nog iets? Of tik op Verder.")
    WebDriverWait(browser, WAIT).until(lambda d: len(chat(d)) >= len(first_steps),
                                       message="history incomplete after reload")
    assert [t for _, t in chat(browser)][:len(first_steps)] == [t for _, t in first_steps]
    ARTIFACTS.mkdir(exist_ok=True)
    browser.execute_async_script("document.fonts.ready.then(() => arguments[0]());")
    browser.execute_script(  # the question, its picto and the answer in one picture
        "const q = [...document.querySelectorAll('#messages .msg.from-bot')]"
        ".filter(m => m.innerText.includes('Waar ben jij goed in?')).pop();"
        "if (q) { q.scrollIntoView({block: 'start'});"
        "document.getElementById('log').scrollTop -= 10; }")
    assert browser.save_screenshot(str(ARTIFACTS / "sandbox.png"))


def test_switch_persona_has_its_own_chat(sandbox: SandboxHandle, browser: Any,
                                         first_steps: list[tuple[str, str]]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.find_element(By.CSS_SELECTOR, '.persona[data-persona="naaste"]').click()
    start = WebDriverWait(browser, WAIT).until(
        lambda d: d.find_element(By.ID, "start").is_displayed() and d.find_element(By.ID,
                                                                                   "start"))
    assert chat(browser) == []
    start.click()
    wait_text(browser, "/start", who="me")
    WebDriverWait(browser, WAIT).until(lambda d: any(w == "bot" for w, _ in chat(d)),
                                       message="the bot did not answer the naaste")
    browser.find_element(By.CSS_SELECTOR, '.persona[data-persona="client"]').click()
    wait_text(browser, "Ik kan goed tekenen", who="me")


# Pictos and speech have landed: the client's first steps must show both in the page.
SHOWN = {
    "photo": ("#messages img.photo", "i => i.complete && i.naturalWidth > 0",
              "no picto image loaded"),
    "voice": ("#messages audio", "a => a.readyState >= 1 && a.duration > 0",
              "no playable voice message (OGG/Opus) on the page"),
}


@pytest.mark.parametrize("kind", sorted(SHOWN))
def test_pictos_and_voice_appear(sandbox: SandboxHandle, browser: Any,
                                 first_steps: list[tuple[str, str]], kind: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    selector, loaded, problem = SHOWN[kind]
    assert any(m.kind == kind for m in sandbox.server.user(1001).messages), (
        f"the bot sent the client no {kind}")
    browser.find_element(By.CSS_SELECTOR, '.persona[data-persona="client"]').click()
    WebDriverWait(browser, WAIT).until(lambda d: d.execute_script(
        f"return [...document.querySelectorAll('{selector}')].some({loaded});"),
        message=problem)


def test_the_picto_mat_in_the_page(sandbox: SandboxHandle, browser: Any,
                                   first_steps: list[tuple[str, str]]) -> None:
    """Choosing with pictures as a person sees it: one card at a time, then the whole mat
    as one picture (kept as ci-artifacts/sandbox-mat.png)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.find_element(By.CSS_SELECTOR, '.persona[data-persona="client"]').click()
    wait_text(browser, "Nog iets? Of tik op Verder.")
    click_button(browser, "➡️ Verder")
    wait_text(browser, "Wat vinden andere mensen fijn aan jou?")
    click_button(browser, "🤷 Weet ik nog niet")
    wait_text(browser, "Waar wil jij het over hebben in je gesprek?")
    click_button(browser, "🤷 Weet ik nog niet")
    wait_text(browser, "Hier zijn onderwerpen om aan te denken")
    click_button(browser, "🤷 Weet ik nog niet")
    wait_text(browser, "Denk aan een goede dag.")
    click_button(browser, "🖼️ Kiezen met plaatjes")
    for number, place in enumerate(["🙂 Fijn", "🙂 Fijn", "🙁 Niet fijn", "🤔 Weet ik niet",
                                    "🙂 Fijn", "🙁 Niet fijn", "🙂 Fijn", "🙁 Niet fijn",
                                    "🙁 Niet fijn"], 1):
        wait_text(browser, f"Plaatje {number} van 9.")
        click_button(browser, place)
    wait_text(browser, "Klopt het zo?")
    last = "[...document.querySelectorAll('#messages .msg.from-bot')].pop()"
    WebDriverWait(browser, WAIT).until(lambda d: d.execute_script(
        f"const i = {last}.querySelector('img.photo');"
        "return i && i.complete && i.naturalWidth > 600;"),
        message="the picture of the whole mat did not load")
    ARTIFACTS.mkdir(exist_ok=True)
    browser.execute_script(f"{last}.scrollIntoView({{block: 'start'}});")
    assert browser.save_screenshot(str(ARTIFACTS / "sandbox-mat.png"))
