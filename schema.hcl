# schema.hcl is the single source of truth for Toodoo's database.
#
# The shared schema "public" holds the tenant registry, users and logins. Every tenant has a
# schema of its own, made from the template schema "tenant" below, whose name is the variable
# `tenant` (Atlas's documented schema-per-tenant pattern). `toodoo migrate` (Atlas as a Go library)
# and the Atlas CLI (`atlas schema apply --env tenant`, see atlas.hcl) both read this file.
#
# Tenant schemas are self-contained: nothing in them refers to "public", so one tenant can be
# dumped, restored or moved to another database on its own.

variable "tenant" {
  type        = string
  description = "The name of the tenant schema to which the template applies."
}

schema "public" {
  comment = "Shared: tenant registry, users, memberships, logins and the migration ledger."
}

schema "tenant" {
  name = var.tenant
}

# ---------------------------------------------------------------------------------------------
# Shared schema.
# ---------------------------------------------------------------------------------------------

table "tenants" {
  schema  = schema.public
  comment = "The tenant registry: one row per tenant schema."
  column "id" {
    type = bigint
    null = false
    identity {
      generated = ALWAYS
    }
  }
  column "schema_name" {
    type = text
    null = false
  }
  column "display_name" {
    type = text
    null = false
  }
  column "status" {
    type    = text
    null    = false
    default = "active"
  }
  column "created_at" {
    type    = timestamptz
    null    = false
    default = sql("now()")
  }
  column "deleted_at" {
    type = timestamptz
    null = true
  }
  primary_key {
    columns = [column.id]
  }
  index "tenants_schema_name_key" {
    unique  = true
    columns = [column.schema_name]
  }
  index "tenants_schema_name_lower_key" {
    unique = true
    on {
      expr = "lower(schema_name)"
    }
  }
  check "tenants_status_check" {
    expr = "(status = ANY (ARRAY['active'::text, 'suspended'::text, 'deleted'::text]))"
  }
  check "tenants_schema_name_check" {
    expr = "(schema_name ~ '^[a-z][a-z0-9_]{0,62}$'::text)"
  }
}

table "domains" {
  schema  = schema.public
  comment = "Host names that lead to a tenant; stored lowercase, without port."
  column "domain" {
    type = text
    null = false
  }
  column "tenant_id" {
    type = bigint
    null = false
  }
  column "is_primary" {
    type    = boolean
    null    = false
    default = false
  }
  column "created_at" {
    type    = timestamptz
    null    = false
    default = sql("now()")
  }
  primary_key {
    columns = [column.domain]
  }
  foreign_key "domains_tenant_id_fkey" {
    columns     = [column.tenant_id]
    ref_columns = [table.tenants.column.id]
    on_update   = NO_ACTION
    on_delete   = CASCADE
  }
  index "domains_tenant_id_idx" {
    columns = [column.tenant_id]
  }
  index "domains_one_primary_per_tenant" {
    unique  = true
    columns = [column.tenant_id]
    where   = "is_primary"
  }
  check "domains_domain_check" {
    expr = "((domain = lower(domain)) AND (domain <> ''::text) AND (strpos(domain, ':'::text) = 0))"
  }
}

table "registry_version" {
  schema  = schema.public
  comment = "One row: a counter bumped in the same transaction as every change of tenants or domains, read every 2 s by each server to tell cheaply whether its host map is stale."
  column "id" {
    type    = boolean
    null    = false
    default = true
  }
  column "version" {
    type    = bigint
    null    = false
    default = 0
  }
  primary_key {
    columns = [column.id]
  }
}

table "users" {
  schema  = schema.public
  comment = "Users are shared by all tenants; memberships say where they may enter."
  column "id" {
    type = bigint
    null = false
    identity {
      generated = ALWAYS
    }
  }
  column "email" {
    type = text
    null = false
  }
  column "password_hash" {
    type = text
    null = false
  }
  column "is_superuser" {
    type    = boolean
    null    = false
    default = false
  }
  column "session_epoch" {
    type    = integer
    null    = false
    default = 0
    comment = "Counts password changes. Nothing depends on it since sessions are rows of public.sessions (kept: dropping it would be a destructive change)."
  }
  column "email_verified" {
    type    = boolean
    null    = false
    default = true
    comment = "False from sign-up until the verification link is used (or a password reset proves the address); users created otherwise are trusted."
  }
  column "created_at" {
    type    = timestamptz
    null    = false
    default = sql("now()")
  }
  primary_key {
    columns = [column.id]
  }
  index "users_email_lower_key" {
    unique = true
    on {
      expr = "lower(email)"
    }
  }
}

