# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import pkg_mgr
from conftest import fixture_text


# ---------------------------------------------------------------- packages

def test_parse_apt_policy_captures():
    assert pkg_mgr.parse_apt_policy(fixture_text('kernel/apt-cache-policy-headers-installed.txt')) == {
        'installed': '6.1.176-1', 'candidate': '6.1.176-1'}
    assert pkg_mgr.parse_apt_policy(fixture_text('kernel/apt-cache-policy-headers-cloud-not-installed.txt')) == {
        'installed': None, 'candidate': '6.1.176-1'}
    assert pkg_mgr.parse_apt_policy(fixture_text('kernel/apt-cache-policy-headers-unknown.txt')) == {
        'installed': None, 'candidate': None}


def test_apt_search_and_versioned_headers():
    names = pkg_mgr.parse_apt_search_names(fixture_text('kernel/apt-cache-search-linux-headers.txt'))
    assert len(names) == 13
    assert 'linux-headers-amd64' in names
    versioned = pkg_mgr.versioned_headers(names)
    assert versioned == {
        'linux-headers-6.1.0-47-amd64': '6.1.0-47-amd64',
        'linux-headers-6.1.0-47-cloud-amd64': '6.1.0-47-cloud-amd64',
        'linux-headers-6.1.0-47-rt-amd64': '6.1.0-47-rt-amd64',
        'linux-headers-6.1.0-50-amd64': '6.1.0-50-amd64',
        'linux-headers-6.1.0-50-cloud-amd64': '6.1.0-50-cloud-amd64',
        'linux-headers-6.1.0-50-rt-amd64': '6.1.0-50-rt-amd64',
    }
    assert pkg_mgr.newest_first(versioned, flavour='amd64') == [
        'linux-headers-6.1.0-50-amd64', 'linux-headers-6.1.0-47-amd64']
    assert pkg_mgr.newest_first(versioned, flavour='cloud-amd64', limit=1) == ['linux-headers-6.1.0-50-cloud-amd64']
    assert pkg_mgr.newest_first(versioned, flavour='azure') == []
    assert len(pkg_mgr.newest_first(versioned)) == 6


def test_versioned_headers_with_security_updates_capture():
    names = pkg_mgr.parse_apt_search_names(fixture_text('kernel/apt-cache-search-linux-headers-with-security.txt'))
    assert len(names) == 61
    assert 'linux-headers-6.12-amd64' in names  # a meta-package despite the number
    versioned = pkg_mgr.versioned_headers(names)
    assert 'linux-headers-6.12-amd64' not in versioned
    assert len(versioned) == 33  # 11 releases x 3 flavours
    assert pkg_mgr.newest_first(versioned, flavour='amd64', limit=4) == [
        'linux-headers-6.12.117+deb12-amd64', 'linux-headers-6.12.115+deb12-amd64',
        'linux-headers-6.12.113+deb12-amd64', 'linux-headers-6.12.111+deb12-amd64']
    assert pkg_mgr.newest_first(versioned, flavour='amd64')[5:8] == [
        'linux-headers-6.1.0-56-amd64', 'linux-headers-6.1.0-55-amd64', 'linux-headers-6.1.0-54-amd64']


def test_newest_first_running_series_first():
    names = pkg_mgr.parse_apt_search_names(fixture_text('kernel/apt-cache-search-linux-headers-with-security.txt'))
    versioned = pkg_mgr.versioned_headers(names)
    ordered = pkg_mgr.newest_first(versioned, flavour='cloud-amd64', series_of='6.1.0-50-cloud-amd64')
    assert ordered[:2] == ['linux-headers-6.1.0-56-cloud-amd64', 'linux-headers-6.1.0-55-cloud-amd64']
    assert ordered[6:8] == ['linux-headers-6.12.117+deb12-cloud-amd64', 'linux-headers-6.12.115+deb12-cloud-amd64']
    ordered = pkg_mgr.newest_first(versioned, flavour='amd64', series_of='6.12.117+deb12-amd64', limit=2)
    assert ordered == ['linux-headers-6.12.117+deb12-amd64', 'linux-headers-6.12.115+deb12-amd64']


def test_parse_apt_policy_pinned_away():
    assert pkg_mgr.parse_apt_policy(fixture_text('kernel/apt-cache-policy-headers-pinned-away.txt')) == {
        'installed': None, 'candidate': None}


def test_versioned_headers_drops_ubuntu_flavourless_and_other_prefixes():
    names = ['linux-headers-6.8.0-31', 'linux-headers-6.8.0-31-generic', 'linux-headers-generic',
             'linux-headers-generic-hwe-22.04', 'linux-image-6.8.0-31-generic']
    assert pkg_mgr.versioned_headers(names) == {'linux-headers-6.8.0-31-generic': '6.8.0-31-generic'}


def test_parse_apt_simulated_removals_capture():
    assert pkg_mgr.parse_apt_simulated_removals(fixture_text('kernel/apt-get-s-remove-headers-with-meta.txt')) == [
        'linux-headers-amd64', 'linux-headers-6.1.0-50-amd64']
    assert pkg_mgr.parse_apt_simulated_removals('') == []


def test_parse_dnf_list():
    # Not a capture (no Fedora VM here): the documented `dnf list` column layout.
    text = ('Available Packages\n'
            'kernel-devel.x86_64   6.8.5-301.fc40   fedora\n'
            'kernel-devel.x86_64   6.11.4-201.fc40  updates\n'
            'kernel-devel-matched.x86_64 6.11.4-201.fc40 updates\n')
    packages = pkg_mgr.parse_dnf_list(text)
    assert packages == {'kernel-devel-6.8.5-301.fc40.x86_64': '6.8.5-301.fc40.x86_64',
                        'kernel-devel-6.11.4-201.fc40.x86_64': '6.11.4-201.fc40.x86_64'}
    assert pkg_mgr.newest_first(packages) == ['kernel-devel-6.11.4-201.fc40.x86_64',
                                              'kernel-devel-6.8.5-301.fc40.x86_64']
