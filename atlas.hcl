# atlas.hcl: for people who have the Atlas CLI (https://atlasgo.io). Toodoo itself does not need
# it: `toodoo migrate` embeds the Atlas Go library and does the same for every tenant at once, with
# a ledger (README, "With the Atlas CLI", says what Atlas does not do: read it first).
#
# Every command needs the target (DATABASE_URL) and a dev database (ATLAS_DEV_URL): an EMPTY
# PostgreSQL database, at the database level (no search_path), that Atlas may fill and clear to
# normalise the desired state. Never point it at a database that holds data. Without
# ATLAS_DEV_URL, Atlas starts a throwaway container (docker://postgres/15/dev), which needs Docker
# and the image.
#
#   export DATABASE_URL=postgres://... ATLAS_DEV_URL=postgres://.../atlas_dev?sslmode=disable
#   atlas schema apply --env tenant                      # public and every tenant, in one plan
#   atlas schema apply --env one --var tenant=first      # public and one tenant
#
# Tested with the open-source CLI v1.2.3 and v0.27.0 (README, "With the Atlas CLI").

variable "url" {
  type    = string
  default = getenv("DATABASE_URL")
}

variable "dev_url" {
  type        = string
  default     = getenv("ATLAS_DEV_URL") != "" ? getenv("ATLAS_DEV_URL") : "docker://postgres/15/dev"
  description = "Atlas's scratch database (must be empty), used to normalise the desired state."
}

variable "tenant" {
  type        = string
  default     = ""
  description = "The tenant schema for the `one` env (schema.hcl's input variable of the same name)."
}

# The tenant registry: every schema that holds a live tenant. Only names toodoo could have made
# are listed (a row with another name, inserted by hand, is left alone rather than quoted).
data "sql" "tenants" {
  url   = var.url
  query = <<-SQL
    SELECT schema_name FROM public.tenants
    WHERE status <> 'deleted' AND schema_name ~ '^[a-z][a-z0-9_]{0,62}$'
    ORDER BY schema_name
  SQL
}

locals {
  # public and every tenant schema. Never empty: Atlas's template_dir takes a list of strings,
  # and data.sql gives no typed list when there is no tenant yet.
  schemas = tolist(concat(["public"], data.sql.tenants.values))
}

# The desired state of public and every tenant: schema.hcl rendered by `go tool task generate`
# (cmd/schemagen) into atlas/fleet/schema.sql, a template over the schema list.
data "template_dir" "fleet" {
  path = "atlas/fleet"
  vars = {
    schemas = local.schemas
  }
}

# tenant: ONE env whose desired state covers "public" and every tenant schema. The open-source
# CLI refuses an env with for_each (one instance per tenant) in `schema apply` since v0.28, so the
# fleet is one realm here, and Atlas plans and applies it as one migration. Schemas that are not
# tenants (spares, the trash, toodoo_river) are outside `schemas` and never touched.
env "tenant" {
  url     = var.url
  dev     = var.dev_url
  src     = data.template_dir.fleet.url
  schemas = local.schemas
}

# one: "public" and the tenant named by --var tenant=NAME, from schema.hcl itself. The tenant
# reaches schema.hcl as the command line's --var (an env attribute `tenant = var.tenant` would be
# a second definition of it, which v0.27 rejects: `variable "tenant": string required`).
env "one" {
  url     = var.url
  dev     = var.dev_url
  src     = "file://schema.hcl"
  schemas = ["public", var.tenant]
}
