# SPDX-License-Identifier: GPL-3.0-or-later
"""Offline stand-in for the get-pip bootstrap script that ansible-test downloads.

ansible-test sanity (--local/--venv) fetches a get-pip script from its own
download host before it creates its virtual environments; where only PyPI is
reachable it fails with "does not have pip available". tests/sanity/run puts
this file at the cache path ansible-test looks at first. It installs pip from
the wheel bundled with the running Python (ensurepip); the requested pip
version and get-pip's own options on the command line are ignored: the
bundled pip installs ansible-test's requirements just as well.
"""
import ensurepip

if __name__ == '__main__':
    ensurepip.bootstrap(upgrade=True, default_pip=True)
