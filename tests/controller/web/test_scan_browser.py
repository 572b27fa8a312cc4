"""A team leader's phone in a real browser: headless Chromium whose camera is a Y4M video of
L1 codes (``sim.scan_video``, played by ``--use-fake-device-for-media-stream
--use-file-for-fake-video-capture``), against a real controller (private mosquitto, ingest,
relay to the NSSO stand-in) with the console on loopback.

Each test launches its own browser (the camera's video is fixed at launch): a crew of five
scanned and receipted, every kind of decision on screen; the controller stopped while three
scans are made, then restarted (each delivered once); a reload with unsent scans; a camera
refused and an insecure address. Screenshots at phone width (390x844) land in
``build/screenshots/scan-*.png``.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from controller import accounts, roster, schema, views
from controller import config as config_module
from controller.config import ControllerConfig
from controller.service import Controller
from controller.store import Store, open_store
from controller.web.server import ConsoleServer
from presence.clock import brussels_date
from sim import scan_video as video
from sim.mosquitto import MosquittoBroker
from sim.nsso.server import StandIn, serve
from tests.controller.support import (
    COMPANY,
    FakeTerminal,
    checkin,
    inss,
    limosa,
    write_site,
    write_works,
)
from tests.support.ci import skip_or_fail

pytestmark = pytest.mark.integration

SCREENSHOTS = Path(__file__).resolve().parents[3] / "build" / "screenshots"
PHONE = (390, 844)
PASSWORD = "team leader 2026"
CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVER = "/usr/bin/chromedriver"
WAIT_S = 30.0

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CREW = [limosa(n) for n in range(1, 6)]
ALREADY = limosa(6)  # passed the gate this morning
ENDED = limosa(7)  # on the roster, L1 period over yesterday
BLURRED = limosa(8)  # on the roster, shown only blurred
STRANGER = limosa(40)  # not on the roster
OFFLINE = [limosa(n) for n in range(11, 14)]
RELOAD = [limosa(n) for n in range(14, 16)]
NOT_L1 = "https://www.example.com/menu?table=4"
KINDS = ("admitted", "not_an_l1_code", "not_valid_today", "unknown_person", "already_registered")


@dataclass
class Site:
    config: ControllerConfig
    store: Store
    port: int
    broker: MosquittoBroker
    nsso: StandIn
    root: Path
    controller: Controller | None = None
    console: ConsoleServer | None = None
    videos: dict[str, Path] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.controller = Controller(self.config, self.store)
        self.controller.start()
        assert self.controller.ingest.subscribed.wait(10)
        self.console = ConsoleServer(
            self.config, self.store, host="127.0.0.1", port=self.port, tls=False
        ).start()

    def stop(self) -> None:
        if self.console is not None:
            self.console.stop()
            self.console = None
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _roster(store: Store) -> None:
    today = brussels_date(datetime.now(UTC))
    on = [*CREW, ALREADY, BLURRED, *OFFLINE, *RELOAD]
    text = "person;employer;name;valid_from;valid_to\n"
    text += "".join(f"{p};;{name};;\n" for p, name in zip(on, _names(len(on)), strict=True))
    text += f"{ENDED};;Ion Ionescu;;{(today - timedelta(days=1)).isoformat()}\n"
    text += f"{inss(1)};{COMPANY};Jan Peeters;;\n{inss(2)};{COMPANY};Els Claes;;\n"
    plan = roster.plan_import(
        store, roster.Upload("ploeg.csv", text.encode()), today=today - timedelta(days=5)
    )
    assert not plan.refused, plan.refused
    roster.apply_import(store, plan)


def _names(count: int) -> list[str]:
    first = ["Piotr", "Andrei", "Jonas", "Marek", "Tomasz", "Vasile", "Darius", "Pavel"]
    last = ["Kowalski", "Popescu", "Kazlauskas", "Novak", "Wiśniewski", "Ionescu", "Horvat"]
    return [f"{first[n % len(first)]} {last[n % len(last)]}" for n in range(count)]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("scan")
    broker = MosquittoBroker().start()
    ids = tuple(p.digits for p in [*CREW, ALREADY, BLURRED, *OFFLINE, *RELOAD])
    nsso = serve(root / "nsso.db", write_works(root / "works.toml", ids), validation_delay_s=0.5)
    path = write_site(root / "site", db_url=f"sqlite:///{root / 'c.db'}",
                      broker_port=broker.port, registry=nsso.endpoint)  # fmt: skip
    config = config_module.load(path)
    store = open_store(config.database.url)
    accounts.add_account(store, "tom", accounts.TEAM_LEADER, PASSWORD)
    _roster(store)
    site = Site(config, store, _free_port(), broker, nsso, root)
    site.start()
    gate = FakeTerminal(broker.port)
    try:
        gate.send(checkin(ALREADY))
        assert gate.ack().status == "stored"
        yield site
    finally:
        gate.close()
        site.stop()
        store.close()
        nsso.close()
        broker.close()


def _video(site: Site, name: str, shots: list[video.Shot]) -> Path:
    path = site.root / f"{name}.y4m"
    if not path.exists():
        video.write_y4m(path, shots)
    return path


def _chromium() -> str:
    for path in CHROMIUM:
        if Path(path).exists():
            return path
    skip_or_fail("no chromium: apt-get install chromium chromium-driver (make sysdeps)")
    raise AssertionError


class Phone:
    """A browser whose camera plays a video, at phone size."""

    def __init__(self, camera: Path | None, *extra: str) -> None:
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service

        if not Path(DRIVER).exists():
            skip_or_fail("no chromedriver: apt-get install chromium-driver (make sysdeps)")
        self.profile = tempfile.mkdtemp(prefix="sg-phone-")
        options = Options()
        options.binary_location = _chromium()
        flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", f"--user-data-dir={self.profile}",
                 f"--window-size={PHONE[0]},{PHONE[1]}", "--lang=en-GB",
                 "--force-device-scale-factor=1", "--hide-scrollbars",
                 "--autoplay-policy=no-user-gesture-required",
                 "--use-fake-device-for-media-stream", *extra]  # fmt: skip
        if camera is not None:
            flags += [
                "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-video-capture={camera}",
            ]
        for flag in flags:
            options.add_argument(flag)
        options.add_experimental_option("prefs", {"intl.accept_languages": "en-GB,en"})
        self.driver = webdriver.Chrome(service=Service(DRIVER), options=options)
        self.driver.set_page_load_timeout(30)
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": 1, "mobile": True},
        )
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def close(self) -> None:
        self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)

    def login(self, base: str, name: str = "tom") -> None:
        d = self.driver
        d.get(base + "/login?next=/scan")
        d.find_element(By.ID, "name").send_keys(name)
        d.find_element(By.ID, "password").send_keys(PASSWORD)
        d.find_element(By.CSS_SELECTOR, "button[type=submit].primary").click()
        self.wait(lambda drv: drv.current_url.endswith("/scan"))
        self.wait(lambda drv: self.attr("data-ready") == "1")

    def attr(self, name: str) -> str:
        return self.driver.find_element(By.ID, "scan").get_attribute(name) or ""

    def outcome(self) -> str:
        return self.driver.find_element(By.ID, "result").get_attribute("data-outcome") or ""

    def unsent(self) -> int:
        return int(self.attr("data-unsent") or 0)

    def wait(self, condition, timeout: float = WAIT_S, poll: float = 0.1):
        return WebDriverWait(self.driver, timeout, poll_frequency=poll).until(condition)

    def shoot(self, name: str) -> Path:
        path = SCREENSHOTS / f"scan-{name}-phone.png"
        self.driver.save_screenshot(str(path))
        return path


@pytest.fixture
def phone_factory() -> Iterator:
    opened: list[Phone] = []

    def make(camera: Path | None, *extra: str) -> Phone:
        phone = Phone(camera, *extra)
        opened.append(phone)
        return phone

    yield make
    for phone in opened:
        phone.close()


def _events_of(store: Store, person) -> list:
    e = schema.events.c
    with store.transaction() as conn:
        return conn.execute(
            select(e.event_id, e.terminal_id, e.decision, e.reason, e.scanned_at).where(
                e.person_id == person.digits
            )
        ).all()


def _presences(store: Store, people) -> dict[str, dict]:
    """Today's presences of ``people`` (by their masked numbers, distinct here)."""
    rows = {
        row["person"]: row for row in views.day_presences(store, brussels_date(datetime.now(UTC)))
    }
    return {p.digits: rows[p.masked()] for p in people if p.masked() in rows}


