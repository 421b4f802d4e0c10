# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bad inputs and hostile caches for vm_image (issue 15's fault suite, unit level).

Each case asserts the exact message (the problem and the fix, naming the
thing), that no command ran but the read-only ones, and that the cache
directory is exactly as it was: nothing written, in check mode and out of it.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.modules import vm_image

from conftest import FakeCommands
from fake_controller import debian_controller, root_for_user, tree_state

MIRROR = 'http://mirror.example.invalid/debian'
CHECKSUM = 'sha256:' + '0' * 64


@pytest.fixture
def host(tmp_path, monkeypatch):
    """A Debian controller; the module plays root for the user who ran sudo (as with become)."""
    root = debian_controller(tmp_path, monkeypatch)
    root_for_user(tmp_path, monkeypatch)
    return root


def run_fault(module_runner, tmp_path, kw, check_mode):
    a = dict(cache_dir=str(tmp_path / 'cache'), build_dir=str(tmp_path / 'build'), mirror=MIRROR,
             security_mirror='', apt_proxy='')
    a.update(kw)
    before = tree_state(str(tmp_path / 'cache'))
    cmds = FakeCommands()
    res = module_runner(vm_image, a, commands=cmds, check_mode=check_mode)
    assert res.get('failed'), res
    assert cmds.calls == []
    assert tree_state(str(tmp_path / 'cache')) == before
    assert os.listdir(str(tmp_path / 'build')) == []
    return res['msg']


SIZE_FIX = 'give a positive number with an optional unit K, M, G or T, e.g. 8G'
PKG_WHY = ('is not a Debian package name (lower case letters, digits, "+", "-" and "."; at least two characters, '
           'starting with a letter or digit); give one package name per list item, spelled as apt-cache policy '
           '<name> knows it')
URL_FIX = 'give an http:// or https:// URL such as http://deb.example.invalid/debian'

BAD_INPUTS = [
    ({'image_size': '-5'}, "image_size (local_vm_image_size): '-5' is not a size; " + SIZE_FIX),
    ({'image_size': '0'}, "image_size (local_vm_image_size): '0' is not a positive size; give e.g. 8G"),
    ({'image_size': '8X'}, "image_size (local_vm_image_size): '8X' is not a size; " + SIZE_FIX),
    ({'image_size': ''}, "image_size (local_vm_image_size): '' is not a size; " + SIZE_FIX),
    ({'image_size': '+2G'}, "image_size (local_vm_image_size): '+2G' is not a size; " + SIZE_FIX),
    ({'bake_packages': ['-oAPT::Get::AllowUnauthenticated=1']},
     "bake_packages (local_vm_bake_packages): '-oAPT::Get::AllowUnauthenticated=1' " + PKG_WHY),
    ({'bake_packages': ['clang', '--no-check-gpg']}, "bake_packages (local_vm_bake_packages): '--no-check-gpg' " + PKG_WHY),
    ({'bake_packages': ['Clang']}, "bake_packages (local_vm_bake_packages): 'Clang' " + PKG_WHY),
    ({'bake_packages': ['x']}, "bake_packages (local_vm_bake_packages): 'x' " + PKG_WHY),
    ({'bake_packages': ['clang llvm']}, "bake_packages (local_vm_bake_packages): 'clang llvm' " + PKG_WHY),
    ({'mirror': 'ftp://mirror.example.invalid/debian'},
     "mirror (local_vm_mirror): 'ftp://mirror.example.invalid/debian' is not an http/https URL; " + URL_FIX + ', or auto'),
    ({'mirror': ''}, 'mirror (local_vm_mirror): it is empty but a debootstrap image needs a Debian mirror; '
                     + URL_FIX + ', or auto'),
    ({'mirror': MIRROR + '\nTypes: deb'},
     "mirror (local_vm_mirror): %r is not an http/https URL; " % (MIRROR + '\nTypes: deb') + URL_FIX + ', or auto'),
    ({'security_mirror': 'mirror.example.invalid/debian-security'},
     "security_mirror (local_vm_security_mirror): 'mirror.example.invalid/debian-security' is not an http/https "
     "URL; " + URL_FIX + ' (an empty string for none), or auto'),
    ({'apt_proxy': 'socks5://127.0.0.1:1080'},
     "apt_proxy (local_vm_apt_proxy): 'socks5://127.0.0.1:1080' is not an http/https URL; " + URL_FIX
     + ' (an empty string for none), or auto'),
    ({'cache_dir': 'relative/cache'},
     "cache_dir (local_vm_cache_dir) 'relative/cache' is not an absolute path; give an absolute directory"),
    ({'cache_dir': '/srv/lab,cache'},
     "cache_dir (local_vm_cache_dir) '/srv/lab,cache' holds ',', which QEMU's -drive option syntax cannot carry "
     "(the image paths go to qemu_vm); choose a directory without commas or control characters"),
    ({'build_dir': 'tmp'}, "build_dir (build_dir) 'tmp' is not an absolute path; give an absolute directory"),
    ({'bake_trees': [{'src': '/nonexistent/go', 'dest': '/opt/go'}]},
     'bake_trees src /nonexistent/go is not a directory on the controller; prepare it first (the local_vm role '
     'unpacks the Go toolchain there)'),
    ({'bake_trees': [{'src': '/', 'dest': 'opt/go'}]}, 'bake_trees dest \'opt/go\' must be an absolute path without ".."'),
    ({'build_dir': '/nonexistent/build'},
     'build_dir /nonexistent/build cannot be opened (No such file or directory); root builds images for another '
     'user there: create it (owned by root, not writable by others unless sticky, like /var/tmp) or choose another '
     'build_dir'),
    ({'download_timeout': 0}, 'download_timeout 0 is not a positive number of seconds; give e.g. 60'),
    ({'lock_timeout': -1}, 'lock_timeout -1 is negative; give the seconds to wait for another run (0: do not wait)'),
    ({'release': 'sid'}, 'value of release must be one of: bookworm, trixie, got: sid'),
    ({'arch': 'i386'}, 'value of arch must be one of: amd64, arm64, got: i386'),
    ({'source': 'cloud_image', 'cloud_image': '/srv/img.qcow2', 'cloud_image_checksum': 'md5:abc'},
     "cloud_image_checksum/cloud_image: checksum algorithm 'md5' is not supported; use sha256 or sha512"),
    ({'source': 'cloud_image', 'cloud_image': 'img.qcow2', 'cloud_image_checksum': CHECKSUM},
     "cloud_image 'img.qcow2' is not an absolute path; give the absolute path of the image file (the local_vm "
     "role expands ~) or a URL"),
]


