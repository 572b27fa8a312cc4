"""The console in a real browser: headless Chromium (Debian's chromium and chromium-driver)
driven by selenium, against a real controller (private mosquitto, ingest, relay to the NSSO
stand-in) with the console served by uvicorn on loopback.

The tests run in order on one site: sign in, watch the on-site list grow while check-ins go
through the broker, register a worker by hand and see NSSO's receipt, cancel a presence,
export CSV and XLSX and read them back, upload a roster with bad rows. Screenshots of each
page at desktop (1366x900) and phone (390x844) widths land in ``build/screenshots/``.
"""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest

from controller import accounts, roster
from controller import config as config_module
from controller.service import Controller
from controller.store import Store, open_store
from controller.web.server import ConsoleServer
from presence import topics
from presence.messages import TerminalStatus, encode_status
from provisioning import pki
from sim.mosquitto import MosquittoBroker
from sim.nsso.server import StandIn, serve
from tests.controller.support import (
    COMPANY,
    WORKPLACE,
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
DESKTOP = (1366, 900)
PHONE = (390, 844)
PASSWORD = "browser test 2026"
CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVER = "/usr/bin/chromedriver"
WAIT_S = 20.0
ENROLMENT = '\n[enrolment]\nurl = "https://127.0.0.1:8444/v1/enrol"\n'

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


@dataclass
class Site:
    store: Store
    console: ConsoleServer
    terminal: FakeTerminal
    broker: MosquittoBroker
    nsso: StandIn
    downloads: Path

    @property
    def url(self) -> str:
        return self.console.url


def _chromium() -> str:
    for path in CHROMIUM:
        if Path(path).exists():
            return path
    skip_or_fail("no chromium: apt-get install chromium chromium-driver (make sysdeps)")
    raise AssertionError


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("browser")
    broker = MosquittoBroker().start()
    works = write_works(root / "works.toml", tuple(limosa(n).digits for n in range(50)))
    nsso = serve(root / "nsso.db", works, validation_delay_s=0.5)
    path = write_site(root / "site", db_url=f"sqlite:///{root / 'c.db'}",
                      broker_port=broker.port, registry=nsso.endpoint)  # fmt: skip
    path.write_text(path.read_text() + ENROLMENT)  # the Terminals page makes enrolment codes
    ca = pki.make_ca("sitegate CA browser", "sitegate test", datetime.now(UTC))
    (path.parent / "ca.pem").write_bytes(pki.cert_pem(ca.cert))
    config = config_module.load(path)
    store = open_store(config.database.url)
    accounts.add_account(store, "mia", accounts.MANAGER, PASSWORD)
    accounts.add_account(store, "vera", accounts.VIEWER, PASSWORD)
    text = (
        "persoon;werkgever;naam\n"
        + "".join(f"{inss(n)};{COMPANY};{name}\n" for n, name in enumerate(NAMES))
        + "".join(f"{limosa(n)};;{name}\n" for n, name in enumerate(POSTED))
    )
    roster.apply_import(store, roster.plan_import(store, roster.Upload("ploeg.csv", text.encode())))
    controller = Controller(config, store)
    controller.start()
    assert controller.ingest.subscribed.wait(10)
    console = ConsoleServer(config, store, host="127.0.0.1", port=0, tls=False).start()
    terminal = FakeTerminal(broker.port)
    downloads = Path(tempfile.mkdtemp(prefix="sg-downloads-"))
    try:
        yield Site(store, console, terminal, broker, nsso, downloads)
    finally:
        terminal.close()
        console.stop()
        controller.stop()
        store.close()
        nsso.close()
        broker.close()
        shutil.rmtree(downloads, ignore_errors=True)


NAMES = ["Jan Peeters", "Marie Dubois", "Lukas Maes", "Sofie Janssens", "Ahmed El Amrani",
         "Pieter De Smet", "Nathalie Lambert", "Kevin Willems", "Els Claes", "Tom Wouters",
         "Sarah Goossens", "Bram Mertens"]  # fmt: skip
POSTED = ["Piotr Kowalski", "Andrei Popescu", "Jonas Kazlauskas"]


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[object]:
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="sg-chromium-")
    options = Options()
    options.binary_location = _chromium()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
                 f"--window-size={DESKTOP[0]},{DESKTOP[1]}", "--lang=en-GB",
                 "--force-device-scale-factor=1", "--hide-scrollbars"):  # fmt: skip
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(site.downloads), "download.prompt_for_download": False,
         "intl.accept_languages": "en-GB,en"},
    )  # fmt: skip
    if not Path(DRIVER).exists():
        skip_or_fail("no chromedriver: apt-get install chromium-driver (make sysdeps)")
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(30)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _wait(driver, condition, timeout: float = WAIT_S):
    return WebDriverWait(driver, timeout).until(condition)


def _submit(driver, button) -> None:
    """Click a form's button and wait for the next page to replace this one."""
    page = driver.find_element(By.TAG_NAME, "html")
    button.click()
    _wait(driver, EC.staleness_of(page))


