"""Debian-only workaround for the tests: Debian's azure-cli 2.45 asks its SDK for api-versions
that Debian's python3-azure does not ship (Azure/azure-cli#26830), so every SDK-based
`az network` / `az vm` command dies before sending a request, against any server.

Put this folder on PYTHONPATH (the tests do; nothing else should) and az's `latest` API profile
points at the versions the packaged SDK has: network 2022-07-01 (azure-mgmt-network 23.0.0b1
ships one API version, whose operations live in `azure.mgmt.network.operations`) and compute
2022-08-01. On the wire it changes only the api-version query parameter. Nothing else about az
is changed. See docs/sdk.md, "The Azure CLI".

Second, `az role assignment` and `az role definition` read `client.config.subscription_id` of
the authorization SDK's operation groups, which Debian's newer python3-azure calls `_config`
('RoleAssignmentsOperations' object has no attribute 'config', before any request): the operation
classes az gets get a read-only `config` that is their `_config`. Nothing on the wire changes.
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


ROLE_CLIENT_FACTORY = 'azure.cli.command_modules.role._client_factory'


def _with_config_alias(factory):
    """Wraps az's authorization client factory: the operation groups it hands out answer `.config`."""
    def wrapped(*args, **kwargs):
        client = factory(*args, **kwargs)
        for group in ('role_assignments', 'role_definitions'):
            ops_class = type(getattr(client, group))
            if not hasattr(ops_class, 'config'):
                ops_class.config = property(lambda self: self._config)
        return client
    return wrapped


class _PatchingLoader(importlib.abc.Loader):
    """Runs a module's own loader, then wraps its authorization client factory (before `custom` imports it by name)."""

    def __init__(self, inner):
        self._inner = inner

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        self._inner.exec_module(module)
        module._auth_client_factory = _with_config_alias(module._auth_client_factory)


class _AliasFinder(importlib.abc.MetaPathFinder):
    """Imports the aliased modules lazily: the network operations module is large."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in ALIASES:
            return importlib.util.spec_from_loader(fullname, _AliasLoader(ALIASES[fullname]))
        if fullname == ROLE_CLIENT_FACTORY:
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, 'find_spec'):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None and spec.loader is not None:
                    spec.loader = _PatchingLoader(spec.loader)
                    return spec
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
