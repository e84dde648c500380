"""Debian-only workaround for the tests: Debian's azure-cli 2.45 asks its SDK for api-versions
that Debian's python3-azure does not ship (Azure/azure-cli#26830), so every SDK-based
`az network` / `az vm` command dies before sending a request, against any server.

Put this folder on PYTHONPATH (the tests do; nothing else should) and az's `latest` API profile
points at the versions the packaged SDK has: network 2022-07-01 (azure-mgmt-network 23.0.0b1
ships one API version, whose operations live in `azure.mgmt.network.operations`) and compute
2022-08-01. On the wire it changes only the api-version query parameter. Nothing else about az
is changed. See docs/sdk.md, "The Azure CLI".
"""
import importlib
import importlib.abc
import importlib.util
import sys

NETWORK_VERSION = '2022-07-01'
COMPUTE_VERSION = '2022-08-01'
ALIASES = {
    'azure.mgmt.network.v2022_07_01.operations': 'azure.mgmt.network.operations',
    'azure.mgmt.network.v2022_07_01.aio': 'azure.mgmt.network.aio',
    'azure.mgmt.network.v2022_07_01.aio.operations': 'azure.mgmt.network.aio.operations',
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target):
        self._target = target

    def create_module(self, spec):
        return importlib.import_module(self._target)

    def exec_module(self, module):
        pass


class _AliasFinder(importlib.abc.MetaPathFinder):
    """Imports the aliased modules lazily: the network operations module is large."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in ALIASES:
            return importlib.util.spec_from_loader(fullname, _AliasLoader(ALIASES[fullname]))
        return None


def _patch_profile():
    try:
        from azure.cli.core.profiles import _shared
    except ImportError:  # not az: nothing to do
        return
    latest = _shared.AZURE_API_PROFILES['latest']
    latest[_shared.ResourceType.MGMT_NETWORK] = NETWORK_VERSION
    compute = latest[_shared.ResourceType.MGMT_COMPUTE]
    overrides = dict(compute.profile)
    overrides['virtual_machine_scale_sets'] = COMPUTE_VERSION
    latest[_shared.ResourceType.MGMT_COMPUTE] = _shared.SDKProfile(COMPUTE_VERSION, overrides)


sys.meta_path.insert(0, _AliasFinder())
_patch_profile()