def _open(driver, site: Site, path: str) -> None:
    driver.get(site.url + path)


def _shoot(driver, name: str) -> None:
    """The page at desktop width, then at phone width (portrait), into build/screenshots."""
    for label, (width, height) in (("desktop", DESKTOP), ("phone", PHONE)):
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1,
             "mobile": label == "phone"},
        )  # fmt: skip
        time.sleep(0.2)
        driver.save_screenshot(str(SCREENSHOTS / f"{name}-{label}.png"))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def _login(driver, site: Site, name: str = "mia") -> None:
    driver.delete_all_cookies()
    _open(driver, site, "/login")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    _submit(driver, driver.find_element(By.CSS_SELECTOR, "button[type=submit].primary"))
    _wait(driver, EC.url_to_be(site.url + "/"))


def _status(site: Site, terminal: str, outbox: int = 0) -> None:
    status = TerminalStatus("online", datetime.now(UTC), "sitegate 0.1.0", outbox, False, 0.0,
                            True, {"reader": "ok", "camera": "ok"})  # fmt: skip
    site.terminal.client.publish(
        topics.status_topic(WORKPLACE, terminal), encode_status(status), qos=1, retain=True
    ).wait_for_publish(5)


# --- the tests, in order ------------------------------------------------------------------


def test_login_page_then_signing_in_opens_today(browser, site) -> None:
    _open(browser, site, "/onsite")
    assert "/login" in browser.current_url
    _shoot(browser, "login")
    browser.find_element(By.ID, "name").send_keys("mia")
    browser.find_element(By.ID, "password").send_keys("not the password")
    _submit(browser, browser.find_element(By.CSS_SELECTOR, "button[type=submit].primary"))
    assert "Wrong account name or password" in browser.page_source
    _login(browser, site)
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Today")


def test_the_on_site_list_grows_live_as_check_ins_pass_the_broker(browser, site) -> None:
    _login(browser, site)
    _open(browser, site, "/onsite")
    _wait(browser, lambda d: "on" in d.find_element(By.CSS_SELECTOR, "[data-live-status]")
          .get_attribute("class"))  # fmt: skip
    before = len(browser.find_elements(By.CSS_SELECTOR, "#onsite tbody tr"))
    for n in range(6):
        site.terminal.send(checkin(inss(n), seq=n + 1))
    for n in range(2):
        site.terminal.send(checkin(limosa(n), seq=100 + n))
    _wait(
        browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#onsite tbody tr")) >= before + 8
    )
    assert "Jan Peeters" in browser.page_source  # names from the roster, live, no reload
    site.terminal.send(checkin(inss(2), seq=50, direction="out"))
    _wait(browser, lambda d: "Lukas Maes" not in d.find_element(By.ID, "onsite").text)
    site.terminal.send(replace(checkin(inss(11), seq=51, decision="refused"), reason="blocked"))
    _status(site, "gate-1")
    _shoot(browser, "onsite")
    _open(browser, site, "/")
    _wait(browser, lambda d: "Piotr Kowalski" in d.page_source)
    _shoot(browser, "today")


def test_registering_a_worker_by_hand_brings_nssos_receipt(browser, site) -> None:
    _login(browser, site)
    _open(browser, site, "/register")
    field = browser.find_element(By.ID, "inss")
    field.send_keys(inss(7).digits[:-1] + str((int(inss(7).digits[-1]) + 1) % 10))
    browser.find_element(By.ID, "company").click()
    hint = browser.find_element(By.ID, "inss-hint")
    assert "check digits" in hint.text  # the page's own check, as typed
    field.clear()
    field.send_keys(str(inss(7)))
    browser.find_element(By.ID, "company").send_keys(COMPANY)
    browser.find_element(By.ID, "limosa").click()
    assert "Well formed" in browser.find_element(By.ID, "inss-hint").text
    _shoot(browser, "register")
    _submit(browser, browser.find_element(By.CSS_SELECTOR, "form.form button.primary"))
    assert "on its way to NSSO" in browser.page_source, browser.page_source[:3000]
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        _open(browser, site, "/presences?search=Kevin")
        rows = browser.find_elements(By.CSS_SELECTOR, "table.list tbody tr")
        if rows and rows[0].find_elements(By.CSS_SELECTOR, "td.mono") and \
                rows[0].find_element(By.CSS_SELECTOR, "td.mono").text.strip():  # fmt: skip
            break
        time.sleep(0.5)
    row = browser.find_element(By.CSS_SELECTOR, "table.list tbody tr")
    assert "Kevin Willems" in row.text and "console-mia" in row.text
    assert row.find_element(By.CSS_SELECTOR, "td.mono").text.strip().isdigit()