@pytest.mark.parametrize('check_mode', [True, False], ids=['check', 'run'])
@pytest.mark.parametrize('kw,msg', BAD_INPUTS, ids=['%s=%r' % sorted(k.items())[-1] for k, _m in BAD_INPUTS])
def test_bad_input_fails_early_and_writes_nothing(module_runner, host, tmp_path, kw, msg, check_mode):
    assert run_fault(module_runner, tmp_path, kw, check_mode) == msg


@pytest.mark.parametrize('check_mode', [True, False], ids=['check', 'run'])
def test_group_writable_cache(module_runner, host, tmp_path, check_mode, monkeypatch):
    monkeypatch.setattr(vm_image.fsafe, 'private_group', lambda gid, uid: False)  # a group shared with others
    cache = tmp_path / 'cache'
    os.chmod(str(cache), 0o775)
    msg = run_fault(module_runner, tmp_path, {}, check_mode)
    assert msg.startswith('%s is writable by its group or by everyone (mode 0775, owner ' % cache)
    assert msg.endswith('): another user could replace what is in it; chmod go-w %s or choose another cache_dir '
                        '(local_vm_cache_dir)' % cache)


@pytest.mark.parametrize('check_mode', [True, False], ids=['check', 'run'])
def test_world_writable_images_dir(module_runner, host, tmp_path, check_mode):
    images = tmp_path / 'cache' / 'images'
    os.chmod(str(images), 0o777)
    msg = run_fault(module_runner, tmp_path, {}, check_mode)
    assert msg.startswith('%s is writable by its group or by everyone (mode 0777' % images)


@pytest.mark.parametrize('check_mode', [True, False], ids=['check', 'run'])
def test_writable_parent_of_the_cache(module_runner, host, tmp_path, check_mode):
    shared = tmp_path / 'shared'
    (shared / 'cache' / 'images').mkdir(parents=True)
    os.chmod(str(shared / 'cache'), 0o755)
    os.chmod(str(shared / 'cache' / 'images'), 0o755)
    os.chmod(str(shared), 0o777)
    before = tree_state(str(shared))
    msg = run_fault(module_runner, tmp_path, {'cache_dir': str(shared / 'cache')}, check_mode)
    assert msg == ('%s is writable by its group or by everyone and not sticky (mode 0777, owner %s): another user '
                   'could swap the directories below it; chmod go-w %s or choose another cache_dir '
                   '(local_vm_cache_dir)' % (shared, vm_image.fsafe.user_name(os.getuid()), shared))
    assert tree_state(str(shared)) == before


@pytest.mark.parametrize('check_mode', [True, False], ids=['check', 'run'])
def test_images_dir_is_a_symlink(module_runner, host, tmp_path, check_mode):
    images = tmp_path / 'cache' / 'images'
    os.rmdir(str(images))
    (tmp_path / 'elsewhere').mkdir()
    os.symlink(str(tmp_path / 'elsewhere'), str(images))
    msg = run_fault(module_runner, tmp_path, {}, check_mode)
    assert msg == ('%s is a symbolic link or a file; labkit does not follow links in its cache: remove it (rm %s) '
                   'or choose another cache_dir (local_vm_cache_dir)' % (images, images))
    assert os.listdir(str(tmp_path / 'elsewhere')) == []


@pytest.mark.parametrize('check_mode', [True, False], ids=['check', 'run'])
def test_lock_file_planted_as_a_hard_link(module_runner, host, tmp_path, check_mode):
    """A lock file with two links (a hard link to a file elsewhere) is refused, never written."""
    probe = module_runner(vm_image, dict(cache_dir=str(tmp_path / 'cache'), mirror=MIRROR, security_mirror='',
                                         apt_proxy=''), check_mode=True)
    victim = tmp_path / 'victim'
    victim.write_text('keep me\n')
    os.link(str(victim), probe['path'] + '.lock')
    msg = run_fault(module_runner, tmp_path, {}, check_mode)
    lock = os.path.basename(probe['path']) + '.lock'
    assert msg == ('the lock file %s is not a plain file of its own (it is a file with 2 links); remove it (rm %s) '
                   'and run again' % (lock, lock))
    assert victim.read_text() == 'keep me\n'