table "memberships" {
  schema  = schema.public
  comment = "Who may enter which workspace, and as what."
  column "user_id" {
    type = bigint
    null = false
  }
  column "tenant_id" {
    type = bigint
    null = false
  }
  column "role" {
    type    = text
    null    = false
    default = "member"
  }
  column "created_at" {
    type    = timestamptz
    null    = false
    default = sql("now()")
  }
  primary_key {
    columns = [column.user_id, column.tenant_id]
  }
  foreign_key "memberships_user_id_fkey" {
    columns     = [column.user_id]
    ref_columns = [table.users.column.id]
    on_update   = NO_ACTION
    on_delete   = CASCADE
  }
  foreign_key "memberships_tenant_id_fkey" {
    columns     = [column.tenant_id]
    ref_columns = [table.tenants.column.id]
    on_update   = NO_ACTION
    on_delete   = CASCADE
  }
  index "memberships_tenant_id_idx" {
    columns = [column.tenant_id]
  }
  check "memberships_role_check" {
    expr = "(role = ANY (ARRAY['owner'::text, 'member'::text]))"
  }
}

table "login_tokens" {
  schema  = schema.public
  comment = "One-time, short-lived tokens that sign a user in on one host (after sign-up, and when switching workspaces)."
  column "token_hash" {
    type = bytea
    null = false
  }
  column "user_id" {
    type = bigint
    null = false
  }
  column "tenant_id" {
    type    = bigint
    null    = true
    comment = "The workspace whose host the token signs in on; NULL: the public site."
  }
  column "expires_at" {
    type = timestamptz
    null = false
  }
  column "used_at" {
    type = timestamptz
    null = true
  }
  primary_key {
    columns = [column.token_hash]
  }
  foreign_key "login_tokens_user_id_fkey" {
    columns     = [column.user_id]
    ref_columns = [table.users.column.id]
    on_update   = NO_ACTION
    on_delete   = CASCADE
  }
  foreign_key "login_tokens_tenant_id_fkey" {
    columns     = [column.tenant_id]
    ref_columns = [table.tenants.column.id]
    on_update   = NO_ACTION
    on_delete   = CASCADE
  }
}

table "sessions" {
  schema  = schema.public
  comment = "Signed-in browser sessions: the cookie carries a random id, only its SHA-256 is stored here."
  column "id" {
    type = bigint
    null = false
    identity {
      generated = ALWAYS
    }
  }
  column "token_hash" {
    type = bytea
    null = false
  }
  column "user_id" {
    type = bigint
    null = false
  }
  column "tenant_id" {
    type    = bigint
    null    = true
    comment = "The workspace whose host issued the session; NULL for the public site."
  }
  column "user_agent" {
    type    = text
    null    = false
    default = ""
  }
  column "created_at" {
    type    = timestamptz
    null    = false
    default = sql("now()")
  }
  column "last_seen_at" {
    type    = timestamptz
    null    = false
    default = sql("now()")
    comment = "Moved on at most once a minute, not at every request."
  }
  column "expires_at" {
    type = timestamptz
    null = false
  }
  primary_key {
    columns = [column.id]
  }
  foreign_key "sessions_user_id_fkey" {
    columns     = [column.user_id]
    ref_columns = [table.users.column.id]
    on_update   = NO_ACTION
    on_delete   = CASCADE
  }
  foreign_key "sessions_tenant_id_fkey" {
    columns     = [column.tenant_id]
    ref_columns = [table.tenants.column.id]
    on_update   = NO_ACTION
    on_delete   = CASCADE
  }
  index "sessions_token_hash_key" {
    unique  = true
    columns = [column.token_hash]
  }
  index "sessions_user_id_idx" {
    columns = [column.user_id]
  }
  index "sessions_tenant_id_idx" {
    columns = [column.tenant_id]
  }
  index "sessions_expires_at_idx" {
    columns = [column.expires_at]
  }
}

