//! Shared helpers for the integration suites: an in-process emulator and a client for it.

use pve_api::{ClientConfig, Credentials, PveClient, RetryPolicy};
use pve_emulator::{EmulatorConfig, RunningEmulator};

pub const TOKEN: &str = pve_emulator::config::TEST_TOKEN;

/// Starts an emulator on a free loopback port (plain HTTP, fast tasks) after `adjust`.
pub async fn emulator(adjust: impl FnOnce(&mut EmulatorConfig)) -> RunningEmulator {
    let mut config = EmulatorConfig::for_tests();
    adjust(&mut config);
    pve_emulator::serve(config).await.expect("emulator starts")
}

/// root@pam and its password in every test emulator (`EmulatorConfig::for_tests`): PVE lets only
/// root@pam itself, logged in with its password, set a hookscript; tokens, root's included, are
/// refused.
pub fn root_login() -> (&'static str, &'static str) {
    pve_emulator::config::TEST_USER.split_once(':').expect("USER:PASSWORD")
}

/// A client logged in as root@pam with its password.
pub fn root_client(emulator: &RunningEmulator) -> PveClient {
    let (username, password) = root_login();
    let mut config =
        ClientConfig::new(&emulator.url, Credentials::Password { username: username.into(), password: pve_api::Secret::new(password) });
    config.insecure_http = true;
    PveClient::new(config).expect("client")
}

pub fn client_with(emulator: &RunningEmulator, token: &str, retry: RetryPolicy) -> PveClient {
    let mut config = ClientConfig::new(&emulator.url, Credentials::api_token(token).expect("valid token"));
    config.retry = retry;
    // The in-process emulator speaks plain HTTP unless a test asks for TLS.
    config.insecure_http = emulator.url.starts_with("http://");
    PveClient::new(config).expect("client builds")
}

pub fn client(emulator: &RunningEmulator) -> PveClient {
    client_with(emulator, TOKEN, RetryPolicy::default())
}

/// Lines of the emulator's JSON request log.
pub fn request_log(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path).unwrap_or_default().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// The workspace root (this crate lives in `tests/`).
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// A binary built by this workspace (`cargo build --workspace --bins` runs before the tests).
pub fn workspace_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let path = exe.parent().and_then(|deps| deps.parent()).expect("target dir").join(name);
    assert!(path.exists(), "{} is missing: run `cargo build --workspace --bins` first (scripts/test.sh does)", path.display());
    path
}

/// Copies a folder of the repository (modules, an environment) without Terraform's working files
/// or a local state.
pub fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap();
        if name == ".terraform" || name == ".terraform.lock.hcl" || name == "terraform.tfstate" {
            continue;
        }
        if path.is_dir() {
            copy_tree(&path, &to.join(name));
        } else {
            std::fs::copy(&path, to.join(name)).unwrap();
        }
    }
}

/// The real Terraform from the project's virtualenv (scripts/setup-tools.sh installs it).
pub fn terraform_binary() -> std::path::PathBuf {
    let path = repo_root().join(".venv/bin/terraform");
    assert!(path.exists(), "{} is missing: run scripts/setup-tools.sh (scripts/test.sh does)", path.display());
    path
}

pub const PROVIDER_VERSION: &str = "0.1.0";

/// A Terraform working directory with the provider in a filesystem mirror and a CLI config
/// that never reaches the network.
pub struct Terraform {
    pub dir: tempfile::TempDir,
    cli_config: std::path::PathBuf,
    env: Vec<(String, String)>,
    binary: std::path::PathBuf,
}

/// An older Terraform build from its own virtualenv (`scripts/setup-tools.sh` installs 1.6 and
/// 1.9 as `.venv/tf-MINOR/bin/terraform`).
pub fn older_terraform_binary(minor: &str) -> std::path::PathBuf {
    let path = repo_root().join(format!(".venv/tf-{minor}/bin/terraform"));
    assert!(path.exists(), "{} is missing: run scripts/setup-tools.sh (scripts/test.sh does)", path.display());
    path
}

