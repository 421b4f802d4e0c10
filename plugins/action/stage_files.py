# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Action of labkit.ebpf_rdma.stage_files: hash the wanted files on the controller, send the host only
those it lacks, in one tar and one module run.

Which files the host has is taken from the controller's record of the last run
(``record``); the module checks it against the host's own manifest and, when the
host has something else, returns what it has (``stale``) so the difference goes in
a second run. With no record the first run sends nothing and only asks.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import tempfile

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.stage import (
    StageError, pack, read_record, record_text, wanted_from_controller)

MODULE = 'labkit.ebpf_rdma.stage_files'
ARGS = dict(
    src=dict(type='path', required=True),
    paths=dict(type='list', elements='str', required=True),
    dest=dict(type='path', required=True),
    manifest=dict(type='path', required=True),
    keep=dict(type='list', elements='str', default=[]),
    record=dict(type='path', default=''),
)


def delta(wanted, have):
    """The wanted files whose SHA-256 the host does not have (pure)."""
    return sorted(rel for rel, w in wanted.items() if have.get(rel) != w['sha256'])


def write_record(path, manifest):
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    fd, tmp = tempfile.mkstemp(prefix='.record-', dir=directory)
    with os.fdopen(fd, 'w') as f:
        f.write(record_text(manifest))
    os.rename(tmp, path)


class ActionModule(ActionBase):

    TRANSFERS_FILES = True
    _VALID_ARGS = frozenset(ARGS)

    def _module(self, args, task_vars, local_tar=None):
        """One module run, with local_tar sent along as its bundle."""
        if local_tar:
            if not self._connection._shell.tmpdir:
                self._make_tmp_path()
            remote = self._connection._shell.join_path(self._connection._shell.tmpdir, 'stage.tar')
            self._transfer_file(local_tar, remote)
            self._fixup_perms2((self._connection._shell.tmpdir, remote))
            args = dict(args, bundle=remote)
        return self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        dummy, args = self.validate_argument_spec(argument_spec=ARGS)
        try:
            wanted = wanted_from_controller(args['src'], args['paths'])
        except (StageError, IOError, OSError) as e:
            result.update(failed=True, msg='stage_files: %s' % e)
            return result
        module_args = dict(args, files=wanted, on_missing='report')
        if self._task.check_mode:
            return dict(result, **self._module(module_args, task_vars))
        have = read_record(args['record']) if args['record'] else None
        workdir = tempfile.mkdtemp(prefix='labkit-stage-')
        sent = {'files': 0, 'bytes': 0, 'runs': 0}
        try:
            for dummy_attempt in range(3):
                local_tar = None
                if have is not None:
                    rels = delta(wanted, have)
                    if rels:
                        local_tar = os.path.join(workdir, 'stage.tar')
                        with open(local_tar, 'wb') as out:
                            pack(args['src'], rels, wanted, out)
                        sent['files'] += len(rels)
                        sent['bytes'] += os.path.getsize(local_tar)
                ret = self._module(module_args, task_vars, local_tar)
                sent['runs'] += 1
                if ret.get('failed') or not ret.get('stale'):
                    break
                have = ret.get('have') or {}
            else:
                ret = dict(failed=True, msg='stage_files: the files on the host kept changing while they were staged '
                                            '(three runs): stop whatever writes into %s and run again' % args['dest'])
            if not ret.get('failed') and args['record'] and 'manifest' in ret:
                write_record(args['record'], ret['manifest'])
        except (StageError, IOError, OSError) as e:
            ret = dict(failed=True, msg='stage_files: %s on the controller' % e)
        except AnsibleError:
            raise
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
            self._remove_tmp_path(self._connection._shell.tmpdir)
        result.update(ret)
        result['sent'] = sent
        return result
