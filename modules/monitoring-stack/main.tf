# One VM running Prometheus, Alertmanager, Grafana, prometheus-pve-exporter and the node
# exporter, configured entirely by cloud-init: the user-data (files/cloud-init) carries every
# config file of files/, so the VM needs no configuration management after its first boot.
# It also carries the secrets, so it goes to the write-only user_data_wo (never in state).

locals {
  address = split("/", var.ip)[0]

  urls = {
    prometheus   = "http://${local.address}:${var.prometheus_port}"
    alertmanager = "http://${local.address}:${var.alertmanager_port}"
    grafana      = "http://${local.address}:${var.grafana_port}"
  }

  # Where pve-ops writes its metrics (ops-cli/systemd units) and the node exporter reads them.
  textfile_dir = "/var/lib/node_exporter/textfile"

  # file_sd target groups (Prometheus' JSON format). The VM's own node exporter is labelled with
  # the VM's name, so the pve-ops metrics from its textfile collector carry instance=<name>.
  node_targets = concat(
    [{ targets = ["localhost:9100"], labels = { instance = var.name, role = "monitoring" } }],
    length(var.node_exporter_targets) > 0 ? [{ targets = var.node_exporter_targets, labels = {} }] : [],
  )
  pve_targets = [{ targets = var.pve_endpoints, labels = {} }]
  # The instance labels keep the shape they had with fixed ports (localhost:<port>).
  prometheus_targets   = [{ targets = ["localhost:${var.prometheus_port}"], labels = {} }]
  alertmanager_targets = [{ targets = ["localhost:${var.alertmanager_port}"], labels = {} }]

  files = "${path.module}/files"

  # Paths on the VM => content, world-readable (no secrets).
  config_files = merge(
    {
      "/etc/prometheus/prometheus.yml"                       = file("${local.files}/prometheus/prometheus.yml")
      "/etc/prometheus/file_sd/node.json"                    = jsonencode(local.node_targets)
      "/etc/prometheus/file_sd/pve.json"                     = jsonencode(local.pve_targets)
      "/etc/prometheus/file_sd/prometheus.json"              = jsonencode(local.prometheus_targets)
      "/etc/prometheus/file_sd/alertmanager.json"            = jsonencode(local.alertmanager_targets)
      "/etc/prometheus/alertmanager.yml"                     = templatefile("${local.files}/alertmanager/alertmanager.yml.tftpl", { telegram_chat_id = var.telegram_chat_id })
      "/etc/prometheus/alertmanager_templates/telegram.tmpl" = file("${local.files}/alertmanager/alertmanager_templates/telegram.tmpl")
      # Debian's units pass $ARGS from these files.
      "/etc/default/prometheus"                                             = "ARGS=\"--storage.tsdb.retention.time=${var.prometheus_retention} --web.listen-address=:${var.prometheus_port} --web.external-url=${local.urls.prometheus}/\"\n"
      "/etc/default/prometheus-alertmanager"                                = "ARGS=\"--web.listen-address=:${var.alertmanager_port} --web.external-url=${local.urls.alertmanager}/ --cluster.listen-address=\"\n"
      "/etc/default/prometheus-node-exporter"                               = "ARGS=\"--collector.textfile.directory=${local.textfile_dir}\"\n"
      "/etc/systemd/system/pve-exporter.service"                            = file("${local.files}/systemd/pve-exporter.service")
      "/etc/systemd/system/prometheus-alertmanager.service.d/pve-home.conf" = file("${local.files}/systemd/prometheus-alertmanager.conf")
      "/etc/systemd/system/grafana-server.service.d/pve-home.conf"          = file("${local.files}/systemd/grafana-server.conf")
      "/etc/systemd/system/grafana-server.service.d/pve-home-port.conf"     = "[Service]\nEnvironment=GF_SERVER_HTTP_PORT=${var.grafana_port}\n"
      "/etc/grafana/provisioning/datasources/pve-home.yaml"                 = templatefile("${local.files}/grafana/provisioning/datasources/prometheus.yaml.tftpl", { prometheus_port = var.prometheus_port })
      "/etc/grafana/provisioning/dashboards/pve-home.yaml"                  = file("${local.files}/grafana/provisioning/dashboards/pve-home.yaml")
    },
    { for f in fileset("${local.files}/prometheus/alerts", "*.yml") : "/etc/prometheus/alerts/${f}" => file("${local.files}/prometheus/alerts/${f}") },
    { for f in fileset("${local.files}/grafana/dashboards", "*.json") : "/etc/grafana/dashboards/pve-home/${f}" => file("${local.files}/grafana/dashboards/${f}") },
  )

  # The secrets, and fixed stand-ins for them. The user-data is rendered twice from the same
  # expressions: with the secrets (user_data_wo: write-only, never in state or plan) and with
  # the stand-ins (secret-free, so its hash can be user_data_wo_version, which is stored).
  secret_variants = {
    real = {
      telegram_bot_token       = var.telegram_bot_token
      grafana_admin_password   = var.grafana_admin_password
      pve_exporter_token_value = var.pve_exporter_token_value
    }
    redacted = {
      telegram_bot_token       = "(secret)"
      grafana_admin_password   = "(secret)"
      pve_exporter_token_value = "(secret)"
    }
  }

  # Per variant: paths on the VM => content, root-only (0600). The services get them as systemd
  # credentials (files/systemd), so no service user needs to exist when cloud-init writes them.
  secret_files = { for v, secrets in local.secret_variants : v => {
    "/etc/pve-home/telegram-bot-token"     = secrets.telegram_bot_token
    "/etc/pve-home/grafana-admin-password" = secrets.grafana_admin_password
    "/etc/pve-home/pve-exporter.yml" = yamlencode({
      default = {
        user        = var.pve_exporter_user
        token_name  = var.pve_exporter_token_name
        token_value = secrets.pve_exporter_token_value
        verify_ssl  = var.pve_exporter_verify_tls
      }
    })
  } }

  rendered = { for v, secret_files in local.secret_files : v => templatefile("${local.files}/cloud-init/user-data.yaml.tftpl", {
    hostname = var.name
    user     = var.user
    ssh_keys = [for k in var.ssh_public_keys : trimspace(k)]
    ca_certs = var.pve_ca_certificate == null ? [] : [var.pve_ca_certificate]
    packages = [
      "qemu-guest-agent",
      "prometheus",
      "prometheus-alertmanager",
      "prometheus-node-exporter",
      "python3-venv",
      "curl",
    ]
    files = concat(
      [for path, content in local.config_files : { path = path, permissions = "0644", content = base64encode(content) }],
      [for path, content in secret_files : { path = path, permissions = "0600", content = base64encode(content) }],
    )
    textfile_dir         = local.textfile_dir
    pve_exporter_version = var.pve_exporter_version
    grafana_deb_url      = var.grafana_deb_url
    grafana_deb_sha256   = var.grafana_deb_sha256
  }) }
  # Ephemeral (it holds the secrets): only pve_vm.this.user_data_wo may use it.
  user_data = local.rendered["real"]
  # The same user-data with the stand-ins: no secret, safe to hash and to show.
  user_data_redacted = local.rendered["redacted"]
  # Changes whenever a non-secret input changes the user-data; a change of a secret alone is
  # invisible to Terraform (write-only values are never compared): secrets_version covers it.
  user_data_version = "${var.secrets_version}:${sha256(local.user_data_redacted)}"
}

