"""``sitegate-provision`` end to end: what it writes, and that bad input writes nothing."""

from __future__ import annotations

import io
import stat
import tarfile
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509

from provisioning import cli, pki
from provisioning.layout import SiteLayout
from tests.provisioning.conftest import COMPANY, WORKPLACE, snapshot

INIT = [
    "init-site",
    "--workplace", WORKPLACE,
    "--company", COMPANY,
    "--sector", "construction",
    "--contract-amount", "650000",
    "--works-start", "2017-05-02",
    "--name", "Demo site Antwerp",
    "--broker-host", "controller.site.lan",
]  # fmt: skip


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, fragment: str) -> None:
    assert code != 0
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert fragment in lines[0]


def assert_broker_not_reached(code: int, err: str) -> None:
    """The site's files are written; no broker runs for these sites, and the command says
    to restart mosquitto."""
    assert code == cli.EXIT_NOT_APPLIED
    assert len(err.splitlines()) == 1, err
    assert "warning [broker_not_changed]" in err and "restart mosquitto" in err


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- init-site ---------------------------------------------------------------------------


def test_init_site_says_registration_is_mandatory_and_why(tmp_path: Path, capsys) -> None:
    code, out, err = run(capsys, *INIT, "--dir", str(tmp_path / "site"))

    assert (code, err) == (0, "")
    assert "presence registration: mandatory" in out
    assert "EUR 500,000" in out and "EUR 650,000" in out


def test_init_site_below_threshold_says_not_mandatory(tmp_path: Path, capsys) -> None:
    argv = [*INIT, "--dir", str(tmp_path / "site")]
    argv[argv.index("650000")] = "499999"

    code, out, _ = run(capsys, *argv)

    assert code == 0
    assert "presence registration: not mandatory" in out
    assert "reaches the threshold" in out


def test_meat_plant_needs_no_amount_and_is_always_subject(tmp_path: Path, capsys) -> None:
    argv = [*INIT, "--dir", str(tmp_path / "site")]
    argv[argv.index("construction")] = "meat"
    del argv[argv.index("--contract-amount") : argv.index("--contract-amount") + 2]

    code, out, _ = run(capsys, *argv)

    assert code == 0
    assert "presence registration: mandatory (meat sector" in out


def test_init_site_writes_keys_0600_and_keeps_the_ca_private(tmp_path: Path, capsys) -> None:
    run(capsys, *INIT, "--dir", str(tmp_path / "site"))
    site = SiteLayout.at(tmp_path / "site")

    keys = sorted(p.relative_to(site.root).as_posix() for p in site.root.rglob("*.key"))
    assert keys == [
        "admin/admin.key", "broker/server.key", "ca/ca.key", "controller/console.key",
        "controller/controller.key",
    ]  # fmt: skip
    assert {mode(site.root / k) for k in keys} == {0o600}
    assert mode(site.ca_dir) == 0o700
    assert mode(site.admin_dir) == 0o700
    assert mode(site.broker_dir / "server.pem") == 0o644


def test_init_site_keys_are_0600_whatever_the_umask(tmp_path: Path, capsys) -> None:
    import os

    old = os.umask(0)
    try:
        run(capsys, *INIT, "--dir", str(tmp_path / "site"))
    finally:
        os.umask(old)
    assert mode(tmp_path / "site" / "ca" / "ca.key") == 0o600


def test_server_certificate_names_the_broker_hosts(tmp_path: Path, capsys) -> None:
    run(capsys, *INIT, "--broker-host", "10.0.0.5", "--dir", str(tmp_path / "site"))
    cert = x509.load_pem_x509_certificate((tmp_path / "site/broker/server.pem").read_bytes())

    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = names.get_values_for_type(x509.DNSName)
    ips = [str(ip) for ip in names.get_values_for_type(x509.IPAddress)]
    assert dns == ["controller.site.lan", "localhost"]
    assert ips == ["10.0.0.5", "127.0.0.1"]


@pytest.mark.parametrize(
    ("option", "value", "fragment"),
    [
        ("--company", "0403170702", "invalid_company"),
        ("--company", "12345", "invalid_company"),
        ("--workplace", "1Y102M7NZF7PZA", "14 characters"),
        ("--contract-amount", "lots", "bad_amount"),
        ("--works-start", "2017-13-01", "bad_date"),
        ("--broker-host", "bad host!", "bad_host"),
    ],
)
def test_init_site_refuses_bad_input_and_creates_nothing(
    tmp_path: Path, capsys, option: str, value: str, fragment: str
) -> None:
    argv = [*INIT, "--dir", str(tmp_path / "site")]
    if option in argv:
        argv[argv.index(option) + 1] = value
    else:
        argv += [option, value]

    code, out, err = run(capsys, *argv)

    assert_one_line_error(code, err, fragment)
    assert out == ""
    assert list(tmp_path.iterdir()) == []


