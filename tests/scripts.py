"""Load a script of tools/ as a module, as ``python tools/...`` runs it."""
import importlib.util
import os.path as osp
import sys


def load_script(root, *parts):
    """Execute ``root/parts...`` as a module and return it. As for a script
    run by ``python``, its folder comes first on ``sys.path``, so its sibling
    modules import (tools/bench/, tools/analysis/depth_*.py); the package
    itself comes from the installed distribution, not from a path edit."""
    path = osp.join(root, *parts)
    folder = osp.dirname(path)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
