# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import apt_sources
from conftest import fixture_text


# ---------------------------------------------------------------- mirror discovery

def test_deb822_sources_give_mirror_and_security_mirror():
    entries = apt_sources.parse_deb822_sources(fixture_text('qemu/debian.sources'))
    assert [e['uris'] for e in entries] == [
        ['http://mirror.example.invalid/debian'],
        ['http://mirror.example.invalid/debian-security'],
    ]
    assert entries[0]['suites'] == ['bookworm', 'bookworm-updates']
    assert apt_sources.discover_mirrors(entries) == ('http://mirror.example.invalid/debian',
                                                     'http://mirror.example.invalid/debian-security')


def test_deb822_disabled_stanza_and_continuation_lines():
    text = ('Types: deb\nURIs: http://off.example.invalid/debian\nSuites: bookworm\nEnabled: no\n\n'
            'Types: deb deb-src\nURIs:\n http://on.example.invalid/debian\nSuites: bookworm\nComponents: main\n')
    entries = apt_sources.parse_deb822_sources(text)
    assert len(entries) == 1
    assert entries[0]['uris'] == ['http://on.example.invalid/debian']
    assert apt_sources.discover_mirrors(entries) == ('http://on.example.invalid/debian', None)


def test_one_line_sources_list_with_options_and_deb_src():
    entries = apt_sources.parse_sources_list(fixture_text('qemu/sources.list'))
    assert entries[0] == {'types': ['deb'], 'uris': ['http://ftp.example.invalid/debian'],
                          'suites': ['bullseye'], 'components': ['main', 'contrib']}
    assert entries[1]['types'] == ['deb-src']
    assert apt_sources.discover_mirrors(entries) == ('http://ftp.example.invalid/debian',
                                                     'http://security.example.invalid/debian-security')


def test_no_usable_source_gives_none():
    assert apt_sources.discover_mirrors(apt_sources.parse_sources_list('deb cdrom:[Debian]/ bookworm main\n')) == (None, None)
    assert apt_sources.discover_mirrors([]) == (None, None)


def test_apt_proxy_from_real_apt_config_dump():
    assert apt_sources.parse_apt_config_dump(fixture_text('qemu/apt-config-dump-proxy.txt')) == 'http://proxy.example.invalid:3142'
    assert apt_sources.parse_apt_config_dump(fixture_text('qemu/apt-config-dump-noproxy.txt')) is None
    assert apt_sources.parse_apt_config_dump('Acquire::http::Proxy "DIRECT";\n') is None


def test_proxy_from_environment():
    assert apt_sources.proxy_from_environ({'http_proxy': 'http://p.example.invalid:8080'}) == 'http://p.example.invalid:8080'
    assert apt_sources.proxy_from_environ({'HTTP_PROXY': 'http://P.example.invalid'}) == 'http://P.example.invalid'
    assert apt_sources.proxy_from_environ({}) is None


@pytest.mark.parametrize('url,expected', [
    ('http://127.0.0.1:3142', 'http://10.0.2.2:3142'),
    ('http://localhost:3142/', 'http://10.0.2.2:3142/'),
    ('http://user@127.0.1.1/debian', 'http://user@10.0.2.2/debian'),
    ('http://mirror.example.invalid/debian', 'http://mirror.example.invalid/debian'),
    ('http://localhost.example.invalid/', 'http://localhost.example.invalid/'),
    ('', ''),
])
def test_guest_url_maps_loopback_to_the_slirp_gateway(url, expected):
    assert apt_sources.guest_url(url) == expected


def test_os_release_id():
    assert apt_sources.os_release_id('PRETTY_NAME="Debian GNU/Linux 12"\nID=debian\n') == 'debian'
    assert apt_sources.os_release_id('ID="ubuntu"\n') == 'ubuntu'
    assert apt_sources.os_release_id('') is None


# ---------------------------------------------------------------- image contents and key

def test_guest_sources_and_apt_conf():
    text = apt_sources.guest_sources('trixie', 'http://m.example.invalid/debian', 'http://m.example.invalid/debian-security')
    stanzas = apt_sources.parse_deb822_sources(text)
    assert stanzas[0]['suites'] == ['trixie', 'trixie-updates']
    assert stanzas[1]['suites'] == ['trixie-security']
    assert len(apt_sources.parse_deb822_sources(apt_sources.guest_sources('trixie', 'http://m.example.invalid/debian', ''))) == 1
    conf = apt_sources.guest_apt_conf('http://10.0.2.2:3142', False, ['APT::Install-Recommends "false";'])
    assert conf.splitlines() == ['Acquire::http::Proxy "http://10.0.2.2:3142";',
                                 'Acquire::Check-Valid-Until "false";', 'APT::Install-Recommends "false";']
    assert apt_sources.guest_apt_conf('', True, []) == ''
