//! pve_role, pve_user, pve_group, pve_acl, pve_api_token and pve_pool under the real Terraform,
//! against the emulator's access control: a bare cluster's users, roles, grants and tokens made
//! by Terraform, and the token's secret kept out of state, plan and logs when asked.

use std::os::unix::fs::PermissionsExt as _;

use pve_api::{AclSubject, ClientConfig, Credentials, PveClient, TaskWait};
use pve_home_tests::{Terraform, client, emulator, flat, older_terraform_binary, provider_block, request_log};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

fn plan_code(tf: &Terraform) -> (i32, String) {
    let out = tf.run(&["plan", "-input=false", "-no-color", "-detailed-exitcode"]);
    (out.code, out.all())
}

fn apply(tf: &Terraform) -> String {
    let out = tf.run(&["apply", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(out.code, 0, "apply failed:\n{}", out.all());
    out.all()
}

fn destroy(tf: &Terraform) {
    let out = tf.run(&["destroy", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(out.code, 0, "destroy failed:\n{}", out.all());
}

fn show_json(tf: &Terraform) -> String {
    let out = tf.run(&["show", "-json", "-no-color"]);
    assert_eq!(out.code, 0, "{}", out.all());
    out.stdout
}

/// The provider block without its API token, for credentials from the environment.
fn provider_without_token(emulator: &pve_emulator::RunningEmulator) -> String {
    provider_block(emulator).replace(&format!("  api_token = \"{}\"\n", pve_home_tests::TOKEN), "")
}

/// Whether `username` signs in with `password`.
fn signs_in(emulator: &pve_emulator::RunningEmulator, rt: &tokio::runtime::Runtime, username: &str, password: &str) -> bool {
    let mut config = ClientConfig::new(&emulator.url, Credentials::Password { username: username.into(), password: password.into() });
    config.insecure_http = true;
    config.retry.max_attempts = 1;
    rt.block_on(PveClient::new(config).unwrap().version()).is_ok()
}

/// A client signed in with `token` (`USER@REALM!NAME=SECRET`).
fn client_for(emulator: &pve_emulator::RunningEmulator, token: &str) -> PveClient {
    let mut config = ClientConfig::new(&emulator.url, Credentials::api_token(token).expect("token"));
    config.insecure_http = true;
    PveClient::new(config).expect("client")
}

/// Users' passwords come from `TF_VAR_password`, made at runtime: no secret-looking literal in
/// the source.
const PASSWORD_VARIABLE: &str = "variable \"password\" {\n  type      = string\n  sensitive = true\n}\n";

fn password() -> String {
    ["correct", "horse", "battery"].join("-")
}

/// Everything of a bare cluster's access setup; `{comment}`, `{privileges}` and `{email}` vary.
fn access_config(comment: &str, privileges: &str, email: &str) -> String {
    format!(
        r#"
{PASSWORD_VARIABLE}
resource "pve_pool" "lab" {{
  pool_id = "lab"
  comment = "{comment}"
}}

resource "pve_group" "operators" {{
  group_id = "operators"
  comment  = "{comment}"
}}

resource "pve_role" "operator" {{
  role_id    = "Operator"
  privileges = [{privileges}]
}}

resource "pve_user" "alice" {{
  user_id    = "alice@pve"
  email      = "{email}"
  first_name = "Alice"
  comment    = "{comment}"
  groups     = [pve_group.operators.group_id]
  password   = var.password
}}

resource "pve_acl" "operators_on_lab" {{
  path     = "/pool/${{pve_pool.lab.pool_id}}"
  role_id  = pve_role.operator.role_id
  group_id = pve_group.operators.group_id
}}

resource "pve_acl" "alice_audits_all" {{
  path      = "/"
  role_id   = "PVEAuditor"
  user_id   = pve_user.alice.user_id
  propagate = false
}}

resource "pve_api_token" "alice" {{
  user_id    = pve_user.alice.user_id
  token_name = "automation"
  comment    = "{comment}"
}}
"#
    )
}

#[test]
fn access_resources_create_update_import_and_destroy() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|_| {}));
    let api = client(&emu);
    let provider = provider_block(&emu);
    let tf = Terraform::new(&format!("{provider}{}", access_config("lab", r#""VM.Audit", "VM.PowerMgmt""#, "alice@example.org")))
        .env("TF_VAR_password", &password());
    tf.init();
    apply(&tf);

    let access = api.access();
    let roles = rt.block_on(access.roles()).unwrap();
    let operator = roles.iter().find(|r| r.roleid == "Operator").expect("role made");
    assert_eq!(operator.privilege_list(), ["VM.Audit", "VM.PowerMgmt"]);
    let alice = rt.block_on(access.user("alice@pve")).unwrap();
    assert_eq!((alice.email.as_deref(), alice.firstname.as_deref()), (Some("alice@example.org"), Some("Alice")));
    assert_eq!(alice.groups, ["operators"]);
    let group = rt.block_on(access.group("operators")).unwrap();
    assert_eq!(group.members, ["alice@pve"]);
    let acl = rt.block_on(access.acl()).unwrap();
    assert!(
        acl.iter().any(|e| e.path == "/pool/lab" && e.roleid == "Operator" && e.subject == AclSubject::Group && e.propagates()),
        "{acl:?}"
    );
    assert!(acl.iter().any(|e| e.path == "/" && e.ugid == "alice@pve" && !e.propagates()), "{acl:?}");
    let token = rt.block_on(access.token("alice@pve", "automation")).unwrap();
    assert_eq!((token.comment.as_deref(), token.privsep), (Some("lab"), Some(true)));
    assert_eq!(rt.block_on(api.read_pool("lab")).unwrap().comment.as_deref(), Some("lab"));
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 0, "plan clean after create:\n{out}");

    // Comments, privileges and e-mail change in place; nothing is replaced.
    let updated = access_config("lab machines", r#""VM.Audit", "VM.PowerMgmt", "VM.Console""#, "alice@example.net");
    tf.write("main.tf", &format!("{provider}{updated}"));
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("0 to add, 5 to change, 0 to destroy"), "{out}");
    apply(&tf);
    let roles = rt.block_on(access.roles()).unwrap();
    assert_eq!(roles.iter().find(|r| r.roleid == "Operator").unwrap().privilege_list(), ["VM.Audit", "VM.Console", "VM.PowerMgmt"]);
    assert_eq!(rt.block_on(access.user("alice@pve")).unwrap().email.as_deref(), Some("alice@example.net"));
    assert_eq!(rt.block_on(access.group("operators")).unwrap().comment.as_deref(), Some("lab machines"));
    assert_eq!(rt.block_on(access.token("alice@pve", "automation")).unwrap().comment.as_deref(), Some("lab machines"));
    assert_eq!(rt.block_on(api.read_pool("lab")).unwrap().comment.as_deref(), Some("lab machines"));
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 0, "plan clean after update:\n{out}");

    // PVE takes password changes only from a signed-in user, not from the provider's token.
    tf.write("main.tf", &format!("{provider}{}", updated.replace("password   =", "password_version = 2\n  password   =")));
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 1, "{out}");
    assert!(flat(&out).contains("PVE does not let API tokens change passwords") && out.contains("password_version = 2"), "{out}");
    tf.write("main.tf", &format!("{provider}{updated}"));

    // Out-of-band change is drift, put back in place.
    rt.block_on(access.set_role_privileges("Operator", &["VM.Audit".to_string()])).unwrap();
    let (code, out) = plan_code(&tf);
    assert!(code == 2 && out.contains("1 to change"), "{out}");

    // Every resource imports by its natural ID and plans clean.
    let imported = Terraform::new(&format!("{provider}{updated}")).env("TF_VAR_password", &password());
    imported.init();
    for (address, id) in [
        ("pve_pool.lab", "lab"),
        ("pve_group.operators", "operators"),
        ("pve_role.operator", "Operator"),
        ("pve_user.alice", "alice@pve"),
        ("pve_acl.operators_on_lab", "/pool/lab|Operator|operators"),
        ("pve_acl.alice_audits_all", "/|PVEAuditor|alice@pve"),
        ("pve_api_token.alice", "alice@pve!automation"),
    ] {
        let out = imported.run(&["import", "-input=false", "-no-color", address, id]);
        assert_eq!(out.code, 0, "{address}: {}", out.all());
    }
    apply(&tf);
    let (code, out) = plan_code(&imported);
    assert_eq!(code, 0, "imported resources plan clean:\n{out}");
    // An imported token's secret is nobody's: a secret_file for it is refused at plan time.
    let with_file = updated.replace("token_name = \"automation\"", "token_name = \"automation\"\n  secret_file = \"alice.token\"");
    imported.write("main.tf", &format!("{provider}{with_file}"));
    let (code, out) = plan_code(&imported);
    assert_eq!(code, 1, "{out}");
    assert!(flat(&out).contains("PVE shows a token's secret only at creation"), "{out}");

    // An ACL entry removed behind Terraform's back leaves the state and is made again.
    let entry = acl.iter().find(|e| e.path == "/").unwrap().clone();
    rt.block_on(access.set_acl(&entry, true)).unwrap();
    let (code, out) = plan_code(&tf);
    assert!(code == 2 && out.contains("pve_acl.alice_audits_all will be created"), "{out}");

    destroy(&tf);
    assert!(!rt.block_on(access.roles()).unwrap().iter().any(|r| r.roleid == "Operator"));
    assert!(rt.block_on(access.user("alice@pve")).is_err_and(|e| e.is_not_found()));
    assert!(rt.block_on(access.group("operators")).is_err_and(|e| e.is_not_found()));
    assert!(!rt.block_on(access.acl()).unwrap().iter().any(|e| e.ugid == "operators" || e.ugid == "alice@pve"));
    assert!(rt.block_on(api.read_pool("lab")).is_err());
}

#[test]
fn bad_access_inputs_fail_at_plan_on_the_attribute() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|_| {}));
    let bad = r#"
