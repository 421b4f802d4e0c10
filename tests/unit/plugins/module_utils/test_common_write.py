# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""write_file_atomic: the data is on disk before the rename, and the rename before it returns."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import common


class Mover(object):
    def __init__(self, log):
        self.log = log

    def atomic_move(self, src, dest):
        self.log.append(('rename', os.path.basename(dest)))
        shutil.move(src, dest)


def test_data_and_rename_are_synced(tmp_path, monkeypatch):
    log = []
    real_fsync = os.fsync

    def fsync(fd):
        log.append(('fsync', 'dir' if os.path.isdir('/proc/self/fd/%d' % fd) else 'file'))
        real_fsync(fd)

    monkeypatch.setattr(os, 'fsync', fsync)
    monkeypatch.setattr(common, 'host_path', lambda p: p)
    target = tmp_path / 'etc' / 'limits.conf'
    common.write_file_atomic(Mover(log), str(target), u'# Managed by x\n', mode=0o644)
    # a crash after the rename finds the whole new file: its data was synced first
    assert log == [('fsync', 'file'), ('rename', 'limits.conf'), ('fsync', 'dir')]
    assert target.read_text() == '# Managed by x\n' and oct(target.stat().st_mode & 0o777) == '0o644'
    assert [p.name for p in target.parent.iterdir()] == ['limits.conf']  # no temporary file left
