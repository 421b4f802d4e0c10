# SPDX-License-Identifier: GPL-3.0-or-later
"""Load a role's helper script (roles/<role>/files/<name>.py) as a module."""

import importlib.util
import os

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))


def role_script(role, name):
    path = os.path.join(ROOT, 'roles', role, 'files', name + '.py')
    spec = importlib.util.spec_from_file_location('%s_%s' % (role, name), path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