#[derive(Debug)]
pub struct TfOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl TfOutput {
    /// stdout and stderr together, for assertions on messages.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl Terraform {
    pub fn new(main_tf: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mirror = dir.path().join(".mirror");
        let platform = mirror.join(format!("registry.terraform.io/pve-home/pve/{PROVIDER_VERSION}/linux_amd64"));
        std::fs::create_dir_all(&platform).expect("mirror dir");
        std::fs::copy(workspace_binary("terraform-provider-pve"), platform.join(format!("terraform-provider-pve_v{PROVIDER_VERSION}")))
            .expect("provider copied");
        let cli_config = dir.path().join(".terraformrc");
        std::fs::write(
            &cli_config,
            format!("provider_installation {{\n  filesystem_mirror {{\n    path    = \"{}\"\n    include = [\"registry.terraform.io/pve-home/pve\"]\n  }}\n}}\n", mirror.display()),
        )
        .expect("cli config");
        let terraform = Self { dir, cli_config, env: Vec::new(), binary: terraform_binary() };
        terraform.write("main.tf", main_tf);
        terraform
    }

    /// The variables set with `env`, for other tools that run terraform here.
    pub fn env_vars(&self) -> &[(String, String)] {
        &self.env
    }

    /// The CLI config file (filesystem mirror only), for other tools that run terraform.
    pub fn cli_config(&self) -> &std::path::Path {
        &self.cli_config
    }

    pub fn write(&self, name: &str, content: &str) {
        std::fs::write(self.dir.path().join(name), content).expect("write config file");
    }