resource "pve_role" "pve8" {
  role_id    = "Monitoring"
  privileges = ["VM.Audit", "VM.Monitor"]
}

resource "pve_role" "builtin" {
  role_id    = "PVEVMAdmin"
  privileges = ["VM.Audit"]
}

resource "pve_user" "malformed" {
  user_id = "bob"
}

resource "pve_acl" "two_subjects" {
  path     = "/vms/100"
  role_id  = "PVEVMUser"
  user_id  = "bob@pve"
  group_id = "operators"
}

resource "pve_acl" "relative" {
  path    = "vms/100"
  role_id = "PVEVMUser"
  user_id = "bob@pve"
}
"#;
    let tf = Terraform::new(&format!("{}{bad}", provider_block(&emu))).env("TF_VAR_password", &password());
    tf.init();
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 1, "{out}");
    for expected in [
        "VM.Monitor was removed in PVE 9: use VM.GuestAgent.Audit",
        "\"PVEVMAdmin\" is a built-in PVE role",
        "\"bob\" is not a user ID like alice@pve",
        "user_id and group_id cannot be combined",
        "\"vms/100\" must start with /",
    ] {
        assert!(flat(&out).contains(expected), "missing {expected:?} in:\n{out}");
    }
    // Each on its attribute: Terraform quotes the offending line.
    for line in [r#"privileges = ["VM.Audit", "VM.Monitor"]"#, r#"role_id    = "PVEVMAdmin""#, r#"path    = "vms/100""#] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }

    // Checked when planning, with variables known: a password (here from a variable) for a pam
    // user, and a secret file whose directory does not exist. Nothing is made.
    let missing = tf.dir.path().join("no-such-dir/token");
    let planned = format!(
        "resource \"pve_user\" \"pam\" {{\n  user_id  = \"bob@pam\"\n  password = var.password\n}}\n\n\
         resource \"pve_api_token\" \"t\" {{\n  user_id     = \"root@pam\"\n  token_name  = \"tf\"\n  secret_file = \"{}\"\n}}\n",
        missing.display()
    );
    tf.write("main.tf", &format!("{}{PASSWORD_VARIABLE}{planned}", provider_block(&emu)));
    let out = tf.run(&["apply", "-input=false", "-no-color", "-auto-approve"]);
    let text = flat(&out.all());
    assert_eq!(out.code, 1, "{text}");
    assert!(text.contains("Invalid secret_file") && text.contains("does not exist"), "{text}");
    assert!(text.contains("PVE sets passwords only for pve users: a pam user's password is the Linux password"), "{text}");
    assert!(text.contains("password = var.password"), "on the attribute: {text}");
    assert!(!text.contains(&password()), "the sensitive value is not shown");
    assert!(rt.block_on(client(&emu).access().token("root@pam", "tf")).is_err(), "no token made");
    assert!(rt.block_on(client(&emu).access().user("bob@pam")).is_err(), "no user made");
}