table "invitations" {
  schema  = schema.public
  comment = "One-time links with which an owner invites someone who has no account yet."
  column "token_hash" {
    type = bytea
    null = false
  }
  column "tenant_id" {
    type = bigint
    null = false
  }
  column "email" {
    type = text
    null = false
  }
  column "role" {
    type    = text
    null    = false
    default = "member"
  }
  column "invited_by" {
    type = bigint
    null = true
  }
  column "expires_at" {
    type = timestamptz
    null = false
  }
  column "used_at" {
    type = timestamptz
    null = true
  }
  column "created_at" {
    type    = timestamptz
    null    = false
    default = sql("now()")
  }
  primary_key {
    columns = [column.token_hash]
  }
  foreign_key "invitations_tenant_id_fkey" {
    columns     = [column.tenant_id]
    ref_columns = [table.tenants.column.id]
    on_update   = NO_ACTION
    on_delete   = CASCADE
  }
  foreign_key "invitations_invited_by_fkey" {
    columns     = [column.invited_by]
    ref_columns = [table.users.column.id]
    on_update   = NO_ACTION
    on_delete   = SET_NULL
  }
  index "invitations_tenant_id_idx" {
    columns = [column.tenant_id]
  }
  check "invitations_role_check" {
    expr = "(role = ANY (ARRAY['owner'::text, 'member'::text]))"
  }
}
table "email_tokens" {
  schema  = schema.public
  comment = "One-time links sent by mail: verify an address (bound to the new workspace) or reset a password (bound to the site asked on). Only SHA-256 hashes are stored."
  column "token_hash" {
    type = bytea
    null = false
  }
  column "purpose" {
    type = text
    null = false
  }
  column "user_id" {
    type = bigint
    null = false
  }
  column "tenant_id" {
    type    = bigint
    null    = true
    comment = "The workspace whose host the link opens on; NULL: the public site."
  }
  column "expires_at" {
    type = timestamptz
    null = false
  }
  column "used_at" {
    type = timestamptz
    null = true
  }
  column "created_at" {
    type    = timestamptz
    null    = false
    default = sql("now()")
  }
  primary_key {
    columns = [column.token_hash]
  }
  foreign_key "email_tokens_user_id_fkey" {
    columns     = [column.user_id]
    ref_columns = [table.users.column.id]
    on_update   = NO_ACTION
    on_delete   = CASCADE
  }
  foreign_key "email_tokens_tenant_id_fkey" {
    columns     = [column.tenant_id]
    ref_columns = [table.tenants.column.id]
    on_update   = NO_ACTION
    on_delete   = CASCADE
  }
  index "email_tokens_user_id_idx" {
    columns = [column.user_id]
  }
  index "email_tokens_tenant_id_idx" {
    columns = [column.tenant_id]
  }
  check "email_tokens_purpose_check" {
    expr = "(purpose = ANY (ARRAY['verify'::text, 'reset'::text]))"
  }
}

table "api_tokens" {
  schema  = schema.public
  comment = "Bearer tokens for the JSON API: one user in one workspace; only a hash is stored."
  column "id" {
    type = bigint
    null = false
    identity {
      generated = ALWAYS
    }
  }
  column "tenant_id" {
    type = bigint
    null = false
  }
  column "user_id" {
    type = bigint
    null = false
  }
  column "name" {
    type = text
    null = false
  }
  column "token_hash" {
    type = bytea
    null = false
  }
  column "created_at" {
    type    = timestamptz
    null    = false
    default = sql("now()")
  }
  column "last_used_at" {
    type = timestamptz
    null = true
  }
  column "revoked_at" {
    type = timestamptz
    null = true
  }
  primary_key {
    columns = [column.id]
  }
  foreign_key "api_tokens_tenant_id_fkey" {
    columns     = [column.tenant_id]
    ref_columns = [table.tenants.column.id]
    on_update   = NO_ACTION
    on_delete   = CASCADE
  }
  foreign_key "api_tokens_user_id_fkey" {
    columns     = [column.user_id]
    ref_columns = [table.users.column.id]
    on_update   = NO_ACTION
    on_delete   = CASCADE
  }
  index "api_tokens_token_hash_key" {
    unique  = true
    columns = [column.token_hash]
  }
  index "api_tokens_tenant_user_idx" {
    columns = [column.tenant_id, column.user_id]
  }
}

table "rate_limits" {
  schema  = schema.public
  comment = "Attempt budgets (sign-in, sign-up) shared by every process: one GCRA token bucket per key. Rows whose tat has passed are full buckets and are purged."
  column "key" {
    type    = text
    null    = false
    comment = "What is limited: a kind, then a SHA-256 of the client address and/or account (no address or e-mail in clear)."
  }
  column "tat" {
    type    = timestamptz
    null    = false
    comment = "The bucket's theoretical arrival time: it is full again at tat; for a known client, when that ends."
  }
  column "allowed" {
    type    = boolean
    null    = false
    comment = "Whether the last attempt on this key was let through (read back by the statement that took it)."
  }
  primary_key {
    columns = [column.key]
  }
  index "rate_limits_tat_idx" {
    columns = [column.tat]
  }
}

