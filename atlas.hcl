# atlas.hcl: for people who have the official Atlas CLI (https://atlasgo.io). Toodoo itself does
# not need it: `toodoo migrate` embeds the Atlas Go library and does the same, for every tenant at
# once, with a ledger (see README, "Migrations").
#
# schema.hcl declares "public" next to the tenant template "tenant" (name = var.tenant). Atlas
# requires every schema of the file to be managed by the env ("all schemas in HCL must be
# requested") and refuses a multi-schema file on a schema-scoped URL, so each env below connects
# at the database level and manages "public" together with one tenant schema. After
# `toodoo migrate`, both agree: Atlas finds nothing to change.
#
#   DATABASE_URL=postgres://... atlas schema apply --env tenant            # every tenant (CLIs that allow multi-env)
#   DATABASE_URL=postgres://... atlas schema apply --env one --var tenant=first   # one tenant
#
# Open-source builds of the CLI since v0.28 refuse a multi-environment `schema apply`
# ("multi-environment is not supported"); loop over the tenants with the `one` env instead:
#
#   for t in $(psql "$DATABASE_URL" -Atc "SELECT schema_name FROM public.tenants WHERE status <> 'deleted'"); do atlas schema apply --env one --var tenant="$t" --auto-approve || break; done

variable "url" {
  type    = string
  default = getenv("DATABASE_URL")
}

variable "dev_url" {
  type        = string
  default     = "docker://postgres/15/dev"
  description = "Atlas's scratch database, used to normalise schema.hcl."
}

variable "tenant" {
  type        = string
  default     = ""
  description = "The tenant schema for the `one` env."
}

# The tenant registry: every schema that holds a live tenant.
data "sql" "tenants" {
  url   = var.url
  query = <<-SQL
    SELECT schema_name FROM public.tenants WHERE status <> 'deleted' ORDER BY schema_name
  SQL
}

# tenant: one env instance per tenant schema listed in public.tenants.
env "tenant" {
  for_each = toset(data.sql.tenants.values)
  url      = var.url
  dev      = var.dev_url
  src      = "file://schema.hcl"
  schemas  = ["public", each.value]
  # Passed to schema.hcl as its input variable "tenant".
  tenant = each.value
}

# one: the tenant named by --var tenant=NAME (and "public").
env "one" {
  url     = var.url
  dev     = var.dev_url
  src     = "file://schema.hcl"
  schemas = ["public", var.tenant]
  tenant  = var.tenant
}