def test_init_site_refuses_a_directory_that_is_not_empty(tmp_path: Path, capsys) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "notes.txt").write_text("mine")

    code, _, err = run(capsys, *INIT, "--dir", str(tmp_path / "site"))

    assert_one_line_error(code, err, "site_exists")
    assert [p.name for p in (tmp_path / "site").iterdir()] == ["notes.txt"]


def test_init_site_in_an_unwritable_directory_writes_nothing(
    tmp_path: Path, capsys, make_unwritable: Callable[[Path], None]
) -> None:
    parent = tmp_path / "locked"
    parent.mkdir()
    make_unwritable(parent)

    code, _, err = run(capsys, *INIT, "--dir", str(parent / "site"))

    assert_one_line_error(code, err, "unwritable")
    assert list(parent.iterdir()) == []


def test_usage_error_is_one_line(capsys) -> None:
    code, _, err = run(capsys, "add-terminal", "gate-1", "--direction", "sideways")

    assert code == cli.EXIT_USAGE
    assert_one_line_error(code, err, "invalid choice")


# --- terminals ---------------------------------------------------------------------------


def test_add_terminal_writes_its_bundle_and_registers_it(site: SiteLayout, capsys) -> None:
    code, out, err = run(
        capsys, "add-terminal", "gate-1", "--direction", "in", "--dir", str(site.root)
    )

    assert_broker_not_reached(code, err)
    assert "gate-1.tar.gz" in out
    bundle = site.bundle_dir("gate-1")
    assert sorted(p.name for p in bundle.iterdir()) == [
        "ca.pem", "terminal.key", "terminal.pem", "terminal.toml",
    ]  # fmt: skip
    assert mode(bundle / "terminal.key") == 0o600
    assert mode(bundle) == 0o700
    cert = x509.load_pem_x509_certificate((bundle / "terminal.pem").read_bytes())
    assert pki.common_name(cert) == "gate-1"
    registry = tomllib.loads(site.terminals_file.read_text())
    assert registry["terminal"] == [
        {"id": "gate-1", "direction": "in", "cert_serial": format(cert.serial_number, "x"),
         "revoked": False},
    ]  # fmt: skip
    config = tomllib.loads((bundle / "terminal.toml").read_text())
    assert config["terminal"]["id"] == "gate-1"
    assert config["terminal"]["workplace_id"] == WORKPLACE
    assert config["broker"]["host"] == "gate-controller.local"


def test_the_tar_bundle_holds_the_same_files_with_their_modes(site: SiteLayout, capsys) -> None:
    run(capsys, "add-terminal", "gate-1", "--direction", "in", "--dir", str(site.root))
    archive = site.bundle_archive("gate-1")

    assert mode(archive) == 0o600
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert {name: m.mode for name, m in members.items()} == {
            "terminal.toml": 0o644, "ca.pem": 0o644, "terminal.pem": 0o644, "terminal.key": 0o600,
        }  # fmt: skip
        for name in members:
            extracted = tar.extractfile(name)
            assert extracted is not None
            assert extracted.read() == (site.bundle_dir("gate-1") / name).read_bytes()


def test_set_changes_a_terminal_setting_with_its_type(site: SiteLayout, capsys) -> None:
    code, _, err = run(
        capsys, "add-terminal", "gate-1", "--direction", "out", "--dir", str(site.root),
        "--set", "keypad.backend=evdev", "--set", "keypad.device=/dev/input/event3",
        "--set", "gate.pulse_s=1.5", "--set", "gate.fail_open=true",
    )  # fmt: skip

    assert_broker_not_reached(code, err)
    config = tomllib.loads((site.bundle_dir("gate-1") / "terminal.toml").read_text())
    assert config["keypad"] == {
        "backend": "evdev",
        "device": "/dev/input/event3",
        "timeout_s": 10.0,
    }
    assert config["gate"]["pulse_s"] == 1.5
    assert config["gate"]["fail_open"] is True
    assert config["terminal"]["direction"] == "out"


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["add-terminal", "gate-1", "--direction", "in"], "duplicate_terminal"),
        (["add-terminal", "Gate 2", "--direction", "in"], "bad_name"),
        (["add-terminal", "sitegate-controller", "--direction", "in"], "reserved"),
        (
            ["add-terminal", "gate-2", "--direction", "in", "--set", "gate.colour=red"],
            "bad_setting",
        ),
        (["add-terminal", "gate-2", "--direction", "in", "--set", "terminal.id=x"], "bad_setting"),
        (["add-terminal", "gate-2", "--direction", "in", "--set", "gate.relay_pin=22"], "GPIO22"),
        (
            ["add-terminal", "gate-2", "--direction", "in", "--set", "qr.decoder=zbarr"],
            "bad_setting",
        ),
        (["revoke-terminal", "gate-9"], "unknown_terminal"),
        (["rotate-terminal", "gate-9"], "unknown_terminal"),
    ],
)
def test_bad_terminal_commands_change_nothing(
    site: SiteLayout, clock, capsys, argv: list[str], fragment: str
) -> None:
    run(capsys, "add-terminal", "gate-1", "--direction", "in", "--dir", str(site.root))
    before = snapshot(site.root)

    code, out, err = run(capsys, *argv, "--dir", str(site.root))

    assert_one_line_error(code, err, fragment)
    assert out == ""
    assert snapshot(site.root) == before