def test_cancelling_a_presence_after_the_confirmation(browser, site) -> None:
    _login(browser, site)
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        _open(browser, site, "/presences")
        if browser.find_elements(By.LINK_TEXT, "Cancel"):
            break
        time.sleep(0.5)
    _shoot(browser, "presences")
    _submit(browser, browser.find_elements(By.LINK_TEXT, "Cancel")[0])
    receipt = browser.find_element(By.ID, "receipt").text
    browser.find_element(By.CSS_SELECTOR, "input[value=DISEASE]").click()
    _submit(browser, browser.find_element(By.CSS_SELECTOR, "button.danger"))  # not confirmed
    assert "Tick the box" in browser.page_source
    _shoot(browser, "cancel")
    browser.find_element(By.CSS_SELECTOR, "input[name=confirm]").click()
    _submit(browser, browser.find_element(By.CSS_SELECTOR, "button.danger"))
    assert f"Registration {receipt} cancelled" in browser.page_source
    _open(browser, site, "/presences?state=cancelled")
    assert receipt in browser.page_source


def _downloaded(site: Site, suffix: str) -> Path:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = [p for p in site.downloads.iterdir() if p.name.endswith(suffix)]
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"no {suffix} downloaded")


def test_exporting_csv_and_xlsx_gives_the_rows_shown(browser, site) -> None:
    _login(browser, site, "vera")
    _open(browser, site, "/presences")
    Select(browser.find_element(By.ID, "state")).select_by_value("validated")
    _submit(browser, browser.find_element(By.CSS_SELECTOR, ".filters button.primary"))
    shown = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "table.list tbody tr")]
    assert shown
    browser.find_element(By.LINK_TEXT, "CSV").click()
    browser.find_element(By.LINK_TEXT, "XLSX").click()
    text = _downloaded(site, ".csv").read_bytes().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    assert len(rows) == len(shown)
    assert all(r["state"] == "validated" for r in rows)
    book = openpyxl.load_workbook(_downloaded(site, ".xlsx"))
    assert book.active.max_row - 1 == len(shown)


def test_uploading_a_roster_with_bad_rows_previews_then_imports_the_good_ones(browser, site):
    _login(browser, site)
    upload = site.downloads / "ploeg-week-10.csv"
    upload.write_text(
        "Rijksregisternummer;Ondernemingsnummer;Naam;Geldig van\n"
        f"{inss(20)};{COMPANY};Wim Hermans;01/03/2026\n"
        f"12345678901;{COMPANY};Foute Nummer;\n"
        f"{inss(21)};;Geen Werkgever;\n"
        f"{inss(22)};{COMPANY};Lotte Jacobs;31/02/2026\n",
        encoding="utf-8",
    )
    _open(browser, site, "/roster")
    browser.find_element(By.ID, "file").send_keys(str(upload))
    _submit(browser, browser.find_element(By.CSS_SELECTOR, "form.inline-form button.primary"))
    assert "Roster preview" in browser.page_source
    assert "Wim Hermans" in browser.page_source
    refused = browser.find_elements(By.CSS_SELECTOR, "table.list tr.bad")
    assert len(refused) == 3
    assert not [p for p in roster.people(site.store) if p["name"] == "Wim Hermans"]
    _shoot(browser, "roster-preview")
    _submit(browser, browser.find_element(By.CSS_SELECTOR, "form.confirm-bar button.primary"))
    assert "Roster imported: 1 added" in browser.page_source
    assert [p for p in roster.people(site.store) if p["name"] == "Wim Hermans"]
    _shoot(browser, "roster")


def test_a_manager_makes_an_enrolment_code_for_a_new_terminal(browser, site) -> None:
    _login(browser, site)
    _open(browser, site, "/terminals")
    browser.find_element(By.ID, "terminal").send_keys("gate-3")
    _shoot(browser, "terminals-enrol")
    make = browser.find_element(By.CSS_SELECTOR, "form[action='/terminals/enrol'] button")
    _submit(browser, make)
    image = browser.find_element(By.CSS_SELECTOR, "img[src^='data:image/png;base64,']")
    assert image.size["width"] >= 200, image.size  # big enough for a terminal's camera
    assert "gate-3" in browser.page_source
    _shoot(browser, "terminal-enrolment-code")


def test_screenshots_of_the_other_pages(browser, site) -> None:
    _login(browser, site)
    site.terminal.send(checkin(inss(30), seq=300))  # not on the roster: needs an employer
    deadline = time.monotonic() + WAIT_S
    while 'href="/anomalies/' not in browser.page_source and time.monotonic() < deadline:
        _open(browser, site, "/anomalies")
    assert 'href="/anomalies/' in browser.page_source, "the anomaly never showed"
    for name, path in (("anomalies", "/anomalies"), ("refused", "/refused"),
                       ("terminals", "/terminals"), ("proof", "/proof"),
                       ("quarantine", "/quarantine"), ("audit", "/audit"),
                       ("onsite-print", "/onsite/print")):  # fmt: skip
        _open(browser, site, path)
        assert "Something went wrong" not in browser.page_source
        _shoot(browser, name)
    _open(browser, site, "/lang/nl?next=/")
    _shoot(browser, "today-nl")
    _open(browser, site, "/lang/en?next=/")
    assert (SCREENSHOTS / "today-phone.png").stat().st_size > 0
