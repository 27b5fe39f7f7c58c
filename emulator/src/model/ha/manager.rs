//! The HA manager: the CRM's rounds (`src/PVE/HA/Manager.pm`: `update_crm_commands`,
//! `queue_resource_motion`, `select_service_node`, `next_state_started`, `next_state_recovery`,
//! with `src/PVE/HA/Usage/Basic.pm` for node scores) and the LRM work they ask for
//! (`src/PVE/HA/Resources/{PVEVM,PVECT}.pm`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use pve_api::GuestKind;

use super::rules::compile;
use super::{Compiled, HaAction, HaService};
use crate::error::PveError;
use crate::model::{Cluster, MigrateRequest};
use crate::state::Emulator;

impl Cluster {
    // ---- the manager ----

    pub(super) fn ha_log(&mut self, level: &str, message: impl Into<String>) {
        let message = message.into();
        let line = if level == "info" { message } else { format!("{level}: {message}") };
        self.ha_manager.log.push((crate::state::now(), line));
        let excess = self.ha_manager.log.len().saturating_sub(1000);
        self.ha_manager.log.drain(..excess);
    }

    /// Resource → (current node, target node) as the scheduler counts them
    /// (`PVE::HA::Usage::get_used_service_nodes`).
    fn used_nodes(&self, online: &BTreeSet<String>) -> BTreeMap<String, (Option<String>, Option<String>)> {
        self.ha_manager
            .services
            .iter()
            .map(|(sid, s)| {
                let counted = matches!(
                    s.state.as_str(),
                    "started" | "request_stop" | "fence" | "freeze" | "error" | "recovery" | "migrate" | "relocate"
                );
                let current = (counted && online.contains(&s.node)).then(|| s.node.clone());
                let target =
                    if matches!(s.state.as_str(), "migrate" | "relocate") { s.target.clone().filter(|t| online.contains(t)) } else { None };
                (sid.clone(), (current, target))
            })
            .collect()
    }

