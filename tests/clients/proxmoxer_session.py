"""Drives the emulator with proxmoxer, a third-party Proxmox client, the way its users do.

Usage: proxmoxer_session.py HOST:PORT CA_FILE TOKEN_USER TOKEN_NAME TOKEN_VALUE PASSWORD_USER PASSWORD
Prints one JSON object with what it saw; exits non-zero on any unexpected failure.
"""
import json
import sys
import time

from proxmoxer import ProxmoxAPI
from proxmoxer.core import ResourceException

host, ca_file, token_user, token_name, token_value, password_user, password = sys.argv[1:8]
address, port = host.rsplit(":", 1)

token_api = ProxmoxAPI(address, port=int(port), user=token_user, token_name=token_name, token_value=token_value, verify_ssl=ca_file)
ticket_api = ProxmoxAPI(address, port=int(port), user=password_user, password=password, verify_ssl=ca_file)


def wait(api, node, upid):
    for _ in range(200):
        status = api.nodes(node).tasks(upid).status.get()
        if status["status"] == "stopped":
            return status["exitstatus"]
        time.sleep(0.05)
    raise SystemExit(f"task {upid} did not finish")


seen = {"version": token_api.version.get()["version"], "nodes": sorted(n["node"] for n in token_api.nodes.get())}
newid = int(token_api.cluster.nextid.get())
upid = token_api.nodes("pve1").qemu(9000).clone.post(newid=newid, name="from-proxmoxer", full=1)
seen["clone_exit"] = wait(token_api, "pve1", upid)
config = token_api.nodes("pve1").qemu(newid).config.get()
seen["clone_name"] = config["name"]
ticket_api.nodes("pve1").qemu(newid).config.put(cores=4, tags="Proxmoxer,b", digest=config["digest"])
config = ticket_api.nodes("pve1").qemu(newid).config.get()
seen["cores"] = config["cores"]
seen["tags"] = config["tags"]
try:
    token_api.nodes("pve1").qemu.post(vmid=50)
except ResourceException as error:
    seen["bad_vmid_status"] = error.status_code
    seen["bad_vmid_errors"] = error.errors
try:
    token_api.nodes("pve1").qemu(4242).config.get()
except ResourceException as error:
    seen["missing_status"] = error.status_code
    seen["missing_message"] = error.content
print(json.dumps(seen))