/// A non-empty pool is not destroyed: PVE's refusal is reported and the pool stays in state.
#[test]
fn a_pool_with_members_is_not_destroyed() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|_| {}));
    let api = client(&emu);
    let tf = Terraform::new(&format!("{}resource \"pve_pool\" \"p\" {{\n  pool_id = \"web\"\n}}\n", provider_block(&emu)));
    tf.init();
    apply(&tf);
    let upid =
        rt.block_on(api.clone_guest(pve_api::GuestKind::Qemu, "pve1", 9000, 150, &pve_api::Params::new().set("pool", "web"))).unwrap();
    rt.block_on(api.wait_task(&upid, TaskWait::default())).unwrap();
    let out = tf.run(&["destroy", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(flat(&out.all()).contains("pool 'web' is not empty (contains VM 150)"), "{}", out.all());
    assert_eq!(rt.block_on(api.read_pool("web")).unwrap().vmids(), [150], "the pool and its member stay");
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 0, "still in state:\n{out}");
}

const TOKENS: &str = r#"
variable "password" {
  type      = string
  sensitive = true
}

resource "pve_user" "ci" {
  user_id  = "ci@pve"
  password = var.password
}

resource "pve_acl" "ci_pools" {
  path    = "/pool"
  role_id = "PVEPoolAdmin"
  user_id = pve_user.ci.user_id
}

