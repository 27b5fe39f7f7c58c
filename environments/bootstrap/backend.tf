# State lives in S3-compatible storage (MinIO). Bucket and endpoint come from
# `terraform init -backend-config=backend.hcl` (see backend.hcl.example), credentials from
# AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. Tests and validate use `terraform init -backend=false`.
terraform {
  backend "s3" {
    key                         = "bootstrap/terraform.tfstate"
    region                      = "us-east-1"
    use_path_style              = true
    use_lockfile                = true
    skip_credentials_validation = true
    skip_region_validation      = true
    skip_requesting_account_id  = true
    skip_metadata_api_check     = true
  }
}
