"""Where everything lives in a site directory (``--dir``).

```
site.toml                  the site as init-site recorded it (provisioning's own record)
ca/ca.key, ca/ca.pem       the site CA: keep the key offline and backed up (dir 0700)
broker/                    mosquitto: mosquitto.conf (conf.d drop-in), ca.pem, server.pem,
                           server.key, crl.pem, dynamic-security.json (who may do what)
admin/admin.pem, .key      sitegate-provision's own client certificate, to change the running
                           broker's access control (dir 0700)
controller/                controller.toml, terminals.toml, ca.pem, controller.pem, controller.key
terminals/<id>/            a terminal's bundle: terminal.toml, ca.pem, terminal.pem, terminal.key
terminals/<id>.tar.gz      the same bundle as one archive, to copy onto the Pi
```
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class SiteLayout:
    root: Path

    @classmethod
    def at(cls, directory: str | Path) -> SiteLayout:
        return cls(Path(os.path.abspath(directory)))

    @property
    def site_file(self) -> Path:
        return self.root / "site.toml"

    @property
    def ca_dir(self) -> Path:
        return self.root / "ca"

    @property
    def ca_key(self) -> Path:
        return self.ca_dir / "ca.key"

    @property
    def ca_cert(self) -> Path:
        return self.ca_dir / "ca.pem"

    @property
    def broker_dir(self) -> Path:
        return self.root / "broker"

    @property
    def crl(self) -> Path:
        return self.broker_dir / "crl.pem"

    @property
    def dynsec_file(self) -> Path:
        return self.broker_dir / "dynamic-security.json"

    @property
    def admin_dir(self) -> Path:
        return self.root / "admin"

    @property
    def admin_cert(self) -> Path:
        return self.admin_dir / "admin.pem"

    @property
    def admin_key(self) -> Path:
        return self.admin_dir / "admin.key"

    @property
    def controller_dir(self) -> Path:
        return self.root / "controller"

    @property
    def terminals_file(self) -> Path:
        return self.controller_dir / "terminals.toml"

    @property
    def terminals_dir(self) -> Path:
        return self.root / "terminals"

    def bundle_dir(self, terminal_id: str) -> Path:
        return self.terminals_dir / terminal_id

    def bundle_archive(self, terminal_id: str) -> Path:
        return self.terminals_dir / f"{terminal_id}.tar.gz"