def test_add_terminal_with_an_unwritable_terminals_directory_changes_nothing(
    site: SiteLayout, capsys, make_unwritable: Callable[[Path], None]
) -> None:
    run(capsys, "add-terminal", "gate-1", "--direction", "in", "--dir", str(site.root))
    make_unwritable(site.terminals_dir)
    before = snapshot(site.root)

    code, _, err = run(
        capsys, "add-terminal", "gate-2", "--direction", "in", "--dir", str(site.root)
    )

    assert_one_line_error(code, err, "unwritable")
    assert snapshot(site.root) == before  # the staged terminals.toml was discarded


def test_revoke_with_an_unwritable_broker_directory_changes_nothing(
    site: SiteLayout, capsys, make_unwritable: Callable[[Path], None]
) -> None:
    run(capsys, "add-terminal", "gate-1", "--direction", "in", "--dir", str(site.root))
    make_unwritable(site.broker_dir)
    before = snapshot(site.root)

    code, _, err = run(capsys, "revoke-terminal", "gate-1", "--dir", str(site.root))

    assert_one_line_error(code, err, "unwritable")
    assert snapshot(site.root) == before


def test_a_command_outside_a_site_directory_says_so(tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, "list-terminals", "--dir", str(tmp_path))

    assert_one_line_error(code, err, "run init-site first")


def test_list_terminals_shows_direction_state_and_serial(site: SiteLayout, capsys) -> None:
    for name, direction in (("gate-1", "in"), ("gate-2", "out")):
        run(capsys, "add-terminal", name, "--direction", direction, "--dir", str(site.root))
    run(capsys, "revoke-terminal", "gate-2", "--dir", str(site.root))

    code, out, _ = run(capsys, "list-terminals", "--dir", str(site.root))

    assert code == 0
    rows = [line.split("\t") for line in out.splitlines()]
    assert [row[:3] for row in rows] == [["gate-1", "in", "active"], ["gate-2", "out", "revoked"]]


def crl_serials(site: SiteLayout) -> set[int]:
    return set(pki.revoked_serials(x509.load_pem_x509_crl(site.crl.read_bytes())))


def ca_public_key(site: SiteLayout):
    return x509.load_pem_x509_certificate(site.ca_cert.read_bytes()).public_key()


def test_revoke_puts_the_certificate_on_the_crl_and_marks_the_terminal(
    site: SiteLayout, capsys
) -> None:
    run(capsys, "add-terminal", "gate-1", "--direction", "in", "--dir", str(site.root))
    cert = x509.load_pem_x509_certificate((site.bundle_dir("gate-1") / "terminal.pem").read_bytes())
    assert crl_serials(site) == set()

    code, out, err = run(capsys, "revoke-terminal", "gate-1", "--dir", str(site.root))

    assert "gate-1 revoked" in out
    assert_broker_not_reached(code, err)
    assert crl_serials(site) == {cert.serial_number}
    crl = x509.load_pem_x509_crl(site.crl.read_bytes())
    assert crl.is_signature_valid(ca_public_key(site))
    assert tomllib.loads(site.terminals_file.read_text())["terminal"][0]["revoked"] is True
    again, _, err = run(capsys, "revoke-terminal", "gate-1", "--dir", str(site.root))
    assert_one_line_error(again, err, "already_revoked")