# The VM comes from modules/vm, the one place a pve_vm is declared (with its lifecycle tag).
# The map key is fixed ("monitoring"), so the moved blocks below can name the addresses; var.name
# is the VM's PVE name.
module "vm" {
  source = "../vm"

  environment     = var.environment
  node            = var.node
  template_name   = var.template_name
  template_vmid   = var.template_vmid
  storage         = var.storage
  bridge          = var.bridge
  vlan            = var.vlan
  gateway         = var.gateway
  dns_servers     = var.dns_servers
  snippet_storage = var.snippet_storage

  vms = {
    monitoring = {
      name        = var.name
      vmid        = var.vmid
      description = "Prometheus, Alertmanager and Grafana (modules/monitoring-stack), managed by Terraform."
      tags        = distinct(concat(["monitoring"], var.tags))
      ip          = var.ip
      cores       = var.cores
      memory      = var.memory
      agent       = true
      disk        = var.disk_size
      on_boot     = var.on_boot
      protection  = var.protection
      # The whole configuration, write-only: the secrets in it never reach the state.
      user_data_version = local.user_data_version
      # The monitoring VM must outlive every lab, so it never expires.
      no_expire = true
    }
  }
  user_data = { monitoring = local.user_data }
}

moved {
  from = pve_vm.this
  to   = module.vm.pve_vm.this["monitoring"]
}

moved {
  from = pve_lifecycle_tag.this
  to   = module.vm.pve_lifecycle_tag.this["monitoring"]
}
