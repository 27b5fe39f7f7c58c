//! Access control over HTTP: users, groups, roles, ACL entries and API tokens made through
//! `/access`, and every request checked against them as PVE checks it (the method's schema
//! permissions, then the handler's own checks), with PVE's 403 messages.

mod common;

use common::*;
use pve_api::{ApiError, ClientConfig, Credentials, Params, PveClient, RetryPolicy, Secret};
use reqwest::Method;
use serde_json::Value;

const VM_CONFIG_PRIVILEGES: &str = "VM.Config.Disk|VM.Config.CDROM|VM.Config.CPU|VM.Config.Memory|VM.Config.Network|VM.Config.HWType|VM.Config.Options|VM.Config.Cloudinit";

fn client_for(emu: &pve_emulator::RunningEmulator, credentials: Credentials) -> PveClient {
    let mut config = ClientConfig::new(&emu.url, credentials);
    config.retry = RetryPolicy::none();
    config.insecure_http = true;
    PveClient::new(config).expect("client builds")
}

async fn put(api: &PveClient, path: &str, params: Params) -> Result<Value, ApiError> {
    call(api, Method::PUT, path, params).await
}

async fn post(api: &PveClient, path: &str, params: Params) -> Result<Value, ApiError> {
    call(api, Method::POST, path, params).await
}

/// A user made through the API, with a token (`privsep` as given) and a client for the token.
async fn user_with_token(root: &PveClient, emu: &pve_emulator::RunningEmulator, userid: &str, privsep: bool) -> PveClient {
    let token = new_token(root, userid, privsep).await;
    client_for(emu, Credentials::api_token(&token).unwrap())
}

/// `USER!tf=SECRET` of a new token, the user made first if need be.
async fn new_token(root: &PveClient, userid: &str, privsep: bool) -> String {
    if call(root, Method::GET, &format!("/access/users/{userid}"), Params::new()).await.is_err() {
        post(root, "/access/users", Params::new().set("userid", userid)).await.unwrap();
    }
    let made = post(root, &format!("/access/users/{userid}/token/tf"), Params::new().flag("privsep", privsep)).await.unwrap();
    assert_eq!(made["full-tokenid"], format!("{userid}!tf"));
    assert_eq!(made["info"]["privsep"], u8::from(privsep));
    let secret = made["value"].as_str().expect("the secret is answered once");
    format!("{userid}!tf={secret}")
}

async fn grant(root: &PveClient, path: &str, role: &str, who: (&str, &str), propagate: bool) {
    put(root, "/access/acl", Params::new().set("path", path).set("roles", role).set(who.0, who.1).flag("propagate", propagate))
        .await
        .unwrap();
}

fn forbidden(result: Result<Value, ApiError>) -> String {
    match result {
        Err(ApiError::Forbidden { message, .. }) => message.trim_end().to_string(),
        other => panic!("expected 403, got {other:?}"),
    }
}

async fn read_config(api: &PveClient, vmid: u64) -> Result<Value, ApiError> {
    call(api, Method::GET, &format!("/nodes/pve1/qemu/{vmid}/config"), Params::new()).await
}

#[tokio::test]
async fn a_privilege_separated_token_without_acl_entries_can_do_nothing() {
    let emu = emulator(|_| {}).await;
    let root = client(&emu);
    // Its user is an administrator: the token still holds only what its own entries grant.
    let token = user_with_token(&root, &emu, "ops@pve", true).await;
    grant(&root, "/", "Administrator", ("users", "ops@pve"), true).await;

    assert_eq!(forbidden(read_config(&token, 9000).await), "Permission check failed (/vms/9000, VM.Audit)");
    let cores = put(&token, "/nodes/pve1/qemu/9000/config", Params::new().set("cores", 2)).await;
    assert_eq!(forbidden(cores), format!("Permission check failed (/vms/9000, {VM_CONFIG_PRIVILEGES})"));
    assert_eq!(get(&token, "/nodes/pve1/qemu").await, Value::Array(vec![]), "the list shows only guests it may audit");
    let resources = get(&token, "/cluster/resources").await;
    let rows = resources.as_array().unwrap();
    assert!(rows.iter().all(|r| r["type"] == "node"), "no guest, storage or pool rows: {rows:?}");
    assert!(rows.iter().all(|r| r.get("maxmem").is_none()), "node figures need Sys.Audit: {rows:?}");
    let nodes = get(&token, "/nodes").await;
    assert_eq!(nodes.as_array().unwrap().len(), 3, "every node is listed: {nodes}");
    assert!(nodes[0].get("maxcpu").is_none() && nodes[0]["status"] == "online", "{nodes}");
    // The same list for root shows the template.
    assert!(get(&root, "/cluster/resources").await.as_array().unwrap().iter().any(|r| r["vmid"] == 9000));
}

