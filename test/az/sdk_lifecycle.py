"""The packet-capture lifecycle with the Azure SDK for Python (Debian's python3-azure) against a
netwatcher server, as test/az-python-sdk.test.ts runs it: login at the server's token endpoint,
then create, get, status until Running, stop, status Stopped, delete after stop, delete of a
missing capture, and the agent extension's create_or_update and get. Every long-running call
passes polling_interval=1. Prints one JSON object per step on stdout; exits 1 on the first
failure with the error on stderr.

Usage: python3 sdk_lifecycle.py BASE_URL ADMIN_TOKEN SUBSCRIPTION RESOURCE_GROUP VM LOCATION
(REQUESTS_CA_BUNDLE names the server's certificate.)
"""
import json
import sys
import time

import requests
from azure.core.credentials import AccessToken
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import VirtualMachineExtension
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network.models import PacketCapture, PacketCaptureFilter, PacketCaptureStorageLocation

POLL = {'polling_interval': 1}


class NetwatcherCredential:
    """A TokenCredential that trades the netwatcher credential at the server's token endpoint
    (client credentials), as MSAL does for `az login --service-principal`."""

    def __init__(self, base_url, secret):
        self._url = f'{base_url}/adfs/oauth2/token'
        self._secret = secret
        self.requests = 0

    def get_token(self, *scopes, **_kwargs):
        self.requests += 1
        r = requests.post(self._url, data={'grant_type': 'client_credentials', 'client_id': 'netwatcher', 'client_secret': self._secret, 'scope': ' '.join(scopes)}, timeout=30)
        r.raise_for_status()
        body = r.json()
        return AccessToken(body['access_token'], int(time.time()) + int(body['expires_in']))


def step(step_name, **fields):
    print(json.dumps({'step': step_name, **fields}, default=str), flush=True)


def main(base_url, admin_token, sub, rg, vm, location):
    credential = NetwatcherCredential(base_url, admin_token)
    network = NetworkManagementClient(credential, sub, base_url=base_url)
    compute = ComputeManagementClient(credential, sub, base_url=base_url)

    watcher = next(w for w in network.network_watchers.list_all() if w.location.lower() == location.lower())
    wrg = watcher.id.split('/')[4]
    step('watcher', name=watcher.name, resourceGroup=wrg)

    ext = compute.virtual_machine_extensions.begin_create_or_update(rg, vm, 'NetworkWatcherAgentLinux', VirtualMachineExtension(
        location=location, publisher='Microsoft.Azure.NetworkWatcher', type_properties_type='NetworkWatcherAgentLinux', type_handler_version='1.4', auto_upgrade_minor_version=True), **POLL).result()
    step('extension.create_or_update', provisioningState=ext.provisioning_state, typeHandlerVersion=ext.type_handler_version)
    got = compute.virtual_machine_extensions.get(rg, vm, 'AzureNetworkWatcherExtension')
    step('extension.get', name=got.name, provisioningState=got.provisioning_state, publisher=got.publisher)

    account = next(a for a in compute_storage_accounts(base_url, credential, sub) if a['name'] == 'nwlocal')
    vm_id = compute.virtual_machines.get(rg, vm).id
    started = time.monotonic()
    created = network.packet_captures.begin_create(wrg, watcher.name, 'pysdk', PacketCapture(
        target=vm_id, storage_location=PacketCaptureStorageLocation(storage_id=account['id']), time_limit_in_seconds=60,
        filters=[PacketCaptureFilter(protocol='TCP', local_port='1-65535')]), **POLL).result()
    step('packet_captures.create', provisioningState=created.provisioning_state, storagePath=created.storage_location.storage_path, seconds=round(time.monotonic() - started, 2))
    shown = network.packet_captures.get(wrg, watcher.name, 'pysdk')
    step('packet_captures.get', name=shown.name, target=shown.target, timeLimitInSeconds=shown.time_limit_in_seconds)

    status = None
    for _ in range(30):
        status = network.packet_captures.begin_get_status(wrg, watcher.name, 'pysdk', **POLL).result()
        if status.packet_capture_status == 'Running':
            break
        time.sleep(0.5)
    step('packet_captures.get_status', packetCaptureStatus=status.packet_capture_status, extra=sorted(status.additional_properties.keys()))

    started = time.monotonic()
    network.packet_captures.begin_stop(wrg, watcher.name, 'pysdk', **POLL).result()
    step('packet_captures.stop', seconds=round(time.monotonic() - started, 2))
    status = network.packet_captures.begin_get_status(wrg, watcher.name, 'pysdk', **POLL).result()
    step('packet_captures.get_status', packetCaptureStatus=status.packet_capture_status, stopReason=status.stop_reason)

    started = time.monotonic()
    network.packet_captures.begin_delete(wrg, watcher.name, 'pysdk', **POLL).result()
    step('packet_captures.delete', seconds=round(time.monotonic() - started, 2))
    network.packet_captures.begin_delete(wrg, watcher.name, 'never-created', **POLL).result()
    step('packet_captures.delete_missing')
    step('list', names=[p.name for p in network.packet_captures.list(wrg, watcher.name)], tokenRequests=credential.requests)


def compute_storage_accounts(base_url, credential, sub):
    from azure.mgmt.storage import StorageManagementClient
    storage = StorageManagementClient(credential, sub, base_url=base_url)
    return [{'name': a.name, 'id': a.id} for a in storage.storage_accounts.list()]


if __name__ == '__main__':
    try:
        main(*sys.argv[1:7])
    except Exception as error:  # the test prints it
        print(f'{type(error).__name__}: {error}', file=sys.stderr)
        sys.exit(1)