table "schema_ledger" {
  schema  = schema.public
  comment = "The fleet migrator's ledger: per schema, the desired state last applied and the last error."
  column "schema_name" {
    type = text
    null = false
  }
  column "applied_hash" {
    type    = text
    null    = true
    comment = "Hash of the desired state (schema.hcl) last applied to this schema."
  }
  column "fingerprint" {
    type    = text
    null    = true
    comment = "Catalog fingerprint of the schema right after that apply, to detect drift cheaply."
  }
  column "applied_at" {
    type = timestamptz
    null = true
  }
  column "last_error" {
    type = text
    null = true
  }
  column "last_error_at" {
    type = timestamptz
    null = true
  }
  column "attempted_hash" {
    type = text
    null = true
  }
  column "previous_hash" {
    type    = text
    null    = true
    comment = "The applied_hash this schema had before the last apply that changed it (NULL: none recorded)."
  }
  column "change_class" {
    type    = text
    null    = true
    comment = "What the change from previous_hash to applied_hash was for code built for previous_hash: additive (it keeps working) or breaking. NULL: not known, treated as breaking."
  }
  column "distributed_at" {
    type    = timestamptz
    null    = true
    comment = "Citus: when the schema became a distributed schema (it lives whole on one worker). NULL: not distributed (plain PostgreSQL, or not yet: toodoo migrate distributes it)."
  }
  check "schema_ledger_change_class" {
    expr = "change_class IN ('additive', 'breaking')"
  }
  primary_key {
    columns = [column.schema_name]
  }
}

table "migration_runs" {
  schema  = schema.public
  comment = "One row per run of the fleet migrator that held its lock (dry runs excluded): when it ended, how long it took and how it ended. The migrator runs in a CLI process; the servers read this table for their metrics (package metrics)."
  column "id" {
    type = bigint
    null = false
    identity {
      generated = ALWAYS
    }
  }
  column "finished_at" {
    type    = timestamptz
    null    = false
    default = sql("now()")
  }
  column "duration_seconds" {
    type = double_precision
    null = false
  }
  column "outcome" {
    type    = text
    null    = false
    comment = "ok (every schema in the desired state), incomplete (some schema failed or was refused), stopped (the lock was lost or the run was interrupted) or error (the run could not go on, e.g. the ledger could not be read)."
  }
  column "schemas" {
    type    = integer
    null    = false
    comment = "Schemas in the run's scope."
  }
  column "applied" {
    type    = integer
    null    = false
    comment = "Schemas changed (or only recorded in the ledger) by the run."
  }
  column "failed" {
    type = integer
    null = false
  }
  check "migration_runs_outcome" {
    expr = "outcome IN ('ok', 'incomplete', 'stopped', 'error')"
  }
  check "migration_runs_duration" {
    expr = "duration_seconds >= 0"
  }
  primary_key {
    columns = [column.id]
  }
}

# ---------------------------------------------------------------------------------------------
# Tenant schema template: applied to every tenant schema, with var.tenant as its name.
# ---------------------------------------------------------------------------------------------

table "todos" {
  schema  = schema.tenant
  comment = "A workspace's to-dos."
  column "id" {
    type = bigint
    null = false
    identity {
      generated = ALWAYS
    }
  }
  column "title" {
    type = text
    null = false
  }
  column "done" {
    type    = boolean
    null    = false
    default = false
  }
  column "created_by" {
    type    = bigint
    null    = false
    comment = "public.users.id of the creator; deliberately no foreign key (tenant schemas are self-contained)."
  }
  column "created_at" {
    type    = timestamptz
    null    = false
    default = sql("now()")
  }
  column "updated_at" {
    type    = timestamptz
    null    = false
    default = sql("now()")
  }
  column "completed_at" {
    type = timestamptz
    null = true
  }
  primary_key {
    columns = [column.id]
  }
  index "todos_done_id_idx" {
    comment = "The lists: open or done, newest first (ids only grow), and the keyset cursor of the API."
    on {
      column = column.done
    }
    on {
      column = column.id
      desc   = true
    }
  }
  check "todos_title_length" {
    expr = "((char_length(title) >= 1) AND (char_length(title) <= 500))"
  }
  check "todos_completed_when_done" {
    expr = "(done = (completed_at IS NOT NULL))"
  }
}