def test_rotate_issues_a_new_key_revokes_the_old_and_keeps_the_config(
    site: SiteLayout, capsys
) -> None:
    run(capsys, "add-terminal", "gate-1", "--direction", "in", "--dir", str(site.root),
        "--set", "camera.backend=v4l2", "--set", "camera.device=/dev/video0")  # fmt: skip
    bundle = site.bundle_dir("gate-1")
    old_cert = x509.load_pem_x509_certificate((bundle / "terminal.pem").read_bytes())
    old_key = (bundle / "terminal.key").read_bytes()
    config = (bundle / "terminal.toml").read_text()

    code, _, err = run(capsys, "rotate-terminal", "gate-1", "--dir", str(site.root))

    assert_broker_not_reached(code, err)
    new_cert = x509.load_pem_x509_certificate((bundle / "terminal.pem").read_bytes())
    assert new_cert.serial_number != old_cert.serial_number
    assert pki.common_name(new_cert) == "gate-1"
    assert (bundle / "terminal.key").read_bytes() != old_key
    assert mode(bundle / "terminal.key") == 0o600
    assert (bundle / "terminal.toml").read_text() == config
    assert crl_serials(site) == {old_cert.serial_number}
    entry = tomllib.loads(site.terminals_file.read_text())["terminal"][0]
    assert entry["cert_serial"] == format(new_cert.serial_number, "x")
    with tarfile.open(site.bundle_archive("gate-1")) as tar:
        member = tar.extractfile("terminal.pem")
        assert member is not None and member.read() == (bundle / "terminal.pem").read_bytes()


def test_a_revoked_terminal_cannot_be_rotated(site: SiteLayout, capsys) -> None:
    run(capsys, "add-terminal", "gate-1", "--direction", "in", "--dir", str(site.root))
    run(capsys, "revoke-terminal", "gate-1", "--dir", str(site.root))
    before = snapshot(site.root)

    code, _, err = run(capsys, "rotate-terminal", "gate-1", "--dir", str(site.root))

    assert_one_line_error(code, err, "revoked")
    assert snapshot(site.root) == before


# --- poster ------------------------------------------------------------------------------


def test_poster_is_written_where_asked(site: SiteLayout, tmp_path: Path, capsys) -> None:
    code, out, _ = run(capsys, "poster", "--out", str(tmp_path / "p.pdf"), "--dir", str(site.root))

    assert code == 0 and "p.pdf" in out
    assert (tmp_path / "p.pdf").read_bytes().startswith(b"%PDF-")


def test_poster_takes_contact_and_controller_from_site_toml_and_retention_from_the_controller(
    site: SiteLayout, tmp_path: Path, capsys
) -> None:
    from tests.provisioning.test_poster import _lines_joined, pdf_text

    record = site.site_file.read_text(encoding="utf-8")
    site.site_file.write_text(
        record + '\n[privacy]\ncontroller = "Bouwbedrijf Janssens NV"\n'
        'contact = "privacy@janssens.example"\n',
        encoding="utf-8",
    )
    controller_toml = site.controller_dir / "controller.toml"
    controller_toml.write_text(
        controller_toml.read_text(encoding="utf-8") + "\n[retention]\ndays = 2000\n",
        encoding="utf-8",
    )
    code, _, err = run(capsys, "poster", "--out", str(tmp_path / "p.pdf"), "--dir", str(site.root))
    assert code == 0, err
    text = _lines_joined(pdf_text((tmp_path / "p.pdf").read_bytes()))
    assert "Bouwbedrijf Janssens NV" in text and "privacy@janssens.example" in text
    assert "2000 days" in text


def test_an_unknown_key_in_site_toml_privacy_is_a_clear_error(
    site: SiteLayout, tmp_path: Path, capsys
) -> None:
    record = site.site_file.read_text(encoding="utf-8")
    site.site_file.write_text(record + '\n[privacy]\nemail = "x@y.example"\n', encoding="utf-8")
    code, _, err = run(capsys, "poster", "--out", str(tmp_path / "p.pdf"), "--dir", str(site.root))
    assert code != 0 and "[privacy]" in err and not (tmp_path / "p.pdf").exists()


def test_poster_refuses_other_formats_and_writes_nothing(
    site: SiteLayout, tmp_path: Path, capsys
) -> None:
    code, _, err = run(capsys, "poster", "--out", str(tmp_path / "p.jpg"), "--dir", str(site.root))

    assert_one_line_error(code, err, "bad_output")
    assert not (tmp_path / "p.jpg").exists()


