//! HA in PVE 9: rules and their validation, groups refused once migrated (or kept with
//! `--ha-groups`), and the HA manager placing resources by the rules.

mod common;

use std::time::Duration;

use common::*;
use pve_api::{ApiError, Params};
use reqwest::Method;
use serde_json::{Value, json};

async fn post(api: &pve_api::PveClient, path: &str, params: Params) -> Result<Value, ApiError> {
    call(api, Method::POST, path, params).await
}

async fn put(api: &pve_api::PveClient, path: &str, params: Params) -> Result<Value, ApiError> {
    call(api, Method::PUT, path, params).await
}

/// Linked clones of the template, each an HA resource in `state`.
async fn managed(api: &pve_api::PveClient, vmids: &[u64], state: &str) {
    for vmid in vmids {
        ok(api, &api.clone_guest(QEMU, "pve1", 9000, *vmid, &Params::new()).await.unwrap()).await;
        api.create_ha_resource(&Params::new().set("sid", format!("vm:{vmid}")).set("state", state)).await.unwrap();
    }
}

/// Full clones (they can migrate), each an HA resource in state `started`.
async fn started(api: &pve_api::PveClient, vmids: &[u64]) {
    for vmid in vmids {
        full_clone(api, *vmid, &format!("vm{vmid}")).await;
        api.create_ha_resource(&Params::new().set("sid", format!("vm:{vmid}"))).await.unwrap();
    }
}

async fn node_of(api: &pve_api::PveClient, vmid: u64) -> String {
    api.locate_guest(vmid).await.unwrap().map(|g| g.node).unwrap_or_default()
}

fn rule(id: &str, rule_type: &str, resources: &str) -> Params {
    Params::new().set("rule", id).set("type", rule_type).set("resources", resources)
}