    /// `PVE::HA::Manager::select_service_node`: the node affinity's highest-priority online
    /// nodes, without those where a resource in negative affinity is (or goes), narrowed to the
    /// one most of its positive-affinity partners use; staying put when allowed (`none`), else
    /// the node with the fewest HA resources (`PVE::HA::Usage::Basic`).
    fn select_service_node(&self, compiled: &Compiled, online: &BTreeSet<String>, sid: &str, preference: &str) -> Option<String> {
        let service = self.ha_manager.services.get(sid)?;
        let current = service.node.clone();
        let failback = self.ha_resources.get(sid).and_then(|o| o.get("failback")).is_none_or(|f| f == "1");
        let (allowed, mut preferred): (BTreeSet<String>, BTreeSet<String>) = match compiled.node_affinity.get(sid) {
            None => (online.clone(), online.clone()),
            Some(nodes) => {
                let available: Vec<(&String, i64)> = nodes.iter().filter(|(n, _)| online.contains(*n)).map(|(n, p)| (n, *p)).collect();
                let highest = available.iter().map(|(_, p)| *p).max();
                (
                    available.iter().map(|(n, _)| (*n).clone()).collect(),
                    available.iter().filter(|(_, p)| Some(*p) == highest).map(|(n, _)| (*n).clone()).collect(),
                )
            }
        };
        if preferred.is_empty() {
            return None;
        }
        let used = self.used_nodes(online);
        let mut together: BTreeMap<String, usize> = BTreeMap::new();
        for other in compiled.positive.get(sid).into_iter().flatten() {
            if let Some((current, target)) = used.get(other)
                && let Some(node) = target.clone().or(current.clone())
            {
                *together.entry(node).or_default() += 1;
            }
        }
        let mut separate: BTreeSet<String> = BTreeSet::new();
        for other in compiled.negative.get(sid).into_iter().flatten() {
            if let Some((current, target)) = used.get(other) {
                separate.extend(current.clone());
                separate.extend(target.clone());
            }
        }
        let allowed_here = together.contains_key(&current) || !separate.contains(&current);
        if preference == "none" && !failback && allowed.contains(&current) && allowed_here {
            return Some(current);
        }
        // apply_negative_resource_affinity, then apply_positive_resource_affinity
        preferred.retain(|n| !separate.contains(n));
        together.retain(|n, _| preferred.contains(n));
        if let Some(majority) = together.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(n, _)| n.clone()) {
            preferred.retain(|n| *n == majority);
        }
        if preference == "none" && preferred.contains(&current) {
            return Some(current);
        }
        let score = |node: &String| used.values().filter(|(c, t)| c.as_ref() == Some(node) || t.as_ref() == Some(node)).count();
        preferred.into_iter().min_by(|a, b| score(a).cmp(&score(b)).then(a.cmp(b)))
    }

    /// `queue_resource_motion`: refused when a resource in negative affinity is on the target;
    /// resources in positive affinity go along.
    fn queue_motion(&mut self, compiled: &Compiled, cmd: &str, task: &str, sid: &str, target: &str) {
        let services = self.ha_manager.services.clone();
        for other in compiled.negative.get(sid).into_iter().flatten() {
            let Some(s) = services.get(other) else { continue };
            if s.node == target && s.target.as_deref().is_none_or(|t| t == target) {
                self.ha_log(
                    "err",
                    format!("crm command '{cmd}' error - service '{other}' on node '{target}' in negative affinity with service '{sid}'"),
                );
                return;
            }
        }
        self.ha_log("info", format!("got crm command: {cmd}"));
        if let Some(s) = self.ha_manager.services.get_mut(sid) {
            s.cmd = Some((task.to_string(), target.to_string()));
        }
        for other in compiled.positive.get(sid).into_iter().flatten() {
            let Some(s) = services.get(other) else { continue };
            if s.node == target || s.target.as_deref() == Some(target) {
                continue;
            }
            self.ha_log(
                "info",
                format!("crm command '{cmd}' - {task} service '{other}' to node '{target}' (service '{other}' in positive affinity with service '{sid}')"),
            );
            if let Some(s) = self.ha_manager.services.get_mut(other) {
                s.cmd = Some((task.to_string(), target.to_string()));
            }
        }
    }

    /// One round of the HA manager: the services brought in line with the config, the queued
    /// commands read, then each resource moved towards where the rules want it. Returns what the
    /// LRMs must do; `task_running` says whether an LRM task still runs.
    pub fn ha_round(&mut self, task_running: &dyn Fn(&str) -> bool) -> Vec<HaAction> {
        let online: BTreeSet<String> = self.nodes.iter().filter(|n| n.online).map(|n| n.name.clone()).collect();
        if let Some(disarm) = &mut self.ha_manager.disarm {
            if disarm.state == "disarming" {
                disarm.state = "disarmed".into();
                self.ha_log("info", "HA is disarmed, all watchdogs released");
            }
            return Vec::new();
        }
        // Services follow the resources config.
        let configured: Vec<String> = self.ha_resources.keys().cloned().collect();
        self.ha_manager.services.retain(|sid, _| configured.contains(sid));
        for sid in &configured {
            let Some(guest) = Cluster::ha_guest_vmid(sid).and_then(|v| self.guests.get(&v)) else { continue };
            let node = guest.node.clone();
            let running = guest.running;
            self.ha_manager.services.entry(sid.clone()).or_insert_with(|| HaService {
                state: if running { "started".into() } else { "stopped".into() },
                node,
                ..Default::default()
            });
        }
        // Tasks that ended: the resource is where its guest is now.
        for (sid, service) in self.ha_manager.services.iter_mut() {
            let busy = service.task.as_deref().is_some_and(|t| t == "pending" || task_running(t));
            if busy {
                continue;
            }
            service.task = None;
            if let Some(guest) = Cluster::ha_guest_vmid(sid).and_then(|v| self.guests.get(&v)) {
                service.node = guest.node.clone();
                if matches!(service.state.as_str(), "migrate" | "relocate" | "request_stop") {
                    service.state = if guest.running { "started".into() } else { "stopped".into() };
                    service.target = None;
                }
            }
        }
        let compiled = compile(&self.effective_rules(), &self.node_names());
        // update_crm_commands
        for cmd in std::mem::take(&mut self.ha_manager.commands) {
            let parts: Vec<&str> = cmd.split_whitespace().collect();
            match parts.as_slice() {
                [task @ ("migrate" | "relocate"), sid, node] => match self.ha_manager.services.get(*sid).cloned() {
                    None => self.ha_log("err", format!("crm command error - no such service: {cmd}")),
                    Some(_) if !online.contains(*node) => self.ha_log("err", format!("crm command error - node not online: {cmd}")),
                    Some(s) if s.node == *node => {
                        self.ha_log("info", format!("ignore crm command - service already on target node: {cmd}"))
                    }
                    Some(_) => self.queue_motion(&compiled, &cmd, task, sid, node),
                },
                ["stop", sid, timeout] => match self.ha_manager.services.get_mut(*sid) {
                    Some(s) => {
                        s.cmd = Some(("stop".into(), timeout.to_string()));
                        self.ha_log("info", format!("got crm command: {cmd}"));
                    }
                    None => self.ha_log("err", format!("crm command error - no such service: {cmd}")),
                },
                _ => self.ha_log("err", format!("unable to parse crm command: {cmd}")),
            }
        }
        let mut actions = Vec::new();
        let sids: Vec<String> = self.ha_manager.services.keys().cloned().collect();
        for sid in sids {
            let Some(vmid) = Cluster::ha_guest_vmid(&sid) else { continue };
            let Some(guest) = self.guests.get(&vmid).cloned() else { continue };
            let service = self.ha_manager.services[&sid].clone();
            if service.task.is_some() || guest.lock().is_some() {
                continue;
            }
            let requested = self.ha_resources.get(&sid).and_then(|o| o.get("state")).cloned().unwrap_or_else(|| "started".into());
            if requested == "ignored" {
                continue;
            }
            let kind = guest.kind;
            if !online.contains(&guest.node) {
                // next_state_fence / next_state_recovery: the config is moved to another node.
                match self.select_service_node(&compiled, &online, &sid, "best-score") {
                    Some(node) => {
                        self.ha_log("info", format!("recover service '{sid}' from fenced node '{}' to node '{node}'", guest.node));
                        if let Some(g) = self.guests.get_mut(&vmid) {
                            g.node = node.clone();
                            g.running = false;
                            g.started_at = None;
                        }
                        let s = self.ha_manager.services.get_mut(&sid).expect("present");
                        s.node = node;
                        s.state = if requested == "started" || requested == "enabled" { "started".into() } else { "stopped".into() };
                    }
                    None => self.ha_log(
                        "err",
                        format!("recovering service '{sid}' from fenced node '{}' failed, no recovery node found", guest.node),
                    ),
                }
                continue;
            }
            let started = requested == "started" || requested == "enabled";
            let motion = match &service.cmd {
                Some((task, target)) if task == "migrate" || task == "relocate" => Some((task.clone(), target.clone())),
                _ => None,
            };
            if let Some(s) = self.ha_manager.services.get_mut(&sid) {
                s.cmd = None;
            }
            if let Some((task, target)) = motion {
                if !online.contains(&target) {
                    self.ha_log("err", format!("ignore service '{sid}' {task} request - node '{target}' not online"));
                } else if target == guest.node {
                    self.ha_log("info", format!("ignore service '{sid}' {task} request - service already on node '{target}'"));
                } else {
                    self.ha_log("info", format!("{task} service '{sid}' to node '{target}'"));
                    let s = self.ha_manager.services.get_mut(&sid).expect("present");
                    s.state = task.clone();
                    s.target = Some(target.clone());
                    s.task = Some("pending".into());
                    let relocate = task == "relocate" || kind == GuestKind::Lxc;
                    actions.push(HaAction::Migrate {
                        sid: sid.clone(),
                        vmid,
                        kind,
                        node: guest.node.clone(),
                        target,
                        online: !relocate && guest.running,
                        relocate,
                    });
                }
                continue;
            }
            if !started || service.cmd.as_ref().is_some_and(|(c, _)| c == "stop") {
                if service.cmd.as_ref().is_some_and(|(c, _)| c == "stop")
                    && let Some(options) = self.ha_resources.get_mut(&sid)
                {
                    // A stop request sets the resource's requested state to stopped.
                    options.insert("state".into(), "stopped".into());
                }
                if guest.running {
                    let s = self.ha_manager.services.get_mut(&sid).expect("present");
                    s.state = "request_stop".into();
                    s.task = Some("pending".into());
                    actions.push(HaAction::Stop { sid: sid.clone(), vmid, kind, node: guest.node.clone() });
                } else if let Some(s) = self.ha_manager.services.get_mut(&sid) {
                    s.state = "stopped".into();
                }
                continue;
            }
            // next_state_started
            match self.select_service_node(&compiled, &online, &sid, "none") {
                Some(node) if node != guest.node => {
                    let relocate = kind == GuestKind::Lxc;
                    let word = if relocate { "relocate" } else { "migrate" };
                    if relocate {
                        self.ha_log("info", format!("relocate service '{sid}' to node '{node}'"));
                    } else {
                        self.ha_log("info", format!("migrate service '{sid}' to node '{node}' (running)"));
                    }
                    let s = self.ha_manager.services.get_mut(&sid).expect("present");
                    s.state = word.into();
                    s.target = Some(node.clone());
                    s.task = Some("pending".into());
                    actions.push(HaAction::Migrate {
                        sid: sid.clone(),
                        vmid,
                        kind,
                        node: guest.node.clone(),
                        target: node,
                        online: !relocate && guest.running,
                        relocate,
                    });
                }
                _ if !guest.running && !guest.is_template() => {
                    let s = self.ha_manager.services.get_mut(&sid).expect("present");
                    s.state = "started".into();
                    s.task = Some("pending".into());
                    actions.push(HaAction::Start { sid: sid.clone(), vmid, kind, node: guest.node.clone() });
                }
                _ => {
                    if let Some(s) = self.ha_manager.services.get_mut(&sid) {
                        s.state = "started".into();
                    }
                }
            }
        }
        actions
    }
}