#[tokio::test]
async fn an_entry_reaches_sub_paths_only_when_propagated() {
    let emu = emulator(|_| {}).await;
    let root = client(&emu);
    let token = user_with_token(&root, &emu, "ops@pve", false).await;

    grant(&root, "/vms", "PVEAuditor", ("users", "ops@pve"), false).await;
    assert_eq!(forbidden(read_config(&token, 9000).await), "Permission check failed (/vms/9000, VM.Audit)");

    grant(&root, "/vms", "PVEAuditor", ("users", "ops@pve"), true).await;
    assert_eq!(read_config(&token, 9000).await.unwrap()["name"], "ubuntu-2404-cloudinit");
    let entries = get(&root, "/access/acl").await;
    let entry = entries.as_array().unwrap().iter().find(|e| e["ugid"] == "ops@pve").cloned().unwrap();
    assert_eq!((entry["path"].clone(), entry["propagate"].clone(), entry["type"].clone()), ("/vms".into(), 1.into(), "user".into()));

    put(&root, "/access/acl", Params::new().set("path", "/vms").set("roles", "PVEAuditor").set("users", "ops@pve").flag("delete", true))
        .await
        .unwrap();
    assert_eq!(forbidden(read_config(&token, 9000).await), "Permission check failed (/vms/9000, VM.Audit)");
}

#[tokio::test]
async fn a_privilege_separated_token_holds_what_both_it_and_its_user_hold() {
    let emu = emulator(|_| {}).await;
    let root = client(&emu);
    let token = user_with_token(&root, &emu, "ops@pve", true).await;
    grant(&root, "/", "Administrator", ("users", "ops@pve"), true).await;
    grant(&root, "/", "PVEAuditor", ("tokens", "ops@pve!tf"), true).await;

    assert!(read_config(&token, 9000).await.is_ok(), "both may audit");
    let cores = put(&token, "/nodes/pve1/qemu/9000/config", Params::new().set("cores", 2)).await;
    assert_eq!(forbidden(cores), format!("Permission check failed (/vms/9000, {VM_CONFIG_PRIVILEGES})"));

    // The other way round: a token's role beyond its user's grants nothing more.
    let limited = user_with_token(&root, &emu, "viewer@pve", true).await;
    grant(&root, "/", "PVEAuditor", ("users", "viewer@pve"), true).await;
    grant(&root, "/", "Administrator", ("tokens", "viewer@pve!tf"), true).await;
    assert!(read_config(&limited, 9000).await.is_ok());
    let denied = post(&limited, "/pools", Params::new().set("poolid", "lab")).await;
    assert_eq!(forbidden(denied), "Permission check failed (/pool/lab, Pool.Allocate)");

    let permissions = call(&token, Method::GET, "/access/permissions", Params::new().set("path", "/vms/9000")).await.unwrap();
    assert_eq!(permissions["/vms/9000"]["VM.Audit"], 1);
    assert!(permissions["/vms/9000"].get("VM.Allocate").is_none(), "{permissions}");
    // Anyone may read their own permissions; another's need Sys.Audit on /access.
    let nobody = user_with_token(&root, &emu, "nobody@pve", true).await;
    assert_eq!(get(&nobody, "/access/permissions").await, serde_json::json!({}));
    let other = call(&nobody, Method::GET, "/access/permissions", Params::new().set("userid", "root@pam")).await;
    assert_eq!(forbidden(other), "Permission check failed (/access, Sys.Audit)");
    let everything = call(&root, Method::GET, "/access/permissions", Params::new().set("userid", "ops@pve!tf")).await.unwrap();
    assert_eq!(everything["/"]["Sys.Audit"], 1, "{everything}");
}