#[tokio::test]
async fn rules_are_validated_as_pve_validates_them() {
    let emu = emulator(|_| {}).await;
    let api = client(&emu);
    managed(&api, &[101, 102, 103, 104], "stopped").await;
    let rules = "/cluster/ha/rules";

    let missing = post(&api, rules, rule("pin", "node-affinity", "vm:101")).await.unwrap_err();
    assert_eq!(missing.message(), "missing value for required option 'nodes'");
    let foreign =
        post(&api, rules, rule("pin", "node-affinity", "vm:101").set("nodes", "pve2").set("affinity", "negative")).await.unwrap_err();
    assert_eq!(foreign.message(), "unexpected property 'affinity'");
    let unmanaged = post(&api, rules, rule("pin", "node-affinity", "vm:101,vm:999").set("nodes", "pve2")).await.unwrap_err();
    assert_eq!(unmanaged.message(), "create ha rule failed: cannot use unmanaged resource(s) vm:999.");
    let unknown = post(&api, rules, rule("pin", "node-affinity", "vm:101").set("nodes", "pve2,pve9:3")).await.unwrap_err();
    assert_eq!(unknown.message(), "create ha rule failed: cannot use non-existent node(s) pve9.");

    post(&api, rules, rule("pin", "node-affinity", "vm:101").set("nodes", "pve3,pve2:2").flag("strict", true).set("comment", "db nodes"))
        .await
        .unwrap();
    let pin = get(&api, "/cluster/ha/rules/pin").await;
    assert_eq!(
        (&pin["type"], &pin["resources"], &pin["nodes"], &pin["strict"], &pin["comment"], &pin["order"]),
        (&json!("node-affinity"), &json!("vm:101"), &json!("pve2:2,pve3"), &json!(1), &json!("db nodes"), &json!(1)),
        "{pin}"
    );
    assert_eq!(pin["digest"].as_str().map(str::len), Some(40));
    let again = post(&api, rules, rule("pin", "node-affinity", "vm:102").set("nodes", "pve2")).await.unwrap_err();
    assert_eq!(again.message(), "create ha rule failed: HA rule 'pin' already defined");

    // A resource in two node affinity rules.
    let twice = post(&api, rules, rule("pin2", "node-affinity", "vm:101").set("nodes", "pve1")).await.unwrap_err();
    assert_eq!(
        twice.message(),
        "create ha rule failed: 400 Rule 'pin2' is invalid.\nresources: resource 'vm:101' is already used in another node affinity rule"
    );
    // Keeping two resources together and apart at once.
    post(&api, rules, rule("keep", "resource-affinity", "vm:102,vm:103").set("affinity", "positive")).await.unwrap();
    let apart = post(&api, rules, rule("apart", "resource-affinity", "vm:103,vm:102").set("affinity", "negative")).await.unwrap_err();
    assert!(apart.message().ends_with("resources: rule shares two or more resources with a positive resource affinity rule"), "{apart}");
    // More resources kept apart than there are nodes.
    let crowd =
        post(&api, rules, rule("crowd", "resource-affinity", "vm:101,vm:102,vm:103,vm:104").set("affinity", "negative")).await.unwrap_err();
    assert!(crowd.message().contains("rule defines more resources than available nodes"), "{crowd}");
    let alone = post(&api, rules, rule("alone", "resource-affinity", "vm:104").set("affinity", "negative")).await.unwrap_err();
    assert!(alone.message().ends_with("resources: rule is ineffective as there are less than two resources"), "{alone}");
    let no_affinity = post(&api, rules, rule("rx", "resource-affinity", "vm:104,vm:101")).await.unwrap_err();
    assert_eq!(no_affinity.message(), "missing value for required option 'affinity'");

    let listed = get(&api, rules).await;
    assert_eq!(listed.as_array().unwrap().iter().map(|r| r["rule"].as_str().unwrap()).collect::<Vec<_>>(), vec!["pin", "keep"]);
    let by_type = call(&api, Method::GET, rules, Params::new().set("type", "resource-affinity")).await.unwrap();
    assert_eq!(by_type[0]["rule"], "keep");
    let by_resource = call(&api, Method::GET, rules, Params::new().set("resource", "vm:101")).await.unwrap();
    assert_eq!(by_resource.as_array().unwrap().len(), 1);

    // Updates: the type must match; `disable=0` is dropped, deleting `disable` enables again.
    let wrong = put(&api, "/cluster/ha/rules/pin", Params::new().set("type", "resource-affinity").set("comment", "x")).await.unwrap_err();
    assert_eq!(wrong.message(), "update HA rules failed: unexpected property 'type'");
    put(&api, "/cluster/ha/rules/pin", Params::new().set("type", "node-affinity").set("delete", "strict").flag("disable", true))
        .await
        .unwrap();
    let pin = get(&api, "/cluster/ha/rules/pin").await;
    assert_eq!((pin.get("strict"), &pin["disable"]), (None, &json!(1)), "{pin}");
    put(&api, "/cluster/ha/rules/pin", Params::new().set("type", "node-affinity").flag("disable", false)).await.unwrap();
    assert_eq!(get(&api, "/cluster/ha/rules/pin").await["disable"], 1, "PVE ignores disable=0");
    put(&api, "/cluster/ha/rules/pin", Params::new().set("type", "node-affinity").set("delete", "disable")).await.unwrap();
    assert_eq!(get(&api, "/cluster/ha/rules/pin").await.get("disable"), None);
    let required = put(&api, "/cluster/ha/rules/pin", Params::new().set("type", "node-affinity").set("delete", "nodes")).await.unwrap_err();
    assert_eq!(required.message(), "update HA rules failed: unable to delete required option 'nodes'");

    call(&api, Method::DELETE, "/cluster/ha/rules/keep", Params::new()).await.unwrap();
    let gone = call(&api, Method::GET, "/cluster/ha/rules/keep", Params::new()).await.unwrap_err();
    assert_eq!(gone.message(), "no such ha rule 'keep'");
    // Removing an HA resource takes it out of the rules (purge, the default); an empty rule goes.
    api.delete_ha_resource("vm:101").await.unwrap();
    assert!(get(&api, rules).await.as_array().unwrap().is_empty());
}