def test_poster_into_an_unwritable_directory_leaves_it_empty(
    site: SiteLayout, tmp_path: Path, capsys, make_unwritable: Callable[[Path], None]
) -> None:
    out_dir = tmp_path / "prints"
    out_dir.mkdir()
    make_unwritable(out_dir)

    code, _, err = run(capsys, "poster", "--out", str(out_dir / "p.png"), "--dir", str(site.root))

    assert_one_line_error(code, err, "unwritable")
    assert list(out_dir.iterdir()) == []


def test_bundle_archive_is_a_valid_gzip(site: SiteLayout, capsys) -> None:
    run(capsys, "add-terminal", "gate-1", "--direction", "in", "--dir", str(site.root))
    data = site.bundle_archive("gate-1").read_bytes()

    assert data[:2] == b"\x1f\x8b"
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert all(m.isfile() and m.uid == 0 for m in tar.getmembers())


def test_a_damaged_terminal_registry_is_reported_not_crashed_on(site: SiteLayout, capsys) -> None:
    run(capsys, "add-terminal", "gate-1", "--direction", "in", "--dir", str(site.root))
    text = site.terminals_file.read_text()
    serial = tomllib.loads(text)["terminal"][0]["cert_serial"]
    site.terminals_file.write_text(text.replace(serial, "not-hex"))
    before = snapshot(site.root)

    code, _, err = run(capsys, "revoke-terminal", "gate-1", "--dir", str(site.root))

    assert_one_line_error(code, err, "bad_site")
    assert snapshot(site.root) == before


def test_init_site_refuses_a_path_mosquitto_cannot_name(tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, *INIT, "--dir", str(tmp_path / "my site"))

    assert_one_line_error(code, err, "bad_dir")
    assert list(tmp_path.iterdir()) == []


# --- one way to pass options: the site directory, options before or after -----------------


def test_init_site_takes_the_site_directory_from_the_environment(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SITEGATE_SITE_DIR", str(tmp_path / "site"))
    code, out, err = run(capsys, *INIT)
    assert code == 0, err
    assert (tmp_path / "site" / "site.toml").exists()
    assert f"site set up in {tmp_path / 'site'}" in out


def test_dir_before_the_subcommand_works_as_after(site: SiteLayout, tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, "--dir", str(site.root), "poster", "--out", str(tmp_path / "a.pdf"))
    assert code == 0, err
    code, _, err = run(capsys, "poster", "--out", str(tmp_path / "b.pdf"), "--dir", str(site.root))
    assert code == 0, err
    assert (tmp_path / "a.pdf").exists() and (tmp_path / "b.pdf").exists()


def test_init_site_puts_bind_address_state_dir_and_endpoint_where_they_belong(
    tmp_path: Path, capsys
) -> None:
    root = tmp_path / "site"
    endpoint = "http://127.0.0.1:8081/PresenceRegistration/v1"
    code, _, err = run(
        capsys, *INIT, "--dir", str(root), "--broker-bind", "127.0.0.1", "--broker-port", "18883",
        "--state-dir", str(tmp_path / "state"), "--registry-endpoint", endpoint,
        "--web-port", "18443",
    )  # fmt: skip
    assert code == 0, err
    assert "listener 18883 127.0.0.1\n" in (root / "broker" / "mosquitto.conf").read_text()
    config = tomllib.loads((root / "controller" / "controller.toml").read_text())
    assert config["database"]["url"] == f"sqlite:///{tmp_path / 'state'}/controller.db"
    assert config["registry"]["endpoint"] == endpoint
    assert config["web"]["port"] == 18443


def test_init_site_listens_on_every_interface_by_default(tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, *INIT, "--dir", str(tmp_path / "site"))
    assert code == 0, err
    conf = (tmp_path / "site" / "broker" / "mosquitto.conf").read_text()
    assert "listener 8883\n" in conf
    config = tomllib.loads((tmp_path / "site" / "controller" / "controller.toml").read_text())
    assert config["database"]["url"] == "sqlite:////var/lib/sitegate/controller.db"


@pytest.mark.parametrize(
    ("option", "value", "code"),
    [
        ("--broker-bind", "controller.lan", "bad_bind"),
        ("--state-dir", "/var/lib/my state", "bad_state_dir"),
        ("--registry-endpoint", "ftp://nsso", "bad_endpoint"),
        ("--web-port", "70000", "bad_port"),
    ],
)
def test_init_site_refuses_bad_placement_and_writes_nothing(
    tmp_path: Path, capsys, option: str, value: str, code: str
) -> None:
    status, _, err = run(capsys, *INIT, "--dir", str(tmp_path / "site"), option, value)
    assert_one_line_error(status, err, f"[{code}]")
    assert not (tmp_path / "site").exists()