def _text(driver, selector: str) -> str:
    """An element's text; "" while a live page swaps it."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    try:
        return str(driver.find_element(By.CSS_SELECTOR, selector).text)
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def _until(predicate, timeout: float = WAIT_S, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


# --- the tests ------------------------------------------------------------------------------


def test_a_team_leader_scans_a_crew_of_five_and_sees_every_kind_of_decision(
    site, phone_factory
) -> None:
    shots = [video.blank(1.5)]
    for person in CREW:
        shots += [video.l1(person.digits, 2.5), video.blank(1.0)]
    shots += [video.code(NOT_L1, 2.5), video.blank(1.0), video.l1(ENDED.digits, 2.5),
              video.blank(1.0), video.l1(STRANGER.digits, 2.5), video.blank(1.0),
              video.blurred(BLURRED.digits, 2.5), video.blank(1.0),
              video.l1(ALREADY.digits, 2.5), video.blank(1.0)]  # fmt: skip
    phone = phone_factory(_video(site, "crew", shots))
    phone.login(site.url)
    phone.wait(lambda d: phone.attr("data-camera") == "on")
    seen: dict[str, Path] = {}
    deadline = time.monotonic() + video.duration(shots) * 2 + 10
    while time.monotonic() < deadline and set(seen) != set(KINDS):
        kind = phone.outcome()
        if kind in KINDS and kind not in seen:
            seen[kind] = phone.shoot(kind)
        time.sleep(0.1)
    assert set(seen) == set(KINDS), seen
    assert phone.driver.find_element(By.ID, "unsent-count").text == "0"

    # five presences with NSSO receipts, each from one event of the phone
    def receipted() -> bool:
        rows = _presences(site.store, CREW)
        return len(rows) == 5 and all(r["receipt"] for r in rows.values())

    assert _until(receipted, 40), _presences(site.store, CREW)
    for person in CREW:
        events = _events_of(site.store, person)
        assert [(e.terminal_id, e.decision) for e in events] == [("handheld-tom", "admitted")]
        assert _presences(site.store, [person])[person.digits]["channel"] == "handheld"
    assert _events_of(site.store, BLURRED) == []  # never read: no guess
    assert [e.reason for e in _events_of(site.store, ENDED)] == ["not_valid_today"]
    assert {e.terminal_id for e in _events_of(site.store, ALREADY)} == {"gate-1", "handheld-tom"}

    # the keypad: checked as typed, then registered
    d = phone.driver
    field = d.find_element(By.ID, "person")
    field.send_keys("85073003329")
    d.find_element(By.ID, "company").click()
    assert "check digits" in d.find_element(By.ID, "person-hint").text
    field.clear()
    field.send_keys(str(inss(1)))
    d.find_element(By.ID, "company").send_keys(COMPANY)
    assert "National number" in d.find_element(By.ID, "person-hint").text
    phone.shoot("keypad")
    d.find_element(By.CSS_SELECTOR, "#keypad button.primary").click()
    phone.wait(lambda _d: "Jan Peeters" in d.find_element(By.ID, "result").text)
    phone.shoot("keypad-admitted")

    # the console's pages name the channel
    d.get(site.url + "/presences")
    assert "phone" in d.find_element(By.CSS_SELECTOR, "table.list").text
    d.get(site.url + "/")
    phone.wait(lambda _d: "handheld-tom in · phone" in _text(d, "table.feed"))  # live feed
    phone.shoot("today-with-phone-scans")


def test_scans_made_while_the_controller_is_stopped_are_each_delivered_once(
    site, phone_factory
) -> None:
    shots = [video.blank(5.0)]
    for person in OFFLINE:
        shots += [video.l1(person.digits, 2.5), video.blank(1.0)]
    phone = phone_factory(_video(site, "offline", shots))
    phone.login(site.url)
    phone.wait(lambda d: phone.attr("data-camera") == "on")
    site.stop()
    try:
        recorded_seen = phone.wait(lambda d: phone.outcome() == "recorded", timeout=20)
        assert recorded_seen
        phone.shoot("recorded")
        assert phone.attr("data-link") == "offline"
        phone.wait(lambda d: phone.unsent() >= 3, timeout=40)
        time.sleep(max(0.0, video.duration(shots) - 8))  # every code shown during the outage
        phone.shoot("unsent")
        assert not any(_events_of(site.store, p) for p in OFFLINE)
    finally:
        site.start()
    restarted = datetime.now(UTC)
    phone.wait(lambda d: phone.unsent() == 0, timeout=60)
    for person in OFFLINE:
        events = _events_of(site.store, person)
        assert [(e.terminal_id, e.decision) for e in events] == [("handheld-tom", "admitted")]
        assert events[0].scanned_at < restarted  # scanned during the outage
    assert len(_presences(site.store, OFFLINE)) == 3
    assert phone.attr("data-link") == "online"


def test_a_page_reloaded_with_unsent_scans_still_delivers_them(site, phone_factory) -> None:
    shots = [video.blank(1.0)]
    for person in RELOAD:
        shots += [video.l1(person.digits, 2.5), video.blank(1.0)]
    phone = phone_factory(_video(site, "reload", shots))
    d = phone.driver
    phone.login(site.url)
    phone.wait(lambda _d: phone.attr("data-camera") == "on")
    d.execute_cdp_cmd("Network.enable", {})
    d.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/scan/frame*", "*/scan/entry*"]})
    d.find_element(By.ID, "person").send_keys(str(inss(2)))
    d.find_element(By.ID, "company").send_keys(COMPANY)
    d.find_element(By.CSS_SELECTOR, "#keypad button.primary").click()
    time.sleep(video.duration(shots) + 1)  # both codes shown while blocked
    phone.wait(lambda _d: phone.unsent() >= 3, timeout=40)  # the number and both codes
    held = phone.unsent()
    d.refresh()
    phone.wait(lambda _d: phone.attr("data-ready") == "1")
    assert phone.unsent() >= held
    phone.shoot("reloaded-unsent")
    assert not any(_events_of(site.store, p) for p in [*RELOAD, inss(2)])
    unblocked = datetime.now(UTC)
    d.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
    phone.wait(lambda _d: phone.unsent() == 0, timeout=60)
    for person in [*RELOAD, inss(2)]:
        events = _events_of(site.store, person)
        assert [(e.terminal_id, e.decision) for e in events] == [("handheld-tom", "admitted")]
        assert events[0].scanned_at < unblocked  # recorded before the reload, not seen since


def test_the_page_explains_a_refused_camera_and_an_insecure_address(site, phone_factory) -> None:
    phone = phone_factory(None, "--deny-permission-prompts",
                          "--host-resolver-rules=MAP scan.test 127.0.0.1")  # fmt: skip
    d = phone.driver
    phone.login(site.url)
    phone.wait(lambda _d: phone.attr("data-camera") == "refused")
    problem = d.find_element(By.ID, "scan-problem")
    assert problem.is_displayed() and "Allow the camera" in problem.text
    assert d.find_element(By.ID, "camera-retry").is_displayed()
    phone.shoot("camera-refused")
    phone.login(f"http://scan.test:{site.port}")
    phone.wait(lambda _d: phone.attr("data-camera") == "insecure")
    assert "HTTPS" in d.find_element(By.ID, "scan-problem").text
    phone.shoot("insecure")