#[tokio::test]
async fn groups_are_refused_once_migrated_to_rules() {
    let emu = emulator(|_| {}).await;
    let api = client(&emu);
    let index = call(&api, Method::GET, "/cluster/ha/groups", Params::new()).await.unwrap_err();
    assert_eq!(index.message(), "cannot index groups: ha groups have been migrated to rules");
    let create = post(&api, "/cluster/ha/groups", Params::new().set("group", "prod").set("nodes", "pve1")).await.unwrap_err();
    assert_eq!(create.message(), "cannot create group: ha groups have been migrated to rules");
    ok(&api, &api.clone_guest(QEMU, "pve1", 9000, 101, &Params::new()).await.unwrap()).await;
    let grouped = api.create_ha_resource(&Params::new().set("sid", "vm:101").set("group", "prod")).await.unwrap_err();
    assert_eq!(grouped.message(), "invalid parameter 'group': ha groups have been migrated to rules");
    let missing = api.create_ha_resource(&Params::new().set("sid", "vm:555")).await.unwrap_err();
    assert_eq!(missing.message(), "resource 'vm:555' does not exist in cluster");
    let bare = api.create_ha_resource(&Params::new().set("sid", "555")).await.unwrap_err();
    assert_eq!(bare.message(), "unable to detect SID from VMID - VM/CT 555 does not exist");
}

#[tokio::test]
async fn groups_are_kept_with_the_pve8_flag() {
    let emu = emulator(|c| c.ha_groups = true).await;
    let api = client(&emu);
    post(&api, "/cluster/ha/groups", Params::new().set("group", "prod").set("nodes", "pve2:2,pve3").flag("restricted", true))
        .await
        .unwrap();
    assert_eq!(get(&api, "/cluster/ha/groups/prod").await["nodes"], "pve2:2,pve3");
    managed(&api, &[101], "stopped").await;
    api.update_ha_resource("vm:101", &Params::new().set("group", "prod")).await.unwrap();
    assert_eq!(api.ha_resource("vm:101").await.unwrap()["group"], "prod");
    let rules = get(&api, "/cluster/ha/rules").await;
    assert_eq!(rules[0]["rule"], "ha-group-prod", "{rules}");
    assert_eq!((&rules[0]["nodes"], &rules[0]["strict"]), (&json!("pve2:2,pve3"), &json!(1)), "{rules}");
    assert_eq!(rules[0]["comment"], "Generated from HA group 'prod'.");
    let refused = post(&api, "/cluster/ha/rules", rule("rx", "node-affinity", "vm:101").set("nodes", "pve1")).await.unwrap_err();
    assert_eq!(refused.message(), "cannot create ha rule: ha groups have not been migrated yet");
}