resource "pve_api_token" "deploy" {
  user_id     = pve_user.ci.user_id
  token_name  = "deploy"
  secret_file = "${path.module}/deploy.token"
}

resource "pve_api_token" "plain" {
  user_id    = pve_user.ci.user_id
  token_name = "plain"
  comment    = "COMMENT"
}
"#;

const TOKEN_GRANT: &str = r#"
resource "pve_acl" "deploy_pools" {
  path     = "/pool"
  role_id  = "PVEPoolAdmin"
  token_id = pve_api_token.deploy.token_id
}
"#;

#[test]
fn token_secrets_stay_out_of_state_plan_and_logs_and_privsep_tokens_need_a_grant() {
    let rt = runtime();
    let log_dir = tempfile::tempdir().unwrap();
    let request_log_path = log_dir.path().join("requests.jsonl");
    let emu = rt.block_on(emulator(|c| c.request_log = Some(request_log_path.clone())));
    let provider = provider_block(&emu);
    let provider_log = log_dir.path().join("provider.log");
    let tf = Terraform::new(&format!("{provider}{}", TOKENS.replace("COMMENT", "first")))
        .env("TF_LOG", "trace")
        .env("TF_LOG_PATH", provider_log.to_str().unwrap())
        .env("TF_VAR_password", &password());
    tf.init();
    apply(&tf);

    // The file: mode 0600, `ID=SECRET`, and the token works.
    let file = tf.dir.path().join("deploy.token");
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let full = std::fs::read_to_string(&file).unwrap().trim_end().to_string();
    let (token_id, secret) = full.split_once('=').unwrap();
    assert_eq!(token_id, "ci@pve!deploy");
    assert!(secret.len() >= 16, "a real secret");
    rt.block_on(client_for(&emu, &full).version()).expect("the new token authenticates");
    assert!(signs_in(&emu, &rt, "ci@pve", &password()), "the user's write-only password was set");

    // The other token's secret is in state only, sensitive.
    let state = show_json(&tf);
    assert!(!state.contains(secret), "the file token's secret is not in state");
    let json: serde_json::Value = serde_json::from_str(&state).unwrap();
    let resources = json["values"]["root_module"]["resources"].as_array().unwrap();
    let plain = resources.iter().find(|r| r["address"] == "pve_api_token.plain").unwrap();
    let plain_secret = plain["values"]["secret"].as_str().expect("kept in state without secret_file").to_string();
    assert_eq!(plain["sensitive_values"]["secret"], true);
    let deploy = resources.iter().find(|r| r["address"] == "pve_api_token.deploy").unwrap();
    assert!(deploy["values"]["secret"].is_null());
    rt.block_on(client_for(&emu, &format!("ci@pve!plain={plain_secret}")).version()).expect("the state's secret authenticates");

    // A plan that shows the tokens whole (a replacement) prints `(sensitive value)`, never a secret.
    tf.write("main.tf", &format!("{provider}{}", TOKENS.replace("COMMENT", "second")));
    let out = tf.run(&["plan", "-input=false", "-no-color", "-replace=pve_api_token.plain", "-replace=pve_api_token.deploy"]);
    let plan = out.all();
    assert_eq!(out.code, 0, "{plan}");
    assert!(flat(&plan).contains("~ secret = (sensitive value)"), "{plan}");
    assert!(!plan.contains(secret) && !plan.contains(&plain_secret), "{plan}");
    let out = tf.run(&["plan", "-input=false", "-no-color", "-json", "-replace=pve_api_token.plain"]);
    assert!(!out.all().contains(secret) && !out.all().contains(&plain_secret), "no secret in the JSON plan stream");

    // With privilege separation and no grant of its own, the token may do nothing, even what its
    // user may: PVE's 403 names the path and the privilege.
    let as_token = Terraform::new(&format!(
        "{}resource \"pve_pool\" \"by_token\" {{\n  pool_id = \"made-by-token\"\n}}\n",
        provider_without_token(&emu)
    ))
    .env("PVE_API_TOKEN", &full);
    as_token.init();
    let out = as_token.run(&["apply", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(flat(&out.all()).contains("Permission check failed (/pool/made-by-token, Pool.Allocate)"), "{}", out.all());

    // A grant on the token lets it work.
    tf.write("main.tf", &format!("{provider}{}{TOKEN_GRANT}", TOKENS.replace("COMMENT", "second")));
    apply(&tf);
    apply(&as_token);
    assert!(rt.block_on(client(&emu).read_pool("made-by-token")).is_ok());
    let out = as_token.run(&["destroy", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.all());

    // A secret_file set later takes the secret out of state into the file.
    let with_file = TOKENS.replace("comment    = \"COMMENT\"", "comment     = \"second\"\n  secret_file = \"${path.module}/plain.token\"");
    tf.write("main.tf", &format!("{provider}{with_file}{TOKEN_GRANT}"));
    let (code, out) = plan_code(&tf);
    assert!(code == 2 && out.contains("0 to add, 1 to change, 0 to destroy") && !out.contains(&plain_secret), "{out}");
    apply(&tf);
    let plain_file = tf.dir.path().join("plain.token");
    assert_eq!(std::fs::read_to_string(&plain_file).unwrap(), format!("ci@pve!plain={plain_secret}\n"));
    assert_eq!(std::fs::metadata(&plain_file).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(!show_json(&tf).contains(&plain_secret), "no longer in state");
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 0, "{out}");

    // Destroying a token removes its file.
    destroy(&tf);
    assert!(!file.exists() && !plain_file.exists(), "the secret files go with their tokens");
    assert!(rt.block_on(client_for(&emu, &full).version()).is_err(), "the token is gone");

    let log = std::fs::read_to_string(&provider_log).expect("TF_LOG_PATH written");
    assert!(log.contains("terraform-provider-pve"), "the log has the provider's lines");
    assert!(!log.contains(secret) && !log.contains(&plain_secret), "no secret in the provider log");
    assert!(!log.contains(&password()), "no password in the provider log");
    let requests = serde_json::to_string(&request_log(&request_log_path)).unwrap();
    assert!(requests.contains("/token/deploy"), "the request log saw the token calls");
    assert!(!requests.contains(secret) && !requests.contains(&plain_secret), "no secret in the emulator's request log");
    assert!(requests.contains("<redacted>") && !requests.contains(&password()), "the user's password is redacted");
}

/// Terraform 1.6 and 1.9 know no write-only attributes: the user's password is kept in state as a
/// sensitive value (with the provider's warning), and a token's secret file works the same.
#[test]
fn terraform_before_1_11_creates_users_with_passwords_and_token_files() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|_| {}));
    let config = r#"
resource "pve_user" "ci" {
  user_id  = "ci@pve"
  password = var.password
}

resource "pve_api_token" "deploy" {
  user_id     = pve_user.ci.user_id
  token_name  = "deploy"
  secret_file = "${path.module}/deploy.token"
}
"#;
    for minor in ["1.6", "1.9"] {
        let tf = Terraform::new(&format!("{}{PASSWORD_VARIABLE}{config}", provider_block(&emu)))
            .with_binary(older_terraform_binary(minor))
            .env("TF_VAR_password", &password());
        tf.init();
        let out = apply(&tf);
        assert!(flat(&out).contains("Write-only attributes kept in state by this Terraform: password"), "{minor}: {out}");
        let full = std::fs::read_to_string(tf.dir.path().join("deploy.token")).unwrap();
        rt.block_on(client_for(&emu, full.trim_end()).version()).expect("the token authenticates");
        assert!(!show_json(&tf).contains(full.trim_end().split_once('=').unwrap().1), "{minor}: the secret is in the file only");
        let (code, out) = plan_code(&tf);
        assert_eq!(code, 0, "{minor}: {out}");
        destroy(&tf);
    }
}