#[tokio::test]
async fn groups_grant_to_their_members_and_no_access_blocks_a_sub_path() {
    let emu = emulator(|_| {}).await;
    let root = client(&emu);
    post(&root, "/access/groups", Params::new().set("groupid", "operators").set("comment", "day shift")).await.unwrap();
    let token = user_with_token(&root, &emu, "ops@pve", false).await;
    put(&root, "/access/users/ops@pve", Params::new().set("groups", "operators")).await.unwrap();
    assert_eq!(get(&root, "/access/groups/operators").await["members"], serde_json::json!(["ops@pve"]));
    assert_eq!(forbidden(read_config(&token, 9000).await), "Permission check failed (/vms/9000, VM.Audit)");

    grant(&root, "/", "PVEVMAdmin", ("groups", "operators"), true).await;
    assert!(read_config(&token, 9000).await.is_ok(), "the group's role reaches its member");

    grant(&root, "/vms/9000", "NoAccess", ("users", "ops@pve"), true).await;
    assert_eq!(forbidden(read_config(&token, 9000).await), "Permission check failed (/vms/9000, VM.Audit)");
    assert!(call(&token, Method::GET, "/nodes/pve1/qemu", Params::new()).await.unwrap().as_array().unwrap().is_empty());

    // Deleting the group drops its entries and memberships.
    call(&root, Method::DELETE, "/access/groups/operators", Params::new()).await.unwrap();
    assert_eq!(get(&root, "/access/users/ops@pve").await["groups"], serde_json::json!([]));
    assert!(!get(&root, "/access/acl").await.as_array().unwrap().iter().any(|e| e["type"] == "group"));
}

#[tokio::test]
async fn built_in_roles_are_immutable_and_privileges_are_pve9s() {
    let emu = emulator(|_| {}).await;
    let root = client(&emu);
    let roles = get(&root, "/access/roles").await;
    let auditor = roles.as_array().unwrap().iter().find(|r| r["roleid"] == "PVEAuditor").cloned().unwrap();
    assert_eq!(auditor["special"], 1);
    assert!(auditor["privs"].as_str().unwrap().split(',').any(|p| p == "VM.GuestAgent.Audit"), "{auditor}");

    let change = put(&root, "/access/roles/PVEAuditor", Params::new().set("privs", "VM.Allocate")).await.unwrap_err();
    assert!(
        matches!(&change, ApiError::Server { status: 500, message, .. } if message.trim_end() == "auto-generated role 'PVEAuditor' cannot be modified"),
        "{change:?}"
    );
    let delete = call(&root, Method::DELETE, "/access/roles/Administrator", Params::new()).await.unwrap_err();
    assert!(
        matches!(&delete, ApiError::Server { message, .. } if message.trim_end() == "auto-generated role 'Administrator' cannot be deleted"),
        "{delete:?}"
    );

    let monitor =
        post(&root, "/access/roles", Params::new().set("roleid", "Monitoring").set("privs", "VM.Audit,VM.Monitor")).await.unwrap_err();
    assert!(
        matches!(&monitor, ApiError::Parameters { errors, .. } if errors["privs"].trim_end() == "invalid format - invalid privilege 'VM.Monitor'"),
        "{monitor:?}"
    );
    let namespace = post(&root, "/access/roles", Params::new().set("roleid", "PVEMine")).await.unwrap_err();
    assert!(matches!(&namespace, ApiError::Parameters { errors, .. } if errors.contains_key("roleid")), "{namespace:?}");

    post(&root, "/access/roles", Params::new().set("roleid", "Monitoring").set("privs", "VM.Audit")).await.unwrap();
    put(&root, "/access/roles/Monitoring", Params::new().set("privs", "VM.GuestAgent.Audit").flag("append", true)).await.unwrap();
    let privileges = get(&root, "/access/roles/Monitoring").await;
    assert_eq!(privileges, serde_json::json!({ "VM.Audit": 1, "VM.GuestAgent.Audit": 1 }));
}