#[tokio::test]
async fn node_affinity_moves_resources_to_the_preferred_nodes() {
    let emu = emulator(|_| {}).await;
    let api = client(&emu);
    started(&api, &[110, 111]).await;
    eventually("HA starts both", async || {
        api.locate_guest(110).await.unwrap().unwrap().running && api.locate_guest(111).await.unwrap().unwrap().running
    })
    .await;
    // failback (the default): the resource goes to the highest-priority node.
    post(&api, "/cluster/ha/rules", rule("prefer", "node-affinity", "vm:110").set("nodes", "pve2:2,pve3:1")).await.unwrap();
    eventually("vm:110 moves to pve2", async || node_of(&api, 110).await == "pve2").await;
    assert!(api.locate_guest(110).await.unwrap().unwrap().running, "a running VM is migrated live");
    // Without failback a non-strict rule leaves a resource where it is…
    api.update_ha_resource("vm:111", &Params::new().flag("failback", false)).await.unwrap();
    post(&api, "/cluster/ha/rules", rule("soft", "node-affinity", "vm:111").set("nodes", "pve3")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(node_of(&api, 111).await, "pve1");
    // …a strict one does not allow it to stay.
    put(&api, "/cluster/ha/rules/soft", Params::new().set("type", "node-affinity").flag("strict", true)).await.unwrap();
    eventually("vm:111 moves to pve3", async || node_of(&api, 111).await == "pve3").await;

    // A strict rule keeps a resource off other nodes even when its node fails.
    emu.emulator.set_node_online("pve3", false);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(node_of(&api, 111).await, "pve3", "no allowed node to recover to");
    let syslog = get(&api, "/nodes/pve1/syslog").await.to_string();
    assert!(syslog.contains("recovering service 'vm:111' from fenced node 'pve3' failed, no recovery node found"), "{syslog}");
    // The non-strict one falls back to any node: vm:110 stays on pve2.
    assert_eq!(node_of(&api, 110).await, "pve2");
}

#[tokio::test]
async fn negative_affinity_keeps_resources_apart() {
    let emu = emulator(|_| {}).await;
    let api = client(&emu);
    started(&api, &[120, 121]).await;
    post(&api, "/cluster/ha/rules", rule("apart", "resource-affinity", "vm:120,vm:121").set("affinity", "negative")).await.unwrap();
    eventually("the two settle on different nodes", async || {
        let status = get(&api, "/cluster/ha/status/manager_status").await["manager_status"]["service_status"].clone();
        let (a, b) = (&status["vm:120"], &status["vm:121"]);
        a["state"] == "started" && b["state"] == "started" && a["node"] != b["node"]
    })
    .await;
    let (a, b) = (node_of(&api, 120).await, node_of(&api, 121).await);

    // A request to put one next to the other is refused by the manager.
    let answer = post(&api, "/cluster/ha/resources/vm:120/migrate", Params::new().set("node", &b)).await.unwrap();
    assert_eq!(answer["blocking-resources"], json!([{ "sid": "vm:121", "cause": "resource-affinity" }]), "{answer}");
    eventually("the manager logs the refusal", async || {
        get(&api, "/nodes/pve1/syslog").await.to_string().contains("in negative affinity with service 'vm:120'")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(node_of(&api, 120).await, a);

    // When a node fails, its resource is recovered to a node without the other.
    emu.emulator.set_node_online(&b, false);
    eventually("vm:121 is recovered", async || node_of(&api, 121).await != b).await;
    assert_ne!(node_of(&api, 121).await, node_of(&api, 120).await, "never together");
}

#[tokio::test]
async fn a_disarmed_ha_stack_does_nothing_until_armed_again() {
    let emu = emulator(|_| {}).await;
    let api = client(&emu);
    started(&api, &[130]).await;
    eventually("HA starts vm:130", async || api.locate_guest(130).await.unwrap().unwrap().running).await;
    post(&api, "/cluster/ha/status/disarm-ha", Params::new().set("resource-mode", "freeze")).await.unwrap();
    post(&api, "/cluster/ha/rules", rule("move", "node-affinity", "vm:130").set("nodes", "pve2").flag("strict", true)).await.unwrap();
    eventually("disarmed", async || {
        get(&api, "/cluster/ha/status/current")
            .await
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["type"] == "fencing" && r["armed-state"] == "disarmed")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(node_of(&api, 130).await, "pve1", "frozen");
    post(&api, "/cluster/ha/status/arm-ha", Params::new()).await.unwrap();
    eventually("vm:130 moves once armed", async || node_of(&api, 130).await == "pve2").await;
}

#[tokio::test]
async fn starting_and_stopping_an_ha_resource_goes_through_ha() {
    let emu = emulator(|_| {}).await;
    let api = client(&emu);
    managed(&api, &[140], "stopped").await;
    let start = api.guest_action(QEMU, "pve1", 140, "start", &Params::new()).await.unwrap();
    assert_eq!(start.task_type, "hastart");
    let log = ok(&api, &start).await;
    assert!(log.iter().any(|l| l == "Requesting HA start for VM 140"), "{log:#?}");
    assert_eq!(api.ha_resource("vm:140").await.unwrap()["state"], "started");
    eventually("HA starts it", async || api.locate_guest(140).await.unwrap().unwrap().running).await;
    let stop = api.guest_action(QEMU, "pve1", 140, "stop", &Params::new()).await.unwrap();
    assert_eq!(stop.task_type, "hastop");
    ok(&api, &stop).await;
    eventually("HA stops it", async || !api.locate_guest(140).await.unwrap().unwrap().running).await;
    assert_eq!(api.ha_resource("vm:140").await.unwrap()["state"], "stopped");
    let status = get(&api, "/cluster/ha/status/current").await;
    assert!(status.as_array().unwrap().iter().any(|r| r["sid"] == "vm:140" && r["request_state"] == "stopped"), "{status}");
}