    /// Runs this Terraform binary instead of the project's current one.
    pub fn with_binary(mut self, binary: std::path::PathBuf) -> Self {
        self.binary = binary;
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Starts terraform without waiting (for interrupt tests); output is discarded.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.command(args).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().expect("terraform starts")
    }

    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(&self.binary);
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("TF_CLI_CONFIG_FILE", &self.cli_config)
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_IN_AUTOMATION", "1")
            .env("NO_COLOR", "1")
            .env_remove("TF_LOG")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(std::process::Stdio::null());
        command
    }

    pub fn run(&self, args: &[&str]) -> TfOutput {
        let output = self.command(args).output().expect("terraform runs");
        TfOutput {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// `init`, asserting success.
    pub fn init(&self) {
        let out = self.run(&["init", "-input=false", "-no-color"]);
        assert_eq!(out.code, 0, "terraform init failed:\n{}", out.all());
    }

    /// `output -json` as a JSON object.
    pub fn outputs(&self) -> serde_json::Value {
        let out = self.run(&["output", "-json", "-no-color"]);
        assert_eq!(out.code, 0, "terraform output failed:\n{}", out.all());
        serde_json::from_str(&out.stdout).expect("output -json is JSON")
    }
}

/// A `terraform { required_providers }` block and a provider block for an emulator.
pub fn provider_block(emulator: &RunningEmulator) -> String {
    format!(
        "terraform {{\n  required_providers {{\n    pve = {{ source = \"pve-home/pve\", version = \"{PROVIDER_VERSION}\" }}\n  }}\n}}\n\n\
         provider \"pve\" {{\n  endpoint  = \"{}\"\n  api_token = \"{TOKEN}\"\n{}}}\n",
        emulator.url,
        if emulator.url.starts_with("http://") { "  insecure_http = true\n" } else { "" }
    )
}

/// Adds a shared storage `ceph` (RBD: VM disks and container volumes) to the emulator's cluster.
pub fn add_shared_storage(emulator: &RunningEmulator) {
    emulator.emulator.cluster().storages.insert(
        "ceph".into(),
        pve_emulator::model::StorageDef {
            storage_type: "rbd".into(),
            content: vec!["images".into(), "rootdir".into()],
            shared: true,
            total: 1 << 40,
            path: None,
            nodes: None,
        },
    );
}

/// `count` clones of the emulator's template 9000 on pve1, left stopped, with a 4 GiB disk (the
/// template has 3.5 GiB, so each clone's disk grows): the fleet the scale benches apply.
pub fn cloned_vms(count: usize, full: bool) -> String {
    format!(
        r#"
resource "pve_vm" "vm" {{
  count      = {count}
  node       = "pve1"
  name       = "vm-${{count.index}}"
  clone_vmid = 9000
  clone_full = {full}
  started    = false
  disk {{
    slot    = "scsi0"
    storage = "local-lvm"
    size    = 4
  }}
  network {{}}
}}
"#
    )
}

/// The fault suite's fleet: `vms` linked clones of template 9000 on pve1 and `containers`
/// containers spread over pve1..pve3, all started, so each guest costs a create or clone, a config
/// update, a resize or not, and a start.
pub fn mixed_fleet(vms: usize, containers: usize) -> String {
    format!(
        r#"
resource "pve_vm" "vm" {{
  count      = {vms}
  node       = "pve1"
  name       = "vm-${{count.index}}"
  clone_vmid = 9000
  clone_full = false
  disk {{
    slot    = "scsi0"
    storage = "local-lvm"
    size    = 4
  }}
  network {{}}
}}

resource "pve_lxc" "ct" {{
  count           = {containers}
  node            = "pve${{count.index % 3 + 1}}"
  hostname        = "ct-${{count.index}}"
  template_volume = "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst"
  rootfs {{
    storage = "local-lvm"
    size    = 4
  }}
  network {{}}
}}
"#
    )
}

/// The fault mix a busy cluster shows, scaled by `scale` (1.0 = 5% HTTP 500, 2% 596, 2%
/// connection resets, 3% tasks failing on a lock timeout, 5% slow tasks), drawn from `seed`.
pub fn fault_mix(config: &mut EmulatorConfig, scale: f64, seed: u64) {
    config.error_rate = 0.05 * scale;
    config.proxy_error_rate = 0.02 * scale;
    config.reset_rate = 0.02 * scale;
    config.task_failure_rate = 0.03 * scale;
    config.slow_task_rate = 0.05 * scale;
    config.slow_task_factor = 5;
    config.seed = seed;
}

/// The non-template guests PVE holds, as VMIDs.
pub async fn guest_vmids(client: &PveClient) -> std::collections::BTreeSet<u64> {
    client.cluster_resources(Some("vm")).await.expect("listing").iter().filter(|g| !g.template).filter_map(|g| g.vmid).collect()
}

/// The VMIDs of the `pve_vm` and `pve_lxc` instances in a working directory's state.
pub fn state_vmids(tf: &Terraform) -> std::collections::BTreeSet<u64> {
    let out = tf.run(&["show", "-json"]);
    let state: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
    state["values"]["root_module"]["resources"]
        .as_array()
        .map(|resources| {
            resources
                .iter()
                .filter(|r| r["type"] == "pve_vm" || r["type"] == "pve_lxc")
                .filter_map(|r| r["values"]["vmid"].as_u64())
                .collect()
        })
        .unwrap_or_default()
}

/// An emulator that keeps its storages' files under a temporary directory, with an sshd standing
/// in for node pve1: what the provider uploads over SFTP (snippets, hookscripts) lands where the
/// emulator reads it.
pub struct SshLab {
    pub emu: RunningEmulator,
    pub sshd: Sshd,
    pub data: tempfile::TempDir,
}

impl SshLab {
    pub async fn start() -> Self {
        let sshd = Sshd::start();
        let data = tempfile::tempdir().expect("temp dir");
        let data_dir = data.path().to_path_buf();
        let emu = emulator(|c| c.data_dir = Some(data_dir)).await;
        Self { emu, sshd, data }
    }

    pub fn data_dir(&self) -> &std::path::Path {
        self.data.path()
    }

    /// The provider block, reaching pve1 through the sshd with its host key known.
    pub fn provider(&self) -> String {
        provider_block_with_ssh(&self.emu, &self.sshd, &self.sshd.known_hosts)
    }

    /// The same as root@pam with its password, for what PVE allows root@pam alone (hookscripts).
    pub fn provider_as_root(&self) -> String {
        let (username, password) = root_login();
        self.provider().replace(&format!("api_token = \"{TOKEN}\""), &format!("username  = \"{username}\"\n  password  = \"{password}\""))
    }
}

/// `provider_block` with an `ssh` block reaching node pve1 through `sshd`, checking host keys
/// against `known_hosts`.
pub fn provider_block_with_ssh(emulator: &RunningEmulator, sshd: &Sshd, known_hosts: &std::path::Path) -> String {
    provider_block(emulator).trim_end().trim_end_matches('}').to_string()
        + &format!(
            "  ssh {{\n    user = \"{}\"\n    port = {}\n    private_key_file = \"{}\"\n    known_hosts_file = \"{}\"\n    node_addresses = {{ pve1 = \"127.0.0.1\" }}\n  }}\n}}\n",
            sshd.user,
            sshd.port,
            sshd.client_key.display(),
            known_hosts.display()
        )
}

/// Terraform wraps diagnostics to the terminal: the text with every run of whitespace made one
/// space, to compare messages with.
pub fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What a run of one of our command-line binaries (pve-ops) left: exit code and output.
#[derive(Debug)]
pub struct CliRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CliRun {
    /// Runs `command` with no standard input.
    pub fn of(command: &mut std::process::Command) -> Self {
        let out = command.stdin(std::process::Stdio::null()).output().expect("the command runs");
        Self {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into(),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
        }
    }

    /// stdout as JSON (`--json` output).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }
}

/// A real OpenSSH sshd on loopback for the current user, with its own host key, a client key
/// pair, and a known_hosts file that knows it. Killed on drop.
pub struct Sshd {
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub client_key: std::path::PathBuf,
    pub known_hosts: std::path::PathBuf,
    pub user: String,
    child: std::process::Child,
}

/// A new passphrase-less ed25519 key pair at `path` and `path.pub`.
pub fn keygen(path: &std::path::Path) {
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "pve-home-test", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen runs (scripts/setup-tools.sh installs openssh-client)");
    assert!(status.success());
}

impl Sshd {
    pub fn start() -> Self {
        Self::start_on("127.0.0.1", 0, "")
    }

    /// An sshd on `address` (any of 127.0.0.0/8) and `port` (0: a free one), with more
    /// sshd_config lines. Its authorized_keys is `<dir>/authorized_keys`.
    pub fn start_on(address: &str, port: u16, extra_config: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = dir.path();
        keygen(&p.join("host_key"));
        keygen(&p.join("client_key"));
        std::fs::copy(p.join("client_key.pub"), p.join("authorized_keys")).expect("authorized_keys");
        // Privilege separation needs this directory.
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = if port == 0 {
            std::net::TcpListener::bind((address, 0)).and_then(|l| l.local_addr()).expect("free port").port()
        } else {
            port
        };
        let config = format!(
            "Port {port}\nListenAddress {address}\nHostKey {dir}/host_key\nPidFile {dir}/sshd.pid\nAuthorizedKeysFile {dir}/authorized_keys\n\
             StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
             Subsystem sftp internal-sftp\nLogLevel ERROR\n{extra_config}",
            dir = p.display()
        );
        std::fs::write(p.join("sshd_config"), config).expect("sshd_config");
        let sshd = ["/usr/sbin/sshd", "/usr/bin/sshd"]
            .into_iter()
            .find(|s| std::path::Path::new(s).exists())
            .expect("sshd installed (scripts/setup-tools.sh installs openssh-server)");
        let child = std::process::Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(p.join("sshd_config"))
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("sshd starts");
        for _ in 0..100 {
            if std::net::TcpStream::connect((address, port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let host_key = std::fs::read_to_string(p.join("host_key.pub")).expect("host key");
        let host_key: Vec<&str> = host_key.split_whitespace().take(2).collect();
        let known_hosts = p.join("known_hosts");
        std::fs::write(&known_hosts, format!("[{address}]:{port} {}\n", host_key.join(" "))).expect("known_hosts");
        let user = std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| "root".into());
        Self { port, client_key: p.join("client_key"), known_hosts, user, dir, child }
    }

    pub fn authorized_keys(&self) -> std::path::PathBuf {
        self.dir.path().join("authorized_keys")
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SSH hosts for key rotation: sshd on 127.0.0.(11+i), the operator's keys `old` and `new`,
/// and a known_hosts file that knows every host.
pub struct Fleet {
    pub hosts: Vec<(String, Sshd)>,
    pub keys: tempfile::TempDir,
    pub known_hosts: std::path::PathBuf,
}

impl Fleet {
    pub fn key(&self, name: &str) -> std::path::PathBuf {
        self.keys.path().join(name)
    }
    pub fn keys_file(&self, address: &str) -> std::path::PathBuf {
        self.keys.path().join(address).join("authorized_keys")
    }
    pub fn authorized(&self, address: &str) -> String {
        std::fs::read_to_string(self.keys_file(address)).unwrap()
    }
}

/// `count` sshd on 127.0.0.(11+i) at one port, all trusting the key `old`; per-host extra
/// sshd_config lines from `extra`.
pub fn fleet(count: usize, extra: impl Fn(usize, &std::path::Path) -> String) -> Fleet {
    let keys = tempfile::tempdir().unwrap();
    keygen(&keys.path().join("old"));
    keygen(&keys.path().join("new"));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut hosts = Vec::new();
    let mut known_hosts = String::new();
    for i in 0..count {
        let address = format!("127.0.0.{}", 11 + i);
        let sshd = Sshd::start_on(&address, port, &extra(i, keys.path()));
        // The operator's key is the only one trusted; the file lives where --authorized-keys names it.
        let file = keys.path().join(&address).join("authorized_keys");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::copy(keys.path().join("old.pub"), &file).unwrap();
        std::fs::remove_file(sshd.authorized_keys()).unwrap();
        std::os::unix::fs::symlink(&file, sshd.authorized_keys()).unwrap();
        known_hosts.push_str(&std::fs::read_to_string(&sshd.known_hosts).unwrap());
        hosts.push((address, sshd));
    }
    let known_hosts_file = keys.path().join("known_hosts");
    std::fs::write(&known_hosts_file, known_hosts).unwrap();
    Fleet { hosts, keys, known_hosts: known_hosts_file }
}

/// A real S3 server (SeaweedFS `weed mini` from the virtualenv) on loopback with one versioned
/// bucket, its own data directory and ports. Killed on drop.
pub struct S3Server {
    pub endpoint: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    pub dir: tempfile::TempDir,
    /// S3, master, volume, filer and admin ports, kept for a restart.
    ports: [u16; 5],
    child: Option<std::process::Child>,
}

/// A port that is free, with the port 10000 above it free too (SeaweedFS puts gRPC there).
fn free_port_pair() -> u16 {
    use port_sequence::next;
    loop {
        let port = next();
        let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
        if free(port) && free(port + 10_000) {
            return port;
        }
    }
}

mod port_sequence {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    /// Ports from 11000 to 19999, spread by process so parallel test binaries rarely meet.
    pub fn next() -> u16 {
        let start = 11_000 + (std::process::id() % 90) as u16 * 100;
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        11_000 + (start - 11_000 + n) % 9_000
    }
}

impl S3Server {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let weed = repo_root().join(".venv/bin/weed");
        assert!(weed.exists(), "{} is missing: run scripts/setup-tools.sh (scripts/test.sh does)", weed.display());
        let (access_key, secret_key) = ("pve-home-test".to_string(), format!("secret-{}", std::process::id()));
        let ports: [u16; 5] = std::array::from_fn(|_| free_port_pair());
        let mut server = Self {
            endpoint: format!("http://127.0.0.1:{}", ports[0]),
            bucket: "tfstate".into(),
            access_key,
            secret_key,
            dir,
            ports,
            child: None,
        };
        server.child = Some(server.spawn(&weed));
        server.wait_ready();
        server
    }

    /// Stops the server (its data stays in `dir`), as when the machine it runs on dies.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same ports, with whatever `dir` holds now.
    pub fn restart(&mut self) {
        self.stop();
        self.child = Some(self.spawn(&repo_root().join(".venv/bin/weed")));
        self.wait_ready();
    }

    fn spawn(&self, weed: &std::path::Path) -> std::process::Child {
        let [s3, master, volume, filer, admin] = self.ports;
        let dir = &self.dir;
        std::process::Command::new(weed)
            .arg("mini")
            .arg(format!("-dir={}", dir.path().display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false", "-admin.ui=false", "-webdav=false"])
            .args(["-s3.port.iceberg=0", "-s3.port.lance=0", "-bucket=tfstate"])
            .arg(format!("-s3.port={s3}"))
            .arg(format!("-master.port={master}"))
            .arg(format!("-volume.port={volume}"))
            .arg(format!("-filer.port={filer}"))
            .arg(format!("-admin.port={admin}"))
            .env("AWS_ACCESS_KEY_ID", &self.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_key)
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::OpenOptions::new().create(true).append(true).open(dir.path().join("weed.log")).expect("log file"))
            .spawn()
            .expect("weed starts")
    }

    /// An S3 client for this server (the one pve-ops uses).
    pub fn client(&self) -> pve_ops::s3::aws_sdk_s3::Client {
        let credentials = pve_ops::s3::aws_sdk_s3::config::Credentials::new(&self.access_key, &self.secret_key, None, None, "test");
        pve_ops::s3::S3Settings {
            endpoint: Some(self.endpoint.clone()),
            region: "us-east-1".into(),
            bucket: self.bucket.clone(),
            ca_file: None,
        }
        .client_with(credentials)
        .expect("S3 client")
    }

    /// The environment pve-ops and Terraform's S3 backend need for this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_key.clone()),
            ("PVE_OPS_S3_ENDPOINT", self.endpoint.clone()),
        ]
    }

    /// Waits until the bucket takes writes, then turns versioning on.
    fn wait_ready(&self) {
        use pve_ops::s3::aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let client = self.client();
        runtime.block_on(async {
            let mut last = String::new();
            for _ in 0..150 {
                let versioning = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
                let enabled = client.put_bucket_versioning().bucket(&self.bucket).versioning_configuration(versioning).send().await;
                let probe = client.put_object().bucket(&self.bucket).key(".ready").body(b"ok".to_vec().into()).send().await;
                match (enabled, probe) {
                    (Ok(_), Ok(_)) => return,
                    (e, p) => {
                        last = format!(
                            "{:?} / {:?}",
                            e.err().map(|e| pve_ops::s3::error("versioning", e).to_string()),
                            p.err().map(|e| e.to_string())
                        )
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            let log = std::fs::read_to_string(self.dir.path().join("weed.log")).unwrap_or_default();
            panic!("SeaweedFS did not become ready: {last}\n{}", &log[log.len().saturating_sub(3000)..]);
        });
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Terraform working directory laid out like the repository (`modules/` copied, no main.tf),
/// so an environment copied beside it resolves its `../../modules/…` sources, with the
/// provider, SSH and S3 settings in the environment as `scripts/lab.sh` sets them.
///
/// It logs in as root@pam with its password: the environments' containers get the
/// security-updates hookscript, which PVE refuses to every API token.
pub fn environments_workdir(emu: &RunningEmulator, sshd: &Sshd, s3: &S3Server) -> Terraform {
    let (username, password) = root_login();
    let mut tf = Terraform::new("")
        .env("PVE_ENDPOINT", &emu.url)
        .env("PVE_INSECURE_HTTP", "1")
        .env("PVE_USERNAME", username)
        .env("PVE_PASSWORD", password)
        .env("PVE_SSH_USER", &sshd.user)
        .env("PVE_SSH_PORT", &sshd.port.to_string())
        .env("PVE_SSH_PRIVATE_KEY_FILE", &sshd.client_key.display().to_string())
        .env("PVE_SSH_KNOWN_HOSTS", &sshd.known_hosts.display().to_string())
        .env("PVE_SSH_NODE_ADDRESSES", "pve1=127.0.0.1,pve2=127.0.0.1,pve3=127.0.0.1");
    for (key, value) in s3.env() {
        tf = tf.env(key, &value);
    }
    std::fs::remove_file(tf.dir.path().join("main.tf")).expect("main.tf of the new directory");
    copy_tree(&repo_root().join("modules"), &tf.dir.path().join("modules"));
    tf
}