impl Emulator {
    /// Wakes the HA manager for a round now.
    pub fn ha_kick(&self) {
        self.ha_wakeup.notify_one();
    }

    /// Runs the HA manager: a round every `--ha-interval-ms`, and whenever something wakes it,
    /// until the emulator is gone.
    pub fn start_ha_manager(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let wakeup = self.ha_wakeup.clone();
        let interval = Duration::from_millis(self.config.ha_interval_ms.max(10));
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = wakeup.notified() => {}
                    _ = tokio::time::sleep(interval) => {}
                }
                let Some(this) = weak.upgrade() else { break };
                this.ha_round().await;
            }
        });
    }

    /// One manager round, and the LRM work it asks for, each piece as its own task.
    pub async fn ha_round(self: &Arc<Self>) {
        let actions = {
            let mut cluster = self.cluster();
            if cluster.ha_resources.is_empty() && cluster.ha_manager.commands.is_empty() && cluster.ha_manager.disarm.is_none() {
                return;
            }
            let before = cluster.ha_manager.clone();
            let actions = cluster.ha_round(&|upid| self.task(upid).is_some_and(|t| t.running));
            let changed = before != cluster.ha_manager || !actions.is_empty();
            drop(cluster);
            if changed {
                self.persist();
            }
            actions
        };
        for action in actions {
            let this = self.clone();
            tokio::spawn(async move { this.run_ha_action(action).await });
        }
    }

    /// What an LRM does for the manager: start, stop (a shutdown) or migrate a resource, as
    /// root@pam on the resource's node (pve-ha-manager `PVE::HA::Resources::PVEVM` / `PVECT`).
    async fn run_ha_action(self: Arc<Self>, action: HaAction) {
        let (sid, vmid, kind) = match &action {
            HaAction::Start { sid, vmid, kind, .. }
            | HaAction::Stop { sid, vmid, kind, .. }
            | HaAction::Migrate { sid, vmid, kind, .. } => (sid.clone(), *vmid, *kind),
        };
        let guest = {
            let cluster = self.cluster();
            cluster.guests.get(&vmid).filter(|g| g.kind == kind).cloned()
        };
        let result = match (guest, action) {
            (None, _) => Err(PveError::server(format!("guest {vmid} does not exist"))),
            (Some(guest), HaAction::Start { .. }) => self.power_direct(&guest, "start".into(), false, "root@pam").await,
            (Some(guest), HaAction::Stop { .. }) => self.power_direct(&guest, "shutdown".into(), false, "root@pam").await,
            (Some(guest), HaAction::Migrate { target, online, relocate, .. }) => {
                let request = MigrateRequest {
                    target,
                    online,
                    restart: false,
                    target_storage: None,
                    with_local_disks: true,
                    force: true,
                    stop_first: relocate,
                };
                self.start_migration(&guest, request, None, "root@pam").await
            }
        };
        let mut cluster = self.cluster();
        match result {
            Ok(upid) => {
                if let Some(service) = cluster.ha_manager.services.get_mut(&sid) {
                    service.task = Some(upid.to_string());
                }
            }
            Err(error) => {
                cluster.ha_log("err", format!("service '{sid}': {}", error.message));
                if let Some(service) = cluster.ha_manager.services.get_mut(&sid) {
                    service.task = None;
                }
            }
        }
    }

    /// Takes a node down or brings it back (a power cut, for tests): HA recovers the resources
    /// of a node that is down.
    pub fn set_node_online(&self, node: &str, online: bool) {
        if let Some(n) = self.cluster().nodes.iter_mut().find(|n| n.name == node) {
            n.online = online;
        }
        self.ha_kick();
    }
}