/// Under a busy cluster's faults (lost answers included), the access setup converges in a few
/// applies, plans clean, and destroy leaves no user, group, role, token, pool or ACL entry behind.
#[test]
fn access_setup_converges_under_faults_and_leaves_nothing_behind() {
    let rt = runtime();
    for seed in [11, 12, 13] {
        let emu = rt.block_on(emulator(|c| pve_home_tests::fault_mix(c, 2.0, seed)));
        let config = access_config("lab", r#""VM.Audit""#, "alice@example.org")
            .replace("token_name = \"automation\"", "token_name = \"automation\"\n  secret_file = \"alice.token\"");
        let tf = Terraform::new(&format!("{}{config}", provider_block(&emu))).env("TF_VAR_password", &password());
        tf.init();
        let converge = |args: &[&str]| {
            let mut runs = Vec::new();
            for _ in 0..4 {
                let out = tf.run(args);
                runs.push(out.code);
                if out.code == 0 {
                    return runs;
                }
                eprintln!("seed {seed}: {args:?} failed (run again):\n{}", out.all());
            }
            panic!("seed {seed}: {args:?} did not converge: {runs:?}");
        };
        let applies = converge(&["apply", "-input=false", "-no-color", "-auto-approve"]);
        let (code, out) = plan_code(&tf);
        assert_eq!(code, 0, "seed {seed}: plan clean after {} applies:\n{out}", applies.len());
        let full = std::fs::read_to_string(tf.dir.path().join("alice.token")).unwrap();
        let calm = client(&emu);
        assert!(rt.block_on(calm.access().token("alice@pve", "automation")).is_ok());
        assert!(full.starts_with("alice@pve!automation="), "the file holds the token in state");
        let destroys = converge(&["destroy", "-input=false", "-no-color", "-auto-approve"]);
        eprintln!("seed {seed}: {} apply and {} destroy runs", applies.len(), destroys.len());
        // What is left, read with the client's retries (the faults are still on).
        let leftovers = rt.block_on(async {
            let access = calm.access();
            let gone = |result: Result<(), pve_api::ApiError>| match result {
                Ok(()) => false,
                Err(e) if e.is_not_found() => true,
                Err(e) => panic!("seed {seed}: {e}"),
            };
            let mut left: Vec<String> =
                access.roles().await.unwrap().into_iter().filter(|r| r.roleid == "Operator").map(|r| r.roleid).collect();
            left.extend(access.acl().await.unwrap().into_iter().filter(|e| e.ugid == "alice@pve" || e.ugid == "operators").map(|e| e.ugid));
            if !gone(access.user("alice@pve").await.map(drop)) {
                left.push("alice@pve".into());
            }
            if !gone(access.group("operators").await.map(drop)) {
                left.push("operators".into());
            }
            if !gone(calm.read_pool("lab").await.map(drop)) {
                left.push("lab".into());
            }
            left
        });
        assert!(leftovers.is_empty(), "seed {seed}: left behind {leftovers:?}");
        assert!(!tf.dir.path().join("alice.token").exists());
    }
}

/// A new `password_version` sets the password again, through a provider signed in with a password
/// (PVE refuses tokens there): as root@pam, and as another user, who confirms with its own.
#[test]
fn a_new_password_version_sets_the_password_again() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|_| {}));
    let (root, root_password) = pve_emulator::config::TEST_USER.split_once(':').unwrap();
    let config = |version: u32| {
        format!(
            "{}{PASSWORD_VARIABLE}resource \"pve_user\" \"dave\" {{\n  user_id          = \"dave@pve\"\n  password         = var.password\n  \
             password_version = {version}\n}}\n",
            provider_without_token(&emu)
        )
    };
    let first = password();
    let tf = Terraform::new(&config(1)).env("PVE_USERNAME", root).env("PVE_PASSWORD", root_password).env("TF_VAR_password", &first);
    tf.init();
    apply(&tf);
    assert!(signs_in(&emu, &rt, "dave@pve", &first));

    // The same configuration with another password plans nothing: it is write-only.
    let second = format!("{first}-2");
    let tf = tf.env("TF_VAR_password", &second);
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 0, "{out}");
    tf.write("main.tf", &config(2));
    let (code, out) = plan_code(&tf);
    assert!(code == 2 && out.contains("password_version = 1 -> 2") && !out.contains(&second), "{out}");
    apply(&tf);
    assert!(signs_in(&emu, &rt, "dave@pve", &second) && !signs_in(&emu, &rt, "dave@pve", &first));

    // Another administrator: PVE asks for its own password as confirmation, which the provider sends.
    let admin_password = format!("{first}-admin");
    let admin = format!(
        "{}resource \"pve_user\" \"admin\" {{\n  user_id  = \"admin@pve\"\n  password = \"{admin_password}\"\n}}\n\
         resource \"pve_acl\" \"admin\" {{\n  path    = \"/\"\n  role_id = \"Administrator\"\n  user_id = pve_user.admin.user_id\n}}\n",
        provider_block(&emu)
    );
    let setup = Terraform::new(&admin);
    setup.init();
    apply(&setup);
    let third = format!("{first}-3");
    let as_admin =
        Terraform::new(&config(3)).env("PVE_USERNAME", "admin@pve").env("PVE_PASSWORD", &admin_password).env("TF_VAR_password", &third);
    as_admin.init();
    let out = as_admin.run(&["import", "-input=false", "-no-color", "pve_user.dave", "dave@pve"]);
    assert_eq!(out.code, 0, "{}", out.all());
    apply(&as_admin);
    assert!(signs_in(&emu, &rt, "dave@pve", &third), "changed by admin@pve");
}