#[tokio::test]
async fn tokens_authenticate_until_they_expire_or_are_deleted() {
    let emu = emulator(|_| {}).await;
    let root = client(&emu);
    let token = user_with_token(&root, &emu, "ci@pve", true).await;
    assert_eq!(token.version().await.unwrap().version, "9.1.3");
    let listed = get(&root, "/access/users/ci@pve/token").await;
    assert_eq!(listed[0]["tokenid"], "tf");
    assert!(listed[0].get("value").is_none(), "the secret is never listed: {listed}");

    put(&root, "/access/users/ci@pve/token/tf", Params::new().set("expire", 1)).await.unwrap();
    assert!(matches!(token.version().await.unwrap_err(), ApiError::Unauthorized { .. }), "an expired token fails");
    put(&root, "/access/users/ci@pve/token/tf", Params::new().set("expire", 0)).await.unwrap();
    assert!(token.version().await.is_ok());

    // A disabled user's tokens fail too.
    put(&root, "/access/users/ci@pve", Params::new().flag("enable", false)).await.unwrap();
    assert!(matches!(token.version().await.unwrap_err(), ApiError::Unauthorized { .. }));
    put(&root, "/access/users/ci@pve", Params::new().flag("enable", true)).await.unwrap();

    call(&root, Method::DELETE, "/access/users/ci@pve/token/tf", Params::new()).await.unwrap();
    assert!(matches!(token.version().await.unwrap_err(), ApiError::Unauthorized { .. }), "a deleted token fails");

    // Deleting a user takes its tokens and ACL entries along.
    let again = user_with_token(&root, &emu, "ci@pve", true).await;
    grant(&root, "/", "PVEAuditor", ("tokens", "ci@pve!tf"), true).await;
    call(&root, Method::DELETE, "/access/users/ci@pve", Params::new()).await.unwrap();
    assert!(matches!(again.version().await.unwrap_err(), ApiError::Unauthorized { .. }));
    assert!(get(&root, "/access/acl").await.as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_pve_user_with_a_password_logs_in_with_a_ticket() {
    let emu = emulator(|_| {}).await;
    let root = client(&emu);
    let password = format!("password-{}", std::process::id());
    post(&root, "/access/users", Params::new().set("userid", "alice@pve").set("password", &password)).await.unwrap();
    grant(&root, "/vms", "PVEVMUser", ("users", "alice@pve"), true).await;
    let alice = client_for(&emu, Credentials::Password { username: "alice@pve".into(), password: Secret::new(&password) });
    assert!(read_config(&alice, 9000).await.is_ok());
    assert_eq!(forbidden(call(&alice, Method::GET, "/cluster/backup", Params::new()).await), "Permission check failed (/, Sys.Audit)");
    let wrong = client_for(&emu, Credentials::Password { username: "alice@pve".into(), password: Secret::new("not-her-password") });
    assert!(matches!(wrong.version().await.unwrap_err(), ApiError::Unauthorized { .. }));
    let users = call(&root, Method::GET, "/access/users", Params::new().flag("full", true)).await.unwrap();
    let row = users.as_array().unwrap().iter().find(|u| u["userid"] == "alice@pve").cloned().unwrap();
    assert_eq!((row["enable"].clone(), row["realm-type"].clone()), (1.into(), "pve".into()));
    assert!(row.get("password").is_none(), "{row}");
}

#[tokio::test]
async fn a_clone_needs_space_on_the_target_storage() {
    let emu = emulator(|_| {}).await;
    let root = client(&emu);
    post(&root, "/access/roles", Params::new().set("roleid", "Cloner").set("privs", "VM.Allocate,VM.Clone,VM.Audit")).await.unwrap();
    let token = user_with_token(&root, &emu, "builder@pve", false).await;
    grant(&root, "/", "Cloner", ("users", "builder@pve"), true).await;
    let clone = |storage: &'static str| {
        let token = token.clone();
        async move {
            post(&token, "/nodes/pve1/qemu/9000/clone", Params::new().set("newid", 120).flag("full", true).set("storage", storage)).await
        }
    };
    assert_eq!(forbidden(clone("local-lvm").await), "Permission check failed (/storage/local-lvm, Datastore.AllocateSpace)");

    grant(&root, "/storage/local-lvm", "PVEDatastoreUser", ("users", "builder@pve"), false).await;
    // With space on the storage, the template's bridge is next.
    assert_eq!(forbidden(clone("local-lvm").await), "Permission check failed (/sdn/zones/localnetwork/vmbr0, SDN.Use)");

    grant(&root, "/sdn/zones/localnetwork", "PVESDNUser", ("users", "builder@pve"), true).await;
    let upid: pve_api::Upid = clone("local-lvm").await.unwrap().as_str().unwrap().parse().unwrap();
    ok(&token, &upid).await;
    assert!(read_config(&token, 120).await.is_ok());
    // Its own task is visible to it; a node's other tasks need Sys.Audit there.
    let tasks = get(&token, "/nodes/pve1/tasks").await;
    assert!(tasks.as_array().unwrap().iter().all(|t| t["user"] == "builder@pve!tf"), "{tasks}");
}

#[tokio::test]
async fn configured_tokens_keep_their_meaning() {
    let emu = emulator(|c| c.tokens.push("auditor@pve!ro=auditor-secret:ro".into())).await;
    let read_only = client_for(&emu, Credentials::api_token("auditor@pve!ro=auditor-secret").unwrap());
    assert!(read_config(&read_only, 9000).await.is_ok());
    let denied = post(&read_only, "/pools", Params::new().set("poolid", "lab")).await;
    assert_eq!(forbidden(denied), "Permission check failed (/pool/lab, Pool.Allocate)");
    // The configured root token is not root@pam itself, but acts with its privileges.
    let root = client(&emu);
    post(&root, "/pools", Params::new().set("poolid", "lab")).await.unwrap();
    let users = get(&root, "/access/users").await;
    let ids: Vec<&str> = users.as_array().unwrap().iter().filter_map(|u| u["userid"].as_str()).collect();
    assert_eq!(ids, ["auditor@pve", "root@pam"]);
}

#[tokio::test]
async fn users_tokens_and_entries_survive_a_restart() {
    let state = std::env::temp_dir().join(format!("pve-emulator-access-{}-{:x}.json", std::process::id(), rand_suffix()));
    let with_state = |c: &mut pve_emulator::EmulatorConfig| c.state_file = Some(state.clone());
    let first = emulator(with_state).await;
    let root = client(&first);
    let secret = new_token(&root, "ops@pve", true).await;
    let token = client_for(&first, Credentials::api_token(&secret).unwrap());
    grant(&root, "/vms/9000", "PVEAuditor", ("tokens", "ops@pve!tf"), false).await;
    grant(&root, "/", "PVEAuditor", ("users", "ops@pve"), true).await;
    assert!(read_config(&token, 9000).await.is_ok());
    let text = std::fs::read_to_string(&state).unwrap();
    assert!(text.contains("ops@pve!tf"), "the entries are in the state file");
    first.shutdown();
    drop(first);

    // The second start drops the configured root token: the state must not keep it alive.
    let configured = pve_emulator::config::TEST_TOKEN;
    let second = emulator(|c| {
        with_state(c);
        c.tokens = vec!["admin@pve!other=other-secret".into()];
    })
    .await;
    let again = client_for(&second, Credentials::api_token(&secret).unwrap());
    assert!(read_config(&again, 9000).await.is_ok(), "the token and its entries are back");
    assert_eq!(forbidden(read_config(&again, 9001).await), "Permission check failed (/vms/9001, VM.Audit)");
    let dropped = client_for(&second, Credentials::api_token(configured).unwrap());
    assert!(matches!(dropped.version().await.unwrap_err(), ApiError::Unauthorized { .. }), "a token no longer configured fails");
    let _ = std::fs::remove_file(&state);
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

#[tokio::test]
async fn handlers_check_options_disks_volumes_and_backups() {
    let emu = emulator(|_| {}).await;
    let root = client(&emu);
    post(&root, "/access/roles", Params::new().set("roleid", "Creator").set("privs", "VM.Allocate,VM.Config.CPU,VM.Audit")).await.unwrap();
    let token = user_with_token(&root, &emu, "maker@pve", false).await;
    grant(&root, "/vms/130", "Creator", ("users", "maker@pve"), false).await;
    let create = |extra: Params| {
        let token = token.clone();
        async move { post(&token, "/nodes/pve1/qemu", extra.set("vmid", 130).set("cores", 2)).await }
    };
    assert_eq!(forbidden(create(Params::new().set("name", "web")).await), "Permission check failed (/vms/130, VM.Config.Options)");
    assert_eq!(
        forbidden(create(Params::new().set("scsi0", "local-lvm:4")).await),
        "Permission check failed (/storage/local-lvm, Datastore.AllocateSpace)"
    );
    let upid: pve_api::Upid = create(Params::new()).await.unwrap().as_str().unwrap().parse().unwrap();
    ok(&token, &upid).await;

    // Storage content shows only what the caller may read: another guest's disks need
    // VM.Config.Disk on it.
    grant(&root, "/storage/local-lvm", "PVEAuditor", ("users", "maker@pve"), false).await;
    let content = get(&token, "/nodes/pve1/storage/local-lvm/content").await;
    assert!(content.as_array().unwrap().is_empty(), "{content}");
    assert!(!get(&root, "/nodes/pve1/storage/local-lvm/content").await.as_array().unwrap().is_empty());

    let backup = post(&token, "/nodes/pve1/vzdump", Params::new().set("vmid", 9000).set("storage", "backup")).await;
    assert_eq!(forbidden(backup), "Permission check failed (/vms/9000, VM.Backup)");
    // Moving a guest into a pool needs the right to change its permissions.
    post(&root, "/pools", Params::new().set("poolid", "lab")).await.unwrap();
    grant(&root, "/pool/lab", "PVEPoolAdmin", ("users", "maker@pve"), true).await;
    let moved = put(&token, "/pools/lab", Params::new().set("vms", 9000)).await;
    assert_eq!(forbidden(moved), "Permission check failed (/vms/9000, Permissions.Modify|VM.Allocate)");
}

#[tokio::test]
async fn passwords_change_with_a_ticket_and_never_with_a_token() {
    let emu = emulator(|_| {}).await;
    let root = client(&emu);
    let first = format!("first-{}", std::process::id());
    let second = format!("second-{}", std::process::id());
    post(&root, "/access/users", Params::new().set("userid", "bob@pve").set("password", &first)).await.unwrap();
    let by_token = put(&root, "/access/password", Params::new().set("userid", "bob@pve").set("password", &second)).await;
    assert_eq!(forbidden(by_token), "Permission check failed (URI '/access/password' not available with API token, need proper ticket.\n)");

    let bob = client_for(&emu, Credentials::Password { username: "bob@pve".into(), password: Secret::new(&first) });
    let unconfirmed = put(&bob, "/access/password", Params::new().set("userid", "bob@pve").set("password", &second)).await.unwrap_err();
    assert!(matches!(&unconfirmed, ApiError::Parameters { errors, .. } if errors.contains_key("confirmation-password")), "{unconfirmed:?}");
    put(&bob, "/access/password", Params::new().set("userid", "bob@pve").set("password", &second).set("confirmation-password", &first))
        .await
        .unwrap();
    let fresh = client_for(&emu, Credentials::Password { username: "bob@pve".into(), password: Secret::new(&second) });
    assert!(fresh.version().await.is_ok(), "the new password logs in");
    let old = client_for(&emu, Credentials::Password { username: "bob@pve".into(), password: Secret::new(&first) });
    assert!(matches!(old.version().await.unwrap_err(), ApiError::Unauthorized { .. }));
}

/// pve-access-control `remove_vm_access` and `userconfig_force_defaults`: a destroyed guest's
/// entries go with it, so its VMID used again inherits no grant; root@pam cannot be removed.
#[tokio::test]
async fn a_destroyed_guests_entries_go_and_root_stays() {
    let emu = emulator(|_| {}).await;
    let root = client(&emu);
    full_clone(&root, 150, "scratch").await;
    grant(&root, "/vms/150", "PVEVMAdmin", ("users", "root@pam"), true).await;
    let on_150 = |entries: &Value| entries.as_array().unwrap().iter().any(|e| e["path"] == "/vms/150");
    assert!(on_150(&get(&root, "/access/acl").await));
    let upid = call(&root, Method::DELETE, "/nodes/pve1/qemu/150", Params::new()).await.unwrap();
    ok(&root, &upid.as_str().unwrap().parse().unwrap()).await;
    assert!(!on_150(&get(&root, "/access/acl").await), "the destroyed guest's entry is gone");

    // Its tokens go with it (root's own included); the user stays and logs in with its password.
    call(&root, Method::DELETE, "/access/users/root@pam", Params::new()).await.unwrap();
    assert!(matches!(call(&root, Method::GET, "/version", Params::new()).await, Err(ApiError::Unauthorized { .. })));
    let (user, password) = pve_emulator::config::TEST_USER.split_once(':').unwrap();
    let ticket = client_for(&emu, Credentials::Password { username: user.into(), password: Secret::new(password) });
    assert_eq!(get(&ticket, "/access/users/root@pam").await["enable"], 1, "root@pam is still there");
}
